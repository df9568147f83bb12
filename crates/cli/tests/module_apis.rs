//! The config-center and naming HTTP APIs as the `arbor server` binary mounts them on its admin
//! port. On a three-member ensemble: a write through one member's API is replicated and seen
//! through another member's API, a long poll on one member returns when another takes a push,
//! and plain ZooKeeper clients see the same nodes. On one server: deleting a config over HTTP
//! (and its refusals), and bad names in the URL, checked against the whole tree.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbor_test_support::{
    http_request, ArborEnsemble, ArborOptions, ArborServer, HttpRequestSpec, HttpResponse, TreeView,
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

    // An invalid document is refused with its line and nothing changes (once member 3's API
    // session is up: until then it answers 503 "starting").
    until_ok("member 3's API is mounted", || {
        request(admin(3), "GET", "/api/v1/config", b"")
    });
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

/// The whole tree through a plain ZooKeeper client (data and stats of every node).
fn tree(runtime: &tokio::runtime::Runtime, connect: &str) -> TreeView {
    runtime.block_on(async {
        let client = zookeeper_client::Client::connect(connect).await.unwrap();
        TreeView::read(&client, "/").await.unwrap()
    })
}

fn assert_same_tree(before: &TreeView, after: &TreeView, what: &str) {
    assert!(
        before == after,
        "{what} changed the tree: {}",
        before.first_difference(after).unwrap_or_default()
    );
}

