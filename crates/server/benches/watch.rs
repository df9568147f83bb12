//! Watch trigger cost: `cargo bench -p arbor-server --bench watch`.
//!
//! `WatchRegistry::trigger` runs under the tree's write lock for every change, so its cost
//! with many watchers on one node (a config node everybody watches) and with a large registry
//! that does not watch the changed node (the usual setData) is on the write path.

use std::hint::black_box;

use arbor_proto::EventType;
use arbor_server::watch::{WatchKind, WatchRegistry};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

const NODE: &str = "/config/app";

fn registry(watchers: u64, kind: WatchKind) -> WatchRegistry {
    let mut registry = WatchRegistry::default();
    for conn in 0..watchers {
        registry.add(conn, kind, NODE);
    }
    registry
}

fn trigger(c: &mut Criterion) {
    let mut group = c.benchmark_group("watch_trigger");
    for watchers in [1u64, 100, 1_000, 10_000] {
        group.throughput(Throughput::Elements(watchers));
        // One-time data watches fire and are removed: a fresh registry per trigger.
        group.bench_with_input(
            BenchmarkId::new("one_time", watchers),
            &watchers,
            |b, &watchers| {
                b.iter_batched_ref(
                    || registry(watchers, WatchKind::Data),
                    |registry| black_box(registry.trigger(NODE, EventType::NodeDataChanged)),
                    BatchSize::LargeInput,
                )
            },
        );
        // Persistent watches stay: the same registry every time.
        let mut persistent = registry(watchers, WatchKind::Persistent);
        group.bench_with_input(
            BenchmarkId::new("persistent", watchers),
            &watchers,
            |b, _| b.iter(|| black_box(persistent.trigger(NODE, EventType::NodeDataChanged))),
        );
    }

    // 1,000,000 watches (100 connections x 10,000 nodes), none on the changed node.
    group.throughput(Throughput::Elements(1));
    let mut large = WatchRegistry::default();
    for conn in 0..100 {
        for node in 0..10_000 {
            large.add(conn, WatchKind::Data, &format!("/watched/n{node}"));
        }
    }
    group.bench_function("unwatched_node_among_1m_watches", |b| {
        b.iter(|| black_box(large.trigger("/keys/k1", EventType::NodeDataChanged)))
    });
    group.finish();
}

criterion_group!(benches, trigger);
criterion_main!(benches);
