//! Config formats (named by the document's extension) and the checks a push must pass.
//!
//! Every format is text: the bytes must be UTF-8 without NUL. Structured formats must parse; a
//! refusal carries the parser's line and column (1-based, as the parser reports them).

use std::fmt;

use serde::Deserialize;

use crate::properties;

/// The format of a config document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// `.yaml`, `.yml`; several `---` documents in one file are allowed.
    Yaml,
    /// `.json`
    Json,
    /// `.toml`
    Toml,
    /// `.properties` (java.util.Properties syntax, see [`crate::properties`]).
    Properties,
    /// `.txt`: opaque text, only checked to be text.
    Text,
}

impl Format {
    /// The extensions that name a format, as refusals list them.
    pub const EXTENSIONS: &'static [&'static str] =
        &["yaml", "yml", "json", "toml", "properties", "txt"];

    /// The format an extension (without the dot, any case) names.
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            "properties" => Some(Format::Properties),
            "txt" => Some(Format::Text),
            _ => None,
        }
    }

    /// Lower-case name, as the API reports it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Toml => "toml",
            Format::Properties => "properties",
            Format::Text => "text",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Toml => "TOML",
            Format::Properties => "properties",
            Format::Text => "text",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why content is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("document is {size} bytes; the limit is {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("not UTF-8 text: invalid byte at line {line}, column {column}")]
    NotUtf8 { line: usize, column: usize },
    #[error("binary content: NUL byte at line {line}, column {column}")]
    Binary { line: usize, column: usize },
    #[error("invalid {}{}: {message}", format.label(), position(*line, *column))]
    Invalid {
        format: Format,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// Checks that `bytes` are text (UTF-8, no NUL) and returns them as `&str`.
pub fn as_text(bytes: &[u8]) -> Result<&str, ContentError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default();
            let (line, column) = line_column(valid, valid.len());
            return Err(ContentError::NotUtf8 { line, column });
        }
    };
    if let Some(at) = text.find('\0') {
        let (line, column) = line_column(text, at);
        return Err(ContentError::Binary { line, column });
    }
    Ok(text)
}

