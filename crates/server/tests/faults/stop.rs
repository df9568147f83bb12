//! SIGSTOP of the leader for longer than the session timeout, then SIGCONT.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_proto::records::GetDataRequest;
use arbor_proto::{ErrorCode, OpCode, Request, Response};
use zookeeper_client as zk;

use crate::common::raw::{connect_request, RawConn};
use crate::support::{
    connect, eventually, is_leader, leader_among, opts, persistent, status, Cluster, Status,
};

/// The old leader's own client: shorter than the stop, so it expires meanwhile.
const SESSION_TIMEOUT: Duration = Duration::from_secs(3);
const STOP_FOR: Duration = Duration::from_secs(7);
/// The old leader must stop acting as one this soon after it runs again (its serving grace is
/// about a second with tickTime 1000; this leaves room for a loaded machine).
const STEP_DOWN_DEADLINE: Duration = Duration::from_secs(5);

/// One plain read by the old leader's own client after SIGCONT: data and version.
#[derive(Debug)]
struct PlainRead {
    started: Instant,
    result: Result<(Vec<u8>, i32), zk::Error>,
}

/// One attempt of a session that had read v2 elsewhere to move to the old leader.
#[derive(Debug)]
enum Move {
    /// The handshake was refused (not serving, or behind the zxid the client has seen).
    Refused,
    /// The old leader said the live session had expired.
    Expired,
    /// Accepted; a plain read of `/r` there.
    Read(Result<Vec<u8>, ErrorCode>),
    /// Accepted, but the connection closed before the read was answered (the old leader
    /// noticed it no longer serves).
    Dropped,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_leader_is_replaced_steps_down_and_never_serves_stale_state() {
    let cluster = Cluster::loopback(3, opts());
    let all = cluster.ids();
    let old = leader_among(&cluster, &all, Duration::from_secs(15)).await;
    let others: Vec<u64> = all.iter().copied().filter(|&id| id != old).collect();
    let on_old = connect(&cluster.connect_string(&[old]), SESSION_TIMEOUT).await;
    on_old.create("/r", b"v1", &persistent()).await.unwrap();
    let mut old_state = on_old.state_watcher();
    // A client of the old leader whose session outlives the stop.
    let on_old_long = connect(&cluster.connect_string(&[old]), Duration::from_secs(20)).await;
    let on_others = connect(&cluster.connect_string(&others), Duration::from_secs(20)).await;
    on_others.sync("/").await.unwrap();
    assert_eq!(on_others.get_data("/r").await.unwrap().0, b"v1");

    cluster.ensemble.member(old).signal("STOP");
    let stopped_at = Instant::now();
    let new = leader_among(&cluster, &others, Duration::from_secs(15)).await;
    eprintln!(
        "member {new} leads {:?} after SIGSTOP of {old}",
        stopped_at.elapsed()
    );
    // Acknowledged by the new leader while the old one still thinks it leads.
    let stat = on_others.set_data("/r", b"v2", None).await.unwrap();
    assert_eq!(stat.version, 1);
    // A session on the new leader that reads v2 (so it has seen v2's zxid); after SIGCONT it
    // tries to move to the old leader. (Its connection to the new leader closes at once, as a
    // client's does when it moves.)
    let (mover_seen, mover_session) = tokio::task::block_in_place(|| {
        let (mut conn, session) =
            RawConn::new_session_within(cluster.addr(new), 20_000, Duration::from_secs(10));
        assert_eq!(conn.get_data("/r"), Ok(b"v2".to_vec()));
        (conn.last_zxid, session)
    });
    let remaining = STOP_FOR.saturating_sub(stopped_at.elapsed());
    tokio::time::sleep(remaining).await;

    // SIGCONT, then at once: the old leader's own client reads plainly in a loop, and fresh
    // clients connected only to it do sync + read in a loop.
    let plain_reads = Arc::new(Mutex::new(Vec::<PlainRead>::new()));
    let plain_reads_long = Arc::new(Mutex::new(Vec::<PlainRead>::new()));
    let synced_reads = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let old_addr = cluster.connect_string(&[old]);
    cluster.ensemble.member(old).signal("CONT");
    let continued_at = Instant::now();
    let moves = {
        let addr = cluster.addr(old);
        let (id, password) = (mover_session.session_id, mover_session.password.clone());
        let seen = mover_seen;
        tokio::task::spawn_blocking(move || moves_until(addr, id, password, seen, continued_at))
    };
    let plain = tokio::spawn(plain_reads_until(on_old, plain_reads.clone(), continued_at));
    let plain_long = tokio::spawn(plain_reads_until(
        on_old_long,
        plain_reads_long.clone(),
        continued_at,
    ));
    let synced = {
        let reads = synced_reads.clone();
        tokio::spawn(async move {
            while continued_at.elapsed() < Duration::from_secs(4) {
                let attempt = async {
                    let client = zk::Client::connector()
                        .with_session_timeout(Duration::from_secs(4))
                        .connect(&old_addr)
                        .await?;
                    client.sync("/r").await?;
                    client.get_data("/r").await.map(|(data, _)| data)
                };
                if let Ok(Ok(data)) = tokio::time::timeout(Duration::from_secs(2), attempt).await {
                    reads.lock().unwrap().push(data);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // The old leader steps down within the deadline, and follows the new one.
    let old_addr = cluster.addr(old);
    let mut stepped_down_at = None;
    while continued_at.elapsed() < STEP_DOWN_DEADLINE {
        if !is_leader(old_addr) {
            stepped_down_at = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stepped_down_at = stepped_down_at.unwrap_or_else(|| {
        panic!("member {old} still says it leads {STEP_DOWN_DEADLINE:?} after SIGCONT")
    });
    eprintln!(
        "member {old} stopped leading {:?} after SIGCONT",
        stepped_down_at - continued_at
    );
    eventually("the old leader follows", Duration::from_secs(10), || {
        status(old_addr) == Status::Mode("follower".into())
    })
    .await;
    assert_eq!(
        leader_among(&cluster, &all, Duration::from_secs(5)).await,
        new
    );
    plain.await.unwrap();
    plain_long.await.unwrap();
    synced.await.unwrap();
    let moves = moves.await.unwrap();

    // Sync + read through the old leader is linearizable: never the overwritten v1.
    let synced_reads = std::mem::take(&mut *synced_reads.lock().unwrap());
    assert!(
        synced_reads.iter().all(|data| data == b"v2"),
        "sync + read through the old leader returned stale data: {:?}",
        synced_reads
            .iter()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .collect::<Vec<_>>()
    );
    assert!(
        !synced_reads.is_empty(),
        "no sync + read through the old leader succeeded after it rejoined"
    );
    // A session that had read v2 elsewhere is refused by the old leader until it has caught
    // up, never told it expired, and never served v1 there.
    let count = |f: fn(&Move) -> bool| moves.iter().filter(|m| f(m)).count();
    eprintln!(
        "moves of a session that read v2 to the old leader: {} refused, {} dropped, {} read",
        count(|m| matches!(m, Move::Refused)),
        count(|m| matches!(m, Move::Dropped)),
        count(|m| matches!(m, Move::Read(_)))
    );
    for attempt in &moves {
        match attempt {
            Move::Refused | Move::Dropped => {}
            Move::Expired => panic!("the old leader declared a live session expired: {moves:?}"),
            Move::Read(result) => assert_eq!(
                result.as_deref(),
                Ok(&b"v2"[..]),
                "a session that had read v2 read this on the old leader: {moves:?}"
            ),
        }
    }
    assert!(
        moves.iter().any(|m| matches!(m, Move::Read(_))),
        "the session never moved to the old leader after it rejoined: {moves:?}"
    );
    // Plain reads may be stale only while the old leader still believed it led, and never
    // go back in time within a session; the old leader's client session expired while it
    // was stopped, so it ends expired.
    let plain_reads = std::mem::take(&mut *plain_reads.lock().unwrap());
    let plain_reads_long = std::mem::take(&mut *plain_reads_long.lock().unwrap());
    for (name, reads) in [("expiring", &plain_reads), ("long", &plain_reads_long)] {
        // The expiring session wrote v1 (version 0): nothing older exists.
        let versions: Vec<i32> = reads
            .iter()
            .filter_map(|r| r.result.as_ref().ok().map(|(_, version)| *version))
            .collect();
        assert!(
            versions.windows(2).all(|w| w[0] <= w[1]),
            "the {name} session of the old leader read /r going back in time: versions \
             {versions:?}"
        );
    }
    eprintln!(
        "plain reads of the long session: {:?}",
        plain_reads_long
            .iter()
            .map(|r| r
                .result
                .as_ref()
                .map(|(d, _)| String::from_utf8_lossy(d).into_owned()))
            .collect::<Vec<_>>()
    );
    for read in plain_reads.iter().chain(&plain_reads_long) {
        if read.started >= stepped_down_at {
            assert!(
                !matches!(&read.result, Ok((data, _)) if data == b"v1"),
                "a plain read that began {:?} after the old leader stepped down saw v1",
                read.started - stepped_down_at
            );
        }
    }
    let stale_before = plain_reads
        .iter()
        .filter(|r| matches!(&r.result, Ok((data, _)) if data == b"v1"))
        .count();
    eprintln!(
        "plain reads after SIGCONT: {} ({stale_before} stale while it still led), outcomes: {:?}",
        plain_reads.len(),
        plain_reads
            .iter()
            .map(|r| r
                .result
                .as_ref()
                .map(|(d, _)| String::from_utf8_lossy(d).into_owned()))
            .collect::<Vec<_>>()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while old_state.peek_state() != zk::SessionState::Expired {
        let changed = tokio::time::timeout_at(deadline, old_state.changed()).await;
        assert!(
            changed.is_ok(),
            "the old leader's client session must expire (timeout {SESSION_TIMEOUT:?}, \
             stopped {STOP_FOR:?}); state {:?}",
            old_state.peek_state()
        );
    }
    // And its data is current everywhere.
    for id in all {
        let client = connect(&cluster.connect_string(&[id]), Duration::from_secs(10)).await;
        client.sync("/r").await.unwrap();
        assert_eq!(client.get_data("/r").await.unwrap().0, b"v2", "member {id}");
    }
}

/// Plain reads of `/r` through `client` for four seconds after `from` (or until its session
/// ends), each recorded with when it began.
async fn plain_reads_until(client: zk::Client, reads: Arc<Mutex<Vec<PlainRead>>>, from: Instant) {
    while from.elapsed() < Duration::from_secs(4) {
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(1), client.get_data("/r"))
            .await
            .unwrap_or(Err(zk::Error::Timeout))
            .map(|(data, stat)| (data, stat.version));
        let terminal = matches!(
            result,
            Err(zk::Error::SessionExpired | zk::Error::ClientClosed)
        );
        reads.lock().unwrap().push(PlainRead { started, result });
        if terminal {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// For four seconds after `from`: moves session `id` (which has seen zxid `seen`) to `addr`
/// with a fresh connection every 20 ms and, when accepted, reads `/r` plainly there.
fn moves_until(
    addr: SocketAddr,
    id: i64,
    password: Vec<u8>,
    mut seen: i64,
    from: Instant,
) -> Vec<Move> {
    let mut moves = Vec::new();
    while from.elapsed() < Duration::from_secs(4) {
        let mut conn = RawConn::open(addr);
        let request = connect_request(seen, id, password.clone(), 20_000);
        let attempt = match conn.handshake(&request) {
            None => Move::Refused,
            Some(response) if response.session_id == 0 => Move::Expired,
            Some(_) => {
                conn.last_zxid = seen;
                let read = Request::GetData(GetDataRequest {
                    path: "/r".into(),
                    watch: false,
                });
                match conn.try_call(&read) {
                    Ok(reply) => {
                        seen = conn.last_zxid;
                        Move::Read(match reply.error() {
                            Some(ErrorCode::Ok) => {
                                match Response::decode_for(OpCode::GetData, &reply.body) {
                                    Ok(Response::GetData(data, _)) => Ok(data),
                                    other => panic!("getData /r: {other:?}"),
                                }
                            }
                            other => Err(other.unwrap_or(ErrorCode::SystemError)),
                        })
                    }
                    Err(_) => Move::Dropped,
                }
            }
        };
        moves.push(attempt);
        std::thread::sleep(Duration::from_millis(20));
    }
    moves
}

/// A session that has seen a write moves to a member that has not applied it yet: a follower
/// SIGSTOPped for a moment (shorter than its election timeout and serving grace, so it serves
/// as soon as it runs again), whose kernel queued the session's handshake with a read
/// pipelined behind it. ZooKeeper refuses a client that has seen a newer zxid than the
/// server; so must Arbor, instead of answering the read from the stale tree. Once the member
/// caught up, the session moves there and reads the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_behind_what_a_session_has_seen_refuses_it_until_caught_up() {
    let cluster = Cluster::loopback(3, opts());
    let all = cluster.ids();
    let leader = leader_among(&cluster, &all, Duration::from_secs(15)).await;
    let behind = *all.iter().find(|&&id| id != leader).unwrap();
    let within = Duration::from_secs(10);
    tokio::task::block_in_place(|| {
        let (mut writer, _) = RawConn::new_session_within(cluster.addr(leader), 20_000, within);
        let created = writer.create("/r", b"v1", arbor_proto::CreateMode::Persistent);
        assert_eq!(created, Some(ErrorCode::Ok));
        let (mut mover, session) =
            RawConn::new_session_within(cluster.addr(leader), 20_000, within);
        let (mut probe, _) = RawConn::new_session_within(cluster.addr(behind), 20_000, within);
        probe.sync("/r");

        let member = cluster.ensemble.member(behind);
        member.signal("STOP");
        writer.set_data("/r", b"v2");
        assert_eq!(mover.get_data("/r"), Ok(b"v2".to_vec()));
        let seen = mover.last_zxid;
        let request = connect_request(seen, session.session_id, session.password.clone(), 20_000);
        let read = Request::GetData(GetDataRequest {
            path: "/r".into(),
            watch: false,
        });
        let addr = cluster.addr(behind);
        let attempt = std::thread::spawn(move || {
            let mut conn = RawConn::open(addr);
            conn.handshake_then(&request, &read)
                .map(|(response, reply)| (response.session_id, reply.map(|r| (r.header, r.body))))
        });
        // Let the handshake reach the stopped member's socket.
        std::thread::sleep(Duration::from_millis(100));
        member.signal("CONT");
        match attempt.join().unwrap() {
            None => eprintln!("the member behind refused the session, as it should"),
            Some((0, _)) => panic!("the member behind declared a live session expired"),
            Some((_, Ok((header, body)))) => {
                assert_eq!(header.error_code(), Some(ErrorCode::Ok), "{header:?}");
                match Response::decode_for(OpCode::GetData, &body) {
                    Ok(Response::GetData(data, _)) => assert_eq!(
                        String::from_utf8_lossy(&data),
                        "v2",
                        "a session that had read v2 read this on a member behind"
                    ),
                    other => panic!("getData /r: {other:?}"),
                }
                eprintln!("the member had caught up before it answered");
            }
            Some((_, Err(outcome))) => panic!("the read after the handshake: {outcome:?}"),
        }
        // Once caught up, it takes the session, and serves what the session saw.
        let mut moved = RawConn::resume_session(
            cluster.addr(behind),
            session.session_id,
            &session.password,
            seen,
            20_000,
            within,
        );
        assert_eq!(moved.get_data("/r"), Ok(b"v2".to_vec()));
    });
}
