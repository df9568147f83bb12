//! Key paths (`services[1].check.interval`) and finding where one is written in a YAML text.
//!
//! serde_yaml keeps no positions in parsed values, but it stamps every error with the position
//! of the value being read. [`locate`] walks the text along a key path and fails on purpose at
//! the target, so the error's position is the key's line and column.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root to a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        KeyPath(segments)
    }

    pub fn index(&self, index: usize) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column of a position in a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

const FOUND: &str = "arbor-agent: key found";

/// Where the value at `path` starts in `text`, if the text has it.
pub fn locate(text: &str, path: &KeyPath) -> Option<Position> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    match (Seek { rest: &path.0 }).deserialize(deserializer) {
        Err(err) if err.to_string().contains(FOUND) => err.location().map(|location| Position {
            line: location.line(),
            column: location.column(),
        }),
        _ => None,
    }
}

struct Seek<'p> {
    rest: &'p [Segment],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let mut position = 0;
        loop {
            if matches!(first, Segment::Index(wanted) if *wanted == position) {
                return match seq.next_element_seed(Seek { rest })? {
                    Some(()) | None => Ok(()),
                };
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            position += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let matches = match (first, &key) {
                (Segment::Key(wanted), serde_yaml::Value::String(key)) => wanted == key,
                _ => false,
            };
            if matches {
                map.next_value_seed(Seek { rest })?;
                return Ok(());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

impl Seek<'_> {
    fn leaf<E: de::Error>(self) -> Result<(), E> {
        if self.rest.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "servers: a:1\nservices:\n  - name: web\n    port: 80\n  - name: db\n    check:\n      interval: 0s\nfiles: []\n";

    #[test]
    fn key_paths_display_like_serde_yaml() {
        let path = KeyPath::root().key("services").index(1).key("check");
        assert_eq!(path.to_string(), "services[1].check");
    }

    #[test]
    fn locates_nested_keys_and_list_items() {
        let at = |path: KeyPath| locate(TEXT, &path).map(|p| (p.line, p.column));
        assert_eq!(at(KeyPath::root().key("servers")), Some((1, 10)));
        assert_eq!(
            at(KeyPath::root().key("services").index(1).key("name")),
            Some((5, 11))
        );
        assert_eq!(
            at(KeyPath::root()
                .key("services")
                .index(1)
                .key("check")
                .key("interval")),
            Some((7, 17))
        );
        assert_eq!(at(KeyPath::root().key("services").index(0)), Some((3, 5)));
        assert_eq!(at(KeyPath::root().key("files")), Some((8, 8)));
    }

    #[test]
    fn missing_paths_and_broken_text_locate_nothing() {
        assert_eq!(locate(TEXT, &KeyPath::root().key("host")), None);
        assert_eq!(
            locate(TEXT, &KeyPath::root().key("services").index(7)),
            None
        );
        assert_eq!(locate("a: [", &KeyPath::root().key("b")), None);
    }
}
