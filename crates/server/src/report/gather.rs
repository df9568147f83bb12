//! Fills the reports from a running server: its counters, tree, watches, sessions, quorum
//! status, and (for sizes and descriptors) the file system and `/proc`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_quorum::{QuorumStatus, Role};

use super::{
    Conf, ConnectionReport, Dirs, Dump, Environment, Latency, LeaderReport, Monitor, MonitorValue,
    ServerSummary, SessionReport, VotingView, WatchSummary, WatchesByPath, WatchesBySession,
    VERSION,
};
use crate::config::PeerRole;
use crate::server::{now_ms, ConnInfo, Shared};

/// ZooKeeper's name for this server's role.
pub fn server_state(shared: &Shared) -> &'static str {
    if shared.config.is_standalone() {
        return "standalone";
    }
    match shared.quorum.metrics().role {
        Role::Leader => "leader",
        Role::Learner => "observer",
        Role::Follower | Role::Candidate | Role::Shutdown => "follower",
    }
}

fn sorted_connections(shared: &Shared) -> Vec<Arc<ConnInfo>> {
    let mut v: Vec<_> = shared
        .connections
        .lock()
        .iter()
        .map(|(&id, c)| (id, c.clone()))
        .collect();
    v.sort_by_key(|(id, _)| *id);
    v.into_iter().map(|(_, c)| c).collect()
}

fn connection_report(c: &ConnInfo) -> ConnectionReport {
    ConnectionReport {
        remote: c.peer,
        outstanding_requests: c.queue.depth() as u64,
        packets_received: c.received.load(Ordering::Relaxed),
        packets_sent: c.sent.load(Ordering::Relaxed),
        session_id: c.session.load(Ordering::Relaxed),
        established_ms: c.established_ms,
    }
}

pub fn connections(shared: &Shared) -> Vec<ConnectionReport> {
    sorted_connections(shared)
        .iter()
        .map(|c| connection_report(c))
        .collect()
}

/// (open connections, requests waiting in their pipelines). Computed before a report is
/// assembled: a guard taken inside a struct literal would live to the end of it.
fn connection_load(shared: &Shared) -> (usize, u64) {
    let connections = shared.connections.lock();
    let outstanding = connections.values().map(|c| c.queue.depth() as u64).sum();
    (connections.len(), outstanding)
}

/// `srvr`, or `stat` with `with_clients`.
pub fn server_summary(shared: &Shared, with_clients: bool) -> ServerSummary {
    let v = shared.stats.view();
    let clients = with_clients.then(|| connections(shared));
    let (num_alive_connections, outstanding_requests) = connection_load(shared);
    let node_count = shared.db.read().node_count();
    ServerSummary {
        version: VERSION,
        read_only: false,
        latency: Latency {
            min_ms: v.min_latency_ms,
            avg_ms: v.avg_latency_ms,
            max_ms: v.max_latency_ms,
        },
        packets_received: v.received,
        packets_sent: v.sent,
        num_alive_connections,
        outstanding_requests,
        last_zxid: shared.db.last_zxid(),
        server_state: server_state(shared),
        node_count,
        data_dir_size: dir_size(&shared.config.data_dir),
        log_dir_size: dir_size(&shared.config.data_log_dir),
        uptime_ms: shared.started.elapsed().as_millis() as u64,
        fsync_threshold_exceed_count: shared.metrics.fsync_threshold_exceeded(),
        clients,
    }
}

pub fn conf(shared: &Shared) -> Conf {
    let c = &shared.config;
    Conf {
        client_port: c.client_port,
        secure_client_port: c.secure_client_port.map_or(-1, i32::from),
        data_dir: c.data_dir.display().to_string(),
        data_dir_size: dir_size(&c.data_dir),
        data_log_dir: c.data_log_dir.display().to_string(),
        data_log_size: dir_size(&c.data_log_dir),
        tick_time: c.tick_time_ms,
        max_client_cnxns: c.max_client_cnxns,
        min_session_timeout: c.min_session_timeout_ms,
        max_session_timeout: c.max_session_timeout_ms,
        client_port_listen_backlog: -1,
        server_id: shared.quorum.metrics().node_id,
    }
}

pub fn dump(shared: &Shared) -> Dump {
    let sessions = shared.db.sessions().list();
    let (now, now_wall) = (Instant::now(), now_ms());
    let tick = i64::from(shared.config.tick_time_ms.max(1));
    let sessions: Vec<SessionReport> = sessions
        .into_iter()
        .map(|(id, timeout, deadline)| {
            let left = deadline.saturating_duration_since(now).as_millis() as i64;
            SessionReport {
                id,
                timeout,
                // ZooKeeper's ExpiryQueue rounds expiry times up to the next tick.
                expires_at_ms: ((now_wall + left) / tick + 1) * tick,
            }
        })
        .collect();
    let tree = shared.db.read();
    let ephemerals = sessions
        .iter()
        .map(|s| (s.id, tree.ephemerals(s.id)))
        .filter(|(_, paths)| !paths.is_empty())
        .collect();
    Dump {
        sessions,
        ephemerals,
    }
}

