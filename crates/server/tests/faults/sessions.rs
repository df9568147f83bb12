//! Sessions across members: an ephemeral owner SIGSTOPped past its timeout loses its
//! ephemeral on every member exactly once; a session that moves to another member in time
//! keeps its ephemerals, and its watches when its server dies.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arbor_proto::records::SetWatches2;
use arbor_proto::{AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, Request};
use arbor_test_support::arbor_bin;
use zookeeper_client as zk;

use crate::common::raw::{connect_request, RawConn};
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

/// Syncs `client` (so its server applied every acknowledged write and queued the
/// notifications for them before the reply) and asserts the notifications it got since the
/// last call are exactly `expected`, in order.
fn assert_events(client: &mut RawConn, expected: &[(EventType, &str)], what: &str) {
    client.sync("/w");
    let events = client.take_events();
    for event in &events {
        assert_eq!(
            event.keeper_state(),
            Some(KeeperState::SyncConnected),
            "{what}: {event:?}"
        );
    }
    let got: Vec<(Option<EventType>, &str)> = events
        .iter()
        .map(|e| (e.event(), e.path.as_str()))
        .collect();
    let expected: Vec<(Option<EventType>, &str)> =
        expected.iter().map(|&(t, path)| (Some(t), path)).collect();
    assert_eq!(got, expected, "{what}");
}

/// A client with a data, an exist, a child and a persistent-recursive watch (and an
/// ephemeral) on member A; A is killed; the client moves its session to B and re-registers
/// its watches with setWatches2 exactly as ZooKeeper's Java client does (relativeZxid = the
/// last zxid it saw). Changes it missed while away fire at once; later changes made through a
/// third member fire each watch as ZooKeeper would (one notification per change and
/// connection; one-shot watches once, the recursive one every time); its ephemeral stays past
/// the session timeout. (The `zookeeper-client` crate is not used for the move: 0.11 sends
/// setWatches, not setWatches2, and so drops persistent watches on reconnect.)
#[test]
fn watches_and_ephemerals_survive_a_move_when_the_server_dies() {
    const TIMEOUT_MS: i32 = 5000;
    const OTHERS_MS: i32 = 20_000;
    let within = Duration::from_secs(15);
    let mut cluster = Cluster::loopback(3, opts());
    // A is the leader: its death also hands session expiry to a new leader.
    let a = cluster.ensemble.wait_for_leader(within);
    let others: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != a).collect();
    let (b, c) = (others[0], others[1]);

    let (mut setup, _) = RawConn::new_session_within(cluster.addr(c), OTHERS_MS, within);
    for path in [
        "/w",
        "/w/data",
        "/w/changed",
        "/w/gone",
        "/w/kids",
        "/w/kids2",
    ] {
        let created = setup.create(path, b"0", CreateMode::Persistent);
        assert_eq!(created, Some(ErrorCode::Ok), "create {path}");
    }
    drop(setup);

    let (mut client, session) = RawConn::new_session_within(cluster.addr(a), TIMEOUT_MS, within);
    client.sync("/w");
    let created = client.create("/w/eph", b"mine", CreateMode::Ephemeral);
    assert_eq!(created, Some(ErrorCode::Ok));
    for path in ["/w/data", "/w/changed", "/w/gone"] {
        client.watch_data(path);
    }
    client.watch_children("/w/kids");
    client.watch_children("/w/kids2");
    assert_eq!(client.exists("/w/kids/born", true), None);
    client.add_watch("/w", AddWatchMode::PersistentRecursive);
    let last_zxid = client.last_zxid;
    assert!(client.take_events().is_empty());
    assert!(last_zxid > 0);

    // A dies. While the client is away, writes through C change, delete and add to what it
    // watches; B applies them before the client arrives, so they are missed changes.
    cluster.ensemble.member_mut(a).kill9();
    let killed_at = Instant::now();
    let (mut writer, _) = RawConn::new_session_within(cluster.addr(c), OTHERS_MS, within);
    writer.set_data("/w/changed", b"1");
    writer.delete("/w/gone");
    let created = writer.create("/w/kids2/new", b"", CreateMode::Persistent);
    assert_eq!(created, Some(ErrorCode::Ok));
    let (mut probe, _) = RawConn::new_session_within(cluster.addr(b), OTHERS_MS, within);
    probe.sync("/w");

    let mut client = RawConn::resume_session(
        cluster.addr(b),
        session.session_id,
        &session.password,
        last_zxid,
        TIMEOUT_MS,
        within,
    );
    eprintln!(
        "session {:#x} moved from {a} to {b} {:?} after the kill",
        session.session_id,
        killed_at.elapsed()
    );
    client.ok(
        &Request::SetWatches2(SetWatches2 {
            relative_zxid: last_zxid,
            data_watches: vec!["/w/data".into(), "/w/changed".into(), "/w/gone".into()],
            exist_watches: vec!["/w/kids/born".into()],
            child_watches: vec!["/w/kids".into(), "/w/kids2".into()],
            persistent_watches: vec![],
            persistent_recursive_watches: vec!["/w".into()],
        }),
        "setWatches2",
    );
    use EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted};
    assert_events(
        &mut client,
        &[
            (NodeDataChanged, "/w/changed"),
            (NodeDeleted, "/w/gone"),
            (NodeChildrenChanged, "/w/kids2"),
        ],
        "changes missed while away fire when the watches are re-registered",
    );

    // Live changes through C.
    writer.set_data("/w/data", b"1");
    assert_events(
        &mut client,
        &[(NodeDataChanged, "/w/data")],
        "a data watch and the recursive watch: one notification",
    );
    let created = writer.create("/w/kids/born", b"", CreateMode::Persistent);
    assert_eq!(created, Some(ErrorCode::Ok));
    assert_events(
        &mut client,
        &[
            (NodeCreated, "/w/kids/born"),
            (NodeChildrenChanged, "/w/kids"),
        ],
        "the exist watch (with the recursive one) and the child watch",
    );
    writer.set_data("/w/data", b"2");
    assert_events(
        &mut client,
        &[(NodeDataChanged, "/w/data")],
        "the recursive watch again; the data watch fired once",
    );
    let created = writer.create("/w/kids/second", b"", CreateMode::Persistent);
    assert_eq!(created, Some(ErrorCode::Ok));
    assert_events(
        &mut client,
        &[(NodeCreated, "/w/kids/second")],
        "the recursive watch; the child watch fired once",
    );
    writer.set_data("/w/changed", b"2");
    assert_events(
        &mut client,
        &[(NodeDataChanged, "/w/changed")],
        "the recursive watch on a node whose data watch fired on re-registration",
    );

    // The session's ephemeral is intact everywhere, and stays past the session timeout
    // while the client pings B.
    let owner = |conn: &mut RawConn| conn.exists("/w/eph", false).map(|s| s.ephemeral_owner);
    let until = Instant::now() + Duration::from_millis(TIMEOUT_MS as u64 + 1000);
    while Instant::now() < until {
        client.ping();
        std::thread::sleep(Duration::from_millis(500));
    }
    for (id, conn) in [(b, &mut probe), (c, &mut writer)] {
        conn.sync("/w");
        assert_eq!(
            owner(conn),
            Some(session.session_id),
            "member {id}: the moved session's ephemeral"
        );
    }
    assert!(client.take_events().is_empty(), "no more notifications");
}

