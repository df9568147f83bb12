//! One task per managed file: follows its config-center document through watches, collapses
//! bursts (quiescence), installs new content atomically, runs the reload command, and keeps
//! the last good content in the cache. At start the cached content is installed first, so a
//! host gets its files even while the ensemble is unreachable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::cache::FileCache;
use crate::command::{self, DEST_ENV};
use crate::config::FileSpec;
use crate::install::{self, InstallError, Installed};
use crate::metrics::Metrics;
use crate::quiescence::Quiescence;
use crate::session::SessionReceiver;
use crate::source::ConfigSource;

/// What a file task needs to know; a change restarts its sync.
#[derive(Clone, Debug, PartialEq)]
pub struct FileJob {
    pub spec: FileSpec,
    pub cache_dir: PathBuf,
}

/// How long a starting file task waits for a session before it falls back to the cache.
const CACHE_GRACE: Duration = Duration::from_secs(1);

/// Retry delay after an I/O failure writing the destination.
const WRITE_RETRY: Duration = Duration::from_secs(5);

struct FileState {
    job: FileJob,
    /// The document's content as last read (`None`: missing or not read yet).
    latest: Option<Vec<u8>>,
    quiescence: Quiescence,
    retry_at: Option<Instant>,
}

pub async fn run(
    mut jobs: watch::Receiver<FileJob>,
    mut sessions: SessionReceiver,
    metrics: Arc<Metrics>,
) {
    let job = jobs.borrow_and_update().clone();
    let mut state = FileState {
        quiescence: Quiescence::new(job.spec.wait),
        job,
        latest: None,
        retry_at: None,
    };
    // Offline start: if no session comes up soon, bring the destination to the last good
    // content (waiting first avoids writing and reloading a stale version just before the
    // current one arrives).
    let connected_soon = tokio::time::timeout(CACHE_GRACE, sessions.wait_for(Option::is_some))
        .await
        .is_ok_and(|waited| waited.is_ok());
    if !connected_soon {
        let cache = FileCache::new(&state.job.cache_dir);
        if let Some(content) = cache.load(&state.job.spec.source, &state.job.spec.dest) {
            tracing::info!(dest = %state.job.spec.dest.display(), "ensemble unreachable; writing the cached content");
            sync(&state.job, &content, &metrics).await;
        }
    }
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    // Reading the document in a new session (or after a job change) is a resync: written at
    // once, no quiescence (nothing to collapse, and the file should be right as soon as possible).
    let mut resync = true;
    'session: loop {
        let session = sessions.borrow_and_update().clone();
        let Some(session) = session else {
            tokio::select! {
                changed = sessions.changed() => {
                    if changed.is_err() { return; }
                    continue 'session;
                }
                changed = jobs.changed() => {
                    if changed.is_err() { return; }
                    state.update_job(jobs.borrow_and_update().clone());
                    continue 'session;
                }
            }
        };
        let generation = session.generation;
        loop {
            // The read waits while the connection is down; stay responsive meanwhile.
            let watched = tokio::select! {
                watched = session.coord.watch_document(&state.job.spec.source) => watched,
                changed = sessions.changed() => {
                    if changed.is_err() { return; }
                    resync = true;
                    continue 'session;
                }
                changed = jobs.changed() => {
                    if changed.is_err() { return; }
                    state.update_job(jobs.borrow_and_update().clone());
                    resync = true;
                    continue 'session;
                }
            };
            let (content, change) = match watched {
                Ok(read) => {
                    backoff.reset();
                    read
                }
                Err(err) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(dest = %state.job.spec.dest.display(), source = %state.job.spec.source, error = %err, retry_in = ?delay, "cannot read the document");
                    tokio::select! {
                            _ = tokio::time::sleep(delay) => continue,
                            changed = sessions.changed() => {
                        if changed.is_err() { return; }
                        resync = true;
                        continue 'session;
                    }
                            changed = jobs.changed() => {
                                if changed.is_err() { return; }
                                state.update_job(jobs.borrow_and_update().clone());
                                resync = true;
                                continue 'session;
                            }
                        }
                }
            };
            match content {
                None => {
                    if resync || state.latest.is_some() {
                        tracing::warn!(dest = %state.job.spec.dest.display(), source = %state.job.spec.source, "document does not exist; leaving the file as it is");
                        metrics
                            .file_syncs
                            .with_label_values(&[
                                &dest_label(&state.job.spec.dest),
                                "missing_source",
                            ])
                            .inc();
                    }
                    state.latest = None;
                }
                Some(content) => {
                    let changed = state.latest.as_ref() != Some(&content);
                    state.latest = Some(content);
                    if resync {
                        state.quiescence = Quiescence::new(state.job.spec.wait);
                        state.install_latest(&metrics).await;
                    } else if changed {
                        state.quiescence.change(Instant::now());
                    }
                }
            }
            resync = false;
            let mut change = change;
            loop {
                let deadline = state.quiescence.deadline();
                tokio::select! {
                    _ = &mut change => break,
                    _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now).into()), if deadline.is_some() => {
                        if state.quiescence.take_due(Instant::now()) {
                            state.install_latest(&metrics).await;
                        }
                    }
                    _ = tokio::time::sleep_until(state.retry_at.unwrap_or_else(Instant::now).into()), if state.retry_at.is_some() => {
                        state.retry_at = None;
                        state.install_latest(&metrics).await;
                    }
                    changed = jobs.changed() => {
                        if changed.is_err() { return; }
                        state.update_job(jobs.borrow_and_update().clone());
                        resync = true;
                        break;
                    }
                    changed = sessions.changed() => {
                        if changed.is_err() {
                            // The session supervisor is gone: the agent is stopping.
                            return;
                        }
                        let same = sessions.borrow().as_ref().map(|s| s.generation) == Some(generation);
                        if !same {
                            resync = true;
                            continue 'session;
                        }
                    }
                }
            }
        }
    }
}

