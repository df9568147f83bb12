//! `arbor bench failover`: how long an ensemble takes to accept writes again after its leader
//! is killed with SIGKILL.
//!
//! Clients connected to the members that do not lead each write (setData on a node of their
//! own) every `--interval`, open-loop: a write is issued on every tick whether the earlier ones
//! were answered or not. After `--steady`, the leader (the member whose `srvr` says
//! `Mode: leader`) gets SIGKILL. A client whose connection is lost (or whose writes go
//! unanswered for `--request-timeout`) reconnects as ZooKeeper clients do: it resumes its
//! session (id, password, last zxid seen) on its own server first, then on the next one in the
//! list. The report gives, from the kill: when a survivor first reports `Mode: leader`, the
//! first successful write issued after the kill (any client), and when every client has had
//! one. Writes issued before the kill do not count, even if they are answered after it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::args::parse_duration;
use crate::client::{Client, Reply, Resume};
use crate::error::{BenchError, ClientError};
use crate::four_letter;
use crate::runner::resolve_servers;
use crate::tree::{create_nodes, delete_tree, with_ancestors};
use crate::workload::{set_data, value_of_size};

/// How long one reconnection attempt (TCP connect and handshake) may take.
const CONNECT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a four-letter word may take.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the survivors are asked for their mode after the kill.
const MODE_POLL: Duration = Duration::from_millis(25);

/// `arbor bench failover`: kill -9 the leader under a steady write load and time the recovery.
#[derive(clap::Args, Debug, Clone)]
pub struct FailoverArgs {
    /// The ensemble's members, comma-separated host:port (client ports).
    #[arg(long)]
    pub server: String,
    /// Process ids of the members, in --server order; the leader's gets SIGKILL.
    #[arg(long, value_delimiter = ',', required = true)]
    pub pids: Vec<i32>,
    /// Writing clients per member that does not lead.
    #[arg(long, default_value_t = 2)]
    pub clients_per_member: usize,
    /// Each client issues one setData this often.
    #[arg(long, value_parser = parse_duration, default_value = "10ms")]
    pub interval: Duration,
    /// Load before the kill.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub steady: Duration,
    /// Give up if writes have not resumed on every client this long after the kill (and wait
    /// at most this long for a leader before the kill).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// A connection whose writes go unanswered this long is dropped and made anew.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub request_timeout: Duration,
    /// Session timeout to ask for.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub session_timeout: Duration,
    /// Bytes of data per write.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Where the written nodes are (deleted at the end). Default: /failover-<random>.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl FailoverArgs {
    pub fn new(server: impl Into<String>, pids: Vec<i32>) -> FailoverArgs {
        FailoverArgs {
            server: server.into(),
            pids,
            clients_per_member: 2,
            interval: Duration::from_millis(10),
            steady: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(5),
            session_timeout: Duration::from_secs(30),
            value_size: 100,
            prefix: None,
            json: false,
        }
    }

    fn validate(&self, servers: usize) -> Result<(), BenchError> {
        let invalid = |msg: String| Err(BenchError::InvalidArgs(msg));
        if servers < 2 {
            return invalid("--server must name at least two members".into());
        }
        if self.pids.len() != servers {
            return invalid(format!(
                "--pids names {} processes for {servers} servers",
                self.pids.len()
            ));
        }
        if self.pids.iter().any(|&pid| pid <= 0) {
            return invalid("--pids must be positive process ids".into());
        }
        if self.clients_per_member == 0 {
            return invalid("--clients-per-member must be at least 1".into());
        }
        if self.interval.is_zero() || self.timeout.is_zero() || self.request_timeout.is_zero() {
            return invalid(
                "--interval, --timeout and --request-timeout must be above zero".into(),
            );
        }
        if let Some(prefix) = &self.prefix {
            if prefix == "/" {
                return invalid("--prefix must not be /".into());
            }
            arbor_proto::validate_path(prefix)
                .map_err(|e| BenchError::InvalidArgs(format!("--prefix {prefix:?}: {e}")))?;
        }
        Ok(())
    }
}

/// One trial's result. Times are milliseconds after the kill.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub servers: Vec<String>,
    /// The member that was killed.
    pub leader: String,
    pub killed_pid: i32,
    pub clients: usize,
    pub interval_ms: f64,
    /// The survivor that first reported `Mode: leader`, and when.
    pub new_leader: Option<String>,
    pub new_leader_ms: Option<f64>,
    /// The first successful write issued after the kill, on any client.
    pub first_write_ms: Option<f64>,
    /// When every client had had a successful write issued after the kill.
    pub all_clients_ms: Option<f64>,
    /// Per client (in connection order), its first successful write after the kill.
    pub per_client_ms: Vec<Option<f64>>,
    /// Whether every client wrote again within --timeout.
    pub recovered: bool,
    pub writes_before_kill: u64,
    pub failed_before_kill: u64,
    pub writes_after_kill: u64,
    pub failed_after_kill: u64,
    pub reconnects: u64,
}

