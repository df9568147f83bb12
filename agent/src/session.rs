//! Keeping a ZooKeeper session to the ensemble: connect (retrying with backoff, never giving
//! up), publish the session to the tasks, and start a new one when it expires or the target
//! servers change. Within a session the client itself moves between the ensemble's servers.

use std::sync::Arc;
use std::time::Duration;

use arbor_coord::remote::ZkCoord;
use arbor_coord::Coordination;
use tokio::sync::watch;
use zookeeper_client::SessionState;

use crate::backoff::Backoff;
use crate::metrics::Metrics;

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub servers: String,
    pub session_timeout: Duration,
}

/// A live session; `generation` grows with every new session, so tasks can tell that their
/// ephemeral nodes and watches are gone.
#[derive(Clone, Debug)]
pub struct Session {
    pub generation: u64,
    pub coord: Arc<ZkCoord>,
}

pub type SessionReceiver = watch::Receiver<Option<Session>>;

/// Runs until `stop` fires; then drops the session (the client closes it, deleting what is
/// left of this session's ephemerals) and waits briefly for the close to go out.
pub async fn run(
    mut target: watch::Receiver<Target>,
    publish: watch::Sender<Option<Session>>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut generation = 0u64;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        if *stop.borrow() {
            return;
        }
        let current = target.borrow_and_update().clone();
        let connected = tokio::select! {
            connected = ZkCoord::connect(&current.servers, current.session_timeout) => connected,
            _ = target.changed() => continue,
            _ = stop.changed() => return,
        };
        let coord = match connected {
            Ok(coord) => Arc::new(coord),
            Err(err) => {
                metrics.connect_failures.inc();
                let delay = backoff.next_delay();
                tracing::warn!(servers = %current.servers, error = %err, retry_in = ?delay, "cannot reach the ensemble");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = target.changed() => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
        };
        backoff.reset();
        generation += 1;
        metrics.sessions.inc();
        metrics.connected.set(1);
        tracing::info!(servers = %current.servers, session = format_args!("{:#x}", coord.session_id()), generation, "session established");
        let mut states = coord.client().state_watcher();
        let ended = coord.session_ended();
        publish.send_replace(Some(Session {
            generation,
            coord: coord.clone(),
        }));
        let connection_states = {
            let metrics = metrics.clone();
            let mut states = coord.client().state_watcher();
            tokio::spawn(async move {
                loop {
                    let state = states.changed().await;
                    let up = matches!(
                        state,
                        SessionState::SyncConnected | SessionState::ConnectedReadOnly
                    );
                    metrics.connected.set(i64::from(up));
                    if up {
                        tracing::info!("reconnected to the ensemble");
                    } else {
                        tracing::warn!(state = %state, "connection to the ensemble lost");
                    }
                    if state.is_terminated() {
                        return;
                    }
                }
            })
        };
        let stopping = tokio::select! {
            _ = ended => {
                tracing::warn!(generation, "session ended; starting a new one");
                false
            }
            _ = target.changed() => {
                tracing::info!("servers or session timeout changed; starting a new session");
                false
            }
            _ = stop.changed() => true,
        };
        metrics.connected.set(0);
        publish.send_replace(None);
        connection_states.abort();
        drop(coord);
        if stopping {
            // The last handle is gone once the tasks let go of theirs; wait for the close.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while !states.state().is_terminated() {
                    states.changed().await;
                }
            })
            .await;
            return;
        }
    }
}
