//! `ZkCoord` against a real `arbor server` process.

use std::time::Duration;

use arbor_coord::remote::ZkCoord;
use arbor_coord::{
    Acl, ChangeKind, CoordError, Coordination, CreateKind, DigestCredential, OpResult, WriteOp,
};
use arbor_test_support::{ArborOptions, ArborServer};

async fn connect(server: &ArborServer) -> ZkCoord {
    ZkCoord::connect(&server.connect_string(), Duration::from_secs(10))
        .await
        .expect("connect")
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_writes_and_multi_map_zookeeper_results() {
    let server = ArborServer::start(ArborOptions::new());
    let coord = connect(&server).await;

    assert_eq!(coord.get("/absent").await.unwrap(), None);
    assert_eq!(coord.children("/absent").await.unwrap(), None);
    coord.ensure_path("/a/b/c").await.unwrap();
    coord
        .ensure_path("/a/b/c")
        .await
        .expect("ensure_path is idempotent");
    assert_eq!(
        coord.children("/a/b").await.unwrap(),
        Some(vec!["c".to_string()])
    );

    let seq = coord
        .create("/a/item-", b"x", CreateKind::PersistentSequential)
        .await
        .unwrap();
    assert_eq!(
        seq, "/a/item-0000000001",
        "second child of /a gets sequence 1"
    );
    assert_eq!(
        coord.create("/a/b", b"", CreateKind::Persistent).await,
        Err(CoordError::NodeExists)
    );

    let stat = coord.set_data("/a/b/c", b"v1", Some(0)).await.unwrap();
    assert_eq!(stat.version, 1);
    assert_eq!(
        coord.set_data("/a/b/c", b"v2", Some(0)).await,
        Err(CoordError::BadVersion)
    );
    assert_eq!(coord.delete("/a/b", None).await, Err(CoordError::NotEmpty));

    let results = coord
        .multi(vec![
            WriteOp::Check {
                path: "/a/b/c".into(),
                version: 1,
            },
            WriteOp::SetData {
                path: "/a/b/c".into(),
                data: b"v2".to_vec(),
                expected_version: Some(1),
            },
            WriteOp::Create {
                path: "/a/new".into(),
                data: b"n".to_vec(),
                kind: CreateKind::Persistent,
                acl: Acl::open(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], OpResult::Checked);
    assert!(matches!(results[1], OpResult::SetData { stat } if stat.version == 2));
    assert_eq!(
        results[2],
        OpResult::Created {
            path: "/a/new".into()
        }
    );

    let failed = coord
        .multi(vec![
            WriteOp::Create {
                path: "/a/other".into(),
                data: vec![],
                kind: CreateKind::Persistent,
                acl: Acl::open(),
            },
            WriteOp::Check {
                path: "/a/b/c".into(),
                version: 1,
            },
        ])
        .await
        .unwrap_err();
    assert_eq!(failed.index, Some(1));
    assert_eq!(failed.source, CoordError::BadVersion);
    assert_eq!(
        coord.get("/a/other").await.unwrap(),
        None,
        "a failed multi applies nothing"
    );

    let node = coord.get("/a/b/c").await.unwrap().unwrap();
    assert_eq!(node.data, b"v2");
    assert_eq!(node.stat.version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_fire_on_creation_change_and_children() {
    let server = ArborServer::start(ArborOptions::new());
    let watcher = connect(&server).await;
    let writer = connect(&server).await;

    let (node, created) = watcher.watch_node("/w").await.unwrap();
    assert_eq!(node, None);
    writer
        .create("/w", b"1", CreateKind::Persistent)
        .await
        .unwrap();
    assert_eq!(within("creation", created).await, ChangeKind::Created);

    let (node, changed) = watcher.watch_node("/w").await.unwrap();
    assert_eq!(node.unwrap().data, b"1");
    writer.set_data("/w", b"2", None).await.unwrap();
    assert_eq!(
        within("data change", changed).await,
        ChangeKind::DataChanged
    );

    let (children, children_changed) = watcher.watch_children("/w").await.unwrap();
    assert_eq!(children, Some(vec![]));
    let ephemeral = writer
        .create("/w/e", b"", CreateKind::Ephemeral)
        .await
        .unwrap();
    assert_eq!(ephemeral, "/w/e");
    assert_eq!(
        within("children change", children_changed).await,
        ChangeKind::ChildrenChanged
    );
    let owner = watcher.stat("/w/e").await.unwrap().unwrap().ephemeral_owner;
    assert_eq!(owner, writer.session_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_on_create_and_digest_auth() {
    let server = ArborServer::start(ArborOptions::new());
    let owner_credential = DigestCredential::parse("deployer:s3cret").unwrap();
    let protected = Acl::readable_by_anyone_owned_by(&owner_credential);
    let owner = connect(&server).await;
    owner.add_digest_auth(&owner_credential).await.unwrap();
    owner
        .ensure_path_with_acl("/guarded/dir", &protected)
        .await
        .unwrap();
    owner
        .multi(vec![WriteOp::Create {
            path: "/guarded/dir/doc".into(),
            data: b"v1".to_vec(),
            kind: CreateKind::Persistent,
            acl: protected.clone(),
        }])
        .await
        .unwrap();
    let (acl, stat) = owner.get_acl("/guarded/dir/doc").await.unwrap().unwrap();
    assert!(acl.same_entries(&protected), "{acl}");
    assert_eq!(stat.data_length, 2);
    assert_eq!(owner.get_acl("/absent").await.unwrap(), None);

    // Another session reads and watches, but may not change anything.
    let stranger = connect(&server).await;
    let (node, change) = stranger.watch_node("/guarded/dir/doc").await.unwrap();
    assert_eq!(node.unwrap().data, b"v1");
    assert_eq!(
        stranger.set_data("/guarded/dir/doc", b"mine", None).await,
        Err(CoordError::NoAuth)
    );
    assert_eq!(
        stranger
            .create("/guarded/dir/other", b"", CreateKind::Persistent)
            .await,
        Err(CoordError::NoAuth)
    );
    assert_eq!(
        stranger.delete("/guarded/dir/doc", None).await,
        Err(CoordError::NoAuth)
    );
    // A wrong password is another identity.
    stranger
        .add_digest_auth(&DigestCredential::parse("deployer:guess").unwrap())
        .await
        .unwrap();
    assert_eq!(
        stranger.set_data("/guarded/dir/doc", b"mine", None).await,
        Err(CoordError::NoAuth)
    );
    owner
        .set_data("/guarded/dir/doc", b"v2", None)
        .await
        .unwrap();
    assert_eq!(within("the watch", change).await, ChangeKind::DataChanged);

    // set_acl: opening the node up lets the stranger write.
    owner
        .set_acl("/guarded/dir/doc", &Acl::open(), Some(0))
        .await
        .unwrap();
    stranger
        .set_data("/guarded/dir/doc", b"mine", None)
        .await
        .unwrap();
    assert_eq!(
        owner.set_acl("/guarded/dir/doc", &protected, Some(0)).await,
        Err(CoordError::BadVersion)
    );
}
