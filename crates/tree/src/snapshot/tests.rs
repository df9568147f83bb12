use arbor_proto::{perms, CreateMode};

use super::SnapshotError;
use crate::test_support::*;
use crate::txn::TxnOp;
use crate::{DataTree, TreeOptions};

/// A tree with every kind of node, a few ACLs and sessions.
fn sample() -> Harness {
    let mut h = Harness::new();
    let s = h.open_session();
    h.open_session();
    h.run(create("/app", b"config"));
    h.run(create_with_acl(
        "/app/secret",
        vec![acl(perms::READ, "digest", "u:h")],
    ));
    h.run_as(
        s,
        vec![],
        create_mode("/app/live", CreateMode::EphemeralSequential),
    );
    h.run(create_mode("/locks", CreateMode::Container));
    h.run(create("/locks/l1", b""));
    h.ok(delete("/locks/l1", -1));
    h.run(create_ttl("/ttl", 100));
    h.ok(set_data("/", b"root data", -1));
    h.ok(set_acl(
        "/app",
        vec![acl(perms::ALL, "ip", "10.0.0.0/8")],
        -1,
    ));
    h
}

#[test]
fn round_trip_preserves_everything() {
    let h = sample();
    let bytes = snapshot_of(&h.tree);
    let restored = DataTree::read_snapshot(&mut bytes.as_slice()).unwrap();
    assert_eq!(restored.digest(), h.tree.digest());
    assert_eq!(snapshot_of(&restored), bytes);
    assert_eq!(restored.last_zxid(), h.tree.last_zxid());
    assert_eq!(restored.options(), h.tree.options());
    for path in [
        "/",
        "/app",
        "/app/secret",
        "/locks",
        "/ttl",
        "/zookeeper/config",
    ] {
        assert_eq!(restored.stat(path), h.tree.stat(path), "{path}");
        assert_eq!(restored.acl(path), h.tree.acl(path), "{path}");
        assert_eq!(restored.data(path), h.tree.data(path), "{path}");
    }
    assert_eq!(restored.children("/app"), h.tree.children("/app"));
    assert_eq!(
        restored.approximate_data_size(),
        h.tree.approximate_data_size()
    );
    assert_eq!(restored.node_count(), h.tree.node_count());
    assert_eq!(restored.ephemeral_count(), 1);
    assert_eq!(restored.ephemerals(0x100), h.tree.ephemerals(0x100));
    assert_eq!(
        restored.sessions().collect::<Vec<_>>(),
        h.tree.sessions().collect::<Vec<_>>()
    );
    assert_eq!(
        restored.housekeeping(i64::MAX),
        h.tree.housekeeping(i64::MAX)
    );
    assert_eq!(restored.housekeeping(i64::MAX).len(), 2);
}

#[test]
fn restored_tree_keeps_working() {
    let mut h = sample();
    let bytes = snapshot_of(&h.tree);
    let mut restored = Harness::from_tree(DataTree::read_snapshot(&mut bytes.as_slice()).unwrap());
    for harness in [&mut h, &mut restored] {
        harness.run(TxnOp::CloseSession { session: 0x100 });
        harness.run(create_mode("/app/n", CreateMode::PersistentSequential));
        harness.run(TxnOp::DeleteContainer {
            path: "/locks".into(),
        });
    }
    assert_eq!(restored.tree.digest(), h.tree.digest());
    assert_eq!(restored.tree.children("/app"), h.tree.children("/app"));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = snapshot_of(&sample().tree);
    for len in 0..bytes.len() {
        let result = DataTree::read_snapshot(&mut &bytes[..len]);
        assert!(result.is_err(), "prefix of {len} bytes was accepted");
    }
}

#[test]
fn every_corrupted_byte_is_an_error() {
    let bytes = snapshot_of(&sample().tree);
    for i in 0..bytes.len() {
        let mut corrupt = bytes.clone();
        corrupt[i] ^= 0x5A;
        assert!(
            DataTree::read_snapshot(&mut corrupt.as_slice()).is_err(),
            "byte {i}"
        );
    }
}

#[test]
fn header_errors_are_specific() {
    let bytes = snapshot_of(&DataTree::new(TreeOptions::default()));
    let mut bad_magic = bytes.clone();
    bad_magic[0] = b'X';
    assert!(matches!(
        DataTree::read_snapshot(&mut bad_magic.as_slice()),
        Err(SnapshotError::BadMagic)
    ));
    let mut future = bytes.clone();
    future[8] = 99;
    assert!(matches!(
        DataTree::read_snapshot(&mut future.as_slice()),
        Err(SnapshotError::UnsupportedVersion(99))
    ));
    assert!(matches!(
        DataTree::read_snapshot(&mut &bytes[..bytes.len() - 1]),
        Err(SnapshotError::Truncated)
    ));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(matches!(
        DataTree::read_snapshot(&mut flipped.as_slice()),
        Err(SnapshotError::ChecksumMismatch)
    ));
}

#[test]
fn a_snapshot_in_steps_ignores_later_changes_and_keeps_only_changed_nodes() {
    let mut h = sample();
    let expected = snapshot_of(&h.tree);
    let mut snapshot = h.tree.begin_snapshot();
    let mut written = Vec::new();
    assert!(!snapshot.encode_step(&h.tree, 2, &mut written).unwrap());

    h.ok(set_data("/", b"changed", -1));
    h.ok(set_data("/", b"changed again", -1));
    h.run(create("/new", b"after the start"));
    h.ok(set_data("/new", b"changed after its create", -1));
    h.ok(delete("/ttl", -1));
    // / (data, a child added, one removed) and /ttl (removed) changed; /new is newer than the
    // snapshot and needs no pre-image.
    assert_eq!(h.tree.snapshot_preserved_nodes(), 2);

    while !snapshot.encode_step(&h.tree, 2, &mut written).unwrap() {}
    h.tree.end_snapshot(&snapshot);
    assert_eq!(written, expected);
    assert_eq!(h.tree.snapshot_preserved_nodes(), 0);
    let restored = DataTree::read_snapshot(&mut written.as_slice()).unwrap();
    assert_eq!(restored.data("/").unwrap().0, b"root data".to_vec());
    assert!(restored.data("/ttl").is_some());
    assert!(restored.data("/new").is_none());
}

#[test]
fn a_snapshot_refuses_a_tree_that_stopped_recording_for_it() {
    let mut h = sample();
    let mut first = h.tree.begin_snapshot();
    let _second = h.tree.begin_snapshot();
    let mut out = Vec::new();
    assert!(matches!(
        first.encode_step(&h.tree, 10, &mut out),
        Err(super::SnapshotWriteError::NotRecording)
    ));
    let clone = h.tree.clone();
    let mut third = h.tree.begin_snapshot();
    assert!(matches!(
        third.encode_step(&clone, 10, &mut out),
        Err(super::SnapshotWriteError::NotRecording)
    ));
}
