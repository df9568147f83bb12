//! Property tests over random txn sequences: replicas agree, failures change nothing, the
//! incremental statistics match a recount, a snapshot taken midway continues identically, and a
//! snapshot written in steps while txns go on applying is exactly the state it began at.

use arbor_proto::{perms, Acl, CreateMode, Id};
use proptest::prelude::*;

use crate::test_support::{acl, state_of};
use crate::txn::{Applied, CreateOp, OpResult, Txn, TxnOp, TxnResult};
use crate::{DataTree, TreeOptions};

/// One step of a scenario: a txn, or "propose whatever housekeeping is due now".
#[derive(Debug, Clone)]
enum Step {
    Txn(Txn),
    Housekeep,
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=3)
            .prop_map(|names| format!("/{}", names.join("/"))),
        1 => prop::sample::select(vec!["/", "", "/a/", "/zookeeper", "/zookeeper/config", "a"])
            .prop_map(str::to_owned),
    ]
}

fn acl_list() -> impl Strategy<Value = Vec<Acl>> {
    prop::sample::select(vec![
        Acl::open_unsafe(),
        Acl::open_unsafe(),
        Acl::read_unsafe(),
        vec![acl(perms::ALL, "digest", "u:h")],
        vec![acl(perms::ALL, "auth", "")],
        vec![
            acl(perms::ALL, "ip", "10.0.0.0/8"),
            acl(perms::READ, "world", "anyone"),
        ],
        vec![],
    ])
}

fn mode() -> impl Strategy<Value = CreateMode> {
    (0..7).prop_map(|flags| CreateMode::from_flags(flags).unwrap_or(CreateMode::Persistent))
}

fn simple_op() -> impl Strategy<Value = TxnOp> {
    let version = prop::sample::select(vec![-1, -1, 0, 1]);
    let data = prop::collection::vec(any::<u8>(), 0..4);
    prop_oneof![
        4 => (path(), data.clone(), acl_list(), mode(), prop::sample::select(vec![0i64, 5, 1000]))
            .prop_map(|(path, data, acl, mode, ttl)| TxnOp::Create(CreateOp { path, data, acl, mode, ttl })),
        2 => (path(), version.clone()).prop_map(|(path, version)| TxnOp::Delete { path, version }),
        2 => (path(), data, version.clone()).prop_map(|(path, data, version)| TxnOp::SetData { path, data, version }),
        1 => (path(), version).prop_map(|(path, version)| TxnOp::Check { path, version }),
    ]
}

fn op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        10 => simple_op(),
        1 => (path(), acl_list(), prop::sample::select(vec![-1, 0])).prop_map(|(path, acl, version)| TxnOp::SetAcl { path, acl, version }),
        3 => prop::collection::vec(simple_op(), 0..4).prop_map(TxnOp::Multi),
        1 => (1i64..=3).prop_map(|session| TxnOp::CreateSession { session, timeout_ms: 4000, password: vec![session as u8] }),
        1 => (1i64..=3).prop_map(|session| TxnOp::CloseSession { session }),
        1 => path().prop_map(|path| TxnOp::DeleteContainer { path }),
        1 => path().prop_map(|path| TxnOp::DeleteExpiredTtl { path }),
        1 => Just(TxnOp::Noop),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let auth = prop::sample::select(vec![
        vec![],
        vec![Id::new("digest", "u:h")],
        vec![Id::new("ip", "10.0.0.1")],
        vec![Id::new("super", "")],
    ]);
    let txn = (0i64..=3, auth, op()).prop_map(|(session, auth, op)| Txn {
        session,
        time: 0,
        auth: auth.into(),
        op,
    });
    let step = prop_oneof![9 => txn.prop_map(Step::Txn), 1 => Just(Step::Housekeep)];
    prop::collection::vec(step, 1..60)
}

