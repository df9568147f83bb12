//! A follower far behind catches up by snapshot: the leader has purged the log it missed.

use std::time::Duration;

use crate::support::{
    assert_converged, connect, eventually, leader_among, opts, persistent, Cluster,
};

const WRITES: usize = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_far_behind_installs_a_snapshot_and_converges() {
    let opts = opts()
        .config("snapCount", 100)
        .config("autopurge.snapRetainCount", 3);
    let mut cluster = Cluster::loopback(3, opts);
    let all = cluster.ids();
    let leader = leader_among(&cluster, &all, Duration::from_secs(15)).await;
    let behind = *all.iter().find(|&&id| id != leader).unwrap();
    let up: Vec<u64> = all.iter().copied().filter(|&id| id != behind).collect();
    let client = connect(&cluster.connect_string(&up), Duration::from_secs(20)).await;
    client.create("/c", b"", &persistent()).await.unwrap();

    cluster.ensemble.member_mut(behind).kill9();
    // Pipelined creates and updates, a few thousand txns: many snapshots, the log purged
    // behind the oldest of the three kept.
    for chunk in (0..WRITES).collect::<Vec<_>>().chunks(100) {
        let writes = chunk.iter().map(|i| {
            let client = &client;
            async move {
                let path = format!("/c/n{:02}", i % 50);
                if *i < 50 {
                    client.create(&path, b"0", &persistent()).await.map(|_| ())
                } else {
                    client
                        .set_data(&path, i.to_string().as_bytes(), None)
                        .await
                        .map(|_| ())
                }
            }
        });
        for result in futures::future::join_all(writes).await {
            result.expect("write while a follower is down");
        }
    }
    // Retention runs shortly after each new snapshot, so a fourth may exist for a moment.
    let leader_dir = cluster.ensemble.member(leader).data_dir().to_path_buf();
    let snapshots = || {
        std::fs::read_dir(&leader_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-"))
            .count()
    };
    eventually(
        "the leader keeps 1..=3 snapshots (autopurge.snapRetainCount=3)",
        Duration::from_secs(10),
        || (1..=3).contains(&snapshots()),
    )
    .await;

    cluster.ensemble.member_mut(behind).spawn().unwrap();
    cluster.ensemble.member_mut(behind).wait_serving().unwrap();
    let view = assert_converged(&cluster, &all).await;
    assert_eq!(
        view.nodes.keys().filter(|p| p.starts_with("/c/")).count(),
        50
    );
    let log =
        std::fs::read_to_string(cluster.ensemble.member(behind).dir().join("server.log")).unwrap();
    assert!(
        log.contains("installed a snapshot from the leader"),
        "member {behind} caught up without a snapshot; log tail:\n{}",
        cluster.ensemble.member(behind).log_tail()
    );
}
