//! The openraft state machine (`RaftStateMachine` v2): delegates entries to the [`Applier`] and
//! keeps snapshots in `dataDir` (format in [`crate::snapshot`]).
//!
//! The application state lives in memory, so durability comes from the log plus snapshots: on
//! open, the newest valid snapshot is restored (a damaged one falls back to the previous one)
//! and openraft replays the log after it.
//!
//! Durability: with a [`DurabilityGate`] each entry is applied only once it is on disk, so
//! applied state (visible to readers, acknowledged to clients, put in snapshots) never includes
//! an entry a crash could lose.
//!
//! zxids: a counter of applied txns (one per txn of each entry's [`crate::types::TxnBatch`];
//! entries without txns do not advance it). It is a pure function of the log, so every replica
//! assigns the same zxids; snapshots store it in the first 8 bytes of their body.
//!
//! Consistency of snapshots: openraft asks for a builder on the state-machine task and then
//! builds in another task while applying continues. `get_snapshot_builder` therefore only fixes
//! the point (the applier's `begin_snapshot`, the zxid and the metadata, all as of
//! `last_applied`); the applier's writer then streams that state into the file on a blocking
//! thread, off the apply path, while later entries are applied. Neither the apply task nor
//! memory holds a whole serialized tree at any time.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use tokio::sync::watch;

use crate::error::SnapshotError;
use crate::log_store::DurabilityGate;
use crate::observe::DurationObserver;
use crate::snapshot;
use crate::thread_priority;
use crate::types::{
    Applier, Entry, LogId, Response, Snapshot, SnapshotMeta, SnapshotWriter, StorageError,
    StoredMembership, TypeConfig,
};

/// Reads the zxid that prefixes a snapshot body.
fn read_zxid(body: &mut impl io::Read) -> io::Result<i64> {
    let mut bytes = [0u8; 8];
    body.read_exact(&mut bytes)?;
    Ok(i64::from_le_bytes(bytes))
}

/// The state machine handed to openraft.
pub struct StateMachine {
    applier: Arc<dyn Applier>,
    dir: PathBuf,
    retain_count: usize,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// The zxid of the last applied txn; published through `applied_zxid` (cheap reads) and
    /// `applied_watch` (waiting for a zxid to be applied here).
    zxid: i64,
    applied_zxid: Arc<AtomicI64>,
    applied_watch: watch::Sender<i64>,
    durability: Option<DurabilityGate>,
    snapshot_timing: Option<Arc<dyn DurationObserver>>,
}

impl StateMachine {
    /// Restore the applier from the newest valid snapshot in `dir`, if any.
    ///
    /// `retain_count` is how many snapshot files to keep after each new one.
    pub fn open(
        dir: &Path,
        applier: Arc<dyn Applier>,
        retain_count: usize,
    ) -> Result<StateMachine, SnapshotError> {
        let io_err = |source| SnapshotError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        snapshot::remove_stale_temp_files(dir).map_err(io_err)?;
        let mut sm = StateMachine {
            applier,
            dir: dir.to_path_buf(),
            retain_count,
            last_applied: None,
            membership: StoredMembership::default(),
            zxid: 0,
            applied_zxid: Arc::new(AtomicI64::new(0)),
            applied_watch: watch::Sender::new(0),
            durability: None,
            snapshot_timing: None,
        };
        for file in snapshot::list(dir).map_err(io_err)? {
            match sm.restore_file(&file.path) {
                Ok(()) => {
                    tracing::info!(file = %file.path.display(), "restored snapshot");
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "skipping unusable snapshot"),
            }
        }
        Ok(sm)
    }

    /// Apply entries only once the log store reports them durable (required with
    /// [`crate::log_store::FlushAck::BeforeApply`]).
    pub fn with_durability_gate(mut self, gate: DurabilityGate) -> StateMachine {
        self.durability = Some(gate);
        self
    }

