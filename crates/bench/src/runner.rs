//! A benchmark run: prepare (connect, build the subtree), run (warm-up, measure), finish
//! (close sessions, delete the subtree).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_proto::{CreateMode, EventType, WatcherEvent};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::args::{BenchArgs, Workload};
use crate::client::{Client, PendingReply};
use crate::error::{BenchError, ClientError};
use crate::progress::{Counters, ProgressLine};
use crate::stats::{Outcome, Phase, Recorder, Report, RunInfo};
use crate::tree::{create_nodes, create_nodes_windowed, delete_tree, with_ancestors, WINDOW};
use crate::workload::{
    create, get_data, outcome_of, set_data, value_of_size, Layout, OpGenerator, KEYS_PER_GROUP,
};

/// How long a watch-fanout round waits for the last notification.
const FANOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A pause after a failed ephemeral-churn cycle, so a dead server is not hammered in a loop.
const CHURN_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Decides, for every operation a driver is about to issue, which phase it belongs to, or that
/// the run is over (duration elapsed, operation budget spent, or stopped).
pub struct Control {
    warmup_end: Instant,
    measure_end: Option<Instant>,
    ops_budget: Option<u64>,
    tickets: AtomicU64,
    stopped: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

impl Control {
    pub fn new(args: &BenchArgs, stopped: Arc<AtomicBool>, counters: Arc<Counters>) -> Control {
        let warmup_end = Instant::now() + args.warmup;
        Control {
            warmup_end,
            measure_end: args.ops.is_none().then(|| warmup_end + args.duration),
            ops_budget: args.ops,
            tickets: AtomicU64::new(0),
            stopped,
            counters,
        }
    }

    /// The phase of the next operation, or `None` when no more may be issued.
    pub fn next(&self) -> Option<Phase> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let now = Instant::now();
        if now < self.warmup_end {
            return Some(Phase::Warmup);
        }
        let more = match (self.ops_budget, self.measure_end) {
            (Some(budget), _) => self.tickets.fetch_add(1, Ordering::Relaxed) < budget,
            (None, Some(end)) => now < end,
            (None, None) => false,
        };
        more.then_some(Phase::Measure)
    }

    fn note(&self, outcome: &Outcome) {
        self.counters.note(outcome.is_ok());
    }
}

/// A prepared run. [`Bench::run`] may be called more than once; [`Bench::finish`] cleans up.
pub struct Bench {
    args: BenchArgs,
    servers: Vec<SocketAddr>,
    layout: Layout,
    admin: Client,
    /// The closed-loop sessions, or the watchers of watch-fanout.
    sessions: Vec<Client>,
    notifications: Vec<UnboundedReceiver<WatcherEvent>>,
    stopped: Arc<AtomicBool>,
}

impl Bench {
    /// Validates the options, connects the sessions and creates the subtree.
    pub async fn prepare(args: BenchArgs) -> Result<Bench, BenchError> {
        args.validate()?;
        let servers = resolve_servers(&args.server).await?;
        let prefix = args
            .prefix
            .clone()
            .unwrap_or_else(|| format!("/bench-{:08x}", rand::random::<u32>()));
        let layout = Layout::new(prefix);
        let admin = Client::connect(servers[0], args.session_timeout).await?;

        let session_count = match args.workload {
            Workload::EphemeralChurn => 0,
            Workload::WatchFanout => args.watchers,
            _ => args.sessions,
        };
        let connects = (0..session_count)
            .map(|i| Client::connect(servers[i % servers.len()], args.session_timeout));
        let mut sessions: Vec<Client> = futures::future::try_join_all(connects).await?;
        let notifications = if args.workload == Workload::WatchFanout {
            sessions
                .iter_mut()
                .filter_map(Client::take_notifications)
                .collect()
        } else {
            Vec::new()
        };

        let bench = Bench {
            args,
            servers,
            layout,
            admin,
            sessions,
            notifications,
            stopped: Arc::new(AtomicBool::new(false)),
        };
        if let Err(e) = bench.create_subtree().await {
            // Leave nothing behind from a half-built setup; the setup error is what matters.
            let _ = bench.finish().await;
            return Err(e);
        }
        Ok(bench)
    }

