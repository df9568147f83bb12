//! The facade the server uses: start a node, propose txns, read barriers, status, snapshots.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_tree::Txn;
use openraft::error::{CheckIsLeaderError, InitializeError, RaftError};
use openraft::raft::AppendEntriesResponse;
use openraft::{BasicNode, Config, Raft, RaftMetrics, ServerState, SnapshotPolicy};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::batcher::{self, BatcherConfig, Poison, Proposal};
use crate::error::{ProposeError, QuorumError};
use crate::log_store::{CommittedIndex, FlushAck, LogOptions, LogStore, DEFAULT_SEGMENT_SIZE};
use crate::network::{NoPeers, PeerAcks, TcpNetwork};
use crate::observe::{LeadershipWatch, StorageObservers};
use crate::peer;
use crate::peer::client::{Dialer, PeerClient};
use crate::peer::listener::{PeerService, ServeFuture};
use crate::peer::tls::PeerTls;
use crate::peer::wire::{Membership, Origin, PeerRequest, PeerResponse};
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
    /// `tickTime` in milliseconds; heartbeats and election timeouts derive from it.
    pub tick_ms: u64,
    /// Log segment size in bytes.
    pub segment_size: u64,
    /// How long `start_standalone` waits to become leader and replay the log.
    pub startup_timeout: Duration,
    /// Where fsync and snapshot durations are reported (metrics); none by default.
    pub observers: StorageObservers,
    /// `sslQuorum`: mutual TLS on every peer connection, both directions; `None`: plain TCP.
    /// Used by ensemble members only.
    pub peer_tls: Option<PeerTls>,
}

/// The members of an ensemble, from the `server.N` lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ensemble {
    /// Participants (Raft voters): id -> `host:quorumPort`.
    pub voters: BTreeMap<NodeId, String>,
    /// Observers (Raft learners): id -> `host:quorumPort`.
    pub observers: BTreeMap<NodeId, String>,
}

impl Ensemble {
    fn addr_of(&self, id: NodeId) -> Option<&String> {
        self.voters.get(&id).or_else(|| self.observers.get(&id))
    }
}

/// Election timeouts stay at tick/4 up to this (see `Timings::for_tick`).
const ELECTION_FLOOR_MS: u64 = 250;

/// Width of each rank's election timeout range, at most (see `Timings::for_tick`).
const RANK_STEP_MAX_MS: u64 = 50;

/// Timings derived from `tickTime`, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timings {
    pub heartbeat: u64,
    pub election_min: u64,
    pub election_max: u64,
}

impl Timings {
    /// Heartbeats every tick/20; a follower starts an election after openraft's leader lease
    /// (the election timeout's maximum) plus a timeout in min .. min + step, where min is
    /// tick/8 but at least 3 heartbeats and at least tick/4 up to 250 ms, and step is tick/16
    /// (at least a heartbeat) up to 50 ms. `rank` (0 for the highest voter id) delays each
    /// lower id by another step, so among up-to-date servers the highest id usually times out
    /// first and wins, as ZooKeeper's election prefers. With ZooKeeper's default tickTime
    /// (2 s) a dead leader is replaced in about 0.8 s: the next rank waits out a lease (the
    /// third rank's maximum, 450 ms) and then its own timeout (350-400 ms). The step is capped
    /// because it lengthens both: it only has to separate the ranks by more than heartbeat
    /// jitter. Ticks of a second or less keep tick/4 (a loaded machine's scheduling hiccups
    /// must not start elections).
    pub(crate) fn for_tick(tick_ms: u64, rank: u64) -> Timings {
        let heartbeat = (tick_ms / 20).max(10);
        let step = (tick_ms / 16).max(heartbeat).min(RANK_STEP_MAX_MS);
        let floor = (tick_ms / 4).min(ELECTION_FLOOR_MS);
        let election_min = (tick_ms / 8).max(heartbeat * 3).max(floor) + rank * step;
        Timings {
            heartbeat,
            election_min,
            election_max: election_min + step,
        }
    }

