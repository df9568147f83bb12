//! `arbor bench`: a pipelined load generator for any ZooKeeper-compatible server (Arbor,
//! Apache ZooKeeper), and the client it is built on.
//!
//! The client ([`client::Client`]) speaks the wire protocol through `arbor-proto` and keeps
//! many requests in flight per connection, which the usual client libraries do not. A run
//! ([`Bench`]) connects its sessions, builds its own subtree under `--prefix`, warms up,
//! measures, and deletes the subtree again; the [`Report`] carries throughput, latency
//! percentiles and errors by code.
//!
//! ```no_run
//! use arbor_bench::{BenchArgs, Workload};
//! # async fn example() -> Result<(), arbor_bench::BenchError> {
//! let mut args = BenchArgs::new("127.0.0.1:2181", Workload::Get);
//! args.ops = Some(10_000);
//! let report = arbor_bench::execute(args).await?;
//! println!("{:.0} ops/s, p99 {:.2} ms", report.ops_per_sec, report.latency_ms.p99);
//! # Ok(()) }
//! ```

pub mod args;
pub mod client;
pub mod error;
pub mod failover;
pub mod four_letter;
pub mod hold;
pub mod progress;
pub mod runner;
pub mod stats;
pub mod tree;
pub mod workload;

use std::io::Write;
use std::sync::atomic::Ordering;

pub use args::{BenchArgs, Workload};
pub use error::{BenchError, ClientError};
pub use failover::{FailoverArgs, FailoverReport};
pub use hold::{HoldArgs, HoldSummary, Holder};
pub use runner::Bench;
pub use stats::{Latency, Report};

/// The whole `arbor bench` command line: a benchmark run (the default), or a subcommand.
#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchCli {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
    #[command(flatten)]
    pub run: BenchArgs,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum BenchCommand {
    /// Kill -9 an ensemble's leader under a steady write load; time until writes succeed again.
    Failover(FailoverArgs),
    /// Open idle sessions and data watches and hold them (for scale measurements).
    Hold(HoldArgs),
}

/// Runs what the command line asks for: a benchmark ([`run`]), `failover` or `hold`.
pub async fn main(cli: BenchCli) -> Result<(), BenchError> {
    match cli.command {
        None => run(cli.run).await,
        Some(BenchCommand::Failover(args)) => failover::run(args).await,
        Some(BenchCommand::Hold(args)) => hold::run(args).await,
    }
}

/// Prepares, runs and cleans up one benchmark; returns the report without printing it.
/// Cleanup runs even when the run fails.
pub async fn execute(args: BenchArgs) -> Result<Report, BenchError> {
    let mut bench = Bench::prepare(args).await?;
    let report = bench.run().await;
    let cleanup = bench.finish().await;
    let report = report?;
    cleanup?;
    Ok(report)
}

/// `arbor bench`: runs the benchmark and prints the report (a table, or JSON with `--json`)
/// to stdout. A first Ctrl-C stops the load and still cleans up; a second one exits at once.
pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let json = args.json;
    if args.setup_only {
        let keys = args.workload.uses_keys().then_some(args.keys);
        let bench = Bench::prepare(args).await?;
        let prefix = bench.layout().prefix().to_string();
        bench.finish().await?;
        let summary = serde_json::json!({ "prefix": prefix, "keys": keys });
        println!("{summary}");
        return Ok(());
    }
    let mut bench = Bench::prepare(args).await?;
    let stop = bench.stop_flag();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.store(true, Ordering::Relaxed);
            eprintln!("\ninterrupted: stopping the load and cleaning up (Ctrl-C again to quit)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let report = bench.run().await;
    let cleanup = bench.finish().await;
    interrupt.abort();
    let report = report?;
    cleanup?;

    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.render_table())?;
    }
    out.flush()?;
    Ok(())
}
