//! The server's replicated state and what hangs off it locally.
//!
//! `Db` owns the data tree (replicated: changed only by `apply`), and the server-local state that
//! must change atomically with it: the watch registry, the connections' outboxes, and session
//! liveness. Ordering invariant: a notification is queued to a connection's outbox while the tree
//! write lock is held by the apply that caused it, and reads run under the tree read lock, so a
//! client always receives a watch event before any read response that shows the new data.

use foldhash::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arbor_proto::{KeeperState, WatcherEvent};
use arbor_quorum::SnapshotWriter;
use arbor_tree::{Applied, DataTree, TreeOptions, TreeSnapshot, Txn, TxnOp, TxnResult};
use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};
use tokio::sync::mpsc;

use crate::session::SessionTracker;
use crate::watch::{ConnId, Delivery, WatchKind, WatchRegistry};

/// What a connection's writer task is asked to do.
#[derive(Debug)]
pub enum Outbound {
    /// A complete frame (length prefix included).
    Frame(Vec<u8>),
    /// Flush what came before, then close the connection.
    Close,
}

pub type Outbox = mpsc::UnboundedSender<Outbound>;

#[derive(Default)]
struct Hub {
    watches: WatchRegistry,
    outboxes: HashMap<ConnId, Outbox>,
}

impl Hub {
    fn deliver(&self, d: &Delivery) {
        if let Some(outbox) = self.outboxes.get(&d.conn) {
            let _ = outbox.send(Outbound::Frame(notification_frame(d.event, &d.path)));
        }
    }
}

/// Encodes a watch notification (xid -1) as ZooKeeper 3.8 sends it.
pub fn notification_frame(event: arbor_proto::EventType, path: &str) -> Vec<u8> {
    arbor_proto::notification_frame(&WatcherEvent::new(event, KeeperState::SyncConnected, path))
}

pub struct Db {
    tree: RwLock<DataTree>,
    hub: Mutex<Hub>,
    sessions: Mutex<SessionTracker>,
    last_zxid: AtomicI64,
    /// Snapshot writers alive; a restore waits for them (it would replace the tree they
    /// read), signalled through `snapshot_finished`.
    snapshot_writers: Mutex<usize>,
    snapshot_finished: Condvar,
}

/// Nodes a snapshot writer encodes per hold of the tree's read lock: an apply waits at most
/// that long (about 0.2 ms) while a snapshot is written. Bigger steps throttled writes: the
/// writer held the lock most of its running time, and each txn takes the write lock anew.
const SNAPSHOT_NODES_PER_LOCK: usize = 512;

/// Writes the tree as it was at `begin_snapshot`, in steps, while applying goes on (the tree
/// keeps pre-images of what changes meanwhile; see `DataTree::begin_snapshot`).
struct TreeSnapshotWriter {
    db: Arc<Db>,
    snapshot: TreeSnapshot,
}

impl SnapshotWriter for TreeSnapshotWriter {
    fn write_to(mut self: Box<Self>, out: &mut dyn Write) -> std::io::Result<()> {
        let mut chunk = Vec::with_capacity(1 << 20);
        loop {
            chunk.clear();
            let tree = self.db.tree.read();
            let step = self
                .snapshot
                .encode_step(&tree, SNAPSHOT_NODES_PER_LOCK, &mut chunk);
            // Fair unlock: a waiting apply gets the lock before this writer takes it again.
            RwLockReadGuard::unlock_fair(tree);
            let done = step.map_err(std::io::Error::other)?;
            // Written outside the lock: applies never wait for the disk.
            out.write_all(&chunk)?;
            if done {
                return Ok(());
            }
        }
    }
}

impl Drop for TreeSnapshotWriter {
    /// Finished or abandoned, the tree stops keeping pre-images for it.
    fn drop(&mut self) {
        self.db.tree.write().end_snapshot(&self.snapshot);
        let mut writers = self.db.snapshot_writers.lock();
        *writers -= 1;
        self.db.snapshot_finished.notify_all();
    }
}

impl Db {
    pub fn new(options: TreeOptions) -> Db {
        Db {
            tree: RwLock::new(DataTree::new(options)),
            hub: Mutex::new(Hub::default()),
            sessions: Mutex::new(SessionTracker::default()),
            last_zxid: AtomicI64::new(0),
            snapshot_writers: Mutex::new(0),
            snapshot_finished: Condvar::new(),
        }
    }

