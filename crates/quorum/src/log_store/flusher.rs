//! Group commit: one fdatasync covers every append queued while the previous one ran.
//!
//! `append` writes its records to the segment (page cache) and queues a request here. A
//! dedicated thread takes everything queued, syncs each distinct file once, then completes the
//! requests in queue order: it calls the `LogFlushed` callbacks that wait for the sync and
//! raises the durable watermark ([`DurabilityGate`]). Under load the queue fills while a sync
//! runs, so the number of syncs tracks the disk's latency, not the number of appends.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Instant;

use openraft::storage::LogFlushed;
use tokio::sync::watch;

use crate::observe::DurationObserver;
use crate::types::TypeConfig;

/// Where the flusher reports how long each fdatasync took, once someone asks for it.
pub(crate) type FsyncObserverSlot = Arc<OnceLock<Arc<dyn DurationObserver>>>;

/// The highest log index known to be on disk (`None`: nothing yet), or why syncing failed.
type Watermark = Result<Option<u64>, String>;

/// Lets the state machine wait until entries are durable before applying them.
#[derive(Clone)]
pub struct DurabilityGate {
    rx: watch::Receiver<Watermark>,
}

impl DurabilityGate {
    /// Resolve once the entry at `index` is on disk; fail if the log can no longer be synced.
    pub async fn wait_durable(&mut self, index: u64) -> io::Result<()> {
        let state = self
            .rx
            .wait_for(|w| match w {
                Ok(durable) => durable.is_some_and(|d| d >= index),
                Err(_) => true,
            })
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "log store is closed"))?;
        match &*state {
            Ok(_) => Ok(()),
            Err(msg) => Err(io::Error::other(msg.clone())),
        }
    }
}

/// Owner side of the durable watermark.
pub(crate) struct Durable {
    tx: Arc<watch::Sender<Watermark>>,
}

impl Durable {
    pub(crate) fn new(initial: Option<u64>) -> Durable {
        Durable {
            tx: Arc::new(watch::Sender::new(Ok(initial))),
        }
    }

    pub(crate) fn gate(&self) -> DurabilityGate {
        DurabilityGate {
            rx: self.tx.subscribe(),
        }
    }

    /// Record that everything up to `index` is on disk (or, after a truncation, that nothing
    /// after it is).
    pub(crate) fn set(&self, index: Option<u64>) {
        self.tx.send_modify(|w| {
            if w.is_ok() {
                *w = Ok(index);
            }
        });
    }

    /// After a truncation at `index`: entries from `index` on are not durable (new ones will be
    /// written there).
    pub(crate) fn forget_from(&self, index: u64) {
        self.tx.send_modify(|w| {
            if let Ok(Some(d)) = w {
                if *d >= index {
                    *w = Ok(index.checked_sub(1));
                }
            }
        });
    }

    fn fail(&self, msg: String) {
        self.tx.send_modify(|w| *w = Err(msg));
    }
}

struct FlushRequest {
    /// The segment holding the appended records; `None` when there is nothing to sync but the
    /// request must still complete after the ones queued before it.
    file: Option<Arc<File>>,
    /// Called once the records are on disk, unless the caller was already told.
    callback: Option<LogFlushed<TypeConfig>>,
    /// The last index the request's records hold.
    upto: Option<u64>,
}

/// Handle to the flusher thread; dropping it completes what is queued and joins the thread.
pub(crate) struct Flusher {
    tx: Option<mpsc::Sender<FlushRequest>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Flusher {
    pub(crate) fn spawn(
        durable: &Durable,
        syncs: Arc<AtomicU64>,
        timing: FsyncObserverSlot,
    ) -> io::Result<Flusher> {
        let (tx, rx) = mpsc::channel();
        let watermark = Durable {
            tx: Arc::clone(&durable.tx),
        };
        let thread = thread::Builder::new()
            .name("arbor-log-flush".into())
            .spawn(move || run(rx, watermark, syncs, timing))?;
        Ok(Flusher {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Sync `file`, then complete `callback` (if any) and mark `upto` durable.
    pub(crate) fn submit(
        &self,
        file: Option<Arc<File>>,
        callback: Option<LogFlushed<TypeConfig>>,
        upto: Option<u64>,
    ) {
        let req = FlushRequest {
            file,
            callback,
            upto,
        };
        let unsent = match &self.tx {
            Some(tx) => tx.send(req).err().map(|mpsc::SendError(req)| req),
            None => Some(req),
        };
        if let Some(req) = unsent {
            if let Some(cb) = req.callback {
                cb.log_io_completed(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "log flusher thread is gone",
                )));
            }
        }
    }
}

fn run(
    rx: mpsc::Receiver<FlushRequest>,
    durable: Durable,
    syncs: Arc<AtomicU64>,
    timing: FsyncObserverSlot,
) {
    // After a failed fsync the kernel may have dropped the dirty pages and a later fsync can
    // succeed without them being on disk, so the first failure fails everything after it.
    let mut poisoned: Option<(io::ErrorKind, String)> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());

        if poisoned.is_none() {
            let mut synced: Vec<&Arc<File>> = Vec::new();
            for file in batch.iter().filter_map(|r| r.file.as_ref()) {
                if synced.iter().any(|f| Arc::ptr_eq(f, file)) {
                    continue;
                }
                syncs.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let synced_file = file.sync_data();
                if let Some(observer) = timing.get() {
                    observer.observe(started.elapsed());
                }
                if let Err(e) = synced_file {
                    tracing::error!(error = %e, "fdatasync of the Raft log failed");
                    durable.fail(format!("fdatasync of the Raft log failed: {e}"));
                    poisoned = Some((e.kind(), e.to_string()));
                    break;
                }
                synced.push(file);
            }
        }

        if poisoned.is_none() {
            if let Some(upto) = batch.iter().rev().find_map(|r| r.upto) {
                durable.set(Some(upto));
            }
        }
        for req in batch {
            let Some(callback) = req.callback else {
                continue;
            };
            let result = match &poisoned {
                None => Ok(()),
                Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            };
            callback.log_io_completed(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gate_waits_for_the_watermark() {
        let durable = Durable::new(None);
        let mut gate = durable.gate();
        let syncs = Arc::new(AtomicU64::new(0));
        let flusher = Flusher::spawn(&durable, Arc::clone(&syncs), Default::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(File::create(dir.path().join("f")).unwrap());

        let waiter = tokio::spawn(async move { gate.wait_durable(5).await });
        flusher.submit(Some(Arc::clone(&file)), None, Some(3));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "index 5 is not durable yet");
        flusher.submit(Some(file), None, Some(5));
        waiter.await.unwrap().unwrap();
        assert!(syncs.load(Ordering::Relaxed) >= 1);
    }

    #[tokio::test]
    async fn gate_reports_failure() {
        let durable = Durable::new(Some(1));
        let mut gate = durable.gate();
        gate.wait_durable(1).await.unwrap();
        durable.fail("disk on fire".into());
        let err = gate.wait_durable(2).await.unwrap_err();
        assert!(err.to_string().contains("disk on fire"));
        // A failed log stays failed.
        durable.set(Some(9));
        assert!(gate.wait_durable(2).await.is_err());
    }
}
