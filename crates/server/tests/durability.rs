//! Durability of the real `arbor server`: acknowledged writes survive kill -9, a torn log tail
//! is cut off, a corrupt log middle is refused, snapshots and their retention work.
//!
//! Log layout (crates/quorum/src/log_store/record.rs): `dataLogDir/log-<first index>.seg` is a
//! 16-byte header followed by records `[len u32 LE][crc32 u32 LE][payload]`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbor_test_support::{ArborServer, HarnessError};
use futures::future::join_all;
use zookeeper_client as zk;

use common::zk::{connect, persistent};

/// Requests a client keeps in flight at once when writing or reading in bulk.
const PIPELINE: usize = 50;

fn data_for(path: &str) -> Vec<u8> {
    format!("data of {path}").into_bytes()
}

/// Creates `paths` (with [`data_for`]) through one client, [`PIPELINE`] at a time; panics on
/// any failure.
async fn create_all(client: &zk::Client, paths: &[String]) {
    for chunk in paths.chunks(PIPELINE) {
        let results = join_all(
            chunk
                .iter()
                .map(|p| async move { (p, client.create(p, &data_for(p), &persistent()).await) }),
        )
        .await;
        for (path, result) in results {
            if let Err(e) = result {
                panic!("create {path}: {e}");
            }
        }
    }
}

/// The paths in `expected` that are missing or hold the wrong data.
async fn missing_or_wrong(client: &zk::Client, expected: &[String]) -> Vec<String> {
    let mut bad = Vec::new();
    for chunk in expected.chunks(PIPELINE) {
        let results = join_all(
            chunk
                .iter()
                .map(|p| async move { (p, client.get_data(p).await) }),
        )
        .await;
        for (path, result) in results {
            match result {
                Ok((data, _)) if data == data_for(path) => {}
                Ok((data, _)) => {
                    bad.push(format!("{path}: data {:?}", String::from_utf8_lossy(&data)))
                }
                Err(e) => bad.push(format!("{path}: {e}")),
            }
        }
    }
    bad
}

async fn assert_all_present(server: &ArborServer, expected: &[String]) {
    let client = connect(&server.connect_string()).await;
    let bad = missing_or_wrong(&client, expected).await;
    assert!(
        bad.is_empty(),
        "{} of {} acknowledged nodes lost or wrong after restart, e.g. {:?}\nlog:\n{}",
        bad.len(),
        expected.len(),
        &bad[..bad.len().min(5)],
        server.log_tail()
    );
}

fn restart(server: &mut ArborServer) {
    tokio::task::block_in_place(|| server.restart());
}

fn kill9(server: &mut ArborServer) {
    tokio::task::block_in_place(|| server.kill9());
}

fn files_matching(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    found.sort();
    found
}

/// The segment appended to last (names carry the zero-padded first index, so they sort).
fn newest_segment(server: &ArborServer) -> PathBuf {
    files_matching(server.data_dir(), "log-", ".seg")
        .pop()
        .unwrap_or_else(|| panic!("no log-*.seg in {}", server.data_dir().display()))
}

