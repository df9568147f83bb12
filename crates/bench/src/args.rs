//! The options of `arbor bench` (clap derive) and their validation.

use std::time::Duration;

use clap::ValueEnum;
use serde::Serialize;

use crate::error::BenchError;

/// What each operation of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Persistent sequential creates, one directory per session.
    Create,
    /// setData on random keys.
    Set,
    /// getData on random keys.
    Get,
    /// exists on random keys.
    Exists,
    /// getChildren on random key groups (100 children each).
    Children,
    /// multi of --multi-ops setData on random keys (one operation per multi).
    Multi,
    /// getData / setData on random keys, --read-pct percent reads.
    Mixed,
    /// Connect, create an ephemeral sequential node, closeSession; one operation per cycle.
    EphemeralChurn,
    /// --watchers sessions watch one node; one operation is a setData and the time until
    /// the last watcher is notified.
    WatchFanout,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Exists => "exists",
            Workload::Children => "children",
            Workload::Multi => "multi",
            Workload::Mixed => "mixed",
            Workload::EphemeralChurn => "ephemeral-churn",
            Workload::WatchFanout => "watch-fanout",
        }
    }

    /// Whether the workload works on the `--keys` nodes (which setup creates).
    pub fn uses_keys(self) -> bool {
        matches!(
            self,
            Workload::Set
                | Workload::Get
                | Workload::Exists
                | Workload::Children
                | Workload::Multi
                | Workload::Mixed
        )
    }
}

/// `arbor bench`: a pipelined load generator for any ZooKeeper-compatible server.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Servers, comma-separated host:port; sessions are spread over them round-robin.
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub server: String,
    #[arg(long, value_enum, default_value_t = Workload::Mixed)]
    pub workload: Workload,
    /// Concurrent sessions (connections).
    #[arg(long, default_value_t = 16)]
    pub sessions: usize,
    /// Requests in flight per session.
    #[arg(long, default_value_t = 32)]
    pub outstanding: usize,
    /// Bytes of data per created or set znode.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Nodes the key workloads (set, get, exists, children, multi, mixed) pick from.
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// How long to measure (after the warm-up), e.g. 10s, 500ms, 2m.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Measure this many operations instead of a duration.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Load before measuring starts; not included in the results.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub warmup: Duration,
    /// Percentage of reads in the mixed workload.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub read_pct: u8,
    /// Operations per multi request.
    #[arg(long, default_value_t = 10)]
    pub multi_ops: usize,
    /// Watching sessions in watch-fanout (mind ZooKeeper's maxClientCnxns, 60 by default).
    #[arg(long, default_value_t = 50)]
    pub watchers: usize,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The subtree the run works in (created, and deleted at the end unless --keep).
    /// Default: /bench-<random>.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Leave the subtree in place at the end.
    #[arg(long)]
    pub keep: bool,
    /// Do not create the key nodes (use a tree left by an earlier --keep run; operations on
    /// missing nodes are counted as NONODE errors).
    #[arg(long)]
    pub no_populate: bool,
    /// Create only keys from this one on: the ones below exist from an earlier --keep run
    /// with the same --prefix (grows a tree step by step).
    #[arg(long, default_value_t = 0)]
    pub populate_from: u64,
    /// Build the subtree (populate the keys) and stop without running the workload; with
    /// --keep, for later --no-populate runs.
    #[arg(long)]
    pub setup_only: bool,
    /// Session timeout to ask for.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub session_timeout: Duration,
}

impl BenchArgs {
    /// The options with their defaults and the given workload, for library callers.
    pub fn new(server: impl Into<String>, workload: Workload) -> BenchArgs {
        BenchArgs {
            server: server.into(),
            workload,
            sessions: 16,
            outstanding: 32,
            value_size: 100,
            keys: 10_000,
            duration: Duration::from_secs(10),
            ops: None,
            warmup: Duration::from_secs(2),
            read_pct: 90,
            multi_ops: 10,
            watchers: 50,
            json: false,
            prefix: None,
            keep: false,
            no_populate: false,
            populate_from: 0,
            setup_only: false,
            session_timeout: Duration::from_secs(30),
        }
    }