/// Applies the steps from `start` on, with zxids and times derived from the position, and
/// returns every result.
fn run(tree: &mut DataTree, steps: &[Step], start: usize) -> Vec<Applied> {
    let mut results = Vec::new();
    for (i, step) in steps.iter().enumerate().skip(start) {
        let time = i as i64 * 400;
        let txns = match step {
            Step::Txn(txn) => vec![Txn {
                time,
                ..txn.clone()
            }],
            Step::Housekeep => tree
                .housekeeping(time)
                .into_iter()
                .map(|op| Txn {
                    session: 0,
                    time,
                    auth: vec![Id::new("super", "")].into(),
                    op,
                })
                .collect(),
        };
        for (j, txn) in txns.iter().enumerate() {
            let zxid = (i as i64 + 1) * 100 + j as i64;
            let digest = tree.digest();
            let state = state_of(tree);
            let applied = tree.apply(zxid, txn);
            if failed(&applied.result) {
                assert!(applied.triggers.is_empty());
                assert_eq!(
                    tree.digest(),
                    digest,
                    "failed txn changed the digest: {txn:?}"
                );
                assert_eq!(
                    state_of(tree),
                    state,
                    "failed txn changed the state: {txn:?}"
                );
            }
            check_counters(tree);
            results.push(applied);
        }
    }
    results
}

fn failed(result: &TxnResult) -> bool {
    match result {
        TxnResult::Error(_) => true,
        TxnResult::Multi(results) => results.iter().any(|r| matches!(r, OpResult::Error(_))),
        _ => false,
    }
}

/// The incrementally kept statistics equal a recount through the public read API.
fn check_counters(tree: &DataTree) {
    let (mut nodes, mut size, mut ephemerals) = (0usize, 0i64, 0usize);
    let mut stack = vec!["/".to_owned()];
    while let Some(path) = stack.pop() {
        let (data, stat) = tree.data(&path).expect("listed child exists");
        nodes += 1;
        size += path.encode_utf16().count() as i64 + data.len() as i64;
        ephemerals += usize::from(stat.ephemeral_owner != 0);
        let (children, _) = tree.children(&path).expect("listed child exists");
        assert_eq!(children.len() as i32, stat.num_children);
        let prefix = if path == "/" { String::new() } else { path };
        stack.extend(children.iter().map(|c| format!("{prefix}/{c}")));
    }
    assert_eq!(tree.node_count(), nodes + 1);
    assert_eq!(tree.all_children_number("/"), Some(nodes as i64 - 1));
    assert_eq!(tree.approximate_data_size(), size);
    assert_eq!(tree.ephemeral_count(), ephemerals);
}

fn fresh() -> DataTree {
    DataTree::new(TreeOptions {
        extended_types_enabled: true,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn replicas_agree(steps in steps()) {
        let (mut a, mut b) = (fresh(), fresh());
        let results_a = run(&mut a, &steps, 0);
        let results_b = run(&mut b, &steps, 0);
        prop_assert_eq!(results_a, results_b);
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(state_of(&a), state_of(&b));
    }

    #[test]
    fn snapshot_midway_continues_identically(steps in steps(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(steps.len() + 1);
        let mut a = fresh();
        run(&mut a, &steps[..cut], 0);
        let mut bytes = Vec::new();
        a.write_snapshot(&mut bytes).unwrap();
        let mut b = DataTree::read_snapshot(&mut bytes.as_slice()).unwrap();
        prop_assert_eq!(b.digest(), a.digest());
        let results_a = run(&mut a, &steps, cut);
        let results_b = run(&mut b, &steps, cut);
        prop_assert_eq!(results_a, results_b);
        prop_assert_eq!(a.digest(), b.digest());
        for path in ["/", "/a", "/a/b", "/b", "/c"] {
            prop_assert_eq!(a.children(path), b.children(path));
        }
    }

    #[test]
    fn snapshot_written_while_applying_is_the_state_it_began_at(
        steps in steps(),
        cut in any::<prop::sample::Index>(),
        nodes_per_step in 1usize..4,
        txns_per_step in 1usize..4,
    ) {
        let cut = cut.index(steps.len() + 1);
        let mut tree = fresh();
        run(&mut tree, &steps[..cut], 0);
        let expected = crate::test_support::snapshot_of(&tree);

        let mut snapshot = tree.begin_snapshot();
        let mut written = Vec::new();
        let mut next = cut;
        loop {
            let done = snapshot.encode_step(&tree, nodes_per_step, &mut written).unwrap();
            if done {
                break;
            }
            let until = (next + txns_per_step).min(steps.len());
            run(&mut tree, &steps[..until], next);
            next = until;
        }
        tree.end_snapshot(&snapshot);
        prop_assert_eq!(tree.snapshot_preserved_nodes(), 0);
        prop_assert_eq!(written, expected);

        // The tree itself went on as if no snapshot had been taken.
        run(&mut tree, &steps, next);
        let mut plain = fresh();
        run(&mut plain, &steps, 0);
        prop_assert_eq!(state_of(&tree), state_of(&plain));
    }
}
