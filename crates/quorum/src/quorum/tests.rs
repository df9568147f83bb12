use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::*;
use crate::error::LogError;
use crate::test_util::{labelled_txn, RecordingApplier};

fn config(root: &Path) -> QuorumConfig {
    let mut cfg = QuorumConfig::new(1, root.join("data"), root.join("log"));
    cfg.tick_ms = 100;
    cfg.startup_timeout = Duration::from_secs(20);
    cfg
}

async fn start(cfg: &QuorumConfig) -> (Quorum, Arc<RecordingApplier>) {
    let applier = Arc::new(RecordingApplier::default());
    let quorum = Quorum::start_standalone(cfg.clone(), applier.clone())
        .await
        .unwrap();
    (quorum, applier)
}

async fn propose_labels(quorum: &Quorum, labels: std::ops::Range<i64>) -> Vec<i64> {
    let mut zxids = Vec::new();
    for label in labels {
        zxids.push(quorum.propose(labelled_txn(label)).await.unwrap().zxid);
    }
    zxids
}

fn segment_count(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|d| {
            let name = d.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".seg")
        })
        .count()
}

/// Poll `cond` for up to five seconds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn standalone_leads_and_reports_status() {
    let root = tempfile::tempdir().unwrap();
    let (quorum, _applier) = start(&config(root.path())).await;
    let status = quorum.metrics();
    assert_eq!(status.role, Role::Leader);
    assert_eq!(status.leader, Some(1));
    assert_eq!(status.voters, vec![1]);
    assert!(status.term >= 1);
    // zxids count txns; the log so far holds only the membership and leader entries.
    assert_eq!(status.last_applied_zxid, 0);
    let before = status.last_log_index.expect("membership entry");

    let resp = quorum.propose(labelled_txn(7)).await.unwrap();
    assert_eq!(resp.zxid, 1);
    assert_eq!(quorum.last_applied_zxid(), resp.zxid);
    assert_eq!(quorum.barrier().await.unwrap(), resp.zxid);
    assert_eq!(quorum.metrics().last_log_index, Some(before + 1));

    quorum.shutdown().await;
    assert!(matches!(
        quorum.propose(labelled_txn(8)).await,
        Err(ProposeError::Stopped(_))
    ));
    quorum.shutdown().await; // idempotent
}

#[tokio::test]
async fn restart_replays_exactly_the_proposed_txns_in_order() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let (quorum, applier) = start(&cfg).await;
    let zxids = propose_labels(&quorum, 0..50).await;
    assert!(zxids.windows(2).all(|w| w[0] < w[1]), "{zxids:?}");
    let before = applier.applied();
    quorum.shutdown().await;

    let (quorum, replayed) = start(&cfg).await;
    assert_eq!(replayed.applied(), before);
    assert_eq!(replayed.labels(), (0..50).collect::<Vec<_>>());
    assert_eq!(
        replayed
            .applied()
            .iter()
            .map(|(z, _)| *z)
            .collect::<Vec<_>>(),
        zxids
    );
    // New proposals continue after the replayed ones.
    let next = quorum.propose(labelled_txn(50)).await.unwrap();
    assert!(next.zxid > *zxids.last().unwrap());
    quorum.shutdown().await;
}

#[tokio::test]
async fn restart_restores_snapshot_and_replays_only_the_tail() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let (quorum, _) = start(&cfg).await;
    propose_labels(&quorum, 0..20).await;
    quorum.snapshot_now().await.unwrap();
    let snap_index = quorum.metrics().snapshot_index.unwrap();
    assert_eq!(Some(snap_index), quorum.metrics().last_log_index);
    assert_eq!(quorum.last_applied_zxid(), 20, "one zxid per txn");
    propose_labels(&quorum, 20..30).await;
    quorum.shutdown().await;

    let (quorum, applier) = start(&cfg).await;
    assert_eq!(applier.restores(), 1);
    assert_eq!(
        applier.applies(),
        10,
        "only the txns after the snapshot replay"
    );
    assert_eq!(applier.labels(), (0..30).collect::<Vec<_>>());
    quorum.shutdown().await;
}

