//! The agent on a three-member ensemble: when the member it is connected to dies, its session
//! moves to another member; entries stay (same session) and watches keep working.

mod support;

use std::time::Duration;

use arbor_coord::Coordination;
use arbor_test_support::{free_port, ArborEnsemble, ArborOptions};
use support::*;

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_moves_to_another_member_when_its_server_dies() {
    let mut ensemble = ArborEnsemble::start(
        3,
        ArborOptions::new()
            .config("tickTime", 1000)
            .startup_timeout(Duration::from_secs(30)),
    );
    let coord = connect(&ensemble.connect_string()).await;
    push(&coord, "prod/web/app.yaml", "v1").await;
    drop(coord);

    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("app.yaml");
    let http = format!("127.0.0.1:{}", free_port());
    let config_path = root.path().join("agent.yaml");
    write(
        &config_path,
        &format!(
            "servers: \"{}\"\nsession_timeout: 10s\ncache_dir: {}\nhttp: \"{http}\"\nservices:\n  - {{name: web, id: web-1, port: 8080}}\nfiles:\n  - {{source: prod/web/app.yaml, dest: {}}}\n",
            ensemble.connect_string(),
            root.path().join("cache").display(),
            dest.display()
        ),
    );
    let agent = AgentProcess::start(&config_path);
    wait_until("the file is written", DEADLINE, || {
        read(&dest).as_deref() == Some("v1")
    });
    let coord = connect(&ensemble.connect_string()).await;
    wait_until_async("the service is registered", DEADLINE, || async {
        registry_entry(&coord, "web", "web-1").await.is_some()
    })
    .await;
    let owner = coord
        .get("/services/web/web-1")
        .await
        .unwrap()
        .unwrap()
        .stat
        .ephemeral_owner;
    drop(coord);

    // The member serving the agent's session (`cons` lists each connection's session id).
    let sid = format!("sid=0x{owner:x},");
    let serving = ensemble
        .ids()
        .find(|&id| ensemble.member(id).four_letter("cons").contains(&sid))
        .expect("one member serves the agent's session");
    ensemble.member_mut(serving).kill9();
    let survivor = ensemble.ids().find(|&id| id != serving).unwrap();
    let coord = connect(&ensemble.member(survivor).connect_string()).await;
    wait_until_async("the ensemble takes writes again", DEADLINE, || async {
        coord
            .set_data("/arbor/config/prod/web/app.yaml", b"v2", None)
            .await
            .is_ok()
    })
    .await;
    wait_until(
        "the agent follows the change through another member",
        DEADLINE,
        || read(&dest).as_deref() == Some("v2"),
    );
    coord.sync("/services").await.unwrap();
    let node = coord
        .get("/services/web/web-1")
        .await
        .unwrap()
        .expect("still registered");
    assert_eq!(node.stat.ephemeral_owner, owner, "the same session, moved");
    assert_eq!(metric(&http, "arbor_agent_sessions_total"), Some(1.0));
    assert!(ensemble
        .ids()
        .filter(|&id| id != serving)
        .any(|id| ensemble.member(id).four_letter("cons").contains(&sid)));
    drop(agent);
}
