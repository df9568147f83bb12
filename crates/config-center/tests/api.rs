//! The HTTP API handler (called directly with `ApiRequest`s) on a `ZkCoord` connected to a real
//! `arbor server`, and a plain ZooKeeper client watching the config node.

use std::time::Duration;

use arbor_config_center::api::ConfigApi;
use arbor_config_center::{ConfigCenter, PushOptions};
use arbor_coord::api::{ApiHandler, ApiRequest, ApiResponse};
use arbor_coord::remote::ZkCoord;
use arbor_coord::Coordination;
use arbor_test_support::{ArborOptions, ArborServer};
use serde_json::Value;
use zookeeper_client as zk;

async fn connect(server: &ArborServer) -> ZkCoord {
    ZkCoord::connect(&server.connect_string(), Duration::from_secs(10))
        .await
        .expect("connect")
}

fn request(method: &str, path: &str, query: &[(&str, &str)], body: &[u8]) -> ApiRequest {
    ApiRequest {
        method: method.to_string(),
        path: path.to_string(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
        principal: None,
    }
}

fn json(response: &ApiResponse) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&response.body)))
}

async fn call(api: &impl ApiHandler, request: ApiRequest) -> (u16, Value) {
    let response = api.handle(request).await;
    let body = json(&response);
    (response.status, body)
}

