//! Partitions: a cut-off follower, then a cut-off leader, each healed; all members converge.

use std::time::{Duration, Instant};

use zookeeper_client as zk;

use crate::support::{
    assert_converged, connect, eventually, leader_among, next_trouble, opts, persistent, status,
    Cluster, Status,
};

/// Within this a cut-off member must have stopped serving (its grace is about a second with
/// tickTime 1000) and a new leader must have been elected.
const FAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Writes `count` nodes `prefix-i` under `/p` through `client`; every one must be acknowledged.
async fn write_batch(client: &zk::Client, prefix: &str, count: usize) {
    for i in 0..count {
        let path = format!("/p/{prefix}-{i:03}");
        tokio::time::timeout(
            Duration::from_secs(15),
            client.create(&path, prefix.as_bytes(), &persistent()),
        )
        .await
        .unwrap_or_else(|_| panic!("create {path}: no answer within 15 s"))
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitions_stop_the_minority_and_healed_members_converge() {
    let Some(cluster) = Cluster::in_namespaces("partitions", 3, opts()) else {
        return;
    };
    let all = cluster.ids();
    let leader = leader_among(&cluster, &all, Duration::from_secs(15)).await;
    let setup = connect(&cluster.connect_string(&all), Duration::from_secs(10)).await;
    setup.create("/p", b"", &persistent()).await.unwrap();
    write_batch(&setup, "before", 10).await;

    // 1. A follower is cut off: it stops serving and closes its clients' connections; a
    //    client that lists it first moves to a member that serves; the majority keeps writing.
    let follower = *all.iter().find(|&&id| id != leader).unwrap();
    let others: Vec<u64> = all.iter().copied().filter(|&id| id != follower).collect();
    let on_follower = connect(
        &cluster.connect_string(&[follower]),
        Duration::from_secs(20),
    )
    .await;
    let mut follower_state = on_follower.state_watcher();
    let cut_at = Instant::now();
    cluster.cut(follower);
    eventually("the cut-off follower stops serving", FAULT_DEADLINE, || {
        status(cluster.addr(follower)) == Status::NotServing
    })
    .await;
    eprintln!(
        "follower {follower} stopped serving {:?} after the cut",
        cut_at.elapsed()
    );
    let trouble = next_trouble(&mut follower_state, FAULT_DEADLINE).await;
    assert_eq!(
        trouble,
        Some(zk::SessionState::Disconnected),
        "the follower's client must be disconnected"
    );
    // The follower refuses new sessions, so a client listing it first ends up elsewhere.
    let mut order = vec![follower];
    order.extend(&others);
    let moved = connect(&cluster.connect_string(&order), Duration::from_secs(10)).await;
    write_batch(&moved, "minority-cut", 20).await;
    assert_eq!(
        leader_among(&cluster, &others, FAULT_DEADLINE).await,
        leader,
        "cutting a follower must not move the leadership"
    );
    cluster.heal(follower);
    eventually("the healed follower serves again", FAULT_DEADLINE, || {
        status(cluster.addr(follower)) == Status::Mode("follower".into())
    })
    .await;
    assert_converged(&cluster, &all).await;

    // 2. The leader is cut off: it stops serving clients (srvr says so), its connections close,
    //    the others elect a new leader and take writes; after healing it follows and catches up.
    let on_leader = connect(&cluster.connect_string(&[leader]), Duration::from_secs(20)).await;
    let mut leader_state = on_leader.state_watcher();
    let majority: Vec<u64> = all.iter().copied().filter(|&id| id != leader).collect();
    let writer = connect(&cluster.connect_string(&all), Duration::from_secs(20)).await;
    let cut_at = Instant::now();
    cluster.cut(leader);
    eventually("the cut-off leader stops serving", FAULT_DEADLINE, || {
        status(cluster.addr(leader)) == Status::NotServing
    })
    .await;
    eprintln!(
        "leader {leader} stopped serving {:?} after the cut",
        cut_at.elapsed()
    );
    assert_eq!(
        next_trouble(&mut leader_state, FAULT_DEADLINE).await,
        Some(zk::SessionState::Disconnected),
        "the old leader must close its clients' connections"
    );
    let new_leader = leader_among(&cluster, &majority, FAULT_DEADLINE).await;
    assert_ne!(new_leader, leader);
    eprintln!(
        "member {new_leader} leads {:?} after the cut",
        cut_at.elapsed()
    );
    // The writer's session survives the move (its timeout is longer than the failover).
    write_batch(&writer, "leader-cut", 20).await;
    // While cut off, the old leader takes no sessions.
    let refused = tokio::time::timeout(
        Duration::from_secs(3),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(4))
            .connect(&cluster.connect_string(&[leader])),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a cut-off old leader must not establish sessions"
    );
    cluster.heal(leader);
    eventually("the healed old leader follows", FAULT_DEADLINE * 2, || {
        status(cluster.addr(leader)) == Status::Mode("follower".into())
    })
    .await;
    let view = assert_converged(&cluster, &all).await;
    for prefix in ["before", "minority-cut", "leader-cut"] {
        let count = view
            .nodes
            .keys()
            .filter(|p| p.starts_with(&format!("/p/{prefix}-")))
            .count();
        let expected = if prefix == "before" { 10 } else { 20 };
        assert_eq!(count, expected, "acknowledged {prefix} writes");
    }
    // The old leader's session ended with its connection; the writer's is still usable.
    writer.sync("/").await.expect("writer still has a session");
}
