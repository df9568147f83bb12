//! `arbor`: the server and its command-line tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// mimalloc: the write path allocates and frees small buffers on several threads; glibc's
/// malloc spent ~15% of server CPU there and fragmented across per-thread arenas.
///
/// Built with the crate's `no_thp` feature (Cargo.toml): mimalloc otherwise asks for
/// transparent huge pages on its arena (`madvise(MADV_HUGEPAGE)`, honoured by the common
/// `madvise` THP setting), so every touched 2 MiB region became resident in full and purges
/// could not return partly used ones. An idle server held 14.5 MiB of anonymous memory instead
/// of 2; one with a million 100-byte znodes 244 MiB instead of 215. Throughput did not move
/// measurably (alternating runs with `MIMALLOC_ALLOW_THP=0`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "arbor",
    version,
    about = "A ZooKeeper-compatible configuration center and service registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a server. Without --config: standalone, clientPort 2181, dataDir ./arbor-data.
    Server(ServerArgs),
    /// A zkCli.sh-like shell (interactive, or one command when given).
    Shell(arbor_cli::shell::ShellArgs),
    /// Benchmark a ZooKeeper-compatible server (Arbor or Apache ZooKeeper).
    Bench(arbor_bench::BenchCli),
    /// Versioned configuration: push, get, history, diff, rollback, watch, export/import.
    Config(arbor_cli::config_cmd::ConfigArgs),
    /// Service registry (Curator layout): list, get, watch, register, deregister.
    Naming(arbor_cli::naming_cmd::NamingArgs),
    /// Ensemble status and membership changes.
    Cluster(arbor_cli::cluster::ClusterArgs),
}

