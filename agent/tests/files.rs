//! Files materialized from the config center by the real `arbor-agent` against a real
//! `arbor server`: atomic replacement, quiescence, a refusing check, conf.d changes, and
//! configuration errors at start and at runtime.

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbor_test_support::{free_port, ArborOptions, ArborServer};
use support::*;

const DEADLINE: Duration = Duration::from_secs(15);

fn main_config(servers: &str, root: &Path, http: &str) -> String {
    let out = root.join("out");
    format!(
        r#"servers: "{servers}"
session_timeout: 5s
cache_dir: {cache}
http: "{http}"
host: {{name: test-host}}
files:
  - source: prod/web/app.yaml
    dest: {out}/app.yaml
    mode: "0640"
    backup: true
    wait: {{min: 2s, max: 20s}}
    reload: "echo reloaded >> {out}/reloads.log"
  - source: {{env: prod, app: web, name: checked.txt}}
    dest: {out}/checked.conf
    check: "! grep -q BROKEN {{staged}}"
"#,
        cache = root.join("cache").display(),
        out = out.display(),
    )
}

fn lines(path: &Path) -> usize {
    read(path).map(|text| text.lines().count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_follow_the_config_center_atomically_and_reconfigure_live() {
    let server = ArborServer::start(ArborOptions::new());
    let coord = connect(&server.connect_string()).await;
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(root.path().join("etc/conf.d")).unwrap();
    let config_path = root.path().join("etc/agent.yaml");
    let http = format!("127.0.0.1:{}", free_port());
    write(
        &config_path,
        &main_config(&server.connect_string(), root.path(), &http),
    );
    write(
        &root.path().join("etc/conf.d/extra.yaml"),
        &format!(
            "files:\n  - {{source: prod/web/extra.txt, dest: {}/extra.conf}}\n",
            out.display()
        ),
    );
    push(&coord, "prod/web/app.yaml", "v0").await;
    push(&coord, "prod/web/checked.txt", "good").await;
    push(&coord, "prod/web/extra.txt", "c0").await;

    let mut agent = AgentProcess::start(&config_path);
    let app = out.join("app.yaml");
    let reloads = out.join("reloads.log");
    wait_until("the initial files are written", DEADLINE, || {
        read(&app).as_deref() == Some("v0")
            && read(&out.join("checked.conf")).as_deref() == Some("good")
            && read(&out.join("extra.conf")).as_deref() == Some("c0")
    });
    wait_until("the first reload ran", DEADLINE, || lines(&reloads) == 1);
    let mode = std::fs::metadata(&app).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);

    // A reader looping on the file must only ever see complete versions.
    let allowed: BTreeSet<String> = (0..=5).map(|n| format!("v{n}")).collect();
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (seen, stop, app) = (seen.clone(), stop.clone(), app.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let content = std::fs::read_to_string(&app).unwrap_or_else(|e| format!("<{e}>"));
                seen.lock().unwrap().insert(content);
                reads += 1;
            }
            reads
        })
    };
    // Five `arbor config push`es well inside the 2 s quiescence window: one write, one reload.
    for n in 1..=5 {
        config_push(
            &server.connect_string(),
            "prod/web/app.yaml",
            &format!("v{n}"),
        );
    }
    wait_until("the burst's last version is written", DEADLINE, || {
        read(&app).as_deref() == Some("v5")
    });
    wait_until("the burst's reload ran", DEADLINE, || lines(&reloads) >= 2);
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(reads > 100, "the reader ran ({reads} reads)");
    assert!(seen.is_subset(&allowed), "reader saw {seen:?}");
    assert_eq!(lines(&reloads), 2, "one reload for the whole burst");
    assert_eq!(read(&out.join("app.yaml.bak")).as_deref(), Some("v0"));
    let written = format!(
        "arbor_agent_file_syncs_total{{dest=\"{}\",result=\"written\"}}",
        app.display()
    );
    assert_eq!(
        metric(&http, &written),
        Some(2.0),
        "initial write + one for the burst"
    );
    let reload_ok = format!(
        "arbor_agent_reloads_total{{dest=\"{}\",result=\"ok\"}}",
        app.display()
    );
    assert_eq!(metric(&http, &reload_ok), Some(2.0));

    // Without `wait` (no quiescence) the destination follows `arbor config push` within a
    // second of the push command's exit.
    for n in 1..=3 {
        let content = format!("c{n}");
        config_push(&server.connect_string(), "prod/web/extra.txt", &content);
        let took = wait_until("the pushed content is on disk", DEADLINE, || {
            read(&out.join("extra.conf")).as_deref() == Some(content.as_str())
        });
        eprintln!("push {n}: extra.conf changed {took:?} after `arbor config push` exited");
        assert!(
            took <= Duration::from_secs(1),
            "extra.conf changed {took:?} after the push exited; the bound is 1 s"
        );
    }

    // A check that refuses the content keeps the old file and says so.
    config_push(&server.connect_string(), "prod/web/checked.txt", "BROKEN");
    let refused = format!(
        "arbor_agent_file_syncs_total{{dest=\"{}\",result=\"check_failed\"}}",
        out.join("checked.conf").display()
    );
    wait_until("the refused check is counted", DEADLINE, || {
        metric(&http, &refused) == Some(1.0)
    });
    assert_eq!(read(&out.join("checked.conf")).as_deref(), Some("good"));
    assert!(
        agent.log().contains("new content refused"),
        "{}",
        agent.log()
    );

    // conf.d: the extra file is replaced by a service.
    write(
        &root.path().join("etc/conf.d/extra.yaml"),
        "services:\n  - {name: extra-svc, id: extra-1, port: 9999}\n",
    );
    wait_until_async("the conf.d service is registered", DEADLINE, || async {
        registry_entry(&coord, "extra-svc", "extra-1")
            .await
            .is_some()
    })
    .await;
    wait_until("the extra file is no longer managed", DEADLINE, || {
        metric(&http, "arbor_agent_files_managed") == Some(2.0)
    });
    let cached = std::fs::read_dir(root.path().join("cache/files"))
        .unwrap()
        .count();
    assert_eq!(cached, 2, "the removed file's cache entry is pruned");
    push(&coord, "prod/web/extra.txt", "c4").await;
    push(&coord, "prod/web/app.yaml", "v6").await;
    wait_until("a still-managed file follows", DEADLINE, || {
        read(&app).as_deref() == Some("v6")
    });
    assert_eq!(read(&out.join("extra.conf")).as_deref(), Some("c3"));

    // A broken edit at runtime is refused; the running setup goes on.
    let good = read(&config_path).unwrap();
    write(
        &config_path,
        &good.replace("mode: \"0640\"", "mode: \"0999\""),
    );
    wait_until("the broken edit is refused", DEADLINE, || {
        metric(
            &http,
            "arbor_agent_config_reloads_total{result=\"refused\"}",
        ) >= Some(1.0)
    });
    assert!(
        agent.log().contains("mode `0999` is not octal"),
        "{}",
        agent.log()
    );
    push(&coord, "prod/web/app.yaml", "v7").await;
    wait_until("files still follow", DEADLINE, || {
        read(&app).as_deref() == Some("v7")
    });
    assert!(registry_entry(&coord, "extra-svc", "extra-1")
        .await
        .is_some());
    assert!(agent.is_running());
}

