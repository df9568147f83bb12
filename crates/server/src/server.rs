//! Server assembly: storage and consensus, the client listener, and background duties
//! (session expiry, container/TTL cleanup).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arbor_proto::Id;
use arbor_quorum::{Quorum, QuorumConfig};
use arbor_tree::{SessionId, TreeOptions, Txn, TxnOp};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admin::{Admin, AdminListeners};
use crate::config::ServerConfig;
use crate::conn;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::stats::ServerStats;
use crate::watch::ConnId;

/// Why the server could not start. Messages name the step; the cause is the error's source
/// (printed after it by the binary), so it is not repeated in the message.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {path}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("storage")]
    Quorum(#[from] arbor_quorum::QuorumError),
    /// An ensemble member needs `dataDir/myid` naming one of the `server.N` lines.
    #[error("cannot determine this server's id from {path}: {reason}")]
    MyId { path: String, reason: String },
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot set up metrics")]
    Metrics(#[from] prometheus::Error),
    /// The tokens file or the audit log of the admin listener cannot be used.
    #[error("{0}")]
    AdminAccess(String),
}

/// Per-connection counters for `cons`.
#[derive(Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub session: AtomicI64,
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub established_ms: i64,
    /// Requests of this connection waiting to be answered.
    pub queue: conn::QueueDepth,
}

/// Everything a connection needs from the server.
pub struct Shared {
    pub config: ServerConfig,
    pub db: Arc<Db>,
    pub quorum: Quorum,
    pub stats: ServerStats,
    /// Prometheus metrics (request latency per opcode, storage timings, leadership).
    pub metrics: Arc<Metrics>,
    pub connections: Mutex<HashMap<ConnId, Arc<ConnInfo>>>,
    pub started: Instant,
    next_conn: AtomicU64,
    next_session: AtomicI64,
}

/// Milliseconds since the Unix epoch (txn times; ZooKeeper's ctime/mtime).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The first session id of this server run, laid out like ZooKeeper's: the server id in the top
/// byte, then the start time, so ids never repeat across restarts.
fn initial_session_id(server_id: u64, now_ms: i64) -> i64 {
    let time_part = ((now_ms as u64) << 24) >> 8;
    (time_part | (server_id << 56)) as i64
}

impl Shared {
    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Identities that server housekeeping acts with.
    pub(crate) fn housekeeping_txn(&self, op: TxnOp) -> Txn {
        Txn {
            session: 0,
            time: now_ms(),
            auth: vec![Id::new("super", "")].into(),
            op,
        }
    }
}

