//! The admin HTTP listener of a real `arbor server` process: every AdminServer command returns
//! JSON whose fields match the four-letter word of the same server, plus health, readiness,
//! metrics, the metrics-only port and the error answers.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use arbor_test_support::{
    free_port, http_get, http_request, ArborServer, HttpRequestSpec, HttpResponse,
};
use serde_json::Value;
use zookeeper_client as zk;

use common::zk::{connect_with_timeout, opts, persistent};

fn get(addr: SocketAddr, target: &str) -> HttpResponse {
    http_get(addr, target).unwrap_or_else(|e| panic!("{e}"))
}

fn json_of(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

/// `GET /commands/<name>`: status 200, valid JSON naming the command, no error.
fn command(server: &ArborServer, name: &str, primary: &str) -> Value {
    let response = get(server.admin_addr(), &format!("/commands/{name}"));
    assert_eq!(response.status, 200, "{name}: {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{name}"
    );
    let body = json_of(&response);
    assert_eq!(body["command"], primary, "{name}: {body}");
    assert_eq!(body["error"], Value::Null, "{name}: {body}");
    body
}

/// `key<sep>value` lines of a four-letter word's text.
fn key_values(text: &str, sep: char) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(sep))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn hex(text: &str) -> i64 {
    i64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("hex {text}"))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Counters that only grow between the text (read first) and the JSON (read after).
