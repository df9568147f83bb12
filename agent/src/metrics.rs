//! The agent's Prometheus metrics, on a registry of its own.

use prometheus::{
    Encoder, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// 1 while the session is connected to a server.
    pub connected: IntGauge,
    /// Sessions established (a new one after each expiry).
    pub sessions: IntCounter,
    pub connect_failures: IntCounter,
    /// Per service id: 1 while its entry is in the registry.
    pub registered: IntGaugeVec,
    /// Registry writes by operation (`register`, `update`, `deregister`) and result.
    pub registry_writes: IntCounterVec,
    /// Health check results per service id (`pass`, `fail`).
    pub checks: IntCounterVec,
    /// File sync outcomes per dest (`written`, `unchanged`, `check_failed`, `error`, `missing_source`).
    pub file_syncs: IntCounterVec,
    /// Unix time of the last successful sync per dest.
    pub file_last_sync: GaugeVec,
    /// Reload runs per dest and result (`ok`, `failed`, `timeout`, `spawn_error`).
    pub reloads: IntCounterVec,
    /// The last reload's exit status per dest (-1 timeout, -2 could not start).
    pub reload_exit_status: IntGaugeVec,
    /// Configuration reloads (`applied`, `unchanged`, `refused`).
    pub config_reloads: IntCounterVec,
    pub services_managed: IntGauge,
    pub files_managed: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("arbor_agent".into()), None)
            .expect("a constant prefix is valid");
        fn add<M: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            metric: M,
        ) -> M {
            registry
                .register(Box::new(metric.clone()))
                .expect("metric names are unique");
            metric
        }
        let gauge =
            |name: &str, help: &str| add(&registry, IntGauge::new(name, help).expect("valid"));
        let counter =
            |name: &str, help: &str| add(&registry, IntCounter::new(name, help).expect("valid"));
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            add(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid"),
            )
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            add(
                &registry,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("valid"),
            )
        };
        Metrics {
            connected: gauge("connected", "1 while the session is connected to a server"),
            sessions: counter("sessions_total", "Sessions established"),
            connect_failures: counter(
                "connect_failures_total",
                "Failed attempts to establish a session",
            ),
            registered: gauge_vec(
                "service_registered",
                "1 while the service's entry is in the registry",
                &["service", "id"],
            ),
            registry_writes: counter_vec(
                "registry_writes_total",
                "Registry writes",
                &["op", "result"],
            ),
            checks: counter_vec(
                "check_results_total",
                "Health check results",
                &["id", "result"],
            ),
            file_syncs: counter_vec(
                "file_syncs_total",
                "File sync outcomes",
                &["dest", "result"],
            ),
            file_last_sync: add(
                &registry,
                GaugeVec::new(
                    Opts::new(
                        "file_last_sync_timestamp_seconds",
                        "Unix time of the last successful sync",
                    ),
                    &["dest"],
                )
                .expect("valid"),
            ),
            reloads: counter_vec("reloads_total", "Reload command runs", &["dest", "result"]),
            reload_exit_status: gauge_vec(
                "reload_exit_status",
                "Exit status of the last reload (-1 timeout, -2 not started)",
                &["dest"],
            ),
            config_reloads: counter_vec(
                "config_reloads_total",
                "Configuration reloads",
                &["result"],
            ),
            services_managed: gauge("services_managed", "Services in the configuration"),
            files_managed: gauge("files_managed", "Files in the configuration"),
            registry,
        }
    }

    /// Drops a removed file's series.
    pub fn forget_file(&self, dest: &str) {
        let _ = self.file_last_sync.remove_label_values(&[dest]);
        let _ = self.reload_exit_status.remove_label_values(&[dest]);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_the_agent_prefix() {
        let metrics = Metrics::new();
        metrics.connected.set(1);
        metrics
            .file_syncs
            .with_label_values(&["/etc/x", "written"])
            .inc();
        let text = metrics.render();
        assert!(text.contains("arbor_agent_connected 1"), "{text}");
        assert!(
            text.contains(r#"arbor_agent_file_syncs_total{dest="/etc/x",result="written"} 1"#),
            "{text}"
        );
    }
}
