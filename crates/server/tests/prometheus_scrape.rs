//! A real Prometheus (Debian's package) scrapes a real `arbor server`; what its query API
//! returns for `arbor_znode_count` and the request latency histogram matches what the server
//! reports in `mntr`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arbor_test_support::{ArborServer, Prometheus};

use common::zk::{connect_with_timeout, persistent};

const SCRAPE_INTERVAL: Duration = Duration::from_millis(500);
const CREATES: usize = 7;
const READS: usize = 20;

fn mntr(server: &ArborServer) -> BTreeMap<String, String> {
    server
        .four_letter("mntr")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What Prometheus holds from one scrape, and that scrape's time.
#[derive(Debug)]
struct Scraped {
    scraped_at: f64,
    znode_count: f64,
    create2_count: f64,
    get_data_count: f64,
    latency_sum: f64,
    latency_count: f64,
}

fn scraped(prometheus: &Prometheus) -> Option<Scraped> {
    let value = |expr: &str| {
        prometheus
            .query_value(expr)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    Some(Scraped {
        scraped_at: value("timestamp(arbor_znode_count)")?,
        znode_count: value("arbor_znode_count")?,
        create2_count: value("arbor_request_latency_seconds_count{op=\"create2\"}")?,
        get_data_count: value("arbor_request_latency_seconds_count{op=\"getData\"}")?,
        latency_sum: value("sum(arbor_request_latency_seconds_sum)")?,
        latency_count: value("sum(arbor_request_latency_seconds_count)")?,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_what_mntr_reports() {
    if Prometheus::binary().is_none() {
        if std::env::var("SKIP_INSTALL").as_deref() == Ok("1") {
            eprintln!(
                "SKIPPED prometheus_scrapes_what_mntr_reports: no prometheus binary and \
                 SKIP_INSTALL=1 (scripts/test.sh installs Debian's `prometheus` otherwise)"
            );
            return;
        }
        panic!(
            "no prometheus binary (/usr/bin/prometheus or $PROMETHEUS_BIN): install Debian's \
             `prometheus` package (scripts/test.sh does)"
        );
    }
    let server = common::start_arbor(&[]);

    // Known traffic, then the session closes so only the server's own API session remains.
    let client = connect_with_timeout(&server.connect_string(), Duration::from_secs(30)).await;
    client.create("/prom", b"", &persistent()).await.unwrap();
    for i in 1..CREATES {
        client
            .create(&format!("/prom/n{i}"), b"data", &persistent())
            .await
            .unwrap();
    }
    for _ in 0..READS {
        client.get_data("/prom").await.unwrap();
    }
    drop(client);
    assert!(
        common::wait_until(Duration::from_secs(20), || {
            mntr(&server)["zk_num_alive_connections"] == "1"
        }),
        "the test client's connection did not go away: {:?}",
        mntr(&server)
    );

    let admin = server.admin_addr();
    let prometheus = tokio::task::spawn_blocking(move || {
        Prometheus::start(&[("arbor", admin)], SCRAPE_INTERVAL)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));

    // Compare a scrape with mntr taken before and after it, when nothing changed in between
    // (the server's own API session pings now and then: such windows are retried).
    let deadline = Instant::now() + Duration::from_secs(90);
    let (before, after, seen) = loop {
        assert!(
            Instant::now() < deadline,
            "no stable scrape within 90 s; prometheus log:\n{}",
            prometheus.log_tail()
        );
        let started = now_s();
        let before = mntr(&server);
        std::thread::sleep(SCRAPE_INTERVAL * 3);
        let seen = scraped(&prometheus);
        let after = mntr(&server);
        let ended = now_s();
        let unchanged = before["zk_packets_received"] == after["zk_packets_received"]
            && before["zk_avg_latency"] == after["zk_avg_latency"];
        match seen {
            Some(s) if unchanged && s.scraped_at > started && s.scraped_at < ended => {
                break (before, after, s)
            }
            _ => continue,
        }
    };
    assert_eq!(
        prometheus.query_value("up{job=\"arbor\"}").unwrap(),
        Some(1.0)
    );

    let znodes: f64 = after["zk_znode_count"].parse().unwrap();
    assert_eq!(seen.znode_count, znodes, "{seen:?} vs mntr {after:?}");
    assert!(znodes >= CREATES as f64);
    // The histograms count every request of our client, per opcode.
    assert_eq!(seen.create2_count, CREATES as f64, "{seen:?}");
    assert_eq!(seen.get_data_count, READS as f64, "{seen:?}");
    // Their mean is the average latency mntr reports (ms; mntr keeps whole microseconds).
    let mean_ms = seen.latency_sum / seen.latency_count * 1000.0;
    let avg_ms: f64 = before["zk_avg_latency"].parse().unwrap();
    assert!(
        (mean_ms - avg_ms).abs() < 0.002,
        "histogram mean {mean_ms} ms vs mntr zk_avg_latency {avg_ms} ms ({seen:?})"
    );
    // And the slowest request lies in the histogram's range.
    let max_ms: f64 = before["zk_max_latency"].parse().unwrap();
    assert!(max_ms >= mean_ms.floor(), "max {max_ms} < mean {mean_ms}");
    let slower = prometheus
        .query_value(&format!(
            "sum(arbor_request_latency_seconds_count) - sum(arbor_request_latency_seconds_bucket{{le=\"{}\"}})",
            bucket_at_or_above((max_ms + 1.0) / 1000.0)
        ))
        .unwrap();
    assert_eq!(
        slower,
        Some(0.0),
        "requests above mntr's max latency {max_ms} ms"
    );

    // Every query of the example dashboard is valid PromQL over these metrics, and those on
    // the server's state find data.
    let dashboard_path =
        arbor_test_support::workspace_root().join("examples/monitoring/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&dashboard_path).unwrap()).unwrap();
    let queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(!queries.is_empty());
    for query in &queries {
        let concrete = query
            .replace("$__rate_interval", "1m")
            .replace("$job", ".*")
            .replace("$instance", ".*");
        let samples = prometheus
            .query(&concrete)
            .unwrap_or_else(|e| panic!("dashboard query {query:?}: {e}"));
        if [
            "arbor_znode_count",
            "arbor_raft_is_leader",
            "arbor_raft_last_applied_index",
        ]
        .iter()
        .any(|m| query.contains(m))
        {
            assert!(
                !samples.is_empty(),
                "dashboard query {query:?} found no data"
            );
        }
    }
}

/// The smallest latency bucket bound (docs/metrics.md) at or above `seconds`.
fn bucket_at_or_above(seconds: f64) -> String {
    const BOUNDS: &[&str] = &[
        "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
        "0.25", "0.5", "1", "2.5", "5", "10",
    ];
    BOUNDS
        .iter()
        .find(|b| b.parse::<f64>().unwrap() >= seconds)
        .map_or("+Inf".to_owned(), |b| (*b).to_owned())
}
