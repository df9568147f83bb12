//! The agent's configuration as written in agent.yaml and conf.d/*.yaml.
//!
//! Types are what serde reads (unknown keys are refused, so typos fail loudly); the rules that
//! span fields or documents live in `validate`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use arbor_config_center::layout::{ConfigKey, NameError};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::duration;

/// agent.yaml: the ensemble, the agent's own settings and (optionally) services and files.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MainDocument {
    /// ZooKeeper connect string: `host:port[,host:port...][/chroot]`.
    pub servers: String,
    #[serde(
        default = "default_session_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub session_timeout: Duration,
    #[serde(default = "default_cache_dir")]
    pub cache_dir: PathBuf,
    /// Listen address of /metrics and /healthz; none means no HTTP listener.
    #[serde(default)]
    pub http: Option<SocketAddr>,
    #[serde(default)]
    pub host: HostSpec,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

/// A conf.d/*.yaml file: more services and files, nothing global.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FragmentDocument {
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

fn default_session_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_cache_dir() -> PathBuf {
    PathBuf::from("/var/lib/arbor-agent")
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Defaults to the machine's host name.
    #[serde(default)]
    pub name: Option<String>,
    /// Added to every service's metadata (a service's own metadata wins).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    /// Defaults to `<name>-<host>-<port>`, stable across restarts.
    #[serde(default)]
    pub id: Option<String>,
    /// Defaults to the host name.
    #[serde(default)]
    pub address: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub weight: Option<u32>,
    #[serde(default)]
    pub check: Option<CheckSpec>,
}

/// A health check: exactly one of `tcp`, `http`, `exec`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `host:port` that must accept a TCP connection.
    #[serde(default)]
    pub tcp: Option<String>,
    /// `http://...` URL that must answer 2xx to a GET.
    #[serde(default)]
    pub http: Option<String>,
    /// A command that must exit 0.
    #[serde(default)]
    pub exec: Option<CommandLine>,
    #[serde(
        default = "default_check_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub interval: Duration,
    #[serde(
        default = "default_check_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub timeout: Duration,
    /// Consecutive failures after which the instance is removed from the registry. Earlier
    /// failures only mark it `enabled: false`.
    #[serde(default = "default_deregister_after")]
    pub deregister_after: u32,
}

fn default_check_interval() -> Duration {
    Duration::from_secs(10)
}

fn default_check_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_deregister_after() -> u32 {
    3
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub source: SourceSpec,
    pub dest: PathBuf,
    /// Octal permission bits; defaults to the existing file's, else 0644.
    #[serde(default)]
    pub mode: Option<FileMode>,
    /// `user`, `user:group`, or numeric ids.
    #[serde(default)]
    pub owner: Option<String>,
    /// Runs on the staged file before it replaces `dest`; nonzero exit keeps the old file.
    #[serde(default)]
    pub check: Option<CommandSpec>,
    /// Runs after `dest` was replaced.
    #[serde(default)]
    pub reload: Option<CommandSpec>,
    #[serde(default)]
    pub wait: Wait,
    /// Keep the replaced version as `<dest>.bak`.
    #[serde(default)]
    pub backup: bool,
}

/// Which config-center document a file comes from: `{env, app, name}` or `"env/app/name"`,
/// checked with the config center's own naming rules (the name's extension names its format).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceSpec {
    pub key: ConfigKey,
}

impl SourceSpec {
    pub fn parse(env: &str, app: &str, name: &str) -> Result<SourceSpec, NameError> {
        ConfigKey::parse(env, app, name).map(|key| SourceSpec { key })
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.key)
    }
}