impl FailoverReport {
    pub fn render_text(&self) -> String {
        let ms = |v: Option<f64>| v.map_or("never".to_string(), |v| format!("{v:.0} ms"));
        let per_client: Vec<String> = self
            .per_client_ms
            .iter()
            .map(|v| v.map_or("never".to_string(), |v| format!("{v:.0}")))
            .collect();
        format!(
            "killed the leader {} (pid {}) under {} clients writing every {:.0} ms\n\
             new leader:                        {} after {}\n\
             first successful write after kill: {}\n\
             every client writing again after:  {} (per client, ms: {})\n\
             writes before the kill: {} ok, {} failed; after: {} ok, {} failed; reconnects: {}\n",
            self.leader,
            self.killed_pid,
            self.clients,
            self.interval_ms,
            self.new_leader.as_deref().unwrap_or("none seen"),
            ms(self.new_leader_ms),
            ms(self.first_write_ms),
            ms(self.all_clients_ms),
            per_client.join(", "),
            self.writes_before_kill,
            self.failed_before_kill,
            self.writes_after_kill,
            self.failed_after_kill,
            self.reconnects,
        )
    }
}

/// What all writers share with the measurement.
struct Shared {
    servers: Vec<SocketAddr>,
    value: Vec<u8>,
    interval: Duration,
    request_timeout: Duration,
    session_timeout: Duration,
    kill_at: OnceLock<Instant>,
    stop: AtomicBool,
}

/// What one writer has seen so far, readable while it runs.
#[derive(Default)]
struct Progress {
    ok_before_kill: AtomicU64,
    /// Nanoseconds from the kill to the first successful write issued after it; 0 = none yet.
    recovered_after_ns: AtomicU64,
}

impl Progress {
    fn recovered_after(&self) -> Option<Duration> {
        match self.recovered_after_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    ok_before: u64,
    failed_before: u64,
    ok_after: u64,
    failed_after: u64,
    reconnects: u64,
}

/// Runs one trial: finds the leader, loads, kills it, waits for every client to write again.
/// Returns the report even when writes did not resume (`recovered` is false then).
pub async fn measure(args: FailoverArgs) -> Result<FailoverReport, BenchError> {
    let servers = resolve_servers(&args.server).await?;
    args.validate(servers.len())?;
    let leader = wait_for_leader(&servers, args.timeout).await?;
    let followers: Vec<usize> = (0..servers.len()).filter(|&i| i != leader).collect();
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("/failover-{:08x}", rand::random::<u32>()));
    let clients = followers.len() * args.clients_per_member;
    let node = |i: usize| format!("{prefix}/c{i}");

    let admin = Client::connect(servers[followers[0]], args.session_timeout).await?;
    let mut nodes = with_ancestors(&prefix);
    nodes.extend((0..clients).map(node));
    create_nodes(&admin, nodes, &[]).await?;
    let _ = admin.close().await;

    let shared = Arc::new(Shared {
        servers: servers.clone(),
        value: value_of_size(args.value_size),
        interval: args.interval,
        request_timeout: args.request_timeout,
        session_timeout: args.session_timeout,
        kill_at: OnceLock::new(),
        stop: AtomicBool::new(false),
    });
    let progress: Vec<Arc<Progress>> = (0..clients).map(|_| Arc::default()).collect();
    let writers: Vec<_> = (0..clients)
        .map(|i| {
            let home = followers[i % followers.len()];
            tokio::spawn(writer(
                Arc::clone(&shared),
                node(i),
                home,
                Arc::clone(&progress[i]),
            ))
        })
        .collect();

