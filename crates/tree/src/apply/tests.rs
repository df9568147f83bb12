//! Behaviour of `apply`. Expected values marked "ZK" were observed on ZooKeeper 3.8.0.

use arbor_proto::{perms, Acl, CreateMode, ErrorCode, EventType, Id, Stat};

use crate::test_support::*;
use crate::txn::{OpResult, TxnOp, TxnResult};
use crate::{DataTree, TreeOptions};

#[test]
fn create_sets_stat_parent_and_triggers() {
    let mut h = Harness::new();
    let applied = h.run_at(10, 1234, create("/a", b"xyz"));
    let stat = h.stat("/a");
    assert_eq!(
        applied.result,
        TxnResult::Op(OpResult::Created {
            path: "/a".into(),
            stat
        })
    );
    assert_eq!(
        (stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime),
        (10, 10, 10, 1234, 1234)
    );
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(
        (stat.data_length, stat.num_children, stat.ephemeral_owner),
        (3, 0, 0)
    );
    let root = h.stat("/");
    assert_eq!((root.cversion, root.num_children, root.pzxid), (0, 2, 10));
    assert_eq!(
        applied.triggers,
        [
            trig("/a", EventType::NodeCreated),
            trig("/", EventType::NodeChildrenChanged)
        ]
    );
    assert_eq!(h.tree.data("/a").unwrap().0, b"xyz");
    assert_eq!(h.tree.last_zxid(), 10);
}

#[test]
fn stats_follow_zookeeper_through_a_sequence() {
    // ZK: the zkCli session of `create /p; create /p/a; delete /p/a; create -s /p/x (x2);
    // create -s /p/; set /p hello; setAcl /p world:anyone:cdrwa`.
    let mut h = Harness::new();
    h.run_at(3, 0, create("/p", b""));
    h.run_at(4, 0, create("/p/a", b""));
    h.ok_at(
        5,
        TxnOp::Delete {
            path: "/p/a".into(),
            version: -1,
        },
    );
    let p = h.stat("/p");
    assert_eq!(
        (p.czxid, p.mzxid, p.pzxid, p.cversion, p.num_children),
        (3, 3, 5, 2, 0)
    );
    assert_eq!(
        h.created_at(6, create_mode("/p/x", CreateMode::PersistentSequential)),
        "/p/x0000000001"
    );
    assert_eq!(
        h.created_at(7, create_mode("/p/x", CreateMode::PersistentSequential)),
        "/p/x0000000002"
    );
    let p = h.stat("/p");
    assert_eq!((p.pzxid, p.cversion, p.num_children), (7, 4, 2));
    assert_eq!(
        h.created_at(13, create_mode("/p/", CreateMode::PersistentSequential)),
        "/p/0000000003"
    );
    h.ok_at(15, set_data("/p", b"hello", -1));
    let p = h.stat("/p");
    assert_eq!(
        (p.czxid, p.mzxid, p.pzxid, p.cversion, p.version),
        (3, 15, 13, 5, 1)
    );
    assert_eq!((p.data_length, p.num_children, p.aversion), (5, 3, 0));
    h.ok_at(16, set_acl("/p", Acl::open_unsafe(), -1));
    let after = h.stat("/p");
    assert_eq!(after, Stat { aversion: 1, ..p });
}