pub fn environment() -> Environment {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Environment(vec![
        ("zookeeper.version", format!("{VERSION}, built on unknown")),
        ("host.name", read("/etc/hostname").trim().to_owned()),
        ("os.name", std::env::consts::OS.to_owned()),
        ("os.arch", std::env::consts::ARCH.to_owned()),
        (
            "os.version",
            read("/proc/sys/kernel/osrelease").trim().to_owned(),
        ),
        ("user.dir", cwd),
    ])
}

pub fn monitor(shared: &Shared) -> Monitor {
    use MonitorValue::{Float, Int, Text};
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
    let (connections, outstanding) = connection_load(shared);
    let sessions = shared.db.sessions().len();
    let status = shared.quorum.metrics();
    let count = |n: usize| Int(i64::try_from(n).unwrap_or(i64::MAX));
    let unsigned = |n: u64| Int(i64::try_from(n).unwrap_or(i64::MAX));
    let mut keys = vec![
        ("version", Text(format!("{VERSION}, built on unknown"))),
        ("server_state", Text(server_state(shared).to_owned())),
        ("avg_latency", Float(v.avg_latency_ms)),
        ("max_latency", Int(v.max_latency_ms.round() as i64)),
        ("min_latency", Int(v.min_latency_ms.round() as i64)),
        ("packets_received", unsigned(v.received)),
        ("packets_sent", unsigned(v.sent)),
        ("num_alive_connections", count(connections)),
        ("outstanding_requests", unsigned(outstanding)),
        ("znode_count", count(node_count)),
        ("watch_count", count(watch_count)),
        ("ephemerals_count", count(ephemerals)),
        ("approximate_data_size", Int(data_size)),
        ("open_file_descriptor_count", count(open_fds)),
        ("max_file_descriptor_count", unsigned(max_fds)),
        (
            "fsync_threshold_exceed_count",
            unsigned(shared.metrics.fsync_threshold_exceeded()),
        ),
        ("uptime", Int(shared.started.elapsed().as_millis() as i64)),
        ("last_zxid", Text(format!("0x{:x}", shared.db.last_zxid()))),
        ("global_sessions", count(sessions)),
        ("quorum_size", count(status.voters.len())),
    ];
    if status.role == Role::Leader && status.ensemble {
        // ZooKeeper's leader-only keys.
        let c = &shared.config;
        let max_ack_age =
            Duration::from_millis(u64::from(c.tick_time_ms) * u64::from(c.sync_limit.max(1)));
        let learners = learner_counts(&status, max_ack_age);
        keys.extend([
            ("learners", count(learners.followers + learners.observers)),
            ("followers", count(learners.followers)),
            ("synced_followers", count(learners.synced_followers)),
            ("synced_observers", count(learners.synced_observers)),
            ("pending_syncs", unsigned(status.pending_syncs)),
        ]);
    }
    keys.extend([
        ("raft_term", unsigned(status.term)),
        (
            "raft_leader",
            status
                .leader
                .map_or(Int(-1), |l| Int(i64::try_from(l).unwrap_or(-1))),
        ),
    ]);
    Monitor(keys)
}

/// A learner whose matched log index is within this many entries of the leader's may count as
/// synced (entries carry batches of txns, so this is a small lag).
const SYNCED_LAG: u64 = 10;

/// The leader's view of its learners, as ZooKeeper's `mntr` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LearnerCounts {
    followers: usize,
    synced_followers: usize,
    observers: usize,
    synced_observers: usize,
}

/// Followers are the other voters, observers the learners. One is synced when it accepted an
/// append (heartbeats, every tick/20, count) within `max_ack_age` — syncLimit ticks, as
/// ZooKeeper's `LearnerHandler.synced()` wants an ack within syncLimit — and its matched log
/// index is within [`SYNCED_LAG`] entries of the leader's last one. A stopped, cut-off or
/// far-behind member is not synced; one that merely restarted is again once it caught up.
fn learner_counts(status: &QuorumStatus, max_ack_age: Duration) -> LearnerCounts {
    let last = status.last_log_index.unwrap_or(0);
    let synced = |id: &u64| {
        let heard = status
            .since_ack
            .get(id)
            .is_some_and(|age| *age <= max_ack_age);
        let matched = status.replication.get(id).copied().flatten().unwrap_or(0);
        heard && matched + SYNCED_LAG >= last
    };
    let followers: Vec<&u64> = status
        .voters
        .iter()
        .filter(|&&id| id != status.node_id)
        .collect();
    let observers: Vec<&u64> = status
        .learners
        .iter()
        .filter(|&&id| id != status.node_id)
        .collect();
    LearnerCounts {
        followers: followers.len(),
        synced_followers: followers.iter().filter(|id| synced(id)).count(),
        observers: observers.len(),
        synced_observers: observers.iter().filter(|id| synced(id)).count(),
    }
}

