//! The Raft log: append-only segment files in `dataLogDir` (openraft `RaftLogStorage` v2).
//!
//! Files:
//! - `log-<first index, 20 digits>.seg`: records as described in [`record`]; a segment is rolled
//!   once it reaches the configured size, and a segment is fsync'd before the next one is
//!   created, so only the last segment can ever have a torn tail;
//! - `raft-state` / `raft-committed`: vote, purge point and commit hint (see [`meta`]), both
//!   replaced atomically and durably (temp file, fsync, rename, fsync dir);
//! - `arbor.lock`: held while the log is open.
//!
//! Memory: the store keeps a location (log id, segment, offset, length; ~56 bytes) for every
//! entry after the purge point, plus a bounded cache of the newest entries ([`cache`]). Entries
//! themselves are not kept, so memory is bounded by the number of unpurged entries, which the
//! snapshot retention keeps to about `snap_count * snap_retain_count`.
//!
//! Durability: `append` writes to the page cache and queues a request with the group-commit
//! [`flusher`], which fdatasyncs once per batch of queued appends. openraft 0.9 waits for each
//! append's `LogFlushed` callback before it processes the next client write, so when the
//! callback waits for the sync, every write costs a whole fsync and nothing can be batched.
//! [`FlushAck`] chooses who waits:
//! - [`FlushAck::AfterSync`]: the callback waits for the sync (required with other voters, whose
//!   acknowledgements count toward commit);
//! - [`FlushAck::BeforeApply`]: the callback completes once the records are written, and the
//!   state machine waits at the [`DurabilityGate`] until they are synced before applying them.
//!   Nothing is applied, visible to readers or acknowledged to a client before it is on disk,
//!   and appends pipeline behind one group fsync. Only valid for a group with a single voter.
//!
//! With `force_sync` off nothing waits for syncs at all (ZooKeeper's `forceSync=no`).
//! Truncation, purge and segment roll sync synchronously: they are rare. Deleted segments are
//! closed on the [`reaper`]'s thread: closing is when the filesystem frees a file, and for a
//! full segment that takes tens of milliseconds.
//!
//! Recovery (`open`) reads every segment. A damaged record at the end of the last segment with
//! nothing valid after it is a torn write: it is cut off with a warning. Any other damage is
//! refused with [`LogError::Corrupt`] naming the file and offset.
//!
//! The storage methods do their (short, buffered) file I/O inline; only fsyncs of appends are
//! moved off the caller.

mod cache;
mod flusher;
mod meta;
mod reaper;
pub(crate) mod record;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader};
use parking_lot::Mutex;

use self::cache::EntryCache;
pub use self::flusher::DurabilityGate;
use self::flusher::{Durable, Flusher, FsyncObserverSlot};
use self::meta::{CommitHintWriter, DurableState};
use self::reaper::Reaper;
use self::record::{RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::error::LogError;
use crate::files::{fsync_dir, read_u32, remove_if_exists, DirLock, LockError};
use crate::observe::DurationObserver;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// Default size at which a segment is rolled (ZooKeeper preallocates 64 MiB log files).
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// When openraft is told that appended entries are flushed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushAck {
    /// After fdatasync. Always correct; one fsync per client write under openraft 0.9.
    AfterSync,
    /// As soon as the entries are written; the state machine must wait at the
    /// [`DurabilityGate`] before applying. Only correct when this node is the only voter.
    BeforeApply,
}

/// How the log store writes.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Roll to a new segment once the current one reaches this many bytes.
    pub segment_size: u64,
    /// fsync appended entries before they count as durable (ZooKeeper's `forceSync`).
    pub force_sync: bool,
    pub flush_ack: FlushAck,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            force_sync: true,
            flush_ack: FlushAck::AfterSync,
        }
    }
}

/// The log store handed to openraft.
pub struct LogStore {
    shared: Arc<Mutex<LogInner>>,
    flusher: Flusher,
    durable: Durable,
    commit_hint: CommitHintWriter,
    options: LogOptions,
    syncs: Arc<AtomicU64>,
    fsync_timing: FsyncObserverSlot,
    committed_index: CommittedIndex,
    _lock: DirLock,
}