#[derive(clap::Args, Debug)]
struct ServerArgs {
    /// A ZooKeeper zoo.cfg (key=value) or a YAML file with the same keys.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARBOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => arbor_server::ServerConfig::load(path)
            .with_context(|| format!("cannot load configuration {}", path.display()))?,
        None => arbor_server::ServerConfig::default(),
    };
    for key in &config.ignored_keys {
        tracing::info!("configuration key {key:?} is not used by Arbor; ignored");
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    // Read before the server starts, so a missing or bad authFile stops the start.
    let config_center_credential = config
        .config_center_credential()
        .context("cannot read the config center's credential")?;
    spawn_memory_release();
    let server = arbor_server::Server::start(config)
        .await
        .context("cannot start the server")?;
    tracing::info!("serving ZooKeeper clients on {}", server.local_addr());
    let server = std::sync::Arc::new(server);
    // With admin.enableServer=false there is nowhere to serve the module APIs, so no session
    // for them either. Otherwise /api/ answers 503 "starting", not 404, until they are mounted.
    let apis = server.admin_addr().is_some().then(|| {
        server.expect_api();
        tokio::spawn(mount_module_apis(server.clone(), config_center_credential))
    });
    wait_for_shutdown_signal().await;
    if let Some(apis) = apis {
        apis.abort();
        let _ = apis.await;
    }
    let Ok(server) = std::sync::Arc::try_unwrap(server) else {
        anyhow::bail!("the server is still in use at shutdown");
    };
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// How long the module APIs' own session may go unheard before the server expires it.
const API_SESSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Mounts the module HTTP APIs (`arbor_cli::api_mount`) on the admin listener (the caller
/// checks there is one), built on a ZooKeeper session to this server's own client port so API
/// writes take the client write path. If that session ends (expired, e.g. after a long pause), a new one is made and the
/// handlers are mounted anew on it. With a config-center credential, each new session also
/// gives the config center's existing nodes its ACL (`protect_existing`).
async fn mount_module_apis(
    server: std::sync::Arc<arbor_server::Server>,
    config_center_credential: Option<arbor_coord::DigestCredential>,
) {
    let protected = config_center_credential.is_some();
    let mut options = arbor_cli::api_mount::ModuleOptions {
        config_center_credential,
        push_observer: None,
    };
    let metrics =
        match arbor_cli::module_metrics::ModuleMetrics::register(server.metrics_registry()) {
            Ok(metrics) => {
                server.add_scrape_hook(metrics.clone());
                options.push_observer = Some(metrics.clone());
                Some(metrics)
            }
            Err(e) => {
                tracing::warn!("cannot register the config-center and naming metrics: {e}");
                None
            }
        };
    let mut addr = server.local_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let connect_string = addr.to_string();
    loop {
        match arbor_coord::remote::ZkCoord::connect(&connect_string, API_SESSION_TIMEOUT).await {
            Ok(coord) => {
                match arbor_cli::api_mount::modules(&coord, &options).await {
                    Ok(modules) => {
                        server.mount_api(modules.handlers.clone());
                        if let Some(metrics) = &metrics {
                            metrics.attach(modules.config_center.clone(), modules.registry.clone());
                        }
                        if protected {
                            match modules.protect_existing().await {
                                Ok(outcome) => tracing::info!(
                                    "config center ACLs: {} nodes checked, {} given the \
                                     config center's ACL",
                                    outcome.checked,
                                    outcome.changed
                                ),
                                Err(e) => tracing::warn!(
                                    "config center ACLs: cannot protect the existing nodes: {e}"
                                ),
                            }
                        }
                    }
                    Err(e) => {
                        // A new session next time round (this one is dropped and closed).
                        tracing::warn!("cannot set up the module APIs: {e}");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                }
                coord.session_ended().await;
                tracing::warn!("the module APIs' session ended; reconnecting");
            }
            Err(e) => tracing::warn!("module APIs cannot connect to {connect_string}: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// mimalloc's `mi_option_arena_purge_mult`: position 24 of `mi_option_t` in mimalloc.h, in
/// both the v3 sources libmimalloc-sys builds by default and its v2 sources; the crate names
/// no constant for it.
const MI_OPTION_ARENA_PURGE_MULT: libmimalloc_sys::mi_option_t = 24;

/// Memory given back to mimalloc's arena (grown child lists and hash tables, snapshot and log
/// buffers) is by default purged `purge_delay` (1 s) later, and then only by an allocation or
/// collection that happens to come by: a million-znode load left ~15 MiB of it resident in an
/// idle server. A multiplier of 0 purges it at once instead (rare: only whole arena blocks
/// are returned there). `MIMALLOC_ARENA_PURGE_MULT` in the environment still wins.
fn configure_allocator() {
    if std::env::var_os("MIMALLOC_ARENA_PURGE_MULT").is_none() {
        // SAFETY: sets an integer option; takes no pointers.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_PURGE_MULT, 0) };
    }
}

/// How often each thread hands its freed memory back to the OS. Not more often: purged pages
/// that are needed again come back zero-filled by the kernel (a 5 s period cost ~20% of read
/// throughput under load).
const MEMORY_RELEASE_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

/// Returns freed memory to the OS every `MEMORY_RELEASE_PERIOD`. mimalloc purges a thread's
/// freed pages only while that thread keeps allocating, so a large transient buffer (a
/// snapshot being written or read) would otherwise stay resident in an idle server. This
/// thread's forced collection purges what exited threads left (finished snapshot writers,
/// idle blocking-pool threads) and the arenas; the runtime's workers purge their own pages
/// (`release_worker_memory`).
fn spawn_memory_release() {
    let spawned = std::thread::Builder::new()
        .name("arbor-mem-release".into())
        .spawn(|| loop {
            std::thread::sleep(MEMORY_RELEASE_PERIOD);
            collect_freed_memory();
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the memory release thread: {e}");
    }
}

/// Called whenever a runtime worker runs out of work: at most once per
/// `MEMORY_RELEASE_PERIOD` per worker, purges the pages that worker's heap freed. A collection
/// from another thread cannot reach them; without this a million-znode load kept another
/// 5-8 MiB of freed request and log buffers resident.
fn release_worker_memory() {
    use std::cell::Cell;
    use std::time::Instant;
    thread_local! {
        static LAST_RELEASE: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    let due = LAST_RELEASE.with(|last| match last.get() {
        Some(at) if now.duration_since(at) < MEMORY_RELEASE_PERIOD => false,
        _ => {
            last.set(Some(now));
            true
        }
    });
    if due {
        collect_freed_memory();
    }
}

/// Forced collection: purges the pages the calling thread's heap freed, what exited threads
/// left behind, and the arenas.
fn collect_freed_memory() {
    // SAFETY: mi_collect takes no pointers; it only walks mimalloc's own heaps.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    configure_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(release_worker_memory)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("arbor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Server(args) => {
            init_logging();
            match runtime.block_on(run_server(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("arbor: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bench(args) => match runtime.block_on(arbor_bench::main(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("arbor bench: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Shell(args) => match runtime.block_on(arbor_cli::shell::run(args)) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("arbor shell: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Config(args) => exit_with(
            "arbor config",
            runtime.block_on(arbor_cli::config_cmd::run(args)),
        ),
        Command::Naming(args) => exit_with(
            "arbor naming",
            runtime.block_on(arbor_cli::naming_cmd::run(args)),
        ),
        Command::Cluster(args) => exit_with(
            "arbor cluster",
            runtime.block_on(arbor_cli::cluster::run(args)),
        ),
    }
}

/// A subcommand's exit code, or its error on stderr with exit code 1.
fn exit_with(command: &str, outcome: anyhow::Result<u8>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{command}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
