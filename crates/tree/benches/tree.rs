//! The data tree's hot paths in a 100,000-node tree: `cargo bench -p arbor-tree --bench tree`.
//!
//! Path lookup (getData's read), and applying create and setData txns (what the state machine
//! does per committed write), on a tree of 100,000 nodes with 100-byte data under 1,000
//! parents, the shape `arbor bench` and the memory example build.

use std::hint::black_box;

use arbor_proto::{Acl, CreateMode};
use arbor_tree::{CreateOp, DataTree, TreeOptions, Txn, TxnOp};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const NODES: usize = 100_000;
const PARENTS: usize = 1_000;

fn txn(op: TxnOp) -> Txn {
    Txn {
        session: 0,
        time: 1_700_000_000_000,
        auth: Vec::new().into(),
        op,
    }
}

fn create(path: String) -> Txn {
    txn(TxnOp::Create(CreateOp {
        path,
        data: vec![b'x'; 100],
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl: 0,
    }))
}

fn node_path(i: usize) -> String {
    format!("/p{:04}/node-{i:010}", i % PARENTS)
}

/// The tree, its next zxid, and the paths of its leaves in a scattered order.
fn tree() -> (DataTree, i64, Vec<String>) {
    let mut tree = DataTree::new(TreeOptions::default());
    let mut zxid = 0;
    for p in 0..PARENTS {
        zxid += 1;
        tree.apply(zxid, &create(format!("/p{p:04}")));
    }
    for i in 0..NODES {
        zxid += 1;
        tree.apply(zxid, &create(node_path(i)));
    }
    // A fixed stride through the keys: consecutive lookups hit unrelated nodes.
    let paths = (0..NODES).map(|i| node_path(i * 7919 % NODES)).collect();
    (tree, zxid + 1, paths)
}

fn tree_ops(c: &mut Criterion) {
    let (mut tree, mut zxid, paths) = tree();
    let mut group = c.benchmark_group("tree_100k");
    group.throughput(Throughput::Elements(1));

    let mut i = 0;
    group.bench_function("lookup/getData", |b| {
        b.iter(|| {
            i = (i + 1) % paths.len();
            black_box(tree.data(black_box(&paths[i])).expect("exists").0.len())
        })
    });

    let set_txns: Vec<Txn> = paths
        .iter()
        .take(10_000)
        .map(|path| {
            txn(TxnOp::SetData {
                path: path.clone(),
                data: vec![b'y'; 100],
                version: -1,
            })
        })
        .collect();
    let mut i = 0;
    group.bench_function("apply/setData", |b| {
        b.iter(|| {
            i = (i + 1) % set_txns.len();
            zxid += 1;
            black_box(tree.apply(zxid, &set_txns[i]))
        })
    });

    // Every iteration adds a node; the tree grows from 100k by however many run.
    let mut n = NODES;
    group.bench_function("apply/create", |b| {
        b.iter_batched(
            || {
                n += 1;
                create(node_path(n))
            },
            |txn| {
                zxid += 1;
                black_box(tree.apply(zxid, &txn))
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, tree_ops);
criterion_main!(benches);
