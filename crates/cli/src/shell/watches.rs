//! The one-shot watches (`get -w`, `ls -w`, `stat -w`) a shell has set and not yet seen fire.

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use zookeeper_client::{OneshotWatcher, WatchedEvent};

/// Pending watches, polled by the interactive loop so events print as they arrive.
#[derive(Default)]
pub struct Watches {
    pending: FuturesUnordered<BoxFuture<'static, WatchedEvent>>,
}

impl Watches {
    pub fn add(&mut self, watcher: OneshotWatcher) {
        self.pending.push(watcher.changed().boxed());
    }

    /// Waits for the next event, then takes every other event that has already arrived with it.
    /// Never returns while no watch is pending.
    pub async fn next_batch(&mut self) -> Vec<WatchedEvent> {
        match self.pending.next().await {
            Some(first) => {
                let mut events = vec![first];
                events.extend(self.take_arrived());
                dedupe(events)
            }
            None => std::future::pending().await,
        }
    }

    /// Every event that has already arrived, without waiting.
    ///
    /// The server sends a watch event before the reply to the write that caused it, so after a
    /// command returns, the events it triggered on this session are already here.
    pub fn ready(&mut self) -> Vec<WatchedEvent> {
        dedupe(self.take_arrived())
    }

    fn take_arrived(&mut self) -> Vec<WatchedEvent> {
        let mut events = Vec::new();
        while let Some(Some(event)) = self.pending.next().now_or_never() {
            events.push(event);
        }
        events
    }
}

/// Drops repeated events. The server sends one notification per path and change, but the client
/// library hands it to every local watcher on that path (e.g. both `get -w` and `stat -w`);
/// zkCli's single default watcher shows it once, and so do we.
fn dedupe(events: Vec<WatchedEvent>) -> Vec<WatchedEvent> {
    let mut unique: Vec<WatchedEvent> = Vec::with_capacity(events.len());
    for event in events {
        if !unique.contains(&event) {
            unique.push(event);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use zookeeper_client::{EventType, SessionState};

    use super::*;

    #[test]
    fn dedupe_keeps_first_occurrences_in_order() {
        let data = WatchedEvent::new(EventType::NodeDataChanged, "/a");
        let deleted = WatchedEvent::new(EventType::NodeDeleted, "/a");
        let other = WatchedEvent::new(EventType::NodeDataChanged, "/b");
        let expired = WatchedEvent::new_session(SessionState::Expired);
        let events = vec![
            data.clone(),
            deleted.clone(),
            data.clone(),
            other.clone(),
            expired.clone(),
            expired.clone(),
        ];
        assert_eq!(dedupe(events), [data, deleted, other, expired]);
    }

    #[tokio::test]
    async fn ready_is_empty_without_watches() {
        let mut watches = Watches::default();
        assert!(watches.ready().is_empty());
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(20), watches.next_batch()).await;
        assert!(
            waited.is_err(),
            "next_batch must wait while nothing is pending"
        );
    }
}