pub fn watch_summary(shared: &Shared) -> WatchSummary {
    shared.db.with_watches(|w| WatchSummary {
        num_connections: w.connection_count(),
        num_paths: w.path_count(),
        num_total_watches: w.watch_count(),
    })
}

/// The session a connection serves, 0 if it has gone.
fn session_of(shared: &Shared, conn: crate::watch::ConnId) -> i64 {
    shared
        .connections
        .lock()
        .get(&conn)
        .map_or(0, |c| c.session.load(Ordering::Relaxed))
}

pub fn watches_by_session(shared: &Shared) -> WatchesBySession {
    let by_conn = shared.db.with_watches(|w| w.by_connection());
    WatchesBySession(
        by_conn
            .into_iter()
            .map(|(conn, paths)| (session_of(shared, conn), paths))
            .collect(),
    )
}

pub fn watches_by_path(shared: &Shared) -> WatchesByPath {
    let by_path = shared.db.with_watches(|w| w.by_path());
    WatchesByPath(
        by_path
            .into_iter()
            .map(|(path, conns)| {
                let sessions = conns.into_iter().map(|c| session_of(shared, c)).collect();
                (path, sessions)
            })
            .collect(),
    )
}

pub fn dirs(shared: &Shared) -> Dirs {
    Dirs {
        datadir_size: dir_size(&shared.config.data_dir),
        logdir_size: dir_size(&shared.config.data_log_dir),
    }
}

/// The host of member `id`'s `server.N` line; for a standalone server, its client address.
fn member_host(shared: &Shared, id: u64) -> String {
    match shared.config.servers.iter().find(|s| s.id == id) {
        Some(entry) => entry.host.clone(),
        None => shared.config.client_port_address.to_string(),
    }
}

pub fn leader(shared: &Shared) -> LeaderReport {
    let status = shared.quorum.metrics();
    LeaderReport {
        is_leader: status.role == Role::Leader,
        leader_id: status
            .leader
            .map_or(-1, |id| i64::try_from(id).unwrap_or(-1)),
        leader_ip: status
            .leader
            .map(|id| member_host(shared, id))
            .unwrap_or_default(),
    }
}

/// Voting members as ZooKeeper prints them: `host:quorumPort:electionPort:participant[;client]`.
/// A standalone server has no `server.N` lines and, like ZooKeeper's, shows an empty view.
pub fn voting_view(shared: &Shared) -> VotingView {
    VotingView(
        shared
            .config
            .servers
            .iter()
            .filter(|s| s.role == PeerRole::Participant)
            .map(|s| {
                let host = if s.host.contains(':') {
                    format!("[{}]", s.host)
                } else {
                    s.host.clone()
                };
                let client = s.client.as_ref().map_or(String::new(), |c| {
                    let address = c.address.as_deref().unwrap_or("0.0.0.0");
                    format!(";{address}:{}", c.port)
                });
                (
                    s.id,
                    format!(
                        "{host}:{}:{}:participant{client}",
                        s.quorum_port, s.election_port
                    ),
                )
            })
            .collect(),
    )
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
    use std::collections::BTreeMap;

    #[test]
    fn learners_are_synced_when_recently_heard_from_and_caught_up() {
        let ms = Duration::from_millis;
        let status = QuorumStatus {
            node_id: 1,
            role: Role::Leader,
            ensemble: true,
            voters: vec![1, 2, 3, 4, 5],
            learners: vec![6, 7],
            last_log_index: Some(100),
            // 2: current; 3: current but silent (stopped); 4: far behind; 5: never matched;
            // 6: a current observer; 7: an observer that stopped answering.
            replication: [
                (2, Some(100)),
                (3, Some(100)),
                (4, Some(50)),
                (5, None),
                (6, Some(95)),
                (7, Some(100)),
            ]
            .into(),
            since_ack: [
                (2, ms(40)),
                (3, ms(2500)),
                (4, ms(10)),
                (5, ms(10)),
                (6, ms(10)),
                (7, ms(1001)),
            ]
            .into(),
            ..QuorumStatus::default()
        };
        assert_eq!(
            learner_counts(&status, ms(1000)),
            LearnerCounts {
                followers: 4,
                synced_followers: 1,
                observers: 2,
                synced_observers: 1,
            }
        );
        // A wider bound (syncLimit) counts the member last heard from 2.5 s ago.
        assert_eq!(learner_counts(&status, ms(3000)).synced_followers, 2);
        // Nobody heard from at all: nobody synced.
        let silent = QuorumStatus {
            since_ack: BTreeMap::new(),
            ..status
        };
        let counts = learner_counts(&silent, ms(1000));
        assert_eq!((counts.synced_followers, counts.synced_observers), (0, 0));
    }
}