/// A running server. Dropping it does not stop it; call `shutdown`.
pub struct Server {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    admin: Arc<Admin>,
    admin_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    secure_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
        for dir in [&config.data_dir, &config.data_log_dir] {
            std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let db = Arc::new(Db::new(TreeOptions {
            extended_types_enabled: config.extended_types_enabled,
        }));
        let metrics = Arc::new(Metrics::new()?);
        // TLS settings are checked before anything starts.
        let client_tls = match config.secure_client_port {
            Some(_) => Some(crate::tls::server_config(
                &config.tls,
                config.tls.effective_client_auth(),
            )?),
            None => None,
        };
        let admin_tls = match config.tls.admin_https {
            // Probes and browsers carry no client certificate; tokens authorize admin requests.
            true => Some(crate::tls::server_config(
                &config.tls,
                crate::config::ClientAuth::None,
            )?),
            false => None,
        };
        // Peer TLS is loaded whenever sslQuorum is set (standalone too), so a broken
        // certificate is found when the server starts, not when the ensemble grows.
        let peer_tls = if config.quorum_tls.enabled {
            // Parsed configurations are validated already; this guards built ones.
            let files = config
                .quorum_tls
                .files(&config.tls)
                .map_err(|key| crate::tls::TlsError::PeerFileNotSet { key })?;
            Some(crate::tls::peer::peer_tls(
                &files,
                config.quorum_tls.hostname_verification,
            )?)
        } else {
            None
        };
        // The admin listeners answer /healthz (and /readyz: "starting") during log replay.
        let (admin, admin_listeners) = Admin::start(&config, admin_tls).await?;
        let AdminListeners {
            admin_addr,
            metrics_addr,
            tasks: admin_tasks,
        } = admin_listeners;
        let abort_admin = || admin_tasks.iter().for_each(JoinHandle::abort);
        let server_id = if config.is_standalone() {
            1
        } else {
            read_myid(&config).inspect_err(|_| abort_admin())?
        };
        let quorum_config = QuorumConfig {
            force_sync: config.force_sync,
            snap_count: config.snap_count,
            snap_retain_count: config.autopurge.snap_retain_count as usize,
            purge_interval_hours: u64::from(config.autopurge.purge_interval_hours),
            tick_ms: u64::from(config.tick_time_ms),
            observers: metrics.storage_observers(),
            peer_tls,
            ..QuorumConfig::new(server_id, &config.data_dir, &config.data_log_dir)
        };
        let quorum = if config.is_standalone() {
            Quorum::start_standalone(quorum_config, db.clone()).await
        } else {
            Quorum::start_ensemble(quorum_config, config.ensemble(), db.clone()).await
        }
        .inspect_err(|_| abort_admin())?;
        let addr = config.client_socket_addr();
        let bound = match TcpListener::bind(addr).await {
            Ok(listener) => listener.local_addr().map(|local| (listener, local)),
            Err(e) => Err(e),
        };
        let (listener, local_addr) = match bound {
            Ok(bound) => bound,
            Err(source) => {
                abort_admin();
                quorum.shutdown().await;
                return Err(StartError::Listen { addr, source });
            }
        };
        let secure = match (config.secure_client_port, client_tls) {
            (Some(port), Some(tls)) => {
                let addr = SocketAddr::new(config.client_port_address, port);
                match crate::tls::bind(addr).await {
                    Ok((listener, local)) => Some((listener, local, tls)),
                    Err(source) => {
                        abort_admin();
                        quorum.shutdown().await;
                        return Err(StartError::Listen { addr, source });
                    }
                }
            }
            _ => None,
        };
        let shared = Arc::new(Shared {
            config,
            db,
            quorum,
            stats: ServerStats::default(),
            metrics: metrics.clone(),
            connections: Mutex::new(HashMap::new()),
            started: Instant::now(),
            next_conn: AtomicU64::new(1),
            next_session: AtomicI64::new(initial_session_id(server_id, now_ms())),
        });
        admin.attach(shared.clone());
        let mut tasks = vec![
            tokio::spawn(accept_loop(shared.clone(), listener)),
            tokio::spawn(expire_sessions(shared.clone())),
            tokio::spawn(housekeeping(shared.clone())),
            tokio::spawn(report_sessions(shared.clone())),
            tokio::spawn(drop_clients_when_not_serving(shared.clone())),
            tokio::spawn(crate::reconfigure::publish_initial_config(shared.clone())),
            tokio::spawn(crate::metrics::follow_leadership(
                shared.quorum.clone(),
                metrics,
            )),
        ];
        tasks.extend(admin_tasks);
        let secure_addr = secure.map(|(listener, local, tls)| {
            tracing::info!("serving TLS clients on {local}");
            tasks.push(tokio::spawn(crate::tls::accept_loop(
                shared.clone(),
                listener,
                tls,
            )));
            local
        });
        Ok(Server {
            shared,
            local_addr,
            admin,
            admin_addr,
            metrics_addr,
            secure_addr,
            tasks,
        })
    }

    /// Where TLS clients connect (`secureClientPort`), when set.
    pub fn secure_addr(&self) -> Option<SocketAddr> {
        self.secure_addr
    }

    /// Declares that `mount_api` will follow: `/api/` answers 503 "starting" until it does.
    pub fn expect_api(&self) {
        self.admin.expect_apis();
    }

    /// Mounts module HTTP APIs on the admin listener under their prefixes (`/api/v1/...`);
    /// may be called at any time, also after start. Without an admin listener
    /// (`admin.enableServer=false`) they are kept but unreachable.
    pub fn mount_api(&self, handlers: Vec<Arc<dyn arbor_coord::api::ApiHandler>>) {
        self.admin.mount(handlers);
    }

    /// The Prometheus registry served on `/metrics`, for modules to add their metrics to.
    pub fn metrics_registry(&self) -> &prometheus::Registry {
        self.shared.metrics.registry()
    }

    /// Runs `hook` before every scrape of `/metrics` (to set module gauges read at scrape time).
    pub fn add_scrape_hook(&self, hook: Arc<dyn crate::metrics::ScrapeHook>) {
        self.shared.metrics.add_scrape_hook(hook);
    }

    /// Where the admin HTTP listener listens, unless `admin.enableServer=false`.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Where the separate Prometheus endpoint listens, when `metricsProvider.httpPort` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared.quorum.shutdown().await;
    }
}

