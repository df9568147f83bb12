//! Three-node groups in one process, over real loopback TCP.

use std::path::Path;
use std::time::Instant;

use super::*;
use crate::test_util::{free_addr, labelled_txn, RecordingApplier};

struct Member {
    quorum: Quorum,
    applier: Arc<RecordingApplier>,
}

fn member_config(root: &Path, id: NodeId) -> QuorumConfig {
    let dir = root.join(format!("node{id}"));
    let mut cfg = QuorumConfig::new(id, dir.join("data"), dir.join("log"));
    // Heartbeats every 20 ms, elections after 100..125 ms (+25 ms per rank) past the lease.
    cfg.tick_ms = 400;
    cfg
}

async fn start_member(root: &Path, id: NodeId, ensemble: &Ensemble) -> Member {
    let applier = Arc::new(RecordingApplier::default());
    let quorum = Quorum::start_ensemble(member_config(root, id), ensemble.clone(), applier.clone())
        .await
        .unwrap();
    Member { quorum, applier }
}

fn ensemble_of(voters: &[NodeId], observers: &[NodeId]) -> Ensemble {
    Ensemble {
        voters: voters.iter().map(|&id| (id, free_addr())).collect(),
        observers: observers.iter().map(|&id| (id, free_addr())).collect(),
    }
}

