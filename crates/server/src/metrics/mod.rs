//! Prometheus metrics (`GET /metrics` on the admin port and on `metricsProvider.httpPort`).
//!
//! Names are ZooKeeper's with an `arbor_` prefix (docs/metrics.md lists them). Three kinds:
//! - state gauges (`arbor_znode_count`, ...) are set from the same [`Monitor`] report `mntr`
//!   prints, at scrape time, so the two always agree and nothing is counted twice;
//! - Raft gauges come from [`QuorumStatus`] at scrape time; leader changes and election time
//!   from a task that follows [`arbor_quorum::Quorum::leadership`];
//! - histograms are observed where the work happens: request latency per opcode in the
//!   connection pipeline ([`request`]), fsync and snapshot time through the quorum's
//!   [`arbor_quorum::StorageObservers`];
//! - modules running in the process (config center, naming) register their collectors in
//!   [`Metrics::registry`] and may add a [`ScrapeHook`] that sets their gauges right before a
//!   scrape is rendered (bounded by [`SCRAPE_HOOK_TIMEOUT`]).

pub mod request;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use arbor_quorum::{DurationObserver, QuorumStatus, Role, StorageObservers};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::report::{Monitor, MonitorValue};
pub use request::RequestLatency;

/// ZooKeeper's `fsync.warningthresholdms` default: fsyncs slower than this are counted in
/// `fsync_threshold_exceed_count`.
pub const FSYNC_WARNING_THRESHOLD: Duration = Duration::from_millis(1000);

/// How long a scrape waits for the [`ScrapeHook`]s before it renders what the gauges hold: a
/// module that cannot read its state in time (e.g. its session is reconnecting) leaves its
/// gauges at their last values rather than failing or stalling the scrape.
pub const SCRAPE_HOOK_TIMEOUT: Duration = Duration::from_secs(2);