/// The newest log index openraft said is committed (`save_committed`: on the leader once a
/// quorum has it, on the others once the leader's commit index reaches them), readable
/// without the log's lock.
#[derive(Clone, Debug, Default)]
pub struct CommittedIndex(Arc<AtomicU64>);

impl CommittedIndex {
    /// `None` before anything was committed.
    pub fn get(&self) -> Option<u64> {
        // Stored as index + 1, so that 0 can mean "none".
        self.0
            .load(std::sync::atomic::Ordering::Relaxed)
            .checked_sub(1)
    }

    fn set(&self, committed: Option<LogId>) {
        let stored = committed.map_or(0, |id| id.index.saturating_add(1));
        self.0.store(stored, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A read handle used by openraft's replication tasks.
#[derive(Clone)]
pub struct LogReader {
    shared: Arc<Mutex<LogInner>>,
}

struct Segment {
    path: PathBuf,
    file: Arc<File>,
    /// Bytes of valid content (header plus complete records).
    len: u64,
}

impl Segment {
    fn is_empty(&self) -> bool {
        self.len <= SEGMENT_HEADER_LEN as u64
    }
}

/// Where one entry is stored.
#[derive(Debug, Clone, Copy)]
struct EntryLoc {
    log_id: LogId,
    /// Key of the segment (its first index).
    segment: u64,
    /// Offset of the record header in the segment.
    offset: u64,
    payload_len: u32,
}

struct LogInner {
    dir: PathBuf,
    /// By first index; the last one is the one appended to.
    segments: BTreeMap<u64, Segment>,
    /// The index of `locs[0]`; when `locs` is empty, the index the next append must have
    /// (or any index, if nothing was ever stored or purged).
    first_index: u64,
    locs: VecDeque<EntryLoc>,
    cache: EntryCache,
    state: DurableState,
    committed: Option<LogId>,
    /// Records are encoded here before one write per segment; kept between appends (up to
    /// `APPEND_BUFFER_KEPT`) so a batch does not regrow it from empty.
    append_buf: Vec<u8>,
    /// Closes deleted segments, which is when the filesystem frees them (see [`reaper`]).
    reaper: Reaper,
}

/// Capacity of `append_buf` kept between appends: a busy leader's batch of ~1000 small txns.
const APPEND_BUFFER_KEPT: usize = 256 * 1024;

fn segment_name(first_index: u64) -> String {
    format!("log-{first_index:020}.seg")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("log-")?.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn log_io(verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageError::from_io_error(ErrorSubject::Logs, verb, e)
}

fn vote_io(verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageError::from_io_error(ErrorSubject::Vote, verb, e)
}

impl LogStore {
    /// Open (or create) the log in `dir`, recovering it as described in the module docs.
    pub fn open(dir: &Path, options: LogOptions) -> Result<LogStore, LogError> {
        fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        let lock = DirLock::acquire(dir).map_err(|e| match e {
            LockError::Held => LogError::Locked {
                dir: dir.to_path_buf(),
            },
            LockError::Io(e) => LogError::io(dir.join("arbor.lock"), e),
        })?;
        let inner = LogInner::recover(dir)?;
        // What a killed process wrote may still be only in the page cache: make the recovered
        // log durable before anything is applied from it.
        if let Some(seg) = inner.segments.values().next_back() {
            seg.file
                .sync_data()
                .map_err(|e| LogError::io(&seg.path, e))?;
        }
        let durable = Durable::new(inner.last_log_id().map(|id| id.index));
        let syncs = Arc::new(AtomicU64::new(0));
        let fsync_timing = FsyncObserverSlot::default();
        let flusher = Flusher::spawn(&durable, Arc::clone(&syncs), Arc::clone(&fsync_timing))
            .map_err(|e| LogError::io(dir, e))?;
        let commit_hint =
            CommitHintWriter::spawn(dir.to_path_buf()).map_err(|e| LogError::io(dir, e))?;
        let committed_index = CommittedIndex::default();
        committed_index.set(inner.committed);
        Ok(LogStore {
            shared: Arc::new(Mutex::new(inner)),
            flusher,
            durable,
            commit_hint,
            options,
            syncs,
            fsync_timing,
            committed_index,
            _lock: lock,
        })
    }

    /// A gate the state machine waits at until entries are durable (see [`FlushAck`]).
    pub fn durability_gate(&self) -> DurabilityGate {
        self.durable.gate()
    }

    /// Reports the duration of every fdatasync of appended entries to `observer`.
    pub fn with_fsync_observer(self, observer: Option<Arc<dyn DurationObserver>>) -> LogStore {
        if let Some(observer) = observer {
            let _ = self.fsync_timing.set(observer);
        }
        self
    }

    /// The committed index as openraft reports it to the store.
    pub fn committed_index(&self) -> CommittedIndex {
        self.committed_index.clone()
    }

    /// Counter of fdatasync calls made by the group-commit flusher.
    pub fn sync_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.syncs)
    }

    /// The last purged log id and the last log id, as openraft sees them.
    pub fn log_state(&self) -> LogState<TypeConfig> {
        self.shared.lock().log_state()
    }
}

impl LogInner {
    fn recover(dir: &Path) -> Result<LogInner, LogError> {
        let state = meta::load_state(dir)?;
        let committed = meta::load_committed(dir);
        let mut inner = LogInner {
            dir: dir.to_path_buf(),
            segments: BTreeMap::new(),
            first_index: state.last_purged.map_or(0, |p| p.index + 1),
            locs: VecDeque::new(),
            cache: EntryCache::default(),
            state,
            committed,
            append_buf: Vec::new(),
            reaper: Reaper::spawn().map_err(|e| LogError::io(dir, e))?,
        };

        let mut keys = Vec::new();
        for dirent in fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
            let dirent = dirent.map_err(|e| LogError::io(dir, e))?;
            if let Some(first) = dirent.file_name().to_str().and_then(parse_segment_name) {
                keys.push(first);
            }
        }
        keys.sort_unstable();

        // The last index seen in any segment, purged or not, for continuity checks.
        let mut prev_index: Option<u64> = None;
        for (i, &key) in keys.iter().enumerate() {
            let is_last = i + 1 == keys.len();
            let segment = inner.recover_segment(key, is_last, &mut prev_index)?;
            inner.segments.insert(key, segment);
        }
        inner
            .drop_purged_segments()
            .map_err(|e| LogError::io(dir, e))?;

        if let (Some(purged), Some(first)) = (inner.state.last_purged, inner.locs.front()) {
            if first.log_id.index != purged.index + 1 {
                let file = inner.segment_path(first.segment);
                return Err(LogError::Corrupt {
                    file,
                    offset: first.offset,
                    reason: format!(
                        "log resumes at index {} but was purged only up to {}",
                        first.log_id.index, purged.index
                    ),
                });
            }
        }
        // Entries that were written but never synced may be gone; the commit hint must not
        // point past the log.
        if inner.committed.map(|c| c.index) > inner.last_log_id().map(|l| l.index) {
            tracing::warn!(
                committed = ?inner.committed,
                last = ?inner.last_log_id(),
                "ignoring commit hint beyond the end of the recovered log"
            );
            inner.committed = None;
        }
        tracing::info!(
            dir = %dir.display(),
            segments = inner.segments.len(),
            entries = inner.locs.len(),
            last_purged = ?inner.state.last_purged.map(|l| l.index),
            "recovered Raft log"
        );
        Ok(inner)
    }

    /// Read one segment, index its records and repair a torn tail.
    fn recover_segment(
        &mut self,
        key: u64,
        is_last: bool,
        prev_index: &mut Option<u64>,
    ) -> Result<Segment, LogError> {
        let path = self.segment_path(key);
        let io_err = |e| LogError::io(&path, e);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err)?;
        let bytes = fs::read(&path).map_err(io_err)?;
        let corrupt = |offset: u64, reason: String| LogError::Corrupt {
            file: path.clone(),
            offset,
            reason,
        };

        if let Err(reason) = record::check_segment_header(&bytes) {
            // A crash while creating the newest segment leaves it short or zero-filled.
            let torn_creation = bytes.len() < SEGMENT_HEADER_LEN || bytes.iter().all(|&b| b == 0);
            if !(is_last && torn_creation) {
                return Err(corrupt(0, reason));
            }
            tracing::warn!(file = %path.display(), "rewriting the header of a torn new segment");
            file.set_len(0).map_err(io_err)?;
            file.write_all_at(&record::segment_header(), 0)
                .map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            return Ok(Segment {
                path: path.clone(),
                file: Arc::new(file),
                len: SEGMENT_HEADER_LEN as u64,
            });
        }

        let (records, damage) = record::scan(&bytes);
        let mut len = bytes.len() as u64;
        if let Some(damage) = damage {
            if !is_last || damage.valid_after {
                return Err(corrupt(damage.offset, damage.reason.to_string()));
            }
            tracing::warn!(
                file = %path.display(),
                offset = damage.offset,
                reason = damage.reason,
                dropped_bytes = len - damage.offset,
                "truncating torn tail of the Raft log"
            );
            file.set_len(damage.offset).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            len = damage.offset;
        }

        for (n, rec) in records.into_iter().enumerate() {
            let index = rec.entry.log_id.index;
            if n == 0 && index != key {
                return Err(corrupt(
                    rec.offset,
                    format!("segment named for index {key} starts at index {index}"),
                ));
            }
            if let Some(prev) = *prev_index {
                if index != prev + 1 {
                    return Err(corrupt(
                        rec.offset,
                        format!("expected index {} but found {index}", prev + 1),
                    ));
                }
            }
            *prev_index = Some(index);
            if self.state.last_purged.is_some_and(|p| index <= p.index) {
                continue;
            }
            if self.locs.is_empty() {
                self.first_index = index;
            }
            self.locs.push_back(EntryLoc {
                log_id: rec.entry.log_id,
                segment: key,
                offset: rec.offset,
                payload_len: rec.payload_len,
            });
            self.cache.push(rec.entry, rec.payload_len as usize);
        }

        Ok(Segment {
            path,
            file: Arc::new(file),
            len,
        })
    }

