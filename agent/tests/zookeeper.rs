//! The agent against a plain Apache ZooKeeper 3.8: it registers and materializes files there
//! too (DESIGN: the agent works against any ZooKeeper ensemble).

mod support;

use std::time::Duration;

use arbor_test_support::ZkReference;
use support::*;

const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_and_writes_files_against_apache_zookeeper() {
    if !ZkReference::available() {
        eprintln!(
            "SKIPPED: the zk-reference script or ZooKeeper/java is not installed ({})",
            ZkReference::script().display()
        );
        return;
    }
    let zk = ZkReference::standalone();
    let coord = connect(&zk.connect_string()).await;
    push(&coord, "prod/web/app.yaml", "on zookeeper").await;
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("app.yaml");
    let config_path = root.path().join("agent.yaml");
    write(
        &config_path,
        &format!(
            "servers: \"{}\"\ncache_dir: {}\nservices:\n  - {{name: web, id: web-1, port: 8080}}\nfiles:\n  - {{source: prod/web/app.yaml, dest: {}}}\n",
            zk.connect_string(),
            root.path().join("cache").display(),
            dest.display()
        ),
    );
    let mut agent = AgentProcess::start(&config_path);
    wait_until("the file is written", DEADLINE, || {
        read(&dest).as_deref() == Some("on zookeeper")
    });
    wait_until_async("the service is registered", DEADLINE, || async {
        registry_entry(&coord, "web", "web-1").await.is_some()
    })
    .await;
    agent.signal(libc::SIGTERM);
    wait_until_async("SIGTERM deregisters", Duration::from_secs(5), || async {
        registry_entry(&coord, "web", "web-1").await.is_none()
    })
    .await;
    assert!(
        agent.wait_exit(Duration::from_secs(10)).success(),
        "{}",
        agent.log()
    );
}