#[test]
fn create_errors_in_zookeeper_order() {
    let mut h = Harness::new();
    h.run(create("/a", b""));
    h.run(create_with_acl(
        "/locked",
        vec![acl(perms::READ, "world", "anyone")],
    ));
    let s = h.open_session();
    h.run_as(s, vec![], create_mode("/eph", CreateMode::Ephemeral));

    assert_eq!(h.err(create("/nope/x", b"")), ErrorCode::NoNode);
    assert_eq!(h.err(create("/a", b"")), ErrorCode::NodeExists);
    assert_eq!(h.err(create("/", b"")), ErrorCode::NodeExists);
    assert_eq!(
        h.err(create("/eph/x", b"")),
        ErrorCode::NoChildrenForEphemerals
    );
    assert_eq!(h.err(create("/locked/x", b"")), ErrorCode::NoAuth);
    // The ACL check on the parent comes before the existence check.
    h.run_as(0, vec![super_id()], create("/locked/x", b""));
    assert_eq!(h.err(create("/locked/x", b"")), ErrorCode::NoAuth);
    // ACL validation comes before the parent lookup.
    assert_eq!(
        h.err(create_with_acl("/nope/x", vec![])),
        ErrorCode::InvalidAcl
    );
    for bad in ["x", "/a/", "/a\0", "/a/b\u{1}", "/a/."] {
        assert_eq!(h.err(create(bad, b"")), ErrorCode::BadArguments, "{bad:?}");
    }
    // A malformed parent simply does not exist, as in ZooKeeper.
    assert_eq!(h.err(create("/a//b", b"")), ErrorCode::NoNode);
    // Ephemerals need a live session.
    assert_eq!(
        h.err(create_mode("/e2", CreateMode::Ephemeral)),
        ErrorCode::SessionExpired
    );
    assert_eq!(
        h.err(create_mode("/e2", CreateMode::EphemeralSequential)),
        ErrorCode::SessionExpired
    );
    assert!(h.tree.stat("/e2").is_none());
}

#[test]
fn ttl_and_container_modes() {
    let mut plain = Harness::with_options(TreeOptions::default());
    assert_eq!(plain.err(create_ttl("/t", 1000)), ErrorCode::Unimplemented);
    plain.run(create_mode("/c", CreateMode::Container));
    assert_eq!(
        plain.stat("/c").ephemeral_owner,
        0,
        "ZK reports 0 for containers"
    );

    let mut h = Harness::new();
    assert_eq!(h.err(create_ttl("/t", 0)), ErrorCode::BadArguments);
    assert_eq!(
        h.err(create_ttl("/t", 0x100_0000_0000)),
        ErrorCode::BadArguments
    );
    h.run(create_ttl("/t", 0xFF_FFFF_FFFF));
    assert_eq!(
        h.stat("/t").ephemeral_owner,
        0,
        "ZK reports 0 for TTL nodes"
    );
    let mut seq = create_ttl("/t/s", 5);
    if let TxnOp::Create(op) = &mut seq {
        op.mode = CreateMode::PersistentSequentialWithTtl;
    }
    assert_eq!(h.created(seq), "/t/s0000000000");
    h.run(create("/t/s0000000000/child", b""));
}