    fn segment_path(&self, key: u64) -> PathBuf {
        self.dir.join(segment_name(key))
    }

    fn next_index(&self) -> u64 {
        self.first_index + self.locs.len() as u64
    }

    fn last_log_id(&self) -> Option<LogId> {
        self.locs
            .back()
            .map(|l| l.log_id)
            .or(self.state.last_purged)
    }

    fn log_state(&self) -> LogState<TypeConfig> {
        LogState {
            last_purged_log_id: self.state.last_purged,
            last_log_id: self.last_log_id(),
        }
    }

    /// Delete every segment except the last whose entries are all at or before the purge point
    /// (a segment's entries end where the next segment begins).
    fn drop_purged_segments(&mut self) -> io::Result<()> {
        let Some(purged) = self.state.last_purged else {
            return Ok(());
        };
        let keys: Vec<u64> = self.segments.keys().copied().collect();
        let mut removed = false;
        for pair in keys.windows(2) {
            let (key, next_key) = (pair[0], pair[1]);
            if next_key <= purged.index + 1 {
                self.delete_segment(key)?;
                removed = true;
            }
        }
        if removed {
            fsync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Forget segment `key` and unlink its file; the file is closed off this thread.
    /// The directory is not synced here.
    fn delete_segment(&mut self, key: u64) -> io::Result<()> {
        if let Some(seg) = self.segments.remove(&key) {
            let unlinked = remove_if_exists(&seg.path);
            self.reaper.close(seg.file);
            unlinked?;
        }
        Ok(())
    }

    /// Create the segment whose first entry will be `first_index`.
    fn create_segment(&mut self, first_index: u64, sync: bool) -> io::Result<u64> {
        let path = self.segment_path(first_index);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all_at(&record::segment_header(), 0)?;
        if sync {
            file.sync_all()?;
            fsync_dir(&self.dir)?;
        }
        self.segments.insert(
            first_index,
            Segment {
                path,
                file: Arc::new(file),
                len: SEGMENT_HEADER_LEN as u64,
            },
        );
        Ok(first_index)
    }

    /// The segment to append entry `index` to, rolling or creating one as needed.
    fn segment_for_append(&mut self, index: u64, options: &LogOptions) -> io::Result<u64> {
        let Some((&key, seg)) = self.segments.iter().next_back() else {
            return self.create_segment(index, options.force_sync);
        };
        if seg.is_empty() {
            if key == index {
                return Ok(key);
            }
            // An empty segment named for another index (left by a truncation or a crash).
            self.delete_segment(key)?;
            return self.create_segment(index, options.force_sync);
        }
        if seg.len < options.segment_size {
            return Ok(key);
        }
        // Roll: the full segment becomes immutable and must be complete on disk first.
        if options.force_sync {
            seg.file.sync_data()?;
        }
        self.create_segment(index, options.force_sync)
    }

    /// Write `buf` (records of `batch`) at the end of segment `key` and index them.
    fn commit_batch(
        &mut self,
        key: u64,
        buf: &[u8],
        batch: Vec<(Entry, EntryLoc)>,
    ) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let seg = self
            .segments
            .get_mut(&key)
            .ok_or_else(|| io::Error::other("active segment vanished"))?;
        seg.file.write_all_at(buf, seg.len)?;
        seg.len += buf.len() as u64;
        for (entry, loc) in batch {
            if self.locs.is_empty() {
                self.first_index = loc.log_id.index;
            }
            self.locs.push_back(loc);
            self.cache.push(entry, loc.payload_len as usize);
        }
        Ok(())
    }

    fn append(
        &mut self,
        entries: impl Iterator<Item = Entry>,
        options: &LogOptions,
    ) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.append_buf);
        buf.clear();
        let result = self.append_with(entries, options, &mut buf);
        if buf.capacity() <= APPEND_BUFFER_KEPT {
            self.append_buf = buf;
        }
        result
    }

    fn append_with(
        &mut self,
        entries: impl Iterator<Item = Entry>,
        options: &LogOptions,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut batch: Vec<(Entry, EntryLoc)> = Vec::new();
        let mut active: Option<u64> = None;
        let mut expected = (!self.locs.is_empty()).then(|| self.next_index());

        for entry in entries {
            let index = entry.log_id.index;
            if expected.is_some_and(|e| e != index) {
                let e = io::Error::other(format!(
                    "append of index {index} would leave a hole or overlap (next is {expected:?})"
                ));
                return Err(e);
            }
            expected = Some(index + 1);

            let key = match active {
                Some(key) if (self.segment_len(key) + buf.len() as u64) < options.segment_size => {
                    key
                }
                _ => {
                    if let Some(key) = active.take() {
                        self.commit_batch(key, buf, std::mem::take(&mut batch))?;
                        buf.clear();
                    }
                    let key = self.segment_for_append(index, options)?;
                    active = Some(key);
                    key
                }
            };

            let offset = self.segment_len(key) + buf.len() as u64;
            let payload_len = record::encode_record(&entry, buf).map_err(io::Error::other)?;
            let loc = EntryLoc {
                log_id: entry.log_id,
                segment: key,
                offset,
                payload_len,
            };
            batch.push((entry, loc));
        }
        if let Some(key) = active {
            self.commit_batch(key, buf, batch)?;
        }
        Ok(())
    }

    fn segment_len(&self, key: u64) -> u64 {
        self.segments.get(&key).map_or(0, |s| s.len)
    }

    fn active_file(&self) -> Option<Arc<File>> {
        self.segments
            .values()
            .next_back()
            .map(|s| Arc::clone(&s.file))
    }

    /// Remove entries at `index` and after.
    fn truncate(&mut self, index: u64) -> io::Result<()> {
        if index >= self.next_index() {
            return Ok(());
        }
        let pos = index.saturating_sub(self.first_index) as usize;
        let cut = self.locs.get(pos).copied();

        // Newest first, so a crash part-way still leaves a contiguous prefix.
        let doomed: Vec<u64> = self
            .segments
            .range(index..)
            .map(|(&k, _)| k)
            .rev()
            .collect();
        for &key in &doomed {
            self.delete_segment(key)?;
        }
        if !doomed.is_empty() {
            fsync_dir(&self.dir)?;
        }
        if let Some(loc) = cut {
            if let Some(seg) = self.segments.get_mut(&loc.segment) {
                seg.file.set_len(loc.offset)?;
                seg.file.sync_all()?;
                seg.len = loc.offset;
            }
        }
        self.locs.truncate(pos);
        self.cache.truncate_from(index);
        if self.locs.is_empty() && self.state.last_purged.is_none() {
            self.first_index = index;
        }
        Ok(())
    }

    /// Forget entries up to `log_id` (inclusive) and delete the segments wholly before it.
    fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        // Persist the purge point first: after a crash the log must not appear to resume
        // later than the recorded purge point.
        let mut state = self.state.clone();
        state.last_purged = Some(log_id);
        meta::save_state(&self.dir, &state)?;
        self.state = state;

        let n = (log_id.index + 1)
            .saturating_sub(self.first_index)
            .min(self.locs.len() as u64);
        self.locs.drain(..n as usize);
        self.first_index = (log_id.index + 1).max(self.first_index + n);
        self.cache.purge_upto(log_id.index);
        self.drop_purged_segments()
    }

    fn read_entry(&self, index: u64) -> io::Result<Entry> {
        if let Some(entry) = self.cache.get(index) {
            return Ok(entry.clone());
        }
        let read_err = |e: io::Error| io::Error::new(e.kind(), format!("log index {index}: {e}"));
        let pos = index
            .checked_sub(self.first_index)
            .and_then(|p| usize::try_from(p).ok());
        let loc = pos
            .and_then(|p| self.locs.get(p))
            .ok_or_else(|| read_err(io::Error::new(io::ErrorKind::NotFound, "no such entry")))?;
        let seg = self
            .segments
            .get(&loc.segment)
            .ok_or_else(|| read_err(io::Error::other("segment of entry is gone")))?;
        let mut rec = vec![0u8; RECORD_HEADER_LEN + loc.payload_len as usize];
        seg.file
            .read_exact_at(&mut rec, loc.offset)
            .map_err(read_err)?;
        let crc = read_u32(&rec, 4);
        let entry = record::decode_payload(&rec[RECORD_HEADER_LEN..], crc).map_err(|reason| {
            read_err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} at offset {}: {reason}", seg.path.display(), loc.offset),
            ))
        })?;
        if entry.log_id != loc.log_id {
            return Err(read_err(io::Error::new(
                io::ErrorKind::InvalidData,
                "entry on disk does not match its index",
            )));
        }
        Ok(entry)
    }

    fn read_range<RB: RangeBounds<u64>>(&self, range: RB) -> io::Result<Vec<Entry>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(self.first_index);
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        }
        .min(self.next_index());
        (start..end).map(|i| self.read_entry(i)).collect()
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.shared
            .lock()
            .read_range(range)
            .map_err(|e| log_io(ErrorVerb::Read, e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.shared
            .lock()
            .read_range(range)
            .map_err(|e| log_io(ErrorVerb::Read, e))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        Ok(self.shared.lock().log_state())
    }

    async fn get_log_reader(&mut self) -> LogReader {
        LogReader {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut inner = self.shared.lock();
        let mut state = inner.state.clone();
        state.vote = Some(*vote);
        meta::save_state(&inner.dir, &state).map_err(|e| vote_io(ErrorVerb::Write, e))?;
        inner.state = state;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.shared.lock().state.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut inner = self.shared.lock();
        if inner.committed != committed {
            inner.committed = committed;
            self.commit_hint.submit(committed);
            self.committed_index.set(committed);
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.shared.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let (file, upto) = {
            let mut inner = self.shared.lock();
            inner
                .append(entries.into_iter(), &self.options)
                .map_err(|e| log_io(ErrorVerb::Write, e))?;
            (inner.active_file(), inner.last_log_id().map(|id| id.index))
        };
        match (self.options.force_sync, self.options.flush_ack) {
            (false, _) => {
                self.durable.set(upto);
                callback.log_io_completed(Ok(()));
            }
            (true, FlushAck::BeforeApply) => {
                callback.log_io_completed(Ok(()));
                self.flusher.submit(file, None, upto);
            }
            // Even without a file to sync, go through the flusher so callbacks complete in order.
            (true, FlushAck::AfterSync) => self.flusher.submit(file, Some(callback), upto),
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(index = log_id.index, "truncating Raft log");
        self.shared
            .lock()
            .truncate(log_id.index)
            .map_err(|e| log_io(ErrorVerb::Delete, e))?;
        self.durable.forget_from(log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(index = log_id.index, "purging Raft log");
        self.shared
            .lock()
            .purge(log_id)
            .map_err(|e| log_io(ErrorVerb::Delete, e))
    }
}

#[cfg(test)]
mod tests;
