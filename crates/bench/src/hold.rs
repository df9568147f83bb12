//! `arbor bench hold`: opens many mostly idle sessions and many data watches and holds them,
//! for the scale curves (throughput, latency and memory as sessions and watches grow).
//!
//! Idle sessions only ping (every third of the session timeout). Watches are one-time data
//! watches set with `getData(watch)` by `--watch-sessions` sessions, each on its share of
//! `ceil(watches / watch-sessions)` empty nodes under `<prefix>/keys` (the key layout of a run),
//! so nothing a benchmark run does fires them and their number stays what was asked for.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::args::parse_duration;
use crate::client::Client;
use crate::error::{BenchError, ClientError};
use crate::runner::resolve_servers;
use crate::tree::{create_nodes, delete_tree, with_ancestors};
use crate::workload::{get_data, Layout};

/// Requests in flight per session while watches are set.
const WATCH_WINDOW: usize = 1000;

/// `arbor bench hold`: open sessions and watches, print a JSON line when they are in place,
/// hold them until interrupted (SIGINT, SIGTERM) or `--hold-for` has passed, then close them.
#[derive(clap::Args, Debug, Clone)]
pub struct HoldArgs {
    /// Servers, comma-separated host:port; sessions are spread over them round-robin.
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub server: String,
    /// Idle sessions to open (each one connection; mind the server's maxClientCnxns and both
    /// sides' open-file limits).
    #[arg(long, default_value_t = 0)]
    pub sessions: usize,
    /// Data watches to set in total.
    #[arg(long, default_value_t = 0)]
    pub watches: u64,
    /// Sessions that set the watches (besides --sessions); each watches its share of nodes.
    #[arg(long, default_value_t = 100)]
    pub watch_sessions: usize,
    /// Handshakes in progress at once while connecting.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Session timeout to ask for.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub session_timeout: Duration,
    /// Where the watched nodes are created (deleted at the end unless --keep).
    /// Default: /hold-<random>.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Leave the watched nodes in place at the end.
    #[arg(long)]
    pub keep: bool,
    /// Hold this long, then close everything; default: until SIGINT or SIGTERM.
    #[arg(long, value_parser = parse_duration)]
    pub hold_for: Option<Duration>,
}

impl HoldArgs {
    pub fn new(server: impl Into<String>) -> HoldArgs {
        HoldArgs {
            server: server.into(),
            sessions: 0,
            watches: 0,
            watch_sessions: 100,
            connect_concurrency: 64,
            session_timeout: Duration::from_secs(30),
            prefix: None,
            keep: false,
            hold_for: None,
        }
    }

    pub fn validate(&self) -> Result<(), BenchError> {
        let invalid = |msg: &str| Err(BenchError::InvalidArgs(msg.to_string()));
        if self.watches > 0 && self.watch_sessions == 0 {
            return invalid("--watch-sessions must be at least 1 with --watches");
        }
        if self.connect_concurrency == 0 {
            return invalid("--connect-concurrency must be at least 1");
        }
        if let Some(prefix) = &self.prefix {
            if prefix == "/" {
                return invalid("--prefix must not be / (hold deletes its prefix)");
            }
            arbor_proto::validate_path(prefix)
                .map_err(|e| BenchError::InvalidArgs(format!("--prefix {prefix:?}: {e}")))?;
        }
        Ok(())
    }

    /// How many sessions watch anything.
    pub fn active_watch_sessions(&self) -> usize {
        if self.watches == 0 {
            0
        } else {
            self.watch_sessions
                .min(usize::try_from(self.watches).unwrap_or(usize::MAX))
        }
    }

    /// The nodes watched: every watching session watches a prefix of these.
    pub fn watched_nodes(&self) -> u64 {
        match self.active_watch_sessions() {
            0 => 0,
            sessions => self.watches.div_ceil(sessions as u64),
        }
    }

    /// How many watches watching session `index` sets (they add up to `--watches`).
    pub fn watches_of(&self, index: usize) -> u64 {
        let sessions = self.active_watch_sessions() as u64;
        let index = index as u64;
        if index >= sessions {
            return 0;
        }
        self.watches / sessions + u64::from(index < self.watches % sessions)
    }
}

