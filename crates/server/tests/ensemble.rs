//! Ensembles of real `arbor server` processes on loopback: roles, forwarding, failover under
//! load, and recovery after every member was killed.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_test_support::{ArborEnsemble, ArborOptions};
use zookeeper_client as zk;

use common::zk::{connect, persistent, within};

/// Short ticks keep elections and session timeouts quick; still 100 ms heartbeats.
fn opts() -> ArborOptions {
    ArborOptions::new()
        .config("tickTime", 1000)
        .startup_timeout(Duration::from_secs(30))
}

/// Waits until member `id`'s `mntr` shows every `(key, value)` of `want`; panics naming
/// `what` with the last `mntr` seen.
async fn wait_for_mntr(ensemble: &ArborEnsemble, id: u64, want: &[(&str, &str)], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mntr = tokio::task::block_in_place(|| ensemble.member(id).mntr());
        if want
            .iter()
            .all(|(key, value)| mntr.get(*key).map(String::as_str) == Some(*value))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: member {id}'s mntr never showed {want:?}; last: {mntr:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Children of `path` as seen by `client` after a sync with the leader.
async fn synced_children(client: &zk::Client, path: &str) -> BTreeSet<String> {
    client.sync(path).await.expect("sync");
    client
        .list_children(path)
        .await
        .expect("list children")
        .into_iter()
        .collect()
}

/// [`synced_children`] through member `id`, with a fresh client; retried for a while if the
/// member drops its clients meanwhile (a member that just rejoined may still see an election).
async fn synced_children_of_member(
    ensemble: &ArborEnsemble,
    id: u64,
    path: &str,
) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let client = connect(&ensemble.member(id).connect_string()).await;
        let read = async {
            client.sync(path).await?;
            client.list_children(path).await
        };
        match tokio::time::timeout(Duration::from_secs(10), read).await {
            Ok(Ok(children)) => return children.into_iter().collect(),
            other => {
                assert!(
                    Instant::now() < deadline,
                    "cannot list {path} through member {id}: {other:?}"
                );
                eprintln!("listing {path} through member {id} failed ({other:?}); retrying");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_forward_writes_and_agree() {
    let ensemble = ArborEnsemble::start(3, opts());
    // A fresh ensemble is led by its highest id, as ZooKeeper's election prefers.
    assert_eq!(ensemble.wait_for_leader(Duration::from_secs(10)), 3);
    assert_eq!(ensemble.mode(1).as_deref(), Some("follower"));
    assert_eq!(ensemble.mode(2).as_deref(), Some("follower"));
    let mntr = ensemble.member(3).four_letter("mntr");
    assert!(mntr.contains("zk_server_state\tleader"), "{mntr}");
    assert!(mntr.contains("zk_followers\t2"), "{mntr}");

    // Writes on a follower are forwarded; a client reads its own write on its server at once.
    let on_follower = connect(&ensemble.member(1).connect_string()).await;
    on_follower
        .create("/e", b"root", &persistent())
        .await
        .unwrap();
    for i in 0..20 {
        on_follower
            .create(
                &format!("/e/n{i:02}"),
                format!("v{i}").as_bytes(),
                &persistent(),
            )
            .await
            .unwrap();
    }
    let (data, stat) = on_follower.get_data("/e/n19").await.unwrap();
    assert_eq!(data, b"v19");
    assert_eq!(stat.version, 0);

    // Every member has the same children after sync; sequential names agree too.
    let expected: BTreeSet<String> = (0..20).map(|i| format!("n{i:02}")).collect();
    for id in ensemble.ids() {
        let client = connect(&ensemble.member(id).connect_string()).await;
        assert_eq!(
            synced_children(&client, "/e").await,
            expected,
            "member {id}"
        );
    }

    // A watch set through one member fires for a write made through another.
    let watcher_client = connect(&ensemble.member(2).connect_string()).await;
    let (_, _, watcher) = watcher_client.get_and_watch_data("/e").await.unwrap();
    on_follower.set_data("/e", b"changed", None).await.unwrap();
    let event = within("data watch across members", watcher.changed()).await;
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);

    // zk_pending_syncs counts the read-index requests the leader is confirming with a quorum
    // (its own clients' syncs and those forwarded by followers): under a sync load through
    // every member it is seen above zero, and once every sync was answered it is zero.
    let stop = Arc::new(AtomicBool::new(false));
    let mut loads = Vec::new();
    for id in ensemble.ids() {
        for _ in 0..2 {
            let client = connect(&ensemble.member(id).connect_string()).await;
            let stop = stop.clone();
            loads.push(tokio::spawn(async move {
                let mut syncs = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    client.sync("/e").await.expect("sync");
                    syncs += 1;
                }
                syncs
            }));
        }
    }
    let pending = || -> u64 {
        let mntr = tokio::task::block_in_place(|| ensemble.member(3).mntr());
        mntr.get("zk_pending_syncs")
            .unwrap_or_else(|| panic!("no zk_pending_syncs on the leader: {mntr:?}"))
            .parse()
            .expect("a count")
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut samples = 0;
    let seen = loop {
        samples += 1;
        let now = pending();
        if now > 0 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "zk_pending_syncs stayed 0 in {samples} samples under a sync load"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for load in loads {
        total += load.await.unwrap();
    }
    eprintln!("zk_pending_syncs {seen} after {samples} samples; {total} syncs in all");
    assert!(
        seen <= 6,
        "more pending syncs ({seen}) than clients syncing"
    );
    assert_eq!(
        pending(),
        0,
        "syncs still pending after every one was answered"
    );
}

/// What writers under `/load` attempted and what was acknowledged.
#[derive(Default)]
struct Writes {
    attempted: Mutex<BTreeSet<String>>,
    acked: Mutex<BTreeSet<String>>,
}

/// Several clients creating unique nodes under `/load` as fast as they can, each keeping
/// `depth` creates in flight. Every path is recorded as attempted before it is sent and as
/// acknowledged once its reply arrived.
struct Load {
    writes: Arc<Writes>,
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<u64>>,
}

impl Load {
    /// Starts `writers` clients of `connect_string`. With `stop_on_failure` a writer ends at
    /// its first failed reply (its server went away); otherwise it pauses briefly and goes on
    /// (its client moves to another member).
    async fn start(
        connect_string: &str,
        writers: usize,
        depth: usize,
        stop_on_failure: bool,
        writes: Arc<Writes>,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..writers {
            let client = connect(connect_string).await;
            let (writes, stop) = (writes.clone(), stop.clone());
            let prefix = format!("/load/{:x}-w{w}", fresh_tag());
            tasks.push(tokio::spawn(async move {
                let mut failures = 0u64;
                let mut next = 0usize;
                while !stop.load(Ordering::Relaxed) && next < 20_000 {
                    let batch: Vec<String> = (next..next + depth)
                        .map(|i| format!("{prefix}-{i:06}"))
                        .collect();
                    next += depth;
                    writes
                        .attempted
                        .lock()
                        .unwrap()
                        .extend(batch.iter().cloned());
                    let results = futures::future::join_all(
                        batch.iter().map(|p| client.create(p, b"x", &persistent())),
                    )
                    .await;
                    let mut failed = false;
                    for (path, result) in batch.iter().zip(results) {
                        match result {
                            Ok(_) => {
                                writes.acked.lock().unwrap().insert(path.clone());
                            }
                            Err(_) => failed = true,
                        }
                    }
                    if failed {
                        failures += 1;
                        if stop_on_failure {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                failures
            }));
        }
        Load {
            writes,
            stop,
            writers: tasks,
        }
    }

    fn acked(&self) -> usize {
        self.writes.acked.lock().unwrap().len()
    }

    /// Waits until `more` writes beyond `from` were acknowledged; panics naming `what`.
    async fn wait_for(&self, from: usize, more: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.acked() < from + more {
            assert!(
                Instant::now() < deadline,
                "{what}: {} of {more} more writes acknowledged within 20 s",
                self.acked().saturating_sub(from)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the writers and waits for them; returns their failed batches.
    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = 0;
        for writer in self.writers {
            failures += tokio::time::timeout(Duration::from_secs(30), writer)
                .await
                .expect("a writer stops")
                .expect("writer task");
        }
        failures
    }
}

/// A tag that differs between loads, so their paths never collide.
fn fresh_tag() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Through every running member of `ids` (after a sync there): every acknowledged write is
/// present, nothing that was never attempted is, and all members list the same children.
async fn assert_writes_everywhere(ensemble: &ArborEnsemble, ids: &[u64], writes: &Writes) {
    let acked = writes.acked.lock().unwrap().clone();
    let attempted = writes.attempted.lock().unwrap().clone();
    let mut first: Option<(u64, BTreeSet<String>)> = None;
    for &id in ids {
        let children: BTreeSet<String> = synced_children_of_member(ensemble, id, "/load")
            .await
            .into_iter()
            .map(|c| format!("/load/{c}"))
            .collect();
        let missing: Vec<_> = acked.difference(&children).take(5).collect();
        assert!(
            missing.is_empty(),
            "member {id} lacks {} acknowledged writes, e.g. {missing:?}",
            acked.difference(&children).count()
        );
        let phantom: Vec<_> = children.difference(&attempted).take(5).collect();
        assert!(
            phantom.is_empty(),
            "member {id} has never-attempted nodes {phantom:?}"
        );
        match &first {
            None => first = Some((id, children)),
            Some((first_id, expected)) => assert!(
                *expected == children,
                "members {first_id} and {id} list different children of /load ({} vs {})",
                expected.len(),
                children.len()
            ),
        }
    }
    eprintln!(
        "members {ids:?}: all {} acknowledged of {} attempted writes present",
        acked.len(),
        attempted.len()
    );
}

/// Kills `victims` with SIGKILL while the load runs; writes must resume among the others and
/// a leader be elected there. Returns that leader.
async fn kill_and_expect_progress(
    ensemble: &mut ArborEnsemble,
    load: &Load,
    victims: &[u64],
) -> u64 {
    let before = load.acked();
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| {
        for &id in victims {
            ensemble.member_mut(id).kill9();
        }
    });
    load.wait_for(before, 50, &format!("writes after kill -9 of {victims:?}"))
        .await;
    let resumed_after = killed_at.elapsed();
    let leader = tokio::task::block_in_place(|| ensemble.wait_for_leader(Duration::from_secs(10)));
    assert!(!victims.contains(&leader));
    eprintln!(
        "kill -9 of {victims:?}: writes resumed after {resumed_after:?}; leader {leader} seen \
         after {:?}",
        killed_at.elapsed()
    );
    leader
}

/// Restarts `ids` and waits until each serves again.
fn restart(ensemble: &mut ArborEnsemble, ids: &[u64]) {
    tokio::task::block_in_place(|| {
        for &id in ids {
            ensemble.member_mut(id).spawn().unwrap();
        }
        for &id in ids {
            ensemble.member_mut(id).wait_serving().unwrap();
        }
    });
}

/// kill -9 of the leader under a steady write load from several clients (issue 4): writes
/// resume, and every acknowledged write is on every member once the killed one rejoined. With
/// five members, the leader and a follower are then killed together (a minority): the other
/// three keep accepting writes, and both rejoin and catch up.
async fn kill_the_leader_under_load(members: usize) {
    let mut ensemble = ArborEnsemble::start(members, opts());
    let leader = ensemble.wait_for_leader(Duration::from_secs(10));
    let followers = (members - 1).to_string();
    wait_for_mntr(
        &ensemble,
        leader,
        &[
            ("zk_followers", &followers),
            ("zk_synced_followers", &followers),
        ],
        "a fresh ensemble",
    )
    .await;
    let all = ensemble.connect_string();
    connect(&all)
        .await
        .create("/load", b"", &persistent())
        .await
        .unwrap();
    let writes = Arc::new(Writes::default());
    let load = Load::start(&all, 4, 1, false, writes.clone()).await;
    load.wait_for(0, 300, "the writers made no progress").await;

    let mut rounds = vec![vec![leader]];
    if members == 5 {
        rounds.push(Vec::new());
    }
    let mut last_victims = Vec::new();
    for mut victims in rounds {
        if victims.is_empty() {
            // The leader and the follower the next election prefers (the highest other id).
            let leader =
                tokio::task::block_in_place(|| ensemble.wait_for_leader(Duration::from_secs(10)));
            let follower = ensemble.ids().filter(|&id| id != leader).max().unwrap();
            victims = vec![leader, follower];
        }
        kill_and_expect_progress(&mut ensemble, &load, &victims).await;
        // The victims come back while writes continue, and rejoin as followers.
        restart(&mut ensemble, &victims);
        let before = load.acked();
        load.wait_for(before, 100, "writes after the restart").await;
        last_victims = victims;
    }
    let failures = load.stop().await;
    eprintln!("{failures} write batches failed during the faults");

    let ids: Vec<u64> = ensemble.ids().collect();
    assert_writes_everywhere(&ensemble, &ids, &writes).await;
    for id in last_victims {
        assert_eq!(
            ensemble.mode(id).as_deref(),
            Some("follower"),
            "member {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_of_three_under_load_loses_no_acknowledged_write() {
    kill_the_leader_under_load(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_and_a_minority_of_five_under_load_loses_no_acknowledged_write() {
    kill_the_leader_under_load(5).await;
}

/// kill -9 of every member while several clients write (each until its connection fails),
/// twice; after each restart every acknowledged write is on every member, nothing appears
/// that was never attempted, and the members' trees are identical. A snapshot every 100 txns
/// makes restarts restore snapshots written under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_every_member_under_load_loses_no_acknowledged_write() {
    let mut ensemble = ArborEnsemble::start(3, opts().config("snapCount", 100));
    ensemble.wait_for_leader(Duration::from_secs(10));
    let all = ensemble.connect_string();
    connect(&all)
        .await
        .create("/load", b"", &persistent())
        .await
        .unwrap();
    let ids: Vec<u64> = ensemble.ids().collect();
    let writes = Arc::new(Writes::default());
    for round in 0..2 {
        let load = Load::start(&all, 4, 8, true, writes.clone()).await;
        let before = load.acked();
        load.wait_for(before, 200, &format!("writers in round {round}"))
            .await;
        tokio::task::block_in_place(|| {
            for &id in &ids {
                ensemble.member_mut(id).kill9();
            }
        });
        load.stop().await;
        restart(&mut ensemble, &ids);
        tokio::task::block_in_place(|| ensemble.wait_for_leader(Duration::from_secs(10)));
        assert_writes_everywhere(&ensemble, &ids, &writes).await;
        ensemble.assert_converged(&ids).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_serves_reads_forwards_writes_and_does_not_vote() {
    // A learner is synced while it acknowledged the leader within syncLimit ticks (2 s here).
    let opts = opts().config("syncLimit", 2);
    let mut ensemble = ArborEnsemble::try_start(3, 1, opts).expect("start 3 + 1 observer");
    ensemble.wait_for_leader(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while ensemble.mode(4).as_deref() != Some("observer") {
        assert!(
            Instant::now() < deadline,
            "member 4 never became an observer: {:?}",
            ensemble.mode(4)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let leader = ensemble.leader().unwrap();
    let mntr = ensemble.member(leader).four_letter("mntr");
    assert!(mntr.contains("zk_followers\t2"), "{mntr}");
    assert!(mntr.contains("zk_quorum_size\t3"), "{mntr}");
    let synced = |followers, observers| {
        [
            ("zk_followers", "2"),
            ("zk_synced_followers", followers),
            ("zk_synced_observers", observers),
        ]
    };
    wait_for_mntr(&ensemble, leader, &synced("2", "1"), "every learner synced").await;
    // A stopped observer stops acknowledging heartbeats: no longer synced; again once resumed.
    ensemble.member(4).signal("STOP");
    let stopped_at = Instant::now();
    wait_for_mntr(&ensemble, leader, &synced("2", "0"), "stopped observer").await;
    eprintln!(
        "the stopped observer counted as not synced after {:?}",
        stopped_at.elapsed()
    );
    ensemble.member(4).signal("CONT");
    wait_for_mntr(&ensemble, leader, &synced("2", "1"), "resumed observer").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ensemble.mode(4).as_deref() != Some("observer") {
        assert!(
            Instant::now() < deadline,
            "the resumed observer does not serve"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let on_observer = connect(&ensemble.member(4).connect_string()).await;
    on_observer
        .create("/obs", b"from observer", &persistent())
        .await
        .unwrap();
    let on_follower = connect(&ensemble.member(1).connect_string()).await;
    on_follower.sync("/obs").await.unwrap();
    assert_eq!(
        on_follower.get_data("/obs").await.unwrap().0,
        b"from observer"
    );

    // `arbor cluster status` sees every member; exit 0 while all are healthy.
    let status = |servers: &str| {
        std::process::Command::new(arbor_test_support::arbor_bin())
            .args(["cluster", "status", "--server", servers])
            .output()
            .expect("run arbor cluster status")
    };
    let all = ensemble.connect_string();
    let out = status(&all);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert_eq!(text.matches(" leader ").count(), 1, "{text}");
    assert_eq!(text.matches(" observer ").count(), 1, "{text}");

    // The observer does not count toward the quorum: with two voters gone the rest stops,
    // although three of four members still run.
    let followers: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    ensemble.member_mut(followers[0]).kill9();
    wait_for_mntr(&ensemble, leader, &synced("1", "1"), "a follower killed").await;
    ensemble.member_mut(followers[1]).kill9();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ensemble.mode(4).is_some() || ensemble.mode(leader).is_some() {
        assert!(
            Instant::now() < deadline,
            "a minority kept serving: leader {leader} {:?}, observer {:?}",
            ensemble.mode(leader),
            ensemble.mode(4)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = status(&all);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_adds_and_removes_members() {
    let digest = arbor_tree::digest_credential("super:secret");
    let opts = opts()
        .config("reconfigEnabled", "true")
        .config("DigestAuthenticationProvider.superDigest", &digest);
    let mut ensemble = ArborEnsemble::start(3, opts);
    ensemble.wait_for_leader(Duration::from_secs(10));
    let client = connect(&ensemble.member(1).connect_string()).await;
    client.create("/before", b"1", &persistent()).await.unwrap();
    // The leader publishes the static membership in /zookeeper/config.
    let deadline = Instant::now() + Duration::from_secs(10);
    let initial = loop {
        let (data, _) = client.get_data("/zookeeper/config").await.unwrap();
        if !data.is_empty() {
            break String::from_utf8(data).unwrap();
        }
        assert!(Instant::now() < deadline, "/zookeeper/config stayed empty");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(initial.matches("server.").count(), 3, "{initial}");
    assert!(initial.contains("\nversion="), "{initial}");

    let cluster = |args: &[&str]| {
        std::process::Command::new(arbor_test_support::arbor_bin())
            .arg("cluster")
            .args(args)
            .output()
            .expect("run arbor cluster")
    };
    let servers = ensemble.connect_string();

    // Without credentials the change is refused and nothing changes.
    let (joiner, spec) = ensemble.start_joiner(false).unwrap();
    let refused = cluster(&[
        "add",
        "--server",
        &servers,
        "--id",
        &joiner.to_string(),
        "--spec",
        &spec,
    ]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        ensemble.mode(joiner).is_none(),
        "the joiner serves before being added"
    );

    let added = cluster(&[
        "add",
        "--server",
        &servers,
        "--id",
        &joiner.to_string(),
        "--spec",
        &spec,
        "--auth",
        "super:secret",
    ]);
    let text = String::from_utf8_lossy(&added.stdout);
    assert_eq!(
        added.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(text.contains(&format!("server.{joiner}=")), "{text}");
    ensemble.member_mut(joiner).wait_serving().unwrap();
    assert_eq!(ensemble.mode(joiner).as_deref(), Some("follower"));
    let on_joiner = connect(&ensemble.member(joiner).connect_string()).await;
    on_joiner.sync("/before").await.unwrap();
    assert_eq!(on_joiner.get_data("/before").await.unwrap().0, b"1");
    let leader = ensemble.leader().unwrap();
    let mntr = ensemble.member(leader).four_letter("mntr");
    assert!(mntr.contains("zk_quorum_size\t4"), "{mntr}");

    // Remove member 1 (whichever role it has), asking another member (as with ZooKeeper, a
    // server that removes itself drops its clients): the others carry on with three voters.
    let via = ensemble.member(joiner).connect_string();
    let removed = cluster(&[
        "remove",
        "--server",
        &via,
        "--id",
        "1",
        "--auth",
        "super:secret",
    ]);
    let text = String::from_utf8_lossy(&removed.stdout);
    assert_eq!(
        removed.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(!text.contains("server.1="), "{text}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while ensemble.mode(1).is_some() {
        assert!(
            Instant::now() < deadline,
            "the removed member kept serving: {:?}",
            ensemble.mode(1)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    on_joiner
        .create("/after", b"2", &persistent())
        .await
        .unwrap();
    let (config, _) = on_joiner.get_data("/zookeeper/config").await.unwrap();
    let config = String::from_utf8(config).unwrap();
    assert!(
        !config.contains("server.1=") && config.contains(&format!("server.{joiner}=")),
        "{config}"
    );
}
