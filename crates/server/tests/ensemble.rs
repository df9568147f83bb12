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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_under_load_loses_no_acknowledged_write() {
    let mut ensemble = ArborEnsemble::start(3, opts());
    let leader = ensemble.wait_for_leader(Duration::from_secs(10));
    let all = ensemble.connect_string();
    let setup = connect(&all).await;
    setup.create("/load", b"", &persistent()).await.unwrap();

    // Four writers create sequential-free unique paths as fast as they can; each records
    // what was acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let client = connect(&all).await;
        let acked = acked.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            let mut failures = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 20_000 {
                let path = format!("/load/w{w}-{i:06}");
                match client.create(&path, b"x", &persistent()).await {
                    Ok(_) => acked.lock().unwrap().push(path),
                    Err(_) => {
                        failures += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                i += 1;
            }
            failures
        }));
    }
    let count = || acked.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count() < 300 {
        assert!(Instant::now() < deadline, "the writers made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // kill -9 the leader; measure until the next acknowledged write.
    let before = count();
    let killed_at = Instant::now();
    ensemble.member_mut(leader).kill9();
    let deadline = killed_at + Duration::from_secs(20);
    while count() <= before + 50 {
        assert!(
            Instant::now() < deadline,
            "writes did not resume after the leader died"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resumed_after = killed_at.elapsed();
    let new_leader = ensemble.wait_for_leader(Duration::from_secs(10));
    let elected_after = killed_at.elapsed();
    assert_ne!(new_leader, leader);
    eprintln!(
        "kill -9 of leader {leader}: writes resumed after {resumed_after:?}; \
         leader {new_leader} seen after {elected_after:?}"
    );

    // Bring the old leader back while writes continue; it rejoins as a follower.
    ensemble.member_mut(leader).spawn().unwrap();
    ensemble.member_mut(leader).wait_serving().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }

    // Every acknowledged create is on every member, the restarted one included.
    let acked: BTreeSet<String> = acked
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.trim_start_matches("/load/").to_owned())
        .collect();
    let mut views = Vec::new();
    for id in ensemble.ids() {
        let client = connect(&ensemble.member(id).connect_string()).await;
        let children = synced_children(&client, "/load").await;
        let missing: Vec<_> = acked.difference(&children).take(5).collect();
        assert!(
            missing.is_empty(),
            "member {id} lacks acknowledged writes, e.g. {missing:?}"
        );
        views.push(children);
    }
    assert!(
        views.windows(2).all(|w| w[0] == w[1]),
        "members disagree after recovery"
    );
    assert_eq!(ensemble.mode(leader).as_deref(), Some("follower"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_every_member_loses_no_acknowledged_write() {
    let mut ensemble = ArborEnsemble::start(3, opts());
    ensemble.wait_for_leader(Duration::from_secs(10));
    let client = connect(&ensemble.connect_string()).await;
    client.create("/all", b"", &persistent()).await.unwrap();
    let mut acked = BTreeSet::new();
    for i in 0..200 {
        let path = format!("/all/n{i:04}");
        client.create(&path, b"x", &persistent()).await.unwrap();
        acked.insert(format!("n{i:04}"));
    }
    drop(client);
    for id in ensemble.ids().collect::<Vec<_>>() {
        ensemble.member_mut(id).kill9();
    }
    for id in ensemble.ids().collect::<Vec<_>>() {
        ensemble.member_mut(id).spawn().unwrap();
    }
    ensemble.wait_all_serving();
    ensemble.wait_for_leader(Duration::from_secs(10));
    for id in ensemble.ids() {
        let client = connect(&ensemble.member(id).connect_string()).await;
        assert_eq!(synced_children(&client, "/all").await, acked, "member {id}");
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