    /// How long a node may go without hearing from a quorum (leader) or from the leader
    /// (others) and still serve clients.
    pub(crate) fn serving_grace(&self) -> Duration {
        Duration::from_millis(self.election_max * 2)
    }
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
            peer_tls: None,
        }
    }

    fn validate(&self) -> Result<(), QuorumError> {
        if self.tick_ms == 0 {
            return Err(QuorumError::Config("tickTime must be positive".into()));
        }
        if self.snap_count == 0 {
            return Err(QuorumError::Config("snapCount must be positive".into()));
        }
        Ok(())
    }

    fn raft_config(&self, timings: Timings) -> Result<Config, QuorumError> {
        self.validate()?;
        let config = Config {
            cluster_name: CLUSTER_NAME.into(),
            heartbeat_interval: timings.heartbeat,
            election_timeout_min: timings.election_min,
            election_timeout_max: timings.election_max,
            // Snapshots follow ZooKeeper's snapCount, which counts txns; openraft's policy
            // counts entries, and an entry holds a batch of txns (see `snapshot_trigger`).
            snapshot_policy: SnapshotPolicy::Never,
            // Purging is driven by snapshot retention (see `run_retention`), never by openraft.
            max_in_snapshot_log_to_keep: u64::MAX,
            // Chunks of a few MiB over loopback or a LAN; the default 200 ms is tight for a
            // loaded machine fsyncing as it receives.
            install_snapshot_timeout: 5_000,
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

    fn create_dirs(&self) -> Result<(), QuorumError> {
        for dir in [&self.data_dir, &self.data_log_dir] {
            std::fs::create_dir_all(dir).map_err(|source| QuorumError::DataDir {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// The Raft cluster name; peers of another cluster are refused at the hello.
const CLUSTER_NAME: &str = "arbor";

/// The Raft role of this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    /// Not running (also the default of an empty status).
    #[default]
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumStatus {
    pub node_id: NodeId,
    pub role: Role,
    /// Whether this node is part of an ensemble (false: standalone).
    pub ensemble: bool,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    /// Index of the newest log entry.
    pub last_log_index: Option<u64>,
    /// Index of the newest log entry this node knows to be committed: on the leader, held by a
    /// quorum; elsewhere, the leader's commit index as last heard (it may trail the leader's
    /// by one heartbeat).
    pub committed_index: Option<u64>,
    /// Index of the last log entry applied to the application.
    pub last_applied_index: Option<u64>,
    /// The zxid of the last entry applied to the application.
    pub last_applied_zxid: i64,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    /// fdatasync calls made for log appends (group commit makes this far below the writes).
    pub log_fsyncs: u64,
    /// On the leader: each other member's matched log index (`None`: nothing matched yet).
    pub replication: BTreeMap<NodeId, Option<u64>>,
    /// On the leader: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// On the leader: how long ago each other member last accepted an append from it
    /// (heartbeats, every tick/20, included); a member that never did is absent.
    pub since_ack: BTreeMap<NodeId, Duration>,
    /// On the leader: read-index requests (`sync`) it is confirming with a quorum now, its
    /// own clients' and those forwarded by other members.
    pub pending_syncs: u64,
    /// Whether this node may serve clients now (see [`Quorum::serving`]).
    pub serving: bool,
}

/// A running replication node; cheap to clone.
#[derive(Clone)]
pub struct Quorum {
    inner: Arc<QuorumInner>,
}

struct QuorumInner {
    node_id: NodeId,
    ensemble: Option<Ensemble>,
    timings: Timings,
    raft: Raft<TypeConfig>,
    applier: Arc<dyn Applier>,
    applied_zxid: Arc<AtomicI64>,
    applied_watch: watch::Receiver<i64>,
    log_syncs: Arc<AtomicU64>,
    committed_index: CommittedIndex,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Queue of the task that proposes txns in batches (see `batcher`).
    batcher: mpsc::UnboundedSender<Proposal>,
    /// When this node last heard from a leader (append-entries or heartbeat).
    last_leader_contact: Mutex<Option<Instant>>,
    /// Observers only: when the leader last said it was serving (see `confirm_leader`).
    leader_confirmed: Mutex<Option<Instant>>,
    /// Whether this node, as a follower or observer, has caught up with the leader of the
    /// current term (see [`CatchUp`]).
    catch_up: Mutex<CatchUp>,
    /// How this node dials its peers (cluster name, id, TLS).
    dialer: Dialer,
    /// Connections to the leader for read-index requests and session reports.
    leader_clients: Mutex<BTreeMap<NodeId, Arc<PeerClient>>>,
    /// When each peer last accepted an append from this node (see [`PeerAcks`]).
    acks: Arc<PeerAcks>,
    /// Read-index requests being confirmed here as leader (see [`PendingSync`]).
    pending_syncs: AtomicU64,
    stopped: AtomicBool,
}

/// Counts one read-index request in `QuorumInner::pending_syncs` while it lives.
struct PendingSync<'a>(&'a AtomicU64);

impl<'a> PendingSync<'a> {
    fn new(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        PendingSync(counter)
    }
}

impl Drop for PendingSync<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What `start_*` builds before the mode-specific part.
struct Parts {
    log_store: LogStore,
    state_machine: StateMachine,
    raft_config: Arc<Config>,
    timings: Timings,
    retain: usize,
}

impl Quorum {
    /// Open the log and snapshots, start a one-voter Raft group (initializing its membership on
    /// first start) and wait until this node leads it and has applied its whole log.
    pub async fn start_standalone(
        cfg: QuorumConfig,
        applier: Arc<dyn Applier>,
    ) -> Result<Quorum, QuorumError> {
        // This node is the group's only voter, so no other node can act on an entry before it
        // is durable here: openraft may be told "flushed" early while the state machine waits
        // for the group fsync.
        let parts = Self::open_storage(&cfg, &applier, FlushAck::BeforeApply, 0)?;
        let dialer = Dialer::new(CLUSTER_NAME, cfg.node_id, None);
        let quorum =
            Self::assemble(&cfg, parts, applier, NoPeers, dialer, Arc::default(), None).await?;
        if let Err(e) = quorum.become_standalone_leader(&cfg).await {
            quorum.shutdown().await;
            return Err(e);
        }
        Ok(quorum)
    }

    /// Open the log and snapshots, start this member of `ensemble` (listening for peers on
    /// its own `host:quorumPort`), and return without waiting for a leader: writes wait for
    /// one (see `batcher`), and [`Quorum::serving`] says when clients may be served.
    ///
    /// On first start every voter initializes the same membership (openraft allows that);
    /// observers wait to be added as learners by the leader.
    pub async fn start_ensemble(
        cfg: QuorumConfig,
        ensemble: Ensemble,
        applier: Arc<dyn Applier>,
    ) -> Result<Quorum, QuorumError> {
        let me = cfg.node_id;
        let Some(my_addr) = ensemble.addr_of(me).cloned() else {
            return Err(QuorumError::Config(format!(
                "this server's id {me} is not among the server.N lines"
            )));
        };
        // Highest voter id first: rank 0 gets the shortest election timeout.
        let rank = ensemble
            .voters
            .keys()
            .rev()
            .position(|&id| id == me)
            .unwrap_or(ensemble.voters.len()) as u64;
        // Other voters' acknowledgements count toward commit, so an append is acknowledged
        // only once it is on disk here.
        let parts = Self::open_storage(&cfg, &applier, FlushAck::AfterSync, rank)?;
        let listener = tokio::net::TcpListener::bind(&my_addr)
            .await
            .map_err(|source| QuorumError::Listen {
                addr: my_addr.clone(),
                source,
            })?;
        let dialer = Dialer::new(CLUSTER_NAME, me, cfg.peer_tls.as_ref());
        let acks = Arc::new(PeerAcks::default());
        let network = TcpNetwork::new(dialer.clone(), acks.clone());
        let quorum = Self::assemble(
            &cfg,
            parts,
            applier,
            network,
            dialer.clone(),
            acks,
            Some(ensemble.clone()),
        )
        .await?;
        let service: Arc<dyn PeerService> = Arc::new(NodeService {
            quorum: Arc::downgrade(&quorum.inner),
        });
        quorum.spawn(peer::listener::run(
            listener,
            CLUSTER_NAME.to_owned(),
            me,
            service,
            cfg.peer_tls.clone(),
        ));

        if ensemble.voters.contains_key(&me) {
            // Initializing starts an election at once, so the highest id goes first and the
            // others wait one election timeout per rank: a fresh ensemble is usually led by its
            // highest id, and still forms when that server is down.
            let delay =
                Duration::from_millis(rank * Timings::for_tick(cfg.tick_ms, 0).election_min);
            quorum.spawn(initialize_when_fresh(
                quorum.inner.raft.clone(),
                dialer,
                ensemble.voters.clone(),
                delay,
            ));
        }
        if ensemble.observers.contains_key(&me) {
            let period = quorum.inner.timings.serving_grace() / 4;
            quorum.spawn(confirm_leader(Arc::downgrade(&quorum.inner), period));
        }
        quorum.spawn(manage_observers(quorum.inner.raft.clone(), ensemble));
        tracing::info!(
            node_id = me,
            addr = %my_addr,
            tls = cfg.peer_tls.is_some(),
            "ensemble member started"
        );
        Ok(quorum)
    }

    fn open_storage(
        cfg: &QuorumConfig,
        applier: &Arc<dyn Applier>,
        flush_ack: FlushAck,
        rank: u64,
    ) -> Result<Parts, QuorumError> {
        let timings = Timings::for_tick(cfg.tick_ms.max(1), rank);
        let raft_config = Arc::new(cfg.raft_config(timings)?);
        let retain = cfg.retain_count();
        cfg.create_dirs()?;
        let log_store = LogStore::open(
            &cfg.data_log_dir,
            LogOptions {
                segment_size: cfg.segment_size,
                force_sync: cfg.force_sync,
                flush_ack,
            },
        )?
        .with_fsync_observer(cfg.observers.fsync.clone());
        let mut state_machine = StateMachine::open(&cfg.data_dir, applier.clone(), retain)?
            .with_snapshot_observer(cfg.observers.snapshot.clone());
        if flush_ack == FlushAck::BeforeApply {
            state_machine = state_machine.with_durability_gate(log_store.durability_gate());
        }
        if let Some(purged) = log_store.log_state().last_purged_log_id {
            let restored = state_machine.last_applied().map(|id| id.index);
            if restored.is_none_or(|r| r < purged.index) {
                return Err(QuorumError::MissingSnapshot {
                    purged: purged.index,
                    snapshot: restored,
                });
            }
        }
        Ok(Parts {
            log_store,
            state_machine,
            raft_config,
            timings,
            retain,
        })
    }

    async fn assemble<N>(
        cfg: &QuorumConfig,
        parts: Parts,
        applier: Arc<dyn Applier>,
        network: N,
        dialer: Dialer,
        acks: Arc<PeerAcks>,
        ensemble: Option<Ensemble>,
    ) -> Result<Quorum, QuorumError>
    where
        N: openraft::network::RaftNetworkFactory<TypeConfig>,
    {
        let applied_zxid = parts.state_machine.applied_zxid();
        let applied_watch = parts.state_machine.applied_watch();
        let log_syncs = parts.log_store.sync_counter();
        let committed_index = parts.log_store.committed_index();
        let raft = Raft::new(
            cfg.node_id,
            parts.raft_config,
            network,
            parts.log_store,
            parts.state_machine,
        )
        .await
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let (batcher, queue) = mpsc::unbounded_channel();
        let poison = Arc::new(Poison::default());
        let quorum = Quorum {
            inner: Arc::new(QuorumInner {
                node_id: cfg.node_id,
                ensemble,
                timings: parts.timings,
                raft: raft.clone(),
                applier,
                applied_zxid,
                applied_watch: applied_watch.clone(),
                log_syncs,
                committed_index,
                tasks: Mutex::new(Vec::new()),
                batcher,
                last_leader_contact: Mutex::new(None),
                leader_confirmed: Mutex::new(None),
                catch_up: Mutex::new(CatchUp::default()),
                dialer: dialer.clone(),
                leader_clients: Mutex::new(BTreeMap::new()),
                acks,
                pending_syncs: AtomicU64::new(0),
                stopped: AtomicBool::new(false),
            }),
        };
        let timings = parts.timings;
        quorum.spawn(batcher::run(
            raft.clone(),
            queue,
            BatcherConfig {
                dialer,
                leader_wait: Duration::from_millis(timings.election_max * 3),
                request_timeout: REQUEST_TIMEOUT,
            },
            poison,
            applied_watch.clone(),
        ));
        quorum.spawn(snapshot_trigger(
            raft.clone(),
            applied_watch,
            cfg.snap_count,
        ));
        let interval = (cfg.purge_interval_hours > 0)
            .then(|| Duration::from_secs(cfg.purge_interval_hours.saturating_mul(3600)));
        quorum.spawn(retention_loop(
            raft,
            cfg.data_dir.clone(),
            parts.retain,
            interval,
        ));
        Ok(quorum)
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.inner.tasks.lock().push(tokio::spawn(task));
    }

    async fn become_standalone_leader(&self, cfg: &QuorumConfig) -> Result<(), QuorumError> {
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
            // The only voter need not wait out an election timeout to know nobody else leads.
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

    /// [`Quorum::submit_from`] for the server's own txns (expiry, housekeeping, sessions
    /// created during a handshake): they are never dropped for an earlier failure.
    pub async fn submit(
        &self,
        txn: Txn,
    ) -> Result<
        impl std::future::Future<Output = Result<Response, ProposeError>> + Send + 'static,
        ProposeError,
    > {
        self.submit_from(0, txn).await
    }

    /// Queues `txn` for the log now and returns a future for its outcome. Txns submitted one
    /// after another for the same connection `conn` enter the log in that order, even while
    /// earlier ones are still in flight (the hand-off is an unbounded channel send to the one
    /// batcher), which is what per-client FIFO order with pipelining needs. Once one of a
    /// connection's txns fails, its later ones fail with `Abandoned` without being proposed.
    pub async fn submit_from(
        &self,
        conn: u64,
        txn: Txn,
    ) -> Result<
        impl std::future::Future<Output = Result<Response, ProposeError>> + Send + 'static,
        ProposeError,
    > {
        let outcome = self.enqueue(
            Origin {
                node: self.inner.node_id,
                conn,
            },
            txn,
            false,
        )?;
        Ok(async move {
            outcome
                .await
                .unwrap_or_else(|_| Err(ProposeError::Stopped("the quorum is shut down".into())))
        })
    }

    fn enqueue(
        &self,
        origin: Origin,
        txn: Txn,
        local_only: bool,
    ) -> Result<oneshot::Receiver<Result<Response, ProposeError>>, ProposeError> {
        let (reply, outcome) = oneshot::channel();
        self.inner
            .batcher
            .send(Proposal {
                origin,
                txn,
                local_only,
                reply,
            })
            .map_err(|_| ProposeError::Stopped("the quorum is shut down".into()))?;
        Ok(outcome)
    }

    /// A linearizable read barrier (ZooKeeper's `sync`, made linearizable): the leader
    /// confirms with a quorum that it still leads and names its commit index; this node then
    /// waits until it has applied that far. Returns the applied zxid.
    pub async fn barrier(&self) -> Result<i64, ProposeError> {
        let raft = &self.inner.raft;
        let (state, leader) = {
            let m = raft.metrics();
            let m = m.borrow();
            (m.state, m.current_leader)
        };
        if state == ServerState::Leader {
            let _pending = PendingSync::new(&self.inner.pending_syncs);
            return match raft.ensure_linearizable().await {
                Ok(_) => Ok(self.last_applied_zxid()),
                Err(e) => Err(check_leader_error(e)),
            };
        }
        let leader = leader.ok_or(ProposeError::NoLeader)?;
        let client = self.leader_client(leader).ok_or(ProposeError::NoLeader)?;
        let index = match client.call(PeerRequest::ReadIndex, REQUEST_TIMEOUT).await {
            Ok(PeerResponse::ReadIndex(result)) => result?,
            Ok(other) => {
                return Err(ProposeError::Raft(format!(
                    "leader answered a read-index request with {other:?}"
                )))
            }
            Err(e) => return Err(ProposeError::Unavailable(e.to_string())),
        };
        raft.wait(Some(REQUEST_TIMEOUT))
            .applied_index_at_least(Some(index), "sync: apply up to the leader's read index")
            .await
            .map_err(|e| ProposeError::Unavailable(e.to_string()))?;
        Ok(self.last_applied_zxid())
    }

    /// Reports sessions active on this node to the leader (ZooKeeper followers' pings), so
    /// the leader, which alone expires sessions, keeps them alive. A no-op on the leader.
    pub async fn report_sessions(&self, sessions: Vec<i64>) {
        if sessions.is_empty() {
            return;
        }
        let leader = {
            let m = self.inner.raft.metrics();
            let m = m.borrow();
            if m.state == ServerState::Leader {
                return;
            }
            m.current_leader
        };
        let Some(client) = leader.and_then(|l| self.leader_client(l)) else {
            return;
        };
        let timeout = Duration::from_millis(self.inner.timings.election_max);
        if let Err(e) = client
            .call(PeerRequest::TouchSessions(sessions), timeout)
            .await
        {
            tracing::debug!("could not report sessions to the leader: {e}");
        }
    }

    fn leader_client(&self, leader: NodeId) -> Option<Arc<PeerClient>> {
        let addr = self
            .inner
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())?;
        let mut clients = self.inner.leader_clients.lock();
        let dialer = &self.inner.dialer;
        let client = clients
            .entry(leader)
            .or_insert_with(|| Arc::new(PeerClient::new(dialer, leader, &addr)));
        if client.addr() != addr {
            *client = Arc::new(PeerClient::new(dialer, leader, &addr));
        }
        Some(client.clone())
    }

    /// The zxid of the last entry applied to the application.
    pub fn last_applied_zxid(&self) -> i64 {
        self.inner.applied_zxid.load(Ordering::Acquire)
    }

    /// Whether this node may serve clients: a standalone node always (once started); the
    /// leader of an ensemble while a quorum acknowledged it recently; a follower or observer
    /// while it hears from a leader. A server that is not serving closes its clients'
    /// connections, so they move to a server that is (ZooKeeper does the same when a server
    /// loses its leader).
    pub fn serving(&self) -> bool {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        self.serving_given(
            m.state,
            m.millis_since_quorum_ack,
            m.last_applied.map(|id| id.index),
        )
    }

    fn serving_given(
        &self,
        state: ServerState,
        since_quorum_ack: Option<u64>,
        applied: Option<u64>,
    ) -> bool {
        let grace = self.inner.timings.serving_grace();
        match (state, &self.inner.ensemble) {
            (ServerState::Leader, None) => true,
            (ServerState::Leader, Some(_)) => {
                since_quorum_ack.is_some_and(|ms| Duration::from_millis(ms) < grace)
            }
            (ServerState::Follower, Some(_)) => {
                recent(&self.inner.last_leader_contact, grace)
                    && self.inner.catch_up.lock().reached(applied)
            }
            // A learner keeps hearing from a leader that lost its quorum (followers would
            // elect a new one instead), so it also needs the leader's word that it serves.
            (ServerState::Learner, Some(_)) => {
                recent(&self.inner.last_leader_contact, grace)
                    && recent(&self.inner.leader_confirmed, grace)
                    && self.inner.catch_up.lock().reached(applied)
            }
            _ => false,
        }
    }

    /// Changes of role, leader or term, for the server's reactions (expiry duty on the leader,
    /// closing connections when no longer serving).
    pub fn watch_roles(&self) -> watch::Receiver<RaftMetrics<NodeId, BasicNode>> {
        self.inner.raft.metrics()
    }

    /// Waits until the applied zxid reaches `zxid` (or `timeout` passes).
    pub async fn wait_applied(&self, zxid: i64, timeout: Duration) -> bool {
        let mut applied = self.inner.applied_watch.clone();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|&a| a >= zxid))
            .await
            .is_ok_and(|r| r.is_ok());
        reached
    }

    pub fn metrics(&self) -> QuorumStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let leader = m.state == ServerState::Leader;
        QuorumStatus {
            node_id: self.inner.node_id,
            role: m.state.into(),
            ensemble: self.inner.ensemble.is_some(),
            term: m.current_term,
            leader: m.current_leader,
            voters: m.membership_config.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            last_log_index: m.last_log_index,
            committed_index: self.inner.committed_index.get(),
            last_applied_index: m.last_applied.map(|id| id.index),
            last_applied_zxid: self.last_applied_zxid(),
            snapshot_index: m.snapshot.map(|id| id.index),
            purged_index: m.purged.map(|id| id.index),
            log_fsyncs: self.inner.log_syncs.load(Ordering::Relaxed),
            replication: m
                .replication
                .as_ref()
                .map(|r| {
                    r.iter()
                        .filter(|(&id, _)| id != self.inner.node_id)
                        .map(|(&id, matched)| (id, matched.map(|l| l.index)))
                        .collect()
                })
                .unwrap_or_default(),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            since_ack: if leader {
                let mut ages = self.inner.acks.ages();
                ages.remove(&self.inner.node_id);
                ages
            } else {
                BTreeMap::new()
            },
            pending_syncs: if leader {
                self.inner.pending_syncs.load(Ordering::Relaxed)
            } else {
                0
            },
            serving: self.serving_given(
                m.state,
                m.millis_since_quorum_ack,
                m.last_applied.map(|id| id.index),
            ),
        }
    }

    /// Changes the membership to `target` (ZooKeeper's `reconfig`): new members are added as
    /// learners and caught up first, then the voter set is replaced through joint consensus,
    /// then members no longer wanted are removed. Runs on the leader (forwarded from other
    /// nodes). Returns the log index of the last membership entry, the new config version.
    pub async fn change_membership(&self, target: Membership) -> Result<u64, ProposeError> {
        if target.voters.is_empty() {
            return Err(ProposeError::Raft(
                "a membership needs at least one voter".into(),
            ));
        }
        let (state, leader) = {
            let m = self.inner.raft.metrics();
            let m = m.borrow();
            (m.state, m.current_leader)
        };
        if state == ServerState::Leader {
            return change_membership_here(&self.inner.raft, target).await;
        }
        let leader = leader.ok_or(ProposeError::NoLeader)?;
        let client = self.leader_client(leader).ok_or(ProposeError::NoLeader)?;
        match client
            .call(PeerRequest::ChangeMembership(target), MEMBERSHIP_TIMEOUT)
            .await
        {
            Ok(PeerResponse::ChangeMembership(result)) => result,
            Ok(other) => Err(ProposeError::Raft(format!(
                "leader answered a membership change with {other:?}"
            ))),
            Err(e) => Err(ProposeError::Unavailable(e.to_string())),
        }
    }

    /// The current Raft membership: voters and learners with their quorum addresses, and the
    /// log index of the entry that set it (the config version).
    pub fn membership(&self) -> (Membership, u64) {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        let stored = &m.membership_config;
        let membership = stored.membership();
        let voters: std::collections::BTreeSet<NodeId> = membership.voter_ids().collect();
        let mut out = Membership::default();
        for (id, node) in membership.nodes() {
            if voters.contains(id) {
                out.voters.insert(*id, node.addr.clone());
            } else {
                out.learners.insert(*id, node.addr.clone());
            }
        }
        (out, stored.log_id().map_or(0, |id| id.index))
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
        for task in self.inner.tasks.lock().drain(..) {
            task.abort();
        }
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft task ended abnormally");
        }
    }
}

/// Initializes the Raft membership with the configured `voters`, but only for a fresh
/// ensemble: once a majority of the voters (this one included) answer that they are not
/// initialized and none says it is. A server joining a running ensemble (its `server.N` lines
/// name a membership the ensemble does not have yet) therefore never writes a conflicting
/// first membership: it waits to be added by `reconfig`. A node that is reached by a leader
/// meanwhile is initialized by replication and stops probing.
///
/// Initializing starts an election at once, so the node that initializes first usually leads.
/// A node therefore leaves it to a higher voter that answered "not initialized" (it is up and
/// initializes itself within its next probe), for at most [`DEFER_TO_HIGHER`]: when the
/// members start at different speeds, the highest id still leads a fresh ensemble, and a
/// higher voter that cannot reach a majority itself does not keep the ensemble from forming.
async fn initialize_when_fresh(
    raft: Raft<TypeConfig>,
    dialer: Dialer,
    voters: BTreeMap<NodeId, String>,
    delay: Duration,
) {
    tokio::time::sleep(delay).await;
    let me = dialer.me();
    let majority = voters.len() / 2 + 1;
    let clients: Vec<(NodeId, PeerClient)> = voters
        .iter()
        .filter(|(&id, _)| id != dialer.me())
        .map(|(&id, addr)| (id, PeerClient::new(&dialer, id, addr)))
        .collect();
    let mut logged = false;
    let mut deferring_since: Option<Instant> = None;
    loop {
        match raft.is_initialized().await {
            Ok(true) => return,
            Ok(false) => {}
            Err(_) => return,
        }
        let answers = futures::future::join_all(
            clients
                .iter()
                .map(|(_, c)| c.call(PeerRequest::Initialized, Duration::from_millis(500))),
        )
        .await;
        let mut fresh = 1; // this node
        let mut higher_fresh = false;
        let mut someone_initialized = false;
        for ((id, _), answer) in clients.iter().zip(answers) {
            match answer {
                Ok(PeerResponse::Initialized(false)) => {
                    fresh += 1;
                    higher_fresh |= *id > me;
                }
                Ok(PeerResponse::Initialized(true)) => someone_initialized = true,
                _ => {}
            }
        }
        let defer = higher_fresh
            && deferring_since.get_or_insert_with(Instant::now).elapsed() < DEFER_TO_HIGHER;
        if someone_initialized {
            if !logged {
                tracing::info!("a peer is already initialized: waiting to be added by its leader");
                logged = true;
            }
        } else if fresh >= majority && !defer {
            let members: BTreeMap<NodeId, BasicNode> = voters
                .iter()
                .map(|(&id, addr)| (id, BasicNode::new(addr)))
                .collect();
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => return,
                Err(e) => {
                    tracing::error!("cannot initialize the ensemble membership: {e}");
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long a fresh voter leaves initializing the ensemble to a higher one that is up (see
/// [`initialize_when_fresh`]).
const DEFER_TO_HIGHER: Duration = Duration::from_secs(3);

/// How long a membership change may take (new members catch up first).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(120);

async fn change_membership_here(
    raft: &Raft<TypeConfig>,
    target: Membership,
) -> Result<u64, ProposeError> {
    use openraft::ChangeMembers;
    let raft_err =
        |e: RaftError<NodeId, openraft::error::ClientWriteError<NodeId, BasicNode>>| match e {
            RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(f)) => {
                ProposeError::NotLeader {
                    leader: f.leader_id,
                }
            }
            RaftError::APIError(e) => ProposeError::Raft(e.to_string()),
            RaftError::Fatal(f) => ProposeError::Stopped(f.to_string()),
        };
    let current = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .clone();
    let wanted: BTreeMap<NodeId, String> = target
        .voters
        .iter()
        .chain(&target.learners)
        .map(|(&id, addr)| (id, addr.clone()))
        .collect();
    for (&id, addr) in &wanted {
        if current.get_node(&id).is_none() {
            tracing::info!(node = id, %addr, "adding a member: catching it up as a learner");
            tokio::time::timeout(
                MEMBERSHIP_TIMEOUT,
                raft.add_learner(id, BasicNode::new(addr), true),
            )
            .await
            .map_err(|_| {
                ProposeError::Unavailable(format!("member {id} did not catch up in time"))
            })?
            .map_err(raft_err)?;
        }
    }
    let voters: std::collections::BTreeSet<NodeId> = target.voters.keys().copied().collect();
    let current_voters: std::collections::BTreeSet<NodeId> = current.voter_ids().collect();
    let mut index = None;
    if voters != current_voters {
        let response = raft
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), true)
            .await
            .map_err(raft_err)?;
        index = Some(response.log_id.index);
    }
    let now = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .clone();
    let unwanted: std::collections::BTreeSet<NodeId> = now
        .nodes()
        .map(|(id, _)| *id)
        .filter(|id| !wanted.contains_key(id))
        .collect();
    if !unwanted.is_empty() {
        let response = raft
            .change_membership(ChangeMembers::RemoveNodes(unwanted), false)
            .await
            .map_err(raft_err)?;
        index = Some(response.log_id.index);
    }
    Ok(index.unwrap_or_else(|| {
        raft.metrics()
            .borrow()
            .membership_config
            .log_id()
            .map_or(0, |id| id.index)
    }))
}

/// Whether a follower (or observer) has caught up with the leader it now hears from: it serves
/// clients only once it has applied what that leader had committed when it first heard from
/// it in this term, as a ZooKeeper follower serves only after syncing with its leader. Without
/// this, a leader that was stopped or cut off and then stepped down served its clients' plain
/// reads from its stale state until the new leader's entries reached it.
#[derive(Debug, Default)]
struct CatchUp {
    term: u64,
    /// The leader's commit index in its first append of `term` (`None`: nothing committed).
    target: Option<u64>,
    reached: bool,
}

impl CatchUp {
    /// An append from the leader of `term` was accepted.
    fn heard(&mut self, term: u64, leader_commit: Option<u64>) {
        if term != self.term {
            *self = CatchUp {
                term,
                target: leader_commit,
                reached: false,
            };
        }
    }

    /// Whether `applied` reached the target of the current term (latched).
    fn reached(&mut self, applied: Option<u64>) -> bool {
        if !self.reached && self.term > 0 {
            self.reached = self.target.is_none_or(|t| applied.is_some_and(|a| a >= t));
        }
        self.reached
    }
}

fn recent(at: &Mutex<Option<Instant>>, within: Duration) -> bool {
    at.lock().is_some_and(|at| at.elapsed() < within)
}

/// On an observer: asks the leader a few times per grace period whether it still serves.
async fn confirm_leader(quorum: std::sync::Weak<QuorumInner>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let Some(inner) = quorum.upgrade() else {
            return;
        };
        let quorum = Quorum { inner };
        let leader = {
            let m = quorum.inner.raft.metrics();
            let m = m.borrow();
            if m.state != ServerState::Learner {
                continue;
            }
            m.current_leader
        };
        let Some(client) = leader.and_then(|l| quorum.leader_client(l)) else {
            continue;
        };
        if let Ok(PeerResponse::LeaderServing(true)) =
            client.call(PeerRequest::LeaderServing, period).await
        {
            *quorum.inner.leader_confirmed.lock() = Some(Instant::now());
        }
    }
}

fn check_leader_error(e: RaftError<NodeId, CheckIsLeaderError<NodeId, BasicNode>>) -> ProposeError {
    match e {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => ProposeError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(e) => ProposeError::Unavailable(e.to_string()),
        RaftError::Fatal(f) => ProposeError::Stopped(f.to_string()),
    }
}

/// Answers peers: Raft RPCs, forwarded writes, read-index requests, session reports.
struct NodeService {
    /// Weak: the listener task must not keep a shut-down quorum alive.
    quorum: std::sync::Weak<QuorumInner>,
}

impl PeerService for NodeService {
    fn serve(&self, from: NodeId, request: PeerRequest) -> ServeFuture {
        let Some(inner) = self.quorum.upgrade() else {
            return Box::pin(async { PeerResponse::Failed("shutting down".into()) });
        };
        let quorum = Quorum { inner };
        match request {
            PeerRequest::AppendEntries(rpc) => Box::pin(async move {
                let term = rpc.vote.leader_id().get_term();
                let leader_commit = rpc.leader_commit.map(|id| id.index);
                let result = quorum.inner.raft.append_entries(rpc).await;
                if matches!(
                    result,
                    Ok(AppendEntriesResponse::Success
                        | AppendEntriesResponse::PartialSuccess(_)
                        | AppendEntriesResponse::Conflict)
                ) {
                    quorum.inner.catch_up.lock().heard(term, leader_commit);
                    *quorum.inner.last_leader_contact.lock() = Some(Instant::now());
                }
                PeerResponse::AppendEntries(result)
            }),
            PeerRequest::Vote(rpc) => {
                Box::pin(async move { PeerResponse::Vote(quorum.inner.raft.vote(rpc).await) })
            }
            PeerRequest::InstallSnapshot(rpc) => Box::pin(async move {
                let result = quorum.inner.raft.install_snapshot(rpc).await;
                if result.is_ok() {
                    *quorum.inner.last_leader_contact.lock() = Some(Instant::now());
                }
                PeerResponse::InstallSnapshot(result)
            }),
            PeerRequest::Forward(txns) => {
                // Enqueued now, in the order the peer sent them; answered when all are done.
                let outcomes: Vec<_> = txns
                    .into_iter()
                    .map(|f| quorum.enqueue(f.origin, f.txn, true))
                    .collect();
                Box::pin(async move {
                    let mut results = Vec::with_capacity(outcomes.len());
                    for outcome in outcomes {
                        let result = match outcome {
                            Ok(rx) => rx.await.unwrap_or_else(|_| {
                                Err(ProposeError::Stopped("the quorum is shut down".into()))
                            }),
                            Err(e) => Err(e),
                        };
                        // The follower fires its own watches when it applies the txn.
                        results.push(result.map(|mut r| {
                            r.applied.triggers.clear();
                            r
                        }));
                    }
                    PeerResponse::Forward(results)
                })
            }
            PeerRequest::ReadIndex => Box::pin(async move {
                let _pending = PendingSync::new(&quorum.inner.pending_syncs);
                let result = match quorum.inner.raft.get_read_log_id().await {
                    Ok((read_log_id, _applied)) => Ok(read_log_id.map_or(0, |id| id.index)),
                    Err(e) => Err(check_leader_error(e)),
                };
                PeerResponse::ReadIndex(result)
            }),
            PeerRequest::Initialized => Box::pin(async move {
                PeerResponse::Initialized(quorum.inner.raft.is_initialized().await.unwrap_or(true))
            }),
            PeerRequest::ChangeMembership(target) => Box::pin(async move {
                let result = if quorum.metrics().role == Role::Leader {
                    change_membership_here(&quorum.inner.raft, target).await
                } else {
                    Err(ProposeError::NotLeader {
                        leader: quorum.metrics().leader,
                    })
                };
                PeerResponse::ChangeMembership(result)
            }),
            PeerRequest::LeaderServing => {
                let serving = quorum.metrics().role == Role::Leader && quorum.serving();
                Box::pin(async move { PeerResponse::LeaderServing(serving) })
            }
            PeerRequest::TouchSessions(sessions) => {
                tracing::trace!(from, count = sessions.len(), "session report");
                quorum.inner.applier.sessions_touched(&sessions);
                Box::pin(async { PeerResponse::Touched })
            }
        }
    }
}

/// How long a write or read barrier may take before it fails (the leader may be gone).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Adds the configured observers to the membership as learners, from whichever node leads.
/// An observer is handled once: after this node has seen it in the membership it is left to
/// `reconfig`, which may remove it again without it being re-added here.
async fn manage_observers(raft: Raft<TypeConfig>, ensemble: Ensemble) {
    let mut pending = ensemble.observers;
    let mut metrics = raft.metrics();
    while !pending.is_empty() {
        let (leader, missing): (bool, Vec<(NodeId, String)>) = {
            let m = metrics.borrow_and_update();
            let membership = m.membership_config.membership();
            pending.retain(|id, _| membership.get_node(id).is_none());
            let missing = pending.iter().map(|(&id, a)| (id, a.clone())).collect();
            (m.state == ServerState::Leader, missing)
        };
        if leader {
            for (id, addr) in missing {
                match raft.add_learner(id, BasicNode::new(&addr), false).await {
                    Ok(_) => {
                        tracing::info!(observer = id, %addr, "added observer as a Raft learner")
                    }
                    Err(e) => {
                        tracing::debug!(observer = id, "adding observer failed (will retry): {e}")
                    }
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), metrics.changed()).await;
    }
}

/// How long the trigger waits for a snapshot to be written before counting txns again.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(600);

/// After a snapshot that took `d`, the next one waits at least `SNAPSHOT_SPACING × d`, so
/// writing snapshots takes at most an eighth of the time however fast txns arrive.
const SNAPSHOT_SPACING: u32 = 7;

/// Asks for a snapshot every `snap_count` applied txns (ZooKeeper's snapCount: the txns logged
/// before a snapshot *can* be taken), but spaced by `SNAPSHOT_SPACING` times the previous
/// snapshot's duration: under a burst of creates a million-node tree would otherwise be
/// serialized every half second, taking a core from the requests. The log between snapshots
/// grows accordingly (replayed on restart). Runs on every node, leader or not: each keeps its
/// own snapshots.
async fn snapshot_trigger(
    raft: Raft<TypeConfig>,
    mut applied: watch::Receiver<i64>,
    snap_count: u64,
) {
    let snap_count = snap_count.max(1) as i64;
    let mut last = *applied.borrow();
    let mut not_before = Instant::now();
    while applied.changed().await.is_ok() {
        let now = *applied.borrow_and_update();
        if now < last {
            // A snapshot was installed from the leader; count from there.
            last = now;
        }
        if now - last < snap_count || Instant::now() < not_before {
            continue;
        }
        last = now;
        let mut metrics = raft.metrics();
        let before = metrics.borrow().snapshot;
        let started = Instant::now();
        if let Err(e) = raft.trigger().snapshot().await {
            tracing::warn!("could not trigger a snapshot: {e}");
            continue;
        }
        let finished =
            tokio::time::timeout(SNAPSHOT_WAIT, metrics.wait_for(|m| m.snapshot != before)).await;
        if matches!(finished, Ok(Ok(_))) {
            not_before = Instant::now() + started.elapsed() * SNAPSHOT_SPACING;
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

#[cfg(test)]
mod ensemble_tests;