#[test]
fn delete_paths() {
    let mut h = Harness::new();
    h.run(create("/a", b""));
    h.run(create("/a/b", b""));
    h.ok(set_data("/a/b", b"1", -1));
    assert_eq!(h.err(delete("/a/b", 0)), ErrorCode::BadVersion);
    assert_eq!(
        h.err(delete("/a", 5)),
        ErrorCode::BadVersion,
        "version before emptiness"
    );
    assert_eq!(h.err(delete("/a", -1)), ErrorCode::NotEmpty);
    assert_eq!(h.err(delete("/a/zz", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(delete("/zz/b", -1)), ErrorCode::NoNode);
    for special in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(
            h.err(delete(special, -1)),
            ErrorCode::BadArguments,
            "{special}"
        );
    }
    assert_eq!(h.err(delete("abc", -1)), ErrorCode::BadArguments);
    assert_eq!(h.err(delete("/a/\0", -1)), ErrorCode::BadArguments);

    let zxid = h.next_zxid();
    let applied = h.run_at(zxid, 0, delete("/a/b", 1));
    assert_eq!(applied.result, TxnResult::Op(OpResult::Deleted));
    assert_eq!(
        applied.triggers,
        [
            trig("/a/b", EventType::NodeDeleted),
            trig("/a", EventType::NodeChildrenChanged)
        ]
    );
    let a = h.stat("/a");
    assert_eq!((a.pzxid, a.cversion, a.num_children), (zxid, 2, 0));
    h.ok(delete("/a", -1));
    assert_eq!(h.stat("/").num_children, 1);
}

#[test]
fn delete_needs_delete_permission_on_the_parent() {
    let mut h = Harness::new();
    h.run(create_with_acl(
        "/p",
        vec![acl(perms::ALL & !perms::DELETE, "world", "anyone")],
    ));
    h.run(create("/p/c", b""));
    assert_eq!(h.err(delete("/p/c", -1)), ErrorCode::NoAuth);
    // NoAuth on the parent is reported before a missing child.
    assert_eq!(h.err(delete("/p/missing", -1)), ErrorCode::NoAuth);
    h.run_as(0, vec![super_id()], delete("/p/c", -1));
    assert!(h.tree.stat("/p/c").is_none());
}

#[test]
fn set_data_paths() {
    let mut h = Harness::new();
    h.run(create("/a", b"old"));
    let zxid = h.next_zxid();
    let applied = h.run_at(zxid, 777, set_data("/a", b"newer", 0));
    let stat = h.stat("/a");
    assert_eq!(applied.result, TxnResult::Op(OpResult::DataSet { stat }));
    assert_eq!(
        (stat.version, stat.mzxid, stat.mtime, stat.data_length),
        (1, zxid, 777, 5)
    );
    assert_ne!(stat.czxid, zxid);
    assert_eq!(applied.triggers, [trig("/a", EventType::NodeDataChanged)]);
    assert_eq!(h.err(set_data("/a", b"x", 0)), ErrorCode::BadVersion);
    assert_eq!(h.err(set_data("/b", b"x", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(set_data("/a/", b"x", -1)), ErrorCode::BadArguments);
    assert_eq!(
        h.err(set_data("/zookeeper/config", b"x", -1)),
        ErrorCode::NoAuth
    );
    // NoAuth before BadVersion.
    assert_eq!(
        h.err(set_data("/zookeeper/config", b"x", 9)),
        ErrorCode::NoAuth
    );
    // /zookeeper itself is writable (ZK).
    h.ok(set_data("/zookeeper", b"12345", -1));
}

#[test]
fn set_acl_paths() {
    let mut h = Harness::new();
    h.run(create("/a", b""));
    let applied = h.run(set_acl(
        "/a",
        vec![acl(perms::READ | perms::ADMIN, "world", "anyone")],
        0,
    ));
    assert!(applied.triggers.is_empty(), "setACL fires no watch");
    let (list, stat) = h.tree.acl("/a").unwrap();
    assert_eq!(list, [acl(perms::READ | perms::ADMIN, "world", "anyone")]);
    assert_eq!((stat.aversion, stat.version), (1, 0));
    assert_eq!(
        h.err(set_acl("/a", Acl::open_unsafe(), 0)),
        ErrorCode::BadVersion
    );
    // ZK: InvalidAcl comes before NoNode and NoAuth.
    assert_eq!(h.err(set_acl("/nope", vec![], -1)), ErrorCode::InvalidAcl);
    assert_eq!(
        h.err(set_acl("/nope", Acl::open_unsafe(), -1)),
        ErrorCode::NoNode
    );
    assert_eq!(
        h.err(set_acl("bad", Acl::open_unsafe(), -1)),
        ErrorCode::BadArguments
    );
    h.ok(set_acl("/a", vec![acl(perms::READ, "world", "anyone")], 1));
    assert_eq!(
        h.err(set_acl("/a", Acl::open_unsafe(), -1)),
        ErrorCode::NoAuth
    );
}

#[test]
fn check_paths() {
    let mut h = Harness::new();
    h.run(create("/a", b""));
    assert_eq!(
        h.run(check("/a", 0)).result,
        TxnResult::Op(OpResult::Checked)
    );
    assert_eq!(
        h.run(check("/a", -1)).result,
        TxnResult::Op(OpResult::Checked)
    );
    assert_eq!(h.err(check("/a", 1)), ErrorCode::BadVersion);
    assert_eq!(h.err(check("/b", 0)), ErrorCode::NoNode);
    h.run(create_with_acl(
        "/w",
        vec![acl(perms::WRITE, "world", "anyone")],
    ));
    assert_eq!(
        h.err(check("/w", 0)),
        ErrorCode::NoAuth,
        "check needs READ (ZK)"
    );
}

#[test]
fn sequential_names_count_creates_not_changes() {
    let mut h = Harness::new();
    h.run(create("/q", b""));
    for expected in ["/q/n0000000000", "/q/n0000000001"] {
        assert_eq!(
            h.created(create_mode("/q/n", CreateMode::PersistentSequential)),
            expected
        );
    }
    h.ok(delete("/q/n0000000000", -1));
    h.ok(delete("/q/n0000000001", -1));
    assert_eq!(h.stat("/q").cversion, 4);
    assert_eq!(
        h.created(create_mode("/q/n", CreateMode::PersistentSequential)),
        "/q/n0000000002"
    );
    // Inside a multi, each create sees the previous one.
    let applied = h.run(TxnOp::Multi(vec![
        create_mode("/q/m", CreateMode::PersistentSequential),
        create_mode("/q/m", CreateMode::PersistentSequential),
    ]));
    let TxnResult::Multi(results) = applied.result else {
        panic!("not a multi result");
    };
    let names: Vec<&str> = results
        .iter()
        .map(|r| match r {
            OpResult::Created { path, .. } => path.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(names, ["/q/m0000000003", "/q/m0000000004"]);
}

#[test]
fn sessions_and_ephemerals() {
    let mut h = Harness::new();
    let s = h.open_session();
    let other = h.open_session();
    assert_eq!(h.tree.session(s), Some((30_000, &b"secret"[..])));
    h.run(create("/app", b""));
    h.run_as(s, vec![], create_mode("/app/b", CreateMode::Ephemeral));
    h.run_as(s, vec![], create_mode("/a", CreateMode::Ephemeral));
    h.run_as(other, vec![], create_mode("/app/o", CreateMode::Ephemeral));
    assert_eq!(h.stat("/a").ephemeral_owner, s);
    assert_eq!(h.tree.ephemerals(s), ["/a", "/app/b"]);
    assert_eq!(h.tree.ephemeral_count(), 3);
    let before_close = h.tree.stat("/app").unwrap();

    let zxid = h.next_zxid();
    let applied = h.run_at(zxid, 0, TxnOp::CloseSession { session: s });
    assert_eq!(applied.result, TxnResult::SessionClosed);
    assert_eq!(
        applied.triggers,
        [
            trig("/a", EventType::NodeDeleted),
            trig("/", EventType::NodeChildrenChanged),
            trig("/app/b", EventType::NodeDeleted),
            trig("/app", EventType::NodeChildrenChanged),
        ]
    );
    assert!(h.tree.stat("/a").is_none() && h.tree.stat("/app/b").is_none());
    let app = h.stat("/app");
    assert_eq!((app.pzxid, app.cversion), (zxid, before_close.cversion + 1));
    assert_eq!(h.tree.session(s), None);
    assert_eq!(h.tree.ephemerals(s), Vec::<String>::new());
    assert_eq!(h.tree.ephemeral_count(), 1);
    assert_eq!(
        h.run(TxnOp::CloseSession { session: s }).result,
        TxnResult::Error(ErrorCode::SessionExpired)
    );
    assert_eq!(
        h.tree.sessions().map(|(id, _, _)| id).collect::<Vec<_>>(),
        [other]
    );
}

#[test]
fn create_session_again_updates_it() {
    let mut h = Harness::new();
    h.run(TxnOp::CreateSession {
        session: 9,
        timeout_ms: 1,
        password: vec![1],
    });
    h.run_as(9, vec![], create_mode("/e", CreateMode::Ephemeral));
    let applied = h.run(TxnOp::CreateSession {
        session: 9,
        timeout_ms: 2,
        password: vec![2],
    });
    assert_eq!(applied.result, TxnResult::SessionCreated);
    assert_eq!(h.tree.session(9), Some((2, &[2u8][..])));
    assert_eq!(h.tree.ephemerals(9), ["/e"]);
}

#[test]
fn containers_are_deleted_once_emptied() {
    let mut h = Harness::new();
    h.run(create_mode("/c", CreateMode::Container));
    assert!(h.tree.housekeeping(0).is_empty(), "never had a child");
    h.run(create("/c/x", b""));
    assert!(h.tree.housekeeping(0).is_empty(), "has a child");
    h.ok(delete("/c/x", -1));
    let due = h.tree.housekeeping(0);
    assert_eq!(due, [TxnOp::DeleteContainer { path: "/c".into() }]);

    // A child created before the deletion is applied cancels it.
    h.run(create("/c/y", b""));
    let digest = h.tree.digest();
    let applied = h.run(due[0].clone());
    assert_eq!(
        (applied.result, applied.triggers.len()),
        (TxnResult::Done, 0)
    );
    assert_eq!(h.tree.digest(), digest);
    h.ok(delete("/c/y", -1));

    let applied = h.run(TxnOp::DeleteContainer { path: "/c".into() });
    assert_eq!(applied.result, TxnResult::Done);
    assert_eq!(
        applied.triggers,
        [
            trig("/c", EventType::NodeDeleted),
            trig("/", EventType::NodeChildrenChanged)
        ]
    );
    assert!(h.tree.stat("/c").is_none());
    assert!(h.tree.housekeeping(0).is_empty());
    // Not a container / not there: nothing happens.
    h.run(create("/p", b""));
    h.run(create("/p/x", b""));
    h.ok(delete("/p/x", -1));
    assert_eq!(
        h.run(TxnOp::DeleteContainer { path: "/p".into() })
            .triggers
            .len(),
        0
    );
    assert_eq!(
        h.run(TxnOp::DeleteContainer {
            path: "/gone".into()
        })
        .result,
        TxnResult::Done
    );
    assert!(h.tree.stat("/p").is_some());
}

#[test]
fn ttl_nodes_expire_after_their_ttl_without_change() {
    let mut h = Harness::new();
    h.run_at(h.next_zxid(), 0, create_ttl("/t", 1000));
    assert!(
        h.tree.housekeeping(1000).is_empty(),
        "expires strictly after ttl"
    );
    assert_eq!(
        h.tree.housekeeping(1001),
        [TxnOp::DeleteExpiredTtl { path: "/t".into() }]
    );
    h.run_at(h.next_zxid(), 500, set_data("/t", b"touch", -1));
    assert!(
        h.tree.housekeeping(1001).is_empty(),
        "modification restarts the clock"
    );
    // Applied too early (e.g. proposed from a stale view): nothing happens.
    let early = h.run_at(
        h.next_zxid(),
        1400,
        TxnOp::DeleteExpiredTtl { path: "/t".into() },
    );
    assert!(early.triggers.is_empty());
    h.run(create("/t/child", b""));
    assert!(h.tree.housekeeping(10_000).is_empty(), "has a child");
    h.ok(delete("/t/child", -1));
    let applied = h.run_at(
        h.next_zxid(),
        1501,
        TxnOp::DeleteExpiredTtl { path: "/t".into() },
    );
    assert_eq!(applied.triggers[0], trig("/t", EventType::NodeDeleted));
    assert!(h.tree.stat("/t").is_none());
}

#[test]
fn multi_success_applies_all_with_one_zxid() {
    let mut h = Harness::new();
    h.run(create("/x", b""));
    let zxid = h.next_zxid();
    let applied = h.run_at(
        zxid,
        5,
        TxnOp::Multi(vec![
            create("/x/a", b""),
            set_data("/x", b"d", 0),
            check("/x", 1),
            delete("/x/a", -1),
        ]),
    );
    let x = h.stat("/x");
    let TxnResult::Multi(results) = &applied.result else {
        panic!("not a multi result");
    };
    assert!(
        matches!(&results[0], OpResult::Created { path, stat } if path == "/x/a" && stat.czxid == zxid)
    );
    assert_eq!(
        results[1],
        OpResult::DataSet {
            stat: Stat {
                cversion: 1,
                num_children: 1,
                ..x
            }
        }
    );
    assert_eq!(results[2..], [OpResult::Checked, OpResult::Deleted]);
    assert_eq!(
        (x.mzxid, x.pzxid, x.version, x.cversion),
        (zxid, zxid, 1, 2)
    );
    assert_eq!(
        applied.triggers,
        [
            trig("/x/a", EventType::NodeCreated),
            trig("/x", EventType::NodeChildrenChanged),
            trig("/x", EventType::NodeDataChanged),
            trig("/x/a", EventType::NodeDeleted),
            trig("/x", EventType::NodeChildrenChanged),
        ]
    );
}

#[test]
fn failed_multi_reports_like_zookeeper_and_changes_nothing() {
    let mut h = Harness::new();
    h.run(create("/x", b"data"));
    h.run(create("/x/old", b""));
    h.run(create_with_acl(
        "/x/unique",
        vec![acl(perms::ALL, "digest", "u:h")],
    ));
    let digest = h.tree.digest();
    let before = state_of(&h.tree);

    // ZK: [create /x/m1, create /x (exists), create /x/m2] -> Ok, NodeExists, RuntimeInconsistency.
    let applied = h.run(TxnOp::Multi(vec![
        create("/x/m1", b""),
        create("/x", b""),
        create("/x/m2", b""),
    ]));
    assert_eq!(
        applied.result,
        TxnResult::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::NodeExists),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(applied.triggers.is_empty());
    assert_eq!(h.tree.digest(), digest);

    // Every kind of change, then a failure: all undone.
    let applied = h.run(TxnOp::Multi(vec![
        create_mode("/x/s", CreateMode::PersistentSequential),
        delete("/x/old", -1),
        set_data("/x", b"changed", -1),
        delete("/x/unique", -1),
        create_with_acl("/x/other", vec![acl(perms::READ, "digest", "v:h")]),
        create("/x/old", b"again"),
        check("/x", 0),
    ]));
    let TxnResult::Multi(results) = applied.result else {
        panic!("not a multi result");
    };
    assert_eq!(results[6], OpResult::Error(ErrorCode::BadVersion));
    assert!(results[..6]
        .iter()
        .all(|r| *r == OpResult::Error(ErrorCode::Ok)));
    assert_eq!(h.tree.digest(), digest);
    assert_eq!(state_of(&h.tree), before);
    assert_eq!(
        h.tree.acl("/x/unique").unwrap().0,
        [acl(perms::ALL, "digest", "u:h")]
    );
    assert_eq!(h.tree.approximate_data_size(), 44 + 6 + 6 + 9);
    assert_eq!(h.tree.node_count(), 8);
    // The tree keeps working normally afterwards.
    assert_eq!(
        h.created(create_mode("/x/s", CreateMode::PersistentSequential)),
        "/x/s0000000002"
    );

    // An op kind that a multi cannot hold fails the multi.
    let applied = h.run(TxnOp::Multi(vec![
        create("/y", b""),
        set_acl("/x", Acl::open_unsafe(), -1),
    ]));
    assert_eq!(
        applied.result,
        TxnResult::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadArguments)
        ])
    );
    assert!(h.tree.stat("/y").is_none());
}

#[test]
fn auth_scheme_and_super() {
    let mut h = Harness::new();
    let alice = Id::new("digest", crate::digest_credential("alice:secret"));
    let bob = Id::new("digest", crate::digest_credential("bob:pw"));
    let who = vec![Id::new("ip", "127.0.0.1"), alice.clone(), bob.clone()];
    h.run_as(
        0,
        who.clone(),
        create_with_acl("/mine", vec![acl(perms::ALL, "auth", "")]),
    );
    assert_eq!(
        h.tree.acl("/mine").unwrap().0,
        [
            Acl {
                perms: perms::ALL,
                id: alice.clone()
            },
            Acl {
                perms: perms::ALL,
                id: bob
            }
        ]
    );
    assert_eq!(
        h.run_as(
            0,
            vec![Id::new("ip", "127.0.0.1")],
            create_with_acl("/x", vec![acl(31, "auth", "")])
        )
        .result,
        TxnResult::Error(ErrorCode::InvalidAcl)
    );
    assert_eq!(h.err(set_data("/mine", b"x", -1)), ErrorCode::NoAuth);
    assert_eq!(
        h.tree.check_perm("/mine", perms::READ, &[]),
        Err(ErrorCode::NoAuth)
    );
    assert_eq!(
        h.tree
            .check_perm("/mine", perms::READ, std::slice::from_ref(&alice)),
        Ok(())
    );
    h.run_as(0, vec![alice], set_data("/mine", b"ok", -1));
    h.run_as(0, vec![super_id()], set_data("/mine", b"super", -1));
    assert_eq!(h.tree.data("/mine").unwrap().0, b"super");
}

#[test]
fn ip_acl_with_mask() {
    let mut h = Harness::new();
    h.run(create_with_acl(
        "/net",
        vec![acl(perms::ALL, "ip", "10.0.0.0/8")],
    ));
    let inside = vec![Id::new("ip", "10.1.2.3")];
    let outside = vec![Id::new("ip", "11.1.2.3")];
    assert_eq!(
        h.run_as(0, outside, create("/net/x", b"")).result,
        TxnResult::Error(ErrorCode::NoAuth)
    );
    assert!(matches!(
        h.run_as(0, inside, create("/net/x", b"")).result,
        TxnResult::Op(OpResult::Created { .. })
    ));
}

#[test]
fn statistics_match_zookeeper() {
    // ZK mntr: fresh 44; after /a "xyz", /t2, /e1, /a/e2 -> 60; after set / abc and
    // set /zookeeper 12345 -> 68. getAllChildrenNumber / -> 5 before the ephemerals.
    let mut h = Harness::new();
    let s = h.open_session();
    h.run(create("/a", b"xyz"));
    h.run(create_ttl("/t2", 1_099_511_627_775));
    assert_eq!(h.tree.all_children_number("/"), Some(5));
    h.run_as(s, vec![], create_mode("/e1", CreateMode::Ephemeral));
    h.run_as(s, vec![], create_mode("/a/e2", CreateMode::Ephemeral));
    assert_eq!(h.tree.approximate_data_size(), 60);
    assert_eq!(h.tree.node_count(), 9);
    assert_eq!(h.tree.ephemeral_count(), 2);
    h.ok(set_data("/", b"abc", -1));
    h.ok(set_data("/zookeeper", b"12345", -1));
    assert_eq!(h.tree.approximate_data_size(), 68);
    assert_eq!(h.tree.all_children_number("/a"), Some(1));
    assert_eq!(h.tree.all_children_number("/zookeeper"), Some(2));
    h.run(TxnOp::CloseSession { session: s });
    assert_eq!(h.tree.approximate_data_size(), 60);
}

#[test]
fn noop_and_odd_inputs_change_nothing() {
    let mut h = Harness::new();
    let digest = h.tree.digest();
    assert_eq!(h.run(TxnOp::Noop).result, TxnResult::Done);
    for path in ["", "//", "\0", "/\u{1F600}", "no-slash", "/a/../b"] {
        h.run(create(path, b""));
        h.run(delete(path, -1));
        h.run(set_data(path, b"", -1));
        h.run(set_acl(path, Acl::open_unsafe(), -1));
        h.run(check(path, -1));
        h.run(TxnOp::DeleteContainer { path: path.into() });
        h.run(TxnOp::DeleteExpiredTtl { path: path.into() });
    }
    assert_eq!(h.run(TxnOp::Multi(vec![])).result, TxnResult::Multi(vec![]));
    assert_eq!(
        h.run(TxnOp::Multi(vec![TxnOp::Multi(vec![])])).result,
        TxnResult::Multi(vec![OpResult::Error(ErrorCode::BadArguments)])
    );
    assert_eq!(h.tree.digest(), digest);
    assert_eq!(
        h.tree.stat("/"),
        DataTree::new(TreeOptions::default()).stat("/")
    );
}
