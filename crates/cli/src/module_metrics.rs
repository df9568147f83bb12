//! The config center's and the naming registry's metrics in the server's Prometheus registry
//! (names in docs/metrics.md).
//!
//! Counters count what goes through this server's config-center API (its [`PushObserver`]).
//! Gauges are read from the tree at scrape time ([`ScrapeHook`]) through the modules' session,
//! cheaply (listings and child counts, no node data: one request per env, app and service) and
//! at most once per [`MIN_REFRESH_INTERVAL`] however many scrapers ask; when the read fails
//! the gauges keep their last values. The counters outlive the API session (a new session
//! after an expiry keeps counting), so they live here, not in the handlers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_config_center::api::{PushObserver, RejectReason};
use arbor_config_center::{ChangeOutcome, ConfigCenter};
use arbor_coord::remote::ZkCoord;
use arbor_naming::Registry;
use arbor_server::metrics::ScrapeHook;
use parking_lot::Mutex;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// Scrapes closer together than this reuse the gauges read for the previous one.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(2);

/// The modules' metrics, registered once per server process.
pub struct ModuleMetrics {
    config_documents: IntGauge,
    config_pushes: IntCounter,
    config_rejected_pushes: IntCounterVec,
    naming_services: IntGauge,
    naming_instances: IntGaugeVec,
    /// The modules of the current API session, which the gauges are read through.
    sources: Mutex<Option<Sources>>,
    /// When the gauges were last read; held across the read, so concurrent scrapes wait for
    /// one read instead of each making their own.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Clone)]
struct Sources {
    config_center: Arc<ConfigCenter<ZkCoord>>,
    registry: Registry<ZkCoord>,
}

impl ModuleMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &prometheus::Registry) -> prometheus::Result<Arc<ModuleMetrics>> {
        let config_documents = IntGauge::new(
            "arbor_config_documents",
            "Config documents in the config center (deleted ones not counted)",
        )?;
        let config_pushes = IntCounter::new(
            "arbor_config_pushes_total",
            "Pushes accepted by this server's config-center API",
        )?;
        let config_rejected_pushes = IntCounterVec::new(
            Opts::new(
                "arbor_config_rejected_pushes_total",
                "Pushes this server's config-center API refused, by reason",
            ),
            &["reason"],
        )?;
        let naming_services =
            IntGauge::new("arbor_naming_services", "Services in the naming registry")?;
        let naming_instances = IntGaugeVec::new(
            Opts::new(
                "arbor_naming_instances",
                "Instance nodes of a service in the naming registry",
            ),
            &["service"],
        )?;
        registry.register(Box::new(config_documents.clone()))?;
        registry.register(Box::new(config_pushes.clone()))?;
        registry.register(Box::new(config_rejected_pushes.clone()))?;
        registry.register(Box::new(naming_services.clone()))?;
        registry.register(Box::new(naming_instances.clone()))?;
        // Every reason's series exists from the start, so rate() and alerts see the first one.
        for reason in RejectReason::ALL {
            config_rejected_pushes.with_label_values(&[reason.label()]);
        }
        Ok(Arc::new(ModuleMetrics {
            config_documents,
            config_pushes,
            config_rejected_pushes,
            naming_services,
            naming_instances,
            sources: Mutex::new(None),
            last_refresh: tokio::sync::Mutex::new(None),
        }))
    }

    /// Reads the gauges through these modules from now on (a new API session's).
    pub fn attach(&self, config_center: Arc<ConfigCenter<ZkCoord>>, registry: Registry<ZkCoord>) {
        *self.sources.lock() = Some(Sources {
            config_center,
            registry,
        });
    }

    async fn refresh(&self) {
        let mut last_refresh = self.last_refresh.lock().await;
        if last_refresh.is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL) {
            return;
        }
        let Some(sources) = self.sources.lock().clone() else {
            return;
        };
        let (documents, instances) = futures::join!(
            sources.config_center.count_documents(),
            sources.registry.instance_counts()
        );
        match documents {
            Ok(documents) => self
                .config_documents
                .set(i64::try_from(documents).unwrap_or(i64::MAX)),
            Err(e) => tracing::debug!("cannot count config documents for metrics: {e}"),
        }
        match instances {
            Ok(instances) => {
                self.naming_services
                    .set(i64::try_from(instances.len()).unwrap_or(i64::MAX));
                // Reset, so a service that is gone loses its series.
                self.naming_instances.reset();
                for (service, count) in instances {
                    self.naming_instances
                        .with_label_values(&[&service])
                        .set(i64::try_from(count).unwrap_or(i64::MAX));
                }
            }
            Err(e) => tracing::debug!("cannot count naming instances for metrics: {e}"),
        }
        *last_refresh = Some(Instant::now());
    }
}

impl PushObserver for ModuleMetrics {
    fn accepted(&self, _outcome: &ChangeOutcome) {
        self.config_pushes.inc();
    }

    fn rejected(&self, reason: RejectReason) {
        self.config_rejected_pushes
            .with_label_values(&[reason.label()])
            .inc();
    }
}

impl ScrapeHook for ModuleMetrics {
    fn before_scrape(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.refresh())
    }
}
