//! The benchmark against the reference Apache ZooKeeper 3.8 (`shared/tools/zk-reference`).
//! Each test starts its own server (one at a time: the zxid test needs a server nobody else
//! writes to, and the machine is small). Skipped, with the reason printed, when the script or
//! ZooKeeper is missing.

use std::process::Command;
use std::time::Duration;

use arbor_bench::client::Client;
use arbor_bench::workload::{create, get_data};
use arbor_bench::{Bench, BenchArgs, Workload};
use arbor_proto::records::GetChildrenRequest;
use arbor_proto::{CreateMode, ErrorCode, EventType, OpCode, Request, Response};
use arbor_test_support::ZkReference;
use tokio::sync::{Mutex, MutexGuard};

static ONE_SERVER_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// A fresh ZooKeeper, or `None` (with the reason printed) when it cannot run here.
async fn zookeeper() -> Option<(MutexGuard<'static, ()>, ZkReference)> {
    if !ZkReference::available() {
        eprintln!(
            "SKIPPED: ZooKeeper or {} not available (run zk-reference install)",
            ZkReference::script().display()
        );
        return None;
    }
    let guard = ONE_SERVER_AT_A_TIME.lock().await;
    Some((guard, ZkReference::standalone()))
}

/// The server's last zxid, from the `srvr` four-letter word (`Zxid: 0x...`).
fn zxid(zk: &ZkReference) -> i64 {
    let srvr = zk.four_letter("srvr");
    let hex = srvr
        .lines()
        .find_map(|line| line.strip_prefix("Zxid: 0x"))
        .unwrap_or_else(|| panic!("no Zxid in srvr output:\n{srvr}"));
    i64::from_str_radix(hex.trim(), 16).expect("hex zxid")
}

fn small_args(zk: &ZkReference, workload: Workload) -> BenchArgs {
    let mut args = BenchArgs::new(zk.connect_string(), workload);
    args.sessions = 4;
    args.outstanding = 8;
    args.keys = 300;
    args.warmup = Duration::ZERO;
    args
}

