//! Server configuration: ZooKeeper's zoo.cfg, or the same keys in YAML.
//!
//! Parsing is pure: the only I/O is [`ServerConfig::load`] reading the file it is given. Both
//! formats are first reduced to a list of `key=value` entries (YAML mappings flattened into dotted
//! keys), then one interpreter turns the entries into a [`ServerConfig`], so both formats accept
//! exactly the same keys and report errors the same way.
//!
//! As in ZooKeeper, settings that ZooKeeper reads as `zookeeper.*` system properties may be written
//! with or without that prefix. Keys Arbor does not know are collected in
//! [`ServerConfig::ignored_keys`] (the server logs them once); they are never an error.

mod error;
pub(crate) mod servers;
mod yaml;
mod zoo_cfg;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

pub use error::{ConfigError, Location};
pub use servers::{ClientEndpoint, PeerRole, ServerEntry};

/// The four-letter words ZooKeeper 3.8 knows; `*` in the whitelist enables all of them.
pub const KNOWN_FOUR_LETTER_WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "mntr", "ruok", "srst",
    "srvr", "stat", "stmk", "wchc", "wchp", "wchs",
];

/// ZooKeeper always enables `srvr` (its own zkServer.sh status depends on it), whatever the list.
const ALWAYS_ALLOWED_WORD: &str = "srvr";

/// ZooKeeper keeps at least this many snapshots when purging; smaller settings are raised to it.
const MIN_SNAP_RETAIN_COUNT: u32 = 3;
/// ZooKeeper's lower bound for snapCount; smaller settings are raised to it.
const MIN_SNAP_COUNT: u64 = 2;

/// Which four-letter words the client port answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FourLetterWords {
    /// `4lw.commands.whitelist=*`.
    All,
    /// An explicit list (`srvr` is allowed in addition, as in ZooKeeper).
    Only(BTreeSet<String>),
}

/// The embedded admin HTTP server (ZooKeeper's AdminServer; Arbor also serves its HTTP APIs there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminServerConfig {
    pub enabled: bool,
    pub address: IpAddr,
    pub port: u16,
    /// `admin.tokensFile`: bearer tokens with roles for the HTTP APIs; `None`: open.
    pub tokens_file: Option<PathBuf>,
    /// `admin.auditLog`: where writes through the HTTP APIs are logged; `None`:
    /// `<dataDir>/audit.log`.
    pub audit_log: Option<PathBuf>,
}

/// Whether TLS clients must present a certificate (`ssl.clientAuth`, ZooKeeper's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Certificates are not asked for.
    None,
    /// Asked for and verified when sent; clients without one are accepted.
    Want,
    /// Required: a client without a certificate signed by `ssl.trustFile` is refused.
    Need,
}

/// PEM files for TLS (ZooKeeper's `ssl.keyStore.*`/`ssl.trustStore.*` name Java keystores,
/// which Arbor does not read; these keys name PEM files instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `ssl.certFile`: the server's certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// `ssl.keyFile`: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// `ssl.trustFile`: CA certificates that sign client certificates.
    pub trust_file: Option<PathBuf>,
    /// `ssl.clientAuth`; unset means `need` when a trust file is given, else `none`.
    pub client_auth: Option<ClientAuth>,
    /// `admin.forceHttps`: the admin port serves HTTPS only.
    pub admin_https: bool,
    /// `X509AuthenticationProvider.superUser`: a client certificate subject that is super.
    pub x509_super_user: Option<String>,
}

impl TlsConfig {
    /// The client-certificate policy in force.
    pub fn effective_client_auth(&self) -> ClientAuth {
        self.client_auth.unwrap_or(if self.trust_file.is_some() {
            ClientAuth::Need
        } else {
            ClientAuth::None
        })
    }
}

