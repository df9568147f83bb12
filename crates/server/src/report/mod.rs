//! What the server reports about itself, computed once and rendered twice: as the text of the
//! four-letter words (client port, [`text`]) and as the JSON of ZooKeeper's AdminServer commands
//! (admin HTTP port, [`json`]).
//!
//! The report types are plain data; [`gather`] fills them from a running server (the only part
//! that reads server state, `/proc` and directories), the renderings are pure functions tested
//! with data.

pub mod gather;
pub mod json;
pub mod text;

use std::net::SocketAddr;
use std::time::Duration;

/// The version string reported to clients and tools.
pub const VERSION: &str = concat!("3.8.4-arbor-", env!("CARGO_PKG_VERSION"));

/// Request counters and latencies in milliseconds, as ZooKeeper prints them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub min_ms: f64,
    pub avg_ms: f64,
    pub max_ms: f64,
}

/// `srvr` / `stat` (`server_stats` / `stats`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSummary {
    pub version: &'static str,
    pub read_only: bool,
    pub latency: Latency,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub num_alive_connections: usize,
    pub outstanding_requests: u64,
    pub last_zxid: i64,
    /// `standalone`, `leader`, `follower`, `observer`.
    pub server_state: &'static str,
    pub node_count: usize,
    pub data_dir_size: u64,
    pub log_dir_size: u64,
    pub uptime_ms: u64,
    /// fsyncs slower than `fsync.warningthresholdms`.
    pub fsync_threshold_exceed_count: u64,
    /// Connected clients, for `stat` only.
    pub clients: Option<Vec<ConnectionReport>>,
}

/// One client connection (`cons`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    pub remote: SocketAddr,
    /// Requests read but not yet answered (queued behind earlier ones).
    pub outstanding_requests: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub session_id: i64,
    /// When the connection was established, in ms since the Unix epoch.
    pub established_ms: i64,
}

/// `conf` (`configuration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conf {
    pub client_port: u16,
    /// -1 when there is no TLS client port.
    pub secure_client_port: i32,
    pub data_dir: String,
    pub data_dir_size: u64,
    pub data_log_dir: String,
    pub data_log_size: u64,
    pub tick_time: u32,
    pub max_client_cnxns: u32,
    pub min_session_timeout: u32,
    pub max_session_timeout: u32,
    pub client_port_listen_backlog: i32,
    pub server_id: u64,
}

/// `wchs` (`watch_summary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSummary {
    pub num_connections: usize,
    pub num_paths: usize,
    pub num_total_watches: usize,
}

/// `wchc` (`watches`): watched paths per session, sorted by connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchesBySession(pub Vec<(i64, Vec<String>)>);

/// `wchp` (`watches_by_path`): watching sessions per path, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchesByPath(pub Vec<(String, Vec<i64>)>);

/// `dump`: live sessions and their ephemeral nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    /// Every session with its timeout and when it expires if it stays quiet (ms since the
    /// Unix epoch, rounded up to a tick as ZooKeeper's expiry buckets are), sorted by id.
    pub sessions: Vec<SessionReport>,
    /// Sessions that own ephemeral nodes, with the nodes' paths (sorted).
    pub ephemerals: Vec<(i64, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    pub id: i64,
    pub timeout: Duration,
    pub expires_at_ms: i64,
}

/// `envi` (`environment`): `key=value` facts about the process and host, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment(pub Vec<(&'static str, String)>);

/// `dirs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dirs {
    pub datadir_size: u64,
    pub logdir_size: u64,
}

/// One value of `mntr`: the text prints `zk_<key>\t<value>`, the JSON `"<key>": value`.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorValue {
    Int(i64),
    /// Printed like Java's `Double.toString`.
    Float(f64),
    Text(String),
}

/// `mntr` (`monitor`): ZooKeeper's monitoring keys without the `zk_` prefix, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor(pub Vec<(&'static str, MonitorValue)>);

impl Monitor {
    pub fn get(&self, key: &str) -> Option<&MonitorValue> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// `leader`: whether this server leads, and who does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderReport {
    pub is_leader: bool,
    /// -1 while there is no leader.
    pub leader_id: i64,
    /// The leader's address as written in its `server.N` line; empty when unknown.
    pub leader_ip: String,
}

/// `voting_view`: the voting members, `id -> host:quorumPort:electionPort:role[;client]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VotingView(pub Vec<(u64, String)>);