    /// A flag that, once set, makes the run stop issuing operations (it still drains and
    /// reports what was issued).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stopped)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    async fn create_subtree(&self) -> Result<(), BenchError> {
        let args = &self.args;
        let layout = &self.layout;
        let mut nodes = with_ancestors(layout.prefix());
        match args.workload {
            Workload::Create => {
                nodes.push(layout.create_root());
                nodes.extend((0..args.sessions).map(|s| layout.create_dir(s)));
            }
            Workload::EphemeralChurn => nodes.push(layout.ephemeral_dir()),
            Workload::WatchFanout => nodes.push(layout.watch_node()),
            _ => {}
        }
        create_nodes(&self.admin, nodes, &[]).await?;
        if args.workload.uses_keys() && !args.no_populate && args.populate_from < args.keys {
            let first = args.populate_from;
            let mut dirs = vec![layout.keys_dir()];
            dirs.extend(
                (first / KEYS_PER_GROUP..Layout::group_count(args.keys)).map(|g| layout.group(g)),
            );
            create_nodes(&self.admin, dirs, &[]).await?;
            self.create_keys(first..args.keys).await?;
        }
        Ok(())
    }

    /// Creates the key nodes in `range`, split into one contiguous share per session (the
    /// sessions work in parallel, [`WINDOW`] creates in flight in total).
    async fn create_keys(&self, range: std::ops::Range<u64>) -> Result<(), BenchError> {
        let value = value_of_size(self.args.value_size);
        let clients: Vec<&Client> = if self.sessions.is_empty() {
            vec![&self.admin]
        } else {
            self.sessions.iter().collect()
        };
        let share = (range.end - range.start)
            .div_ceil(clients.len() as u64)
            .max(1);
        let window = (WINDOW / clients.len()).max(16);
        let creates = clients.into_iter().enumerate().map(|(i, client)| {
            let start = (range.start + i as u64 * share).min(range.end);
            let end = (start + share).min(range.end);
            let keys = (start..end).map(|k| self.layout.key(k)).collect();
            create_nodes_windowed(client, keys, &value, window)
        });
        futures::future::try_join_all(creates).await?;
        Ok(())
    }

    /// Warms up, measures, and reports.
    pub async fn run(&mut self) -> Result<Report, BenchError> {
        let counters = Arc::new(Counters::default());
        let control = Arc::new(Control::new(
            &self.args,
            Arc::clone(&self.stopped),
            Arc::clone(&counters),
        ));
        let _progress =
            ProgressLine::start(self.args.workload.name(), control.warmup_end, counters);
        let recorder = match self.args.workload {
            Workload::EphemeralChurn => self.run_churn(&control).await?,
            Workload::WatchFanout => self.run_fanout(&control).await,
            _ => self.run_closed_loop(&control).await?,
        };
        let elapsed = Instant::now().saturating_duration_since(control.warmup_end);
        Ok(Report::new(self.run_info(), &recorder, elapsed))
    }

    fn run_info(&self) -> RunInfo {
        let args = &self.args;
        let workload = args.workload;
        RunInfo {
            workload,
            servers: self.servers.iter().map(SocketAddr::to_string).collect(),
            sessions: match workload {
                Workload::WatchFanout => args.watchers,
                _ => args.sessions,
            },
            outstanding: match workload {
                Workload::EphemeralChurn | Workload::WatchFanout => 1,
                _ => args.outstanding,
            },
            value_size: args.value_size,
            keys: workload.uses_keys().then_some(args.keys),
            read_pct: (workload == Workload::Mixed).then_some(args.read_pct),
            multi_ops: (workload == Workload::Multi).then_some(args.multi_ops),
            watchers: (workload == Workload::WatchFanout).then_some(args.watchers),
        }
    }

    async fn run_closed_loop(&mut self, control: &Arc<Control>) -> Result<Recorder, BenchError> {
        let drivers: Vec<_> = std::mem::take(&mut self.sessions)
            .into_iter()
            .enumerate()
            .map(|(i, client)| {
                let generator = OpGenerator::new(&self.args, &self.layout, i);
                tokio::spawn(closed_loop(
                    client,
                    generator,
                    Arc::clone(control),
                    self.args.outstanding,
                ))
            })
            .collect();
        let mut total = Recorder::new();
        for driver in drivers {
            let (client, recorder) = driver
                .await
                .map_err(|e| BenchError::TaskFailed(e.to_string()))?;
            total.merge(&recorder);
            self.sessions.push(client);
        }
        Ok(total)
    }

    async fn run_churn(&self, control: &Arc<Control>) -> Result<Recorder, BenchError> {
        let node_prefix = format!("{}/n-", self.layout.ephemeral_dir());
        let drivers: Vec<_> = (0..self.args.sessions)
            .map(|i| {
                tokio::spawn(churn(
                    self.servers[i % self.servers.len()],
                    node_prefix.clone(),
                    value_of_size(self.args.value_size),
                    self.args.session_timeout,
                    Arc::clone(control),
                ))
            })
            .collect();
        let mut total = Recorder::new();
        for driver in drivers {
            let recorder = driver
                .await
                .map_err(|e| BenchError::TaskFailed(e.to_string()))?;
            total.merge(&recorder);
        }
        Ok(total)
    }

    async fn run_fanout(&mut self, control: &Control) -> Recorder {
        let node = self.layout.watch_node();
        let value = value_of_size(self.args.value_size);
        let mut recorder = Recorder::new();
        while let Some(phase) = control.next() {
            let started = Instant::now();
            let outcome = match fanout_round(
                &self.admin,
                &self.sessions,
                &mut self.notifications,
                &node,
                &value,
            )
            .await
            {
                Ok((latency, outcome)) => {
                    recorder.record(phase, latency, outcome.clone());
                    outcome
                }
                Err(e) => {
                    let outcome = Outcome::from_client_error(&e);
                    recorder.record(phase, started.elapsed(), outcome.clone());
                    outcome
                }
            };
            control.note(&outcome);
            if outcome == Outcome::from_client_error(&ClientError::ConnectionLost) {
                // A lost watcher stays lost; every further round would fail the same way.
                break;
            }
        }
        recorder
    }

    /// Closes every session and deletes the subtree (unless `--keep`).
    pub async fn finish(self) -> Result<(), BenchError> {
        let closes = self.sessions.into_iter().map(Client::close);
        // A session that cannot be closed cleanly expires on its own; not worth failing for.
        let _ = futures::future::join_all(closes).await;
        let deleted = if self.args.keep {
            Ok(0)
        } else {
            delete_tree(&self.admin, self.layout.prefix()).await
        };
        let closed = self.admin.close().await;
        deleted?;
        closed?;
        Ok(())
    }
}

