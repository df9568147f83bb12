//! The Spring Cloud Zookeeper Config projection, planned from data. Pure.
//!
//! Spring Cloud Zookeeper reads a context (`/config/<app>,<profile>`, `/config/<app>`, ...) by
//! walking its subtree: every node with data is a property whose name is the node's path below
//! the context with `/` turned into `.`, and whose value is the data as UTF-8; a leaf without
//! data is a property with the empty value; a node without data but with children only groups
//! them. So a document is flattened into Spring's property names (`server.port`,
//! `list[0]`), each name is cut at its dots into node names, and the context's subtree is made to
//! hold exactly those nodes: missing ones created (parents first), changed ones set, stale ones
//! deleted (children first).
//!
//! The projection owns the context's subtree: nodes there that no document defines are removed.

use std::collections::BTreeMap;

use arbor_coord::{Acl, CreateKind, WriteOp};

use crate::format::Format;
use crate::properties;

/// Flattened properties: Spring property name -> value.
pub type FlatProperties = BTreeMap<String, String>;

/// Nodes below a context: path relative to the context (`server/port`) -> data.
pub type ContextNodes = BTreeMap<String, Vec<u8>>;

/// Why a document cannot be projected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    #[error(
        "multi-document YAML cannot be projected into Spring's layout; use one document per file"
    )]
    MultiDocument,
    #[error("the top level must be a mapping of keys to project it into Spring's layout")]
    TopLevelNotMapping,
    #[error("key {key:?} cannot be a Spring Cloud Zookeeper key: {reason}")]
    BadKey { key: String, reason: String },
    #[error("key {key:?} is defined by both {first} and {second}; Spring would see only one")]
    Conflict {
        key: String,
        first: String,
        second: String,
    },
    #[error("{0}")]
    Unparsable(String),
}

/// Whether documents of `format` are projected (Spring reads YAML and properties).
pub fn is_projectable(format: Format) -> bool {
    matches!(format, Format::Yaml | Format::Properties)
}

/// Spring's property names and values for a document (which has passed validation).
pub fn flatten(format: Format, text: &str) -> Result<FlatProperties, ProjectionError> {
    match format {
        Format::Properties => {
            let parsed = properties::parse(text)
                .map_err(|err| ProjectionError::Unparsable(err.to_string()))?;
            Ok(parsed.into_iter().map(|p| (p.key, p.value)).collect())
        }
        Format::Yaml => flatten_yaml(text),
        other => Err(ProjectionError::Unparsable(format!(
            "{other} documents are not projected"
        ))),
    }
}

fn flatten_yaml(text: &str) -> Result<FlatProperties, ProjectionError> {
    use serde::Deserialize;
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let mut value = serde_yaml::Value::deserialize(document)
            .map_err(|err| ProjectionError::Unparsable(err.to_string()))?;
        // Spring's YAML loader applies `<<` merge keys; so do we.
        value
            .apply_merge()
            .map_err(|err| ProjectionError::Unparsable(err.to_string()))?;
        documents.push(value);
    }
    if documents.len() > 1 {
        return Err(ProjectionError::MultiDocument);
    }
    let mut flat = FlatProperties::new();
    match documents.pop() {
        None | Some(serde_yaml::Value::Null) => {}
        Some(serde_yaml::Value::Mapping(mapping)) => {
            for (key, value) in mapping {
                let key = yaml_key(&key)?;
                flatten_value(&key, value, &mut flat);
            }
        }
        Some(serde_yaml::Value::Tagged(tagged)) => {
            let serde_yaml::Value::Mapping(mapping) = tagged.value else {
                return Err(ProjectionError::TopLevelNotMapping);
            };
            for (key, value) in mapping {
                let key = yaml_key(&key)?;
                flatten_value(&key, value, &mut flat);
            }
        }
        Some(_) => return Err(ProjectionError::TopLevelNotMapping),
    }
    Ok(flat)
}

/// A mapping key as Spring's YAML loader names it (scalars by their text).
fn yaml_key(key: &serde_yaml::Value) -> Result<String, ProjectionError> {
    match key {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Tagged(tagged) => yaml_key(&tagged.value),
        other => Err(ProjectionError::BadKey {
            key: format!("{other:?}"),
            reason: "only scalar mapping keys can be projected".to_string(),
        }),
    }
}

