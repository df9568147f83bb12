//! The config center's and the naming registry's metrics on a real `arbor server`'s
//! `/metrics`: pushes through the API, accepted and refused by reason, counted; documents,
//! services and instances read from the tree at scrape time; the Raft commit index.

use std::time::{Duration, Instant};

use arbor_cli::module_metrics::MIN_REFRESH_INTERVAL;
use arbor_test_support::{
    api_call, exposition_value, http_get, until_success, ArborOptions, ArborServer,
};

fn scrape(server: &ArborServer) -> String {
    let response = http_get(server.admin_addr(), "/metrics").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

fn value(text: &str, series: &str) -> f64 {
    exposition_value(text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

fn rejected(text: &str, reason: &str) -> f64 {
    value(
        text,
        &format!("arbor_config_rejected_pushes_total{{reason=\"{reason}\"}}"),
    )
}

fn put(server: &ArborServer, target: &str, body: &[u8]) -> u16 {
    api_call(server.admin_addr(), "PUT", target, None, body).status
}

#[test]
fn config_and_naming_metrics_follow_the_api_and_the_tree() {
    let server = ArborServer::start(ArborOptions::new());
    let admin = server.admin_addr();
    let doc = "/api/v1/config/prod/web/application.yml";

    // Before anything: every reason's series is there at 0.
    until_success("the API is mounted", Duration::from_secs(20), || {
        api_call(admin, "GET", "/api/v1/config", None, b"")
    });
    let before = scrape(&server);
    assert_eq!(value(&before, "arbor_config_pushes_total"), 0.0);
    for reason in [
        "invalid_name",
        "invalid_request",
        "invalid_format",
        "too_large",
        "conflict",
        "projection",
        "error",
    ] {
        assert_eq!(rejected(&before, reason), 0.0, "{reason}");
    }
    assert_eq!(value(&before, "arbor_config_documents"), 0.0);
    assert_eq!(value(&before, "arbor_naming_services"), 0.0);

    // Accepted: three documents, a no-op push of the same content, one deleted later.
    assert_eq!(put(&server, doc, b"server:\n  port: 8080\n"), 200);
    assert_eq!(put(&server, doc, b"server:\n  port: 8080\n"), 200);
    assert_eq!(
        put(
            &server,
            "/api/v1/config/prod/web/flags.json",
            b"{\"beta\": true}\n"
        ),
        200
    );
    assert_eq!(
        put(
            &server,
            "/api/v1/config/staging/api/limits.toml",
            b"max = 3\n"
        ),
        200
    );
    // Refused, one of each reason.
    assert_eq!(put(&server, doc, b"server: [unclosed\n"), 400);
    assert_eq!(
        put(&server, &format!("{doc}?expect_version=7"), b"a: 1\n"),
        409
    );
    assert_eq!(put(&server, doc, &vec![b'#'; 300 * 1024]), 413);
    assert_eq!(
        put(&server, "/api/v1/config/prod/web/no-extension", b"x"),
        400
    );
    assert_eq!(put(&server, &format!("{doc}?retention=0"), b"a: 1\n"), 400);
    let deleted = api_call(
        admin,
        "DELETE",
        "/api/v1/config/prod/web/flags.json",
        None,
        b"",
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());

    // Naming: two services, three static instances.
    for (service, id) in [("db", "primary"), ("db", "replica"), ("web", "a")] {
        let body = br#"{"address":"10.0.0.9","port":5432}"#;
        let status = put(&server, &format!("/api/v1/services/{service}/{id}"), body);
        assert_eq!(status, 201, "{service}/{id}");
    }

    // Gauges are read at most once per MIN_REFRESH_INTERVAL: let the first scrape's read age.
    std::thread::sleep(MIN_REFRESH_INTERVAL);
    let text = scrape(&server);
    assert_eq!(value(&text, "arbor_config_pushes_total"), 4.0);
    assert_eq!(rejected(&text, "invalid_format"), 1.0);
    assert_eq!(rejected(&text, "conflict"), 1.0);
    assert_eq!(rejected(&text, "too_large"), 1.0);
    assert_eq!(rejected(&text, "invalid_name"), 1.0);
    assert_eq!(rejected(&text, "invalid_request"), 1.0);
    assert_eq!(rejected(&text, "projection"), 0.0);
    assert_eq!(rejected(&text, "error"), 0.0);
    assert_eq!(value(&text, "arbor_config_documents"), 2.0);
    assert_eq!(value(&text, "arbor_naming_services"), 2.0);
    assert_eq!(value(&text, "arbor_naming_instances{service=\"db\"}"), 2.0);
    assert_eq!(value(&text, "arbor_naming_instances{service=\"web\"}"), 1.0);
    // Every write above was committed and applied.
    let committed = value(&text, "arbor_raft_commit_index");
    let applied = value(&text, "arbor_raft_last_applied_index");
    assert!(
        committed > 0.0 && committed >= applied,
        "{committed} {applied}"
    );

    // Gauges follow the tree (scrapes within MIN_REFRESH_INTERVAL share one read).
    let gone = api_call(admin, "DELETE", "/api/v1/services/db/replica", None, b"");
    assert_eq!(gone.status, 200, "{}", gone.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(&server);
        if exposition_value(&text, "arbor_naming_instances{service=\"db\"}") == Some(1.0) {
            // Counters are what the API saw, not the tree: unchanged by naming writes.
            assert_eq!(value(&text, "arbor_config_pushes_total"), 4.0);
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
