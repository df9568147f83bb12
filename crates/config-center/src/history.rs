//! The history entry record stored at `/arbor/history/<env>/<app>/<name>/v-<seq>` and the
//! config's settings stored on its history directory. Pure: encoding, decoding, hashing, time.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::layout::Version;

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New content was pushed (CLI, API, import).
    Push,
    /// The content of an earlier version was restored; `rollback_of` names it.
    Rollback,
    /// The document was deleted; `content` is empty.
    Delete,
}

impl ChangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Push => "push",
            ChangeKind::Rollback => "rollback",
            ChangeKind::Delete => "delete",
        }
    }
}

/// One version of a config document, as JSON in its history entry.
///
/// Readers ignore unknown fields, so later writers may add some.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub version: Version,
    pub kind: ChangeKind,
    /// For a rollback: the version whose content was restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<Version>,
    /// Lower-case hex SHA-256 of `content`'s bytes.
    pub sha256: String,
    pub author: String,
    pub message: String,
    /// When the writer made the change, RFC 3339 UTC (`2024-05-01T12:00:00.123Z`), by the
    /// writer's clock; the entry node's ctime has the server's.
    pub time: String,
    /// The full document (formats are text, so a JSON string holds it exactly).
    pub content: String,
}

/// A history entry without its content: what `history` lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    pub version: Version,
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<Version>,
    pub sha256: String,
    pub author: String,
    pub message: String,
    pub time: String,
    /// Length of the content in bytes.
    pub size: usize,
}

/// Why a stored entry could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("history entry is not valid JSON: {0}")]
pub struct EntryDecodeError(String);

impl HistoryEntry {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a struct of strings and numbers serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<HistoryEntry, EntryDecodeError> {
        serde_json::from_slice(bytes).map_err(|err| EntryDecodeError(err.to_string()))
    }

    /// Everything but the content.
    pub fn info(&self) -> EntryInfo {
        EntryInfo {
            version: self.version,
            kind: self.kind,
            rollback_of: self.rollback_of,
            sha256: self.sha256.clone(),
            author: self.author.clone(),
            message: self.message.clone(),
            time: self.time.clone(),
            size: self.content.len(),
        }
    }
}

/// Default number of history entries kept per config.
pub const DEFAULT_RETENTION: u32 = 100;

/// Per-config settings, JSON on the config's history directory node. Empty data = defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSettings {
    /// How many history entries to keep (at least 1: the current version's).
    #[serde(default = "default_retention")]
    pub retention: u32,
}

fn default_retention() -> u32 {
    DEFAULT_RETENTION
}

impl Default for ConfigSettings {
    fn default() -> Self {
        ConfigSettings {
            retention: DEFAULT_RETENTION,
        }
    }
}

impl ConfigSettings {
    /// Settings from node data; empty or unreadable data gives the defaults (a hand-edited node
    /// must not block pushes).
    pub fn decode(bytes: &[u8]) -> ConfigSettings {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("settings serialize")
    }
}

/// Per-app settings, JSON on `/arbor/config/<env>/<app>`. Empty data = defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSettings {
    /// Whether the app's yaml/properties documents are projected into Spring Cloud Zookeeper
    /// Config's layout.
    #[serde(default)]
    pub spring_projection: bool,
}

impl AppSettings {
    pub fn decode(bytes: &[u8]) -> AppSettings {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("settings serialize")
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `millis` since the Unix epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339_utc(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The current time by this machine's clock, as [`rfc3339_utc`].
pub fn now_rfc3339() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0);
    rfc3339_utc(millis)
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_roundtrip_as_json_with_the_documented_fields() {
        let entry = HistoryEntry {
            version: 3,
            kind: ChangeKind::Rollback,
            rollback_of: Some(1),
            sha256: sha256_hex(b"a: 1\n"),
            author: "ops".into(),
            message: "back to 1".into(),
            time: "2024-05-01T12:00:00.000Z".into(),
            content: "a: 1\n".into(),
        };
        let json: serde_json::Value = serde_json::from_slice(&entry.encode()).unwrap();
        assert_eq!(json["version"], 3);
        assert_eq!(json["kind"], "rollback");
        assert_eq!(json["rollback_of"], 1);
        assert_eq!(json["content"], "a: 1\n");
        assert_eq!(HistoryEntry::decode(&entry.encode()).unwrap(), entry);

        let push = HistoryEntry {
            kind: ChangeKind::Push,
            rollback_of: None,
            ..entry
        };
        let json: serde_json::Value = serde_json::from_slice(&push.encode()).unwrap();
        assert!(json.get("rollback_of").is_none());
        assert!(HistoryEntry::decode(b"{\"version\": 1}").is_err());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let json = br#"{"version":1,"kind":"push","sha256":"x","author":"a","message":"","time":"t","content":"","future":true}"#;
        assert_eq!(HistoryEntry::decode(json).unwrap().version, 1);
    }

    #[test]
    fn settings_default_when_missing_or_unreadable() {
        assert_eq!(ConfigSettings::decode(b"").retention, DEFAULT_RETENTION);
        assert_eq!(ConfigSettings::decode(b"{}").retention, DEFAULT_RETENTION);
        assert_eq!(ConfigSettings::decode(b"{\"retention\":5}").retention, 5);
        assert_eq!(
            ConfigSettings::decode(b"garbage").retention,
            DEFAULT_RETENTION
        );
        assert!(!AppSettings::decode(b"").spring_projection);
        assert!(AppSettings::decode(b"{\"spring_projection\":true}").spring_projection);
        let settings = AppSettings {
            spring_projection: true,
        };
        assert_eq!(AppSettings::decode(&settings.encode()), settings);
    }

    #[test]
    fn sha256_is_lower_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_utc(1_714_564_800_000), "2024-05-01T12:00:00.000Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59.999Z");
        assert!(now_rfc3339().ends_with('Z'));
    }
}
