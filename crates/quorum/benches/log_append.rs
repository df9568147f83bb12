//! Raft log append with fdatasync: `cargo bench -p arbor-quorum --bench log_append`.
//!
//! `blocking_append` writes the entries and returns once the group-commit flusher has synced
//! them (`FlushAck::AfterSync`, what a member of an ensemble does), so one iteration is one
//! append and one fdatasync. Entries carry a `TxnBatch` of setData txns with 100-byte values;
//! the cases are one entry of 1 txn, one entry of 256 txns (the batcher under load), and 64
//! entries of 1 txn in one append. The log lives in cargo's target tmp dir (a real disk, not
//! tmpfs).

use arbor_quorum::log_store::{FlushAck, LogOptions, LogStore};
use arbor_quorum::types::{Entry, LogId, TxnBatch};
use arbor_tree::{Txn, TxnOp};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use openraft::storage::RaftLogStorageExt;
use openraft::{CommittedLeaderId, EntryPayload};

fn set_data(i: u64) -> Txn {
    Txn {
        session: 1,
        time: 1_700_000_000_000,
        auth: Vec::new().into(),
        op: TxnOp::SetData {
            path: format!("/bench/keys/g{}/k{i}", i / 100),
            data: vec![b'x'; 100],
            version: -1,
        },
    }
}

fn entry(index: u64, txns: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(TxnBatch::new((0..txns).map(set_data).collect())),
    }
}

fn append(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::Builder::new()
        .prefix("log-append-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let options = LogOptions {
        flush_ack: FlushAck::AfterSync,
        ..LogOptions::default()
    };
    let mut store = LogStore::open(dir.path(), options).expect("open log");
    let mut next_index = 1u64;

    let mut group = c.benchmark_group("log_append_fsync");
    for (entries, txns) in [(1u64, 1u64), (1, 256), (64, 1)] {
        group.throughput(Throughput::Elements(entries * txns));
        group.bench_with_input(
            BenchmarkId::new(format!("{entries}_entries"), format!("{txns}_txns_each")),
            &(entries, txns),
            |b, &(entries, txns)| {
                b.iter_batched(
                    || {
                        let batch: Vec<Entry> =
                            (0..entries).map(|k| entry(next_index + k, txns)).collect();
                        next_index += entries;
                        batch
                    },
                    |batch| {
                        runtime
                            .block_on(store.blocking_append(batch))
                            .expect("append")
                    },
                    criterion::BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
