//! Where the config center keeps things in the tree, and which names are allowed there.
//!
//! ```text
//! /arbor/config/<env>                       (data: empty)
//! /arbor/config/<env>/<app>                 (data: the app's settings, JSON; empty = defaults)
//! /arbor/config/<env>/<app>/<name>          (data: the current bytes of the document)
//! /arbor/history/<env>/<app>/<name>         (data: the config's settings, JSON; empty = defaults)
//! /arbor/history/<env>/<app>/<name>/v-<seq> (data: one history entry, JSON)
//! /config/<app>,<env>/<key path>            (Spring Cloud Zookeeper projection, opt-in per app)
//! /config/<app>/<key path>                  (the projection of env `default`)
//! ```
//!
//! A config's *version* is the sequence number of its newest history entry: 1 for the first push,
//! one more for every change (push, rollback, delete). `v-<seq>` is zero-padded to 10 digits, as
//! ZooKeeper pads sequential nodes, so the children sort by name in version order.
//!
//! Everything here is pure: no I/O. Other crates (the agent) build paths with these functions
//! rather than by hand.

use std::fmt;

use crate::format::Format;

/// Root of everything the config center keeps (the Spring projection aside).
pub const ARBOR_ROOT: &str = "/arbor";
/// Root of the current documents.
pub const CONFIG_ROOT: &str = "/arbor/config";
/// Root of the history entries.
pub const HISTORY_ROOT: &str = "/arbor/history";
/// Root of the Spring Cloud Zookeeper Config projection (`spring.cloud.zookeeper.config.root`).
pub const SPRING_ROOT: &str = "/config";
/// The env whose documents project to Spring's profile-less context `/config/<app>`; every other
/// env `E` projects to `/config/<app>,E` (Spring's profile separator is `,`).
pub const SPRING_DEFAULT_ENV: &str = "default";

/// Longest env or app name.
pub const MAX_SEGMENT_LEN: usize = 128;
/// Longest config name (ZooKeeper itself has no limit; file systems do, at 255 bytes).
pub const MAX_NAME_LEN: usize = 255;

/// The sequence number of a history entry; see the module docs.
pub type Version = u64;

/// A name the config center refuses, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {name:?}: {reason}")]
pub struct NameError {
    /// `env`, `app` or `config name`.
    pub what: &'static str,
    pub name: String,
    pub reason: String,
}

