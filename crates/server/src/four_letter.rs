//! The four-letter words: a connection whose first four bytes spell one gets a text report and
//! is closed. Output follows ZooKeeper 3.8's layout so existing scripts and monitors parse it.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::server::Shared;

/// The words ZooKeeper 3.8 knows.
const WORDS: [&str; 18] = [
    "ruok", "stat", "srvr", "conf", "cons", "crst", "dump", "envi", "mntr", "wchs", "wchc", "wchp",
    "dirs", "isro", "srst", "gtmk", "stmk", "hash",
];

/// A follower whose matched log index is within this many entries of the leader's counts as
/// synced (entries carry batches of txns, so this is a small lag).
const SYNCED_LAG: u64 = 10;

/// The version string reported to clients and tools.
pub const VERSION: &str = concat!("3.8.4-arbor-", env!("CARGO_PKG_VERSION"));

/// Recognizes a four-letter word in the first bytes of a connection. A real connect request
/// starts with a frame length, which is never one of these (they decode to lengths far beyond
/// jute.maxbuffer).
pub fn parse(head: &[u8; 4]) -> Option<&'static str> {
    let s = std::str::from_utf8(head).ok()?;
    WORDS.iter().copied().find(|w| *w == s)
}

/// Runs a word and returns the text to send back.
pub fn run(shared: &Shared, word: &str) -> String {
    if !shared.config.four_letter_word_allowed(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    match word {
        "ruok" => "imok".to_owned(),
        "srvr" | "stat" | "mntr" if !shared.quorum.serving() => NOT_SERVING.to_owned(),
        "srvr" => server_summary(shared, false),
        "stat" => server_summary(shared, true),
        "conf" => conf(shared),
        "cons" => cons(shared),
        "crst" => {
            for c in shared.connections.lock().values() {
                c.received.store(0, Ordering::Relaxed);
                c.sent.store(0, Ordering::Relaxed);
            }
            "Connection stats reset.\n".to_owned()
        }
        "srst" => {
            shared.stats.reset();
            "Server stats reset.\n".to_owned()
        }
        "dump" => dump(shared),
        "envi" => envi(shared),
        "mntr" => mntr(shared),
        "wchs" => {
            let (conns, paths, total) = shared
                .db
                .with_watches(|w| (w.connection_count(), w.path_count(), w.watch_count()));
            format!("{conns} connections watching {paths} paths\nTotal watches:{total}\n")
        }
        "wchc" => wchc(shared),
        "wchp" => wchp(shared),
        "dirs" => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            dir_size(&shared.config.data_dir),
            dir_size(&shared.config.data_log_dir)
        ),
        "isro" => "rw".to_owned(),
        _ => format!("{word} is not supported by Arbor.\n"),
    }
}

/// Formats like Java's `Double.toString` for the values we print (`36.0`, `0.25`), which
/// monitoring scripts written against ZooKeeper expect.
fn java_double(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e7 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// ZooKeeper's `Mode:` / `zk_server_state`: standalone, leader, follower or observer.
pub fn mode(shared: &Shared) -> &'static str {
    if shared.config.is_standalone() {
        return "standalone";
    }
    match shared.quorum.metrics().role {
        arbor_quorum::Role::Leader => "leader",
        arbor_quorum::Role::Learner => "observer",
        _ => "follower",
    }
}

/// What ZooKeeper answers to srvr/stat/mntr while it is not part of a working quorum.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

fn server_summary(shared: &Shared, with_clients: bool) -> String {
    let v = shared.stats.view();
    let mut out = format!("Zookeeper version: {VERSION}, built on unknown\n");
    if with_clients {
        out.push_str("Clients:\n");
        for (_, c) in sorted_connections(shared) {
            let _ = writeln!(
                out,
                " /{}[1](queued=0,recved={},sent={})",
                c.peer,
                c.received.load(Ordering::Relaxed),
                c.sent.load(Ordering::Relaxed)
            );
        }
        out.push('\n');
    }
    let node_count = shared.db.read().node_count();
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: 0\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        v.min_latency_ms.round() as u64,
        java_double(v.avg_latency_ms),
        v.max_latency_ms.round() as u64,
        v.received,
        v.sent,
        shared.connections.lock().len(),
        shared.db.last_zxid(),
        mode(shared),
        node_count
    );
    out
}

fn sorted_connections(shared: &Shared) -> Vec<(u64, std::sync::Arc<crate::server::ConnInfo>)> {
    let mut v: Vec<_> = shared
        .connections
        .lock()
        .iter()
        .map(|(&id, c)| (id, c.clone()))
        .collect();
    v.sort_by_key(|(id, _)| *id);
    v
}

fn conf(shared: &Shared) -> String {
    let c = &shared.config;
    format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId=0\n",
        c.client_port,
        c.secure_client_port.map_or(-1, i32::from),
        c.data_dir.display(),
        dir_size(&c.data_dir),
        c.data_log_dir.display(),
        dir_size(&c.data_log_dir),
        c.tick_time_ms,
        c.max_client_cnxns,
        c.min_session_timeout_ms,
        c.max_session_timeout_ms
    )
}

fn cons(shared: &Shared) -> String {
    let mut out = String::new();
    for (_, c) in sorted_connections(shared) {
        let _ = writeln!(
            out,
            " /{}[1](queued=0,recved={},sent={},sid=0x{:x},est={})",
            c.peer,
            c.received.load(Ordering::Relaxed),
            c.sent.load(Ordering::Relaxed),
            c.session.load(Ordering::Relaxed),
            c.established_ms
        );
    }
    out.push('\n');
    out
}