/// TLS between ensemble members (`sslQuorum`, ZooKeeper's key). Peers always authenticate each
/// other: each presents its certificate and verifies the other's against the trust file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumTlsConfig {
    /// `sslQuorum`: TLS on the quorum port and on every outgoing peer link.
    pub enabled: bool,
    /// `ssl.quorum.certFile`; unset: `ssl.certFile`.
    pub cert_file: Option<PathBuf>,
    /// `ssl.quorum.keyFile`; unset: `ssl.keyFile`.
    pub key_file: Option<PathBuf>,
    /// `ssl.quorum.trustFile`; unset: `ssl.trustFile`.
    pub trust_file: Option<PathBuf>,
    /// `ssl.quorum.hostnameVerification` (default true, as ZooKeeper): a dialer checks that
    /// the peer's certificate names the host of its `server.N` address (subjectAltName DNS
    /// name or IP address); false checks the chain only.
    pub hostname_verification: bool,
}

impl Default for QuorumTlsConfig {
    fn default() -> Self {
        QuorumTlsConfig {
            enabled: false,
            cert_file: None,
            key_file: None,
            trust_file: None,
            hostname_verification: true,
        }
    }
}

/// A PEM file and the configuration key it was taken from, so errors name that key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFile {
    pub key: &'static str,
    pub path: PathBuf,
}

/// The PEM files peers use, after falling back to the client-port files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumTlsFiles {
    pub cert: PemFile,
    pub key: PemFile,
    pub trust: PemFile,
}

impl QuorumTlsConfig {
    /// Each `ssl.quorum.*File`, else the matching `ssl.*File` of `client`; `Err` names the
    /// first that neither key sets.
    pub fn files(&self, client: &TlsConfig) -> Result<QuorumTlsFiles, &'static str> {
        fn pick(
            own: &Option<PathBuf>,
            own_key: &'static str,
            fallback: &Option<PathBuf>,
            fallback_key: &'static str,
        ) -> Result<PemFile, &'static str> {
            match (own, fallback) {
                (Some(path), _) => Ok(PemFile {
                    key: own_key,
                    path: path.clone(),
                }),
                (None, Some(path)) => Ok(PemFile {
                    key: fallback_key,
                    path: path.clone(),
                }),
                (None, None) => Err(own_key),
            }
        }
        Ok(QuorumTlsFiles {
            cert: pick(
                &self.cert_file,
                "ssl.quorum.certFile",
                &client.cert_file,
                "ssl.certFile",
            )?,
            key: pick(
                &self.key_file,
                "ssl.quorum.keyFile",
                &client.key_file,
                "ssl.keyFile",
            )?,
            trust: pick(
                &self.trust_file,
                "ssl.quorum.trustFile",
                &client.trust_file,
                "ssl.trustFile",
            )?,
        })
    }
}

/// Where the config center's credential comes from (`configCenter.auth`,
/// `configCenter.authFile`; docs/admin.md, "Config-center ACLs").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSetting {
    /// `configCenter.auth=digest:<user>:<password>`.
    Inline(arbor_coord::DigestCredential),
    /// `configCenter.authFile=<path>`: a file holding `digest:<user>:<password>` (e.g. a
    /// mounted Kubernetes Secret), read when the server starts.
    File(PathBuf),
}