/// Spring's flattening: nested mappings join with `.`, sequence items are `name[i]`, scalars
/// are their text, null is the empty string, and an empty mapping or sequence is the empty
/// string.
fn flatten_value(name: &str, value: serde_yaml::Value, flat: &mut FlatProperties) {
    use serde_yaml::Value;
    match value {
        Value::Null => {
            flat.insert(name.to_string(), String::new());
        }
        Value::Bool(b) => {
            flat.insert(name.to_string(), b.to_string());
        }
        Value::Number(n) => {
            flat.insert(name.to_string(), n.to_string());
        }
        Value::String(s) => {
            flat.insert(name.to_string(), s);
        }
        Value::Sequence(items) => {
            if items.is_empty() {
                flat.insert(name.to_string(), String::new());
            }
            for (index, item) in items.into_iter().enumerate() {
                flatten_value(&format!("{name}[{index}]"), item, flat);
            }
        }
        Value::Mapping(mapping) => {
            if mapping.is_empty() {
                flat.insert(name.to_string(), String::new());
            }
            for (key, item) in mapping {
                // A key that is not a scalar has no Spring name; it is reported as bad when its
                // name is cut into segments, so keep a name that will fail there.
                let key = yaml_key(&key).unwrap_or_else(|_| "/".to_string());
                let child = if key.starts_with('[') {
                    format!("{name}{key}")
                } else {
                    format!("{name}.{key}")
                };
                flatten_value(&child, item, flat);
            }
        }
        Value::Tagged(tagged) => flatten_value(name, tagged.value, flat),
    }
}

/// Merges the flattened documents of one app and env (in the order given) into one property
/// set; a property defined by two documents is refused.
pub fn merge<'a>(
    documents: impl IntoIterator<Item = (&'a str, FlatProperties)>,
) -> Result<FlatProperties, ProjectionError> {
    let mut merged = FlatProperties::new();
    let mut owner: BTreeMap<String, &'a str> = BTreeMap::new();
    for (document, properties) in documents {
        for (key, value) in properties {
            if let Some(first) = owner.get(&key) {
                return Err(ProjectionError::Conflict {
                    key,
                    first: first.to_string(),
                    second: document.to_string(),
                });
            }
            owner.insert(key.clone(), document);
            merged.insert(key, value);
        }
    }
    Ok(merged)
}

/// Cuts a property name into node names, refusing what cannot be a znode name.
fn key_segments(key: &str) -> Result<Vec<&str>, ProjectionError> {
    let bad = |reason: &str| ProjectionError::BadKey {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    if key.is_empty() {
        return Err(bad("the empty name has no node"));
    }
    if key.contains('/') {
        return Err(bad("`/` would split it into other keys"));
    }
    if key.chars().any(forbidden_in_znode_name) {
        return Err(bad(
            "control or reserved characters cannot be in a node name",
        ));
    }
    let segments: Vec<&str> = key.split('.').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return Err(bad(
            "an empty segment (leading, trailing or doubled `.`) has no node",
        ));
    }
    Ok(segments)
}

/// The characters ZooKeeper refuses in paths (PathUtils.validatePath).
fn forbidden_in_znode_name(c: char) -> bool {
    matches!(c as u32, 0x0000..=0x001f | 0x007f..=0x009f | 0xd800..=0xf8ff | 0xfff0..=0xffff)
}

/// The nodes below a context that hold `properties`: each property's node with its value as
/// data, and the grouping nodes above it (empty data unless they are properties too).
pub fn desired_nodes(properties: &FlatProperties) -> Result<ContextNodes, ProjectionError> {
    let mut nodes = ContextNodes::new();
    for (key, value) in properties {
        let segments = key_segments(key)?;
        for depth in 1..segments.len() {
            nodes.entry(segments[..depth].join("/")).or_default();
        }
        nodes.insert(segments.join("/"), value.as_bytes().to_vec());
    }
    Ok(nodes)
}

