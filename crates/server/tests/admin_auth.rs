//! API authorization on a running server's admin listener: tokens from `admin.tokensFile` with
//! roles, 401/403 refusals that change nothing, and an audit line for every write attempt.
//! The module API here writes znodes through a real ZooKeeper session to the server, as the
//! config center does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arbor_coord::api::{ApiFuture, ApiHandler, ApiRequest, ApiResponse};
use arbor_coord::remote::ZkCoord;
use arbor_coord::{Coordination, CreateKind};
use arbor_server::{Server, ServerConfig};
use arbor_test_support::{free_port, http_request, HttpRequestSpec, HttpResponse};
use serde_json::{json, Value};

/// `PUT /api/v1/nodes/<name>` creates `/nodes/<name>` with the body (and records who wrote it
/// in the data); `GET` reads it back.
struct Nodes {
    coord: ZkCoord,
}

impl ApiHandler for Nodes {
    fn prefix(&self) -> &'static str {
        "/api/v1/nodes"
    }

    fn handle(&self, request: ApiRequest) -> ApiFuture<'_> {
        Box::pin(async move {
            let segments = request.segments_under(self.prefix()).unwrap_or_default();
            let [name] = segments.as_slice() else {
                return ApiResponse::error(400, "expected /api/v1/nodes/<name>");
            };
            let path = format!("/nodes/{name}");
            match request.method.as_str() {
                "PUT" => {
                    let author = request.principal.clone().unwrap_or_default();
                    let data = format!("{author}:{}", String::from_utf8_lossy(&request.body));
                    match self.coord.create(&path, data.as_bytes(), CreateKind::Persistent).await {
                        Ok(_) => ApiResponse::json(201, json!({"created": path}).to_string().into_bytes()),
                        Err(e) => ApiResponse::error(409, &e.to_string()),
                    }
                }
                "GET" => match self.coord.get(&path).await {
                    Ok(Some(node)) => ApiResponse::json(200, json!({"data": String::from_utf8_lossy(&node.data), "principal": request.principal}).to_string().into_bytes()),
                    Ok(None) => ApiResponse::error(404, "no such node"),
                    Err(e) => ApiResponse::error(500, &e.to_string()),
                },
                _ => ApiResponse::error(405, "GET or PUT"),
            }
        })
    }
}

