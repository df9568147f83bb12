//! YAML configuration: the zoo.cfg keys as a mapping. Nested mappings are flattened into dotted
//! keys, so `autopurge: {snapRetainCount: 3}` means the same as `autopurge.snapRetainCount: 3`.

use serde_yaml::Value;

use super::error::{ConfigError, Location};
use super::RawEntry;

pub(super) fn parse_entries(text: &str, origin: &str) -> Result<Vec<RawEntry>, ConfigError> {
    let yaml_error = |message: String| ConfigError::Yaml {
        origin: origin.to_string(),
        message,
    };
    let document: Value = serde_yaml::from_str(text).map_err(|e| yaml_error(e.to_string()))?;
    let mut entries = Vec::new();
    match document {
        // An empty document means "all defaults".
        Value::Null => {}
        Value::Mapping(_) => flatten("", &document, origin, &mut entries)?,
        _ => return Err(yaml_error("the document must be a mapping of keys".into())),
    }
    Ok(entries)
}

fn flatten(
    prefix: &str,
    value: &Value,
    origin: &str,
    out: &mut Vec<RawEntry>,
) -> Result<(), ConfigError> {
    let at = || Location {
        origin: origin.to_string(),
        line: None,
    };
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let segment = scalar_text(k).ok_or_else(|| ConfigError::InvalidValue {
                    at: at(),
                    key: prefix.to_string(),
                    message: "mapping keys must be scalars".into(),
                })?;
                let key = if prefix.is_empty() {
                    segment
                } else {
                    format!("{prefix}.{segment}")
                };
                flatten(&key, v, origin, out)?;
            }
        }
        // A list is accepted where zoo.cfg takes a comma-separated value (4lw.commands.whitelist).
        Value::Sequence(items) => {
            let texts: Option<Vec<String>> = items.iter().map(scalar_text).collect();
            let texts = texts.ok_or_else(|| ConfigError::InvalidValue {
                at: at(),
                key: prefix.to_string(),
                message: "list items must be scalars".into(),
            })?;
            out.push(RawEntry {
                key: prefix.to_string(),
                value: texts.join(","),
                at: at(),
            });
        }
        Value::Tagged(tagged) => flatten(prefix, &tagged.value, origin, out)?,
        scalar => out.push(RawEntry {
            key: prefix.to_string(),
            value: scalar_text(scalar).unwrap_or_default(),
            at: at(),
        }),
    }
    Ok(())
}

/// The zoo.cfg spelling of a YAML scalar (`true`, `2000`, `text`); `None` for collections.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Tagged(tagged) => scalar_text(&tagged.value),
        Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_entries(text, "arbor.yaml")
            .expect("valid yaml")
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    #[test]
    fn flat_and_nested_keys_flatten_to_the_same_names() {
        let flat = pairs("autopurge.snapRetainCount: 5\ntickTime: 3000\n");
        let nested = pairs("autopurge:\n  snapRetainCount: 5\ntickTime: 3000\n");
        assert_eq!(flat, nested);
        assert_eq!(
            flat,
            vec![
                ("autopurge.snapRetainCount".to_string(), "5".to_string()),
                ("tickTime".to_string(), "3000".to_string())
            ]
        );
    }

    #[test]
    fn numeric_mapping_keys_and_lists() {
        let got = pairs(
            "server:\n  1: \"h:1:2\"\n4lw.commands.whitelist: [ruok, stat]\nforceSync: false\n",
        );
        assert_eq!(
            got,
            vec![
                ("server.1".to_string(), "h:1:2".to_string()),
                (
                    "4lw.commands.whitelist".to_string(),
                    "ruok,stat".to_string()
                ),
                ("forceSync".to_string(), "false".to_string())
            ]
        );
    }

    #[test]
    fn empty_document_has_no_entries() {
        assert!(pairs("").is_empty());
        assert!(pairs("# only a comment\n").is_empty());
    }

    #[test]
    fn non_mapping_document_is_refused() {
        let err = parse_entries("- a\n- b\n", "arbor.yaml").unwrap_err();
        assert!(
            err.to_string().starts_with("arbor.yaml: invalid YAML"),
            "{err}"
        );
    }

    #[test]
    fn malformed_yaml_is_refused() {
        let err = parse_entries("a: [unclosed\n", "arbor.yaml").unwrap_err();
        assert!(matches!(err, ConfigError::Yaml { .. }), "{err}");
    }

    #[test]
    fn nested_lists_are_refused() {
        let err = parse_entries("x: [[1]]\n", "arbor.yaml").unwrap_err();
        assert!(
            err.to_string().contains("x: list items must be scalars"),
            "{err}"
        );
    }
}