#[tokio::test]
async fn retention_keeps_n_snapshots_and_purges_covered_segments() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = config(root.path());
    cfg.segment_size = 1024;
    let (quorum, _) = start(&cfg).await;
    let mut snapshots = Vec::new();
    for round in 0..5 {
        propose_labels(&quorum, round * 40..(round + 1) * 40).await;
        quorum.snapshot_now().await.unwrap();
        snapshots.push(quorum.metrics().snapshot_index.unwrap());
    }
    let kept: Vec<u64> = crate::snapshot::list(&cfg.data_dir)
        .unwrap()
        .iter()
        .map(|f| f.index)
        .collect();
    assert_eq!(kept, vec![snapshots[4], snapshots[3], snapshots[2]]);

    let oldest_kept = snapshots[2];
    eventually("log purge behind the oldest kept snapshot", || {
        quorum.metrics().purged_index == Some(oldest_kept)
    })
    .await;
    // Only segments that may hold entries after the purge point remain.
    let remaining = segment_count(&cfg.data_log_dir);
    let entries_left = quorum.metrics().last_log_index.unwrap() - oldest_kept;
    assert!(
        remaining as u64 <= entries_left / 10 + 2,
        "{remaining} segments left for {entries_left} entries"
    );
    quorum.shutdown().await;

    let (quorum, applier) = start(&cfg).await;
    assert_eq!(applier.labels(), (0..200).collect::<Vec<_>>());
    assert_eq!(applier.applies(), 0);
    quorum.shutdown().await;
}

#[tokio::test]
async fn missing_snapshot_behind_a_purged_log_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let (quorum, _) = start(&cfg).await;
    propose_labels(&quorum, 0..10).await;
    quorum.snapshot_now().await.unwrap();
    let snap = quorum.metrics().snapshot_index.unwrap();
    eventually("log purge", || quorum.metrics().purged_index == Some(snap)).await;
    quorum.shutdown().await;

    for file in crate::snapshot::list(&cfg.data_dir).unwrap() {
        fs::remove_file(file.path).unwrap();
    }
    let result = Quorum::start_standalone(cfg, Arc::new(RecordingApplier::default())).await;
    assert!(
        matches!(result, Err(QuorumError::MissingSnapshot { purged, snapshot: None }) if purged == snap)
    );
}

