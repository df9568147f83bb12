//! The server's replicated state and what hangs off it locally.
//!
//! `Db` owns the data tree (replicated: changed only by `apply`), and the server-local state that
//! must change atomically with it: the watch registry, the connections' outboxes, and session
//! liveness. Ordering invariant: a notification is queued to a connection's outbox while the tree
//! write lock is held by the apply that caused it, and reads run under the tree read lock, so a
//! client always receives a watch event before any read response that shows the new data.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use arbor_proto::{KeeperState, WatcherEvent};
use arbor_tree::{Applied, DataTree, TreeOptions, Txn, TxnOp, TxnResult};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
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
}

impl Db {
    pub fn new(options: TreeOptions) -> Db {
        Db {
            tree: RwLock::new(DataTree::new(options)),
            hub: Mutex::new(Hub::default()),
            sessions: Mutex::new(SessionTracker::default()),
            last_zxid: AtomicI64::new(0),
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

    fn snapshot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let tree = self.tree.read();
        let mut out = out;
        tree.write_snapshot(&mut out)
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
        let mut tree = self.tree.write();
        self.retrack_sessions(&restored);
        self.last_zxid
            .store(restored.last_zxid(), Ordering::Release);
        *tree = restored;
        Ok(())
    }
}