    tokio::time::sleep(args.steady).await;
    let idle = progress
        .iter()
        .filter(|p| p.ok_before_kill.load(Ordering::Relaxed) == 0)
        .count();
    if idle > 0 {
        eprintln!("failover: warning: {idle} of {clients} clients wrote nothing before the kill");
    }
    // The leader may have changed during the load; kill the one that leads now.
    let leader = wait_for_leader(&servers, args.timeout).await?;
    let pid = args.pids[leader];
    // SAFETY: kill(2) takes no pointers.
    if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
        shared.stop.store(true, Ordering::Relaxed);
        return Err(BenchError::TaskFailed(format!(
            "cannot kill the leader {} (pid {pid}): {}",
            servers[leader],
            std::io::Error::last_os_error()
        )));
    }
    let kill_at = Instant::now();
    let _ = shared.kill_at.set(kill_at);
    let deadline = kill_at + args.timeout;
    let survivors: Vec<SocketAddr> = (0..servers.len())
        .filter(|&i| i != leader)
        .map(|i| servers[i])
        .collect();
    let new_leader = tokio::spawn(watch_for_new_leader(survivors, kill_at, deadline));

    while Instant::now() < deadline && progress.iter().any(|p| p.recovered_after().is_none()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shared.stop.store(true, Ordering::Relaxed);
    let mut totals = Totals::default();
    for writer in writers {
        let t = writer
            .await
            .map_err(|e| BenchError::TaskFailed(e.to_string()))?;
        totals.ok_before += t.ok_before;
        totals.failed_before += t.failed_before;
        totals.ok_after += t.ok_after;
        totals.failed_after += t.failed_after;
        totals.reconnects += t.reconnects;
    }
    // A leader seen by now is enough; do not wait out the deadline for one.
    let new_leader = if new_leader.is_finished() {
        new_leader.await.ok().flatten()
    } else {
        new_leader.abort();
        None
    };

    cleanup(&servers, leader, &prefix, args.session_timeout).await;
    if four_letter::mode(servers[leader], FOUR_LETTER_TIMEOUT)
        .await
        .is_some()
    {
        return Err(BenchError::TaskFailed(format!(
            "{} still answers after SIGKILL to pid {pid}: is that pid really its server?",
            servers[leader]
        )));
    }

    let to_ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let per_client: Vec<Option<Duration>> = progress.iter().map(|p| p.recovered_after()).collect();
    let recovered = per_client.iter().all(Option::is_some);
    Ok(FailoverReport {
        servers: servers.iter().map(SocketAddr::to_string).collect(),
        leader: servers[leader].to_string(),
        killed_pid: pid,
        clients,
        interval_ms: to_ms(args.interval),
        new_leader: new_leader.map(|(addr, _)| addr.to_string()),
        new_leader_ms: new_leader.map(|(_, after)| to_ms(after)),
        first_write_ms: per_client.iter().flatten().min().map(|d| to_ms(*d)),
        all_clients_ms: recovered
            .then(|| per_client.iter().flatten().max().map(|d| to_ms(*d)))
            .flatten(),
        per_client_ms: per_client.iter().map(|d| d.map(to_ms)).collect(),
        recovered,
        writes_before_kill: totals.ok_before,
        failed_before_kill: totals.failed_before,
        writes_after_kill: totals.ok_after,
        failed_after_kill: totals.failed_after,
        reconnects: totals.reconnects,
    })
}