fn paths(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}/n{i:04}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_from_concurrent_clients_survive_kill9() {
    let mut server = common::start_arbor(&[]);
    let setup = connect(&server.connect_string()).await;
    setup.create("/acked", b"", &persistent()).await.unwrap();

    let writers = 4;
    let per_writer = 125;
    let mut all = Vec::new();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mine: Vec<String> = (0..per_writer)
            .map(|i| format!("/acked/w{w}-{i:04}"))
            .collect();
        all.extend(mine.iter().cloned());
        let connect_string = server.connect_string();
        tasks.push(tokio::spawn(async move {
            let client = connect(&connect_string).await;
            create_all(&client, &mine).await;
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    assert_eq!(all.len(), 500);

    kill9(&mut server);
    restart(&mut server);
    assert_all_present(&server, &all).await;
    let client = connect(&server.connect_string()).await;
    let stat = client.check_stat("/acked").await.unwrap().expect("/acked");
    assert_eq!(stat.num_children, 500, "nothing extra either");
}

/// Writes numbered nodes until the server goes away; records each path once its reply arrived.
async fn write_until_failure(
    connect_string: String,
    prefix: String,
    attempted: Arc<Mutex<BTreeSet<String>>>,
    acked: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<AtomicBool>,
) {
    let client = &connect(&connect_string).await;
    let mut next = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let batch: Vec<String> = (next..next + 8)
            .map(|i| format!("{prefix}-{i:06}"))
            .collect();
        next += batch.len();
        attempted.lock().unwrap().extend(batch.iter().cloned());
        let results = join_all(
            batch
                .iter()
                .map(|p| async move { (p, client.create(p, &data_for(p), &persistent()).await) }),
        )
        .await;
        let mut failed = false;
        for (path, result) in results {
            match result {
                Ok(_) => {
                    acked.lock().unwrap().insert(path.clone());
                }
                Err(_) => failed = true,
            }
        }
        if failed {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_kill9_under_load_loses_no_acknowledged_write() {
    // A snapshot every 100 txns: snapshots are written while the writers' txns keep being
    // applied, and each restart restores one of them, so a snapshot that caught a change
    // made after its point (or missed one before it) shows up as a lost or phantom node.
    let mut server = common::start_arbor(&[("snapCount", "100")]);
    let setup = connect(&server.connect_string()).await;
    setup.create("/load", b"", &persistent()).await.unwrap();
    drop(setup);
    let attempted = Arc::new(Mutex::new(BTreeSet::new()));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));

    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                tokio::spawn(write_until_failure(
                    server.connect_string(),
                    format!("/load/r{round}w{w}"),
                    attempted.clone(),
                    acked.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        // Let the writers get going, then kill the server under them.
        let before = acked.lock().unwrap().len();
        let progressed = tokio::task::block_in_place(|| {
            common::wait_until(Duration::from_secs(20), || {
                acked.lock().unwrap().len() >= before + 100
            })
        });
        assert!(progressed, "writers made no progress in round {round}");
        kill9(&mut server);
        stop.store(true, Ordering::SeqCst);
        for writer in writers {
            // Each writer stops at its first failed reply (connection loss).
            tokio::time::timeout(Duration::from_secs(30), writer)
                .await
                .expect("writer stops after the kill")
                .expect("writer task");
        }
        restart(&mut server);

        let acked_now: Vec<String> = acked.lock().unwrap().iter().cloned().collect();
        assert_all_present(&server, &acked_now).await;
        // And nothing appears that no one asked for.
        let client = connect(&server.connect_string()).await;
        let present = client.list_children("/load").await.unwrap();
        let attempted = attempted.lock().unwrap();
        for child in present {
            let path = format!("/load/{child}");
            assert!(attempted.contains(&path), "{path} was never written");
        }
    }
    let snapshots = files_matching(server.data_dir(), "snapshot-", ".snap");
    assert!(!snapshots.is_empty(), "no snapshot was written under load");
}

/// Writes `paths` through a fresh client, then SIGKILLs the server.
async fn write_then_kill(server: &mut ArborServer, paths: &[String]) {
    let client = connect(&server.connect_string()).await;
    create_all(&client, paths).await;
    kill9(server);
}

/// Creates `paths` one at a time (each acknowledged before the next is sent), then kill -9.
/// Concurrent writes share log records (the quorum batches them into one Raft entry); one at
/// a time, each create is its own record, so "the last record" is exactly the last create.
async fn write_one_by_one_then_kill(server: &mut ArborServer, paths: &[String]) {
    let client = connect(&server.connect_string()).await;
    for path in paths {
        if let Err(e) = client.create(path, &data_for(path), &persistent()).await {
            panic!("create {path}: {e}");
        }
    }
    kill9(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_is_cut_off_and_the_rest_recovered() {
    let mut server = common::start_arbor(&[]);
    let setup = connect(&server.connect_string()).await;
    setup.create("/torn", b"", &persistent()).await.unwrap();
    drop(setup);

    // Round 1: the last record loses its final bytes, as if the crash interrupted its write.
    let first = paths("/torn", 0..40);
    write_one_by_one_then_kill(&mut server, &first).await;
    let segment = newest_segment(&server);
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len - 3).unwrap();
    drop(file);
    restart(&mut server);
    // The last create was the last record written: it is the one torn away.
    let (kept, torn) = first.split_at(first.len() - 1);
    assert_all_present(&server, kept).await;
    let client = connect(&server.connect_string()).await;
    assert_eq!(
        client.check_stat(&torn[0]).await.unwrap(),
        None,
        "the torn record cannot have been applied"
    );
    drop(client);

    // Round 2: a partial record (a header promising more bytes than follow) and zeros after it.
    let second = paths("/torn", 100..140);
    write_then_kill(&mut server, &second).await;
    let segment = newest_segment(&server);
    let mut tail = Vec::new();
    tail.extend_from_slice(&1000u32.to_le_bytes());
    tail.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    tail.extend_from_slice(&[0x5a; 100]);
    tail.extend_from_slice(&[0; 512]);
    append(&segment, &tail);
    restart(&mut server);
    assert_all_present(&server, kept).await;
    assert_all_present(&server, &second).await;

    // The server appends after the cut: new writes survive another kill.
    let third = paths("/torn", 200..210);
    write_then_kill(&mut server, &third).await;
    restart(&mut server);
    assert_all_present(&server, &third).await;
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.write_all(bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_before_valid_ones_is_refused_not_repaired() {
    let mut server = common::start_arbor(&[]);
    let setup = connect(&server.connect_string()).await;
    setup.create("/c", b"", &persistent()).await.unwrap();
    drop(setup);
    write_then_kill(&mut server, &paths("/c", 0..60)).await;

    let segment = newest_segment(&server);
    let mut bytes = std::fs::read(&segment).unwrap();
    // Dozens of records follow the middle of the file.
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&segment, &bytes).unwrap();
    let name = segment.file_name().unwrap().to_str().unwrap().to_string();

    for attempt in 0..2 {
        let result = tokio::task::block_in_place(|| server.try_restart());
        match result {
            Err(HarnessError::ExitedEarly {
                status, log_tail, ..
            }) => {
                assert!(!status.contains("exit status: 0"), "{status}");
                assert!(
                    log_tail.contains(&name),
                    "attempt {attempt}: the error must name {name}:\n{log_tail}"
                );
            }
            Ok(()) => panic!(
                "attempt {attempt}: the server started on a corrupt log; log:\n{}",
                server.log_tail()
            ),
            Err(other) => panic!("attempt {attempt}: {other}"),
        }
        // Nothing was truncated or rewritten behind the operator's back.
        assert_eq!(
            std::fs::read(&segment).unwrap(),
            bytes,
            "attempt {attempt}: the segment was modified"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_restore_the_tree_and_retention_keeps_three() {
    let mut server =
        common::start_arbor(&[("snapCount", "100"), ("autopurge.snapRetainCount", "3")]);
    let client = connect(&server.connect_string()).await;
    client.create("/snap", b"", &persistent()).await.unwrap();
    let all = paths("/snap", 0..1000);
    create_all(&client, &all).await;
    drop(client);

    let data_dir = server.data_dir().to_path_buf();
    let snapshots = || files_matching(&data_dir, "snapshot-", ".snap");
    // Retention runs in the background after each snapshot.
    let retained = tokio::task::block_in_place(|| {
        common::wait_until(Duration::from_secs(10), || {
            let n = snapshots().len();
            (1..=3).contains(&n)
        })
    });
    assert!(
        retained,
        "expected 1..=3 snapshot files with snapCount=100 after 1000 writes, found {:?}",
        snapshots()
    );

    kill9(&mut server);
    restart(&mut server);
    assert_all_present(&server, &all).await;
    let client = connect(&server.connect_string()).await;
    let stat = client.check_stat("/snap").await.unwrap().expect("/snap");
    assert_eq!(stat.num_children, 1000);
    // Replaying the log may cross snapCount again: a new snapshot is renamed into place a
    // moment before retention removes the oldest, so judge retention once it has run.
    let retained = tokio::task::block_in_place(|| {
        common::wait_until(Duration::from_secs(10), || snapshots().len() <= 3)
    });
    assert!(retained, "after restart: {:?}", snapshots());
}