/// Checks `bytes` as a document of `format` no larger than `limit` bytes.
pub fn validate(format: Format, bytes: &[u8], limit: usize) -> Result<(), ContentError> {
    if bytes.len() > limit {
        return Err(ContentError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let text = as_text(bytes)?;
    let invalid = |line, column, message: String| ContentError::Invalid {
        format,
        line,
        column,
        message,
    };
    match format {
        Format::Yaml => {
            for document in serde_yaml::Deserializer::from_str(text) {
                if let Err(err) = serde_yaml::Value::deserialize(document) {
                    let location = err.location();
                    return Err(invalid(
                        location.as_ref().map(|l| l.line()),
                        location.as_ref().map(|l| l.column()),
                        yaml_message(&err),
                    ));
                }
            }
        }
        Format::Json => {
            if let Err(err) = serde_json::from_str::<serde_json::Value>(text) {
                return Err(invalid(
                    Some(err.line()),
                    Some(err.column()),
                    json_message(&err),
                ));
            }
        }
        Format::Toml => {
            if let Err(err) = text.parse::<toml::Table>() {
                let (line, column) = match err.span() {
                    Some(span) => {
                        let (line, column) = line_column(text, span.start);
                        (Some(line), Some(column))
                    }
                    None => (None, None),
                };
                return Err(invalid(line, column, err.message().trim().to_string()));
            }
        }
        Format::Properties => {
            if let Err(err) = properties::parse(text) {
                return Err(invalid(Some(err.line), Some(err.column), err.message));
            }
        }
        Format::Text => {}
    }
    Ok(())
}

/// serde_yaml's message without its trailing " at line L column C" (we report those apart).
fn yaml_message(err: &serde_yaml::Error) -> String {
    let message = err.to_string();
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

/// serde_json's message without its trailing " at line L column C".
fn json_message(err: &serde_json::Error) -> String {
    let message = err.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    fn refusal(format: Format, text: &str) -> (Option<usize>, Option<usize>, String) {
        match validate(format, text.as_bytes(), LIMIT) {
            Err(ContentError::Invalid {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("{format} {text:?}: expected a parse refusal, got {other:?}"),
        }
    }

    #[test]
    fn valid_documents_pass() {
        let cases: &[(Format, &str)] = &[
            (Format::Yaml, "server:\n  port: 8080\nlist: [a, b]\n"),
            (Format::Yaml, "a: 1\n---\nb: 2\n"),
            (Format::Yaml, ""),
            (Format::Json, "{\"a\": [1, 2, {\"b\": null}]}"),
            (Format::Toml, "[server]\nport = 8080\n"),
            (Format::Properties, "a=1\nb.c = two\n"),
            (Format::Text, "anything: { at all\n"),
            (Format::Text, ""),
        ];
        for (format, text) in cases {
            assert_eq!(
                validate(*format, text.as_bytes(), LIMIT),
                Ok(()),
                "{format} {text:?}"
            );
        }
    }

    #[test]
    fn yaml_refusals_name_line_and_column() {
        let (line, column, message) = refusal(Format::Yaml, "a: 1\nb: [1, 2\nc: 3\n");
        assert_eq!(line, Some(3), "{message}");
        assert!(column.is_some());
        let (line, _, message) = refusal(Format::Yaml, "a: 1\n  b: 2\n");
        assert_eq!(line, Some(2), "{message}");
        // serde_yaml places a duplicate key at its mapping; the message names the key.
        let (line, _, message) = refusal(Format::Yaml, "top:\n  a: 1\n  a: 2\n");
        assert_eq!(line, Some(2), "{message}");
        assert_eq!(message, "top: duplicate entry with key \"a\"");
        // The second document of a stream is checked too.
        let (line, _, _) = refusal(Format::Yaml, "a: 1\n---\nb: : :\n");
        assert_eq!(line, Some(3));
    }

    #[test]
    fn json_toml_and_properties_refusals_name_line_and_column() {
        let (line, column, message) = refusal(Format::Json, "{\n  \"a\": 1,\n  \"b\" 2\n}");
        assert_eq!((line, column), (Some(3), Some(7)), "{message}");
        assert_eq!(message, "expected `:`");
        let (line, column, message) = refusal(Format::Toml, "[server]\nport = \n");
        assert_eq!((line, column), (Some(2), Some(8)), "{message}");
        let (line, _, _) = refusal(Format::Toml, "a = 1\na = 2\n");
        assert_eq!(line, Some(2));
        let (line, column, message) = refusal(Format::Properties, "a=1\nb=\\uZZZZ\n");
        assert_eq!((line, column), (Some(2), Some(3)), "{message}");
    }

    #[test]
    fn messages_read_well() {
        let err = validate(Format::Json, b"{\"a\" 1}", LIMIT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid JSON at line 1, column 6: expected `:`"
        );
        let err = validate(Format::Text, &[b'x'; 11], 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "document is 11 bytes; the limit is 10 bytes"
        );
    }

    #[test]
    fn binary_and_non_utf8_are_refused_in_every_format() {
        for format in [
            Format::Yaml,
            Format::Json,
            Format::Toml,
            Format::Properties,
            Format::Text,
        ] {
            assert_eq!(
                validate(format, b"a: 1\nb: \xff\xfe", LIMIT),
                Err(ContentError::NotUtf8 { line: 2, column: 4 })
            );
            assert_eq!(
                validate(format, b"ok\nab\0cd", LIMIT),
                Err(ContentError::Binary { line: 2, column: 3 })
            );
        }
    }

    #[test]
    fn size_limit_is_checked_first() {
        let big = vec![0xffu8; 5 << 20];
        assert_eq!(
            validate(Format::Yaml, &big, LIMIT),
            Err(ContentError::TooLarge {
                size: 5 << 20,
                limit: LIMIT
            })
        );
        assert!(validate(Format::Text, &vec![b'a'; LIMIT], LIMIT).is_ok());
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "ab\nçd€x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, text.find('x').unwrap()), (2, 4));
        assert_eq!(line_column(text, text.len()), (3, 1));
    }
}
