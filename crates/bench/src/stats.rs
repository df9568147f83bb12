//! Per-driver recording (latency histogram, operation and error counts) and the merged report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use arbor_proto::ErrorCode;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::args::Workload;
use crate::error::ClientError;

/// Latencies are recorded in microseconds, from 1 µs to 60 s (longer ones saturate), with
/// three significant digits.
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;
const HISTOGRAM_SIGFIG: u8 = 3;

/// Which part of the run an operation was issued in. Operations count toward the phase they
/// were issued in, even when they complete after it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmup,
    Measure,
}

/// How one operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A named error: a ZooKeeper code (`NONODE`) or a client-side failure (`CONNECTIONLOSS`).
    Error(String),
}

impl Outcome {
    /// The outcome of a reply header's error code.
    pub fn from_code(code: i32) -> Outcome {
        if code == ErrorCode::Ok.code() {
            Outcome::Ok
        } else {
            Outcome::Error(error_name(code))
        }
    }

    pub fn from_client_error(error: &ClientError) -> Outcome {
        Outcome::Error(client_error_name(error).to_string())
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// ZooKeeper's name for an error code, as `KeeperException.Code` spells it (`NONODE`,
/// `NODEEXISTS`, ...); unknown codes as `ERROR(<code>)`.
pub fn error_name(code: i32) -> String {
    match ErrorCode::from_code(code) {
        Some(ErrorCode::Throttled) => "THROTTLEDOP".to_string(),
        Some(known) => format!("{known:?}").to_uppercase(),
        None => format!("ERROR({code})"),
    }
}

/// The name under which a connection-level failure is counted.
pub fn client_error_name(error: &ClientError) -> &'static str {
    match error {
        ClientError::Connect { .. } | ClientError::ConnectTimeout { .. } => "CONNECT_FAILED",
        ClientError::SessionRefused { .. } => "SESSION_REFUSED",
        ClientError::Timeout { .. } => "TIMEOUT",
        _ => "CONNECTIONLOSS",
    }
}

/// What one driver (session) saw. Drivers record without sharing anything; the run merges
/// their recorders at the end.
#[derive(Debug, Clone)]
pub struct Recorder {
    latency_micros: Histogram<u64>,
    ops: u64,
    warmup_ops: u64,
    errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            latency_micros: Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, HISTOGRAM_SIGFIG)
                .expect("constant histogram bounds are valid"),
            ops: 0,
            warmup_ops: 0,
            errors: BTreeMap::new(),
        }
    }

    /// Records one completed operation. Warm-up operations are only counted.
    pub fn record(&mut self, phase: Phase, latency: Duration, outcome: Outcome) {
        match phase {
            Phase::Warmup => self.warmup_ops += 1,
            Phase::Measure => {
                self.ops += 1;
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.latency_micros.saturating_record(micros.max(1));
                if let Outcome::Error(name) = outcome {
                    *self.errors.entry(name).or_default() += 1;
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        // Both histograms have the same bounds, so adding cannot fail; saturate regardless.
        if self.latency_micros.add(&other.latency_micros).is_err() {
            for value in other.latency_micros.iter_recorded() {
                self.latency_micros
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
        self.ops += other.ops;
        self.warmup_ops += other.warmup_ops;
        for (name, count) in &other.errors {
            *self.errors.entry(name.clone()).or_default() += count;
        }
    }

    pub fn ops(&self) -> u64 {
        self.ops
    }

    pub fn warmup_ops(&self) -> u64 {
        self.warmup_ops
    }

    fn latency(&self) -> Latency {
        let h = &self.latency_micros;
        let ms = |micros: u64| micros as f64 / 1000.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

/// The result of a run, printed as a table or JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: Workload,
    pub servers: Vec<String>,
    pub sessions: usize,
    pub outstanding: usize,
    pub value_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_pct: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_ops: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watchers: Option<usize>,
    /// Operations issued while measuring (all of them completed).
    pub ops: u64,
    /// Of those, the ones that failed.
    pub errors: u64,
    /// From the end of the warm-up until the last measured operation completed.
    pub elapsed_s: f64,
    pub ops_per_sec: f64,
    pub warmup_ops: u64,
    pub latency_ms: Latency,
    /// Failed operations by error name (`NONODE`, `CONNECTIONLOSS`, ...).
    pub error_counts: BTreeMap<String, u64>,
}

/// The parameters a report repeats; filled in by the runner.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub workload: Workload,
    pub servers: Vec<String>,
    pub sessions: usize,
    pub outstanding: usize,
    pub value_size: usize,
    pub keys: Option<u64>,
    pub read_pct: Option<u8>,
    pub multi_ops: Option<usize>,
    pub watchers: Option<usize>,
}

impl Report {
    pub fn new(info: RunInfo, recorder: &Recorder, elapsed: Duration) -> Report {
        let seconds = elapsed.as_secs_f64();
        let ops_per_sec = if seconds > 0.0 {
            recorder.ops as f64 / seconds
        } else {
            0.0
        };
        Report {
            workload: info.workload,
            servers: info.servers,
            sessions: info.sessions,
            outstanding: info.outstanding,
            value_size: info.value_size,
            keys: info.keys,
            read_pct: info.read_pct,
            multi_ops: info.multi_ops,
            watchers: info.watchers,
            ops: recorder.ops,
            errors: recorder.errors.values().sum(),
            elapsed_s: seconds,
            ops_per_sec,
            warmup_ops: recorder.warmup_ops,
            latency_ms: recorder.latency(),
            error_counts: recorder.errors.clone(),
        }
    }

    /// A human-readable table.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let mut setting = format!(
            "{} sessions x {} outstanding, {} B values",
            self.sessions, self.outstanding, self.value_size
        );
        if let Some(keys) = self.keys {
            let _ = write!(setting, ", {keys} keys");
        }
        if let Some(pct) = self.read_pct {
            let _ = write!(setting, ", {pct}% reads");
        }
        if let Some(n) = self.multi_ops {
            let _ = write!(setting, ", {n} ops per multi");
        }
        if let Some(n) = self.watchers {
            let _ = write!(setting, ", {n} watchers");
        }
        let rows: [(&str, String); 11] = [
            ("workload", self.workload.name().to_string()),
            ("servers", self.servers.join(",")),
            ("setting", setting),
            (
                "operations",
                format!("{} in {:.2} s", self.ops, self.elapsed_s),
            ),
            ("throughput", format!("{:.0} ops/s", self.ops_per_sec)),
            ("latency p50", format!("{:.3} ms", self.latency_ms.p50)),
            ("latency p90", format!("{:.3} ms", self.latency_ms.p90)),
            ("latency p99", format!("{:.3} ms", self.latency_ms.p99)),
            ("latency p99.9", format!("{:.3} ms", self.latency_ms.p99_9)),
            ("latency max", format!("{:.3} ms", self.latency_ms.max)),
            ("errors", self.errors_summary()),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "{name:<14} {value}");
        }
        out
    }

    fn errors_summary(&self) -> String {
        if self.error_counts.is_empty() {
            return "0".to_string();
        }
        let parts: Vec<String> = self
            .error_counts
            .iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        format!("{} ({})", self.errors, parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            workload: Workload::Set,
            servers: vec!["127.0.0.1:2181".into()],
            sessions: 2,
            outstanding: 4,
            value_size: 100,
            keys: Some(10),
            read_pct: None,
            multi_ops: None,
            watchers: None,
        }
    }

    #[test]
    fn error_names_follow_zookeeper() {
        assert_eq!(error_name(-101), "NONODE");
        assert_eq!(error_name(-110), "NODEEXISTS");
        assert_eq!(error_name(-4), "CONNECTIONLOSS");
        assert_eq!(error_name(-127), "THROTTLEDOP");
        assert_eq!(error_name(-999), "ERROR(-999)");
        assert_eq!(Outcome::from_code(0), Outcome::Ok);
        assert_eq!(Outcome::from_code(-101), Outcome::Error("NONODE".into()));
        assert_eq!(
            Outcome::from_client_error(&ClientError::ConnectionLost),
            Outcome::Error("CONNECTIONLOSS".into())
        );
    }

    #[test]
    fn warmup_is_counted_apart_and_errors_are_tallied() {
        let mut a = Recorder::new();
        a.record(
            Phase::Warmup,
            Duration::from_secs(5),
            Outcome::Error("NONODE".into()),
        );
        for ms in 1..=100 {
            a.record(Phase::Measure, Duration::from_millis(ms), Outcome::Ok);
        }
        let mut b = Recorder::new();
        b.record(
            Phase::Measure,
            Duration::from_millis(1),
            Outcome::Error("NONODE".into()),
        );
        b.record(
            Phase::Measure,
            Duration::from_millis(1),
            Outcome::Error("NONODE".into()),
        );
        b.record(
            Phase::Measure,
            Duration::from_millis(1),
            Outcome::Error("BADVERSION".into()),
        );
        a.merge(&b);
        assert_eq!((a.ops(), a.warmup_ops()), (103, 1));

        let report = Report::new(info(), &a, Duration::from_secs(2));
        assert_eq!(report.ops, 103);
        assert_eq!(report.errors, 3);
        assert_eq!(report.error_counts["NONODE"], 2);
        assert_eq!(report.error_counts["BADVERSION"], 1);
        assert!((report.ops_per_sec - 51.5).abs() < 1e-9);
        // The 5 s warm-up operation is not in the latencies.
        assert!(
            (report.latency_ms.max - 100.0).abs() < 0.1,
            "{:?}",
            report.latency_ms
        );
        assert!(
            (report.latency_ms.p50 - 49.0).abs() < 1.0,
            "{:?}",
            report.latency_ms
        );
        assert!(report.latency_ms.p90 <= report.latency_ms.p99);

        let table = report.render_table();
        assert!(
            table.contains("51 ops/s") || table.contains("52 ops/s"),
            "{table}"
        );
        assert!(table.contains("3 (BADVERSION 1, NONODE 2)"), "{table}");
    }

    #[test]
    fn json_has_the_documented_fields() {
        let mut recorder = Recorder::new();
        recorder.record(Phase::Measure, Duration::from_micros(1500), Outcome::Ok);
        let report = Report::new(info(), &recorder, Duration::from_secs(1));
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&report).expect("encode")).expect("parse");
        assert_eq!(json["workload"], "set");
        assert_eq!(json["ops"], 1);
        assert_eq!(json["keys"], 10);
        assert!(json.get("watchers").is_none());
        assert!((json["latency_ms"]["p99.9"].as_f64().expect("p99.9") - 1.5).abs() < 0.01);
        assert!(json["error_counts"].as_object().expect("map").is_empty());
    }

    #[test]
    fn an_empty_run_reports_zeroes() {
        let report = Report::new(info(), &Recorder::new(), Duration::ZERO);
        assert_eq!(report.ops_per_sec, 0.0);
        assert_eq!(report.latency_ms, Latency::default());
        assert!(report.render_table().contains("errors         0"));
    }
}
