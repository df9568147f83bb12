//! Services registered by the real `arbor-agent` in a real `arbor server`: only while their
//! check passes, deleted at once on SIGTERM, gone after the session timeout on kill -9.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use arbor_coord::Coordination;
use arbor_test_support::{free_port, ArborOptions, ArborServer};
use support::*;

const DEADLINE: Duration = Duration::from_secs(15);

fn agent_config(
    dir: &Path,
    servers: &str,
    session_timeout: &str,
    services: &str,
) -> std::path::PathBuf {
    let path = dir.join("agent.yaml");
    write(
        &path,
        &format!(
            "servers: \"{servers}\"\nsession_timeout: {session_timeout}\ncache_dir: {}\nhost: {{name: test-host, labels: {{zone: z1}}}}\nservices:\n{services}",
            dir.join("cache").display()
        ),
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_follow_their_checks_and_leave_on_sigterm_and_on_expiry() {
    // tickTime 500 ms lets sessions be as short as 1 s.
    let server = ArborServer::start(ArborOptions::new().config("tickTime", 500));
    let coord = connect(&server.connect_string()).await;

    let dir_a = tempfile::tempdir().unwrap();
    let port = free_port();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let healthy = dir_a.path().join("healthy");
    write(&healthy, "");
    let services = format!(
        "  - name: web\n    id: web-1\n    address: 127.0.0.1\n    port: {port}\n    weight: 3\n    metadata: {{version: '1.2'}}\n    check: {{tcp: '127.0.0.1:{port}', interval: 200ms, timeout: 500ms, deregister_after: 2}}\n  - {{name: plain, id: plain-1, port: 7000}}\n  - name: flappy\n    id: flappy-1\n    port: 7002\n    check: {{exec: ['test', '-f', '{}'], interval: 200ms, deregister_after: 1000}}\n",
        healthy.display()
    );
    let config_a = agent_config(dir_a.path(), &server.connect_string(), "10s", &services);
    let mut agent_a = AgentProcess::start(&config_a);
    wait_until_async("both services are registered", DEADLINE, || async {
        registry_entry(&coord, "web", "web-1").await.is_some()
            && registry_entry(&coord, "plain", "plain-1").await.is_some()
    })
    .await;
    let web = registry_entry(&coord, "web", "web-1").await.unwrap();
    assert_eq!(web["name"], "web");
    assert_eq!(web["address"], "127.0.0.1");
    assert_eq!(web["port"], port);
    assert_eq!(web["serviceType"], "DYNAMIC");
    let metadata = &web["payload"]["metadata"];
    assert_eq!(metadata["version"], "1.2");
    assert_eq!(metadata["zone"], "z1", "host labels are merged in");
    assert_eq!(metadata["weight"], "3");
    assert_eq!(metadata["instance_status"], "UP");
    // A failure short of deregister_after is a health transition of the entry: DOWN, then UP.
    let status = |entry: Option<serde_json::Value>| {
        entry.map(|entry| entry["payload"]["metadata"]["instance_status"].clone())
    };
    wait_until_async("the exec-checked service is UP", DEADLINE, || async {
        status(registry_entry(&coord, "flappy", "flappy-1").await) == Some("UP".into())
    })
    .await;
    std::fs::remove_file(&healthy).unwrap();
    wait_until_async("its entry turns DOWN", DEADLINE, || async {
        status(registry_entry(&coord, "flappy", "flappy-1").await) == Some("DOWN".into())
    })
    .await;
    write(&healthy, "");
    wait_until_async("its entry turns UP again", DEADLINE, || async {
        status(registry_entry(&coord, "flappy", "flappy-1").await) == Some("UP".into())
    })
    .await;
    let plain = registry_entry(&coord, "plain", "plain-1").await.unwrap();
    assert_eq!(
        plain["address"], "test-host",
        "the address defaults to the host name"
    );
    let node = coord.get("/services/plain/plain-1").await.unwrap().unwrap();
    assert_ne!(node.stat.ephemeral_owner, 0, "entries are ephemeral");
    // The naming service reads the agent's entries as its own.
    let web_node = coord.get("/services/web/web-1").await.unwrap().unwrap();
    let instance = arbor_naming::ServiceInstance::from_json(&web_node.data).unwrap();
    assert_eq!(instance.health(), arbor_naming::HealthStatus::Up);
    assert_eq!(instance.weight(), 3.0);
    assert_eq!(instance.zone().as_deref(), Some("z1"));

    // The check fails: the entry goes; it recovers: the entry returns.
    drop(listener);
    wait_until_async("the failing service is removed", DEADLINE, || async {
        registry_entry(&coord, "web", "web-1").await.is_none()
    })
    .await;
    assert!(registry_entry(&coord, "plain", "plain-1").await.is_some());
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    wait_until_async("the recovered service returns", DEADLINE, || async {
        registry_entry(&coord, "web", "web-1").await.is_some()
    })
    .await;

    // SIGTERM: gone at once, well before the 10 s session would expire.
    let signalled = Instant::now();
    agent_a.signal(libc::SIGTERM);
    wait_until_async("SIGTERM deregisters", Duration::from_secs(3), || async {
        registry_entry(&coord, "web", "web-1").await.is_none()
            && registry_entry(&coord, "plain", "plain-1").await.is_none()
            && registry_entry(&coord, "flappy", "flappy-1").await.is_none()
    })
    .await;
    let status = agent_a.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "clean exit: {status}");
    assert!(signalled.elapsed() < Duration::from_secs(8));
    drop(listener);

    // kill -9: the entry stays until the (2 s) session expires, then goes.
    let dir_b = tempfile::tempdir().unwrap();
    let config_b = agent_config(
        dir_b.path(),
        &server.connect_string(),
        "2s",
        "  - {name: plain, id: plain-2, port: 7001}\n",
    );
    let mut agent_b = AgentProcess::start(&config_b);
    wait_until_async("agent B registers", DEADLINE, || async {
        registry_entry(&coord, "plain", "plain-2").await.is_some()
    })
    .await;
    agent_b.kill9();
    assert!(
        registry_entry(&coord, "plain", "plain-2").await.is_some(),
        "a killed agent's entry outlives it until its session expires"
    );
    wait_until_async("the killed agent's entry expires", DEADLINE, || async {
        registry_entry(&coord, "plain", "plain-2").await.is_none()
    })
    .await;
}
