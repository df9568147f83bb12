//! The facade the server uses: start a node, propose txns, read barriers, status, snapshots.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor_tree::Txn;
use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::{BasicNode, Config, Raft, ServerState, SnapshotPolicy};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::batcher::{self, Proposal};
use crate::error::{ProposeError, QuorumError};
use crate::log_store::{FlushAck, LogOptions, LogStore, DEFAULT_SEGMENT_SIZE};
use crate::network::NoPeers;
use crate::observe::{LeadershipWatch, StorageObservers};
use crate::snapshot::{self, MIN_RETAIN_COUNT};
use crate::state_machine::StateMachine;
use crate::types::{Applier, NodeId, Response, TypeConfig};

/// How often the retention task looks for a new snapshot to purge behind.
const RETENTION_POLL: Duration = Duration::from_millis(500);
/// How long `snapshot_now` waits for openraft to finish the snapshot.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Settings of the replication layer, named after the zoo.cfg keys they come from.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This server's id (`server.N` / `myid`).
    pub node_id: NodeId,
    /// `dataDir`: snapshots.
    pub data_dir: PathBuf,
    /// `dataLogDir`: log segments, vote.
    pub data_log_dir: PathBuf,
    /// `forceSync`: fsync log appends before acknowledging them.
    pub force_sync: bool,
    /// `snapCount`: txns between snapshots.
    pub snap_count: u64,
    /// `autopurge.snapRetainCount`: snapshots kept (at least 3).
    pub snap_retain_count: usize,
    /// `autopurge.purgeInterval`: hours between periodic purges; 0 disables the periodic run
    /// (retention still runs after every snapshot).
    pub purge_interval_hours: u64,
    /// `tickTime` in milliseconds: heartbeats every half tick, election timeout 2..4 ticks.
    pub tick_ms: u64,
    /// Log segment size in bytes.
    pub segment_size: u64,
    /// How long `start_standalone` waits to become leader and replay the log.
    pub startup_timeout: Duration,
    /// Where fsync and snapshot durations are reported (metrics); none by default.
    pub observers: StorageObservers,
}

impl QuorumConfig {
    /// ZooKeeper's defaults for everything but the ids and directories.
    pub fn new(
        node_id: NodeId,
        data_dir: impl Into<PathBuf>,
        data_log_dir: impl Into<PathBuf>,
    ) -> Self {
        QuorumConfig {
            node_id,
            data_dir: data_dir.into(),
            data_log_dir: data_log_dir.into(),
            force_sync: true,
            snap_count: 100_000,
            snap_retain_count: MIN_RETAIN_COUNT,
            purge_interval_hours: 0,
            tick_ms: 2000,
            segment_size: DEFAULT_SEGMENT_SIZE,
            startup_timeout: Duration::from_secs(300),
            observers: StorageObservers::default(),
        }
    }

    fn raft_config(&self) -> Result<Config, QuorumError> {
        if self.tick_ms == 0 {
            return Err(QuorumError::Config("tickTime must be positive".into()));
        }
        if self.snap_count == 0 {
            return Err(QuorumError::Config("snapCount must be positive".into()));
        }
        let heartbeat = (self.tick_ms / 2).max(10);
        let election_min = (self.tick_ms * 2).max(heartbeat * 3);
        let config = Config {
            cluster_name: "arbor".into(),
            heartbeat_interval: heartbeat,
            election_timeout_min: election_min,
            election_timeout_max: election_min * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snap_count),
            // Purging is driven by snapshot retention (see `run_retention`), never by openraft.
            max_in_snapshot_log_to_keep: u64::MAX,
            ..Config::default()
        };
        config
            .validate()
            .map_err(|e| QuorumError::Config(e.to_string()))
    }

    fn retain_count(&self) -> usize {
        if self.snap_retain_count < MIN_RETAIN_COUNT {
            tracing::warn!(
                configured = self.snap_retain_count,
                "snapRetainCount below the minimum; using {MIN_RETAIN_COUNT}"
            );
        }
        self.snap_retain_count.max(MIN_RETAIN_COUNT)
    }
}

/// The Raft role of this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

impl From<ServerState> for Role {
    fn from(s: ServerState) -> Role {
        match s {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        }
    }
}

/// A point-in-time view of the replication state (for `srvr`/`mntr`, metrics, admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub node_id: NodeId,
    pub role: Role,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub voters: Vec<NodeId>,
    /// Index of the newest log entry.
    pub last_log_index: Option<u64>,
    /// Index of the last log entry applied to the application.
    pub last_applied_index: Option<u64>,
    /// The zxid of the last entry applied to the application.
    pub last_applied_zxid: i64,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// fdatasync calls made for log appends (group commit makes this far below the writes).
    pub log_fsyncs: u64,
}

/// A running replication node; cheap to clone.
#[derive(Clone)]
pub struct Quorum {
    inner: Arc<QuorumInner>,
}