fn dest_label(dest: &Path) -> String {
    dest.to_string_lossy().into_owned()
}

impl FileState {
    fn update_job(&mut self, job: FileJob) {
        if job.spec.source != self.job.spec.source {
            self.latest = None;
        }
        self.quiescence = Quiescence::new(job.spec.wait);
        self.job = job;
    }

    async fn install_latest(&mut self, metrics: &Metrics) {
        let Some(content) = self.latest.clone() else {
            return;
        };
        if !sync(&self.job, &content, metrics).await {
            self.retry_at = Some(Instant::now() + WRITE_RETRY);
        }
    }
}

/// Installs `content` and reloads if the file changed. False if a retry is worthwhile (an I/O
/// failure; a refused check waits for new content instead).
async fn sync(job: &FileJob, content: &[u8], metrics: &Metrics) -> bool {
    let spec = &job.spec;
    let dest = dest_label(&spec.dest);
    let outcome = install::install(spec, content).await;
    let result = match &outcome {
        Ok(Installed::Replaced) => "written",
        Ok(Installed::Unchanged | Installed::ModeChanged) => "unchanged",
        Err(InstallError::CheckFailed { .. }) => "check_failed",
        Err(_) => "error",
    };
    metrics.file_syncs.with_label_values(&[&dest, result]).inc();
    match outcome {
        Ok(installed) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs_f64())
                .unwrap_or(0.0);
            metrics.file_last_sync.with_label_values(&[&dest]).set(now);
            if let Err(err) =
                FileCache::new(&job.cache_dir).store(&spec.source, &spec.dest, content)
            {
                tracing::warn!(dest = %dest, error = %err, "cannot update the cache");
            }
            if installed == Installed::Replaced {
                tracing::info!(dest = %dest, source = %spec.source, bytes = content.len(), "file written");
                if let Some(reload) = &spec.reload {
                    let ran = command::run(
                        &reload.command,
                        reload.timeout,
                        None,
                        &[(DEST_ENV, dest.clone())],
                    )
                    .await;
                    metrics
                        .reloads
                        .with_label_values(&[&dest, ran.outcome.label()])
                        .inc();
                    metrics
                        .reload_exit_status
                        .with_label_values(&[&dest])
                        .set(ran.outcome.status_code());
                    if ran.outcome.success() {
                        tracing::info!(dest = %dest, "reload command succeeded");
                    } else {
                        tracing::error!(dest = %dest, outcome = %ran.outcome, output = %ran.output.trim(), "reload command failed");
                    }
                }
            }
            true
        }
        Err(err @ InstallError::CheckFailed { .. }) => {
            tracing::error!(dest = %dest, source = %spec.source, error = %err, "new content refused; keeping the current file");
            true
        }
        Err(err) => {
            tracing::error!(dest = %dest, error = %err, "cannot write the file; will retry");
            false
        }
    }
}