const READER: &str = "reader-token-0123456789";
const WRITER: &str = "writer-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(("Authorization", format!("Bearer {token}")));
    }
    http_request(
        addr,
        &HttpRequestSpec {
            method,
            target,
            headers,
            body: body.to_vec(),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_roles_refusals_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("# test tokens\nreader read {READER}\nci write {WRITER}\nops admin {ADMIN}\n"),
    )
    .unwrap();
    let audit = dir.path().join("audit/api.log");
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut config = ServerConfig {
        data_dir: dir.path().join("data"),
        data_log_dir: dir.path().join("data"),
        client_port: free_port(),
        client_port_address: loopback,
        ..ServerConfig::default()
    };
    config.admin.address = loopback;
    config.admin.port = free_port();
    config.admin.tokens_file = Some(tokens.clone());
    config.admin.audit_log = Some(audit.clone());
    let server = Server::start(config).await.unwrap();
    let coord = ZkCoord::connect(&server.local_addr().to_string(), Duration::from_secs(30))
        .await
        .unwrap();
    coord.ensure_path("/nodes").await.unwrap();
    server.mount_api(vec![Arc::new(Nodes {
        coord: coord.clone(),
    })]);
    let admin = server.admin_addr().unwrap();

    let outcome = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        // No token: 401 with a Bearer challenge; a wrong one too.
        let r = request(admin, "PUT", "/api/v1/nodes/a", None, b"one");
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"arbor\""));
        assert!(json_of(&r)["error"].as_str().unwrap().contains("Bearer"));
        seen.push(401);
        let r = request(
            admin,
            "PUT",
            "/api/v1/nodes/a",
            Some("not-a-known-token-at-all"),
            b"one",
        );
        assert_eq!(r.status, 401);
        seen.push(401);
        // A reader may read but not write.
        let r = request(admin, "PUT", "/api/v1/nodes/a", Some(READER), b"one");
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(json_of(&r)["error"]
            .as_str()
            .unwrap()
            .contains("needs write"));
        seen.push(403);
        assert_eq!(
            request(admin, "GET", "/api/v1/nodes/a", Some(READER), b"").status,
            404
        );
        // A writer writes; the module sees who.
        let r = request(admin, "PUT", "/api/v1/nodes/a", Some(WRITER), b"one");
        assert_eq!(r.status, 201, "{}", r.text());
        seen.push(201);
        let r = request(admin, "GET", "/api/v1/nodes/a", Some(READER), b"");
        assert_eq!(
            json_of(&r),
            json!({"data": "ci:one", "principal": "reader"})
        );
        // Commands: reading needs read, resetting needs admin.
        assert_eq!(
            request(admin, "GET", "/commands/mntr", None, b"").status,
            401
        );
        assert_eq!(request(admin, "GET", "/commands", None, b"").status, 401);
        assert_eq!(
            request(admin, "GET", "/commands/mntr", Some(READER), b"").status,
            200
        );
        assert_eq!(
            request(admin, "POST", "/commands/mntr", Some(READER), b"").status,
            200
        );
        assert_eq!(
            request(admin, "POST", "/commands/srst", Some(WRITER), b"").status,
            403
        );
        seen.push(403);
        assert_eq!(
            request(admin, "POST", "/commands/srst", Some(ADMIN), b"").status,
            200
        );
        seen.push(200);
        // Probes and scrapes need no token.
        assert_eq!(request(admin, "GET", "/healthz", None, b"").status, 200);
        assert_eq!(request(admin, "GET", "/readyz", None, b"").status, 200);
        assert_eq!(
            request(
                admin,
                "GET",
                "/metrics",
                Some("stale-token-0123456789"),
                b""
            )
            .status,
            200
        );
        seen
    })
    .await
    .unwrap();

    // Nothing changed by the refused writes: only the writer's node exists, with its data.
    assert_eq!(
        coord.children("/nodes").await.unwrap(),
        Some(vec!["a".to_owned()])
    );
    assert_eq!(
        coord.get("/nodes/a").await.unwrap().unwrap().data,
        b"ci:one"
    );

    // One audit line per write attempt, refused ones included, in order.
    let text = std::fs::read_to_string(&audit).unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<u64> = entries
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        outcome.iter().map(|s| *s as u64).collect::<Vec<_>>(),
        "{text}"
    );
    assert_eq!(entries[0]["principal"], Value::Null);
    assert_eq!(entries[0]["outcome"], "refused");
    assert_eq!(entries[2]["principal"], "reader");
    assert_eq!(entries[3]["principal"], "ci");
    assert_eq!(entries[3]["method"], "PUT");
    assert_eq!(entries[3]["path"], "/api/v1/nodes/a");
    assert_eq!(entries[3]["body_bytes"], 3);
    assert_eq!(entries[3]["outcome"], "done");
    assert!(entries[3]["remote"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(entries[3]["time_ms"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(entries[5]["principal"], "ops");
    assert_eq!(entries[5]["path"], "/commands/srst");

    // Tokens are rotated by editing the file: the reader's token stops working.
    std::fs::write(&tokens, format!("ci write {WRITER}\n")).unwrap();
    let file = std::fs::File::options().write(true).open(&tokens).unwrap();
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(2))
        .unwrap();
    let after = tokio::task::spawn_blocking(move || {
        (
            request(admin, "GET", "/api/v1/nodes/a", Some(READER), b"").status,
            request(admin, "GET", "/api/v1/nodes/a", Some(WRITER), b"").status,
        )
    })
    .await
    .unwrap();
    assert_eq!(after, (401, 200));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_tokens_file_stops_the_start_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "ci writer some-token-0123456789\n").unwrap();
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut config = ServerConfig {
        data_dir: dir.path().join("data"),
        data_log_dir: dir.path().join("data"),
        client_port: free_port(),
        client_port_address: loopback,
        ..ServerConfig::default()
    };
    config.admin.address = loopback;
    config.admin.port = free_port();
    config.admin.tokens_file = Some(tokens.clone());
    let err = Server::start(config).await.err().expect("must refuse");
    let message = err.to_string();
    assert!(
        message.contains(&format!("{}:1:", tokens.display())),
        "{message}"
    );
    assert!(
        message.contains("role must be read, write or admin"),
        "{message}"
    );
}