impl<'de> Deserialize<'de> for SourceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Parts {
            env: String,
            app: String,
            name: String,
        }
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = SourceSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`env/app/name` or a mapping with env, app and name")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SourceSpec, E> {
                let parts: Vec<&str> = text.split('/').collect();
                match parts.as_slice() {
                    [env, app, name] => SourceSpec::parse(env, app, name).map_err(E::custom),
                    _ => Err(E::custom(format!(
                        "source `{text}` must be `env/app/name` (three parts)"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SourceSpec, A::Error> {
                let parts = Parts::deserialize(de::value::MapAccessDeserializer::new(map))?;
                SourceSpec::parse(&parts.env, &parts.app, &parts.name).map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_any(SourceVisitor)
    }
}

/// Permission bits, written as `"0644"`, `"644"` or `0644` (digits read as octal, as chmod does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl FileMode {
    pub fn parse(text: &str) -> Result<FileMode, String> {
        let digits = text.trim();
        let digits = digits.strip_prefix("0o").unwrap_or(digits);
        if digits.is_empty() || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
            return Err(format!("mode `{text}` is not octal (write e.g. \"0644\")"));
        }
        let bits =
            u32::from_str_radix(digits, 8).map_err(|_| format!("mode `{text}` is too large"))?;
        if bits > 0o7777 {
            return Err(format!("mode `{text}` is larger than 07777"));
        }
        Ok(FileMode(bits))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModeVisitor;
        impl Visitor<'_> for ModeVisitor {
            type Value = FileMode;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("octal permission bits such as \"0644\"")
            }
            // YAML reads 0644 as the decimal 644; its digits are what the user meant.
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<FileMode, E> {
                FileMode::parse(&number.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<FileMode, E> {
                FileMode::parse(&number.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<FileMode, E> {
                FileMode::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(ModeVisitor)
    }
}

/// Quiescence as consul-template's `wait`: write once no change came for `min`, but no later
/// than `max` after the first change of a burst. `{min, max}`, `"2s"` or `"2s:10s"`; with only
/// `min`, `max` is 4 x `min` (consul-template's rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wait {
    pub min: Duration,
    pub max: Duration,
}

impl Wait {
    pub fn parse(text: &str) -> Result<Wait, String> {
        match text.split_once(':') {
            Some((min, max)) => Ok(Wait {
                min: duration::parse_duration(min)?,
                max: duration::parse_duration(max)?,
            }),
            None => {
                let min = duration::parse_duration(text)?;
                Ok(Wait { min, max: min * 4 })
            }
        }
    }
}

impl<'de> Deserialize<'de> for Wait {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Bounds {
            #[serde(deserialize_with = "duration::deserialize")]
            min: Duration,
            #[serde(default, deserialize_with = "optional_duration")]
            max: Option<Duration>,
        }
        struct WaitVisitor;
        impl<'de> Visitor<'de> for WaitVisitor {
            type Value = Wait;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`{min: 2s, max: 10s}`, `\"2s\"` or `\"2s:10s\"`")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Wait, E> {
                Wait::parse(text).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Wait, E> {
                let min = Duration::from_secs(seconds);
                Ok(Wait { min, max: min * 4 })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Wait, A::Error> {
                let bounds = Bounds::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Wait {
                    min: bounds.min,
                    max: bounds.max.unwrap_or(bounds.min * 4),
                })
            }
        }
        deserializer.deserialize_any(WaitVisitor)
    }
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration::deserialize(d).map(Some)
}

/// What to run: a string goes to `/bin/sh -c`, a list is an argv run directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandLine {
    Shell(String),
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LineVisitor;
        impl<'de> Visitor<'de> for LineVisitor {
            type Value = CommandLine;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a shell command string or an argv list")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<CommandLine, E> {
                Ok(CommandLine::Shell(text.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<CommandLine, A::Error> {
                argv_from(seq)
            }
        }
        deserializer.deserialize_any(LineVisitor)
    }
}

fn argv_from<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<CommandLine, A::Error> {
    let mut argv = Vec::new();
    while let Some(arg) = seq.next_element::<String>()? {
        argv.push(arg);
    }
    Ok(CommandLine::Argv(argv))
}

/// A command with its timeout: `"cmd"`, `[argv...]` or `{command: ..., timeout: 30s}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    pub command: CommandLine,
    pub timeout: Duration,
}

pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = CommandSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a shell command string, an argv list, or {command, timeout}")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<CommandSpec, E> {
                Ok(CommandSpec {
                    command: CommandLine::Shell(text.to_string()),
                    timeout: DEFAULT_COMMAND_TIMEOUT,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<CommandSpec, A::Error> {
                Ok(CommandSpec {
                    command: argv_from(seq)?,
                    timeout: DEFAULT_COMMAND_TIMEOUT,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CommandSpec, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Form {
                    command: CommandLine,
                    #[serde(default, deserialize_with = "optional_duration")]
                    timeout: Option<Duration>,
                }
                let form = Form::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(CommandSpec {
                    command: form.command,
                    timeout: form.timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
                })
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}