    /// Rejects combinations that cannot run.
    pub fn validate(&self) -> Result<(), BenchError> {
        let invalid = |msg: &str| Err(BenchError::InvalidArgs(msg.to_string()));
        if self.sessions == 0 {
            return invalid("--sessions must be at least 1");
        }
        if self.outstanding == 0 {
            return invalid("--outstanding must be at least 1");
        }
        if self.workload.uses_keys() && self.keys == 0 {
            return invalid("--keys must be at least 1");
        }
        if self.multi_ops == 0 {
            return invalid("--multi-ops must be at least 1");
        }
        if self.workload == Workload::WatchFanout && self.watchers == 0 {
            return invalid("--watchers must be at least 1");
        }
        if self.ops == Some(0) {
            return invalid("--ops must be at least 1");
        }
        if self.ops.is_none() && self.duration.is_zero() {
            return invalid("--duration must be above zero");
        }
        if self.setup_only && !self.keep {
            return invalid("--setup-only needs --keep (otherwise the tree is deleted at once)");
        }
        if self.session_timeout < Duration::from_millis(300) {
            return invalid("--session-timeout must be at least 300ms");
        }
        if let Some(prefix) = &self.prefix {
            if prefix == "/" {
                return invalid("--prefix must not be / (the run deletes its prefix)");
            }
            arbor_proto::validate_path(prefix)
                .map_err(|e| BenchError::InvalidArgs(format!("--prefix {prefix:?}: {e}")))?;
        }
        Ok(())
    }
}

/// Parses `10s`, `500ms`, `2m`, `1.5s`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 10s, 500ms, 2m)"))?;
    let seconds_per_unit = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "us" => 0.000_001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(argv: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let args = parse(&[]).expect("parse");
        let defaults = BenchArgs::new("127.0.0.1:2181", Workload::Mixed);
        assert_eq!(format!("{args:?}"), format!("{defaults:?}"));
        assert_eq!(
            (args.sessions, args.outstanding, args.value_size),
            (16, 32, 100)
        );
        assert_eq!(args.warmup, Duration::from_secs(2));
    }

    #[test]
    fn every_option_parses() {
        let args = parse(&[
            "--server",
            "h1:1,h2:2",
            "--workload",
            "watch-fanout",
            "--sessions",
            "4",
            "--outstanding",
            "8",
            "--value-size",
            "10",
            "--keys",
            "50",
            "--duration",
            "3s",
            "--ops",
            "1000",
            "--warmup",
            "0s",
            "--read-pct",
            "75",
            "--multi-ops",
            "3",
            "--watchers",
            "7",
            "--json",
            "--prefix",
            "/p",
            "--keep",
            "--no-populate",
            "--populate-from",
            "20",
            "--setup-only",
            "--session-timeout",
            "10s",
        ])
        .expect("parse");
        assert_eq!(args.workload, Workload::WatchFanout);
        assert_eq!(args.ops, Some(1000));
        assert_eq!(args.read_pct, 75);
        assert_eq!(args.watchers, 7);
        assert!(args.json && args.keep && args.no_populate && args.setup_only);
        assert_eq!(args.populate_from, 20);
        assert_eq!(args.prefix.as_deref(), Some("/p"));
        args.validate().expect("valid");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(parse(&["--read-pct", "101"]).is_err());
        assert!(parse(&["--workload", "delete"]).is_err());
        let mut args = BenchArgs::new("x:1", Workload::Get);
        args.sessions = 0;
        assert!(matches!(args.validate(), Err(BenchError::InvalidArgs(_))));
        let mut args = BenchArgs::new("x:1", Workload::Get);
        args.prefix = Some("/".into());
        assert!(args.validate().is_err());
        args.prefix = Some("no-slash".into());
        assert!(args.validate().is_err());
        args.prefix = Some("/ok".into());
        args.setup_only = true;
        assert!(args.validate().is_err(), "--setup-only without --keep");
        args.keep = true;
        args.validate().expect("--setup-only --keep");
        args.keys = 0;
        assert!(args.validate().is_err());
        // Key count does not matter to the create workload.
        args.workload = Workload::Create;
        args.validate().expect("create ignores --keys");
    }
}