    /// The tree, for reads. Hold the guard only for the duration of one request.
    pub fn read(&self) -> RwLockReadGuard<'_, DataTree> {
        self.tree.read()
    }

    /// The zxid of the last applied txn.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid.load(Ordering::Acquire)
    }

    pub fn sessions(&self) -> parking_lot::MutexGuard<'_, SessionTracker> {
        self.sessions.lock()
    }

    pub fn register_connection(&self, conn: ConnId, outbox: Outbox) {
        self.hub.lock().outboxes.insert(conn, outbox);
    }

    pub fn unregister_connection(&self, conn: ConnId) {
        let mut hub = self.hub.lock();
        hub.outboxes.remove(&conn);
        hub.watches.remove_connection(conn);
    }

    /// Asks every client connection to close (this server stopped serving).
    pub fn close_all_connections(&self) {
        for outbox in self.hub.lock().outboxes.values() {
            let _ = outbox.send(Outbound::Close);
        }
    }

    /// Asks a connection to close (session moved elsewhere, or expired).
    pub fn close_connection(&self, conn: ConnId) {
        if let Some(outbox) = self.hub.lock().outboxes.get(&conn) {
            let _ = outbox.send(Outbound::Close);
        }
    }

    /// Runs `f` on the watch registry. Call it while holding the tree read guard when the
    /// registration must be atomic with a read (getData/exists/getChildren with watch).
    pub fn with_watches<T>(&self, f: impl FnOnce(&mut WatchRegistry) -> T) -> T {
        f(&mut self.hub.lock().watches)
    }

    /// Registers a watch for `conn`.
    pub fn add_watch(&self, conn: ConnId, kind: WatchKind, path: &str) {
        self.hub.lock().watches.add(conn, kind, path);
    }

    /// Sends an event to one connection right away (setWatches catch-up events).
    pub fn notify(&self, conn: ConnId, event: arbor_proto::EventType, path: &str) {
        self.hub.lock().deliver(&Delivery {
            conn,
            event,
            path: path.to_owned(),
        });
    }

    fn after_apply(&self, txn: &Txn, applied: &Applied) {
        match (&txn.op, &applied.result) {
            (
                TxnOp::CreateSession {
                    session,
                    timeout_ms,
                    ..
                },
                TxnResult::SessionCreated,
            ) => {
                self.sessions
                    .lock()
                    .add(*session, *timeout_ms, Instant::now());
            }
            (TxnOp::CloseSession { session }, _) => {
                let conn = self.sessions.lock().remove(*session);
                if let Some(conn) = conn {
                    self.close_connection(conn);
                }
            }
            _ => {}
        }
        if !applied.triggers.is_empty() {
            let mut hub = self.hub.lock();
            for t in &applied.triggers {
                for d in hub.watches.trigger(&t.path, t.event) {
                    hub.deliver(&d);
                }
            }
        }
    }

    /// Re-tracks every session found in the tree (after a restore), with fresh deadlines.
    fn retrack_sessions(&self, tree: &DataTree) {
        let now = Instant::now();
        let mut tracker = self.sessions.lock();
        *tracker = SessionTracker::default();
        for (id, timeout_ms, _) in tree.sessions() {
            tracker.add(id, timeout_ms, now);
        }
    }
}

impl arbor_quorum::Applier for Db {
    fn apply(&self, zxid: i64, txn: &Txn) -> Applied {
        let mut tree = self.tree.write();
        let applied = tree.apply(zxid, txn);
        self.last_zxid.store(zxid, Ordering::Release);
        // Still under the tree write lock: notifications precede any read of the new state.
        self.after_apply(txn, &applied);
        drop(tree);
        applied
    }

    fn advance(&self, zxid: i64) {
        let _tree = self.tree.write();
        self.last_zxid.store(zxid, Ordering::Release);
    }

    fn begin_snapshot(self: Arc<Self>) -> Box<dyn SnapshotWriter> {
        *self.snapshot_writers.lock() += 1;
        let snapshot = self.tree.write().begin_snapshot();
        Box::new(TreeSnapshotWriter { db: self, snapshot })
    }

    fn sessions_touched(&self, sessions: &[arbor_tree::SessionId]) {
        let now = Instant::now();
        let mut tracker = self.sessions.lock();
        for &session in sessions {
            tracker.touch_reported(session, now);
        }
    }

    fn restore(&self, input: &mut dyn Read) -> std::io::Result<()> {
        let mut input = input;
        let restored = DataTree::read_snapshot(&mut input)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        // A snapshot being written reads the current tree until it is done (rare: a leader's
        // snapshot arrived while this member wrote its own).
        let mut writers = self.snapshot_writers.lock();
        while *writers > 0 {
            self.snapshot_finished.wait(&mut writers);
        }
        drop(writers);
        let mut tree = self.tree.write();
        self.retrack_sessions(&restored);
        self.last_zxid
            .store(restored.last_zxid(), Ordering::Release);
        *tree = restored;
        Ok(())
    }
}
