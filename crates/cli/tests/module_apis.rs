//! The config-center and naming HTTP APIs as the `arbor server` binary mounts them on its admin
//! port, on a three-member ensemble: a write through one member's API is replicated and seen
//! through another member's API, a long poll on one member returns when another takes a push,
//! and plain ZooKeeper clients see the same nodes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbor_test_support::{
    http_request, ArborEnsemble, ArborOptions, HttpRequestSpec, HttpResponse,
};
use serde_json::Value;

fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> HttpResponse {
    http_request(
        addr,
        &HttpRequestSpec {
            method,
            target,
            headers: Vec::new(),
            body: body.to_vec(),
        },
    )
    .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

fn json(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        )
    })
}

/// Retries `call` until it returns a 2xx (the member's API session may still be connecting).
fn until_ok(what: &str, mut call: impl FnMut() -> HttpResponse) -> HttpResponse {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = call();
        if (200..300).contains(&response.status) {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn module_apis_work_across_the_members_of_an_ensemble() {
    let ensemble = ArborEnsemble::start(
        3,
        ArborOptions::new()
            .config("tickTime", 1000)
            .startup_timeout(Duration::from_secs(30)),
    );
    ensemble.wait_for_leader(Duration::from_secs(10));
    let admin = |id: u64| ensemble.member(id).admin_addr();
    let doc = "/api/v1/config/prod/web/application.yml";

    // Push through member 2, read through member 1.
    let pushed = until_ok("push through member 2", || {
        request(
            admin(2),
            "PUT",
            &format!("{doc}?message=first"),
            b"server:\n  port: 8080\n",
        )
    });
    assert_eq!(json(&pushed)["version"], 1);
    let read = until_ok("read through member 1", || {
        request(admin(1), "GET", doc, b"")
    });
    let read = json(&read);
    assert_eq!(read["version"], 1);
    assert_eq!(read["content"], "server:\n  port: 8080\n");

    // An invalid document is refused with its line and nothing changes.
    let refused = request(admin(3), "PUT", doc, b"server: [unclosed\n");
    assert_eq!(
        refused.status,
        400,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert!(String::from_utf8_lossy(&refused.body).contains("line"));
    assert_eq!(json(&request(admin(1), "GET", doc, b""))["version"], 1);

    // A long poll on member 1 returns once member 3 takes a push.
    let poll_addr = admin(1);
    let poll = std::thread::spawn(move || {
        let started = Instant::now();
        let response = request(poll_addr, "GET", &format!("{doc}?watch=1&timeout=20s"), b"");
        (response, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    until_ok("push through member 3", || {
        request(admin(3), "PUT", doc, b"server:\n  port: 9090\n")
    });
    let (response, waited) = poll.join().unwrap();
    assert_eq!(
        json(&response)["version"],
        2,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert!(
        waited < Duration::from_secs(15),
        "the long poll waited for its timeout"
    );

    // A static service entry through member 3 is listed through member 1.
    until_ok("register through member 3", || {
        request(
            admin(3),
            "PUT",
            "/api/v1/services/db/primary",
            br#"{"address":"10.0.0.9","port":5432}"#,
        )
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = json(&request(admin(1), "GET", "/api/v1/services/db", b""));
        let instances = listed["instances"].as_array().cloned().unwrap_or_default();
        if instances.len() == 1 {
            assert_eq!(instances[0]["address"], "10.0.0.9");
            assert_eq!(instances[0]["port"], 5432);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the entry never showed on member 1: {listed}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Plain ZooKeeper clients see the same nodes on any member.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = zookeeper_client::Client::connector()
            .connect(&ensemble.member(1).connect_string())
            .await
            .unwrap();
        client.sync("/").await.unwrap();
        let (data, _) = client
            .get_data("/arbor/config/prod/web/application.yml")
            .await
            .unwrap();
        assert_eq!(data, b"server:\n  port: 9090\n");
        assert_eq!(
            client.list_children("/services/db").await.unwrap(),
            ["primary"]
        );
    });
}
