//! Typed configuration errors. Every error names the file (origin), the line when known, and the key.

use std::fmt;
use std::path::PathBuf;

/// Where a setting came from: a file name (or other origin label) and, for zoo.cfg, a line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub origin: String,
    /// 1-based line number; `None` for YAML values (serde_yaml values carry no positions).
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.origin, line),
            None => write!(f, "{}", self.origin),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read configuration: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{at}: expected `key=value`, got {text:?}")]
    Syntax { at: Location, text: String },

    #[error("{origin}: invalid YAML: {message}")]
    Yaml { origin: String, message: String },

    #[error("{at}: {key}: {message}")]
    InvalidValue {
        at: Location,
        key: String,
        message: String,
    },

    /// A combination of individually valid settings that cannot work together.
    #[error("{origin}: {message}")]
    Inconsistent { origin: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_value_names_file_line_and_key() {
        let err = ConfigError::InvalidValue {
            at: Location {
                origin: "zoo.cfg".into(),
                line: Some(7),
            },
            key: "tickTime".into(),
            message: "expected an integer, got \"abc\"".into(),
        };
        assert_eq!(
            err.to_string(),
            "zoo.cfg:7: tickTime: expected an integer, got \"abc\""
        );
    }

    #[test]
    fn location_without_line_prints_origin_only() {
        let at = Location {
            origin: "arbor.yaml".into(),
            line: None,
        };
        assert_eq!(at.to_string(), "arbor.yaml");
    }
}
