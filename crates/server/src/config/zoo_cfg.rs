//! The zoo.cfg line format: `key=value`, `#` (or Java-properties `!`) comments, whitespace trimmed.

use super::error::{ConfigError, Location};
use super::RawEntry;

/// Splits zoo.cfg text into raw entries, in file order (later entries override earlier ones).
pub(super) fn parse_entries(text: &str, origin: &str) -> Result<Vec<RawEntry>, ConfigError> {
    let mut entries = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let at = Location {
            origin: origin.to_string(),
            line: Some(index + 1),
        };
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError::Syntax {
                at,
                text: line.to_string(),
            });
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::Syntax {
                at,
                text: line.to_string(),
            });
        }
        entries.push(RawEntry {
            key: key.to_string(),
            value: value.trim().to_string(),
            at,
        });
    }
    Ok(entries)
}

/// Content sniffing for files without a telling extension: zoo.cfg when the first meaningful line
/// has an `=` before any `:` (so `server.1=h:2888:3888` counts as zoo.cfg), YAML otherwise.
pub(super) fn looks_like_zoo_cfg(text: &str) -> bool {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'));
    match first {
        None => true,
        Some(line) => match (line.find('='), line.find(':')) {
            (Some(eq), Some(colon)) => eq < colon,
            (Some(_), None) => true,
            (None, _) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_comments_and_whitespace() {
        let text = "# comment\n\n  tickTime = 3000  \n! also a comment\nserver.1=h:1:2;2181\n";
        let entries = parse_entries(text, "zoo.cfg").expect("valid");
        let pairs: Vec<_> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.at.line))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("tickTime", "3000", Some(3)),
                ("server.1", "h:1:2;2181", Some(5))
            ]
        );
    }

    #[test]
    fn value_may_contain_equals_sign() {
        let entries = parse_entries("superDigest=super:abc=", "zoo.cfg").expect("valid");
        assert_eq!(entries[0].value, "super:abc=");
    }

    #[test]
    fn line_without_equals_is_a_syntax_error_with_line_number() {
        let err = parse_entries("tickTime=1\njunk line\n", "zoo.cfg").unwrap_err();
        assert_eq!(
            err.to_string(),
            "zoo.cfg:2: expected `key=value`, got \"junk line\""
        );
    }

    #[test]
    fn empty_key_is_a_syntax_error() {
        let err = parse_entries("=5", "zoo.cfg").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
    }

    #[test]
    fn sniffing_distinguishes_formats() {
        assert!(looks_like_zoo_cfg("# c\ntickTime=2000\n"));
        assert!(looks_like_zoo_cfg("server.1=h:2888:3888\n"));
        assert!(looks_like_zoo_cfg(""));
        assert!(!looks_like_zoo_cfg("tickTime: 2000\n"));
        assert!(!looks_like_zoo_cfg("---\nclientPort: 1\n"));
        assert!(!looks_like_zoo_cfg("autopurge:\n  snapRetainCount: 3\n"));
    }
}