#[test]
fn a_broken_config_names_file_line_and_key_and_exits_nonzero() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("conf.d")).unwrap();
    let config_path = root.path().join("agent.yaml");
    write(
        &config_path,
        "servers: 127.0.0.1:1\ncache_dir: /tmp/arbor-agent-test\n",
    );
    let bad = root.path().join("conf.d/bad.yaml");
    write(
        &bad,
        "files:\n  - source: prod/web/x.properties\n    dest: relative/x.conf\n",
    );
    let output = std::process::Command::new(AGENT_BIN)
        .arg("--config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "{}:3:11: files[0].dest: `relative/x.conf` must be an absolute path",
        bad.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");

    // --check says the same, and ok once fixed.
    let check = std::process::Command::new(AGENT_BIN)
        .args(["--check", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains(&expected));
    write(
        &bad,
        "files:\n  - source: prod/web/x.properties\n    dest: /tmp/x.conf\n",
    );
    let check = std::process::Command::new(AGENT_BIN)
        .args(["--check", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("ok (0 services, 1 files)"));
}

/// agent.yaml itself (not conf.d) edited while the agent runs: a service's port and metadata
/// change and a file is added, then the service and the first file are removed; all in the same
/// process and session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_edits_of_agent_yaml_apply_without_a_restart() {
    let server = ArborServer::start(ArborOptions::new());
    let servers = server.connect_string();
    let coord = connect(&servers).await;
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let config_path = root.path().join("agent.yaml");
    let http = format!("127.0.0.1:{}", free_port());
    let config = |service: Option<(u16, &str)>, files: &[&str]| {
        let mut text = format!(
            "servers: \"{servers}\"\nsession_timeout: 5s\ncache_dir: {}\nhttp: \"{http}\"\nhost: {{name: test-host}}\n",
            root.path().join("cache").display()
        );
        match service {
            Some((port, color)) => text.push_str(&format!(
                "services:\n  - {{name: api, id: api-1, address: 127.0.0.1, port: {port}, metadata: {{color: {color}}}}}\n"
            )),
            None => text.push_str("services: []\n"),
        }
        text.push_str("files:\n");
        for name in files {
            text.push_str(&format!(
                "  - {{source: prod/web/{name}.txt, dest: {}/{name}.conf}}\n",
                out.display()
            ));
        }
        text
    };
    let has = |port: u16, color: &'static str| {
        let coord = coord.clone();
        move || {
            let coord = coord.clone();
            async move {
                registry_entry(&coord, "api", "api-1")
                    .await
                    .is_some_and(|e| {
                        e["port"] == port && e["payload"]["metadata"]["color"] == color
                    })
            }
        }
    };
    push(&coord, "prod/web/a.txt", "a0").await;
    push(&coord, "prod/web/b.txt", "b0").await;
    write(&config_path, &config(Some((7100, "blue")), &["a"]));
    let agent = AgentProcess::start(&config_path);
    let pid = agent.pid();
    wait_until_async("api-1 is registered", DEADLINE, has(7100, "blue")).await;
    wait_until("a.conf is written", DEADLINE, || {
        read(&out.join("a.conf")).as_deref() == Some("a0")
    });
    let session = ephemeral_owner(&coord, "api", "api-1")
        .await
        .expect("registered");

    // Port and metadata change, and a second file: the entry and the files follow.
    write(&config_path, &config(Some((7101, "green")), &["a", "b"]));
    wait_until_async(
        "api-1 has the new port and metadata",
        DEADLINE,
        has(7101, "green"),
    )
    .await;
    wait_until("the added file is written", DEADLINE, || {
        read(&out.join("b.conf")).as_deref() == Some("b0")
    });
    config_push(&servers, "prod/web/a.txt", "a1");
    wait_until("the first file still follows", DEADLINE, || {
        read(&out.join("a.conf")).as_deref() == Some("a1")
    });
    assert_eq!(
        ephemeral_owner(&coord, "api", "api-1").await,
        Some(session),
        "the entry was updated in the agent's session"
    );

    // The service and the first file leave agent.yaml: the entry goes, the file stays as it is
    // and no longer follows; the other file still does.
    write(&config_path, &config(None, &["b"]));
    wait_until_async("api-1 is deregistered", DEADLINE, || async {
        registry_entry(&coord, "api", "api-1").await.is_none()
    })
    .await;
    wait_until("one file is managed", DEADLINE, || {
        metric(&http, "arbor_agent_files_managed") == Some(1.0)
    });
    config_push(&servers, "prod/web/a.txt", "a2");
    config_push(&servers, "prod/web/b.txt", "b1");
    wait_until("the remaining file follows", DEADLINE, || {
        read(&out.join("b.conf")).as_deref() == Some("b1")
    });
    assert_eq!(read(&out.join("a.conf")).as_deref(), Some("a1"));

    // All of it in the first process and its first session.
    assert_eq!(agent.pid(), pid);
    assert_eq!(metric(&http, "arbor_agent_sessions_total"), Some(1.0));
    assert_eq!(
        metric(
            &http,
            "arbor_agent_config_reloads_total{result=\"applied\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &http,
            "arbor_agent_config_reloads_total{result=\"refused\"}"
        ),
        None
    );
}
