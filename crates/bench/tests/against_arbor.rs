//! The benchmark's own subcommands and options against real `arbor server` processes
//! (crates/test-support): `hold` really holds its sessions and watches (the server's `mntr`
//! and `wchs` say so), `--populate-from` / `--setup-only` grow a tree step by step, and
//! `failover` kills the leader of a 3-member ensemble and sees writes resume.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arbor_bench::client::Client;
use arbor_bench::four_letter::{mntr_value, mode};
use arbor_bench::{Bench, BenchArgs, FailoverArgs, HoldArgs, Holder, Workload};
use arbor_proto::records::ExistsRequest;
use arbor_proto::{ErrorCode, Request};
use arbor_test_support::{ArborEnsemble, ArborOptions, ArborServer};

fn server() -> ArborServer {
    ArborServer::start(ArborOptions::new().config("maxClientCnxns", 0))
}

fn mntr(server: &ArborServer, key: &str) -> i64 {
    let answer = server.four_letter("mntr");
    mntr_value(&answer, key).unwrap_or_else(|| panic!("no {key} in mntr:\n{answer}"))
}

/// `Total watches:N` from `wchs`.
fn total_watches(server: &ArborServer) -> u64 {
    let wchs = server.four_letter("wchs");
    wchs.lines()
        .find_map(|line| line.strip_prefix("Total watches:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total in wchs:\n{wchs}"))
}

