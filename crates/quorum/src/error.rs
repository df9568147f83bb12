//! Typed errors of the quorum crate.

use std::io;
use std::path::PathBuf;

/// Opening or recovering the Raft log failed. The server must not start on any of these.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A damaged record with valid records after it, a bad segment header, or a gap between
    /// segments: data that was acknowledged may be gone, so recovery refuses to guess.
    #[error("corrupt log segment {file} at offset {offset}: {reason}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("corrupt log state file {file}: {reason}")]
    CorruptState { file: PathBuf, reason: String },
    #[error("directory {dir} is in use by another process (lock file held)")]
    Locked { dir: PathBuf },
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Reading or writing snapshot files failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt snapshot {file}: {reason}")]
    Corrupt { file: PathBuf, reason: String },
    #[error("restoring the application from snapshot {file} failed: {source}")]
    Restore {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Starting, snapshotting or stopping the quorum failed.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The log was purged up to `purged` but no valid snapshot reaches that far, so the state
    /// before the log cannot be rebuilt.
    #[error(
        "log is purged up to index {purged} but the newest usable snapshot is at {snapshot:?}"
    )]
    MissingSnapshot { purged: u64, snapshot: Option<u64> },
    /// The stored membership has voters other than this node: not a standalone group.
    #[error("stored membership has voters {voters:?}; standalone node {node_id} cannot lead it")]
    NotStandalone { node_id: u64, voters: Vec<u64> },
    #[error("invalid quorum configuration: {0}")]
    Config(String),
    #[error("cannot listen for peers on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("raft: {0}")]
    Raft(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// A proposal or read barrier did not complete. Except for `Abandoned`, the outcome of a
/// write that failed this way may be unknown (it may still commit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ProposeError {
    /// This node is not the leader; `leader` is the one it knows of, if any.
    #[error("not the leader (known leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    /// No leader became known in time (an election is under way, or this server is cut off
    /// from a quorum).
    #[error("no leader is available")]
    NoLeader,
    /// The leader could not be reached, or did not answer in time.
    #[error("leader unavailable: {0}")]
    Unavailable(String),
    /// Not proposed: an earlier write of the same connection failed, so this one was dropped
    /// to keep the connection's order (see `batcher`).
    #[error("not proposed: an earlier write of this connection failed")]
    Abandoned,
    /// Raft stopped (shutdown or a fatal storage error); nothing more will commit here.
    #[error("replication stopped: {0}")]
    Stopped(String),
    #[error("raft error: {0}")]
    Raft(String),
}
