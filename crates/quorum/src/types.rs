//! The openraft type configuration and the application boundary.

use std::io::Cursor;
use std::sync::Arc;

use arbor_tree::{Applied, Txn};
use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// Openraft types for Arbor: each log entry carries a [`TxnBatch`] and node ids are `u64`
    /// (ZooKeeper's `server.N` ids). Snapshots travel as in-memory buffers holding the
    /// applier's bytes.
    pub TypeConfig:
        D = TxnBatch,
        R = Vec<Response>,
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

/// The txns of one log entry, proposed together. openraft appends, flushes and applies one
/// entry at a time, so carrying every txn that is waiting in one entry pays that per-entry
/// cost once per batch (group commit at the Raft level, on top of the log's group fsync).
///
/// Shared, not owned: openraft clones an entry each time it reads one back from the log (to
/// replicate it to each follower, to apply it), and a deep copy of a thousand txns' paths and
/// data cost the leader ~4% of its CPU. Encoded exactly as the `Vec` it wraps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnBatch(Arc<Vec<Txn>>);

impl TxnBatch {
    pub fn new(txns: Vec<Txn>) -> TxnBatch {
        TxnBatch(Arc::new(txns))
    }

    pub fn txns(&self) -> &[Txn] {
        &self.0
    }
}

/// What one committed txn produced: its zxid and the applier's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub zxid: i64,
    pub applied: Applied,
}

/// Writes one snapshot of the application state fixed by [`Applier::begin_snapshot`]. Runs on a
/// blocking thread while the applier keeps applying.
pub trait SnapshotWriter: Send + Sync + 'static {
    fn write_to(self: Box<Self>, out: &mut dyn std::io::Write) -> std::io::Result<()>;
}

/// A snapshot already in memory (for appliers whose state is small).
pub struct SnapshotBytes(pub Vec<u8>);

impl SnapshotWriter for SnapshotBytes {
    fn write_to(self: Box<Self>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(&self.0)
    }
}

/// The application state machine the server implements (the data tree plus sessions).
///
/// Calls come from one task, in log order; `apply` must be deterministic.
pub trait Applier: Send + Sync + 'static {
    /// Apply a committed txn whose zxid is `zxid`. Called in log order; zxids are consecutive
    /// (1, 2, 3, ...: one per txn, as in ZooKeeper within an epoch).
    fn apply(&self, zxid: i64, txn: &Txn) -> Applied;
    /// The last applied zxid is `zxid` (after a snapshot was restored).
    fn advance(&self, zxid: i64);
    /// Fix the current state as a snapshot, to be written later by the returned writer off
    /// the apply path: applying goes on meanwhile, and the writer must still write exactly the
    /// state of this call (the last applied entry's). Called on the apply task, so it must be
    /// cheap; the expensive part belongs in [`SnapshotWriter::write_to`].
    fn begin_snapshot(self: std::sync::Arc<Self>) -> Box<dyn SnapshotWriter>;
    /// Replace the application state from a snapshot written by `snapshot`.
    fn restore(&self, input: &mut dyn std::io::Read) -> std::io::Result<()>;
    /// A peer reports these sessions active (it has their clients). Called on whichever node
    /// receives the report, normally the leader, which tracks liveness for expiry.
    fn sessions_touched(&self, _sessions: &[arbor_tree::SessionId]) {}
}

#[cfg(test)]
mod tests {
    use arbor_tree::{Txn, TxnOp};

    use super::TxnBatch;

    #[test]
    fn a_batch_is_encoded_as_the_txn_list_it_shares() {
        // Logs written before the batch was shared must still read back.
        let txns: Vec<Txn> = (0..3)
            .map(|i| Txn {
                session: i,
                time: 7,
                auth: Vec::new().into(),
                op: TxnOp::Noop,
            })
            .collect();
        let batch = TxnBatch::new(txns.clone());
        let encoded = bincode::serialize(&batch).unwrap();
        assert_eq!(encoded, bincode::serialize(&txns).unwrap());
        let decoded: TxnBatch = bincode::deserialize(&encoded).unwrap();
        assert_eq!(decoded.txns(), txns.as_slice());
        // Clones share the txns instead of copying them.
        assert!(std::ptr::eq(batch.clone().txns(), batch.txns()));
    }

    #[test]
    fn shared_auth_ids_are_encoded_as_the_list_they_were() {
        // `Txn::auth` became an `Arc<[Id]>`; logs with the earlier `Vec<Id>` must still read.
        let ids = vec![
            arbor_proto::Id::new("ip", "127.0.0.1"),
            arbor_proto::Id::new("digest", "u:x"),
        ];
        let shared: std::sync::Arc<[arbor_proto::Id]> = ids.clone().into();
        let encoded = bincode::serialize(&shared).unwrap();
        assert_eq!(encoded, bincode::serialize(&ids).unwrap());
        let decoded: std::sync::Arc<[arbor_proto::Id]> = bincode::deserialize(&encoded).unwrap();
        assert_eq!(&*decoded, ids.as_slice());
    }
}
