//! Sessions across members: an ephemeral owner SIGSTOPped past its timeout loses its
//! ephemeral on every member exactly once; a session that moves to another member in time
//! keeps its ephemerals.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arbor_test_support::arbor_bin;
use zookeeper_client as zk;

use crate::support::{connect, leader_among, opts, persistent, Cluster};

const OWNER_TIMEOUT: Duration = Duration::from_secs(3);

/// `arbor shell` as a separate client process (so it can be SIGSTOPped); killed on drop.
struct ShellProcess {
    child: Child,
}

impl ShellProcess {
    /// Starts the shell against `server`, runs `command` and waits for the line it must print.
    fn run(server: &str, timeout: Duration, command: &str, expect: &str) -> ShellProcess {
        let mut child = Command::new(arbor_bin())
            .args(["shell", "--server", server, "--timeout-ms"])
            .arg(timeout.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn arbor shell");
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{command}").unwrap();
        // Keep stdin open: at end of input the shell would quit.
        std::mem::forget(stdin);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains(expect) => break,
                Some(Ok(line)) => seen.push(line),
                _ => {
                    let _ = child.kill();
                    panic!("arbor shell did not print {expect:?}; it printed {seen:?}");
                }
            }
        }
        ShellProcess { child }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for ShellProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts the events for `path` on a persistent recursive watch until `quiet` passes with
/// none, or `until` is reached.
async fn deletions(watcher: &mut zk::PersistentWatcher, path: &str, until: Instant) -> usize {
    let mut count = 0;
    let quiet = Duration::from_secs(1);
    loop {
        let now = Instant::now();
        if now >= until {
            return count;
        }
        let wait = if count > 0 { quiet } else { until - now };
        match tokio::time::timeout(wait, watcher.changed()).await {
            Ok(event) if event.path == path && event.event_type == zk::EventType::NodeDeleted => {
                count += 1
            }
            Ok(_) => {}
            Err(_) => return count,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_owner_loses_its_ephemeral_everywhere_once_and_a_moved_session_keeps_it() {
    let cluster = Cluster::loopback(3, opts());
    let all = cluster.ids();
    let leader = leader_among(&cluster, &all, Duration::from_secs(15)).await;
    let follower = *all.iter().find(|&&id| id != leader).unwrap();
    let setup = connect(&cluster.connect_string(&all), Duration::from_secs(20)).await;
    setup.create("/eph", b"", &persistent()).await.unwrap();

    // A watcher on every member, on the whole /eph subtree.
    let mut watchers = Vec::new();
    for &id in &all {
        let client = connect(&cluster.connect_string(&[id]), Duration::from_secs(20)).await;
        let watcher = client
            .watch("/eph", zk::AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        watchers.push((id, client, watcher));
    }

    // The owner, a separate process on a follower, creates its ephemeral and is stopped.
    let owner = ShellProcess::run(
        &cluster.connect_string(&[follower]),
        OWNER_TIMEOUT,
        "create -e /eph/owned by-the-shell",
        "Created /eph/owned",
    );
    for (id, client, _) in &watchers {
        client.sync("/eph").await.unwrap();
        let stat = client.check_stat("/eph/owned").await.unwrap();
        assert!(
            stat.is_some_and(|s| s.ephemeral_owner != 0),
            "member {id} lacks the ephemeral"
        );
    }
    owner.signal("STOP");
    let stopped_at = Instant::now();

    // Expiry deletes it once, seen by the watchers on every member; nothing before the timeout.
    let until = stopped_at + OWNER_TIMEOUT * 4;
    for (id, _, watcher) in &mut watchers {
        let count = deletions(watcher, "/eph/owned", until).await;
        assert_eq!(count, 1, "NodeDeleted events for /eph/owned on member {id}");
    }
    let gone_after = stopped_at.elapsed();
    assert!(
        gone_after >= OWNER_TIMEOUT,
        "the ephemeral went after {gone_after:?}, before the {OWNER_TIMEOUT:?} timeout"
    );
    for (id, client, _) in &watchers {
        client.sync("/eph").await.unwrap();
        assert_eq!(
            client.check_stat("/eph/owned").await.unwrap(),
            None,
            "member {id} still has the expired ephemeral"
        );
    }
    drop(owner);

    // A session that moves to another member within its timeout keeps its ephemeral.
    let timeout = Duration::from_secs(4);
    let first = zk::Client::connector()
        .with_session_timeout(timeout)
        .with_detached()
        .connect(&cluster.connect_string(&[follower]))
        .await
        .unwrap();
    first
        .create(
            "/eph/kept",
            b"moved",
            &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
    let session = first.session().clone();
    let session_id = first.session_id();
    // Detached: dropping it closes the connection without closing the session.
    drop(first);
    let elsewhere = *all.iter().find(|&&id| id != follower).unwrap();
    let moved = zk::Client::connector()
        .with_session_timeout(timeout)
        .with_session(session)
        .connect(&cluster.connect_string(&[elsewhere]))
        .await
        .expect("resume the session on another member");
    assert_eq!(moved.session_id(), session_id);
    // Well past the timeout, the ephemeral is still there on every member, owned by it.
    tokio::time::sleep(timeout * 2).await;
    moved.sync("/").await.expect("the moved session is alive");
    for (id, client, _) in &watchers {
        client.sync("/eph").await.unwrap();
        let stat = client.check_stat("/eph/kept").await.unwrap();
        assert_eq!(
            stat.map(|s| s.ephemeral_owner),
            Some(session_id.0),
            "member {id}: the moved session's ephemeral"
        );
    }
}
