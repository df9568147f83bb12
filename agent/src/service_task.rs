//! One task per service: runs its check, and keeps its registry entry in the state the check
//! results ask for, in the current session (re-registering after a session is replaced).
//! When the task's spec channel closes (the service was removed, or the agent stops) the entry
//! is deleted at once.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::checks;
use crate::config::Service;
use crate::health::{Desired, HealthTracker};
use crate::metrics::Metrics;
use crate::registry::{Registrar, Registration};

use arbor_naming::NamingError;

#[derive(Debug, thiserror::Error)]
#[error("registry write timed out")]
struct WriteTimedOut;
use crate::session::{Session, SessionReceiver};

/// How long a final deregistration may take before the agent moves on (the session close
/// deletes the entry anyway).
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(3);
/// A registry write that takes longer (the ensemble is unreachable) is retried later, so the
/// task stays responsive to removal and shutdown.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What this task last wrote, in which session.
struct Written {
    generation: u64,
    entry: Registration,
    registration_time_ms: i64,
}

fn tracker_for(service: &Service) -> HealthTracker {
    match &service.check {
        Some(check) => HealthTracker::checked(check.deregister_after),
        None => HealthTracker::unchecked(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

pub async fn run(
    mut spec: watch::Receiver<Service>,
    mut sessions: SessionReceiver,
    metrics: Arc<Metrics>,
) {
    let mut service = spec.borrow_and_update().clone();
    let mut health = tracker_for(&service);
    let mut written: Option<Written> = None;
    let mut next_check = Instant::now();
    let mut retry_at: Option<Instant> = None;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let session = sessions.borrow_and_update().clone();
        if let Some(session) = &session {
            if retry_at.is_none_or(|at| at <= Instant::now()) {
                let attempt = tokio::time::timeout(
                    WRITE_TIMEOUT,
                    reconcile(&service, health.desired(), session, &mut written, &metrics),
                )
                .await
                .unwrap_or_else(|_| Err(WriteTimedOut.into()));
                match attempt {
                    Ok(()) => {
                        retry_at = None;
                        backoff.reset();
                    }
                    Err(err) => {
                        let delay = backoff.next_delay();
                        tracing::warn!(service = %service.name, id = %service.id, error = %err, retry_in = ?delay, "registry write failed");
                        retry_at = Some(Instant::now() + delay);
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_check.into()), if service.check.is_some() => {
                let check = service.check.as_ref().expect("guarded by the branch condition");
                let result = checks::probe(&check.probe, check.timeout).await;
                let passed = result.is_ok();
                let before = health.desired();
                let after = health.record(passed);
                metrics.checks.with_label_values(&[&service.id, if passed { "pass" } else { "fail" }]).inc();
                match (&result, before != after) {
                    (Err(why), true) => tracing::warn!(service = %service.name, id = %service.id, failures = health.consecutive_failures(), error = %why, now = ?after, "check failing"),
                    (Ok(()), true) => tracing::info!(service = %service.name, id = %service.id, "check passing"),
                    (Err(why), false) => tracing::debug!(service = %service.name, error = %why, "check failed"),
                    (Ok(()), false) => {}
                }
                next_check = Instant::now() + check.interval;
            }
            changed = spec.changed() => {
                if changed.is_err() {
                    break;
                }
                let updated = spec.borrow_and_update().clone();
                if updated.check.is_some() != service.check.is_some() {
                    health = tracker_for(&updated);
                } else if let (Some(old), Some(new)) = (&service.check, &updated.check) {
                    if old != new {
                        // An edited check keeps the entry's state; the new check decides at once.
                        health.set_deregister_after(new.deregister_after);
                        next_check = Instant::now();
                    }
                }
                service = updated;
                retry_at = None;
            }
            changed = sessions.changed() => {
                if changed.is_err() {
                    // The session supervisor is gone: the agent is stopping.
                    break;
                }
                retry_at = None;
            }
            _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now).into()), if retry_at.is_some() => {}
        }
    }
    // Removed or stopping: delete the entry now rather than at session expiry.
    let session = sessions.borrow().clone();
    if let (Some(session), Some(entry)) = (session, written.take()) {
        if entry.generation == session.generation {
            let outcome = tokio::time::timeout(
                DEREGISTER_TIMEOUT,
                session
                    .coord
                    .deregister(&entry.entry.service.name, &entry.entry.service.id),
            )
            .await;
            let ok = matches!(outcome, Ok(Ok(())));
            metrics
                .registry_writes
                .with_label_values(&["deregister", if ok { "ok" } else { "error" }])
                .inc();
            tracing::info!(service = %entry.entry.service.name, id = %entry.entry.service.id, ok, "deregistered");
        }
    }
    let _ = metrics
        .registered
        .remove_label_values(&[&service.name, &service.id]);
}

/// Makes the registry match `desired` in `session`.
async fn reconcile(
    service: &Service,
    desired: Desired,
    session: &Session,
    written: &mut Option<Written>,
    metrics: &Metrics,
) -> Result<(), anyhow::Error> {
    // Entries of an older session are gone (or going) with it.
    if let Some(stale) = written.take_if(|w| w.generation != session.generation) {
        metrics
            .registered
            .with_label_values(&[&stale.entry.service.name, &stale.entry.service.id])
            .set(0);
    }
    let wanted = match desired {
        Desired::Absent => None,
        Desired::Enabled | Desired::Disabled => Some(Registration {
            service: service.clone(),
            up: desired == Desired::Enabled,
        }),
    };
    let coord = &session.coord;
    let count = |op: &str, result: &Result<(), NamingError>| {
        metrics
            .registry_writes
            .with_label_values(&[op, if result.is_ok() { "ok" } else { "error" }])
            .inc();
    };
    match (written.as_ref(), wanted) {
        (None, None) => {}
        (Some(current), Some(wanted)) if current.entry == wanted => {}
        (Some(current), Some(wanted)) if current.entry.same_node(&wanted) => {
            let time = current.registration_time_ms;
            let mut result = coord.update(&wanted, time).await;
            count("update", &result);
            if matches!(result, Err(NamingError::NotFound { .. })) {
                result = coord.register(&wanted, time).await;
                count("register", &result);
            }
            result?;
            tracing::info!(service = %wanted.service.name, id = %wanted.service.id, up = wanted.up, "registry entry updated");
            *written = Some(Written {
                generation: session.generation,
                entry: wanted,
                registration_time_ms: time,
            });
        }
        (current, Some(wanted)) => {
            if let Some(current) = current {
                // Renamed service: the entry moves.
                let result = coord
                    .deregister(&current.entry.service.name, &current.entry.service.id)
                    .await;
                count("deregister", &result);
                result?;
                let _ = metrics
                    .registered
                    .remove_label_values(&[&current.entry.service.name, &current.entry.service.id]);
                *written = None;
            }
            let time = now_ms();
            let result = coord.register(&wanted, time).await;
            count("register", &result);
            result?;
            tracing::info!(service = %wanted.service.name, id = %wanted.service.id, path = %wanted.path(), up = wanted.up, generation = session.generation, "registered");
            metrics
                .registered
                .with_label_values(&[&wanted.service.name, &wanted.service.id])
                .set(1);
            *written = Some(Written {
                generation: session.generation,
                entry: wanted,
                registration_time_ms: time,
            });
        }
        (Some(current), None) => {
            let result = coord
                .deregister(&current.entry.service.name, &current.entry.service.id)
                .await;
            count("deregister", &result);
            result?;
            tracing::info!(service = %current.entry.service.name, id = %current.entry.service.id, "deregistered (check failing)");
            metrics
                .registered
                .with_label_values(&[&current.entry.service.name, &current.entry.service.id])
                .set(0);
            *written = None;
        }
    }
    Ok(())
}
