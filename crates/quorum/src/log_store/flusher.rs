//! Group commit: one fdatasync covers every append queued while the previous one ran.
//!
//! `append` writes its records to the segment (page cache) and queues its `LogFlushed` callback
//! here. A dedicated thread takes everything queued, syncs each distinct file once, then
//! completes the callbacks in queue order. Under load the queue fills while a sync is running,
//! so the number of syncs tracks the disk's latency, not the number of appends.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use openraft::storage::LogFlushed;

use crate::types::TypeConfig;

struct FlushRequest {
    /// The segment holding the appended records; `None` when there is nothing to sync but the
    /// callback must still complete after the ones queued before it.
    file: Option<Arc<File>>,
    callback: LogFlushed<TypeConfig>,
}

/// Handle to the flusher thread; the thread ends when the handle is dropped.
pub(crate) struct Flusher {
    tx: mpsc::Sender<FlushRequest>,
}

impl Flusher {
    pub(crate) fn spawn(syncs: Arc<AtomicU64>) -> io::Result<Flusher> {
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("arbor-log-flush".into())
            .spawn(move || run(rx, syncs))?;
        Ok(Flusher { tx })
    }

    /// Complete `callback` once `file` (holding the appended records) is synced.
    pub(crate) fn submit(&self, file: Option<Arc<File>>, callback: LogFlushed<TypeConfig>) {
        if let Err(mpsc::SendError(req)) = self.tx.send(FlushRequest { file, callback }) {
            req.callback.log_io_completed(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "log flusher thread is gone",
            )));
        }
    }
}

fn run(rx: mpsc::Receiver<FlushRequest>, syncs: Arc<AtomicU64>) {
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
                if let Err(e) = file.sync_data() {
                    tracing::error!(error = %e, "fdatasync of the Raft log failed");
                    poisoned = Some((e.kind(), e.to_string()));
                    break;
                }
                synced.push(file);
            }
        }

        for req in batch {
            let result = match &poisoned {
                None => Ok(()),
                Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            };
            req.callback.log_io_completed(result);
        }
    }
}