fn name_error(what: &'static str, name: &str, reason: impl Into<String>) -> NameError {
    NameError {
        what,
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// Checks one path segment: 1..=`max_len` characters out of `A-Z a-z 0-9 . _ -`, not `.`/`..`,
/// not starting with `.`. The charset keeps names safe as znode names, as file names on export
/// and in URLs, and keeps `,` (Spring's profile separator) out of env and app names.
fn check_segment(what: &'static str, name: &str, max_len: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(name_error(what, name, "must not be empty"));
    }
    if name == "." || name == ".." {
        return Err(name_error(what, name, "`.` and `..` are not names"));
    }
    if let Some((at, c)) = name.char_indices().find(|(_, c)| c.is_control()) {
        return Err(name_error(
            what,
            name,
            format!("control character U+{:04X} at byte {at}", c as u32),
        ));
    }
    if name.contains('/') {
        return Err(name_error(what, name, "must not contain `/`"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(name_error(
            what,
            name,
            format!("character {c:?} is not allowed (use A-Z a-z 0-9 . _ -)"),
        ));
    }
    if name.starts_with('.') {
        return Err(name_error(what, name, "must not start with `.`"));
    }
    if name.len() > max_len {
        return Err(name_error(
            what,
            name,
            format!("longer than {max_len} characters"),
        ));
    }
    Ok(())
}

/// An environment name (`prod`, `staging`, `default`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Env(String);

/// An application name (`web`, `billing`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct App(String);

/// A config document's name, with an extension that names its format (`application.yml`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigName {
    name: String,
    format: Format,
}

impl Env {
    pub fn new(name: &str) -> Result<Env, NameError> {
        check_segment("env", name, MAX_SEGMENT_LEN)?;
        Ok(Env(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl App {
    pub fn new(name: &str) -> Result<App, NameError> {
        check_segment("app", name, MAX_SEGMENT_LEN)?;
        Ok(App(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ConfigName {
    pub fn new(name: &str) -> Result<ConfigName, NameError> {
        const WHAT: &str = "config name";
        check_segment(WHAT, name, MAX_NAME_LEN)?;
        let Some((stem, extension)) = name.rsplit_once('.') else {
            return Err(name_error(
                WHAT,
                name,
                format!(
                    "needs an extension that names its format ({})",
                    Format::EXTENSIONS.join(", ")
                ),
            ));
        };
        if stem.is_empty() {
            return Err(name_error(WHAT, name, "needs a name before the extension"));
        }
        let format = Format::from_extension(extension).ok_or_else(|| {
            name_error(
                WHAT,
                name,
                format!(
                    "unknown extension {extension:?} (known: {})",
                    Format::EXTENSIONS.join(", ")
                ),
            )
        })?;
        Ok(ConfigName {
            name: name.to_string(),
            format,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The format its extension names.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ConfigName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// One config document's identity: env, app and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigKey {
    pub env: Env,
    pub app: App,
    pub name: ConfigName,
}

impl ConfigKey {
    /// Validates all three names.
    pub fn parse(env: &str, app: &str, name: &str) -> Result<ConfigKey, NameError> {
        Ok(ConfigKey {
            env: Env::new(env)?,
            app: App::new(app)?,
            name: ConfigName::new(name)?,
        })
    }

    pub fn format(&self) -> Format {
        self.name.format()
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.env, self.app, self.name)
    }
}

/// `/arbor/config/<env>`: its children are the env's apps.
pub fn env_path(env: &Env) -> String {
    format!("{CONFIG_ROOT}/{env}")
}

/// `/arbor/config/<env>/<app>`: its children are the app's config documents, its data the app's
/// settings.
pub fn app_path(env: &Env, app: &App) -> String {
    format!("{CONFIG_ROOT}/{env}/{app}")
}

/// `/arbor/config/<env>/<app>/<name>`: the current bytes. Plain ZooKeeper clients read and watch
/// this node.
pub fn config_path(key: &ConfigKey) -> String {
    format!("{CONFIG_ROOT}/{}/{}/{}", key.env, key.app, key.name)
}

/// `/arbor/history/<env>/<app>`: the history directories of the app's documents.
pub fn app_history_path(env: &Env, app: &App) -> String {
    format!("{HISTORY_ROOT}/{env}/{app}")
}

/// `/arbor/history/<env>/<app>/<name>`: one history entry per child; its data is the config's
/// settings.
pub fn history_dir(key: &ConfigKey) -> String {
    format!("{HISTORY_ROOT}/{}/{}/{}", key.env, key.app, key.name)
}

/// The child name of version `version`'s history entry: `v-` and 10 digits.
pub fn history_entry_name(version: Version) -> String {
    format!("v-{version:010}")
}

/// `/arbor/history/<env>/<app>/<name>/v-<seq>`.
pub fn history_entry_path(key: &ConfigKey, version: Version) -> String {
    format!("{}/{}", history_dir(key), history_entry_name(version))
}

/// The version a history child name stands for (`v-0000000012` -> 12); `None` for other names.
/// Unpadded digits (`v-12`) are accepted too.
pub fn parse_history_entry_name(name: &str) -> Option<Version> {
    let digits = name.strip_prefix("v-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|version| *version > 0)
}

/// The Spring Cloud Zookeeper context an app's documents in `env` project to:
/// `/config/<app>` for env [`SPRING_DEFAULT_ENV`], `/config/<app>,<env>` otherwise.
pub fn spring_context_path(env: &Env, app: &App) -> String {
    if env.as_str() == SPRING_DEFAULT_ENV {
        format!("{SPRING_ROOT}/{app}")
    } else {
        format!("{SPRING_ROOT}/{app},{env}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_accepted() {
        for name in ["prod", "eu-west-1", "a", "v1.2_beta", "DEFAULT"] {
            assert!(Env::new(name).is_ok(), "{name}");
            assert!(App::new(name).is_ok(), "{name}");
        }
        let name = ConfigName::new("application.yml").unwrap();
        assert_eq!(name.format(), Format::Yaml);
        assert_eq!(
            ConfigName::new("db.v2.JSON").unwrap().format(),
            Format::Json
        );
        assert_eq!(ConfigName::new("a.toml").unwrap().format(), Format::Toml);
        assert_eq!(
            ConfigName::new("jdbc.properties").unwrap().format(),
            Format::Properties
        );
        assert_eq!(ConfigName::new("motd.txt").unwrap().format(), Format::Text);
        assert_eq!(ConfigName::new("x.yaml").unwrap().format(), Format::Yaml);
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "must not be empty"),
            ("..", "`.` and `..` are not names"),
            (".", "`.` and `..` are not names"),
            ("a/b", "must not contain `/`"),
            ("../etc", "must not contain `/`"),
            ("a\u{0}b", "control character U+0000"),
            ("tab\there", "control character U+0009"),
            ("a,b", "character ',' is not allowed"),
            ("sp ace", "character ' ' is not allowed"),
            ("日本", "is not allowed"),
            (".hidden", "must not start with `.`"),
        ];
        for (name, reason) in cases {
            let err = Env::new(name).unwrap_err();
            assert!(
                err.reason.contains(reason),
                "{name:?}: {err} should say {reason:?}"
            );
            assert_eq!(err.what, "env");
            assert!(App::new(name).is_err());
            assert!(ConfigName::new(&format!("{name}.yml")).is_err());
        }
        assert!(Env::new(&"e".repeat(MAX_SEGMENT_LEN)).is_ok());
        assert!(Env::new(&"e".repeat(MAX_SEGMENT_LEN + 1))
            .unwrap_err()
            .reason
            .contains("longer than"));
    }

    #[test]
    fn config_names_need_a_known_extension() {
        let no_ext = ConfigName::new("application").unwrap_err();
        assert!(no_ext.reason.contains("needs an extension"), "{no_ext}");
        let unknown = ConfigName::new("app.ini").unwrap_err();
        assert!(
            unknown.reason.contains("unknown extension \"ini\""),
            "{unknown}"
        );
        assert!(ConfigName::new("app.").is_err());
        // ".yml" alone starts with a dot; "a..yml" has an empty-looking middle but is a plain name.
        assert!(ConfigName::new(".yml").is_err());
        assert!(ConfigName::new("a..yml").is_ok());
        let message = ConfigKey::parse("prod", "web", "x")
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("invalid config name \"x\": "),
            "{message}"
        );
    }

    #[test]
    fn paths_follow_the_layout() {
        let key = ConfigKey::parse("prod", "web", "application.yml").unwrap();
        assert_eq!(key.to_string(), "prod/web/application.yml");
        assert_eq!(env_path(&key.env), "/arbor/config/prod");
        assert_eq!(app_path(&key.env, &key.app), "/arbor/config/prod/web");
        assert_eq!(config_path(&key), "/arbor/config/prod/web/application.yml");
        assert_eq!(
            app_history_path(&key.env, &key.app),
            "/arbor/history/prod/web"
        );
        assert_eq!(history_dir(&key), "/arbor/history/prod/web/application.yml");
        assert_eq!(
            history_entry_path(&key, 7),
            "/arbor/history/prod/web/application.yml/v-0000000007"
        );
        assert_eq!(spring_context_path(&key.env, &key.app), "/config/web,prod");
        let default = Env::new("default").unwrap();
        assert_eq!(spring_context_path(&default, &key.app), "/config/web");
    }

    #[test]
    fn history_entry_names_roundtrip_and_sort_in_version_order() {
        for version in [1, 9, 10, 99, 12345, 9_999_999_999] {
            assert_eq!(
                parse_history_entry_name(&history_entry_name(version)),
                Some(version)
            );
        }
        assert!(history_entry_name(9) < history_entry_name(10));
        assert_eq!(parse_history_entry_name("v-12"), Some(12));
        for bad in ["v-", "v-0", "x-1", "v-1a", "v--1", "v-+1", "lock", ""] {
            assert_eq!(parse_history_entry_name(bad), None, "{bad}");
        }
    }
}