/// Parses `host:port[,host:port...]` (port 2181 when omitted) and resolves each host.
pub async fn resolve_servers(spec: &str) -> Result<Vec<SocketAddr>, BenchError> {
    if spec.contains('/') {
        return Err(BenchError::InvalidArgs(format!(
            "--server {spec:?}: a chroot is not supported (use --prefix)"
        )));
    }
    let mut servers = Vec::new();
    for host in spec.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let has_port = host
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
        let target = if has_port {
            host.to_string()
        } else {
            format!("{host}:2181")
        };
        let resolve_error = |reason: String| BenchError::Resolve {
            host: host.to_string(),
            reason,
        };
        let addr = tokio::net::lookup_host(&target)
            .await
            .map_err(|e| resolve_error(e.to_string()))?
            .next()
            .ok_or_else(|| resolve_error("no address".to_string()))?;
        servers.push(addr);
    }
    if servers.is_empty() {
        return Err(BenchError::InvalidArgs(
            "--server names no host".to_string(),
        ));
    }
    Ok(servers)
}

/// One session of a closed-loop workload: keeps `outstanding` requests in flight until the
/// control says stop, then waits for the stragglers. Hands the client back for cleanup.
async fn closed_loop(
    client: Client,
    mut generator: OpGenerator,
    control: Arc<Control>,
    outstanding: usize,
) -> (Client, Recorder) {
    let mut recorder = Recorder::new();
    let mut in_flight = FuturesUnordered::new();
    let mut lost = false;
    loop {
        while !lost && in_flight.len() < outstanding {
            let Some(phase) = control.next() else { break };
            let (op, request) = generator.next_request();
            let started = Instant::now();
            match client.submit(request) {
                Ok(reply) => in_flight.push(timed(phase, op, started, reply)),
                Err(e) => {
                    let outcome = Outcome::from_client_error(&e);
                    control.note(&outcome);
                    recorder.record(phase, started.elapsed(), outcome);
                    lost = true;
                }
            }
        }
        let Some((phase, op, started, result)) = in_flight.next().await else {
            break;
        };
        let latency = started.elapsed();
        let outcome = match result {
            Ok(reply) => outcome_of(op, &reply),
            Err(e) => {
                lost = true;
                Outcome::from_client_error(&e)
            }
        };
        control.note(&outcome);
        recorder.record(phase, latency, outcome);
    }
    (client, recorder)
}

async fn timed(
    phase: Phase,
    op: arbor_proto::OpCode,
    started: Instant,
    reply: PendingReply,
) -> (
    Phase,
    arbor_proto::OpCode,
    Instant,
    Result<crate::client::Reply, ClientError>,
) {
    (phase, op, started, reply.await)
}

