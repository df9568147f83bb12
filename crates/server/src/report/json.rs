//! The JSON bodies of ZooKeeper's AdminServer commands (field names as ZooKeeper 3.8 writes
//! them: Jackson's snake_case of its getters and map keys). Each function returns the command's
//! fields; the admin listener adds `command` and `error`.

use serde_json::{json, Map, Value};

use super::{
    Conf, ConnectionReport, Dirs, Dump, Environment, LeaderReport, Monitor, MonitorValue,
    ServerSummary, VotingView, WatchSummary, WatchesByPath, WatchesBySession,
};

pub type Fields = Map<String, Value>;

fn fields(value: Value) -> Fields {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// ZooKeeper's `ServerCnxn.getConnectionInfo(brief)`.
fn connection(c: &ConnectionReport, brief: bool) -> Value {
    let mut info = fields(json!({
        "remote_socket_address": c.remote.to_string(),
        // SelectionKey.OP_READ: the connection is being read from.
        "interest_ops": 1,
        "outstanding_requests": c.outstanding_requests,
        "packets_received": c.packets_received,
        "packets_sent": c.packets_sent,
    }));
    if !brief {
        info.insert("session_id".into(), json!(c.session_id));
        info.insert("established".into(), json!(c.established_ms));
    }
    Value::Object(info)
}

/// `server_stats` (srvr), and `stats` (stat) when the summary lists clients.
pub fn server_summary(s: &ServerSummary) -> Fields {
    let unknown_buffer_sizes = json!({
        "last_buffer_size": -1,
        "min_buffer_size": -1,
        "max_buffer_size": -1,
    });
    let mut out = fields(json!({
        "version": format!("{}, built on unknown", s.version),
        "read_only": s.read_only,
        "server_stats": {
            "packets_sent": s.packets_sent,
            "packets_received": s.packets_received,
            "fsync_threshold_exceed_count": s.fsync_threshold_exceed_count,
            "client_response_stats": unknown_buffer_sizes,
            "data_dir_size": s.data_dir_size,
            "log_dir_size": s.log_dir_size,
            "last_processed_zxid": s.last_zxid,
            "outstanding_requests": s.outstanding_requests,
            "server_state": s.server_state,
            "avg_latency": s.latency.avg_ms,
            "max_latency": s.latency.max_ms.round() as u64,
            "min_latency": s.latency.min_ms.round() as u64,
            "num_alive_client_connections": s.num_alive_connections,
            "provider_null": false,
            "uptime": s.uptime_ms,
        },
        "client_response": unknown_buffer_sizes,
        "node_count": s.node_count,
    }));
    if let Some(clients) = &s.clients {
        let list: Vec<Value> = clients.iter().map(|c| connection(c, true)).collect();
        out.insert("connections".into(), Value::Array(list));
    }
    out
}

/// `connections` (cons).
pub fn connections(list: &[ConnectionReport]) -> Fields {
    let list: Vec<Value> = list.iter().map(|c| connection(c, false)).collect();
    fields(json!({ "connections": list, "secure_connections": [] }))
}

/// `configuration` (conf): ZooKeeperServerConf's keys, plus the sizes and TLS port that the
/// text version also prints.
pub fn conf(c: &Conf) -> Fields {
    fields(json!({
        "client_port": c.client_port,
        "secure_client_port": c.secure_client_port,
        "data_dir": c.data_dir,
        "data_dir_size": c.data_dir_size,
        "data_log_dir": c.data_log_dir,
        "data_log_size": c.data_log_size,
        "tick_time": c.tick_time,
        "max_client_cnxns": c.max_client_cnxns,
        "min_session_timeout": c.min_session_timeout,
        "max_session_timeout": c.max_session_timeout,
        "server_id": c.server_id,
        "client_port_listen_backlog": c.client_port_listen_backlog,
    }))
}

/// `dump`: sessions grouped by expiry time, and ephemerals per session.
pub fn dump(d: &Dump) -> Fields {
    let mut by_expiry: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for s in &d.sessions {
        by_expiry.entry(s.expires_at_ms).or_default().push(s.id);
    }
    let expiry: Map<String, Value> = by_expiry
        .into_iter()
        .map(|(at, ids)| (at.to_string(), json!(ids)))
        .collect();
    let ephemerals: Map<String, Value> = d
        .ephemerals
        .iter()
        .map(|(id, paths)| (id.to_string(), json!(paths)))
        .collect();
    fields(json!({
        "expiry_time_to_session_ids": expiry,
        "session_id_to_ephemeral_paths": ephemerals,
    }))
}

/// `environment` (envi): one field per fact.
pub fn environment(e: &Environment) -> Fields {
    e.0.iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect()
}

/// `monitor` (mntr): the same keys as the text, without its `zk_` prefix.
pub fn monitor(m: &Monitor) -> Fields {
    m.0.iter()
        .map(|(k, v)| {
            let value = match v {
                MonitorValue::Int(n) => json!(n),
                MonitorValue::Float(x) => json!(x),
                MonitorValue::Text(s) => json!(s),
            };
            ((*k).to_owned(), value)
        })
        .collect()
}

pub fn watch_summary(w: &WatchSummary) -> Fields {
    fields(json!({
        "num_connections": w.num_connections,
        "num_paths": w.num_paths,
        "num_total_watches": w.num_total_watches,
    }))
}

pub fn watches_by_session(w: &WatchesBySession) -> Fields {
    let map: Map<String, Value> =
        w.0.iter()
            .map(|(session, paths)| (session.to_string(), json!(paths)))
            .collect();
    fields(json!({ "session_id_to_watched_paths": map }))
}

pub fn watches_by_path(w: &WatchesByPath) -> Fields {
    let map: Map<String, Value> =
        w.0.iter()
            .map(|(path, sessions)| (path.clone(), json!(sessions)))
            .collect();
    fields(json!({ "path_to_session_ids": map }))
}

pub fn dirs(d: &Dirs) -> Fields {
    fields(json!({ "datadir_size": d.datadir_size, "logdir_size": d.logdir_size }))
}

pub fn is_read_only(read_only: bool) -> Fields {
    fields(json!({ "read_only": read_only }))
}

pub fn leader(l: &LeaderReport) -> Fields {
    fields(json!({
        "is_leader": l.is_leader,
        "leader_id": l.leader_id,
        "leader_ip": l.leader_ip,
    }))
}

pub fn voting_view(v: &VotingView) -> Fields {
    let view: Map<String, Value> =
        v.0.iter()
            .map(|(id, member)| (id.to_string(), json!(member)))
            .collect();
    fields(json!({ "current_config": view }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{Latency, SessionReport, VERSION};

    #[test]
    fn stats_nest_server_stats_and_list_brief_connections() {
        let s = ServerSummary {
            version: VERSION,
            read_only: false,
            latency: Latency {
                min_ms: 0.4,
                avg_ms: 1.5,
                max_ms: 3.0,
            },
            packets_received: 10,
            packets_sent: 9,
            num_alive_connections: 1,
            outstanding_requests: 0,
            last_zxid: 42,
            server_state: "standalone",
            node_count: 5,
            data_dir_size: 1,
            log_dir_size: 2,
            uptime_ms: 3,
            fsync_threshold_exceed_count: 0,
            clients: Some(vec![ConnectionReport {
                remote: "127.0.0.1:5000".parse().unwrap(),
                outstanding_requests: 0,
                packets_received: 7,
                packets_sent: 6,
                session_id: 99,
                established_ms: 1,
            }]),
        };
        let out = Value::Object(server_summary(&s));
        assert_eq!(out["server_stats"]["last_processed_zxid"], 42);
        assert_eq!(out["server_stats"]["avg_latency"], 1.5);
        assert_eq!(out["server_stats"]["server_state"], "standalone");
        assert_eq!(out["node_count"], 5);
        assert_eq!(
            out["connections"][0]["remote_socket_address"],
            "127.0.0.1:5000"
        );
        // `stat` lists connections briefly, as ZooKeeper does.
        assert!(out["connections"][0].get("session_id").is_none());
    }

    #[test]
    fn dump_groups_sessions_by_expiry() {
        let session = |id, at| SessionReport {
            id,
            timeout: Duration::from_secs(4),
            expires_at_ms: at,
        };
        let d = Dump {
            sessions: vec![session(1, 100), session(2, 100), session(3, 200)],
            ephemerals: vec![(1, vec!["/e".into()])],
        };
        let out = Value::Object(dump(&d));
        assert_eq!(
            out,
            json!({
                "expiry_time_to_session_ids": {"100": [1, 2], "200": [3]},
                "session_id_to_ephemeral_paths": {"1": ["/e"]},
            })
        );
    }

    #[test]
    fn monitor_keys_carry_typed_values() {
        let m = Monitor(vec![
            ("server_state", MonitorValue::Text("standalone".into())),
            ("avg_latency", MonitorValue::Float(0.5)),
            ("znode_count", MonitorValue::Int(5)),
        ]);
        assert_eq!(
            Value::Object(monitor(&m)),
            json!({"server_state": "standalone", "avg_latency": 0.5, "znode_count": 5})
        );
    }
}
