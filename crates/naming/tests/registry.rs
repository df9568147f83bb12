//! The registry against a real `arbor server`: registration kinds, health transitions, filters,
//! the protection threshold, a bad node, watches and session loss, all on one server.

use std::time::Duration;

use arbor_coord::remote::ZkCoord;
use arbor_coord::{Coordination, CreateKind};
use arbor_naming::instance::HEALTH_KEY;
use arbor_naming::query::InstanceQuery;
use arbor_naming::{
    HealthStatus, NamingError, Registry, RegistryLayout, ServiceInstance, ServiceType,
};
use arbor_test_support::{ArborOptions, ArborServer};

async fn registry(server: &ArborServer, base: &str) -> Registry<ZkCoord> {
    let coord = ZkCoord::connect(&server.connect_string(), Duration::from_secs(10))
        .await
        .expect("connect");
    Registry::new(coord, RegistryLayout::new(base).unwrap())
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn ids(result: &arbor_naming::QueryResult) -> Vec<&str> {
    result
        .selection
        .instances
        .iter()
        .map(|i| i.instance.id.as_str())
        .collect()
}

fn web(id: &str, port: u16) -> ServiceInstance {
    ServiceInstance::new("web", id)
        .with_address("10.0.0.1")
        .with_port(port)
        .with_registration_time(1_700_000_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_query_update_watch_and_session_loss() {
    let server = ArborServer::start(ArborOptions::new());
    let owner = registry(&server, "/services").await;
    let reader = registry(&server, "/services").await;

    // Registration: DYNAMIC is an ephemeral of the registering session, STATIC persistent.
    let path = owner
        .register(
            &web("web-1", 8081)
                .with_zone("eu")
                .with_tags(&["canary", "v2"]),
        )
        .await
        .unwrap();
    assert_eq!(path, "/services/web/web-1");
    owner
        .register(&web("web-2", 8082).with_health(HealthStatus::Down))
        .await
        .unwrap();
    reader
        .register(
            &web("web-3", 8083)
                .with_service_type(ServiceType::Static)
                .with_zone("us")
                .with_metadata("team", "core"),
        )
        .await
        .unwrap();
    let stat = reader
        .coord()
        .stat("/services/web/web-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stat.ephemeral_owner, owner.coord().session_id());
    let stat = reader
        .coord()
        .stat("/services/web/web-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stat.ephemeral_owner, 0);

    // Re-registering the same id replaces the node (Curator's behaviour).
    owner
        .register(
            &web("web-1", 8091)
                .with_zone("eu")
                .with_tags(&["canary", "v2"]),
        )
        .await
        .unwrap();
    let again = reader.get("web", "web-1").await.unwrap().unwrap();
    assert_eq!(again.instance.port, Some(8091));
    assert!(again.is_ephemeral());

    // Invalid registrations change nothing.
    let mut bad_port = web("web-9", 80);
    bad_port.port = Some(0);
    assert!(matches!(
        owner.register(&bad_port).await,
        Err(NamingError::Invalid(_))
    ));
    assert!(owner
        .register(&ServiceInstance::new("a/b", "x"))
        .await
        .is_err());
    assert_eq!(reader.get("web", "web-9").await.unwrap(), None);

    // Filters: passing only by default; health, zone, tags, metadata.
    let query =
        |params: &[(&str, &str)]| InstanceQuery::from_params(params.iter().copied()).unwrap();
    let passing = reader
        .query("web", &InstanceQuery::default())
        .await
        .unwrap();
    assert_eq!(ids(&passing), vec!["web-1", "web-3"]);
    assert!(passing.exists);
    let first = &passing.selection.instances[0].instance;
    assert_eq!(first.address.as_deref(), Some("10.0.0.1"));
    assert_eq!(first.uri().as_deref(), Some("http://10.0.0.1:8091"));
    assert_eq!(
        ids(&reader.query("web", &InstanceQuery::any()).await.unwrap()),
        vec!["web-1", "web-2", "web-3"]
    );
    assert_eq!(
        ids(&reader
            .query("web", &query(&[("health", "down")]))
            .await
            .unwrap()),
        vec!["web-2"]
    );
    assert_eq!(
        ids(&reader
            .query("web", &query(&[("zone", "eu"), ("tag", "canary")]))
            .await
            .unwrap()),
        vec!["web-1"]
    );
    assert_eq!(
        ids(&reader
            .query("web", &query(&[("meta", "team=core")]))
            .await
            .unwrap()),
        vec!["web-3"]
    );

    // A node that is not an instance is reported and skipped, never fatal.
    reader
        .coord()
        .create("/services/web/broken", b"{not json", CreateKind::Persistent)
        .await
        .unwrap();
    let with_broken = reader.query("web", &InstanceQuery::any()).await.unwrap();
    assert_eq!(ids(&with_broken), vec!["web-1", "web-2", "web-3"]);
    assert_eq!(with_broken.warnings.len(), 1);
    assert_eq!(with_broken.warnings[0].path, "/services/web/broken");
    assert!(
        with_broken.warnings[0]
            .error
            .contains("not a Curator ServiceInstance"),
        "{:?}",
        with_broken.warnings
    );
    assert!(matches!(
        reader.get("web", "broken").await,
        Err(NamingError::Invalid(_))
    ));

    // Health transitions by another session keep the node ephemeral and its owner.
    let updated = reader
        .set_health("web", "web-1", HealthStatus::OutOfService)
        .await
        .unwrap();
    assert_eq!(updated.health(), HealthStatus::OutOfService);
    let node = reader.get("web", "web-1").await.unwrap().unwrap();
    assert_eq!(node.ephemeral_owner, owner.coord().session_id());
    assert_eq!(
        node.instance.metadata_value(HEALTH_KEY).as_deref(),
        Some("OUT_OF_SERVICE")
    );
    assert_eq!(
        node.instance.tags(),
        vec!["canary", "v2"],
        "other metadata kept"
    );
    assert_eq!(
        reader.set_health("web", "absent", HealthStatus::Up).await,
        Err(NamingError::NotFound {
            service: "web".into(),
            id: "absent".into()
        })
    );
    assert!(matches!(
        reader
            .set_metadata("web", "web-1", "weight", Some("heavy"))
            .await,
        Err(NamingError::Invalid(_))
    ));

    // Protection threshold: 1 of 3 passing is under 50%, so all come back, flagged.
    let protected = reader
        .query("web", &query(&[("protect", "0.5")]))
        .await
        .unwrap();
    assert!(protected.selection.protection_applied);
    assert_eq!(ids(&protected), vec!["web-1", "web-2", "web-3"]);
    let unprotected = reader
        .query("web", &InstanceQuery::default())
        .await
        .unwrap();
    assert!(!unprotected.selection.protection_applied);
    assert_eq!(ids(&unprotected), vec!["web-3"]);

    // Watch: no change within the wait answers with the same index...
    let index = unprotected.index;
    let quiet = reader
        .watch(
            "web",
            &InstanceQuery::default(),
            index,
            Duration::from_millis(300),
        )
        .await
        .unwrap();
    assert_eq!(quiet.index, index);
    // ...a data change answers promptly with a higher index...
    let watcher = {
        let reader = reader.clone();
        tokio::spawn(async move {
            reader
                .watch(
                    "web",
                    &InstanceQuery::default(),
                    index,
                    Duration::from_secs(30),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    owner
        .set_health("web", "web-1", HealthStatus::Up)
        .await
        .unwrap();
    let changed = within("the watch to see a health change", watcher)
        .await
        .unwrap()
        .unwrap();
    assert!(changed.index > index, "{} > {index}", changed.index);
    assert_eq!(ids(&changed), vec!["web-1", "web-3"]);
    // ...and so does a new instance (a child change).
    let index = changed.index;
    let watcher = {
        let reader = reader.clone();
        tokio::spawn(async move {
            reader
                .watch("web", &InstanceQuery::any(), index, Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    owner.register(&web("web-4", 8084)).await.unwrap();
    let added = within("the watch to see a new instance", watcher)
        .await
        .unwrap()
        .unwrap();
    assert!(added.index > index);
    assert_eq!(ids(&added), vec!["web-1", "web-2", "web-3", "web-4"]);

    // A watch on a service that does not exist yet answers when it appears. Like Consul's, a
    // wakeup may come before the visible change (here: the service node is created before its
    // first instance), so a client polls again with the new index.
    let absent = reader.query("db", &InstanceQuery::default()).await.unwrap();
    assert!(!absent.exists);
    assert!(absent.selection.instances.is_empty());
    let watcher = {
        let reader = reader.clone();
        let mut index = absent.index;
        tokio::spawn(async move {
            loop {
                let result = reader
                    .watch(
                        "db",
                        &InstanceQuery::default(),
                        index,
                        Duration::from_secs(30),
                    )
                    .await
                    .unwrap();
                assert!(result.index > index, "only answers on a change");
                if !result.selection.instances.is_empty() {
                    return result;
                }
                index = result.index;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    owner
        .register(
            &ServiceInstance::new("db", "db-1")
                .with_address("10.0.0.9")
                .with_port(5432),
        )
        .await
        .unwrap();
    let appeared = within("the watch to see a new service", watcher)
        .await
        .unwrap();
    assert!(appeared.exists);
    assert_eq!(ids(&appeared), vec!["db-1"]);

    // The service list counts readable and passing instances.
    let list = reader.list_services().await.unwrap();
    let summary: Vec<(&str, usize, usize)> = list
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.instances, s.passing))
        .collect();
    assert_eq!(summary, vec![("db", 1, 1), ("web", 4, 3)]);
    assert_eq!(list.warnings.len(), 1, "{:?}", list.warnings);

    // The owner's session ends: its DYNAMIC instances vanish, the STATIC one stays; the empty
    // `db` service node (a container) goes too.
    drop(owner);
    within("the owner's ephemerals to go", async {
        loop {
            let all = reader.query("web", &InstanceQuery::any()).await.unwrap();
            if ids(&all) == vec!["web-3"] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(reader.deregister("web", "web-3").await.unwrap());
    assert!(!reader.deregister("web", "web-3").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_base_path_and_foreign_payloads() {
    let server = ArborServer::start(ArborOptions::new());
    let registry = registry(&server, "/prod/registry").await;
    // A Curator instance with a non-Spring payload: metadata is added beside its own fields.
    let foreign = br#"{"name":"legacy","id":"l-1","address":"10.1.0.1","port":9000,"sslPort":null,"payload":{"@class":"com.example.Details","owner":"ops"},"registrationTimeUTC":1,"serviceType":"STATIC","uriSpec":null,"futureField":[1,2,3]}"#;
    registry
        .coord()
        .ensure_path("/prod/registry/legacy")
        .await
        .unwrap();
    registry
        .coord()
        .create("/prod/registry/legacy/l-1", foreign, CreateKind::Persistent)
        .await
        .unwrap();
    let updated = registry
        .set_metadata("legacy", "l-1", "zone", Some("eu"))
        .await
        .unwrap();
    assert_eq!(updated.zone().as_deref(), Some("eu"));
    let raw = registry
        .coord()
        .get("/prod/registry/legacy/l-1")
        .await
        .unwrap()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&raw.data).unwrap();
    assert_eq!(json["payload"]["@class"], "com.example.Details");
    assert_eq!(json["payload"]["owner"], "ops");
    assert_eq!(json["payload"]["metadata"]["zone"], "eu");
    assert_eq!(json["futureField"], serde_json::json!([1, 2, 3]));
    let list = registry.list_services().await.unwrap();
    assert_eq!(list.services.len(), 1);
    assert_eq!(list.services[0].name, "legacy");
    // Nothing was written under the default base.
    assert_eq!(registry.coord().stat("/services").await.unwrap(), None);
}

async fn call(
    api: &arbor_naming::NamingApi<ZkCoord>,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    use arbor_coord::api::{ApiHandler, ApiRequest};
    let response = api
        .handle(ApiRequest {
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            principal: None,
        })
        .await;
    assert_eq!(response.content_type, "application/json");
    let body = serde_json::from_slice(&response.body).expect("JSON body");
    (response.status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_static_entries_filters_and_long_poll() {
    let server = ArborServer::start(ArborOptions::new());
    let api = arbor_naming::NamingApi::new(registry(&server, "/services").await);
    let owner = registry(&server, "/services").await;

    // PUT stores a static entry: 201 when new, 200 when replaced.
    let body = br#"{"address":"10.0.0.1","port":8080,"payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance","metadata":{"zone":"eu","weight":"2"}}}"#;
    let (status, created) = call(&api, "PUT", "/api/v1/services/web/s-1", &[], body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["serviceType"], "STATIC");
    assert_eq!(created["ephemeral"], false);
    assert_eq!(created["weight"], 2.0);
    assert_eq!(created["instance"]["name"], "web");
    let (status, _) = call(&api, "PUT", "/api/v1/services/web/s-1", &[], body).await;
    assert_eq!(status, 200);
    // Bad bodies change nothing.
    for bad in [
        &br#"{"serviceType":"DYNAMIC"}"#[..],
        b"{not json",
        br#"{"port":123456}"#,
    ] {
        let (status, error) = call(&api, "PUT", "/api/v1/services/web/s-bad", &[], bad).await;
        assert_eq!(status, 400, "{error}");
        assert!(error["error"].is_string());
    }
    let (status, _) = call(&api, "GET", "/api/v1/services/web/s-bad", &[], b"").await;
    assert_eq!(status, 404);

    // A dynamic instance of another session: readable, not replaceable or deletable without force.
    owner
        .register(&web("d-1", 9000).with_health(HealthStatus::Down))
        .await
        .unwrap();
    let (status, conflict) = call(&api, "PUT", "/api/v1/services/web/d-1", &[], b"{}").await;
    assert_eq!(status, 409, "{conflict}");
    let (status, conflict) = call(&api, "DELETE", "/api/v1/services/web/d-1", &[], b"").await;
    assert_eq!(status, 409, "{conflict}");
    let (status, one) = call(&api, "GET", "/api/v1/services/web/d-1", &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(one["ephemeral"], true);
    assert_eq!(one["health"], "DOWN");

    // Filters and the protection flag.
    let (_, passing) = call(&api, "GET", "/api/v1/services/web", &[], b"").await;
    assert_eq!(
        passing["instances"].as_array().unwrap().len(),
        1,
        "{passing}"
    );
    assert_eq!(passing["instances"][0]["id"], "s-1");
    assert_eq!(passing["protectionApplied"], false);
    let (_, protected) = call(
        &api,
        "GET",
        "/api/v1/services/web",
        &[("protect", "60%")],
        b"",
    )
    .await;
    assert_eq!(protected["protectionApplied"], true, "{protected}");
    assert_eq!(protected["instances"].as_array().unwrap().len(), 2);
    let (_, down) = call(
        &api,
        "GET",
        "/api/v1/services/web",
        &[("health", "down"), ("zone", "eu")],
        b"",
    )
    .await;
    assert_eq!(down["instances"], serde_json::json!([]));
    let (status, _) = call(&api, "GET", "/api/v1/services/web", &[("tags", "x")], b"").await;
    assert_eq!(status, 400, "unknown parameters are refused");

    // Long poll: answers once the index moves past the one given.
    let index = passing["index"].as_i64().unwrap();
    let (_, quiet) = call(
        &api,
        "GET",
        "/api/v1/services/web",
        &[("index", &index.to_string()), ("wait", "200ms")],
        b"",
    )
    .await;
    assert_eq!(quiet["index"].as_i64(), Some(index));
    let poll = {
        let api = std::sync::Arc::new(api);
        let poller = api.clone();
        let handle = tokio::spawn(async move {
            call(
                &poller,
                "GET",
                "/api/v1/services/web",
                &[("index", &index.to_string()), ("wait", "30s")],
                b"",
            )
            .await
        });
        (api, handle)
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    owner
        .set_health("web", "d-1", HealthStatus::Up)
        .await
        .unwrap();
    let (api, handle) = poll;
    let (status, changed) = within("the long poll to answer", handle).await.unwrap();
    assert_eq!(status, 200);
    assert!(changed["index"].as_i64().unwrap() > index, "{changed}");
    assert_eq!(changed["instances"].as_array().unwrap().len(), 2);

    // A bad node shows up as a warning in the answer.
    owner
        .coord()
        .create("/services/web/junk", b"[]", CreateKind::Persistent)
        .await
        .unwrap();
    let (status, listed) = call(&api, "GET", "/api/v1/services", &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(listed["services"][0]["name"], "web");
    assert_eq!(listed["services"][0]["instances"], 2);
    assert_eq!(listed["warnings"][0]["path"], "/services/web/junk");

    // DELETE removes static entries (and dynamic ones with force).
    let (status, _) = call(&api, "DELETE", "/api/v1/services/web/s-1", &[], b"").await;
    assert_eq!(status, 200);
    let (status, _) = call(&api, "DELETE", "/api/v1/services/web/s-1", &[], b"").await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &api,
        "DELETE",
        "/api/v1/services/web/d-1",
        &[("force", "true")],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&api, "POST", "/api/v1/services/web", &[], b"").await;
    assert_eq!(status, 405);
}
