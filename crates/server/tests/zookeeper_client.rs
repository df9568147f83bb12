//! The `zookeeper-client` crate (kezhuw's Rust client) against a real `arbor server` process,
//! plus a differential run of one scenario against Arbor and the reference ZooKeeper 3.8.

mod common;

use std::time::Duration;

use arbor_proto::records::GetDataRequest;
use arbor_proto::{ErrorCode, EventType as WireEvent, Request};
use arbor_test_support::ZkReference;
use zookeeper_client as zk;

use common::raw::RawConn;
use common::zk::{connect, opts, persistent, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_set_delete_report_zookeeper_stats() {
    let server = common::start_arbor(&[]);
    let client = connect(&server.connect_string()).await;

    let (created, seq) = client.create("/crud", b"v1", &persistent()).await.unwrap();
    assert_eq!(seq.into_i64(), -1, "not sequential");
    assert_eq!(created.version, 0);
    assert_eq!(created.cversion, 0);
    assert_eq!(created.aversion, 0);
    assert_eq!(created.data_length, 2);
    assert_eq!(created.num_children, 0);
    assert_eq!(created.ephemeral_owner, 0);
    assert_eq!(created.czxid, created.mzxid);
    assert_eq!(created.pzxid, created.czxid);
    assert_eq!(created.ctime, created.mtime);
    assert!(created.czxid > 0);

    let (data, stat) = client.get_data("/crud").await.unwrap();
    assert_eq!(data, b"v1");
    assert_eq!(stat, created);

    let updated = client.set_data("/crud", b"value-2", Some(0)).await.unwrap();
    assert_eq!(updated.version, 1);
    assert_eq!(updated.data_length, 7);
    assert!(updated.mzxid > created.mzxid);
    assert_eq!(updated.czxid, created.czxid);
    assert_eq!(updated.ctime, created.ctime);
    assert!(updated.mtime >= created.mtime);
    assert_eq!(
        client.set_data("/crud", b"stale", Some(0)).await,
        Err(zk::Error::BadVersion)
    );

    let (child, _) = client
        .create("/crud/kid", b"", &persistent())
        .await
        .unwrap();
    let parent = client.check_stat("/crud").await.unwrap().expect("parent");
    assert_eq!(parent.num_children, 1);
    assert_eq!(parent.cversion, 1);
    assert_eq!(parent.pzxid, child.czxid);
    assert_eq!(
        parent.version, 1,
        "a child create does not change the data version"
    );
    assert_eq!(parent.mzxid, updated.mzxid);

    assert_eq!(
        client.create("/crud", b"", &persistent()).await,
        Err(zk::Error::NodeExists)
    );
    assert_eq!(
        client.create("/missing/kid", b"", &persistent()).await,
        Err(zk::Error::NoNode)
    );
    assert_eq!(client.get_data("/missing").await, Err(zk::Error::NoNode));
    assert_eq!(client.delete("/crud", None).await, Err(zk::Error::NotEmpty));
    assert_eq!(
        client.delete("/crud/kid", Some(3)).await,
        Err(zk::Error::BadVersion)
    );
    client.delete("/crud/kid", Some(0)).await.unwrap();
    let parent = client.check_stat("/crud").await.unwrap().expect("parent");
    assert_eq!((parent.num_children, parent.cversion), (0, 2));
    assert!(parent.pzxid > child.czxid, "a child delete moves pzxid");
    client.delete("/crud", Some(1)).await.unwrap();
    assert_eq!(client.check_stat("/crud").await.unwrap(), None);
    assert_eq!(client.list_children("/").await.unwrap(), vec!["zookeeper"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_and_ephemeral_nodes() {
    let server = common::start_arbor(&[]);
    let owner = connect(&server.connect_string()).await;
    let other = connect(&server.connect_string()).await;

    owner.create("/seq", b"", &persistent()).await.unwrap();
    owner
        .create("/seq/plain", b"", &persistent())
        .await
        .unwrap();
    let mut names = Vec::new();
    for _ in 0..3 {
        let (_, seq) = owner
            .create("/seq/n-", b"", &opts(zk::CreateMode::PersistentSequential))
            .await
            .unwrap();
        names.push(format!("n-{seq}"));
    }
    // The suffix is the parent's cversion: one child existed before.
    assert_eq!(names, ["n-0000000001", "n-0000000002", "n-0000000003"]);
    let mut children = owner.list_children("/seq").await.unwrap();
    children.sort();
    assert_eq!(
        children,
        ["n-0000000001", "n-0000000002", "n-0000000003", "plain"]
    );

    let (stat, _) = owner
        .create("/seq/eph", b"e", &opts(zk::CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(stat.ephemeral_owner, owner.session_id().0);
    let (_, eseq) = owner
        .create(
            "/seq/eseq-",
            b"",
            &opts(zk::CreateMode::EphemeralSequential),
        )
        .await
        .unwrap();
    assert_eq!(
        owner.create("/seq/eph/kid", b"", &persistent()).await,
        Err(zk::Error::NoChildrenForEphemerals)
    );
    let mut ephemerals = owner.list_ephemerals("/").await.unwrap();
    ephemerals.sort();
    assert_eq!(
        ephemerals,
        vec!["/seq/eph".to_string(), format!("/seq/eseq-{eseq}")]
    );
    assert!(other.list_ephemerals("/").await.unwrap().is_empty());

    // Closing the owner's session removes its ephemerals, and only them.
    let watcher = other.check_and_watch_stat("/seq/eph").await.unwrap().1;
    drop(owner);
    let event = within("NodeDeleted for /seq/eph", watcher.changed()).await;
    assert_eq!(event.event_type, zk::EventType::NodeDeleted);
    assert_eq!(event.path, "/seq/eph");
    let mut left = other.list_children("/seq").await.unwrap();
    left.sort();
    assert_eq!(
        left,
        ["n-0000000001", "n-0000000002", "n-0000000003", "plain"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_watches_fire_once_with_the_right_type() {
    let server = common::start_arbor(&[]);
    let client = connect(&server.connect_string()).await;
    let writer = connect(&server.connect_string()).await;

    let (none, exists_watch) = client.check_and_watch_stat("/w").await.unwrap();
    assert_eq!(none, None);
    writer.create("/w", b"", &persistent()).await.unwrap();
    let event = within("NodeCreated", exists_watch.changed()).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeCreated, "/w")
    );

    let (_, _, data_watch) = client.get_and_watch_data("/w").await.unwrap();
    let (_, child_watch) = client.list_and_watch_children("/w").await.unwrap();
    writer.set_data("/w", b"x", None).await.unwrap();
    let event = within("NodeDataChanged", data_watch.changed()).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeDataChanged, "/w")
    );
    writer.create("/w/c", b"", &persistent()).await.unwrap();
    let event = within("NodeChildrenChanged", child_watch.changed()).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeChildrenChanged, "/w")
    );

    let (_, _, delete_watch) = client.get_and_watch_data("/w/c").await.unwrap();
    writer.delete("/w/c", None).await.unwrap();
    let event = within("NodeDeleted", delete_watch.changed()).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeDeleted, "/w/c")
    );

    // One-time on the wire: a watch set once yields one event for two changes.
    let (mut raw, _) = RawConn::new_session(server.addr(), 10_000);
    let reply = raw.call(&Request::GetData(GetDataRequest {
        path: "/w".into(),
        watch: true,
    }));
    assert_eq!(reply.error(), Some(ErrorCode::Ok));
    for data in [b"1", b"2"] {
        writer.set_data("/w", data, None).await.unwrap();
    }
    // A read after both writes: any event for them is queued before its reply.
    assert_eq!(raw.get_data("/w"), Ok(b"2".to_vec()));
    let events: Vec<_> = raw.events.drain(..).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event(), Some(WireEvent::NodeDataChanged));
    assert_eq!(raw.next_event(Duration::from_millis(300)), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_recursive_watch_sees_every_change_below() {
    let server = common::start_arbor(&[]);
    let client = connect(&server.connect_string()).await;
    let writer = connect(&server.connect_string()).await;
    client.create("/r", b"", &persistent()).await.unwrap();

    let mut watcher = client
        .watch("/r", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    writer.create("/r/a", b"", &persistent()).await.unwrap();
    writer.set_data("/r/a", b"1", None).await.unwrap();
    writer.create("/r/a/b", b"", &persistent()).await.unwrap();
    writer.delete("/r/a/b", None).await.unwrap();
    writer
        .create("/elsewhere", b"", &persistent())
        .await
        .unwrap();
    writer.set_data("/r", b"top", None).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..5 {
        let event = within("recursive watch event", watcher.changed()).await;
        seen.push((event.event_type, event.path));
    }
    use zk::EventType::*;
    assert_eq!(
        seen,
        [
            (NodeCreated, "/r/a".to_string()),
            (NodeDataChanged, "/r/a".to_string()),
            (NodeCreated, "/r/a/b".to_string()),
            (NodeDeleted, "/r/a/b".to_string()),
            (NodeDataChanged, "/r".to_string()),
        ],
        "no child events and nothing outside /r"
    );
    // Still registered after firing.
    writer.set_data("/r/a", b"2", None).await.unwrap();
    let event = within("event after firing", watcher.changed()).await;
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (NodeDataChanged, "/r/a")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_commits_all_or_nothing() {
    let server = common::start_arbor(&[]);
    let client = connect(&server.connect_string()).await;

    let mut multi = client.new_multi_writer();
    multi.add_create("/m", b"a", &persistent()).unwrap();
    multi.add_create("/m/kid", b"", &persistent()).unwrap();
    multi.add_set_data("/m", b"bb", Some(0)).unwrap();
    multi.add_check_version("/m", 1).unwrap();
    let results = multi.commit().await.unwrap();
    assert_eq!(results.len(), 4);
    match &results[0] {
        zk::MultiWriteResult::Create { path, stat } => {
            assert_eq!(path, "/m");
            assert_eq!(stat.version, 0);
        }
        other => panic!("{other:?}"),
    }
    match &results[2] {
        zk::MultiWriteResult::SetData { stat } => {
            assert_eq!(
                (stat.version, stat.data_length, stat.num_children),
                (1, 2, 1)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(results[3], zk::MultiWriteResult::Check);

    // A failing op undoes the ops before it.
    let mut multi = client.new_multi_writer();
    multi.add_create("/m2", b"", &persistent()).unwrap();
    multi.add_set_data("/m", b"lost", None).unwrap();
    multi.add_delete("/absent", None).unwrap();
    multi.add_create("/m3", b"", &persistent()).unwrap();
    let err = multi.commit().await.unwrap_err();
    assert_eq!(
        err,
        zk::MultiWriteError::OperationFailed {
            index: 2,
            source: zk::Error::NoNode
        }
    );
    assert_eq!(client.check_stat("/m2").await.unwrap(), None);
    assert_eq!(client.check_stat("/m3").await.unwrap(), None);
    assert_eq!(client.get_data("/m").await.unwrap().0, b"bb");

    let mut multi = client.new_multi_writer();
    multi.add_check_version("/m", 0).unwrap();
    multi.add_delete("/m/kid", None).unwrap();
    assert_eq!(
        multi.commit().await.unwrap_err(),
        zk::MultiWriteError::OperationFailed {
            index: 0,
            source: zk::Error::BadVersion
        }
    );
    assert!(client.check_stat("/m/kid").await.unwrap().is_some());

    let mut reader = client.new_multi_reader();
    reader.add_get_data("/m").unwrap();
    reader.add_get_children("/m").unwrap();
    reader.add_get_data("/absent").unwrap();
    let results = reader.commit().await.unwrap();
    match &results[..] {
        [zk::MultiReadResult::Data { data, stat }, zk::MultiReadResult::Children { children }, zk::MultiReadResult::Error { err }] =>
        {
            assert_eq!((data.as_slice(), stat.version), (&b"bb"[..], 1));
            assert_eq!(children, &["kid"]);
            assert_eq!(err, &zk::Error::NoNode);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_session_resumes_with_its_ephemerals() {
    let server = common::start_arbor(&[]);
    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_detached()
        .connect(&server.connect_string())
        .await
        .unwrap();
    let (stat, _) = client
        .create("/mine", b"", &opts(zk::CreateMode::Ephemeral))
        .await
        .unwrap();
    let session_id = client.session_id();
    let mut state = client.state_watcher();
    let session = client.into_session();
    assert_eq!(
        within("detach", state.changed()).await,
        zk::SessionState::Closed
    );

    let resumed = zk::Client::connector()
        .with_session(session)
        .connect(&server.connect_string())
        .await
        .unwrap();
    assert_eq!(resumed.session_id(), session_id);
    let (_, now) = resumed.get_data("/mine").await.unwrap();
    assert_eq!(now.ephemeral_owner, stat.ephemeral_owner);
    assert_eq!(resumed.list_ephemerals("/").await.unwrap(), ["/mine"]);

    // Through the wire: the same session with a wrong password is refused.
    let mut raw = RawConn::open(server.addr());
    let refused = raw
        .handshake(&common::raw::connect_request(
            0,
            session_id.0,
            vec![7; 16],
            10_000,
        ))
        .expect("a refusal is still answered");
    assert_eq!((refused.session_id, refused.timeout_ms), (0, 0));
    assert!(raw.closed_within(Duration::from_secs(5)));
    assert!(resumed.check_stat("/mine").await.unwrap().is_some());
}

/// One scenario's observable results, with zxids, times and session ids reduced to facts that
/// hold on any server (equalities and whether a node is ephemeral).
async fn differential_scenario(connect_string: &str) -> Vec<String> {
    let client = connect(connect_string).await;
    let other = connect(connect_string).await;
    let mut log = Vec::new();
    let stat = |s: &zk::Stat| {
        format!(
            "v={} cv={} av={} len={} kids={} eph={} c=m:{} p=c:{}",
            s.version,
            s.cversion,
            s.aversion,
            s.data_length,
            s.num_children,
            s.ephemeral_owner != 0,
            s.czxid == s.mzxid,
            s.pzxid == s.czxid
        )
    };
    let mut watcher = client
        .watch("/d", zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let (_, exists_watch) = other.check_and_watch_stat("/d").await.unwrap();

    let r = client.create("/d", b"root", &persistent()).await;
    log.push(format!("create /d: {:?}", r.map(|(s, _)| stat(&s))));
    let r = client.create("/d", b"", &persistent()).await;
    log.push(format!("create /d again: {:?}", r.map(|(s, _)| stat(&s))));
    for mode in [
        zk::CreateMode::PersistentSequential,
        zk::CreateMode::EphemeralSequential,
        zk::CreateMode::PersistentSequential,
    ] {
        let r = client.create("/d/s-", b"x", &opts(mode)).await;
        log.push(format!(
            "create /d/s- {mode:?}: {:?}",
            r.map(|(s, q)| (stat(&s), q.to_string()))
        ));
    }
    let r = client
        .create("/d/c", b"", &opts(zk::CreateMode::Container))
        .await;
    log.push(format!("create container: {:?}", r.map(|(s, _)| stat(&s))));
    let r = client
        .create("/d/e", b"", &opts(zk::CreateMode::Ephemeral))
        .await;
    log.push(format!("create ephemeral: {:?}", r.map(|(s, _)| stat(&s))));
    let r = client.create("/d/e/x", b"", &persistent()).await;
    log.push(format!(
        "child of ephemeral: {:?}",
        r.map(|(s, _)| stat(&s))
    ));
    let r = client.set_data("/d", b"root-2", Some(0)).await;
    log.push(format!("set /d v0: {:?}", r.map(|s| stat(&s))));
    let r = client.set_data("/d", b"root-3", Some(0)).await;
    log.push(format!("set /d v0 again: {:?}", r.map(|s| stat(&s))));
    let r = client.get_data("/d").await;
    log.push(format!("get /d: {:?}", r.map(|(d, s)| (d, stat(&s)))));
    let r = client.get_children("/d").await;
    log.push(format!(
        "children /d: {:?}",
        r.map(|(mut kids, s)| {
            kids.sort();
            (kids, stat(&s))
        })
    ));
    let r = client.count_descendants_number("/d").await;
    log.push(format!("descendants /d: {r:?}"));
    let r = client.get_acl("/d").await;
    log.push(format!(
        "acl /d: {:?}",
        r.map(|(acls, s)| (format!("{acls:?}"), stat(&s)))
    ));
    let r = client.delete("/d", None).await;
    log.push(format!("delete non-empty: {r:?}"));
    let r = client.delete("/d/e", Some(5)).await;
    log.push(format!("delete bad version: {r:?}"));
    let mut multi = client.new_multi_writer();
    multi.add_create("/d/m", b"", &persistent()).unwrap();
    multi.add_delete("/d/nope", None).unwrap();
    log.push(format!(
        "failed multi: {:?}",
        multi.commit().await.map(|r| r.len())
    ));
    let mut multi = client.new_multi_writer();
    multi.add_create("/d/m", b"m", &persistent()).unwrap();
    multi.add_set_data("/d/m", b"mm", Some(0)).unwrap();
    multi.add_delete("/d/e", None).unwrap();
    let r = multi.commit().await.map(|results| {
        results
            .iter()
            .map(|r| match r {
                // No stat: ZooKeeper 3.8 answers a create2 inside a multi with a plain create
                // result (ZOOKEEPER-4026, fixed in 3.9), Arbor with the 3.9 form.
                zk::MultiWriteResult::Create { path, .. } => format!("create {path}"),
                zk::MultiWriteResult::SetData { stat: s } => format!("set {}", stat(s)),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    });
    log.push(format!("multi: {r:?}"));
    let r = client.sync("/d").await;
    log.push(format!("sync: {r:?}"));
    let r = client.list_auth_users().await;
    log.push(format!("whoami: {r:?}"));

    let event = within("exists watch", exists_watch.changed()).await;
    log.push(format!(
        "exists watch: {:?} {}",
        event.event_type, event.path
    ));
    // Every change under /d above, in commit order.
    for _ in 0..10 {
        let event = within("recursive watch", watcher.changed()).await;
        log.push(format!("recursive: {:?} {}", event.event_type, event.path));
    }
    let extra = tokio::time::timeout(Duration::from_millis(300), watcher.changed()).await;
    log.push(format!(
        "extra event: {:?}",
        extra.map(|e| (e.event_type, e.path)).ok()
    ));
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_results_as_the_reference_zookeeper() {
    let server = common::start_arbor(&[("extendedTypesEnabled", "true")]);
    let arbor = differential_scenario(&server.connect_string()).await;
    // The Arbor half alone still checks the scenario's key facts.
    assert!(
        arbor.contains(&"create /d again: Err(NodeExists)".to_string()),
        "{arbor:#?}"
    );
    assert!(
        arbor
            .iter()
            .any(|l| l.starts_with("failed multi: Err(OperationFailed { index: 1")),
        "{arbor:#?}"
    );
    if !ZkReference::available() {
        eprintln!(
            "SKIPPED the ZooKeeper half: ZooKeeper or {} is not available",
            ZkReference::script().display()
        );
        return;
    }
    let reference = tokio::task::spawn_blocking(ZkReference::standalone)
        .await
        .expect("start the reference ZooKeeper");
    let zookeeper = differential_scenario(&reference.connect_string()).await;
    for (i, (a, z)) in arbor.iter().zip(&zookeeper).enumerate() {
        assert_eq!(a, z, "step {i} differs (arbor vs ZooKeeper)");
    }
    assert_eq!(arbor.len(), zookeeper.len());
}