struct QuorumInner {
    node_id: NodeId,
    raft: Raft<TypeConfig>,
    applied_zxid: Arc<AtomicI64>,
    log_syncs: Arc<AtomicU64>,
    retention: Mutex<Option<JoinHandle<()>>>,
    /// Queue of the task that proposes txns in batches (see `batcher`).
    batcher: mpsc::UnboundedSender<Proposal>,
    stopped: AtomicBool,
}

impl Quorum {
    /// Open the log and snapshots, start a one-voter Raft group (initializing its membership on
    /// first start) and wait until this node leads it and has applied its whole log.
    pub async fn start_standalone(
        cfg: QuorumConfig,
        applier: Arc<dyn Applier>,
    ) -> Result<Quorum, QuorumError> {
        let raft_config = Arc::new(cfg.raft_config()?);
        let retain = cfg.retain_count();
        for dir in [&cfg.data_dir, &cfg.data_log_dir] {
            std::fs::create_dir_all(dir).map_err(|source| QuorumError::DataDir {
                path: dir.clone(),
                source,
            })?;
        }

        // This node is the group's only voter, so no other node can act on an entry before it
        // is durable here: openraft may be told "flushed" early while the state machine waits
        // for the group fsync. The multi-voter transport must use `FlushAck::AfterSync`.
        let log_store = LogStore::open(
            &cfg.data_log_dir,
            LogOptions {
                segment_size: cfg.segment_size,
                force_sync: cfg.force_sync,
                flush_ack: FlushAck::BeforeApply,
            },
        )?
        .with_fsync_observer(cfg.observers.fsync.clone());
        let state_machine = StateMachine::open(&cfg.data_dir, applier, retain)?
            .with_durability_gate(log_store.durability_gate())
            .with_snapshot_observer(cfg.observers.snapshot.clone());
        if let Some(purged) = log_store.log_state().last_purged_log_id {
            let restored = state_machine.last_applied().map(|id| id.index);
            if restored.is_none_or(|r| r < purged.index) {
                return Err(QuorumError::MissingSnapshot {
                    purged: purged.index,
                    snapshot: restored,
                });
            }
        }
        let applied_zxid = state_machine.applied_zxid();
        let log_syncs = log_store.sync_counter();

        let raft = Raft::new(cfg.node_id, raft_config, NoPeers, log_store, state_machine)
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let (batcher, queue) = mpsc::unbounded_channel();
        tokio::spawn(batcher::run(raft.clone(), queue, cfg.snap_count));
        let quorum = Quorum {
            inner: Arc::new(QuorumInner {
                node_id: cfg.node_id,
                raft,
                applied_zxid,
                log_syncs,
                retention: Mutex::new(None),
                batcher,
                stopped: AtomicBool::new(false),
            }),
        };
        if let Err(e) = quorum.become_leader(&cfg).await {
            quorum.shutdown().await;
            return Err(e);
        }

        let interval = (cfg.purge_interval_hours > 0)
            .then(|| Duration::from_secs(cfg.purge_interval_hours.saturating_mul(3600)));
        let task = tokio::spawn(retention_loop(
            quorum.inner.raft.clone(),
            cfg.data_dir.clone(),
            retain,
            interval,
        ));
        *quorum.inner.retention.lock() = Some(task);
        Ok(quorum)
    }

    async fn become_leader(&self, cfg: &QuorumConfig) -> Result<(), QuorumError> {
        let raft = &self.inner.raft;
        let me = cfg.node_id;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        if initialized {
            let voters: Vec<NodeId> = raft
                .metrics()
                .borrow()
                .membership_config
                .voter_ids()
                .collect();
            if voters != [me] {
                return Err(QuorumError::NotStandalone {
                    node_id: me,
                    voters,
                });
            }
            // The only voter need not wait out an election timeout (seconds with ZooKeeper's
            // tickTime) to know nobody else leads.
            raft.trigger()
                .elect()
                .await
                .map_err(|e| QuorumError::Raft(e.to_string()))?;
        } else {
            let members = BTreeMap::from([(me, BasicNode::default())]);
            raft.initialize(members)
                .await
                .map_err(|e| QuorumError::Raft(e.to_string()))?;
        }
        raft.wait(Some(cfg.startup_timeout))
            .metrics(
                |m| {
                    m.state == ServerState::Leader
                        && m.last_applied.map(|id| id.index) >= m.last_log_index
                },
                "standalone node leads and has applied its log",
            )
            .await
            .map_err(|e| QuorumError::Timeout(e.to_string()))?;
        tracing::info!(
            node_id = me,
            zxid = self.last_applied_zxid(),
            "standalone quorum is leader"
        );
        Ok(())
    }

    /// Replicate `txn`; resolves once it is committed and applied here, with its zxid and the
    /// applier's result. Many callers may propose at once: their txns share log entries.
    pub async fn propose(&self, txn: Txn) -> Result<Response, ProposeError> {
        self.submit(txn).await?.await
    }