/// Automatic purge of old snapshots and log segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutopurgeConfig {
    /// Number of most recent snapshots (and their logs) kept; at least 3.
    pub snap_retain_count: u32,
    /// Hours between purges; 0 disables purging.
    pub purge_interval_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub tick_time_ms: u32,
    /// Ticks a follower may take to connect and sync to a leader.
    pub init_limit: u32,
    /// Ticks a follower may lag behind a leader.
    pub sync_limit: u32,
    pub data_dir: PathBuf,
    /// Where the transaction log lives; defaults to `data_dir`.
    pub data_log_dir: PathBuf,
    pub client_port: u16,
    pub client_port_address: IpAddr,
    /// `secureClientPort`: the TLS client listener (on `client_port_address`), when set.
    pub secure_client_port: Option<u16>,
    /// Certificates for the TLS client port and HTTPS on the admin port (`ssl.*`).
    pub tls: TlsConfig,
    /// TLS between ensemble members (`sslQuorum`, `ssl.quorum.*`).
    pub quorum_tls: QuorumTlsConfig,
    /// Connections per client IP; 0 means unlimited.
    pub max_client_cnxns: u32,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    pub four_letter_words: FourLetterWords,
    pub admin: AdminServerConfig,
    pub autopurge: AutopurgeConfig,
    /// Transactions between snapshots.
    pub snap_count: u64,
    /// fsync the log before acknowledging writes.
    pub force_sync: bool,
    /// Largest frame accepted from a client, in bytes (`jute.maxbuffer`).
    pub jute_max_buffer: u32,
    /// Requests in flight across all clients before the server stops reading.
    pub global_outstanding_limit: u32,
    /// Enables container and TTL nodes for TTL creates (ZooKeeper's `extendedTypesEnabled`).
    pub extended_types_enabled: bool,
    /// How often empty containers and expired TTL nodes are looked for
    /// (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: u32,
    /// `DigestAuthenticationProvider.superDigest`: `user:base64(sha1(user:password))`.
    pub super_digest: Option<String>,
    /// The credential the config center's API session authenticates with; with it, the config
    /// center's nodes are readable by anyone and writable only by that identity.
    pub config_center_auth: Option<CredentialSetting>,
    /// `server.N` lines, sorted by id.
    pub servers: Vec<ServerEntry>,
    /// `metricsProvider.httpPort`: Prometheus endpoint port, when configured.
    pub metrics_http_port: Option<u16>,
    /// `metricsProvider.httpHost`: the address the Prometheus endpoint binds (all by default).
    pub metrics_http_host: IpAddr,
    pub standalone_enabled: bool,
    pub reconfig_enabled: bool,
    /// Keys that were present but are not used by Arbor, in file order, without duplicates.
    pub ignored_keys: Vec<String>,
    /// Settings that were adjusted the way ZooKeeper adjusts them (e.g. a too-small
    /// `autopurge.snapRetainCount` raised to 3); the server logs them.
    pub warnings: Vec<String>,
}

/// The default tick; also the base of the default session-timeout bounds.
const DEFAULT_TICK_TIME_MS: u32 = 2000;

impl Default for ServerConfig {
    fn default() -> Self {
        let data_dir = PathBuf::from("./arbor-data");
        ServerConfig {
            tick_time_ms: DEFAULT_TICK_TIME_MS,
            init_limit: 10,
            sync_limit: 5,
            data_log_dir: data_dir.clone(),
            data_dir,
            client_port: 2181,
            client_port_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            secure_client_port: None,
            tls: TlsConfig::default(),
            quorum_tls: QuorumTlsConfig::default(),
            max_client_cnxns: 60,
            min_session_timeout_ms: 2 * DEFAULT_TICK_TIME_MS,
            max_session_timeout_ms: 20 * DEFAULT_TICK_TIME_MS,
            four_letter_words: FourLetterWords::Only(BTreeSet::from([
                ALWAYS_ALLOWED_WORD.to_string()
            ])),
            admin: AdminServerConfig {
                enabled: true,
                address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: 8080,
                tokens_file: None,
                audit_log: None,
            },
            autopurge: AutopurgeConfig {
                snap_retain_count: MIN_SNAP_RETAIN_COUNT,
                purge_interval_hours: 0,
            },
            snap_count: 100_000,
            force_sync: true,
            jute_max_buffer: 0xfffff,
            global_outstanding_limit: 1000,
            extended_types_enabled: false,
            container_check_interval_ms: 60_000,
            super_digest: None,
            config_center_auth: None,
            servers: Vec::new(),
            metrics_http_port: None,
            metrics_http_host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            standalone_enabled: true,
            reconfig_enabled: false,
            ignored_keys: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// One `key=value` setting before interpretation, with where it was written.
#[derive(Debug, Clone)]
struct RawEntry {
    key: String,
    value: String,
    at: Location,
}

impl ServerConfig {
    /// Reads and parses a configuration file. `.yaml`/`.yml` files are YAML; other files are
    /// sniffed (zoo.cfg when the first setting is written `key=value`).
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let origin = path.display().to_string();
        let is_yaml_extension = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml_extension || !zoo_cfg::looks_like_zoo_cfg(&text) {
            Self::parse_yaml(&text, &origin)
        } else {
            Self::parse_zoo_cfg(&text, &origin)
        }
    }

    /// Parses zoo.cfg text; `origin` names the source in error messages (usually the file name).
    pub fn parse_zoo_cfg(text: &str, origin: &str) -> Result<ServerConfig, ConfigError> {
        Self::from_entries(zoo_cfg::parse_entries(text, origin)?, origin)
    }

    /// Parses a YAML document with the zoo.cfg keys (flat dotted keys or nested mappings).
    pub fn parse_yaml(text: &str, origin: &str) -> Result<ServerConfig, ConfigError> {
        Self::from_entries(yaml::parse_entries(text, origin)?, origin)
    }

    /// Whether the client port answers the four-letter word `word`.
    pub fn four_letter_word_allowed(&self, word: &str) -> bool {
        if word == ALWAYS_ALLOWED_WORD {
            return true;
        }
        match &self.four_letter_words {
            FourLetterWords::All => true,
            FourLetterWords::Only(words) => words.contains(word),
        }
    }

    /// ZooKeeper's rule: standalone when no `server.N` lines are given, or exactly one and
    /// `standaloneEnabled` is true.
    pub fn is_standalone(&self) -> bool {
        self.servers.is_empty() || (self.servers.len() == 1 && self.standalone_enabled)
    }

    /// The ensemble from the `server.N` lines: participants vote, observers learn.
    pub fn ensemble(&self) -> arbor_quorum::Ensemble {
        let mut ensemble = arbor_quorum::Ensemble::default();
        for server in &self.servers {
            let addr = if server.host.contains(':') {
                format!("[{}]:{}", server.host, server.quorum_port)
            } else {
                format!("{}:{}", server.host, server.quorum_port)
            };
            match server.role {
                PeerRole::Participant => ensemble.voters.insert(server.id, addr),
                PeerRole::Observer => ensemble.observers.insert(server.id, addr),
            };
        }
        ensemble
    }

    /// The address the client listener binds.
    pub fn client_socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.client_port_address, self.client_port)
    }