/// The writes that make a context hold exactly `desired`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectionPlan {
    pub ops: Vec<WriteOp>,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
}

/// Plans the writes that turn `existing` (the context's current subtree; `None` if the context
/// node itself is missing) into `desired`, under context path `context`; nodes are created with
/// `acl`.
pub fn plan(
    context: &str,
    desired: &ContextNodes,
    existing: Option<&ContextNodes>,
    acl: &Acl,
) -> ProjectionPlan {
    let empty = ContextNodes::new();
    let mut plan = ProjectionPlan::default();
    if existing.is_none() {
        plan.ops.push(WriteOp::Create {
            path: context.to_string(),
            data: Vec::new(),
            kind: CreateKind::Persistent,
            acl: acl.clone(),
        });
    }
    let existing = existing.unwrap_or(&empty);
    // Ascending order puts a parent before its children (a prefix sorts first); deletions go in
    // descending order, children first.
    for path in existing.keys().rev() {
        if !desired.contains_key(path) {
            plan.ops.push(WriteOp::Delete {
                path: format!("{context}/{path}"),
                expected_version: None,
            });
            plan.deleted += 1;
        }
    }
    for (path, data) in desired {
        match existing.get(path) {
            None => {
                plan.ops.push(WriteOp::Create {
                    path: format!("{context}/{path}"),
                    data: data.clone(),
                    kind: CreateKind::Persistent,
                    acl: acl.clone(),
                });
                plan.created += 1;
            }
            Some(current) if current != data => {
                plan.ops.push(WriteOp::SetData {
                    path: format!("{context}/{path}"),
                    data: data.clone(),
                    expected_version: None,
                });
                plan.updated += 1;
            }
            Some(_) => {}
        }
    }
    plan
}

