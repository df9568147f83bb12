//! The ensemble goes away: the agent keeps running, files come from its cache at start, and
//! it reconnects and re-registers when the ensemble is back, without a restart. The agent's
//! session expires (the agent is stopped past its timeout): it gets a new one, registers again
//! and re-syncs every file, including changes pushed while it had no session.

mod support;

use std::time::{Duration, Instant};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_session_expiry_services_register_again_and_every_file_is_resynced() {
    // tickTime 500 ms allows the agent's 2 s session.
    let server = ArborServer::start(ArborOptions::new().config("tickTime", 500));
    let servers = server.connect_string();
    let coord = connect(&servers).await;
    push(&coord, "prod/web/app.yaml", "app: 1\n").await;
    push(&coord, "prod/web/db.properties", "pool=1\n").await;

    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let (app, db) = (out.join("app.yaml"), out.join("db.properties"));
    let http = format!("127.0.0.1:{}", free_port());
    let config_path = root.path().join("agent.yaml");
    write(
        &config_path,
        &format!(
            "servers: \"{servers}\"\nsession_timeout: 2s\ncache_dir: {}\nhttp: \"{http}\"\nservices:\n  - {{name: web, id: web-1, port: 8080}}\n  - {{name: db, id: db-1, port: 5432}}\nfiles:\n  - {{source: prod/web/app.yaml, dest: {}}}\n  - {{source: prod/web/db.properties, dest: {}, wait: {{min: 500ms, max: 5s}}}}\n",
            root.path().join("cache").display(),
            app.display(),
            db.display()
        ),
    );
    let mut agent = AgentProcess::start(&config_path);
    wait_until("both files are written", DEADLINE, || {
        read(&app).as_deref() == Some("app: 1\n") && read(&db).as_deref() == Some("pool=1\n")
    });
    wait_until_async("both services are registered", DEADLINE, || async {
        ephemeral_owner(&coord, "web", "web-1").await.is_some()
            && ephemeral_owner(&coord, "db", "db-1").await.is_some()
    })
    .await;
    let first = ephemeral_owner(&coord, "web", "web-1").await.unwrap();
    assert_eq!(metric(&http, "arbor_agent_sessions_total"), Some(1.0));

    // Freeze the agent past its session timeout: the ensemble expires the session (its entries
    // go), and both documents change while the agent has no session.
    agent.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    wait_until_async("the frozen agent's session expires", DEADLINE, || async {
        ephemeral_owner(&coord, "web", "web-1").await.is_none()
            && ephemeral_owner(&coord, "db", "db-1").await.is_none()
    })
    .await;
    eprintln!("entries expired {:?} after SIGSTOP", stopped.elapsed());
    config_push(&servers, "prod/web/app.yaml", "app: 2\n");
    config_push(&servers, "prod/web/db.properties", "pool=2\n");
    agent.signal(libc::SIGCONT);
    let resumed = Instant::now();

    // A new session; every file re-read and written; every service registered in it.
    let resynced = wait_until("both files are re-synced", DEADLINE, || {
        read(&app).as_deref() == Some("app: 2\n") && read(&db).as_deref() == Some("pool=2\n")
    });
    wait_until_async("both services are registered again", DEADLINE, || async {
        let (web, db) = (
            ephemeral_owner(&coord, "web", "web-1").await,
            ephemeral_owner(&coord, "db", "db-1").await,
        );
        web.is_some_and(|owner| owner != first) && db == web
    })
    .await;
    eprintln!(
        "files re-synced {resynced:?} and services registered again {:?} after SIGCONT",
        resumed.elapsed()
    );
    assert_eq!(metric(&http, "arbor_agent_sessions_total"), Some(2.0));
    assert!(agent.is_running());
    assert!(
        agent.log().contains("session ended; starting a new one"),
        "{}",
        agent.log()
    );

    // And the new session's watches work.
    config_push(&servers, "prod/web/app.yaml", "app: 3\n");
    wait_until("the file follows in the new session", DEADLINE, || {
        read(&app).as_deref() == Some("app: 3\n")
    });
}