    /// The address the separate Prometheus endpoint binds, when `metricsProvider.httpPort` is set.
    pub fn metrics_socket_addr(&self) -> Option<SocketAddr> {
        self.metrics_http_port
            .map(|port| SocketAddr::new(self.metrics_http_host, port))
    }

    /// Where writes through the HTTP APIs are audited.
    pub fn audit_log_path(&self) -> PathBuf {
        self.admin
            .audit_log
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit.log"))
    }

    /// The address the admin HTTP server binds.
    pub fn admin_socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.admin.address, self.admin.port)
    }

    /// The session timeout granted for a client's requested timeout: clamped into
    /// `[min_session_timeout_ms, max_session_timeout_ms]`, as ZooKeeper does.
    pub fn negotiate_session_timeout(&self, requested_ms: i32) -> i32 {
        let min = i64::from(self.min_session_timeout_ms);
        let max = i64::from(self.max_session_timeout_ms);
        // Bounds are validated to fit in i32, so the clamped value always converts.
        i32::try_from(i64::from(requested_ms).clamp(min, max)).unwrap_or(i32::MAX)
    }

    fn from_entries(entries: Vec<RawEntry>, origin: &str) -> Result<ServerConfig, ConfigError> {
        let mut config = ServerConfig::default();
        let mut data_log_dir = None;
        let mut min_session_timeout = None;
        let mut max_session_timeout = None;
        let mut servers = std::collections::BTreeMap::new();

        for entry in &entries {
            let key = canonical_key(&entry.key);
            let value = Value { entry };
            match key {
                "tickTime" => config.tick_time_ms = value.int_at_least(1)?,
                "initLimit" => config.init_limit = value.int_at_least(1)?,
                "syncLimit" => config.sync_limit = value.int_at_least(1)?,
                "dataDir" => config.data_dir = value.path()?,
                "dataLogDir" => data_log_dir = Some(value.path()?),
                "clientPort" => config.client_port = value.port()?,
                "clientPortAddress" => config.client_port_address = value.ip()?,
                "secureClientPort" => config.secure_client_port = Some(value.port()?),
                "ssl.certFile" => config.tls.cert_file = Some(value.path()?),
                "ssl.keyFile" => config.tls.key_file = Some(value.path()?),
                "ssl.trustFile" => config.tls.trust_file = Some(value.path()?),
                "ssl.clientAuth" => config.tls.client_auth = Some(value.client_auth()?),
                "admin.forceHttps" => config.tls.admin_https = value.boolean()?,
                "sslQuorum" => config.quorum_tls.enabled = value.boolean()?,
                "ssl.quorum.certFile" => config.quorum_tls.cert_file = Some(value.path()?),
                "ssl.quorum.keyFile" => config.quorum_tls.key_file = Some(value.path()?),
                "ssl.quorum.trustFile" => config.quorum_tls.trust_file = Some(value.path()?),
                "ssl.quorum.hostnameVerification" => {
                    config.quorum_tls.hostname_verification = value.boolean()?
                }
                // Peers always verify each other; only ZooKeeper's value for that is accepted.
                "ssl.quorum.clientAuth" => value.quorum_client_auth()?,
                "X509AuthenticationProvider.superUser" => {
                    config.tls.x509_super_user = Some(value.text().to_owned())
                }
                "maxClientCnxns" => config.max_client_cnxns = value.int_at_least(0)?,
                "minSessionTimeout" => min_session_timeout = value.session_timeout()?,
                "maxSessionTimeout" => max_session_timeout = value.session_timeout()?,
                "4lw.commands.whitelist" => config.four_letter_words = value.word_list(),
                "admin.enableServer" => config.admin.enabled = value.boolean()?,
                "admin.serverAddress" => config.admin.address = value.ip()?,
                "admin.serverPort" => config.admin.port = value.port()?,
                "admin.tokensFile" => config.admin.tokens_file = Some(value.path()?),
                "admin.auditLog" => config.admin.audit_log = Some(value.path()?),
                "autopurge.snapRetainCount" => {
                    let count: u32 = value.int_at_least(0)?;
                    if count < MIN_SNAP_RETAIN_COUNT {
                        config.warnings.push(format!(
                            "{}: {key}: {count} is below the minimum; using {MIN_SNAP_RETAIN_COUNT}",
                            entry.at
                        ));
                    }
                    config.autopurge.snap_retain_count = count.max(MIN_SNAP_RETAIN_COUNT);
                }
                "autopurge.purgeInterval" => {
                    config.autopurge.purge_interval_hours = value.int_at_least(0)?
                }
                "snapCount" => {
                    let count: u64 = value.int_at_least(0)?;
                    if count < MIN_SNAP_COUNT {
                        config.warnings.push(format!(
                            "{}: {key}: {count} is below the minimum; using {MIN_SNAP_COUNT}",
                            entry.at
                        ));
                    }
                    config.snap_count = count.max(MIN_SNAP_COUNT);
                }
                "forceSync" => config.force_sync = value.boolean()?,
                "jute.maxbuffer" => config.jute_max_buffer = value.int_at_least(1)?,
                "globalOutstandingLimit" => {
                    config.global_outstanding_limit = value.int_at_least(1)?
                }
                "extendedTypesEnabled" => config.extended_types_enabled = value.boolean()?,
                "znode.container.checkIntervalMs" => {
                    config.container_check_interval_ms = value.int_at_least(1)?
                }
                "DigestAuthenticationProvider.superDigest" => {
                    config.super_digest = Some(value.super_digest()?)
                }
                "configCenter.auth" | "configCenter.authFile" => {
                    if config.config_center_auth.is_some() {
                        return Err(value.invalid(
                            "configCenter.auth and configCenter.authFile are exclusive, and \
                             each may be given once"
                                .into(),
                        ));
                    }
                    config.config_center_auth = Some(if key == "configCenter.auth" {
                        CredentialSetting::Inline(value.credential()?)
                    } else {
                        CredentialSetting::File(value.path()?)
                    });
                }
                "metricsProvider.httpPort" => config.metrics_http_port = Some(value.port()?),
                "metricsProvider.httpHost" => config.metrics_http_host = value.ip()?,
                "standaloneEnabled" => config.standalone_enabled = value.boolean()?,
                "reconfigEnabled" => config.reconfig_enabled = value.boolean()?,
                _ => match key.strip_prefix("server.") {
                    Some(suffix) => {
                        let id = servers::parse_server_id(suffix)
                            .ok_or_else(|| value.invalid("expected server.<number>".into()))?;
                        let server = servers::parse_server_value(id, &entry.value)
                            .map_err(|message| value.invalid(message))?;
                        servers.insert(id, server);
                    }
                    None => {
                        if !config.ignored_keys.iter().any(|k| k == &entry.key) {
                            config.ignored_keys.push(entry.key.clone());
                        }
                    }
                },
            }
        }

        config.data_log_dir = data_log_dir.unwrap_or_else(|| config.data_dir.clone());
        config.servers = servers.into_values().collect();
        config.min_session_timeout_ms =
            min_session_timeout.unwrap_or_else(|| config.tick_time_ms.saturating_mul(2));
        config.max_session_timeout_ms =
            max_session_timeout.unwrap_or_else(|| config.tick_time_ms.saturating_mul(20));
        config.validate(origin)?;
        if config.admin.enabled
            && config.admin.tokens_file.is_some()
            && config.config_center_auth.is_none()
        {
            config.warnings.push(
                "admin.tokensFile is set but configCenter.auth is not: ZooKeeper clients can \
                 write the config center's nodes (/arbor/...) directly, without a token; set \
                 configCenter.auth=digest:<user>:<password> (docs/admin.md)"
                    .to_string(),
            );
        }
        Ok(config)
    }

    /// The config center's credential (`configCenter.auth`, or read from
    /// `configCenter.authFile`), if one is configured.
    pub fn config_center_credential(
        &self,
    ) -> Result<Option<arbor_coord::DigestCredential>, ConfigError> {
        match &self.config_center_auth {
            None => Ok(None),
            Some(CredentialSetting::Inline(credential)) => Ok(Some(credential.clone())),
            Some(CredentialSetting::File(path)) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                arbor_coord::DigestCredential::parse_with_scheme(text.trim())
                    .map(Some)
                    .map_err(|err| ConfigError::InvalidValue {
                        at: Location {
                            origin: path.display().to_string(),
                            line: None,
                        },
                        key: "configCenter.authFile".into(),
                        // Never the file's text: it holds the password.
                        message: format!("expected digest:<user>:<password>: {err}"),
                    })
            }
        }
    }

    /// Checks that hold across keys.
    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let inconsistent = |message: String| ConfigError::Inconsistent {
            origin: origin.to_string(),
            message,
        };
        if self.min_session_timeout_ms > self.max_session_timeout_ms {
            return Err(inconsistent(format!(
                "minSessionTimeout ({} ms) must not be larger than maxSessionTimeout ({} ms)",
                self.min_session_timeout_ms, self.max_session_timeout_ms
            )));
        }
        let tls_used = self.secure_client_port.is_some() || self.tls.admin_https;
        if tls_used && (self.tls.cert_file.is_none() || self.tls.key_file.is_none()) {
            return Err(inconsistent(
                "secureClientPort and admin.forceHttps need ssl.certFile and ssl.keyFile".into(),
            ));
        }
        if self.tls.effective_client_auth() != ClientAuth::None && self.tls.trust_file.is_none() {
            return Err(inconsistent(
                "ssl.clientAuth=want or need needs ssl.trustFile (the CAs of client certificates)"
                    .into(),
            ));
        }
        if self.quorum_tls.enabled {
            if let Err(key) = self.quorum_tls.files(&self.tls) {
                let fallback = key.replace("ssl.quorum.", "ssl.");
                return Err(inconsistent(format!(
                    "sslQuorum=true needs {key} (or {fallback}): peers present a certificate and \
                     verify each other's against a trust file"
                )));
            }
        }
        if self.secure_client_port == Some(self.client_port) {
            return Err(inconsistent(format!(
                "secureClientPort and clientPort are both {}",
                self.client_port
            )));
        }
        if i32::try_from(self.max_session_timeout_ms).is_err() {
            return Err(inconsistent(format!(
                "maxSessionTimeout ({} ms) does not fit the protocol's 32-bit timeout",
                self.max_session_timeout_ms
            )));
        }
        if self.admin.enabled
            && self.admin.port == self.client_port
            && self.admin.address == self.client_port_address
        {
            return Err(inconsistent(format!(
                "admin.serverPort and clientPort are both {}",
                self.client_port
            )));
        }
        Ok(())
    }
}

