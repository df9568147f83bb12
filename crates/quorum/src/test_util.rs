//! Test helpers: an applier that records what it is given.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arbor_tree::{Applied, Txn, TxnOp, TxnResult};
use parking_lot::Mutex;

use crate::types::{Applier, SnapshotBytes, SnapshotWriter};

/// Records every applied `(zxid, txn)`; its snapshot is that list.
#[derive(Default)]
pub(crate) struct RecordingApplier {
    applied: Mutex<Vec<(i64, Txn)>>,
    advanced: Mutex<Vec<i64>>,
    restores: AtomicUsize,
    applies: AtomicUsize,
    touched: Mutex<Vec<i64>>,
}

impl RecordingApplier {
    pub(crate) fn applied(&self) -> Vec<(i64, Txn)> {
        self.applied.lock().clone()
    }

    /// The `session` field of each applied txn (tests use it as the txn's label).
    pub(crate) fn labels(&self) -> Vec<i64> {
        self.applied.lock().iter().map(|(_, t)| t.session).collect()
    }

    pub(crate) fn advanced(&self) -> Vec<i64> {
        self.advanced.lock().clone()
    }

    pub(crate) fn restores(&self) -> usize {
        self.restores.load(Ordering::SeqCst)
    }

    /// Sessions peers reported active, in report order.
    pub(crate) fn touched(&self) -> Vec<i64> {
        self.touched.lock().clone()
    }

    /// How many txns were applied since creation (restores do not count).
    pub(crate) fn applies(&self) -> usize {
        self.applies.load(Ordering::SeqCst)
    }
}

/// A txn labelled `label` (stored in `session`).
pub(crate) fn labelled_txn(label: i64) -> Txn {
    Txn {
        session: label,
        time: 0,
        auth: Vec::new().into(),
        op: TxnOp::Noop,
    }
}

impl Applier for RecordingApplier {
    fn apply(&self, zxid: i64, txn: &Txn) -> Applied {
        self.applied.lock().push((zxid, txn.clone()));
        self.applies.fetch_add(1, Ordering::SeqCst);
        Applied {
            result: TxnResult::Done,
            triggers: Vec::new(),
        }
    }

    fn advance(&self, zxid: i64) {
        self.advanced.lock().push(zxid);
    }

    fn begin_snapshot(self: Arc<Self>) -> Box<dyn SnapshotWriter> {
        let bytes = bincode::serialize(&*self.applied.lock()).expect("serializing to a Vec");
        Box::new(SnapshotBytes(bytes))
    }

    fn restore(&self, input: &mut dyn Read) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let applied = bincode::deserialize(&bytes).map_err(std::io::Error::other)?;
        *self.applied.lock() = applied;
        self.restores.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn sessions_touched(&self, sessions: &[i64]) {
        self.touched.lock().extend_from_slice(sessions);
    }
}

/// A loopback address with a port that was free a moment ago.
pub(crate) fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").to_string()
}