fn assert_grew(what: &str, text: &str, json: &Value) {
    let before: f64 = text.parse().unwrap_or_else(|_| panic!("{what}: {text}"));
    let after = num(json);
    assert!(
        after >= before && after - before < 1000.0,
        "{what}: text {before}, json {after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_commands_match_four_letter_words() {
    let metrics_port = free_port();
    let server = common::start_arbor(&[
        ("metricsProvider.httpPort", &metrics_port.to_string()),
        ("metricsProvider.httpHost", "127.0.0.1"),
    ]);
    let admin = server.admin_addr();

    // Some state to report: nodes, an ephemeral, watches.
    let client = connect_with_timeout(&server.connect_string(), Duration::from_secs(30)).await;
    client.create("/admin", b"x", &persistent()).await.unwrap();
    client
        .create("/admin/eph", b"", &opts(zk::CreateMode::Ephemeral))
        .await
        .unwrap();
    let (_, _, _data_watch) = client.get_and_watch_data("/admin").await.unwrap();
    let (_, _, _child_watch) = client.get_and_watch_children("/admin").await.unwrap();
    let session = client.session_id().0;

    // Health and readiness.
    let healthz = get(admin, "/healthz");
    assert_eq!(
        (healthz.status, json_of(&healthz)["status"].clone()),
        (200, "ok".into())
    );
    let readyz = json_of(&get(admin, "/readyz"));
    assert_eq!(readyz["status"], "ready", "{readyz}");
    assert_eq!(readyz["role"], "leader", "{readyz}");

    // The list names every command with its aliases.
    let list = json_of(&get(admin, "/commands"));
    let names: BTreeSet<&str> = list["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "ruok",
        "server_stats",
        "stats",
        "monitor",
        "configuration",
        "connections",
        "environment",
        "dirs",
        "watch_summary",
        "watches",
        "watches_by_path",
        "dump",
        "is_read_only",
        "leader",
        "voting_view",
        "stat_reset",
        "connection_stat_reset",
    ] {
        assert!(names.contains(name), "{name} missing from {list}");
    }

    // ruok
    assert_eq!(server.four_letter("ruok"), "imok");
    command(&server, "ruok", "ruok");

    // srvr / server_stats
    let text = key_values(&server.four_letter("srvr"), ':');
    let json = command(&server, "srvr", "server_stats");
    let stats = &json["server_stats"];
    assert_eq!(
        hex(&text["Zxid"]),
        stats["last_processed_zxid"].as_i64().unwrap()
    );
    assert_eq!(text["Mode"], stats["server_state"]);
    assert_eq!(text["Node count"], json["node_count"].to_string());
    assert_eq!(
        text["Connections"],
        stats["num_alive_client_connections"].to_string()
    );
    assert_eq!(
        text["Outstanding"],
        stats["outstanding_requests"].to_string()
    );
    assert_grew("Received", &text["Received"], &stats["packets_received"]);
    assert_grew("Sent", &text["Sent"], &stats["packets_sent"]);
    assert!(text["Zookeeper version"]
        .starts_with(json["version"].as_str().unwrap().split(',').next().unwrap()));
    assert_eq!(json["read_only"], false);
    assert!(json.get("connections").is_none(), "srvr lists no clients");

    // stat / stats: the same plus the clients.
    let stat_text = server.four_letter("stat");
    let json = command(&server, "stat", "stats");
    let text_clients: BTreeSet<String> = stat_text
        .lines()
        .filter_map(|l| l.strip_prefix(" /"))
        .map(|l| l.split('[').next().unwrap().to_owned())
        .collect();
    let json_clients: BTreeSet<String> = json["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["remote_socket_address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text_clients, json_clients);
    assert!(!json_clients.is_empty());

    // mntr / monitor: the same keys without the zk_ prefix.
    let text = key_values(&server.four_letter("mntr"), '\t');
    let json = command(&server, "mntr", "monitor");
    let volatile = [
        "zk_packets_received",
        "zk_packets_sent",
        "zk_uptime",
        "zk_avg_latency",
        "zk_max_latency",
        "zk_min_latency",
        "zk_open_file_descriptor_count",
    ];
    assert!(text.len() >= 15, "{text:?}");
    for (key, value) in &text {
        let field = &json[key.strip_prefix("zk_").unwrap()];
        assert!(!field.is_null(), "{key} missing from {json}");
        if volatile.contains(&key.as_str()) {
            assert!(field.is_number(), "{key}: {field}");
        } else if let Some(s) = field.as_str() {
            assert_eq!(value, s, "{key}");
        } else {
            assert_eq!(value, &field.to_string(), "{key}");
        }
    }
    assert_eq!(
        json["znode_count"],
        text["zk_znode_count"].parse::<i64>().unwrap()
    );
    assert_eq!(json["ephemerals_count"], 1);
    assert_eq!(json["watch_count"], 2);

    // conf / configuration
    let text = key_values(&server.four_letter("conf"), '=');
    let json = command(&server, "conf", "configuration");
    for (text_key, json_key) in [
        ("clientPort", "client_port"),
        ("secureClientPort", "secure_client_port"),
        ("dataDirSize", "data_dir_size"),
        ("dataLogSize", "data_log_size"),
        ("tickTime", "tick_time"),
        ("maxClientCnxns", "max_client_cnxns"),
        ("minSessionTimeout", "min_session_timeout"),
        ("maxSessionTimeout", "max_session_timeout"),
        ("clientPortListenBacklog", "client_port_listen_backlog"),
        ("serverId", "server_id"),
    ] {
        assert_eq!(text[text_key], json[json_key].to_string(), "{text_key}");
    }
    assert_eq!(text["dataDir"], json["data_dir"].as_str().unwrap());
    assert_eq!(text["dataLogDir"], json["data_log_dir"].as_str().unwrap());
    assert_eq!(json["client_port"], server.client_port());

    // cons / connections: the same sessions and addresses.
    let text = server.four_letter("cons");
    let json = command(&server, "cons", "connections");
    let text_sessions: BTreeSet<i64> = text
        .lines()
        .filter_map(|l| l.split("sid=").nth(1))
        .map(|s| hex(s.split(',').next().unwrap()))
        .collect();
    let json_sessions: BTreeSet<i64> = json["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["session_id"].as_i64().unwrap())
        .collect();
    assert_eq!(text_sessions, json_sessions);
    assert!(json_sessions.contains(&session), "{json}");
    assert_eq!(json["secure_connections"], Value::Array(vec![]));

    // envi / environment
    let text = key_values(
        server
            .four_letter("envi")
            .strip_prefix("Environment:\n")
            .unwrap(),
        '=',
    );
    let json = command(&server, "envi", "environment");
    for (key, value) in &text {
        assert_eq!(json[key].as_str(), Some(value.as_str()), "{key}");
    }
    assert!(text.contains_key("zookeeper.version"));

    // dirs
    let text = key_values(&server.four_letter("dirs"), ':');
    let json = command(&server, "dirs", "dirs");
    assert_eq!(text["datadir_size"], json["datadir_size"].to_string());
    assert_eq!(text["logdir_size"], json["logdir_size"].to_string());

    // wchs / watch_summary
    let text = server.four_letter("wchs");
    let json = command(&server, "wchs", "watch_summary");
    assert_eq!(
        text,
        format!(
            "{} connections watching {} paths\nTotal watches:{}\n",
            json["num_connections"], json["num_paths"], json["num_total_watches"]
        )
    );
    assert_eq!(json["num_total_watches"], 2);

    // wchc / watches: paths per session (ids in hex in the text, numbers in JSON).
    let text = server.four_letter("wchc");
    let json = command(&server, "wchc", "watches");
    let mut text_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_prefix('\t') {
            Some(path) => text_map
                .entry(current.clone())
                .or_default()
                .push(path.to_owned()),
            None => current = hex(line).to_string(),
        }
    }
    let json_map: BTreeMap<String, Vec<String>> =
        serde_json::from_value(json["session_id_to_watched_paths"].clone()).unwrap();
    assert_eq!(text_map, json_map);
    assert_eq!(json_map[&session.to_string()], vec!["/admin".to_owned()]);

    // wchp / watches_by_path
    let text = server.four_letter("wchp");
    let json = command(&server, "wchp", "watches_by_path");
    let mut text_map: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_prefix('\t') {
            Some(id) => text_map.entry(current.clone()).or_default().push(hex(id)),
            None => current = line.to_owned(),
        }
    }
    let json_map: BTreeMap<String, Vec<i64>> =
        serde_json::from_value(json["path_to_session_ids"].clone()).unwrap();
    assert_eq!(text_map, json_map);
    assert_eq!(json_map["/admin"], vec![session]);

    // dump: sessions and ephemerals.
    let text = server.four_letter("dump");
    let json = command(&server, "dump", "dump");
    let text_sessions: BTreeSet<i64> = text
        .lines()
        .filter(|l| l.contains("ms") && l.starts_with("0x"))
        .map(|l| hex(l.split('\t').next().unwrap()))
        .collect();
    let json_sessions: BTreeSet<i64> = json["expiry_time_to_session_ids"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ids| ids.as_array().unwrap().iter().map(|i| i.as_i64().unwrap()))
        .collect();
    assert_eq!(text_sessions, json_sessions);
    assert!(
        text.contains(&format!("0x{session:x}:\n\t/admin/eph\n")),
        "{text}"
    );
    assert_eq!(
        json["session_id_to_ephemeral_paths"][session.to_string()],
        serde_json::json!(["/admin/eph"])
    );

    // isro / is_read_only
    assert_eq!(server.four_letter("isro"), "rw");
    assert_eq!(command(&server, "isro", "is_read_only")["read_only"], false);

    // leader and voting_view have no four-letter word.
    let json = command(&server, "leader", "leader");
    assert_eq!(
        (json["is_leader"].clone(), json["leader_id"].clone()),
        (true.into(), 1.into())
    );
    let json = command(&server, "voting_view", "voting_view");
    assert_eq!(json["current_config"], serde_json::json!({}));

    // Metrics agree with mntr (state gauges come from the same report).
    let mntr = key_values(&server.four_letter("mntr"), '\t');
    let metrics = get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text();
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
    };
    for key in [
        "znode_count",
        "ephemerals_count",
        "watch_count",
        "quorum_size",
    ] {
        assert_eq!(
            sample(&format!("arbor_{key}")),
            mntr[&format!("zk_{key}")].parse::<f64>().unwrap(),
            "{key}"
        );
    }
    assert_eq!(sample("arbor_raft_is_leader"), 1.0);
    assert!(sample("arbor_request_latency_seconds_count{op=\"create2\"}") >= 2.0);
    assert!(sample("arbor_fsync_time_seconds_count") >= 1.0);
    assert!(sample("arbor_raft_last_applied_index") >= 1.0);

    // The metrics-only port serves /metrics and nothing else.
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let only = get(metrics_addr, "/metrics");
    assert_eq!(only.status, 200);
    assert!(
        only.text().contains("arbor_znode_count "),
        "{}",
        only.text()
    );
    assert_eq!(get(metrics_addr, "/commands/mntr").status, 404);

    // State-changing commands: srst resets the server counters, crst the connections'.
    let received_before: u64 = key_values(&server.four_letter("srvr"), ':')["Received"]
        .parse()
        .unwrap();
    assert!(received_before >= 4);
    let reset = http_request(
        admin,
        &HttpRequestSpec {
            method: "POST",
            target: "/commands/srst",
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(json_of(&reset)["command"], "stat_reset");
    let received_after: u64 = key_values(&server.four_letter("srvr"), ':')["Received"]
        .parse()
        .unwrap();
    assert!(
        received_after < received_before,
        "{received_after} >= {received_before}"
    );
    command(&server, "crst", "connection_stat_reset");
    let cons = command(&server, "cons", "connections");
    let ours = cons["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["session_id"] == session)
        .unwrap()
        .clone();
    assert!(num(&ours["packets_received"]) < 4.0, "{ours}");

    // Errors are JSON with the right status.
    let unknown = get(admin, "/commands/nope");
    assert_eq!(unknown.status, 404);
    assert_eq!(json_of(&unknown)["error"], "Unknown command: nope");
    let missing = get(admin, "/nowhere");
    assert_eq!(missing.status, 404);
    assert!(json_of(&missing)["error"]
        .as_str()
        .unwrap()
        .contains("/nowhere"));
    let no_api = get(admin, "/api/v1/unmounted/thing");
    assert_eq!(no_api.status, 404);
    assert!(json_of(&no_api)["error"].is_string());
    assert_eq!(get(admin, "/api/v1/%zz").status, 400);
    let put = http_request(
        admin,
        &HttpRequestSpec {
            method: "PUT",
            target: "/commands/mntr",
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(put.status, 405);

    // A body over the limit is refused before it is read.
    let mut stream = TcpStream::connect(admin).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "PUT /api/v1/config/x HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        3 * 1024 * 1024
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");

    // The server still serves after all of that.
    assert_eq!(get(admin, "/healthz").status, 200);
    client.delete("/admin/eph", None).await.unwrap();
}

/// In a three-member ensemble: every member is ready, `leader` and `voting_view` describe the
/// ensemble, and the leader's metrics show each follower's replication lag.
#[test]
fn admin_commands_describe_an_ensemble() {
    use arbor_test_support::{ArborEnsemble, ArborOptions};

    let mut ensemble = ArborEnsemble::start(
        3,
        ArborOptions::new()
            .config("tickTime", 1000)
            .startup_timeout(Duration::from_secs(30)),
    );
    let leader = ensemble.wait_for_leader(Duration::from_secs(10));
    ensemble.wait_all_serving();
    for id in ensemble.ids().collect::<Vec<_>>() {
        let member = ensemble.member(id);
        let readyz = get(member.admin_addr(), "/readyz");
        assert_eq!(readyz.status, 200, "member {id}: {}", readyz.text());
        let json = command(member, "leader", "leader");
        assert_eq!(json["is_leader"], id == leader, "member {id}: {json}");
        assert_eq!(json["leader_id"], leader, "member {id}: {json}");
        assert_eq!(json["leader_ip"], "127.0.0.1", "member {id}: {json}");
        let view = command(member, "voting_view", "voting_view");
        let members = view["current_config"].as_object().unwrap();
        assert_eq!(members.len(), 3, "{view}");
        assert!(
            members["1"].as_str().unwrap().contains(":participant"),
            "{view}"
        );
        let mntr = command(member, "mntr", "monitor");
        let expected = if id == leader { "leader" } else { "follower" };
        assert_eq!(mntr["server_state"], expected, "member {id}");
        assert_eq!(mntr["quorum_size"], 3);
    }
    let text = get(ensemble.member(leader).admin_addr(), "/metrics").text();
    let lags: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("arbor_raft_replication_lag{"))
        .collect();
    assert_eq!(lags.len(), 2, "one lag per follower:\n{text}");
    let follower = ensemble.ids().find(|id| *id != leader).unwrap();
    let follower_metrics = get(ensemble.member(follower).admin_addr(), "/metrics").text();
    assert!(follower_metrics.contains("arbor_raft_is_leader 0"));
    assert!(!follower_metrics.contains("arbor_raft_replication_lag{"));
}