/// What is held, as printed when everything is in place.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HoldSummary {
    pub servers: Vec<String>,
    /// Idle sessions.
    pub sessions: usize,
    pub watch_sessions: usize,
    pub watches: u64,
    pub watched_nodes: u64,
    pub prefix: String,
    /// Seconds it took to connect and set everything.
    pub setup_s: f64,
}

/// Sessions and watches being held. [`Holder::close`] ends them.
pub struct Holder {
    args: HoldArgs,
    layout: Layout,
    admin: Client,
    idle: Vec<Client>,
    watchers: Vec<Client>,
    summary: HoldSummary,
}

impl Holder {
    /// Connects the sessions and sets the watches; on failure, closes what was opened.
    pub async fn open(args: HoldArgs) -> Result<Holder, BenchError> {
        args.validate()?;
        let started = Instant::now();
        let servers = resolve_servers(&args.server).await?;
        let watch_sessions = args.active_watch_sessions();
        raise_open_file_limit(args.sessions + watch_sessions + 64)?;
        let prefix = args
            .prefix
            .clone()
            .unwrap_or_else(|| format!("/hold-{:08x}", rand::random::<u32>()));
        let layout = Layout::new(prefix);
        let admin = Client::connect(servers[0], args.session_timeout).await?;

        let watched = args.watched_nodes();
        if watched > 0 {
            let mut dirs = with_ancestors(layout.prefix());
            dirs.push(layout.keys_dir());
            dirs.extend((0..Layout::group_count(watched)).map(|g| layout.group(g)));
            let nodes: Vec<String> = (0..watched).map(|k| layout.key(k)).collect();
            let created = async {
                create_nodes(&admin, dirs, &[]).await?;
                create_nodes(&admin, nodes, &[]).await
            };
            if let Err(e) = created.await {
                cleanup(&admin, &layout, &args).await;
                return Err(e);
            }
        }

        let total = args.sessions + watch_sessions;
        let connected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let connects = stream::iter(0..total)
            .map(|i| {
                let addr = servers[i % servers.len()];
                let timeout = args.session_timeout;
                let connected = Arc::clone(&connected);
                async move {
                    let client = Client::connect(addr, timeout).await?;
                    let done = connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if done.is_multiple_of(1000) {
                        eprintln!("hold: {done}/{total} sessions connected");
                    }
                    Ok::<_, ClientError>(client)
                }
            })
            .buffer_unordered(args.connect_concurrency)
            .try_collect::<Vec<Client>>()
            .await;
        let mut idle = match connects {
            Ok(clients) => clients,
            Err(e) => {
                cleanup(&admin, &layout, &args).await;
                return Err(e.into());
            }
        };
        let watchers = idle.split_off(args.sessions);

        let mut holder = Holder {
            summary: HoldSummary {
                servers: servers.iter().map(SocketAddr::to_string).collect(),
                sessions: args.sessions,
                watch_sessions,
                watches: args.watches,
                watched_nodes: watched,
                prefix: layout.prefix().to_string(),
                setup_s: 0.0,
            },
            args,
            layout,
            admin,
            idle,
            watchers,
        };
        if let Err(e) = holder.set_watches().await {
            let _ = holder.close().await;
            return Err(e);
        }
        holder.summary.setup_s = started.elapsed().as_secs_f64();
        Ok(holder)
    }

    async fn set_watches(&self) -> Result<(), BenchError> {
        let layout = &self.layout;
        let sets = self.watchers.iter().enumerate().map(|(i, watcher)| {
            let count = self.args.watches_of(i);
            async move {
                let requests: Vec<u64> = (0..count).collect();
                for chunk in requests.chunks(WATCH_WINDOW) {
                    let pending: Vec<_> = chunk
                        .iter()
                        .map(|&k| watcher.submit(get_data(layout.key(k), true)))
                        .collect::<Result<_, _>>()?;
                    for (k, reply) in chunk.iter().zip(pending) {
                        let reply = reply.await?;
                        if !reply.is_ok() {
                            return Err(BenchError::server(
                                format!("getData(watch) {}", layout.key(*k)),
                                reply.err,
                            ));
                        }
                    }
                }
                Ok::<_, BenchError>(())
            }
        });
        futures::future::try_join_all(sets).await?;
        Ok(())
    }