async fn exists(client: &Client, path: &str) -> bool {
    let request = Request::Exists(arbor_proto::records::ExistsRequest {
        path: path.to_string(),
        watch: false,
    });
    let reply = client.call(request).await.expect("exists");
    match reply.error_code() {
        Some(ErrorCode::Ok) => true,
        Some(ErrorCode::NoNode) => false,
        other => panic!("exists {path}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_ops_match_the_zxid_advance() {
    let Some((_guard, zk)) = zookeeper().await else {
        return;
    };
    for (warmup, ops, duration) in [
        (Duration::ZERO, Some(2000), Duration::from_secs(10)),
        (Duration::from_millis(300), None, Duration::from_millis(700)),
    ] {
        let mut args = small_args(&zk, Workload::Create);
        args.warmup = warmup;
        args.ops = ops;
        args.duration = duration;
        let mut bench = Bench::prepare(args).await.expect("prepare");
        let before = zxid(&zk);
        let report = bench.run().await.expect("run");
        let after = zxid(&zk);
        bench.finish().await.expect("finish");

        assert_eq!(report.errors, 0, "{report:?}");
        if let Some(ops) = ops {
            assert_eq!(report.ops, ops);
            assert_eq!(report.warmup_ops, 0);
        } else {
            assert!(report.warmup_ops > 0 && report.ops > 0, "{report:?}");
        }
        // Each sequential create is one transaction; pings and connections are not.
        assert_eq!(
            (after - before) as u64,
            report.ops + report.warmup_ops,
            "zxid {before:#x} -> {after:#x}, report {report:?}"
        );
        assert!(report.ops_per_sec > 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_of_the_binary_parses_and_the_subtree_is_removed() {
    let Some((_guard, zk)) = zookeeper().await else {
        return;
    };
    let prefix = "/bench-json-test";
    let output = Command::new(env!("CARGO_BIN_EXE_arbor-bench"))
        .args(["--server", &zk.connect_string(), "--workload", "mixed"])
        .args(["--sessions", "3", "--outstanding", "4", "--keys", "150"])
        .args(["--ops", "600", "--warmup", "0s", "--read-pct", "80"])
        .args(["--prefix", prefix, "--json"])
        .output()
        .expect("run arbor-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["workload"], "mixed");
    assert_eq!(report["ops"], 600);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["read_pct"], 80);
    assert_eq!(report["sessions"], 3);
    assert!(report["ops_per_sec"].as_f64().expect("ops_per_sec") > 0.0);
    let latency = &report["latency_ms"];
    let p50 = latency["p50"].as_f64().expect("p50");
    let p999 = latency["p99.9"].as_f64().expect("p99.9");
    assert!(p50 > 0.0 && p50 <= p999, "{latency}");

    let client = Client::connect(zk.addr(), Duration::from_secs(10))
        .await
        .expect("connect");
    assert!(
        !exists(&client, prefix).await,
        "the run must delete its subtree"
    );
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_operations_are_counted_as_errors() {
    let Some((_guard, zk)) = zookeeper().await else {
        return;
    };
    // With --no-populate the keys do not exist: every set and every multi is refused.
    for workload in [Workload::Set, Workload::Multi] {
        let mut args = small_args(&zk, workload);
        args.no_populate = true;
        args.ops = Some(300);
        let report = arbor_bench::execute(args)
            .await
            .expect("a refused op is no failure");
        assert_eq!(report.ops, 300, "{report:?}");
        assert_eq!(report.errors, 300, "{report:?}");
        assert_eq!(report.error_counts.get("NONODE"), Some(&300), "{report:?}");
    }

    // A create on an existing node without the sequential flag is refused with NODEEXISTS.
    let client = Client::connect(zk.addr(), Duration::from_secs(10))
        .await
        .expect("connect");
    let node = || create("/taken".into(), vec![], CreateMode::Persistent);
    assert!(client.call(node()).await.expect("first").is_ok());
    let again = client.call(node()).await.expect("second");
    assert_eq!(again.error_code(), Some(ErrorCode::NodeExists));
    assert_eq!(
        arbor_bench::workload::outcome_of(OpCode::Create, &again),
        arbor_bench::stats::Outcome::Error("NODEEXISTS".into())
    );
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_and_fanout_run_cleanly() {
    let Some((_guard, zk)) = zookeeper().await else {
        return;
    };
    let mut churn = small_args(&zk, Workload::EphemeralChurn);
    churn.ops = Some(40);
    let mut bench = Bench::prepare(churn).await.expect("prepare churn");
    let report = bench.run().await.expect("churn");
    assert_eq!((report.ops, report.errors), (40, 0), "{report:?}");
    // Every churn session was closed, so its ephemeral node is gone.
    let client = Client::connect(zk.addr(), Duration::from_secs(10))
        .await
        .expect("connect");
    let listing = Request::GetChildren(GetChildrenRequest {
        path: bench.layout().ephemeral_dir(),
        watch: false,
    });
    let reply = client.call(listing).await.expect("getChildren");
    assert_eq!(
        reply.response(OpCode::GetChildren).expect("decode"),
        Response::GetChildren(vec![])
    );
    bench.finish().await.expect("finish churn");

    let mut fanout = small_args(&zk, Workload::WatchFanout);
    fanout.watchers = 6;
    fanout.ops = Some(25);
    let report = arbor_bench::execute(fanout).await.expect("fanout");
    assert_eq!((report.ops, report.errors), (25, 0), "{report:?}");
    assert_eq!(report.watchers, Some(6));
    assert!(report.latency_ms.p50 > 0.0);
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_pipelines_and_receives_notifications() {
    let Some((_guard, zk)) = zookeeper().await else {
        return;
    };
    let mut client = Client::connect(zk.addr(), Duration::from_secs(10))
        .await
        .expect("connect");
    assert_ne!(client.session_id(), 0);
    let mut notifications = client.take_notifications().expect("notifications");
    assert!(client
        .call(create("/p".into(), b"v".to_vec(), CreateMode::Persistent))
        .await
        .expect("create")
        .is_ok());

    // 200 requests in flight at once; each reply matches its own request.
    let pending: Vec<_> = (0..200)
        .map(|i| {
            client
                .submit(create(format!("/p/c{i}"), vec![], CreateMode::Persistent))
                .expect("submit")
        })
        .collect();
    let mut last_zxid = 0;
    for (i, reply) in pending.into_iter().enumerate() {
        let reply = reply.await.expect("reply");
        assert_eq!(
            reply.response(OpCode::Create).expect("decode"),
            Response::Create(format!("/p/c{i}"))
        );
        assert!(reply.zxid > last_zxid, "replies come in order");
        last_zxid = reply.zxid;
    }

    let watched = client
        .call(get_data("/p".into(), true))
        .await
        .expect("getData");
    let Ok(Response::GetData(data, _)) = watched.response(OpCode::GetData) else {
        panic!("getData reply {watched:?}");
    };
    assert_eq!(data, b"v");
    let set = arbor_bench::workload::set_data("/p".into(), b"w".to_vec());
    assert!(client.call(set).await.expect("setData").is_ok());
    let event = tokio::time::timeout(Duration::from_secs(5), notifications.recv())
        .await
        .expect("notification in time")
        .expect("event");
    assert_eq!(event.path, "/p");
    assert_eq!(event.event(), Some(EventType::NodeDataChanged));
    let deleted = arbor_bench::tree::delete_tree(&client, "/p")
        .await
        .expect("delete");
    assert_eq!(deleted, 201);
    assert!(!exists(&client, "/p").await);
    client.close().await.expect("close");
}
