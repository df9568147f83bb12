//! A real Prometheus server (Debian's `prometheus` package) scraping test targets on loopback,
//! and its HTTP query API.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::HarnessError;
use crate::http::http_get;
use crate::ports::free_port;
use crate::process::{kill_and_reap, log_tail};

/// Where Debian's package installs the server.
const DEBIAN_BINARY: &str = "/usr/bin/prometheus";

/// The value of one series in a Prometheus text exposition (what `/metrics` returns), named
/// exactly as it is printed: `arbor_znode_count`, `arbor_naming_instances{service="web"}`.
pub fn exposition_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

/// One sample of an instant-query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// When the value was scraped, in seconds since the Unix epoch.
    pub timestamp: f64,
    pub value: f64,
}

/// A Prometheus server on `127.0.0.1:<free port>` with its own temporary storage. Dropping it
/// kills the process and removes the directory.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
    _dir: TempDir,
}

/// The scrape configuration: one job per `(name, target)`, all scraped at `interval`.
pub fn render_scrape_config(jobs: &[(&str, SocketAddr)], interval: Duration) -> String {
    let seconds = format!("{}ms", interval.as_millis().max(1));
    let mut text = format!(
        "# Written by arbor-test-support\nglobal:\n  scrape_interval: {seconds}\n  scrape_timeout: {seconds}\n  evaluation_interval: {seconds}\nscrape_configs:\n"
    );
    for (job, target) in jobs {
        text.push_str(&format!(
            "  - job_name: {job}\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
        ));
    }
    text
}

/// Percent-encodes a query parameter value (everything but unreserved characters).
fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Prometheus {
    /// The binary: `$PROMETHEUS_BIN`, else Debian's `/usr/bin/prometheus`, if it exists.
    pub fn binary() -> Option<PathBuf> {
        let path = std::env::var_os("PROMETHEUS_BIN")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEBIAN_BINARY));
        path.is_file().then_some(path)
    }

    /// Starts Prometheus scraping `jobs` every `interval` and waits until it is ready.
    pub fn start(
        jobs: &[(&str, SocketAddr)],
        interval: Duration,
    ) -> Result<Prometheus, HarnessError> {
        let binary = Self::binary().ok_or(HarnessError::MissingBinary {
            path: PathBuf::from(DEBIAN_BINARY),
            env_var: "PROMETHEUS_BIN",
        })?;
        let dir = tempfile::Builder::new()
            .prefix("prometheus-test-")
            .tempdir()
            .map_err(HarnessError::io("create a temporary directory"))?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, render_scrape_config(jobs, interval))
            .map_err(HarnessError::io("write prometheus.yml"))?;
        let log_path = dir.path().join("prometheus.log");
        let log = File::create(&log_path).map_err(HarnessError::io("create prometheus.log"))?;
        let log_err = log
            .try_clone()
            .map_err(HarnessError::io("clone prometheus.log handle"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(HarnessError::io(format!("spawn {}", binary.display())))?;
        let mut prometheus = Prometheus {
            child,
            addr,
            log_path,
            _dir: dir,
        };
        prometheus.wait_ready(Duration::from_secs(60))?;
        Ok(prometheus)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(HarnessError::ExitedEarly {
                    what: format!("prometheus on {}", self.addr),
                    status: status.to_string(),
                    log_tail: self.log_tail(),
                });
            }
            if http_get(self.addr, "/-/ready").is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    what: format!("prometheus on {} (/-/ready)", self.addr),
                    seconds: timeout.as_secs(),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs an instant query (`/api/v1/query`) and returns its vector samples.
    pub fn query(&self, expr: &str) -> Result<Vec<Sample>, HarnessError> {
        let target = format!("/api/v1/query?query={}", encode_component(expr));
        let response = http_get(self.addr, &target)?;
        let bad = |detail: String| HarnessError::BadResponse {
            what: format!("prometheus query {expr:?}"),
            detail,
        };
        let body: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| bad(format!("{e}: {}", response.text())))?;
        if response.status != 200 || body["status"] != "success" {
            return Err(bad(format!("status {}: {body}", response.status)));
        }
        let results = body["data"]["result"]
            .as_array()
            .ok_or_else(|| bad(format!("no vector result: {body}")))?;
        results
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                let timestamp = r["value"][0].as_f64();
                let value = r["value"][1].as_str().and_then(|v| v.parse().ok());
                match (timestamp, value) {
                    (Some(timestamp), Some(value)) => Ok(Sample {
                        labels,
                        timestamp,
                        value,
                    }),
                    _ => Err(bad(format!("malformed sample {r}"))),
                }
            })
            .collect()
    }

    /// The single value of `expr`, if the query returns exactly one sample.
    pub fn query_value(&self, expr: &str) -> Result<Option<f64>, HarnessError> {
        let samples = self.query(expr)?;
        Ok(match samples.as_slice() {
            [one] => Some(one.value),
            _ => None,
        })
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_values_are_found_by_their_whole_series_name() {
        let text = "# HELP a_total x\n# TYPE a_total counter\na_total 3\n\
                    b{service=\"web\"} 2\nb{service=\"web-2\"} 5\na_total_more 9\n";
        assert_eq!(exposition_value(text, "a_total"), Some(3.0));
        assert_eq!(exposition_value(text, "b{service=\"web\"}"), Some(2.0));
        assert_eq!(exposition_value(text, "b{service=\"web-2\"}"), Some(5.0));
        assert_eq!(exposition_value(text, "b"), None);
        assert_eq!(exposition_value(text, "c"), None);
    }

    #[test]
    fn scrape_config_lists_each_job() {
        let text = render_scrape_config(
            &[("arbor", "127.0.0.1:9000".parse().unwrap())],
            Duration::from_millis(500),
        );
        assert!(text.contains("scrape_interval: 500ms"), "{text}");
        assert!(text.contains("- job_name: arbor\n"), "{text}");
        assert!(text.contains("- targets: ['127.0.0.1:9000']"), "{text}");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_component("sum(x{op=\"a b\"})"),
            "sum%28x%7Bop%3D%22a%20b%22%7D%29"
        );
    }
}
