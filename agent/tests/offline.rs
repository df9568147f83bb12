//! The ensemble goes away: the agent keeps running, files come from its cache at start, and
//! it reconnects and re-registers when the ensemble is back, without a restart.

mod support;

use std::time::Duration;

use arbor_test_support::{free_port, ArborOptions, ArborServer};
use support::*;

const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_survives_the_ensemble_and_starts_from_its_cache() {
    let mut server = ArborServer::start(ArborOptions::new().config("tickTime", 500));
    let coord = connect(&server.connect_string()).await;
    push(&coord, "prod/web/app.yaml", "from the ensemble").await;
    drop(coord);

    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("out/app.yaml");
    let http = format!("127.0.0.1:{}", free_port());
    let config_path = root.path().join("agent.yaml");
    write(
        &config_path,
        &format!(
            "servers: \"127.0.0.1:{},{}\"\nsession_timeout: 2s\ncache_dir: {}\nhttp: \"{http}\"\nservices:\n  - {{name: web, id: web-1, port: 8080}}\nfiles:\n  - {{source: prod/web/app.yaml, dest: {}}}\n",
            // A server of the list that never answers: the agent uses the other one.
            free_port(),
            server.connect_string(),
            root.path().join("cache").display(),
            dest.display()
        ),
    );
    let mut agent = AgentProcess::start(&config_path);
    wait_until("the file is written", DEADLINE, || {
        read(&dest).as_deref() == Some("from the ensemble")
    });
    wait_until("the agent reports connected", DEADLINE, || {
        http_get(&http, "/healthz").map(|(status, _)| status) == Some(200)
    });

    // The ensemble dies while the agent runs: it waits, its session expires locally, and when
    // the ensemble returns it gets a new session and registers again.
    server.kill9();
    wait_until(
        "the agent reports disconnected",
        DEADLINE,
        || matches!(http_get(&http, "/healthz"), Some((503, body)) if body.contains("\"connected\":false")),
    );
    wait_until("the agent is retrying", DEADLINE, || {
        metric(&http, "arbor_agent_connect_failures_total") >= Some(1.0)
    });
    server.restart();
    wait_until("a new session is established", DEADLINE, || {
        metric(&http, "arbor_agent_sessions_total") == Some(2.0)
    });
    let coord = connect(&server.connect_string()).await;
    wait_until_async("the service is registered again", DEADLINE, || async {
        registry_entry(&coord, "web", "web-1").await.is_some()
    })
    .await;
    assert!(agent.is_running(), "the agent was never restarted");
    drop(coord);

    // Stop the agent and the ensemble, lose the file, start the agent: the cache restores it.
    agent.signal(libc::SIGTERM);
    assert!(agent.wait_exit(Duration::from_secs(10)).success());
    server.kill9();
    std::fs::remove_file(&dest).unwrap();
    let mut agent = AgentProcess::start(&config_path);
    wait_until("the file is restored from the cache", DEADLINE, || {
        read(&dest).as_deref() == Some("from the ensemble")
    });
    assert!(matches!(http_get(&http, "/healthz"), Some((503, _))));
    wait_until("the offline agent keeps retrying", DEADLINE, || {
        metric(&http, "arbor_agent_connect_failures_total") >= Some(1.0)
    });
    assert!(
        agent.is_running(),
        "servers being down is not a reason to exit"
    );

    server.restart();
    let coord = connect(&server.connect_string()).await;
    wait_until_async("the agent connects and registers", DEADLINE, || async {
        registry_entry(&coord, "web", "web-1").await.is_some()
    })
    .await;
    wait_until("the agent reports connected again", DEADLINE, || {
        http_get(&http, "/healthz").map(|(status, _)| status) == Some(200)
    });
    // And follows changes again.
    push(&coord, "prod/web/app.yaml", "after the outage").await;
    wait_until("new content arrives", DEADLINE, || {
        read(&dest).as_deref() == Some("after the outage")
    });
    assert!(agent.is_running());
}
