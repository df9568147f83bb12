//! Module APIs mounted on a running server's admin listener (`Server::mount_api`), reached over
//! real HTTP: routing by longest prefix, percent-decoded path and query, the body, mounting
//! after start and replacing a mounted prefix, and 503 "starting" between `expect_api` and the
//! first mount.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use arbor_coord::api::{ApiFuture, ApiHandler, ApiRequest, ApiResponse};
use arbor_server::{Server, ServerConfig};
use arbor_test_support::{free_port, http_get, http_request, HttpRequestSpec, HttpResponse};
use serde_json::{json, Value};

/// Answers with what it was asked, so the test sees the request as the module sees it.
struct Echo {
    prefix: &'static str,
    tag: &'static str,
}

impl ApiHandler for Echo {
    fn prefix(&self) -> &'static str {
        self.prefix
    }

    fn handle(&self, request: ApiRequest) -> ApiFuture<'_> {
        Box::pin(async move {
            let body = json!({
                "tag": self.tag,
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "body": String::from_utf8_lossy(&request.body),
                "principal": request.principal,
            });
            ApiResponse::json(201, body.to_string().into_bytes())
        })
    }
}

fn config(dir: &std::path::Path) -> ServerConfig {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut config = ServerConfig {
        data_dir: dir.join("data"),
        data_log_dir: dir.join("data"),
        client_port: free_port(),
        client_port_address: loopback,
        ..ServerConfig::default()
    };
    config.admin.address = loopback;
    config.admin.port = free_port();
    config
}

fn json_of(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

#[tokio::test(flavor = "multi_thread")]
async fn mounted_apis_get_decoded_requests_by_longest_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path())).await.unwrap();
    let admin: SocketAddr = server.admin_addr().expect("admin listener");

    // Nothing mounted yet.
    let blocking = |target: &'static str| {
        tokio::task::spawn_blocking(move || http_get(admin, target).unwrap())
    };
    assert_eq!(blocking("/api/v1/echo/x").await.unwrap().status, 404);
    // Announced but not yet mounted (the module APIs' session is connecting): 503, retry.
    server.expect_api();
    let starting = blocking("/api/v1/echo/x").await.unwrap();
    assert_eq!(starting.status, 503, "{}", starting.text());
    assert!(json_of(&starting)["error"]
        .as_str()
        .unwrap()
        .contains("starting"));

    server.mount_api(vec![Arc::new(Echo {
        prefix: "/api/v1/echo",
        tag: "echo",
    })]);
    let put = tokio::task::spawn_blocking(move || {
        http_request(
            admin,
            &HttpRequestSpec {
                method: "PUT",
                target: "/api/v1/echo/prod/my%20app/a.yaml?message=first+push&author=ops%40example&flag",
                headers: vec![("Content-Type", "text/yaml".into())],
                body: b"port: 8080\n".to_vec(),
            },
        )
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert_eq!(
        json_of(&put),
        json!({
            "tag": "echo",
            "method": "PUT",
            "path": "/api/v1/echo/prod/my app/a.yaml",
            "query": [["message", "first push"], ["author", "ops@example"], ["flag", ""]],
            "body": "port: 8080\n",
            "principal": null,
        })
    );

    // Mounted after start: the longer prefix wins; the shorter still owns the rest.
    server.mount_api(vec![Arc::new(Echo {
        prefix: "/api/v1/echo/deep",
        tag: "deep",
    })]);
    assert_eq!(
        json_of(&blocking("/api/v1/echo/deep/x").await.unwrap())["tag"],
        "deep"
    );
    assert_eq!(
        json_of(&blocking("/api/v1/echo/deeper").await.unwrap())["tag"],
        "echo"
    );
    // A prefix mounted again replaces the first handler.
    server.mount_api(vec![Arc::new(Echo {
        prefix: "/api/v1/echo",
        tag: "echo-2",
    })]);
    assert_eq!(
        json_of(&blocking("/api/v1/echo").await.unwrap())["tag"],
        "echo-2"
    );
    // Outside every prefix: 404 JSON; undecodable query: 400.
    let other = blocking("/api/v1/other").await.unwrap();
    assert_eq!(other.status, 404);
    assert!(json_of(&other)["error"]
        .as_str()
        .unwrap()
        .contains("/api/v1/other"));
    assert_eq!(blocking("/api/v1/echo?x=%G0").await.unwrap().status, 400);

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_enable_server_false_opens_no_listener() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.admin.enabled = false;
    let port = config.admin.port;
    let server = Server::start(config).await.unwrap();
    assert_eq!(server.admin_addr(), None);
    assert_eq!(server.metrics_addr(), None);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    server.shutdown().await;
}
