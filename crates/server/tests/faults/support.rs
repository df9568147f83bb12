//! What the fault tests share: ensembles on loopback or in network namespaces, member status
//! that never waits on a stopped process for long, and tree comparison across members.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbor_test_support::netns::{netns_unavailable, NetLab};
use arbor_test_support::{ArborEnsemble, ArborOptions, TreeView};
use zookeeper_client as zk;

/// Short ticks keep elections (~0.3 s) and session timeouts (>= 2 s) quick.
pub fn opts() -> ArborOptions {
    ArborOptions::new()
        .config("tickTime", 1000)
        .startup_timeout(Duration::from_secs(30))
}

/// An ensemble, and the network lab its members live in (if any). Fields drop in order: the
/// servers are killed before their namespaces go.
pub struct Cluster {
    pub ensemble: ArborEnsemble,
    pub lab: Option<NetLab>,
}

impl Cluster {
    /// `n` voters on loopback.
    pub fn loopback(n: usize, opts: ArborOptions) -> Cluster {
        Cluster {
            ensemble: ArborEnsemble::start(n, opts),
            lab: None,
        }
    }

    /// `n` voters, each in its own network namespace; `None` (with the reason printed) where
    /// namespaces cannot be made (not root, or no `ip netns`).
    pub fn in_namespaces(test: &str, n: usize, opts: ArborOptions) -> Option<Cluster> {
        if let Some(reason) = netns_unavailable() {
            eprintln!("SKIPPED {test}: {reason}");
            return None;
        }
        let lab = NetLab::create(n).unwrap_or_else(|e| panic!("network lab: {e}"));
        let ensemble = ArborEnsemble::try_start_placed(n, 0, opts, &lab.placements())
            .unwrap_or_else(|e| panic!("ArborEnsemble in namespaces: {e}"));
        Some(Cluster {
            ensemble,
            lab: Some(lab),
        })
    }

    pub fn lab(&self) -> &NetLab {
        self.lab.as_ref().expect("this cluster has no network lab")
    }

    /// Cuts member `id` off from its peers (its clients still reach it).
    pub fn cut(&self, id: u64) {
        self.lab().cut(id as usize - 1);
    }

    pub fn heal(&self, id: u64) {
        self.lab().heal(id as usize - 1);
    }

    pub fn ids(&self) -> Vec<u64> {
        self.ensemble.ids().collect()
    }

    pub fn addr(&self, id: u64) -> SocketAddr {
        self.ensemble.member(id).addr()
    }

    pub fn connect_string(&self, ids: &[u64]) -> String {
        ids.iter()
            .map(|&id| self.ensemble.member(id).connect_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What `srvr` says about a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `Mode: leader|follower|observer`.
    Mode(String),
    /// "This ZooKeeper instance is not currently serving requests".
    NotServing,
    /// No answer within a second (stopped, dead or unreachable).
    Silent,
}

/// `srvr` with a one-second budget (a SIGSTOPped server accepts but never answers).
pub fn status(addr: SocketAddr) -> Status {
    use std::io::{Read, Write};
    let budget = Duration::from_secs(1);
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, budget) else {
        return Status::Silent;
    };
    let _ = stream.set_read_timeout(Some(budget));
    if stream.write_all(b"srvr").is_err() {
        return Status::Silent;
    }
    let mut reply = String::new();
    if stream.read_to_string(&mut reply).is_err() {
        return Status::Silent;
    }
    if reply.contains("not currently serving") {
        return Status::NotServing;
    }
    match reply.lines().find_map(|l| l.strip_prefix("Mode: ")) {
        Some(mode) => Status::Mode(mode.trim().to_owned()),
        None => Status::Silent,
    }
}

pub fn is_leader(addr: SocketAddr) -> bool {
    status(addr) == Status::Mode("leader".into())
}

/// Polls `check` every 50 ms until it holds; panics naming `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until exactly one of `ids` says it leads; returns it.
pub async fn leader_among(cluster: &Cluster, ids: &[u64], timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let leaders: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|&id| is_leader(cluster.addr(id)))
            .collect();
        if let [one] = leaders.as_slice() {
            return *one;
        }
        assert!(
            Instant::now() < deadline,
            "no single leader among {ids:?} within {timeout:?}: {:?}",
            ids.iter()
                .map(|&id| (id, status(cluster.addr(id))))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connects to `connect_string` with `timeout` as the session timeout.
pub async fn connect(connect_string: &str, timeout: Duration) -> zk::Client {
    tokio::time::timeout(
        Duration::from_secs(20),
        zk::Client::connector()
            .with_session_timeout(timeout)
            .connect(connect_string),
    )
    .await
    .unwrap_or_else(|_| panic!("connect to {connect_string}: no session within 20 s"))
    .unwrap_or_else(|e| panic!("connect to {connect_string}: {e}"))
}

pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Reads the whole tree through each member (after a sync there) and asserts they are equal;
/// returns the common view.
pub async fn assert_converged(cluster: &Cluster, ids: &[u64]) -> TreeView {
    cluster.ensemble.assert_converged(ids).await
}

/// A session-state watcher's next state other than `SyncConnected`, within `timeout`.
pub async fn next_trouble(
    watcher: &mut zk::StateWatcher,
    timeout: Duration,
) -> Option<zk::SessionState> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, watcher.changed()).await {
            Ok(zk::SessionState::SyncConnected) => continue,
            Ok(state) => return Some(state),
            Err(_) => return None,
        }
    }
}