    /// Reports how long each snapshot took (serializing plus writing the file).
    pub fn with_snapshot_observer(
        mut self,
        observer: Option<Arc<dyn DurationObserver>>,
    ) -> StateMachine {
        self.snapshot_timing = observer;
        self
    }

    fn restore_file(&mut self, path: &Path) -> Result<(), SnapshotError> {
        let (meta, mut body) = snapshot::open(path)?;
        let restore_err = |source| SnapshotError::Restore {
            file: path.to_path_buf(),
            source,
        };
        let zxid = read_zxid(&mut body).map_err(restore_err)?;
        self.applier.restore(&mut body).map_err(restore_err)?;
        self.set_applied_from(&meta, zxid);
        Ok(())
    }

    fn set_applied_from(&mut self, meta: &SnapshotMeta, zxid: i64) {
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.zxid = zxid;
        self.applier.advance(zxid);
        self.publish_applied();
    }

    fn publish_applied(&self) {
        self.applied_zxid.store(self.zxid, Ordering::Release);
        self.applied_watch.send_replace(self.zxid);
    }

    /// Resolves waits on the applied zxid (see [`tokio::sync::watch::Receiver::wait_for`]).
    pub fn applied_watch(&self) -> watch::Receiver<i64> {
        self.applied_watch.subscribe()
    }

    /// The zxid of the last applied entry, updated as entries are applied.
    pub fn applied_zxid(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.applied_zxid)
    }

    /// The last applied log id (after open: the restored snapshot's).
    pub fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }

    fn snapshot_meta(&self) -> SnapshotMeta {
        let (term, index) = self
            .last_applied
            .map_or((0, 0), |id| (id.leader_id.term, id.index));
        SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: format!("{term}-{index}"),
        }
    }
}

fn snapshot_err(meta: Option<&SnapshotMeta>, verb: ErrorVerb, e: impl ToString) -> StorageError {
    let io = io::Error::other(e.to_string());
    StorageError::from_io_error(
        ErrorSubject::Snapshot(meta.map(|m| m.signature())),
        verb,
        io,
    )
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<Response>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        for entry in entries {
            if let Some(gate) = &mut self.durability {
                gate.wait_durable(entry.log_id.index).await.map_err(|e| {
                    StorageError::from_io_error(ErrorSubject::Logs, ErrorVerb::Read, e)
                })?;
            }
            let produced = match &entry.payload {
                EntryPayload::Normal(batch) => batch
                    .txns()
                    .iter()
                    .enumerate()
                    .map(|(i, txn)| {
                        self.zxid += 1;
                        let response = Response {
                            zxid: self.zxid,
                            applied: self.applier.apply(self.zxid, txn),
                        };
                        // Published before the answer: whoever is answered sees its zxid
                        // applied. Entries without txns do not move it, so this is the only
                        // place it changes.
                        self.applied_zxid.store(self.zxid, Ordering::Release);
                        // Its proposer (if on this node) hears now, not after the whole batch.
                        batch.answer(i, &response);
                        response
                    })
                    .collect(),
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    Vec::new()
                }
            };
            self.last_applied = Some(entry.log_id);
            responses.push(produced);
        }
        self.applied_watch.send_replace(self.zxid);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        let started = Instant::now();
        SnapshotBuilder {
            dir: self.dir.clone(),
            retain_count: self.retain_count,
            meta: self.snapshot_meta(),
            zxid: self.zxid,
            writer: Some(Arc::clone(&self.applier).begin_snapshot()),
            started,
            timing: self.snapshot_timing.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let body = snapshot.into_inner();
        let dir = self.dir.clone();
        let meta_owned = meta.clone();
        let path = tokio::task::spawn_blocking(move || {
            let path = snapshot::write(&dir, &meta_owned, &body)?;
            Ok::<_, SnapshotError>((path, body))
        })
        .await
        .map_err(|e| snapshot_err(Some(meta), ErrorVerb::Write, e))?
        .map_err(|e| snapshot_err(Some(meta), ErrorVerb::Write, e));
        let (path, body) = path?;

        let mut input = body.as_slice();
        let zxid =
            read_zxid(&mut input).map_err(|e| snapshot_err(Some(meta), ErrorVerb::Read, e))?;
        self.applier
            .restore(&mut input)
            .map_err(|e| snapshot_err(Some(meta), ErrorVerb::Read, e))?;
        let previous_zxid = self.zxid;
        self.set_applied_from(meta, zxid);
        // Operators (and tests) tell a catch-up by snapshot from log replication by this line,
        // as ZooKeeper's "Getting a snapshot from leader".
        tracing::info!(
            index = meta.last_log_id.map_or(0, |id| id.index),
            zxid = format_args!("0x{zxid:x}"),
            previous_zxid = format_args!("0x{previous_zxid:x}"),
            "installed a snapshot from the leader"
        );
        // The installed snapshot replaces the log and state the older ones were based on.
        snapshot::remove_all_except(&self.dir, &path)
            .map_err(|e| snapshot_err(Some(meta), ErrorVerb::Delete, e))?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let files =
            snapshot::list(&self.dir).map_err(|e| snapshot_err(None, ErrorVerb::Read, e))?;
        for file in files {
            match snapshot::read(&file.path) {
                Ok((meta, body)) => {
                    return Ok(Some(Snapshot {
                        meta,
                        snapshot: Box::new(Cursor::new(body)),
                    }))
                }
                Err(e) => tracing::warn!(error = %e, "skipping unusable snapshot"),
            }
        }
        Ok(None)
    }
}

