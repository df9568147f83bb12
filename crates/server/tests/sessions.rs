//! Sessions of the real `arbor server`: negotiated timeouts, expiry (ephemerals deleted,
//! watchers told), resume with id + password, and refusal of a client that saw the future.

mod common;

use std::time::{Duration, Instant};

use arbor_proto::records::{ExistsRequest, GetChildrenRequest, GetDataRequest};
use arbor_proto::{CreateMode, ErrorCode, EventType, Request};
use arbor_test_support::ArborServer;

use common::raw::{connect_request, RawConn};

const TICK_MS: u64 = 200;
const MIN_TIMEOUT_MS: i32 = 400;
const MAX_TIMEOUT_MS: i32 = 4000;
/// The owner sessions' timeout in the expiry tests.
const OWNER_TIMEOUT_MS: i32 = 1000;
/// Scheduling noise allowed on top of timeout + tick (debug build, 2 shared cores).
const SLACK: Duration = Duration::from_millis(700);

fn start() -> ArborServer {
    common::start_arbor(&[
        ("tickTime", &TICK_MS.to_string()),
        ("minSessionTimeout", &MIN_TIMEOUT_MS.to_string()),
        ("maxSessionTimeout", &MAX_TIMEOUT_MS.to_string()),
    ])
}

fn ok(reply: common::raw::Reply, what: &str) {
    assert_eq!(reply.error(), Some(ErrorCode::Ok), "{what}");
}

#[test]
fn negotiated_timeouts_are_clamped_to_the_configured_bounds() {
    let server = start();
    for (asked, granted) in [
        (100, MIN_TIMEOUT_MS),
        (OWNER_TIMEOUT_MS, OWNER_TIMEOUT_MS),
        (60_000, MAX_TIMEOUT_MS),
    ] {
        let (_, response) = RawConn::new_session(server.addr(), asked);
        assert_eq!(response.timeout_ms, granted, "asked for {asked} ms");
        assert_eq!(response.password.len(), 16);
    }
}

#[test]
fn expiry_deletes_ephemerals_within_timeout_plus_a_tick_and_tells_watchers() {
    let server = start();
    let (mut watcher, _) = RawConn::new_session(server.addr(), MAX_TIMEOUT_MS);
    assert_eq!(
        watcher.create("/svc", b"", CreateMode::Persistent),
        Some(ErrorCode::Ok)
    );

    let (mut owner, owner_session) = RawConn::new_session(server.addr(), OWNER_TIMEOUT_MS);
    assert_eq!(owner_session.timeout_ms, OWNER_TIMEOUT_MS);
    assert_eq!(
        owner.create("/svc/me", b"up", CreateMode::Ephemeral),
        Some(ErrorCode::Ok)
    );
    assert_eq!(
        owner.create("/svc/seq-", b"", CreateMode::EphemeralSequential),
        Some(ErrorCode::Ok)
    );

    ok(
        watcher.call(&Request::Exists(ExistsRequest {
            path: "/svc/me".into(),
            watch: true,
        })),
        "exists watch",
    );
    ok(
        watcher.call(&Request::GetData(GetDataRequest {
            path: "/svc/me".into(),
            watch: true,
        })),
        "data watch",
    );
    ok(
        watcher.call(&Request::GetChildren(GetChildrenRequest {
            path: "/svc".into(),
            watch: true,
        })),
        "child watch",
    );

    // The owner's last message was answered now; from here on it is silent (no pings), with
    // its TCP connection still open, as a hung process would be.
    let silent_since = Instant::now();
    let mut events = Vec::new();
    while events.len() < 2 {
        let budget = Duration::from_millis(OWNER_TIMEOUT_MS as u64 + TICK_MS) + SLACK;
        let left = budget.saturating_sub(silent_since.elapsed());
        match watcher.next_event(left) {
            Some(event) => events.push((event.event(), event.path, silent_since.elapsed())),
            None => panic!(
                "ephemerals not deleted within {budget:?} (timeout {OWNER_TIMEOUT_MS} ms + tick \
                 {TICK_MS} ms + slack); events so far {events:?}; log:\n{}",
                server.log_tail()
            ),
        }
    }
    // Both watches on /svc/me fire as one NodeDeleted (same path, same watcher).
    let kinds: Vec<_> = events.iter().map(|(e, p, _)| (*e, p.as_str())).collect();
    assert!(
        kinds.contains(&(Some(EventType::NodeDeleted), "/svc/me")),
        "{events:?}"
    );
    assert!(
        kinds.contains(&(Some(EventType::NodeChildrenChanged), "/svc")),
        "{events:?}"
    );
    eprintln!("events after the owner went silent: {events:?}");
    let extra = watcher.next_event(Duration::from_millis(300));
    assert_eq!(extra, None, "one event per path and watcher");
    let first = events.iter().map(|(_, _, t)| *t).min().unwrap_or_default();
    assert!(
        first + Duration::from_millis(100) >= Duration::from_millis(OWNER_TIMEOUT_MS as u64),
        "expired after {first:?}, before its {OWNER_TIMEOUT_MS} ms timeout"
    );
    let reply = watcher.call(&Request::GetChildren(GetChildrenRequest {
        path: "/svc".into(),
        watch: false,
    }));
    ok(reply, "children after expiry");
    assert_eq!(watcher.get_data("/svc/me"), Err(ErrorCode::NoNode));

    // The expired session cannot be resumed, and its old connection is closed.
    let mut again = RawConn::open(server.addr());
    let refused = again
        .handshake(&connect_request(
            0,
            owner_session.session_id,
            owner_session.password.clone(),
            OWNER_TIMEOUT_MS,
        ))
        .expect("a refusal is answered");
    assert_eq!((refused.session_id, refused.timeout_ms), (0, 0));
    assert!(
        owner.closed_within(Duration::from_secs(5)),
        "expired session's connection stays open"
    );
}

