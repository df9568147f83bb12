//! The running agent: owns the session supervisor, one task per service and per file, and the
//! HTTP listener, and applies configuration plans to them. Reconfiguration only ever replaces a
//! valid configuration with another valid one; a refused change leaves everything running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{self, AgentConfig, Service};
use crate::file_task::{self, FileJob};
use crate::http::{self, HttpServer};
use crate::metrics::Metrics;
use crate::plan::{self, Plan};
use crate::reconfig::ConfigWatcher;
use crate::service_task;
use crate::session::{self, Session, Target};

/// How long stopping tasks may take in total before they are abandoned.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

struct Task<T> {
    spec: watch::Sender<T>,
    handle: JoinHandle<()>,
}

impl<T> Task<T> {
    /// Closes the task's channel (its signal to finish) and waits for it.
    async fn stop(self) {
        let Task { spec, mut handle } = self;
        drop(spec);
        if tokio::time::timeout(STOP_TIMEOUT, &mut handle)
            .await
            .is_err()
        {
            handle.abort();
        }
    }
}

pub struct Agent {
    config_path: PathBuf,
    config: AgentConfig,
    metrics: Arc<Metrics>,
    target: watch::Sender<Target>,
    sessions: watch::Receiver<Option<Session>>,
    stop_sessions: watch::Sender<bool>,
    session_task: JoinHandle<()>,
    services: BTreeMap<String, Task<Service>>,
    files: BTreeMap<PathBuf, Task<FileJob>>,
    http: Option<HttpServer>,
}

fn target_of(config: &AgentConfig) -> Target {
    Target {
        servers: config.servers.clone(),
        session_timeout: config.session_timeout,
    }
}

impl Agent {
    /// Starts everything `config` describes. Fails only if the HTTP address cannot be bound.
    pub async fn start(config_path: &Path, config: AgentConfig) -> anyhow::Result<Agent> {
        let metrics = Arc::new(Metrics::new());
        let (target, target_rx) = watch::channel(target_of(&config));
        let (publish, sessions) = watch::channel(None);
        let (stop_sessions, stop_rx) = watch::channel(false);
        let session_task = tokio::spawn(session::run(target_rx, publish, metrics.clone(), stop_rx));
        let http = match config.http {
            Some(addr) => Some(
                http::start(addr, metrics.clone())
                    .await
                    .map_err(|err| anyhow::anyhow!("cannot listen on {addr} (http): {err}"))?,
            ),
            None => None,
        };
        if let Some(server) = &http {
            tracing::info!(addr = %server.addr, "serving /metrics and /healthz");
        }
        let mut agent = Agent {
            config_path: config_path.to_path_buf(),
            config: config.clone(),
            metrics,
            target,
            sessions,
            stop_sessions,
            session_task,
            services: BTreeMap::new(),
            files: BTreeMap::new(),
            http,
        };
        let mut first = plan::initial(&config);
        first.reconnect = false;
        first.http_changed = false;
        agent.apply(&first, config).await;
        Ok(agent)
    }

    fn file_job(&self, dest: &Path) -> Option<FileJob> {
        self.config.files.get(dest).map(|spec| FileJob {
            spec: spec.clone(),
            cache_dir: self.config.cache_dir.clone(),
        })
    }

