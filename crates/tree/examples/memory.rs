//! Measures resident memory for a large tree: `cargo run --release -p arbor-tree --example
//! memory -- [nodes] [data_bytes]` (defaults: 1,000,000 nodes of 100 bytes, under 1,000
//! parents). Prints RSS before and after (Linux `/proc/self/status`), and how long writing and
//! reading a snapshot of the tree takes (the server writes one every snapCount txns).

use arbor_proto::{Acl, CreateMode};
use arbor_tree::{CreateOp, DataTree, TreeOptions, Txn, TxnOp};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn create(path: String, data: Vec<u8>) -> Txn {
    Txn {
        session: 0,
        time: 1_700_000_000_000,
        auth: Vec::new().into(),
        op: TxnOp::Create(CreateOp {
            path,
            data,
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl: 0,
        }),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let data_len: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let before = rss_mib();
    let mut tree = DataTree::new(TreeOptions::default());
    let mut zxid = 0;
    let parents = 1000.min(nodes.max(1));
    for p in 0..parents {
        zxid += 1;
        tree.apply(zxid, &create(format!("/p{p:04}"), vec![]));
    }
    let started = std::time::Instant::now();
    for i in 0..nodes {
        zxid += 1;
        let path = format!("/p{:04}/node-{i:010}", i % parents);
        tree.apply(zxid, &create(path, vec![b'x'; data_len]));
    }
    let elapsed = started.elapsed();
    let after = rss_mib();
    println!(
        "{nodes} nodes x {data_len} B: RSS {before:.1} -> {after:.1} MiB ({:.0} B/node), {:.0} creates/s, digest {:016x}",
        (after - before) * 1024.0 * 1024.0 / nodes as f64,
        nodes as f64 / elapsed.as_secs_f64(),
        tree.digest()
    );

    let started = std::time::Instant::now();
    let mut snapshot = Vec::new();
    if let Err(e) = tree.write_snapshot(&mut snapshot) {
        eprintln!("snapshot failed: {e}");
        return;
    }
    let written = started.elapsed();
    let started = std::time::Instant::now();
    let restored = DataTree::read_snapshot(&mut snapshot.as_slice());
    let read = started.elapsed();
    println!(
        "snapshot: {:.1} MiB written in {:.0} ms, read back in {:.0} ms ({})",
        snapshot.len() as f64 / (1024.0 * 1024.0),
        written.as_secs_f64() * 1000.0,
        read.as_secs_f64() * 1000.0,
        match restored {
            Ok(t) if t.digest() == tree.digest() => "same digest",
            Ok(_) => "DIGEST DIFFERS",
            Err(_) => "UNREADABLE",
        }
    );
}