/// Polls `f` until it returns `want` (the server's counters follow closes asynchronously).
fn eventually<T: PartialEq + std::fmt::Debug>(want: T, mut f: impl FnMut() -> T) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = f();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "wanted {want:?}, still {got:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn exists(client: &Client, path: &str) -> bool {
    let request = Request::Exists(ExistsRequest {
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
async fn hold_keeps_its_sessions_and_watches_until_closed() {
    let server = server();
    let before = mntr(&server, "zk_num_alive_connections");
    let mut args = HoldArgs::new(server.connect_string());
    args.sessions = 150;
    args.watches = 1234;
    args.watch_sessions = 7;
    args.prefix = Some("/hold-test".into());
    let holder = Holder::open(args).await.expect("open");
    let summary = holder.summary().clone();
    assert_eq!(
        (summary.sessions, summary.watch_sessions, summary.watches),
        (150, 7, 1234)
    );
    assert_eq!(summary.watched_nodes, 177); // ceil(1234 / 7)

    // Every session has its own connection (plus the holder's admin session).
    assert_eq!(
        mntr(&server, "zk_num_alive_connections") - before,
        150 + 7 + 1
    );
    assert_eq!(total_watches(&server), 1234);
    assert_eq!(mntr(&server, "zk_watch_count"), 1234);
    // Still there after a while: idle sessions ping and are not expired or dropped.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(holder.connected(), 157);
    assert_eq!(total_watches(&server), 1234);

    holder.close().await.expect("close");
    eventually(before, || mntr(&server, "zk_num_alive_connections"));
    eventually(0, || total_watches(&server));
    let client = Client::connect(server.addr(), Duration::from_secs(10))
        .await
        .expect("connect");
    assert!(
        !exists(&client, "/hold-test").await,
        "watched nodes deleted"
    );
    client.close().await.expect("close");
}

#[test]
fn the_hold_subcommand_prints_when_ready_and_closes_on_sigterm() {
    let server = server();
    let before = mntr(&server, "zk_num_alive_connections");
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbor-bench"))
        .args(["hold", "--server", &server.connect_string()])
        .args([
            "--sessions",
            "40",
            "--watches",
            "500",
            "--watch-sessions",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn arbor-bench hold");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("ready line");
    let summary: serde_json::Value = serde_json::from_str(&line).expect("JSON summary");
    assert_eq!(summary["sessions"], 40);
    assert_eq!(summary["watches"], 500);
    assert_eq!(summary["watched_nodes"], 100);
    assert_eq!(
        mntr(&server, "zk_num_alive_connections") - before,
        40 + 5 + 1
    );
    assert_eq!(total_watches(&server), 500);

    let pid = child.id() as i32;
    // SAFETY: kill(2) takes no pointers.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eventually(before, || mntr(&server, "zk_num_alive_connections"));
    eventually(0, || total_watches(&server));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_grows_step_by_step_and_runs_use_it_without_populating() {
    let server = server();
    let nodes_before = mntr(&server, "zk_znode_count");
    let args = |keys: u64, from: u64| {
        let mut args = BenchArgs::new(server.connect_string(), Workload::Get);
        args.sessions = 3;
        args.outstanding = 4;
        args.keys = keys;
        args.populate_from = from;
        args.prefix = Some("/grow".into());
        args.keep = true;
        args.setup_only = true;
        args
    };
    Bench::prepare(args(250, 0))
        .await
        .expect("first step")
        .finish()
        .await
        .expect("finish");
    // /grow, /grow/keys, 3 groups, 250 keys.
    assert_eq!(mntr(&server, "zk_znode_count") - nodes_before, 2 + 3 + 250);
    Bench::prepare(args(1000, 250))
        .await
        .expect("second step")
        .finish()
        .await
        .expect("finish");
    assert_eq!(
        mntr(&server, "zk_znode_count") - nodes_before,
        2 + 10 + 1000
    );

    // A set run over all 1000 keys finds every one of them.
    let mut set = args(1000, 0);
    set.workload = Workload::Set;
    set.no_populate = true;
    set.setup_only = false;
    set.warmup = Duration::ZERO;
    set.ops = Some(2000);
    let report = arbor_bench::execute(set).await.expect("set run");
    assert_eq!((report.ops, report.errors), (2000, 0), "{report:?}");

    // The binary's --setup-only prints the prefix and touches nothing else.
    let output = Command::new(env!("CARGO_BIN_EXE_arbor-bench"))
        .args(["--server", &server.connect_string(), "--workload", "get"])
        .args([
            "--keys",
            "1000",
            "--populate-from",
            "1000",
            "--prefix",
            "/grow",
        ])
        .args(["--keep", "--setup-only"])
        .output()
        .expect("run arbor-bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(summary["prefix"], "/grow");
    assert_eq!(
        mntr(&server, "zk_znode_count") - nodes_before,
        2 + 10 + 1000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_kills_the_leader_and_sees_writes_resume() {
    let ensemble = ArborEnsemble::start(3, ArborOptions::new());
    let leader = ensemble.wait_for_leader(Duration::from_secs(20));
    let ids: Vec<u64> = ensemble.ids().collect();
    let pids: Vec<i32> = ids
        .iter()
        .map(|&id| ensemble.member(id).pid().expect("running") as i32)
        .collect();
    let mut args = FailoverArgs::new(ensemble.connect_string(), pids.clone());
    args.clients_per_member = 2;
    args.interval = Duration::from_millis(20);
    args.steady = Duration::from_millis(800);
    args.timeout = Duration::from_secs(30);
    let report = arbor_bench::failover::measure(args).await.expect("measure");

    let leader_index = ids.iter().position(|&id| id == leader).expect("leader");
    assert_eq!(report.killed_pid, pids[leader_index], "{report:?}");
    assert_eq!(report.leader, ensemble.member(leader).addr().to_string());
    assert!(report.recovered, "{report:?}");
    assert_eq!(report.clients, 4);
    assert!(report.writes_before_kill > 0, "{report:?}");
    let first = report.first_write_ms.expect("first write");
    let all = report.all_clients_ms.expect("all clients");
    assert!(first > 0.0 && first <= all, "{report:?}");
    assert!(report.per_client_ms.iter().all(Option::is_some));
    let new_leader = report.new_leader.clone().expect("a new leader was seen");
    assert_ne!(new_leader, report.leader);
    // A survivor leads.
    let addr = new_leader.parse().expect("addr");
    assert_eq!(
        mode(addr, Duration::from_secs(2)).await.as_deref(),
        Some("leader")
    );
    assert!(report
        .render_text()
        .contains("first successful write after kill"));
}
