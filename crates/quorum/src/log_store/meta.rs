//! Small state kept beside the log: the vote with the purge point, and the committed log id.
//!
//! `raft-state` holds the vote and the last purged log id. It is replaced atomically and
//! durably (temp file, fsync, rename, fsync dir) before `save_vote` returns and before a purge
//! deletes anything, because losing either would break Raft's safety or leave a gap.
//!
//! `raft-committed` holds the committed log id, a hint that lets a restarted node re-apply
//! committed entries before an election. openraft saves it on every commit from its core loop,
//! where even a rename per commit costs more than the whole write path, so [`CommitHintWriter`]
//! replaces the file (atomically and durably) from its own thread, coalescing to the latest
//! value. A missing, stale or damaged copy reads as "unknown", which is always safe (the leader
//! re-establishes the commit point).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::LogError;
use crate::files::{seal, unseal, write_atomic};
use crate::types::{LogId, Vote};

const STATE_FILE: &str = "raft-state";
const COMMITTED_FILE: &str = "raft-committed";
/// How often at most the committed-index hint is rewritten.
const HINT_INTERVAL: Duration = Duration::from_millis(500);
const STATE_MAGIC: &[u8; 8] = b"ARBRSTA1";
const COMMITTED_MAGIC: &[u8; 8] = b"ARBRCMT1";

/// The durable part: vote and purge point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DurableState {
    pub vote: Option<Vote>,
    pub last_purged: Option<LogId>,
}

pub(crate) fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// Read the durable state; a missing file is a fresh log, a damaged one is refused (the vote
/// cannot be guessed).
pub(crate) fn load_state(dir: &Path) -> Result<DurableState, LogError> {
    let path = state_path(dir);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DurableState::default()),
        Err(e) => return Err(LogError::io(path, e)),
    };
    let corrupt = |reason: &str| LogError::CorruptState {
        file: path.clone(),
        reason: reason.to_string(),
    };
    let payload = unseal(STATE_MAGIC, &bytes).map_err(corrupt)?;
    bincode::deserialize(payload).map_err(|_| corrupt("undecodable state"))
}

pub(crate) fn save_state(dir: &Path, state: &DurableState) -> io::Result<()> {
    let payload = bincode::serialize(state).map_err(io::Error::other)?;
    write_atomic(&state_path(dir), &seal(STATE_MAGIC, &payload), true)
}

/// Read the committed hint; anything unreadable is "unknown".
pub(crate) fn load_committed(dir: &Path) -> Option<LogId> {
    let path = dir.join(COMMITTED_FILE);
    let bytes = fs::read(&path).ok()?;
    match unseal(COMMITTED_MAGIC, &bytes)
        .ok()
        .and_then(|p| bincode::deserialize::<Option<LogId>>(p).ok())
    {
        Some(committed) => committed,
        None => {
            tracing::warn!(file = %path.display(), "ignoring damaged committed-index hint");
            None
        }
    }
}

pub(crate) fn save_committed(dir: &Path, committed: Option<LogId>) -> io::Result<()> {
    let payload = bincode::serialize(&committed).map_err(io::Error::other)?;
    write_atomic(
        &dir.join(COMMITTED_FILE),
        &seal(COMMITTED_MAGIC, &payload),
        true,
    )
}

/// Persists the newest committed log id in the background; dropping it writes the last
/// submitted value and waits for the thread.
///
/// `submit` only stores the value in a slot (no channel message, no thread wake-up: it runs on
/// every commit); the thread writes the slot's newest value at most once per `HINT_INTERVAL`,
/// so the hint's fsyncs do not compete with the log's group commit.
pub(crate) struct CommitHintWriter {
    slot: Arc<HintSlot>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct HintSlot {
    /// `Some(value)`: a value not yet written.
    pending: Mutex<Option<Option<LogId>>>,
    stopping: AtomicBool,
    wake: Condvar,
}

impl CommitHintWriter {
    pub(crate) fn spawn(dir: PathBuf) -> io::Result<CommitHintWriter> {
        let slot = Arc::new(HintSlot::default());
        let worker = Arc::clone(&slot);
        let thread = thread::Builder::new()
            .name("arbor-commit-hint".into())
            .spawn(move || loop {
                let (value, stopping) = {
                    let mut pending = worker.pending.lock().unwrap_or_else(|p| p.into_inner());
                    if !worker.stopping.load(Ordering::Acquire) {
                        pending = worker
                            .wake
                            .wait_timeout(pending, HINT_INTERVAL)
                            .map(|(guard, _)| guard)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                    (pending.take(), worker.stopping.load(Ordering::Acquire))
                };
                if let Some(latest) = value {
                    if let Err(e) = save_committed(&dir, latest) {
                        tracing::warn!(error = %e, "could not save the committed-index hint");
                    }
                }
                if stopping {
                    break;
                }
            })?;
        Ok(CommitHintWriter {
            slot,
            thread: Some(thread),
        })
    }

    pub(crate) fn submit(&self, committed: Option<LogId>) {
        *self.slot.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(committed);
    }
}

impl Drop for CommitHintWriter {
    fn drop(&mut self) {
        {
            // Under the lock, so the thread cannot miss the wake-up between its check of
            // `stopping` and its wait.
            let _pending = self.slot.pending.lock().unwrap_or_else(|p| p.into_inner());
            self.slot.stopping.store(true, Ordering::Release);
        }
        self.slot.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    #[test]
    fn state_roundtrip_and_corruption_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_state(dir.path()).unwrap(), DurableState::default());
        let state = DurableState {
            vote: Some(Vote::new_committed(3, 7)),
            last_purged: Some(LogId::new(CommittedLeaderId::new(2, 7), 40)),
        };
        save_state(dir.path(), &state).unwrap();
        assert_eq!(load_state(dir.path()).unwrap(), state);

        let path = state_path(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert!(matches!(
            load_state(dir.path()),
            Err(LogError::CorruptState { .. })
        ));
    }

    #[test]
    fn commit_hint_writer_persists_the_latest_value() {
        let dir = tempfile::tempdir().unwrap();
        let writer = CommitHintWriter::spawn(dir.path().to_path_buf()).unwrap();
        for i in 1..=50 {
            writer.submit(Some(LogId::new(CommittedLeaderId::new(1, 1), i)));
        }
        drop(writer);
        assert_eq!(
            load_committed(dir.path()),
            Some(LogId::new(CommittedLeaderId::new(1, 1), 50))
        );
    }

    #[test]
    fn committed_hint_roundtrip_and_damage_reads_as_unknown() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_committed(dir.path()), None);
        let id = LogId::new(CommittedLeaderId::new(1, 1), 9);
        save_committed(dir.path(), Some(id)).unwrap();
        assert_eq!(load_committed(dir.path()), Some(id));
        fs::write(dir.path().join(COMMITTED_FILE), b"garbage").unwrap();
        assert_eq!(load_committed(dir.path()), None);
    }
}