#[tokio::test]
async fn corrupt_log_middle_prevents_start() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let (quorum, _) = start(&cfg).await;
    propose_labels(&quorum, 0..30).await;
    quorum.shutdown().await;

    let segment = fs::read_dir(&cfg.data_log_dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    fs::write(&segment, bytes).unwrap();

    match Quorum::start_standalone(cfg, Arc::new(RecordingApplier::default())).await {
        Err(QuorumError::Log(LogError::Corrupt { file, offset, .. })) => {
            assert_eq!(file, segment);
            assert!(offset <= middle as u64);
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("started on a corrupt log"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_txns_enter_the_log_in_submission_order() {
    let root = tempfile::tempdir().unwrap();
    let (quorum, applier) = start(&config(root.path())).await;
    let mut pending = Vec::new();
    for label in 0..200 {
        pending.push(quorum.submit(labelled_txn(label)).await.unwrap());
    }
    let mut zxids = Vec::new();
    for done in pending {
        zxids.push(done.await.unwrap().zxid);
    }
    assert!(zxids.windows(2).all(|w| w[0] < w[1]), "{zxids:?}");
    assert_eq!(applier.labels(), (0..200).collect::<Vec<_>>());
    quorum.shutdown().await;
}

#[tokio::test]
async fn torn_last_record_is_dropped_and_the_rest_replayed() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let (quorum, _) = start(&cfg).await;
    propose_labels(&quorum, 0..20).await;
    quorum.shutdown().await;

    // The last record is the last txn (nothing is appended at shutdown); tear it.
    let segment = fs::read_dir(&cfg.data_log_dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .max()
        .unwrap();
    let len = fs::metadata(&segment).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 3)
        .unwrap();

    // The commit hint still names the torn entry; recovery must not trust it.
    let (quorum, applier) = start(&cfg).await;
    assert_eq!(applier.labels(), (0..19).collect::<Vec<_>>());
    quorum.propose(labelled_txn(99)).await.unwrap();
    assert_eq!(applier.labels().last(), Some(&99));
    quorum.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_proposals_get_distinct_increasing_zxids() {
    let root = tempfile::tempdir().unwrap();
    let (quorum, applier) = start(&config(root.path())).await;
    let n = 1000;
    let mut tasks = tokio::task::JoinSet::new();
    for label in 0..n {
        let q = quorum.clone();
        tasks.spawn(async move { (label, q.propose(labelled_txn(label)).await.unwrap().zxid) });
    }
    let mut by_label = std::collections::BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (label, zxid) = done.unwrap();
        by_label.insert(label, zxid);
    }
    let distinct: BTreeSet<i64> = by_label.values().copied().collect();
    assert_eq!(distinct.len(), n as usize);

    // The applier saw them in zxid order, each with the zxid its proposer was told.
    let applied = applier.applied();
    assert_eq!(applied.len(), n as usize);
    assert!(applied.windows(2).all(|w| w[0].0 < w[1].0));
    for (zxid, txn) in &applied {
        assert_eq!(by_label[&txn.session], *zxid);
    }
    // Group commit: far fewer fsyncs than writes.
    let fsyncs = quorum.metrics().log_fsyncs;
    assert!(fsyncs < n as u64, "{fsyncs} fsyncs for {n} writes");
    quorum.shutdown().await;
}

const CHILD_DIR_ENV: &str = "ARBOR_QUORUM_DURABILITY_CHILD_DIR";
const CHILD_WORKERS: i64 = 4;
const LABELS_PER_WORKER: i64 = 1_000_000;

/// Not a test on its own: the writer process of `acknowledged_writes_survive_kill_9`.
/// It proposes from several tasks and prints `ACK <label>` after each acknowledgement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process for acknowledged_writes_survive_kill_9"]
async fn durability_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let (quorum, _) = start(&config(Path::new(&dir))).await;
    println!("READY");
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..CHILD_WORKERS {
        let q = quorum.clone();
        tasks.spawn(async move {
            for j in 0..LABELS_PER_WORKER {
                let label = worker * LABELS_PER_WORKER + j;
                q.propose(labelled_txn(label)).await.unwrap();
                println!("ACK {label}");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let root = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "quorum::tests::durability_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();

    let mut acked = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.len() < 500 && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(label) = line.strip_prefix("ACK ") {
                    acked.insert(label.parse::<i64>().unwrap());
                }
            }
            _ => break,
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Acknowledgements printed before the kill are still in the pipe.
    for line in lines.map_while(Result::ok) {
        if let Some(label) = line.strip_prefix("ACK ") {
            if let Ok(label) = label.parse::<i64>() {
                acked.insert(label);
            }
        }
    }
    assert!(
        acked.len() >= 500,
        "child acknowledged only {}",
        acked.len()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (quorum, applier) = start(&config(root.path())).await;
        let applied: Vec<i64> = applier.labels();
        let present: BTreeSet<i64> = applied.iter().copied().collect();
        assert_eq!(present.len(), applied.len(), "a txn was applied twice");
        let lost: Vec<_> = acked.difference(&present).collect();
        assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
        // Each worker's writes are a prefix of its sequence (sequential per worker).
        for worker in 0..CHILD_WORKERS {
            let mine: Vec<i64> = applied
                .iter()
                .filter(|l| **l / LABELS_PER_WORKER == worker)
                .map(|l| l % LABELS_PER_WORKER)
                .collect();
            assert_eq!(mine, (0..mine.len() as i64).collect::<Vec<_>>());
        }
        quorum.shutdown().await;
    });
}

/// Throughput of 10k concurrent proposes with fsync on: run with
/// `cargo test -p arbor-quorum --release -- --ignored --nocapture proposes_per_second`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn proposes_per_second() {
    let root = tempfile::tempdir().unwrap();
    let (quorum, _) = start(&config(root.path())).await;
    let n = 10_000;
    let fsyncs_before = quorum.metrics().log_fsyncs;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for label in 0..n {
        let q = quorum.clone();
        tasks.spawn(async move { q.propose(labelled_txn(label)).await.unwrap() });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let elapsed = started.elapsed();
    let fsyncs = quorum.metrics().log_fsyncs - fsyncs_before;
    println!(
        "{n} concurrent proposes (fsync on): {:.0} proposes/s, {elapsed:?}, {fsyncs} fsyncs",
        n as f64 / elapsed.as_secs_f64()
    );

    let started = Instant::now();
    let seq = 1000;
    propose_labels(&quorum, n..n + seq).await;
    let elapsed = started.elapsed();
    println!(
        "{seq} sequential proposes (fsync on): {:.0} proposes/s",
        seq as f64 / elapsed.as_secs_f64()
    );
    quorum.shutdown().await;
}

#[test]
fn a_follower_serves_only_once_it_applied_what_its_new_leader_had_committed() {
    let mut c = CatchUp::default();
    // Never heard from a leader.
    assert!(!c.reached(Some(100)));
    // The leader of term 2 had committed index 10 when it first reached us.
    c.heard(2, Some(10));
    assert!(!c.reached(Some(9)));
    assert!(!c.reached(None));
    // Later appends of the same term do not move the target (under load it would never be
    // reached); once reached it stays so.
    c.heard(2, Some(50));
    assert!(c.reached(Some(10)));
    assert!(c.reached(Some(10)));
    // A new term (a new leader) starts over.
    c.heard(3, Some(60));
    assert!(!c.reached(Some(59)));
    assert!(c.reached(Some(60)));
    // A leader with nothing committed yet: nothing to wait for.
    c.heard(4, None);
    assert!(c.reached(None));
}

/// Cost of `serving()` (checked before every client read): run with
/// `cargo test -p arbor-quorum --release -- --ignored --nocapture serving_check_cost`.
#[tokio::test]
#[ignore = "measurement, not a test"]
async fn serving_check_cost() {
    let root = tempfile::tempdir().unwrap();
    let (quorum, _applier) = start(&config(root.path())).await;
    let n = 5_000_000;
    let started = Instant::now();
    let mut serving = 0;
    for _ in 0..n {
        serving += usize::from(quorum.serving());
    }
    let elapsed = started.elapsed();
    assert_eq!(serving, n);
    println!(
        "serving(): {:.1} ns per call",
        elapsed.as_nanos() as f64 / n as f64
    );
    quorum.shutdown().await;
}

#[test]
fn election_timings_follow_the_tick_with_the_highest_id_first() {
    // Default tickTime: heartbeats every 100 ms, the highest id times out first at 300 ms
    // (3 heartbeats), each lower rank 50 ms later (tick/16, capped).
    let t = |tick, rank| {
        let t = Timings::for_tick(tick, rank);
        (t.heartbeat, t.election_min, t.election_max)
    };
    assert_eq!(t(2000, 0), (100, 300, 350));
    assert_eq!(t(2000, 1), (100, 350, 400));
    assert_eq!(t(2000, 2), (100, 400, 450));
    // Ticks up to a second keep a quarter tick (what short test ticks were tuned with).
    assert_eq!(t(1000, 0), (50, 250, 300));
    assert_eq!(t(400, 0), (20, 100, 125));
    assert_eq!(t(100, 0), (10, 30, 40));
    // Long ticks scale: an eighth of the tick.
    assert_eq!(t(8000, 0), (400, 1200, 1250));
    for tick in [10, 100, 1000, 2000, 3000, 60_000] {
        for rank in 0..5 {
            let timings = Timings::for_tick(tick, rank);
            assert!(
                timings.election_min >= 3 * timings.heartbeat,
                "{tick} {rank}"
            );
            assert!(timings.election_max > timings.election_min, "{tick} {rank}");
            if rank > 0 {
                // A lower rank's earliest timeout is no earlier than a higher rank's latest.
                assert!(timings.election_min >= Timings::for_tick(tick, rank - 1).election_max);
            }
        }
    }
}