/// One ephemeral-churn slot: connect, create an ephemeral sequential node, closeSession.
async fn churn(
    server: SocketAddr,
    node_prefix: String,
    value: Vec<u8>,
    session_timeout: Duration,
    control: Arc<Control>,
) -> Recorder {
    let mut recorder = Recorder::new();
    while let Some(phase) = control.next() {
        let started = Instant::now();
        let cycle = async {
            let client = Client::connect(server, session_timeout).await?;
            let request = create(
                node_prefix.clone(),
                value.clone(),
                CreateMode::EphemeralSequential,
            );
            let reply = client.call(request).await?;
            client.close().await?;
            Ok::<_, ClientError>(Outcome::from_code(reply.err))
        };
        let outcome = cycle
            .await
            .unwrap_or_else(|e| Outcome::from_client_error(&e));
        let failed = !outcome.is_ok();
        control.note(&outcome);
        recorder.record(phase, started.elapsed(), outcome);
        if failed {
            tokio::time::sleep(CHURN_RETRY_PAUSE).await;
        }
    }
    recorder
}

/// One watch-fanout round: every watcher sets a data watch on `node`, one setData, then the
/// time until every watcher has its NodeDataChanged notification.
async fn fanout_round(
    setter: &Client,
    watchers: &[Client],
    notifications: &mut [UnboundedReceiver<WatcherEvent>],
    node: &str,
    value: &[u8],
) -> Result<(Duration, Outcome), ClientError> {
    let arms: Vec<PendingReply> = watchers
        .iter()
        .map(|watcher| watcher.submit(get_data(node.to_string(), true)))
        .collect::<Result<_, _>>()?;
    for arm in arms {
        let reply = arm.await?;
        if !reply.is_ok() {
            return Ok((Duration::ZERO, Outcome::from_code(reply.err)));
        }
    }
    // Late notifications of an earlier (timed-out) round must not count for this one.
    for receiver in notifications.iter_mut() {
        while receiver.try_recv().is_ok() {}
    }

    let started = Instant::now();
    let set = setter.submit(set_data(node.to_string(), value.to_vec()))?;
    let deadline = tokio::time::Instant::from_std(started + FANOUT_TIMEOUT);
    for receiver in notifications.iter_mut() {
        loop {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Err(_) => {
                    return Ok((started.elapsed(), Outcome::Error("WATCH_TIMEOUT".into())));
                }
                Ok(None) => return Err(ClientError::ConnectionLost),
                Ok(Some(event)) => {
                    if event.path == node && event.event() == Some(EventType::NodeDataChanged) {
                        break;
                    }
                }
            }
        }
    }
    let latency = started.elapsed();
    let reply = set.await?;
    Ok((latency, Outcome::from_code(reply.err)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(args: &BenchArgs) -> Control {
        Control::new(args, Arc::new(AtomicBool::new(false)), Arc::default())
    }

    #[test]
    fn an_ops_budget_is_handed_out_exactly_once() {
        let mut args = BenchArgs::new("x:1", Workload::Get);
        args.warmup = Duration::ZERO;
        args.ops = Some(5);
        let control = control(&args);
        let phases: Vec<_> = std::iter::from_fn(|| control.next()).take(100).collect();
        assert_eq!(phases, vec![Phase::Measure; 5]);
        assert_eq!(control.next(), None);
    }

    #[test]
    fn warmup_comes_first_and_the_duration_ends_the_run() {
        let mut args = BenchArgs::new("x:1", Workload::Get);
        args.warmup = Duration::from_millis(50);
        args.duration = Duration::from_millis(50);
        let control = control(&args);
        assert_eq!(control.next(), Some(Phase::Warmup));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(control.next(), Some(Phase::Measure));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(control.next(), None);
    }

    #[test]
    fn the_stop_flag_ends_the_run() {
        let args = BenchArgs::new("x:1", Workload::Get);
        let stopped = Arc::new(AtomicBool::new(false));
        let control = Control::new(&args, Arc::clone(&stopped), Arc::default());
        assert!(control.next().is_some());
        stopped.store(true, Ordering::Relaxed);
        assert_eq!(control.next(), None);
    }

    #[tokio::test]
    async fn server_lists_resolve_with_a_default_port() {
        let servers = resolve_servers("127.0.0.1:1234, 127.0.0.1")
            .await
            .expect("resolve");
        assert_eq!(
            servers,
            vec![
                "127.0.0.1:1234".parse::<SocketAddr>().expect("addr"),
                "127.0.0.1:2181".parse().expect("addr"),
            ]
        );
        assert!(matches!(
            resolve_servers("127.0.0.1:1/chroot").await,
            Err(BenchError::InvalidArgs(_))
        ));
        assert!(matches!(
            resolve_servers(" , ").await,
            Err(BenchError::InvalidArgs(_))
        ));
    }
}