#[test]
fn resuming_with_id_and_password_keeps_the_session_and_its_ephemerals() {
    let server = start();
    let (mut first, session) = RawConn::new_session(server.addr(), OWNER_TIMEOUT_MS);
    assert_eq!(
        first.create("/mine", b"", CreateMode::Ephemeral),
        Some(ErrorCode::Ok)
    );
    drop(first);

    // Half a timeout later (the session still lives), move to a new connection.
    std::thread::sleep(Duration::from_millis(OWNER_TIMEOUT_MS as u64 / 2));
    let mut second = RawConn::open(server.addr());
    let resumed = second
        .handshake(&connect_request(
            0,
            session.session_id,
            session.password.clone(),
            OWNER_TIMEOUT_MS,
        ))
        .expect("resumed");
    assert_eq!(resumed.session_id, session.session_id);
    assert_eq!(resumed.password, session.password);
    assert_eq!(resumed.timeout_ms, OWNER_TIMEOUT_MS);

    // Kept alive by pings for three timeouts, the ephemeral stays.
    let until = Instant::now() + Duration::from_millis(3 * OWNER_TIMEOUT_MS as u64);
    while Instant::now() < until {
        ok(second.ping(), "ping");
        std::thread::sleep(Duration::from_millis(TICK_MS));
    }
    assert_eq!(second.get_data("/mine"), Ok(Vec::new()));
    let (mut other, _) = RawConn::new_session(server.addr(), MAX_TIMEOUT_MS);
    assert_eq!(other.get_data("/mine"), Ok(Vec::new()));
}

#[test]
fn a_client_that_saw_a_newer_zxid_is_refused_without_a_response() {
    let server = start();
    let (mut conn, _) = RawConn::new_session(server.addr(), MAX_TIMEOUT_MS);
    assert_eq!(
        conn.create("/z", b"", CreateMode::Persistent),
        Some(ErrorCode::Ok)
    );
    let last_zxid = conn
        .call(&Request::Exists(ExistsRequest {
            path: "/z".into(),
            watch: false,
        }))
        .header
        .zxid;
    assert!(last_zxid > 0);

    let mut future = RawConn::open(server.addr());
    let answer = future.handshake(&connect_request(last_zxid + 1000, 0, vec![0; 16], 4000));
    assert_eq!(
        answer, None,
        "a client ahead of the server must be closed, not answered"
    );

    // Exactly the server's zxid is fine.
    let mut current = RawConn::open(server.addr());
    let response = current
        .handshake(&connect_request(last_zxid, 0, vec![0; 16], 4000))
        .expect("a client at the server's zxid is accepted");
    assert_ne!(response.session_id, 0);
}

#[test]
fn after_a_restart_a_resumed_session_keeps_its_ephemerals_and_an_absent_one_expires() {
    let mut server = start();
    let (mut leaving, _) = RawConn::new_session(server.addr(), OWNER_TIMEOUT_MS);
    assert_eq!(
        leaving.create("/left", b"", CreateMode::Ephemeral),
        Some(ErrorCode::Ok)
    );
    let (mut staying, stay) = RawConn::new_session(server.addr(), MAX_TIMEOUT_MS);
    assert_eq!(
        staying.create("/kept", b"", CreateMode::Ephemeral),
        Some(ErrorCode::Ok)
    );
    server.kill9();
    drop((leaving, staying));
    server.restart();

    // Sessions are replicated state: the staying one resumes on the restarted server.
    let mut staying = RawConn::open(server.addr());
    let resumed = staying
        .handshake(&connect_request(
            0,
            stay.session_id,
            stay.password.clone(),
            MAX_TIMEOUT_MS,
        ))
        .expect("resume after restart");
    assert_eq!(
        resumed.session_id, stay.session_id,
        "session lost in the restart"
    );
    assert_eq!(staying.get_data("/kept"), Ok(Vec::new()));

    // The other one never comes back and expires.
    let budget = Duration::from_millis(OWNER_TIMEOUT_MS as u64 + TICK_MS) + SLACK;
    let gone = common::wait_until(budget, || {
        staying.ping();
        staying.get_data("/left") == Err(ErrorCode::NoNode)
    });
    assert!(
        gone,
        "/left still exists {budget:?} after the restart; log:\n{}",
        server.log_tail()
    );
    assert_eq!(staying.get_data("/kept"), Ok(Vec::new()));
}