/// Waits until exactly one member reports `Mode: leader`; its index.
async fn wait_for_leader(servers: &[SocketAddr], timeout: Duration) -> Result<usize, BenchError> {
    let deadline = Instant::now() + timeout;
    loop {
        let modes = futures::future::join_all(
            servers
                .iter()
                .map(|&addr| four_letter::mode(addr, FOUR_LETTER_TIMEOUT)),
        )
        .await;
        let leaders: Vec<usize> = modes
            .iter()
            .enumerate()
            .filter(|(_, mode)| mode.as_deref() == Some("leader"))
            .map(|(i, _)| i)
            .collect();
        if let [one] = leaders.as_slice() {
            return Ok(*one);
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = servers
                .iter()
                .zip(&modes)
                .map(|(addr, mode)| format!("{addr}: {}", mode.as_deref().unwrap_or("not serving")))
                .collect();
            return Err(BenchError::TaskFailed(format!(
                "no single leader within {timeout:?} ({})",
                seen.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the survivors until one says it leads; which one and how long after the kill.
async fn watch_for_new_leader(
    survivors: Vec<SocketAddr>,
    kill_at: Instant,
    deadline: Instant,
) -> Option<(SocketAddr, Duration)> {
    while Instant::now() < deadline {
        let polled = Instant::now();
        let modes = futures::future::join_all(
            survivors
                .iter()
                .map(|&addr| four_letter::mode(addr, FOUR_LETTER_TIMEOUT)),
        )
        .await;
        if let Some((addr, _)) = survivors
            .iter()
            .zip(&modes)
            .find(|(_, mode)| mode.as_deref() == Some("leader"))
        {
            // The answer was given between the poll and now; count from the poll.
            return Some((*addr, polled.saturating_duration_since(kill_at)));
        }
        tokio::time::sleep(MODE_POLL).await;
    }
    None
}

/// Deletes the trial's nodes through any survivor; best effort.
async fn cleanup(servers: &[SocketAddr], killed: usize, prefix: &str, session_timeout: Duration) {
    for (i, &addr) in servers.iter().enumerate() {
        if i == killed {
            continue;
        }
        if let Ok(client) = Client::connect(addr, session_timeout).await {
            let deleted = delete_tree(&client, prefix).await;
            let _ = client.close().await;
            if deleted.is_ok() {
                return;
            }
        }
    }
    eprintln!("failover: could not delete {prefix}");
}

/// One writing client: a setData on `path` every interval, reconnecting (resuming its
/// session) when its connection is lost or stalls.
async fn writer(shared: Arc<Shared>, path: String, home: usize, progress: Arc<Progress>) -> Totals {
    let servers = &shared.servers;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Completion>();
    let mut ticks = tokio::time::interval(shared.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut connection: Option<Client> = None;
    let mut generation = 0u64;
    let mut target = home;
    let mut resume: Option<Resume> = None;
    let mut last_zxid = 0i64;
    let mut outstanding = 0usize;
    let mut last_progress = Instant::now();
    let mut totals = Totals::default();
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                let stalled = outstanding > 0 && last_progress.elapsed() > shared.request_timeout;
                if connection.as_ref().is_some_and(|c| !c.is_connected() || stalled) {
                    connection = None;
                }
                if connection.is_none() {
                    generation += 1;
                    outstanding = 0;
                    let resume_with = resume.as_ref().map(|r| Resume { last_zxid_seen: last_zxid, ..r.clone() });
                    let attempt = Client::connect_with(
                        servers[target],
                        shared.session_timeout,
                        resume_with.as_ref(),
                        CONNECT_ATTEMPT_TIMEOUT,
                    )
                    .await;
                    match attempt {
                        Ok(client) => {
                            if resume.is_some() {
                                totals.reconnects += 1;
                            }
                            resume = Some(client.resume(last_zxid));
                            last_progress = Instant::now();
                            connection = Some(client);
                        }
                        Err(e) => {
                            // An expired session cannot be resumed: start a new one.
                            if matches!(e, ClientError::SessionRefused { .. }) {
                                resume = None;
                            }
                            target = (target + 1) % servers.len();
                            continue;
                        }
                    }
                }
                let Some(client) = connection.as_ref() else { continue };
                let issued = Instant::now();
                match client.submit(set_data(path.clone(), shared.value.clone())) {
                    Ok(reply) => {
                        outstanding += 1;
                        let done_tx = done_tx.clone();
                        let generation = generation;
                        tokio::spawn(async move {
                            let result = reply.await;
                            let _ = done_tx.send(Completion { generation, issued, done: Instant::now(), result });
                        });
                    }
                    Err(_) => connection = None,
                }
            }
            Some(c) = done_rx.recv() => {
                if c.generation == generation {
                    outstanding = outstanding.saturating_sub(1);
                    last_progress = c.done;
                }
                let kill_at = shared.kill_at.get().copied();
                let after = kill_at.is_some_and(|k| c.issued >= k);
                let ok = match &c.result {
                    Ok(reply) => {
                        last_zxid = last_zxid.max(reply.zxid);
                        reply.is_ok()
                    }
                    Err(_) => {
                        if c.generation == generation {
                            connection = None;
                        }
                        false
                    }
                };
                match (ok, after) {
                    (true, false) => {
                        totals.ok_before += 1;
                        progress.ok_before_kill.fetch_add(1, Ordering::Relaxed);
                    }
                    (false, false) => totals.failed_before += 1,
                    (true, true) => {
                        totals.ok_after += 1;
                        if let Some(kill_at) = kill_at {
                            let ns = c.done.saturating_duration_since(kill_at).as_nanos().max(1);
                            let ns = u64::try_from(ns).unwrap_or(u64::MAX);
                            let _ = progress.recovered_after_ns.compare_exchange(
                                0, ns, Ordering::Relaxed, Ordering::Relaxed,
                            );
                        }
                    }
                    (false, true) => totals.failed_after += 1,
                }
            }
        }
    }
    if let Some(client) = connection {
        let _ = client.close().await;
    }
    totals
}

struct Completion {
    generation: u64,
    issued: Instant,
    done: Instant,
    result: Result<Reply, ClientError>,
}

/// `arbor bench failover`: one trial, printed as text or JSON. Fails (after printing) when
/// writes did not resume on every client.
pub async fn run(args: FailoverArgs) -> Result<(), BenchError> {
    use std::io::Write;
    let json = args.json;
    let report = measure(args).await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.render_text())?;
    }
    out.flush()?;
    if !report.recovered {
        return Err(BenchError::TaskFailed(
            "writes did not resume on every client within --timeout".into(),
        ));
    }
    Ok(())
}