    pub fn summary(&self) -> &HoldSummary {
        &self.summary
    }

    /// How many held sessions (idle and watching) still have their connection.
    pub fn connected(&self) -> usize {
        self.idle
            .iter()
            .chain(&self.watchers)
            .filter(|c| c.is_connected())
            .count()
    }

    /// Closes every session (closeSession) and deletes the watched nodes unless `--keep`.
    pub async fn close(self) -> Result<(), BenchError> {
        let concurrency = self.args.connect_concurrency;
        stream::iter(self.idle.into_iter().chain(self.watchers))
            .map(|client| async move {
                // A session that cannot be closed cleanly expires on its own.
                let _ = client.close().await;
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<()>>()
            .await;
        let deleted = if self.args.keep || self.summary.watched_nodes == 0 {
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

async fn cleanup(admin: &Client, layout: &Layout, args: &HoldArgs) {
    if !args.keep {
        let _ = delete_tree(admin, layout.prefix()).await;
    }
}

/// Raises the soft limit of open files to at least `needed` (up to the hard limit), so that
/// thousands of sessions fit; an error naming the limit if the hard limit is too low.
pub fn raise_open_file_limit(needed: usize) -> Result<(), BenchError> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Ok(());
    }
    let needed = needed as libc::rlim_t;
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    if limit.rlim_max < needed {
        return Err(BenchError::InvalidArgs(format!(
            "{needed} open files are needed but the hard limit is {} (raise it: ulimit -Hn)",
            limit.rlim_max
        )));
    }
    limit.rlim_cur = needed;
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(BenchError::InvalidArgs(format!(
            "cannot raise the open-file limit to {needed}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// `arbor bench hold`: prints the summary as one JSON line on stdout once everything is in
/// place, holds until SIGINT/SIGTERM or `--hold-for`, closes, and reports lost sessions.
pub async fn run(args: HoldArgs) -> Result<(), BenchError> {
    let hold_for = args.hold_for;
    let holder = Holder::open(args).await?;
    let summary = serde_json::to_string(holder.summary())?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{summary}")?;
        out.flush()?;
    }
    let held = holder.summary.sessions + holder.summary.watch_sessions;
    wait_for_end(hold_for).await;
    let connected = holder.connected();
    eprintln!("hold: closing {held} sessions ({connected} still connected)");
    holder.close().await?;
    if connected < held {
        return Err(BenchError::TaskFailed(format!(
            "{} of {held} held sessions lost their connection",
            held - connected
        )));
    }
    Ok(())
}

async fn wait_for_end(hold_for: Option<Duration>) {
    use tokio::signal::unix::{signal, SignalKind};
    let timer = async {
        match hold_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = timer => {}
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_are_shared_out_exactly() {
        let mut args = HoldArgs::new("x:1");
        args.watches = 1_000_000;
        assert_eq!(args.active_watch_sessions(), 100);
        assert_eq!(args.watched_nodes(), 10_000);
        assert_eq!((0..100).map(|i| args.watches_of(i)).sum::<u64>(), 1_000_000);

        args.watches = 1001;
        args.watch_sessions = 10;
        assert_eq!(args.watched_nodes(), 101);
        assert_eq!(args.watches_of(0), 101);
        assert_eq!(args.watches_of(1), 100);
        assert_eq!((0..10).map(|i| args.watches_of(i)).sum::<u64>(), 1001);
        assert_eq!(args.watches_of(10), 0);

        // Fewer watches than sessions: one watch per session, on one node.
        args.watches = 3;
        assert_eq!(args.active_watch_sessions(), 3);
        assert_eq!(args.watched_nodes(), 1);

        args.watches = 0;
        assert_eq!((args.active_watch_sessions(), args.watched_nodes()), (0, 0));
    }

    #[test]
    fn bad_options_are_refused() {
        let mut args = HoldArgs::new("x:1");
        args.watches = 5;
        args.watch_sessions = 0;
        assert!(args.validate().is_err());
        let mut args = HoldArgs::new("x:1");
        args.prefix = Some("/".into());
        assert!(args.validate().is_err());
        args.prefix = Some("/ok".into());
        args.validate().expect("valid");
    }
}