/// Polls `cond` every 10 ms for up to ten seconds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn leader_of(members: &[&Member]) -> Option<NodeId> {
    members
        .iter()
        .find(|m| m.quorum.metrics().role == Role::Leader && m.quorum.serving())
        .map(|m| m.quorum.metrics().node_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_and_an_observer_replicate_forward_and_fail_over() {
    let root = tempfile::tempdir().unwrap();
    let ensemble = ensemble_of(&[1, 2, 3], &[4]);
    let mut members = Vec::new();
    for id in [1, 2, 3, 4] {
        members.push(start_member(root.path(), id, &ensemble).await);
    }
    let all: Vec<&Member> = members.iter().collect();
    eventually("a serving leader", || leader_of(&all).is_some()).await;
    // The highest id has the shortest election timeout, so it wins a fresh election.
    assert_eq!(leader_of(&all), Some(3));
    eventually("every member serving", || {
        all.iter().all(|m| m.quorum.serving())
    })
    .await;
    eventually("the observer joined as a learner", || {
        members[2].quorum.metrics().learners == [4]
    })
    .await;
    assert_eq!(members[3].quorum.metrics().role, Role::Learner);

    // Writes from a follower and from the observer are forwarded; each answer comes once the
    // write is applied where it was submitted, in submission order per submitter.
    let mut pending = Vec::new();
    for label in 0..40 {
        let submitter = &members[[0, 3][label as usize % 2]].quorum;
        pending.push(submitter.submit_from(1, labelled_txn(label)).await.unwrap());
    }
    let mut zxids = Vec::new();
    for (label, done) in pending.into_iter().enumerate() {
        let response = done.await.unwrap();
        let submitter = &members[[0, 3][label % 2]];
        assert!(
            submitter.applier.labels().contains(&(label as i64)),
            "label {label} answered before it was applied at its submitter"
        );
        zxids.push(response.zxid);
    }
    let mut sorted = zxids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 40, "every write got its own zxid: {zxids:?}");
    eventually("all members applied everything", || {
        members.iter().all(|m| m.applier.applies() == 40)
    })
    .await;
    let reference: Vec<(i64, Txn)> = members[2].applier.applied();
    for m in &members {
        assert_eq!(
            m.applier.applied(),
            reference,
            "replicas applied the same txns in the same order"
        );
    }

    // sync on a follower: after the barrier it has applied everything committed before it.
    let follower_zxid = members[0].quorum.barrier().await.unwrap();
    assert!(follower_zxid >= *zxids.iter().max().unwrap());

    // Session reports from a follower reach the leader.
    members[0].quorum.report_sessions(vec![77, 78]).await;
    eventually("the leader heard the session report", || {
        members[2].applier.touched() == [77, 78]
    })
    .await;

    // Stop the leader: the survivors elect the next-highest id and keep accepting writes.
    members[2].quorum.shutdown().await;
    let survivors: Vec<&Member> = [&members[0], &members[1], &members[3]]
        .into_iter()
        .collect();
    eventually("a new leader", || leader_of(&survivors).is_some()).await;
    assert_eq!(leader_of(&survivors), Some(2));
    let after = members[0]
        .quorum
        .propose(labelled_txn(100))
        .await
        .expect("writes resume after failover");
    assert!(after.zxid > *zxids.iter().max().unwrap());
    eventually("the observer follows the new leader", || {
        members[3].applier.labels().contains(&100)
    })
    .await;
    for m in &members {
        m.quorum.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_stops_serving_and_refuses_writes() {
    let root = tempfile::tempdir().unwrap();
    let ensemble = ensemble_of(&[1, 2, 3], &[]);
    let mut members = Vec::new();
    for id in [1, 2, 3] {
        members.push(start_member(root.path(), id, &ensemble).await);
    }
    let all: Vec<&Member> = members.iter().collect();
    eventually("a serving leader", || leader_of(&all).is_some()).await;
    members[0].quorum.propose(labelled_txn(1)).await.unwrap();

    // Two of three gone: the last one neither serves nor commits.
    members[2].quorum.shutdown().await;
    members[1].quorum.shutdown().await;
    eventually("the lone member stops serving", || {
        !members[0].quorum.serving()
    })
    .await;
    match members[0].quorum.propose(labelled_txn(2)).await {
        Err(
            ProposeError::NoLeader | ProposeError::Unavailable(_) | ProposeError::NotLeader { .. },
        ) => {}
        other => panic!("a write without a quorum must fail, got {other:?}"),
    }
    assert!(
        members[0].quorum.barrier().await.is_err(),
        "no sync without a quorum"
    );
    assert!(!members[0].applier.labels().contains(&2));
    members[0].quorum.shutdown().await;

    // Restart all three from their directories: the acknowledged write is still there.
    let mut restarted = Vec::new();
    for id in [1, 2, 3] {
        restarted.push(start_member(root.path(), id, &ensemble).await);
    }
    let all: Vec<&Member> = restarted.iter().collect();
    eventually("a leader after restart", || leader_of(&all).is_some()).await;
    restarted[0].quorum.propose(labelled_txn(3)).await.unwrap();
    for m in &restarted {
        let labels = m.applier.labels();
        assert!(labels.contains(&1) && labels.contains(&3), "{labels:?}");
        m.quorum.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_and_leave_through_membership_changes() {
    let root = tempfile::tempdir().unwrap();
    let initial = ensemble_of(&[1, 2, 3], &[]);
    let mut members = Vec::new();
    for id in [1, 2, 3] {
        members.push(start_member(root.path(), id, &initial).await);
    }
    let all: Vec<&Member> = members.iter().collect();
    eventually("a serving leader", || leader_of(&all).is_some()).await;
    for label in 0..10 {
        members[0]
            .quorum
            .propose(labelled_txn(label))
            .await
            .unwrap();
    }

    // A joiner configured with the bigger ensemble must not initialize a membership of its
    // own: the running ensemble is initialized, so it waits to be added.
    let mut grown = initial.clone();
    grown.voters.insert(4, free_addr());
    let joiner = start_member(root.path(), 4, &grown).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        joiner.quorum.metrics().voters,
        Vec::<NodeId>::new(),
        "the joiner initialized itself"
    );

    // Add it as a voter (from a follower: forwarded to the leader), then remove member 1.
    let target = Membership {
        voters: grown.voters.clone(),
        learners: BTreeMap::new(),
    };
    let version = members[0].quorum.change_membership(target).await.unwrap();
    assert!(version > 0);
    eventually("the joiner caught up", || {
        joiner.applier.labels().len() == 10
    })
    .await;
    // Followers learn the new membership with the next append; wait for it rather than race.
    // The joint configuration before it already lists the same four voters (the union of old
    // and new), so wait for the final entry itself.
    eventually("every member sees four voters", || {
        [&members[1], &joiner].iter().all(|m| {
            m.quorum.metrics().voters == [1, 2, 3, 4] && m.quorum.membership().1 >= version
        })
    })
    .await;
    let (membership, at) = joiner.quorum.membership();
    assert_eq!(
        membership.voters.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(at >= version);

    let mut shrunk = grown.voters.clone();
    shrunk.remove(&1);
    members[1]
        .quorum
        .change_membership(Membership {
            voters: shrunk,
            learners: BTreeMap::new(),
        })
        .await
        .unwrap();
    eventually("member 1 left", || {
        members[2].quorum.metrics().voters == [2, 3, 4]
    })
    .await;
    // The smaller ensemble commits without member 1.
    members[0].quorum.shutdown().await;
    let response = joiner.quorum.propose(labelled_txn(99)).await.unwrap();
    assert!(response.zxid > 10);
    for m in [&members[1], &members[2], &joiner] {
        m.quorum.shutdown().await;
    }
}
