//! The openraft type configuration and the application boundary.

use std::io::Cursor;

use arbor_tree::{Applied, Txn};
use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// Openraft types for Arbor: the log carries [`Txn`]s and node ids are `u64` (ZooKeeper's
    /// `server.N` ids). Snapshots travel as in-memory buffers holding the applier's bytes.
    pub TypeConfig:
        D = Txn,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type Node = openraft::BasicNode;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;

/// What a committed log entry produced: its zxid and the applier's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub zxid: i64,
    pub applied: Applied,
}

/// The application state machine the server implements (the data tree plus sessions).
///
/// Calls come from one task, in log order; `apply` must be deterministic.
pub trait Applier: Send + Sync + 'static {
    /// Apply a committed txn whose zxid (= Raft log index) is `zxid`. Called in log order.
    fn apply(&self, zxid: i64, txn: &Txn) -> Applied;
    /// A log entry without a txn (blank/membership) was applied at `zxid`.
    fn advance(&self, zxid: i64);
    /// Write a consistent snapshot of the application state.
    fn snapshot(&self, out: &mut dyn std::io::Write) -> std::io::Result<()>;
    /// Replace the application state from a snapshot written by `snapshot`.
    fn restore(&self, input: &mut dyn std::io::Read) -> std::io::Result<()>;
}

/// The zxid of the entry at Raft log index `index`. Indexes never get near `i64::MAX` in
/// practice; saturate rather than wrap if one ever did.
pub(crate) fn zxid_of(index: u64) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}
