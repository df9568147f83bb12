//! `arbor config` end to end: the real binary against a real `arbor server`, and against a
//! real Apache ZooKeeper 3.8 (it talks the plain ZooKeeper protocol). Checks exit codes, output,
//! and the tree through a separate ZooKeeper session; and that a long poll on the server's HTTP
//! API answers a CLI push at once.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use arbor_coord::remote::ZkCoord;
use arbor_coord::Coordination;
use arbor_test_support::{
    arbor_bin, free_port, http_get, ArborOptions, ArborServer, TreeView, ZkReference,
};

fn config_command(server: &str, args: &[&str]) -> Command {
    let mut command = Command::new(arbor_bin());
    command
        .arg("config")
        .args(["--server", server])
        .args(args)
        .env("USER", "tester")
        .stdin(Stdio::null());
    command
}

/// Runs `arbor config --server SERVER ARGS...` to completion.
fn config(server: &str, args: &[&str]) -> Output {
    config_command(server, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", arbor_bin().display()))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and asserts the exit code; returns stdout.
fn expect(server: &str, args: &[&str], code: i32) -> String {
    let output = config(server, args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "arbor config {args:?}\nstdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    if code == 0 {
        stdout(&output)
    } else {
        stderr(&output)
    }
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

/// The whole tree as a separate client of `server` reads it (data and stats of every node),
/// for "a refusal changed nothing" checks.
fn tree(server: &str) -> TreeView {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = zookeeper_client::Client::connect(server)
            .await
            .unwrap_or_else(|e| panic!("connect to {server}: {e}"));
        TreeView::read(&client, "/")
            .await
            .unwrap_or_else(|e| panic!("read the tree of {server}: {e}"))
    })
}

fn assert_same_tree(before: &TreeView, after: &TreeView, what: &str) {
    assert!(
        before == after,
        "{what} changed the tree: {}",
        before.first_difference(after).unwrap_or_default()
    );
}

/// The lines a child prints, as they come.
fn watch_lines(out: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for a child with a deadline, killing it if it overruns.
fn wait_with_deadline(mut child: Child, deadline: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("arbor config watch did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The scenario both servers must pass: push/get per format, refusals, conditional pushes,
/// history, diff, rollback, watch, export/import.
fn scenario(server: &str) {
    let dir = tempfile::tempdir().unwrap();
    let web = ["--env", "prod", "--app", "web"];
    let target = [&web[..], &["--name", "application.yml"]].concat();
    let v1 = "server:\n  port: 8080\n";
    let v2 = "server:\n  port: 9090\n";

    // push -> get, every format; the name defaults to the file's name.
    for (name, content) in [
        ("application.yml", v1),
        ("flags.json", "{\"beta\": true}\n"),
        ("limits.toml", "max = 3\n"),
        ("db.properties", "url=jdbc:x\n"),
        ("motd.txt", "hello\n"),
    ] {
        let file = write(dir.path(), name, content);
        let out = expect(server, &[&["push", &file][..], &web].concat(), 0);
        assert_eq!(out.trim(), format!("prod/web/{name}: version 1"));
        let got = expect(server, &[&["get"][..], &web, &["--name", name]].concat(), 0);
        assert_eq!(got, content, "{name}");
    }
    let info = expect(server, &[&["get", "--info"][..], &target].concat(), 0);
    assert!(
        info.contains("version: 1\n") && info.contains("author: tester\n"),
        "{info}"
    );

    // Refusals: exit 1, a clear message, nothing written.
    let before = tree(server);
    let bad = write(dir.path(), "bad.yml", "server:\n  port: [8080\n");
    let err = expect(
        server,
        &[&["push", &bad][..], &web, &["--name", "application.yml"]].concat(),
        1,
    );
    assert!(err.contains("invalid YAML at line 3"), "{err}");
    let bad_props = write(dir.path(), "bad.properties", "a=1\na=2\n");
    let err = expect(server, &[&["push", &bad_props][..], &web].concat(), 1);
    assert!(err.contains("line 2, column 1: duplicate key"), "{err}");
    let noext = write(dir.path(), "noext", "x");
    let err = expect(server, &[&["push", &noext][..], &web].concat(), 1);
    assert!(err.contains("needs an extension"), "{err}");
    let file = write(dir.path(), "v2.yml", v2);
    let err = expect(
        server,
        &[
            "push", &file, "--env", "..", "--app", "web", "--name", "a.yml",
        ],
        1,
    );
    assert!(err.contains("invalid env \"..\""), "{err}");
    // Bad names, for writes and reads alike: refused before anything is sent.
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "push", &file, "--env", "", "--app", "web", "--name", "a.yml",
            ],
            "invalid env \"\": must not be empty",
        ),
        (
            &[
                "push", &file, "--env", "prod", "--app", "", "--name", "a.yml",
            ],
            "invalid app \"\": must not be empty",
        ),
        (
            &[
                "push", &file, "--env", "prod", "--app", "..", "--name", "a.yml",
            ],
            "invalid app \"..\": `.` and `..` are not names",
        ),
        (
            &[
                "push", &file, "--env", "prod", "--app", "web", "--name", "..",
            ],
            "invalid config name \"..\": `.` and `..` are not names",
        ),
        (
            &[
                "push", &file, "--env", "prod", "--app", "web", "--name", "v2",
            ],
            "invalid config name \"v2\": needs an extension",
        ),
        (
            &["delete", "--env", "", "--app", "web", "--name", "motd.txt"],
            "invalid env \"\": must not be empty",
        ),
        (
            &["delete", "--env", "prod", "--app", "", "--name", "motd.txt"],
            "invalid app \"\": must not be empty",
        ),
        (
            &["delete", "--env", "prod", "--app", "web", "--name", "motd"],
            "needs an extension",
        ),
        (
            &[
                "rollback", "--to", "1", "--env", "prod", "--app", "", "--name", "motd.txt",
            ],
            "invalid app \"\": must not be empty",
        ),
        (
            &["get", "--env", "", "--app", "web", "--name", "motd.txt"],
            "invalid env \"\": must not be empty",
        ),
        (
            &["get", "--env", "prod", "--app", "web", "--name", ".."],
            "`.` and `..` are not names",
        ),
        (&["ls", "--env", ""], "invalid env \"\": must not be empty"),
    ];
    for (args, message) in cases {
        let err = expect(server, args, 1);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert_same_tree(&before, &tree(server), "refused pushes and bad names");
    let history = expect(server, &[&["history"][..], &target].concat(), 0);
    assert_eq!(
        history.lines().count(),
        1,
        "refusals left no history: {history}"
    );

    // Conditional pushes.
    let err = expect(
        server,
        &[
            &[
                "push",
                &file,
                "--expect-version",
                "7",
                "--name",
                "application.yml",
            ][..],
            &web,
        ]
        .concat(),
        1,
    );
    assert!(
        err.contains("expected version 7, but the current version is 1"),
        "{err}"
    );
    let out = expect(
        server,
        &[
            &[
                "push",
                &file,
                "--expect-version",
                "1",
                "--name",
                "application.yml",
                "-m",
                "bump port",
            ][..],
            &web,
        ]
        .concat(),
        0,
    );
    assert_eq!(out.trim(), "prod/web/application.yml: version 2");
    let out = expect(
        server,
        &[&["push", &file, "--name", "application.yml"][..], &web].concat(),
        0,
    );
    assert_eq!(
        out.trim(),
        "prod/web/application.yml: unchanged at version 2"
    );

    // get --version: any retained version's bytes; --info describes that version.
    let at = |version: &'static str| [&["get", "--version", version][..], &target].concat();
    assert_eq!(expect(server, &at("1"), 0), v1);
    assert_eq!(expect(server, &at("2"), 0), v2);
    let info = expect(server, &[&at("1")[..], &["--info"]].concat(), 0);
    assert!(
        info.contains("version: 1\n") && info.contains("kind: push\n"),
        "{info}"
    );
    let err = expect(server, &at("9"), 1);
    assert!(
        err.contains("prod/web/application.yml: version 9 is not in the history"),
        "{err}"
    );

    // Listings, history, diff.
    assert_eq!(expect(server, &["ls"], 0), "prod\n");
    assert_eq!(expect(server, &["ls", "--env", "prod"], 0), "web\n");
    let listing = expect(server, &[&["ls"][..], &web].concat(), 0);
    assert!(
        listing.contains("application.yml  yaml        v2"),
        "{listing}"
    );
    let history = expect(server, &[&["history"][..], &target].concat(), 0);
    let first = history.lines().next().unwrap();
    assert!(
        first.starts_with("v2") && first.contains("tester") && first.ends_with("bump port"),
        "{history}"
    );
    let diff = expect(
        server,
        &[&["diff", "--from", "1", "--to", "2"][..], &target].concat(),
        0,
    );
    assert!(diff.contains("-  port: 8080\n+  port: 9090\n"), "{diff}");
    let local = write(dir.path(), "local.yml", "server:\n  port: 7070\n");
    let diff = expect(
        server,
        &[&["diff", "--file", &local][..], &target].concat(),
        0,
    );
    assert!(diff.contains("-  port: 9090\n+  port: 7070\n"), "{diff}");

    // watch prints its starting point, then each new version as it lands.
    let mut watcher = config_command(server, &[&["watch", "--count", "2"][..], &target].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = watch_lines(watcher.stdout.take().unwrap());
    let next_line = || {
        lines
            .recv_timeout(Duration::from_secs(20))
            .expect("arbor config watch printed nothing")
    };
    assert_eq!(next_line(), "prod/web/application.yml: at version 2");
    let out = expect(
        server,
        &[&["rollback", "--to", "1"][..], &target].concat(),
        0,
    );
    assert_eq!(out.trim(), "prod/web/application.yml: version 3");
    let got = expect(server, &[&["get"][..], &target].concat(), 0);
    assert_eq!(got, v1, "rollback restores v1's bytes");
    assert_eq!(
        expect(server, &at("2"), 0),
        v2,
        "older versions stay readable"
    );
    expect(
        server,
        &[&["push", &file, "--name", "application.yml"][..], &web].concat(),
        0,
    );
    let rollback = next_line();
    assert!(
        rollback.starts_with("v3") && rollback.contains("rollback of v1"),
        "{rollback}"
    );
    let push = next_line();
    assert!(push.starts_with("v4") && push.contains("push"), "{push}");
    let status = wait_with_deadline(watcher, Duration::from_secs(20));
    assert!(
        status.success(),
        "watch --count 2 exits 0 after two versions"
    );

    // export, then import into another env: dry run writes nothing, then it creates all.
    let export_dir = dir.path().join("export");
    let out = expect(
        server,
        &[&["export", export_dir.to_str().unwrap()][..], &web].concat(),
        0,
    );
    assert!(
        out.ends_with(&format!(
            "exported 5 config(s) to {}\n",
            export_dir.display()
        )),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(export_dir.join("application.yml")).unwrap(),
        v2
    );
    let staging = ["--env", "staging", "--app", "web"];
    let plan = expect(
        server,
        &[
            &["import", export_dir.to_str().unwrap(), "--dry-run"][..],
            &staging,
        ]
        .concat(),
        0,
    );
    assert_eq!(plan.matches("create ").count(), 5, "{plan}");
    assert!(plan.ends_with("dry run: nothing written\n"), "{plan}");
    assert_eq!(
        expect(server, &["ls"], 0),
        "prod\n",
        "dry run wrote nothing"
    );
    expect(
        server,
        &[&["import", export_dir.to_str().unwrap()][..], &staging].concat(),
        0,
    );
    std::fs::write(export_dir.join("motd.txt"), "changed\n").unwrap();
    let plan = expect(
        server,
        &[
            &["import", export_dir.to_str().unwrap(), "--dry-run"][..],
            &staging,
        ]
        .concat(),
        0,
    );
    assert_eq!(plan.matches("unchanged ").count(), 4, "{plan}");
    assert!(
        plan.contains("update     staging/web/motd.txt (at v1)"),
        "{plan}"
    );
    std::fs::write(export_dir.join("broken.json"), "{").unwrap();
    let err = expect(
        server,
        &[&["import", export_dir.to_str().unwrap()][..], &staging].concat(),
        1,
    );
    assert!(err.contains("broken.json: invalid JSON at line 1"), "{err}");
    let motd = expect(
        server,
        &[
            "get", "--env", "staging", "--app", "web", "--name", "motd.txt",
        ],
        0,
    );
    assert_eq!(motd, "hello\n", "a refused import writes nothing");

    // Delete, then get: not found (exit 1).
    expect(
        server,
        &[&["delete"][..], &web, &["--name", "motd.txt"]].concat(),
        0,
    );
    let err = expect(
        server,
        &[&["get"][..], &web, &["--name", "motd.txt"]].concat(),
        1,
    );
    assert!(
        err.contains("no such config (deleted in version 2)"),
        "{err}"
    );
    // The deleted config's retained versions can still be read.
    let motd_v1 = expect(
        server,
        &[
            &["get", "--version", "1"][..],
            &web,
            &["--name", "motd.txt"],
        ]
        .concat(),
        0,
    );
    assert_eq!(motd_v1, "hello\n");
}

#[test]
fn config_cli_against_arbor() {
    let server = ArborServer::start(ArborOptions::new());
    let connect = server.connect_string();
    scenario(&connect);

    // Usage errors exit 2; an unreachable ensemble exits 3.
    expect(&connect, &["push"], 2);
    expect(&connect, &["ls", "--app", "web"], 2);
    expect(
        &connect,
        &["diff", "--env", "prod", "--app", "web", "--name", "a.yml"],
        2,
    );
    let nobody = format!("127.0.0.1:{}", free_port());
    let err = expect(&nobody, &["--timeout", "1", "ls"], 3);
    assert!(err.contains("unavailable"), "{err}");

    // The Spring projection, switched on from the CLI, is visible to any ZooKeeper client.
    let out = expect(
        &connect,
        &["spring", "--env", "prod", "--app", "web", "on"],
        0,
    );
    assert!(
        out.contains("Spring projection on at /config/web,prod"),
        "{out}"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let coord = ZkCoord::connect(&connect, Duration::from_secs(10))
            .await
            .unwrap();
        let port = coord
            .get("/config/web,prod/server/port")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(port.data, b"9090");
        let url = coord.get("/config/web,prod/url").await.unwrap().unwrap();
        assert_eq!(url.data, b"jdbc:x");
    });
    expect(
        &connect,
        &["spring", "--env", "prod", "--app", "web", "off"],
        0,
    );
}

#[test]
fn config_cli_against_reference_zookeeper() {
    if !ZkReference::available() {
        eprintln!(
            "SKIPPED: the zk-reference script or ZooKeeper/java is not installed ({})",
            ZkReference::script().display()
        );
        return;
    }
    let zk = ZkReference::standalone();
    scenario(&zk.connect_string());
}

/// Issue 5: "HTTP long-poll returns within a second of a CLI push". A long poll on the server's
/// admin port (`?watch=<version>&timeout=30s`) is waiting when the real `arbor config push`
/// runs; it must answer with the pushed version within a second of the push command's exit
/// (measured from the exit, so the CLI's own start-up and connect do not count).
#[test]
fn http_long_poll_answers_within_a_second_of_a_cli_push() {
    const BOUND: Duration = Duration::from_secs(1);
    let server = ArborServer::start(ArborOptions::new());
    let connect = server.connect_string();
    let admin = server.admin_addr();
    let dir = tempfile::tempdir().unwrap();
    let doc = "/api/v1/config/prod/web/application.yml";
    let push = |content: &str| {
        let file = write(dir.path(), "application.yml", content);
        let started = Instant::now();
        let out = expect(
            &connect,
            &["push", &file, "--env", "prod", "--app", "web"],
            0,
        );
        (started, Instant::now(), out)
    };
    push("round: 0\n");
    // The server's API client may still be connecting: wait until it reads version 1.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = http_get(admin, doc).unwrap();
        if response.status == 200 {
            let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(body["version"], 1, "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the config API never answered: {} {}",
            response.status,
            response.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut latencies = Vec::new();
    for round in 1..=3u64 {
        let target = format!("{doc}?watch={round}&timeout=30s");
        let poll = std::thread::spawn(move || {
            let response = http_get(admin, &target).unwrap();
            (response, Instant::now())
        });
        // The poll is parked on the server (it would answer at once if the version differed).
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !poll.is_finished(),
            "round {round}: the long poll answered before any push"
        );
        let content = format!("round: {round}\n");
        let (push_started, push_exited, out) = push(&content);
        assert_eq!(
            out.trim(),
            format!("prod/web/application.yml: version {}", round + 1)
        );
        let (response, answered) = poll.join().unwrap();
        let body: serde_json::Value = serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("round {round}: {e}: {}", response.text()));
        assert_eq!(response.status, 200, "round {round}: {body}");
        assert_eq!(
            (
                body["changed"].as_bool(),
                body["version"].as_u64(),
                body["content"].as_str()
            ),
            (Some(true), Some(round + 1), Some(content.as_str())),
            "round {round}: {body}"
        );
        assert!(
            answered > push_started,
            "round {round}: the poll answered before the push started"
        );
        let latency = answered.saturating_duration_since(push_exited);
        eprintln!(
            "round {round}: push took {:?}; the long poll answered {latency:?} after it exited",
            push_exited - push_started
        );
        latencies.push(latency);
    }
    let worst = latencies.iter().max().copied().unwrap_or_default();
    assert!(
        worst <= BOUND,
        "a long poll answered {worst:?} after the push exited (bound {BOUND:?}; all: {latencies:?})"
    );
}