/// A session created through the leader moves, before its client sent any request (so with
/// lastZxidSeen 0), to a follower that has not applied the session's creation yet: a follower
/// SIGSTOPped for a moment (shorter than its election timeout, so it serves as soon as it
/// runs), whose kernel queued the handshake. The follower must not declare the live session
/// expired from its stale table (ZooKeeper's followers revalidate a session with the
/// leader); it takes the session once it has caught up.
#[test]
fn a_member_behind_does_not_expire_a_session_it_has_not_applied_yet() {
    let within = Duration::from_secs(10);
    let cluster = Cluster::loopback(3, opts());
    let leader = cluster.ensemble.wait_for_leader(within);
    let behind = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let member = cluster.ensemble.member(behind);
    let (mut probe, _) = RawConn::new_session_within(cluster.addr(behind), 20_000, within);
    probe.sync("/");

    member.signal("STOP");
    let (first, session) = RawConn::new_session_within(cluster.addr(leader), 20_000, within);
    drop(first);
    let request = connect_request(0, session.session_id, session.password.clone(), 20_000);
    let addr = cluster.addr(behind);
    let attempt = std::thread::spawn(move || RawConn::open(addr).handshake(&request));
    // Let the handshake reach the stopped member's socket.
    std::thread::sleep(Duration::from_millis(100));
    member.signal("CONT");
    match attempt.join().unwrap() {
        None => eprintln!("the member behind refused the session"),
        Some(response) => assert_eq!(
            response.session_id, session.session_id,
            "the member behind declared a live session expired: {response:?}"
        ),
    }
    let mut moved = RawConn::resume_session(
        cluster.addr(behind),
        session.session_id,
        &session.password,
        0,
        20_000,
        within,
    );
    moved.sync("/");
    let created = moved.create("/still-alive", b"", CreateMode::Ephemeral);
    assert_eq!(created, Some(ErrorCode::Ok));
}