const DOC: &str = "/api/v1/config/prod/web/application.yml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_routes_errors_and_long_poll() {
    let server = ArborServer::start(ArborOptions::new());
    let api = ConfigApi::on(connect(&server).await);
    assert_eq!(api.prefix(), "/api/v1/config");

    // put, get, versions, raw.
    let (status, body) = call(
        &api,
        request("PUT", DOC, &[("message", "first")], b"server:\n  port: 1\n"),
    )
    .await;
    assert_eq!((status, body["version"].as_u64()), (200, Some(1)), "{body}");
    let mut principal = request(
        "PUT",
        DOC,
        &[("author", "ignored")],
        b"server:\n  port: 2\n",
    );
    principal.principal = Some("token-ci".into());
    let (status, body) = call(&api, principal).await;
    assert_eq!((status, body["version"].as_u64()), (200, Some(2)), "{body}");
    let (status, body) = call(&api, request("GET", DOC, &[], b"")).await;
    assert_eq!(status, 200);
    assert_eq!(body["content"], "server:\n  port: 2\n");
    assert_eq!(body["version"], 2);
    assert_eq!(body["author"], "token-ci");
    assert_eq!(body["format"], "yaml");
    let (_, body) = call(&api, request("GET", DOC, &[("version", "1")], b"")).await;
    assert_eq!(
        (body["content"].as_str(), body["message"].as_str()),
        (Some("server:\n  port: 1\n"), Some("first"))
    );
    assert_eq!(body["author"], "http");
    let raw = api
        .handle(request("GET", DOC, &[("raw", "true")], b""))
        .await;
    assert_eq!(
        (raw.status, raw.body.as_slice()),
        (200, &b"server:\n  port: 2\n"[..])
    );
    assert!(raw.content_type.starts_with("text/plain"));

    // Listings and settings.
    let (_, body) = call(&api, request("GET", "/api/v1/config", &[], b"")).await;
    assert_eq!(body["envs"], serde_json::json!(["prod"]));
    let (_, body) = call(&api, request("GET", "/api/v1/config/prod", &[], b"")).await;
    assert_eq!(body["apps"], serde_json::json!(["web"]));
    let (_, body) = call(&api, request("GET", "/api/v1/config/prod/web", &[], b"")).await;
    assert_eq!(body["configs"][0]["name"], "application.yml");
    assert_eq!(body["configs"][0]["version"], 2);
    assert_eq!(body["settings"]["spring_projection"], false);
    let (status, body) = call(
        &api,
        request(
            "PUT",
            "/api/v1/config/prod/web",
            &[],
            br#"{"spring_projection": true}"#,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["projection"]["context"], "/config/web,prod");

    // History, diff, rollback, delete.
    let (_, body) = call(&api, request("GET", &format!("{DOC}/history"), &[], b"")).await;
    let versions: Vec<u64> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, vec![2, 1]);
    assert!(
        body["history"][0].get("content").is_none(),
        "history lists entries without content"
    );
    let (_, body) = call(
        &api,
        request(
            "GET",
            &format!("{DOC}/diff"),
            &[("from", "1"), ("to", "2")],
            b"",
        ),
    )
    .await;
    assert!(
        body["diff"]
            .as_str()
            .unwrap()
            .contains("-  port: 1\n+  port: 2\n"),
        "{body}"
    );
    let (_, body) = call(
        &api,
        request("POST", &format!("{DOC}/diff"), &[], b"server:\n  port: 2\n"),
    )
    .await;
    assert_eq!(body["identical"], true);
    let (status, body) = call(
        &api,
        request("POST", &format!("{DOC}/rollback"), &[("to", "1")], b""),
    )
    .await;
    assert_eq!((status, body["version"].as_u64()), (200, Some(3)), "{body}");
    let (_, body) = call(&api, request("GET", DOC, &[], b"")).await;
    assert_eq!(
        (body["kind"].as_str(), body["rollback_of"].as_u64()),
        (Some("rollback"), Some(1))
    );

    // Refusals: status and message.
    let cases: Vec<(ApiRequest, u16, &str)> = vec![
        (
            request("PUT", DOC, &[], b"a: [1\n"),
            400,
            "invalid YAML at line 2",
        ),
        (
            request("PUT", DOC, &[("expect_version", "1")], b"a: 1\n"),
            409,
            "expected version 1, but the current version is 3",
        ),
        (
            request("PUT", "/api/v1/config/prod/web/noext", &[], b"x"),
            400,
            "needs an extension",
        ),
        (
            request("PUT", "/api/v1/config/prod/../x.yml", &[], b"x"),
            400,
            "`.` and `..`",
        ),
        (
            request(
                "PUT",
                "/api/v1/config/prod/web/bin.yml",
                &[],
                b"\xff\xfe\x00",
            ),
            400,
            "not UTF-8",
        ),
        (
            request(
                "PUT",
                "/api/v1/config/prod/web/big.txt",
                &[],
                &vec![b'x'; 5 << 20],
            ),
            413,
            "the limit is 262144 bytes",
        ),
        (
            request("GET", "/api/v1/config/prod/web/absent.yml", &[], b""),
            404,
            "no such config",
        ),
        (
            request("GET", DOC, &[("version", "99")], b""),
            404,
            "version 99 is not in the history",
        ),
        (
            request("GET", DOC, &[("version", "x")], b""),
            400,
            "not a version number",
        ),
        (request("POST", DOC, &[], b""), 405, "not allowed"),
        (
            request("GET", &format!("{DOC}/nope"), &[], b""),
            404,
            "no such resource",
        ),
        (
            request("POST", &format!("{DOC}/rollback"), &[], b""),
            400,
            "needs ?to=",
        ),
        (
            request("GET", DOC, &[("watch", "3"), ("timeout", "soon")], b""),
            400,
            "not a duration",
        ),
    ];
    for (request, status, message) in cases {
        let what = format!("{} {}", request.method, request.path);
        let (got, body) = call(&api, request).await;
        let error = body["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{what}: {body}");
        assert!(
            error.contains(message),
            "{what}: {error:?} should contain {message:?}"
        );
    }
    let (_, body) = call(&api, request("GET", DOC, &[], b"")).await;
    assert_eq!(body["version"], 3, "refusals wrote nothing");

    // Long poll: returns at the timeout with the unchanged version...
    let (status, body) = call(
        &api,
        request("GET", DOC, &[("watch", "3"), ("timeout", "200ms")], b""),
    )
    .await;
    assert_eq!(
        (status, body["changed"].as_bool(), body["version"].as_u64()),
        (200, Some(false), Some(3))
    );
    // ...at once when the version already differs...
    let (_, body) = call(&api, request("GET", DOC, &[("watch", "1")], b"")).await;
    assert_eq!(
        (body["changed"].as_bool(), body["version"].as_u64()),
        (Some(true), Some(3))
    );
    // ...and as soon as another client pushes (the poll asks for 60 s; it must not take that).
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let (status, body) = call(
            &api,
            request("GET", DOC, &[("watch", "3"), ("timeout", "60s")], b""),
        )
        .await;
        (status, body, started.elapsed(), api)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pusher = ConfigCenter::new(connect(&server).await);
    let key =
        arbor_config_center::layout::ConfigKey::parse("prod", "web", "application.yml").unwrap();
    pusher
        .push(&key, b"server:\n  port: 4\n", &PushOptions::default())
        .await
        .unwrap();
    let (status, body, _waited, api) = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("long poll did not return after a push")
        .unwrap();
    assert_eq!(
        (status, body["changed"].as_bool(), body["version"].as_u64()),
        (200, Some(true), Some(4)),
        "{body}"
    );
    assert_eq!(body["content"], "server:\n  port: 4\n");
    // A deletion is a change too.
    let waiting = tokio::spawn(async move {
        call(
            &api,
            request("GET", DOC, &[("watch", "4"), ("timeout", "60s")], b""),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    pusher.delete(&key, &Default::default()).await.unwrap();
    let (_, body) = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (body["exists"].as_bool(), body["version"].as_u64()),
        (Some(false), Some(5)),
        "{body}"
    );
}

async fn next(seen: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("the watcher saw nothing")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_zookeeper_watcher_sees_every_pushed_version() {
    let server = ArborServer::start(ArborOptions::new());
    let center = ConfigCenter::new(connect(&server).await);
    let key =
        arbor_config_center::layout::ConfigKey::parse("prod", "web", "app.properties").unwrap();
    center
        .push(&key, b"n=0\n", &PushOptions::default())
        .await
        .unwrap();

    // A plain zookeeper-client session, knowing only the node's path: read, watch, repeat.
    let client = zk::Client::connect(&server.connect_string()).await.unwrap();
    let path = arbor_config_center::layout::config_path(&key);
    assert_eq!(path, "/arbor/config/prod/web/app.properties");
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        loop {
            let (data, _, watch) = client.get_and_watch_data(&path).await.unwrap();
            if seen_tx.send(data).is_err() {
                return;
            }
            watch.changed().await;
        }
    });
    assert_eq!(next(&mut seen).await, b"n=0\n");
    for n in 1..=5 {
        let content = format!("n={n}\n");
        let outcome = center
            .push(&key, content.as_bytes(), &PushOptions::default())
            .await
            .unwrap();
        assert_eq!(outcome.version, n + 1);
        assert_eq!(
            next(&mut seen).await,
            content.as_bytes(),
            "version {}",
            n + 1
        );
    }
    let rolled = center
        .rollback(&key, 1, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(rolled.version, 7);
    assert_eq!(next(&mut seen).await, b"n=0\n");
    watcher.abort();
    assert!(center
        .coord()
        .stat("/arbor/config/prod/web/app.properties")
        .await
        .unwrap()
        .is_some());
}