/// Whether `peer`'s address already holds `maxClientCnxns` connections (plain and TLS).
pub(crate) fn too_many_connections_from(shared: &Shared, peer: SocketAddr) -> bool {
    let max = shared.config.max_client_cnxns as usize;
    if max == 0 {
        return false;
    }
    let same_ip = shared
        .connections
        .lock()
        .values()
        .filter(|c| c.peer.ip() == peer.ip())
        .count();
    if same_ip >= max {
        tracing::warn!(%peer, "too many connections from this address (maxClientCnxns={max})");
    }
    same_ip >= max
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if too_many_connections_from(&shared, peer) {
                    continue;
                }
                tokio::spawn(conn::serve(shared.clone(), stream, peer));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads `dataDir/myid` (ZooKeeper's convention) and checks it names a `server.N` line.
fn read_myid(config: &ServerConfig) -> Result<u64, StartError> {
    let path = config.data_dir.join("myid");
    let error = |reason: String| StartError::MyId {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
    let id: u64 = text
        .trim()
        .parse()
        .map_err(|_| error(format!("expected a server id, found {:?}", text.trim())))?;
    if !config.servers.iter().any(|s| s.id == id) {
        return Err(error(format!(
            "there is no server.{id} line in the configuration"
        )));
    }
    Ok(id)
}

/// Proposes the expiry of sessions that went quiet for longer than their timeout. Only the
/// leader expires sessions (followers report their clients' activity to it); a new leader
/// first gives every session a fresh timeout, as ZooKeeper's does, since it did not see the
/// activity the old leader saw.
async fn expire_sessions(shared: Arc<Shared>) {
    let period = Duration::from_millis(u64::from(shared.config.tick_time_ms.max(2) / 2));
    let mut tick = tokio::time::interval(period);
    let mut was_leader = true;
    loop {
        tick.tick().await;
        let leader = shared.quorum.metrics().role == arbor_quorum::Role::Leader;
        if !leader {
            was_leader = false;
            continue;
        }
        if !was_leader {
            shared.db.sessions().refresh_all(Instant::now());
            was_leader = true;
            continue;
        }
        let expired = shared.db.sessions().take_expired(Instant::now());
        for session in expired {
            tracing::info!("expiring session 0x{session:x}");
            let txn = Txn {
                session,
                time: now_ms(),
                auth: Vec::new().into(),
                op: TxnOp::CloseSession { session },
            };
            if let Err(e) = shared.quorum.propose(txn).await {
                tracing::warn!("could not expire session 0x{session:x}: {e}");
                shared.db.sessions().abort_close(session);
            }
        }
    }
}

/// Sends the sessions active here to the leader every half tick (ZooKeeper followers ping the
/// leader on the same schedule). Nothing to do on the leader or standalone.
async fn report_sessions(shared: Arc<Shared>) {
    if shared.config.is_standalone() {
        return;
    }
    let period = Duration::from_millis(u64::from(shared.config.tick_time_ms.max(2) / 2));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let active = shared.db.sessions().take_recent();
        shared.quorum.report_sessions(active).await;
    }
}

/// Closes every client connection when this server stops serving (cut off from the quorum,
/// or a leader that lost it), so clients move to a server that serves; handshakes are refused
/// meanwhile (see `conn::establish`).
async fn drop_clients_when_not_serving(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut was_serving = false;
    loop {
        tick.tick().await;
        let serving = shared.quorum.serving();
        if was_serving && !serving {
            tracing::warn!("not serving: no quorum or leader; closing client connections");
            shared.db.close_all_connections();
        } else if serving && !was_serving {
            tracing::info!(
                "serving clients as {}",
                crate::report::gather::server_state(&shared)
            );
        }
        was_serving = serving;
    }
}

/// Deletes empty containers and expired TTL nodes (ZooKeeper's ContainerManager), by proposing
/// txns that re-check the condition when applied. Only the leader does this.
async fn housekeeping(shared: Arc<Shared>) {
    let period =
        Duration::from_millis(u64::from(shared.config.container_check_interval_ms.max(10)));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        if shared.quorum.metrics().role != arbor_quorum::Role::Leader {
            continue;
        }
        let due = shared.db.read().housekeeping(now_ms());
        for op in due {
            let txn = shared.housekeeping_txn(op);
            if let Err(e) = shared.quorum.propose(txn).await {
                tracing::warn!("housekeeping proposal failed: {e}");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_carry_server_id_and_differ_by_start_time() {
        let a = initial_session_id(1, 1_700_000_000_000);
        let b = initial_session_id(1, 1_700_000_000_001);
        assert_eq!((a as u64) >> 56, 1);
        assert_ne!(a, b);
        assert!(a > 0);
    }
}