fn dump(shared: &Shared) -> String {
    let sessions = shared.db.sessions().list();
    let mut out = format!("SessionTracker dump:\nSession Sets ({}):\n", sessions.len());
    for (id, timeout) in &sessions {
        let _ = writeln!(out, "0x{id:x}\t{}ms", timeout.as_millis());
    }
    let tree = shared.db.read();
    let with_ephemerals: Vec<(i64, Vec<String>)> = sessions
        .iter()
        .map(|(id, _)| (*id, tree.ephemerals(*id)))
        .filter(|(_, e)| !e.is_empty())
        .collect();
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        with_ephemerals.len()
    );
    for (id, paths) in with_ephemerals {
        let _ = writeln!(out, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out
}

fn envi(shared: &Shared) -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = shared;
    format!(
        "Environment:\nzookeeper.version={VERSION}, built on unknown\nhost.name={}\nos.name={}\nos.arch={}\nuser.dir={}\n",
        host.trim(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        cwd
    )
}

fn mntr(shared: &Shared) -> String {
    let v = shared.stats.view();
    let (watch_count, node_count, ephemerals, data_size) = {
        let tree = shared.db.read();
        let watches = shared.db.with_watches(|w| w.watch_count());
        (
            watches,
            tree.node_count(),
            tree.ephemeral_count(),
            tree.approximate_data_size(),
        )
    };
    let (open_fds, max_fds) = fd_counts();
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(out, "{k}\t{v}");
    };
    kv("zk_version", format!("{VERSION}, built on unknown"));
    kv("zk_server_state", mode(shared).to_owned());
    kv("zk_avg_latency", java_double(v.avg_latency_ms));
    kv(
        "zk_max_latency",
        format!("{}", v.max_latency_ms.round() as u64),
    );
    kv(
        "zk_min_latency",
        format!("{}", v.min_latency_ms.round() as u64),
    );
    kv("zk_packets_received", v.received.to_string());
    kv("zk_packets_sent", v.sent.to_string());
    kv(
        "zk_num_alive_connections",
        shared.connections.lock().len().to_string(),
    );
    kv("zk_outstanding_requests", "0".to_owned());
    kv("zk_znode_count", node_count.to_string());
    kv("zk_watch_count", watch_count.to_string());
    kv("zk_ephemerals_count", ephemerals.to_string());
    kv("zk_approximate_data_size", data_size.to_string());
    kv("zk_open_file_descriptor_count", open_fds.to_string());
    kv("zk_max_file_descriptor_count", max_fds.to_string());
    kv(
        "zk_uptime",
        shared.started.elapsed().as_millis().to_string(),
    );
    kv("zk_last_zxid", format!("0x{:x}", shared.db.last_zxid()));
    kv("zk_global_sessions", shared.db.sessions().len().to_string());
    let status = shared.quorum.metrics();
    if status.role == arbor_quorum::Role::Leader && status.ensemble {
        // ZooKeeper's leader-only keys: followers (voters) and those caught up with the log.
        let last = status.last_log_index.unwrap_or(0);
        let followers = status
            .replication
            .keys()
            .filter(|id| status.voters.contains(id))
            .count();
        let synced = status
            .replication
            .iter()
            .filter(|(id, matched)| {
                status.voters.contains(id) && matched.unwrap_or(0) + SYNCED_LAG >= last
            })
            .count();
        let observers = status.learners.len();
        kv("zk_learners", (followers + observers).to_string());
        kv("zk_followers", followers.to_string());
        kv("zk_synced_followers", synced.to_string());
        kv("zk_synced_observers", observers.to_string());
        kv("zk_pending_syncs", "0".to_owned());
    }
    kv("zk_quorum_size", status.voters.len().to_string());
    kv("zk_raft_term", status.term.to_string());
    kv(
        "zk_raft_leader",
        status.leader.map_or("none".to_owned(), |l| l.to_string()),
    );
    out
}

fn wchc(shared: &Shared) -> String {
    let by_conn = shared.db.with_watches(|w| w.by_connection());
    let conns = shared.connections.lock();
    let mut out = String::new();
    for (conn, paths) in by_conn {
        let session = conns
            .get(&conn)
            .map_or(0, |c| c.session.load(Ordering::Relaxed));
        let _ = writeln!(out, "0x{session:x}");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out
}

fn wchp(shared: &Shared) -> String {
    let by_path = shared.db.with_watches(|w| w.by_path());
    let conns = shared.connections.lock();
    let mut out = String::new();
    for (path, watchers) in by_path {
        let _ = writeln!(out, "{path}");
        for conn in watchers {
            let session = conns
                .get(&conn)
                .map_or(0, |c| c.session.load(Ordering::Relaxed));
            let _ = writeln!(out, "\t0x{session:x}");
        }
    }
    out
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn fd_counts() -> (usize, u64) {
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (open, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_only_known_words() {
        assert_eq!(parse(b"ruok"), Some("ruok"));
        assert_eq!(parse(b"mntr"), Some("mntr"));
        assert_eq!(parse(b"abcd"), None);
        assert_eq!(parse(&[0, 0, 0, 44]), None);
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(36.0), "36.0");
        assert_eq!(java_double(0.25), "0.25");
        assert_eq!(java_double(0.0), "0.0");
    }
}