/// ZooKeeper reads unknown zoo.cfg keys as `zookeeper.<key>` system properties, so a key may be
/// written with or without that prefix; this maps both spellings to the unprefixed one.
fn canonical_key(key: &str) -> &str {
    key.strip_prefix("zookeeper.").unwrap_or(key)
}

/// A raw entry being interpreted as the value of a known key.
struct Value<'a> {
    entry: &'a RawEntry,
}

impl Value<'_> {
    fn invalid(&self, message: String) -> ConfigError {
        ConfigError::InvalidValue {
            at: self.entry.at.clone(),
            key: self.entry.key.clone(),
            message,
        }
    }

    fn text(&self) -> &str {
        &self.entry.value
    }

    fn int_at_least<T>(&self, min: i64) -> Result<T, ConfigError>
    where
        T: TryFrom<i64>,
    {
        let number: i64 = self
            .text()
            .parse()
            .map_err(|_| self.invalid(format!("expected an integer, got {:?}", self.text())))?;
        if number < min {
            return Err(self.invalid(format!("must be at least {min}, got {number}")));
        }
        T::try_from(number).map_err(|_| self.invalid(format!("{number} is too large")))
    }

    fn port(&self) -> Result<u16, ConfigError> {
        match self.text().parse::<i64>() {
            Ok(port @ 1..=65535) => Ok(port as u16),
            _ => Err(self.invalid(format!(
                "expected a port number 1-65535, got {:?}",
                self.text()
            ))),
        }
    }

    /// A session-timeout bound; ZooKeeper's `-1` means "derive from tickTime".
    fn session_timeout(&self) -> Result<Option<u32>, ConfigError> {
        if self.text() == "-1" {
            return Ok(None);
        }
        let ms: u32 = self.int_at_least(1)?;
        Ok(Some(ms))
    }

    fn client_auth(&self) -> Result<ClientAuth, ConfigError> {
        match self.text().to_ascii_lowercase().as_str() {
            "none" => Ok(ClientAuth::None),
            "want" => Ok(ClientAuth::Want),
            "need" => Ok(ClientAuth::Need),
            _ => Err(self.invalid(format!(
                "expected none, want or need, got {:?}",
                self.text()
            ))),
        }
    }

    fn quorum_client_auth(&self) -> Result<(), ConfigError> {
        match self.client_auth()? {
            ClientAuth::Need => Ok(()),
            _ => Err(self.invalid(format!(
                "peers always require each other's certificates; only need is accepted, got {:?}",
                self.text()
            ))),
        }
    }

    fn boolean(&self) -> Result<bool, ConfigError> {
        match self.text().to_ascii_lowercase().as_str() {
            "true" | "yes" => Ok(true),
            "false" | "no" => Ok(false),
            _ => Err(self.invalid(format!(
                "expected true/false or yes/no, got {:?}",
                self.text()
            ))),
        }
    }

    fn ip(&self) -> Result<IpAddr, ConfigError> {
        let text = self.text();
        if text.eq_ignore_ascii_case("localhost") {
            return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        text.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| self.invalid(format!("expected an IP address, got {text:?}")))
    }

    fn path(&self) -> Result<PathBuf, ConfigError> {
        if self.text().is_empty() {
            return Err(self.invalid("expected a directory path, got nothing".into()));
        }
        Ok(PathBuf::from(self.text()))
    }

    fn word_list(&self) -> FourLetterWords {
        let words: BTreeSet<String> = self
            .text()
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        if words.contains("*") {
            FourLetterWords::All
        } else {
            FourLetterWords::Only(words)
        }
    }

    /// `digest:<user>:<password>`; the error never repeats the value (it holds a password).
    fn credential(&self) -> Result<arbor_coord::DigestCredential, ConfigError> {
        arbor_coord::DigestCredential::parse_with_scheme(self.text())
            .map_err(|err| self.invalid(format!("expected digest:<user>:<password>: {err}")))
    }

    fn super_digest(&self) -> Result<String, ConfigError> {
        match self.text().split_once(':') {
            Some((user, digest)) if !user.is_empty() && !digest.is_empty() => {
                Ok(self.text().to_string())
            }
            _ => Err(self.invalid(format!("expected user:base64digest, got {:?}", self.text()))),
        }
    }
}

#[cfg(test)]
mod tests;