    async fn apply(&mut self, plan: &Plan, config: AgentConfig) {
        self.config = config;
        for id in &plan.services.removed {
            if let Some(task) = self.services.remove(id) {
                tracing::info!(id = %id, "service removed from the configuration");
                task.stop().await;
            }
        }
        for dest in &plan.files.removed {
            if let Some(task) = self.files.remove(dest) {
                tracing::info!(dest = %dest.display(), "file no longer managed (left as it is)");
                task.stop().await;
                self.metrics.forget_file(&dest.to_string_lossy());
            }
        }
        for id in &plan.services.changed {
            if let (Some(task), Some(service)) =
                (self.services.get(id), self.config.services.get(id))
            {
                tracing::info!(id = %id, "service changed");
                task.spec.send_replace(service.clone());
            }
        }
        for id in &plan.services.added {
            if let Some(service) = self.config.services.get(id) {
                tracing::info!(id = %id, service = %service.name, "service added");
                let (spec, spec_rx) = watch::channel(service.clone());
                let handle = tokio::spawn(service_task::run(
                    spec_rx,
                    self.sessions.clone(),
                    self.metrics.clone(),
                ));
                self.services.insert(id.clone(), Task { spec, handle });
            }
        }
        let mut changed_files = plan.files.changed.clone();
        if plan.cache_dir_changed {
            changed_files = self.files.keys().cloned().collect();
        }
        for dest in &changed_files {
            if let (Some(task), Some(job)) = (self.files.get(dest), self.file_job(dest)) {
                task.spec.send_if_modified(|current| {
                    let modified = *current != job;
                    *current = job;
                    modified
                });
            }
        }
        for dest in &plan.files.added {
            if let Some(job) = self.file_job(dest) {
                tracing::info!(dest = %dest.display(), source = %job.spec.source, "file added");
                let (spec, spec_rx) = watch::channel(job);
                let handle = tokio::spawn(file_task::run(
                    spec_rx,
                    self.sessions.clone(),
                    self.metrics.clone(),
                ));
                self.files.insert(dest.clone(), Task { spec, handle });
            }
        }
        if plan.reconnect {
            self.target.send_replace(target_of(&self.config));
        }
        if plan.http_changed {
            // Dropping the old listener first frees its port for the new one.
            self.http = None;
            if let Some(addr) = self.config.http {
                match http::start(addr, self.metrics.clone()).await {
                    Ok(server) => self.http = Some(server),
                    Err(err) => tracing::error!(addr = %addr, error = %err, "cannot listen (http)"),
                }
            }
        }
        if !plan.files.removed.is_empty() || !plan.files.changed.is_empty() {
            let cache = crate::cache::FileCache::new(&self.config.cache_dir);
            let pruned = cache.prune(
                self.config
                    .files
                    .values()
                    .map(|spec| (&spec.source, spec.dest.as_path())),
            );
            if pruned > 0 {
                tracing::info!(
                    entries = pruned,
                    "pruned cache entries of files no longer managed"
                );
            }
        }
        self.metrics
            .services_managed
            .set(self.services.len() as i64);
        self.metrics.files_managed.set(self.files.len() as i64);
    }

    /// Reloads the configuration from disk; a broken one is refused and nothing changes.
    pub async fn reload(&mut self) {
        let loaded = config::load(&self.config_path);
        let new = match loaded {
            Ok(new) => new,
            Err(errors) => {
                self.metrics
                    .config_reloads
                    .with_label_values(&["refused"])
                    .inc();
                tracing::error!(
                    "configuration change refused; the running setup is kept:\n{errors}"
                );
                return;
            }
        };
        if let Some(addr) = new.http.filter(|addr| Some(*addr) != self.config.http) {
            // Check the new address before changing anything, so a busy port refuses the change.
            if let Err(err) = std::net::TcpListener::bind(addr) {
                self.metrics
                    .config_reloads
                    .with_label_values(&["refused"])
                    .inc();
                tracing::error!(addr = %addr, error = %err, "configuration change refused: http address unusable");
                return;
            }
        }
        let plan = plan::plan(&self.config, &new);
        if plan.is_empty() {
            self.metrics
                .config_reloads
                .with_label_values(&["unchanged"])
                .inc();
            self.config = new;
            return;
        }
        tracing::info!(
            services_added = plan.services.added.len(),
            services_changed = plan.services.changed.len(),
            services_removed = plan.services.removed.len(),
            files_added = plan.files.added.len(),
            files_changed = plan.files.changed.len(),
            files_removed = plan.files.removed.len(),
            reconnect = plan.reconnect,
            "applying configuration change"
        );
        self.apply(&plan, new).await;
        self.metrics
            .config_reloads
            .with_label_values(&["applied"])
            .inc();
    }

    /// Graceful stop: every registry entry is deleted now, then the session is closed.
    pub async fn shutdown(self) {
        let Agent {
            services,
            files,
            stop_sessions,
            mut session_task,
            sessions,
            ..
        } = self;
        drop(sessions);
        futures::future::join_all(services.into_values().map(Task::stop)).await;
        futures::future::join_all(files.into_values().map(Task::stop)).await;
        let _ = stop_sessions.send(true);
        if tokio::time::timeout(STOP_TIMEOUT, &mut session_task)
            .await
            .is_err()
        {
            session_task.abort();
        }
    }
}

/// Loads the configuration, starts the agent and runs it until SIGTERM or SIGINT; SIGHUP and
/// edits of agent.yaml or conf.d reload the configuration.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    // Absolute (symlinks kept), so watch events, which carry absolute paths, match it.
    let config_path = &std::path::absolute(config_path)
        .map_err(|err| anyhow::anyhow!("{}: {err}", config_path.display()))?;
    let config = config::load(config_path).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut watcher = ConfigWatcher::start(config_path)
        .map_err(|err| anyhow::anyhow!("cannot watch {}: {err}", config_path.display()))?;
    tracing::info!(
        config = %config_path.display(),
        servers = %config.servers,
        services = config.services.len(),
        files = config.files.len(),
        "arbor-agent starting"
    );
    let mut agent = Agent::start(config_path, config).await?;
    loop {
        tokio::select! {
            _ = watcher.next_change() => agent.reload().await,
            _ = hangup.recv() => agent.reload().await,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("stopping: deregistering services and closing the session");
    agent.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
