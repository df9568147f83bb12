//! The four-letter words' text, in ZooKeeper 3.8's layout so existing scripts and monitors
//! parse it.

use std::fmt::Write as _;

use super::{
    Conf, ConnectionReport, Dirs, Dump, Environment, Monitor, MonitorValue, ServerSummary,
    WatchSummary, WatchesByPath, WatchesBySession,
};

/// Formats like Java's `Double.toString` for the values we print (`36.0`, `0.25`), which
/// monitoring scripts written against ZooKeeper expect.
pub fn java_double(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e7 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// `srvr`, or `stat` when the summary lists its clients.
pub fn server_summary(s: &ServerSummary) -> String {
    let mut out = format!("Zookeeper version: {}, built on unknown\n", s.version);
    if let Some(clients) = &s.clients {
        out.push_str("Clients:\n");
        for c in clients {
            let _ = writeln!(
                out,
                " /{}[1](queued={},recved={},sent={})",
                c.remote, c.outstanding_requests, c.packets_received, c.packets_sent
            );
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        s.latency.min_ms.round() as u64,
        java_double(s.latency.avg_ms),
        s.latency.max_ms.round() as u64,
        s.packets_received,
        s.packets_sent,
        s.num_alive_connections,
        s.outstanding_requests,
        s.last_zxid,
        s.server_state,
        s.node_count
    );
    out
}

pub fn conf(c: &Conf) -> String {
    format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog={}\nserverId={}\n",
        c.client_port,
        c.secure_client_port,
        c.data_dir,
        c.data_dir_size,
        c.data_log_dir,
        c.data_log_size,
        c.tick_time,
        c.max_client_cnxns,
        c.min_session_timeout,
        c.max_session_timeout,
        c.client_port_listen_backlog,
        c.server_id
    )
}

pub fn connections(connections: &[ConnectionReport]) -> String {
    let mut out = String::new();
    for c in connections {
        let _ = writeln!(
            out,
            " /{}[1](queued={},recved={},sent={},sid=0x{:x},est={})",
            c.remote,
            c.outstanding_requests,
            c.packets_received,
            c.packets_sent,
            c.session_id,
            c.established_ms
        );
    }
    out.push('\n');
    out
}

pub fn dump(d: &Dump) -> String {
    let mut out = format!(
        "SessionTracker dump:\nSession Sets ({}):\n",
        d.sessions.len()
    );
    for s in &d.sessions {
        let _ = writeln!(out, "0x{:x}\t{}ms", s.id, s.timeout.as_millis());
    }
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        d.ephemerals.len()
    );
    for (id, paths) in &d.ephemerals {
        let _ = writeln!(out, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out
}

pub fn environment(e: &Environment) -> String {
    let mut out = String::from("Environment:\n");
    for (key, value) in &e.0 {
        let _ = writeln!(out, "{key}={value}");
    }
    out
}

fn monitor_value(v: &MonitorValue) -> String {
    match v {
        MonitorValue::Int(n) => n.to_string(),
        MonitorValue::Float(x) => java_double(*x),
        MonitorValue::Text(s) => s.clone(),
    }
}

pub fn monitor(m: &Monitor) -> String {
    let mut out = String::new();
    for (key, value) in &m.0 {
        let _ = writeln!(out, "zk_{key}\t{}", monitor_value(value));
    }
    out
}

pub fn watch_summary(w: &WatchSummary) -> String {
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        w.num_connections, w.num_paths, w.num_total_watches
    )
}

pub fn watches_by_session(w: &WatchesBySession) -> String {
    let mut out = String::new();
    for (session, paths) in &w.0 {
        let _ = writeln!(out, "0x{session:x}");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out
}

pub fn watches_by_path(w: &WatchesByPath) -> String {
    let mut out = String::new();
    for (path, sessions) in &w.0 {
        let _ = writeln!(out, "{path}");
        for session in sessions {
            let _ = writeln!(out, "\t0x{session:x}");
        }
    }
    out
}

pub fn dirs(d: &Dirs) -> String {
    format!(
        "datadir_size: {}\nlogdir_size: {}\n",
        d.datadir_size, d.logdir_size
    )
}

pub fn is_read_only(read_only: bool) -> String {
    if read_only { "ro" } else { "rw" }.to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{Latency, SessionReport, VERSION};

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(36.0), "36.0");
        assert_eq!(java_double(0.25), "0.25");
        assert_eq!(java_double(0.0), "0.0");
    }

    fn client() -> ConnectionReport {
        ConnectionReport {
            remote: "127.0.0.1:5000".parse().unwrap(),
            outstanding_requests: 2,
            packets_received: 7,
            packets_sent: 6,
            session_id: 0x1ab,
            established_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn stat_lists_clients_then_the_summary() {
        let summary = ServerSummary {
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
            outstanding_requests: 2,
            last_zxid: 0x2a,
            server_state: "standalone",
            node_count: 5,
            data_dir_size: 1,
            log_dir_size: 2,
            uptime_ms: 3,
            fsync_threshold_exceed_count: 0,
            clients: Some(vec![client()]),
        };
        assert_eq!(
            server_summary(&summary),
            format!(
                "Zookeeper version: {VERSION}, built on unknown\nClients:\n /127.0.0.1:5000[1](queued=2,recved=7,sent=6)\n\n\
                 Latency min/avg/max: 0/1.5/3\nReceived: 10\nSent: 9\nConnections: 1\nOutstanding: 2\nZxid: 0x2a\nMode: standalone\nNode count: 5\n"
            )
        );
    }

    #[test]
    fn cons_dump_and_watch_lists() {
        assert_eq!(
            connections(&[client()]),
            " /127.0.0.1:5000[1](queued=2,recved=7,sent=6,sid=0x1ab,est=1700000000000)\n\n"
        );
        let d = Dump {
            sessions: vec![SessionReport {
                id: 0x10,
                timeout: Duration::from_millis(4000),
                expires_at_ms: 0,
            }],
            ephemerals: vec![(0x10, vec!["/a".into(), "/b".into()])],
        };
        assert_eq!(
            dump(&d),
            "SessionTracker dump:\nSession Sets (1):\n0x10\t4000ms\nephemeral nodes dump:\nSessions with Ephemerals (1):\n0x10:\n\t/a\n\t/b\n"
        );
        assert_eq!(
            watches_by_session(&WatchesBySession(vec![(0x10, vec!["/a".into()])])),
            "0x10\n\t/a\n"
        );
        assert_eq!(
            watches_by_path(&WatchesByPath(vec![("/a".into(), vec![0x10, 0x11])])),
            "/a\n\t0x10\n\t0x11\n"
        );
    }

    #[test]
    fn mntr_prefixes_keys_and_prints_doubles_like_java() {
        let m = Monitor(vec![
            ("server_state", MonitorValue::Text("standalone".into())),
            ("avg_latency", MonitorValue::Float(2.0)),
            ("znode_count", MonitorValue::Int(5)),
        ]);
        assert_eq!(
            monitor(&m),
            "zk_server_state\tstandalone\nzk_avg_latency\t2.0\nzk_znode_count\t5\n"
        );
    }
}