/// The deletions that remove a context and its whole subtree (children first).
pub fn remove_context(context: &str, existing: &ContextNodes) -> Vec<WriteOp> {
    existing
        .keys()
        .rev()
        .map(|path| format!("{context}/{path}"))
        .chain(std::iter::once(context.to_string()))
        .map(|path| WriteOp::Delete {
            path,
            expected_version: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(pairs: &[(&str, &str)]) -> FlatProperties {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn nodes(pairs: &[(&str, &str)]) -> ContextNodes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn yaml_flattens_like_spring() {
        let text = "server:\n  port: 8080\n  ssl: {enabled: true}\nlist:\n  - a\n  - x: 1\nempty: {}\nnone: ~\nratio: 0.5\n'[weird]': w\nnested:\n  '[a.b]': c\n";
        assert_eq!(
            flatten(Format::Yaml, text).unwrap(),
            flat(&[
                ("server.port", "8080"),
                ("server.ssl.enabled", "true"),
                ("list[0]", "a"),
                ("list[1].x", "1"),
                ("empty", ""),
                ("none", ""),
                ("ratio", "0.5"),
                ("[weird]", "w"),
                ("nested[a.b]", "c"),
            ])
        );
        let merged = "base: &base\n  a: 1\n  b: 2\nchild:\n  <<: *base\n  b: 3\n";
        assert_eq!(
            flatten(Format::Yaml, merged).unwrap(),
            flat(&[
                ("base.a", "1"),
                ("base.b", "2"),
                ("child.a", "1"),
                ("child.b", "3")
            ])
        );
        assert_eq!(flatten(Format::Yaml, "").unwrap(), FlatProperties::new());
        assert_eq!(
            flatten(Format::Yaml, "# only a comment\n").unwrap(),
            FlatProperties::new()
        );
    }

    #[test]
    fn yaml_that_has_no_property_names_is_refused() {
        assert_eq!(
            flatten(Format::Yaml, "a: 1\n---\nb: 2\n"),
            Err(ProjectionError::MultiDocument)
        );
        assert_eq!(
            flatten(Format::Yaml, "- a\n- b\n"),
            Err(ProjectionError::TopLevelNotMapping)
        );
        assert_eq!(
            flatten(Format::Yaml, "just text\n"),
            Err(ProjectionError::TopLevelNotMapping)
        );
    }

    #[test]
    fn properties_flatten_to_themselves() {
        assert_eq!(
            flatten(Format::Properties, "a.b=1\nc = two words\n").unwrap(),
            flat(&[("a.b", "1"), ("c", "two words")])
        );
    }

    #[test]
    fn merge_refuses_a_key_defined_twice() {
        let merged = merge([
            ("a.yml", flat(&[("x", "1")])),
            ("b.properties", flat(&[("y", "2")])),
        ])
        .unwrap();
        assert_eq!(merged, flat(&[("x", "1"), ("y", "2")]));
        let err = merge([
            ("a.yml", flat(&[("x", "1")])),
            ("b.properties", flat(&[("x", "2")])),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key \"x\" is defined by both a.yml and b.properties; Spring would see only one"
        );
    }

    #[test]
    fn desired_nodes_have_grouping_parents() {
        let desired = desired_nodes(&flat(&[
            ("server.port", "8080"),
            ("server", "top"),
            ("a.b.c", "deep"),
        ]))
        .unwrap();
        assert_eq!(
            desired,
            nodes(&[
                ("a", ""),
                ("a/b", ""),
                ("a/b/c", "deep"),
                ("server", "top"),
                ("server/port", "8080"),
            ])
        );
    }

    #[test]
    fn keys_without_a_node_name_are_refused() {
        for key in ["", ".a", "a.", "a..b", "a/b", "a\u{1}b", "a\u{ffff}"] {
            let err = desired_nodes(&flat(&[(key, "v")])).unwrap_err();
            assert!(
                matches!(err, ProjectionError::BadKey { .. }),
                "{key:?}: {err}"
            );
        }
        // A yaml key that is itself a mapping has no Spring name.
        let err = desired_nodes(&flatten(Format::Yaml, "a:\n  ? {x: 1}\n  : v\n").unwrap());
        assert!(err.is_err());
    }

    #[test]
    fn plan_creates_updates_and_deletes_in_a_safe_order() {
        let existing = nodes(&[
            ("old", ""),
            ("old/key", "gone"),
            ("server", ""),
            ("server/port", "80"),
            ("server/host", "h"),
        ]);
        let desired = nodes(&[
            ("server", ""),
            ("server/host", "h"),
            ("server/port", "8080"),
            ("x", ""),
            ("x/y", "1"),
        ]);
        let plan = plan("/config/web,prod", &desired, Some(&existing), &Acl::open());
        let c = |p: &str, d: &str| WriteOp::Create {
            path: p.into(),
            data: d.into(),
            kind: CreateKind::Persistent,
            acl: Acl::open(),
        };
        let del = |p: &str| WriteOp::Delete {
            path: p.into(),
            expected_version: None,
        };
        assert_eq!(
            plan.ops,
            vec![
                del("/config/web,prod/old/key"),
                del("/config/web,prod/old"),
                WriteOp::SetData {
                    path: "/config/web,prod/server/port".into(),
                    data: b"8080".to_vec(),
                    expected_version: None,
                },
                c("/config/web,prod/x", ""),
                c("/config/web,prod/x/y", "1"),
            ]
        );
        assert_eq!((plan.created, plan.updated, plan.deleted), (2, 1, 2));
        assert_eq!(
            super::plan("/config/web,prod", &desired, Some(&desired), &Acl::open()).ops,
            vec![]
        );
    }

    #[test]
    fn plan_creates_a_missing_context_first() {
        let desired = nodes(&[("a", "1")]);
        let plan = plan("/config/web", &desired, None, &Acl::open());
        assert_eq!(plan.ops.len(), 2);
        assert_eq!(plan.ops[0].path(), "/config/web");
        assert_eq!(plan.ops[1].path(), "/config/web/a");
    }

    #[test]
    fn removing_a_context_deletes_children_first() {
        let existing = nodes(&[("a", ""), ("a/b", "1"), ("c", "2")]);
        let paths: Vec<String> = remove_context("/config/web", &existing)
            .iter()
            .map(|op| op.path().to_string())
            .collect();
        assert_eq!(
            paths,
            vec![
                "/config/web/c",
                "/config/web/a/b",
                "/config/web/a",
                "/config/web"
            ]
        );
    }
}