/// Status and `error` message of a refused request.
fn refusal(response: &HttpResponse) -> (u16, String) {
    let body = json(response);
    (
        response.status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn config_delete_and_bad_names_over_http_on_one_server() {
    let server = ArborServer::start(ArborOptions::new());
    let admin = server.admin_addr();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let doc = "/api/v1/config/prod/web/application.yml";
    let node = "/arbor/config/prod/web/application.yml";
    let history = "/arbor/history/prod/web/application.yml";
    until_ok("first push", || {
        request(admin, "PUT", doc, b"server:\n  port: 1\n")
    });
    let pushed = json(&request(admin, "PUT", doc, b"server:\n  port: 2\n"));
    assert_eq!(pushed["version"], 2, "{pushed}");
    let versions = |body: &Value| -> Vec<(u64, String)> {
        body["history"]
            .as_array()
            .unwrap_or_else(|| panic!("no history in {body}"))
            .iter()
            .map(|e| {
                (
                    e["version"].as_u64().unwrap(),
                    e["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    // Refusals: a clear error each, and the tree exactly as it was.
    let before = tree(&runtime, &server.connect_string());
    let yaml = &b"a: 1\n"[..];
    let settings = &br#"{"spring_projection": true}"#[..];
    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        (
            "DELETE",
            "/api/v1/config/prod/web/absent.yml",
            b"",
            404,
            "prod/web/absent.yml: no such config",
        ),
        (
            "DELETE",
            &format!("{doc}?expect_version=1"),
            b"",
            409,
            "expected version 1, but the current version is 2",
        ),
        (
            "DELETE",
            "/api/v1/config/prod/web/application",
            b"",
            400,
            "needs an extension",
        ),
        (
            "DELETE",
            "/api/v1/config/prod/../application.yml",
            b"",
            400,
            "`.` and `..` are not names",
        ),
        (
            "PUT",
            "/api/v1/config/prod/%2e%2e/a.yml",
            yaml,
            400,
            "invalid app \"..\": `.` and `..` are not names",
        ),
        (
            "PUT",
            "/api/v1/config/prod/web/noext",
            yaml,
            400,
            "needs an extension",
        ),
        // An empty env or app is an error, not a shorter path: `prod//application.yml` must
        // not be read as the settings of an app called `application.yml`.
        (
            "PUT",
            "/api/v1/config//web/a.yml",
            yaml,
            400,
            "invalid env \"\": must not be empty",
        ),
        (
            "PUT",
            "/api/v1/config/prod//a.yml",
            yaml,
            400,
            "invalid app \"\": must not be empty",
        ),
        (
            "PUT",
            "/api/v1/config/prod//application.yml",
            settings,
            400,
            "invalid app \"\": must not be empty",
        ),
        (
            "DELETE",
            "/api/v1/config/prod//application.yml",
            b"",
            400,
            "invalid app \"\": must not be empty",
        ),
        (
            "GET",
            "/api/v1/config//web/application.yml",
            b"",
            400,
            "invalid env \"\": must not be empty",
        ),
        (
            "POST",
            "/api/v1/config/prod//application.yml/rollback?to=1",
            b"",
            400,
            "invalid app \"\": must not be empty",
        ),
    ];
    for (method, target, body, status, message) in cases {
        let (got, error) = refusal(&request(admin, method, target, body));
        assert_eq!(got, *status, "{method} {target}: {error}");
        assert!(
            error.contains(message),
            "{method} {target}: {error:?} should contain {message:?}"
        );
    }
    // A trailing slash is still the same resource.
    let listed = json(&request(admin, "GET", "/api/v1/config/prod/web/", b""));
    assert_eq!(listed["configs"][0]["version"], 2, "{listed}");
    assert_same_tree(
        &before,
        &tree(&runtime, &server.connect_string()),
        "refused requests",
    );

    // DELETE with the right expected version: a new version recording the deletion; the plain
    // node is gone, the history stays.
    let deleted = request(
        admin,
        "DELETE",
        &format!("{doc}?expect_version=2&message=retired&author=ops"),
        b"",
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(json(&deleted)["version"], 3);
    let listed = json(&request(admin, "GET", &format!("{doc}/history"), b""));
    assert_eq!(
        versions(&listed),
        [(3, "delete".into()), (2, "push".into()), (1, "push".into())]
    );
    assert_eq!(
        (
            &listed["history"][0]["author"],
            &listed["history"][0]["message"]
        ),
        (&Value::from("ops"), &Value::from("retired"))
    );
    let after_delete = tree(&runtime, &server.connect_string());
    assert!(
        !after_delete.nodes.contains_key(node),
        "the config node is deleted"
    );
    assert!(after_delete
        .nodes
        .contains_key(&format!("{history}/v-0000000003")));
    let (status, error) = refusal(&request(admin, "GET", doc, b""));
    assert_eq!(
        (status, error.as_str()),
        (
            404,
            "prod/web/application.yml: no such config (deleted in version 3)"
        )
    );
    // Deleting it again is refused and changes nothing.
    let (status, error) = refusal(&request(admin, "DELETE", doc, b""));
    assert_eq!(status, 404, "{error}");
    assert!(error.contains("deleted in version 3"), "{error}");
    assert_same_tree(
        &after_delete,
        &tree(&runtime, &server.connect_string()),
        "a second DELETE",
    );

    // A deletion is undone by a rollback...
    let rolled = request(admin, "POST", &format!("{doc}/rollback?to=2"), b"");
    assert_eq!(json(&rolled)["version"], 4, "{}", rolled.text());
    let raw = request(admin, "GET", &format!("{doc}?raw=true"), b"");
    assert_eq!(raw.body, b"server:\n  port: 2\n");
    // ...unless it purges the history too.
    let purged = request(admin, "DELETE", &format!("{doc}?purge=true"), b"");
    assert_eq!(purged.status, 200, "{}", purged.text());
    assert_eq!(json(&purged)["version"], 0);
    let after_purge = tree(&runtime, &server.connect_string());
    assert!(
        !after_purge
            .nodes
            .keys()
            .any(|path| path == node || path.starts_with(history)),
        "purge leaves neither the node nor its history: {:?}",
        after_purge.nodes.keys().collect::<Vec<_>>()
    );
    let (status, _) = refusal(&request(admin, "GET", &format!("{doc}/history"), b""));
    assert_eq!(status, 404);
}