    /// Queues `txn` for the log now and returns a future for its outcome. Txns submitted one
    /// after another by the same caller enter the log in that order, even while earlier ones
    /// are still in flight (the hand-off is an unbounded channel send to the one batcher),
    /// which is what per-client FIFO order with pipelining needs.
    pub async fn submit(
        &self,
        txn: Txn,
    ) -> Result<
        impl std::future::Future<Output = Result<Response, ProposeError>> + Send + 'static,
        ProposeError,
    > {
        let (reply, outcome) = oneshot::channel();
        self.inner
            .batcher
            .send(Proposal { txn, reply })
            .map_err(|_| ProposeError::Stopped("the quorum is shut down".into()))?;
        Ok(async move {
            outcome
                .await
                .unwrap_or_else(|_| Err(ProposeError::Stopped("the quorum is shut down".into())))
        })
    }

    /// A linearizable read barrier: confirms leadership, waits until everything committed
    /// before the call is applied, and returns the applied zxid.
    pub async fn barrier(&self) -> Result<i64, ProposeError> {
        match self.inner.raft.ensure_linearizable().await {
            Ok(_) => Ok(self.last_applied_zxid()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(RaftError::APIError(e)) => Err(ProposeError::Raft(e.to_string())),
            Err(RaftError::Fatal(f)) => Err(ProposeError::Stopped(f.to_string())),
        }
    }

    /// The zxid of the last entry applied to the application.
    pub fn last_applied_zxid(&self) -> i64 {
        self.inner.applied_zxid.load(Ordering::Acquire)
    }

    pub fn metrics(&self) -> QuorumStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        QuorumStatus {
            node_id: self.inner.node_id,
            role: m.state.into(),
            term: m.current_term,
            leader: m.current_leader,
            voters: m.membership_config.voter_ids().collect(),
            last_log_index: m.last_log_index,
            last_applied_index: m.last_applied.map(|id| id.index),
            last_applied_zxid: self.last_applied_zxid(),
            snapshot_index: m.snapshot.map(|id| id.index),
            purged_index: m.purged.map(|id| id.index),
            log_fsyncs: self.inner.log_syncs.load(Ordering::Relaxed),
        }
    }

    /// Follows changes of term and leader (leader-change and election-time metrics).
    pub fn leadership(&self) -> LeadershipWatch {
        LeadershipWatch::new(self.inner.raft.metrics())
    }

    /// Take a snapshot of everything applied so far and wait until it is written (retention
    /// and log purge follow in the background).
    pub async fn snapshot_now(&self) -> Result<(), QuorumError> {
        let raft = &self.inner.raft;
        let Some(target) = raft.metrics().borrow().last_applied.map(|id| id.index) else {
            return Ok(());
        };
        raft.trigger()
            .snapshot()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        raft.wait(Some(SNAPSHOT_TIMEOUT))
            .metrics(
                |m| m.snapshot.is_some_and(|s| s.index >= target),
                "snapshot covers the applied log",
            )
            .await
            .map_err(|e| QuorumError::Timeout(e.to_string()))?;
        Ok(())
    }

    /// Stop Raft and the background tasks. Idempotent; later proposals fail with `Stopped`.
    pub async fn shutdown(&self) {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(task) = self.inner.retention.lock().take() {
            task.abort();
        }
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft task ended abnormally");
        }
    }
}

/// Runs snapshot retention after every new snapshot and, if configured, periodically.
async fn retention_loop(
    raft: Raft<TypeConfig>,
    data_dir: PathBuf,
    keep: usize,
    interval: Option<Duration>,
) {
    let mut seen = raft.metrics().borrow().snapshot;
    let mut poll = tokio::time::interval(RETENTION_POLL);
    let mut next_periodic = interval.map(|i| tokio::time::Instant::now() + i);
    loop {
        poll.tick().await;
        let now = tokio::time::Instant::now();
        let periodic_due = next_periodic.is_some_and(|t| now >= t);
        if periodic_due {
            next_periodic = interval.map(|i| now + i);
        }
        let current = raft.metrics().borrow().snapshot;
        if current != seen || periodic_due {
            seen = current;
            run_retention(&raft, &data_dir, keep).await;
        }
    }
}

/// Keep the `keep` newest snapshots and purge the log up to the oldest of them, so each kept
/// snapshot can still be replayed forward from the log.
async fn run_retention(raft: &Raft<TypeConfig>, data_dir: &std::path::Path, keep: usize) {
    let dir = data_dir.to_path_buf();
    let kept = match tokio::task::spawn_blocking(move || snapshot::retain(&dir, keep)).await {
        Ok(Ok(kept)) => kept,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "snapshot retention failed");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "snapshot retention task failed");
            return;
        }
    };
    if let Some(oldest) = kept.last() {
        tracing::debug!(
            upto = oldest.index,
            "purging log behind the oldest kept snapshot"
        );
        if let Err(e) = raft.trigger().purge_log(oldest.index).await {
            tracing::warn!(error = %e, "log purge request failed");
        }
    }
}

#[cfg(test)]
mod tests;