/// Work a module does right before a scrape is rendered, e.g. set gauges it reads from the
/// tree. Hooks run concurrently, each bounded by [`SCRAPE_HOOK_TIMEOUT`]; a hook bounds its
/// own cost (scrapes may come often and from several scrapers).
pub trait ScrapeHook: Send + Sync + 'static {
    fn before_scrape(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Latency buckets in seconds: 100 µs .. 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Snapshot buckets in seconds: 1 ms .. 2 min (a million-node tree takes about a second).
const SNAPSHOT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Election buckets in seconds.
const ELECTION_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

/// `mntr` keys exported as gauges `arbor_<key>`, with their help text.
const MONITOR_GAUGES: &[(&str, &str)] = &[
    ("znode_count", "Number of znodes in the data tree"),
    ("ephemerals_count", "Number of ephemeral znodes"),
    ("watch_count", "Number of watches set by connected clients"),
    ("num_alive_connections", "Number of open client connections"),
    (
        "outstanding_requests",
        "Client requests read but not yet answered",
    ),
    (
        "approximate_data_size",
        "Approximate size of znode paths and data, in bytes",
    ),
    ("quorum_size", "Number of voting members"),
    ("global_sessions", "Number of live sessions"),
    (
        "packets_received",
        "Client packets received (reset by srst)",
    ),
    ("packets_sent", "Client packets sent (reset by srst)"),
    ("open_file_descriptor_count", "Open file descriptors"),
    ("max_file_descriptor_count", "File descriptor limit"),
    (
        "fsync_threshold_exceed_count",
        "Log fsyncs slower than fsync.warningthresholdms (1 s)",
    ),
    ("uptime", "Milliseconds since the server started"),
];

/// Times one kind of storage work into a histogram.
struct HistogramObserver(Histogram);

impl DurationObserver for HistogramObserver {
    fn observe(&self, elapsed: Duration) {
        self.0.observe(elapsed.as_secs_f64());
    }
}

/// Log fsyncs: a histogram, and the count of slow ones for `mntr`.
struct FsyncObserver {
    histogram: Histogram,
    exceeded: AtomicU64,
}

impl DurationObserver for FsyncObserver {
    fn observe(&self, elapsed: Duration) {
        self.histogram.observe(elapsed.as_secs_f64());
        if elapsed > FSYNC_WARNING_THRESHOLD {
            self.exceeded.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Raft gauges set from [`QuorumStatus`] at scrape time.
struct RaftGauges {
    term: IntGauge,
    is_leader: IntGauge,
    last_log_index: IntGauge,
    commit_index: IntGauge,
    last_applied_index: IntGauge,
    last_zxid: IntGauge,
    snapshot_index: IntGauge,
    purged_index: IntGauge,
    replication_lag: IntGaugeVec,
}

pub struct Metrics {
    registry: Registry,
    /// Request latency per opcode; observed by every connection.
    pub requests: RequestLatency,
    fsync: Arc<FsyncObserver>,
    snapshot: Arc<HistogramObserver>,
    election_time: Histogram,
    leader_changes: IntCounter,
    monitor_gauges: Vec<(&'static str, IntGauge)>,
    raft: RaftGauges,
    scrape_hooks: RwLock<Vec<Arc<dyn ScrapeHook>>>,
}

fn name(suffix: &str) -> String {
    format!("arbor_{suffix}")
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let histogram = |suffix: &str, help: &str, buckets: &[f64]| {
            let h = Histogram::with_opts(
                HistogramOpts::new(name(suffix), help).buckets(buckets.to_vec()),
            )?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, prometheus::Error>(h)
        };
        let gauge = |suffix: &str, help: &str| {
            let g = IntGauge::new(name(suffix), help)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };

        let requests = HistogramVec::new(
            HistogramOpts::new(
                name("request_latency_seconds"),
                "Time from reading a client request to queueing its reply, per opcode",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        let fsync = Arc::new(FsyncObserver {
            histogram: histogram(
                "fsync_time_seconds",
                "Duration of each fdatasync of the Raft log (one per group commit)",
                LATENCY_BUCKETS,
            )?,
            exceeded: AtomicU64::new(0),
        });
        let snapshot = Arc::new(HistogramObserver(histogram(
            "snapshot_time_seconds",
            "Duration of each snapshot: serializing the tree and writing the file",
            SNAPSHOT_BUCKETS,
        )?));
        let election_time = histogram(
            "election_time_seconds",
            "Time without a known leader before one was elected",
            ELECTION_BUCKETS,
        )?;
        let leader_changes = IntCounter::new(
            name("raft_leader_changes_total"),
            "Times this server saw a new leader after it started",
        )?;
        registry.register(Box::new(leader_changes.clone()))?;
        let monitor_gauges = MONITOR_GAUGES
            .iter()
            .map(|(key, help)| Ok((*key, gauge(key, help)?)))
            .collect::<prometheus::Result<Vec<_>>>()?;
        let replication_lag = IntGaugeVec::new(
            Opts::new(
                name("raft_replication_lag"),
                "Log entries a peer is behind the leader's last log index (leader only)",
            ),
            &["peer"],
        )?;
        registry.register(Box::new(replication_lag.clone()))?;
        let raft = RaftGauges {
            term: gauge("raft_term", "Current Raft term")?,
            is_leader: gauge("raft_is_leader", "1 if this server leads, else 0")?,
            last_log_index: gauge("raft_last_log_index", "Index of the newest log entry")?,
            commit_index: gauge(
                "raft_commit_index",
                "Index of the newest log entry this server knows to be committed",
            )?,
            last_applied_index: gauge(
                "raft_last_applied_index",
                "Index of the last log entry applied to the tree",
            )?,
            last_zxid: gauge("last_zxid", "zxid of the last applied transaction")?,
            snapshot_index: gauge(
                "raft_snapshot_index",
                "Last log index covered by the newest snapshot",
            )?,
            purged_index: gauge("raft_purged_index", "Last purged log index")?,
            replication_lag,
        };
        Ok(Metrics {
            registry,
            requests: RequestLatency::new(requests),
            fsync,
            snapshot,
            election_time,
            leader_changes,
            monitor_gauges,
            raft,
            scrape_hooks: RwLock::new(Vec::new()),
        })
    }

    /// Runs `hook` before every scrape from now on.
    pub fn add_scrape_hook(&self, hook: Arc<dyn ScrapeHook>) {
        self.scrape_hooks.write().push(hook);
    }

    /// Runs the scrape hooks (concurrently, each for at most [`SCRAPE_HOOK_TIMEOUT`]).
    pub async fn run_scrape_hooks(&self) {
        // A copy of the (short) list, so no lock is held across the awaits.
        let hooks = self.scrape_hooks.read().clone();
        futures::future::join_all(hooks.iter().map(|hook| async move {
            if tokio::time::timeout(SCRAPE_HOOK_TIMEOUT, hook.before_scrape())
                .await
                .is_err()
            {
                tracing::debug!("a metrics scrape hook timed out; its gauges keep their values");
            }
        }))
        .await;
    }

    /// The registry `/metrics` exposes: modules running in the server process (config center,
    /// naming) register their own collectors here (names `arbor_<module>_...`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The hooks to give the quorum so fsyncs and snapshots are timed here.
    pub fn storage_observers(&self) -> StorageObservers {
        StorageObservers {
            fsync: Some(self.fsync.clone()),
            snapshot: Some(self.snapshot.clone()),
        }
    }

    /// Log fsyncs slower than [`FSYNC_WARNING_THRESHOLD`] so far.
    pub fn fsync_threshold_exceeded(&self) -> u64 {
        self.fsync.exceeded.load(Ordering::Relaxed)
    }

    /// Records that a leader became known after `leaderless` without one.
    pub fn leader_elected(&self, leaderless: Duration) {
        self.election_time.observe(leaderless.as_secs_f64());
    }

    pub fn leader_changed(&self) {
        self.leader_changes.inc();
    }

    /// The Prometheus text exposition, with state gauges set from `monitor` (what `mntr`
    /// reports) and Raft gauges from `status`.
    pub fn render(&self, monitor: &Monitor, status: &QuorumStatus) -> prometheus::Result<String> {
        for (key, gauge) in &self.monitor_gauges {
            if let Some(MonitorValue::Int(v)) = monitor.get(key) {
                gauge.set(*v);
            }
        }
        let as_gauge = |index: Option<u64>| index.map_or(0, |i| i64::try_from(i).unwrap_or(-1));
        let raft = &self.raft;
        raft.term.set(i64::try_from(status.term).unwrap_or(-1));
        raft.is_leader.set(i64::from(status.role == Role::Leader));
        raft.last_log_index.set(as_gauge(status.last_log_index));
        raft.commit_index.set(as_gauge(status.committed_index));
        raft.last_applied_index
            .set(as_gauge(status.last_applied_index));
        raft.last_zxid.set(status.last_applied_zxid);
        raft.snapshot_index.set(as_gauge(status.snapshot_index));
        raft.purged_index.set(as_gauge(status.purged_index));
        raft.replication_lag.reset();
        for (peer, lag) in replication_lags(status) {
            raft.replication_lag
                .with_label_values(&[&peer.to_string()])
                .set(i64::try_from(lag).unwrap_or(i64::MAX));
        }
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

/// Per-peer replication lag for `arbor_raft_replication_lag{peer}`: on the leader, how many
/// entries each other member's matched log index is behind the leader's last log index (a
/// member that matched nothing yet lags by the whole log). Empty elsewhere.
fn replication_lags(status: &QuorumStatus) -> Vec<(u64, u64)> {
    if status.role != Role::Leader {
        return Vec::new();
    }
    let last = status.last_log_index.unwrap_or(0);
    status
        .replication
        .iter()
        .filter(|(peer, _)| **peer != status.node_id)
        .map(|(peer, matched)| (*peer, last.saturating_sub(matched.unwrap_or(0))))
        .collect()
}

/// Follows leadership for `arbor_raft_leader_changes_total` and `arbor_election_time_seconds`
/// until the quorum stops.
pub async fn follow_leadership(quorum: arbor_quorum::Quorum, metrics: Arc<Metrics>) {
    let mut watch = quorum.leadership();
    let mut leader = watch.current().leader;
    let mut leaderless_since = leader.is_none().then(Instant::now);
    while let Some(now) = watch.changed().await {
        match (leader, now.leader) {
            (_, None) => {
                leaderless_since.get_or_insert_with(Instant::now);
            }
            (previous, Some(new)) if previous != Some(new) => {
                metrics.leader_changed();
                if let Some(since) = leaderless_since.take() {
                    metrics.leader_elected(since.elapsed());
                }
            }
            _ => {}
        }
        leader = now.leader;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_proto::OpCode;

    fn status() -> QuorumStatus {
        QuorumStatus {
            node_id: 1,
            role: Role::Leader,
            ensemble: true,
            term: 3,
            leader: Some(1),
            voters: vec![1, 2, 3],
            learners: vec![],
            last_log_index: Some(12),
            committed_index: Some(12),
            last_applied_index: Some(12),
            last_applied_zxid: 40,
            log_fsyncs: 5,
            replication: [(2, Some(12)), (3, Some(9))].into(),
            millis_since_quorum_ack: Some(1),
            serving: true,
            ..QuorumStatus::default()
        }
    }

    /// The value of an unlabelled sample in a text exposition.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn render_exports_monitor_gauges_raft_state_and_histograms() {
        let metrics = Metrics::new().unwrap();
        let monitor = Monitor(vec![
            ("server_state", MonitorValue::Text("standalone".into())),
            ("znode_count", MonitorValue::Int(7)),
            ("watch_count", MonitorValue::Int(2)),
        ]);
        metrics
            .requests
            .observe(OpCode::GetData, Duration::from_micros(300));
        let fsync = metrics.storage_observers().fsync.unwrap();
        fsync.observe(Duration::from_millis(2));
        fsync.observe(Duration::from_secs(2));
        metrics.leader_changed();

        let text = metrics.render(&monitor, &status()).unwrap();
        assert_eq!(sample(&text, "arbor_znode_count"), Some(7.0));
        assert_eq!(sample(&text, "arbor_watch_count"), Some(2.0));
        assert_eq!(sample(&text, "arbor_raft_term"), Some(3.0));
        assert_eq!(sample(&text, "arbor_raft_is_leader"), Some(1.0));
        assert_eq!(sample(&text, "arbor_raft_last_applied_index"), Some(12.0));
        assert_eq!(sample(&text, "arbor_raft_commit_index"), Some(12.0));
        assert_eq!(sample(&text, "arbor_last_zxid"), Some(40.0));
        assert_eq!(sample(&text, "arbor_raft_leader_changes_total"), Some(1.0));
        assert!(
            text.contains("arbor_raft_replication_lag{peer=\"2\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("arbor_raft_replication_lag{peer=\"3\"} 3"),
            "{text}"
        );
        assert_eq!(sample(&text, "arbor_fsync_time_seconds_count"), Some(2.0));
        assert_eq!(metrics.fsync_threshold_exceeded(), 1);
        assert!(
            text.contains("arbor_request_latency_seconds_bucket{op=\"getData\",le=\"0.0005\"} 1"),
            "{text}"
        );
        // Text values of mntr are not gauges.
        assert!(!text.contains("arbor_server_state"));
        // A follower reports no lag.
        let follower = QuorumStatus {
            role: Role::Follower,
            leader: Some(2),
            ..status()
        };
        let text = metrics.render(&monitor, &follower).unwrap();
        assert!(!text.contains("arbor_raft_replication_lag{"), "{text}");
    }
}