/// Writes one snapshot file of the state fixed when the builder was made.
pub struct SnapshotBuilder {
    dir: PathBuf,
    retain_count: usize,
    meta: SnapshotMeta,
    /// The zxid of `meta.last_log_id`: the first 8 bytes of the body.
    zxid: i64,
    writer: Option<Box<dyn SnapshotWriter>>,
    /// When the point was fixed, for the snapshot-time observer.
    started: Instant,
    timing: Option<Arc<dyn DurationObserver>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let writer = self.writer.take().ok_or_else(|| {
            snapshot_err(Some(&self.meta), ErrorVerb::Write, "snapshot already built")
        })?;
        let dir = self.dir.clone();
        let meta = self.meta.clone();
        let keep = self.retain_count;
        let zxid = self.zxid;
        let (done, result) = tokio::sync::oneshot::channel();
        // A thread of its own, at a lower CPU priority: a snapshot of a million nodes is half a
        // second of encoding that must not take a core from the requests. It still gets a
        // share when the machine is busy.
        std::thread::Builder::new()
            .name("arbor-snapshot".into())
            .spawn(move || {
                thread_priority::lower_to_background();
                let written = snapshot::write_with(&dir, &meta, |out| {
                    out.write_all(&zxid.to_le_bytes())?;
                    writer.write_to(out)
                })
                .and_then(|path| {
                    tracing::info!(file = %path.display(), "wrote snapshot");
                    snapshot::retain(&dir, keep)
                        .map(drop)
                        .map_err(|source| SnapshotError::Io { path: dir, source })
                });
                let _ = done.send(written);
            })
            .map_err(|e| snapshot_err(Some(&self.meta), ErrorVerb::Write, e))?;
        result
            .await
            .map_err(|e| snapshot_err(Some(&self.meta), ErrorVerb::Write, e))?
            .map_err(|e| snapshot_err(Some(&self.meta), ErrorVerb::Write, e))?;
        if let Some(timing) = &self.timing {
            timing.observe(self.started.elapsed());
        }
        // openraft keeps only the metadata of a built snapshot; followers that need the data
        // get it from `get_current_snapshot`, which reads the file.
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

#[cfg(test)]
mod tests;
