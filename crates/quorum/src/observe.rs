//! Hooks through which the server times storage work (log fsyncs, snapshots) and follows
//! leadership, without this crate knowing how those are reported (Prometheus, `mntr`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use openraft::RaftMetrics;
use tokio::sync::watch;

use crate::types::{Node, NodeId};

/// Receives the duration of one piece of storage work. Called on the thread that did the
/// work (the flusher thread for fsyncs), so it must be cheap and must not block.
pub trait DurationObserver: Send + Sync + 'static {
    fn observe(&self, elapsed: Duration);
}

/// The storage timings a [`crate::Quorum`] reports, when set.
#[derive(Clone, Default)]
pub struct StorageObservers {
    /// Each fdatasync of the Raft log (one per group commit).
    pub fsync: Option<Arc<dyn DurationObserver>>,
    /// Each snapshot: serializing the tree and writing the file.
    pub snapshot: Option<Arc<dyn DurationObserver>>,
}

impl fmt::Debug for StorageObservers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageObservers")
            .field("fsync", &self.fsync.is_some())
            .field("snapshot", &self.snapshot.is_some())
            .finish()
    }
}

/// Who leads, in which term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    pub term: u64,
    pub leader: Option<NodeId>,
}

/// Follows this node's view of the leadership; see [`crate::Quorum::leadership`].
pub struct LeadershipWatch {
    rx: watch::Receiver<RaftMetrics<NodeId, Node>>,
    last: Leadership,
}

fn leadership_of(m: &RaftMetrics<NodeId, Node>) -> Leadership {
    Leadership {
        term: m.current_term,
        leader: m.current_leader,
    }
}

impl LeadershipWatch {
    pub(crate) fn new(rx: watch::Receiver<RaftMetrics<NodeId, Node>>) -> LeadershipWatch {
        let last = leadership_of(&rx.borrow());
        LeadershipWatch { rx, last }
    }

    /// The leadership as last seen.
    pub fn current(&self) -> Leadership {
        self.last
    }

    /// Waits until the term or the leader changes; `None` once the node has stopped.
    pub async fn changed(&mut self) -> Option<Leadership> {
        loop {
            self.rx.changed().await.ok()?;
            let now = leadership_of(&self.rx.borrow_and_update());
            if now != self.last {
                self.last = now;
                return Some(now);
            }
        }
    }
}
