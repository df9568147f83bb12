//! The openraft type configuration and the application boundary.

use std::io::Cursor;
use std::sync::Arc;

use arbor_tree::{Applied, Txn};
use parking_lot::Mutex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::sync::oneshot;

use crate::error::ProposeError;

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
/// data cost the leader ~4% of its CPU. Encoded exactly as the `Vec` of txns it wraps.
///
/// A batch proposed on this node also carries where each txn's outcome goes ([`Waiters`]), in
/// memory only: the state machine answers each txn as soon as it is applied, instead of the
/// whole batch's outcomes travelling back through openraft's core and a task of the batcher
/// after the last one is applied. Entries read back from disk or received from the leader
/// have no waiters; the batcher answers what the state machine did not.
#[derive(Clone)]
pub struct TxnBatch {
    txns: Arc<Vec<Txn>>,
    waiters: Option<Arc<Waiters>>,
}

impl TxnBatch {
    pub fn new(txns: Vec<Txn>) -> TxnBatch {
        TxnBatch {
            txns: Arc::new(txns),
            waiters: None,
        }
    }

    /// A batch whose txn `i` is answered through `waiters` slot `i` once applied here.
    pub(crate) fn with_waiters(txns: Vec<Txn>, waiters: Arc<Waiters>) -> TxnBatch {
        TxnBatch {
            txns: Arc::new(txns),
            waiters: Some(waiters),
        }
    }

    pub fn txns(&self) -> &[Txn] {
        &self.txns
    }

    /// Hands txn `i`'s outcome to its waiter on this node, if it has one not yet answered.
    pub(crate) fn answer(&self, i: usize, response: &Response) {
        if let Some(reply) = self.waiters.as_ref().and_then(|w| w.take(i)) {
            // The receiver needs the result, not the watch triggers (already fired here).
            let _ = reply.send(Ok(Response {
                zxid: response.zxid,
                applied: Applied {
                    result: response.applied.result.clone(),
                    triggers: Vec::new(),
                },
            }));
        }
    }
}

impl std::fmt::Debug for TxnBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TxnBatch").field(&self.txns).finish()
    }
}

/// Equal when the txns are: waiters are this node's bookkeeping, not part of the log.
impl PartialEq for TxnBatch {
    fn eq(&self, other: &TxnBatch) -> bool {
        self.txns == other.txns
    }
}

impl Serialize for TxnBatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.txns.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TxnBatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TxnBatch, D::Error> {
        Ok(TxnBatch {
            txns: Arc::deserialize(deserializer)?,
            waiters: None,
        })
    }
}

/// Where a txn's outcome goes.
pub(crate) type Reply = oneshot::Sender<Result<Response, ProposeError>>;

/// The replies of a locally proposed batch, one slot per txn; whoever takes a slot first (the
/// state machine on apply, or the batcher on failure) answers it, so each is answered once.
pub(crate) struct Waiters(Mutex<Vec<Option<Reply>>>);

impl Waiters {
    pub(crate) fn new(replies: Vec<Reply>) -> Waiters {
        Waiters(Mutex::new(replies.into_iter().map(Some).collect()))
    }

    pub(crate) fn take(&self, i: usize) -> Option<Reply> {
        self.0.lock().get_mut(i).and_then(Option::take)
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

    fn noop_txns(n: i64) -> Vec<Txn> {
        (0..n)
            .map(|i| Txn {
                session: i,
                time: 7,
                auth: Vec::new().into(),
                op: TxnOp::Noop,
            })
            .collect()
    }

    #[test]
    fn a_batch_is_encoded_as_the_txn_list_it_shares() {
        // Logs written before the batch was shared must still read back.
        let txns = noop_txns(3);
        let batch = TxnBatch::new(txns.clone());
        let encoded = bincode::serialize(&batch).unwrap();
        assert_eq!(encoded, bincode::serialize(&txns).unwrap());
        let decoded: TxnBatch = bincode::deserialize(&encoded).unwrap();
        assert_eq!(decoded.txns(), txns.as_slice());
        // Clones share the txns instead of copying them.
        assert!(std::ptr::eq(batch.clone().txns(), batch.txns()));
    }

    #[test]
    fn waiters_are_answered_once_and_never_encoded() {
        use super::{Response, Waiters};
        use arbor_tree::{Applied, TxnResult};
        use std::sync::Arc;

        let txns = noop_txns(2);
        let (tx0, mut rx0) = tokio::sync::oneshot::channel();
        let (tx1, mut rx1) = tokio::sync::oneshot::channel();
        let waiters = Arc::new(Waiters::new(vec![tx0, tx1]));
        let batch = TxnBatch::with_waiters(txns.clone(), Arc::clone(&waiters));
        assert_eq!(
            bincode::serialize(&batch).unwrap(),
            bincode::serialize(&txns).unwrap()
        );
        assert_eq!(batch, TxnBatch::new(txns));

        let response = Response {
            zxid: 9,
            applied: Applied {
                result: TxnResult::Done,
                triggers: Vec::new(),
            },
        };
        // A clone (as openraft reads the entry back) answers through the same slots.
        batch.clone().answer(1, &response);
        batch.answer(1, &response);
        assert_eq!(rx1.try_recv().unwrap().unwrap().zxid, 9);
        assert!(rx0.try_recv().is_err(), "txn 0 was not applied yet");
        assert!(waiters.take(1).is_none(), "answered once");
        assert!(
            waiters.take(0).is_some(),
            "the rest is left for the batcher"
        );
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
