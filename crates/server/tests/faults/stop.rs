//! SIGSTOP of the leader for longer than the session timeout, then SIGCONT.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zookeeper_client as zk;

use crate::support::{
    connect, eventually, is_leader, leader_among, opts, persistent, status, Cluster, Status,
};

/// The old leader's own client: shorter than the stop, so it expires meanwhile.
const SESSION_TIMEOUT: Duration = Duration::from_secs(3);
const STOP_FOR: Duration = Duration::from_secs(7);
/// The old leader must stop acting as one this soon after it runs again (its serving grace is
/// about a second with tickTime 1000; this leaves room for a loaded machine).
const STEP_DOWN_DEADLINE: Duration = Duration::from_secs(5);

/// One plain read by the old leader's own client after SIGCONT.
#[derive(Debug)]
struct PlainRead {
    started: Instant,
    result: Result<Vec<u8>, zk::Error>,
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
    // Plain reads may be stale only while the old leader still believed it led; the old
    // leader's client session expired while it was stopped, so it ends expired.
    let plain_reads = std::mem::take(&mut *plain_reads.lock().unwrap());
    let plain_reads_long = std::mem::take(&mut *plain_reads_long.lock().unwrap());
    eprintln!(
        "plain reads of the long session: {:?}",
        plain_reads_long
            .iter()
            .map(|r| r
                .result
                .as_ref()
                .map(|d| String::from_utf8_lossy(d).into_owned()))
            .collect::<Vec<_>>()
    );
    for read in plain_reads.iter().chain(&plain_reads_long) {
        if read.started >= stepped_down_at {
            assert!(
                !matches!(&read.result, Ok(data) if data == b"v1"),
                "a plain read that began {:?} after the old leader stepped down saw v1",
                read.started - stepped_down_at
            );
        }
    }
    let stale_before = plain_reads
        .iter()
        .filter(|r| matches!(&r.result, Ok(data) if data == b"v1"))
        .count();
    eprintln!(
        "plain reads after SIGCONT: {} ({stale_before} stale while it still led), outcomes: {:?}",
        plain_reads.len(),
        plain_reads
            .iter()
            .map(|r| r
                .result
                .as_ref()
                .map(|d| String::from_utf8_lossy(d).into_owned()))
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
            .map(|(data, _)| data);
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
