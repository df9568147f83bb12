//! Snapshot files in `dataDir`: `snapshot-<term>-<index>.snap`.
//!
//! Layout: a 32-byte header — magic `ARBRSNP1`, format version u32, metadata length u32,
//! metadata crc32 u32, body crc32 u32, body length u64 (all little-endian) — then the metadata
//! (bincode `SnapshotMeta`: last log id, membership, id) and the body (the applier's bytes).
//! Files are written to a temp name, fsync'd, renamed and the directory fsync'd, so a visible
//! snapshot file is always complete; damage from elsewhere is caught by the checksums.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::SnapshotError;
use crate::files::{fsync_dir, read_u32, read_u64, remove_if_exists};
use crate::types::SnapshotMeta;

const MAGIC: &[u8; 8] = b"ARBRSNP1";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 32;

/// ZooKeeper's `autopurge.snapRetainCount` default and minimum.
pub const MIN_RETAIN_COUNT: usize = 3;

/// A snapshot file found in the data directory (not yet validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    pub path: PathBuf,
    pub term: u64,
    pub index: u64,
}

fn file_name(term: u64, index: u64) -> String {
    format!("snapshot-{term}-{index}.snap")
}

fn parse_file_name(name: &str) -> Option<(u64, u64)> {
    let middle = name.strip_prefix("snapshot-")?.strip_suffix(".snap")?;
    let (term, index) = middle.split_once('-')?;
    Some((term.parse().ok()?, index.parse().ok()?))
}

/// The (term, index) a snapshot with this metadata is named by.
fn name_key(meta: &SnapshotMeta) -> (u64, u64) {
    meta.last_log_id
        .map_or((0, 0), |id| (id.leader_id.term, id.index))
}

/// Snapshot files in `dir`, newest (highest index, then term) first.
pub fn list(dir: &Path) -> io::Result<Vec<SnapshotFile>> {
    let mut found = Vec::new();
    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        if let Some((term, index)) = name.to_str().and_then(parse_file_name) {
            found.push(SnapshotFile {
                path: dirent.path(),
                term,
                index,
            });
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse((f.index, f.term)));
    Ok(found)
}

/// Write a snapshot file durably; returns its path.
pub fn write(dir: &Path, meta: &SnapshotMeta, body: &[u8]) -> Result<PathBuf, SnapshotError> {
    write_with(dir, meta, |out| out.write_all(body))
}

/// Write a snapshot file durably, its body streamed by `write_body`; returns its path and the
/// body's length. The body never has to be in memory as a whole.
pub fn write_with(
    dir: &Path,
    meta: &SnapshotMeta,
    write_body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<PathBuf, SnapshotError> {
    let (term, index) = name_key(meta);
    let path = dir.join(file_name(term, index));
    let tmp = dir.join(format!("{}.tmp", file_name(term, index)));
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| SnapshotError::Io { path: p, source }
    };
    let meta_bytes = bincode::serialize(meta).map_err(|e| io_err(&tmp)(io::Error::other(e)))?;

    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    let meta_len = u32::try_from(meta_bytes.len())
        .map_err(|_| io_err(&tmp)(io::Error::other("snapshot metadata too large")))?;
    header[12..16].copy_from_slice(&meta_len.to_le_bytes());
    header[16..20].copy_from_slice(&crc32fast::hash(&meta_bytes).to_le_bytes());

    let result = (|| {
        let mut file = File::create(&tmp)?;
        // The body's checksum and length are known only once it is written: they go into the
        // header afterwards, before the file is synced and renamed into place.
        file.write_all(&header)?;
        file.write_all(&meta_bytes)?;
        let (crc, len) = {
            let mut body = ChecksummedWriter {
                inner: BufWriter::with_capacity(1 << 20, &mut file),
                crc: crc32fast::Hasher::new(),
                len: 0,
            };
            write_body(&mut body)?;
            body.inner.flush()?;
            (body.crc.finalize(), body.len)
        };
        header[20..24].copy_from_slice(&crc.to_le_bytes());
        header[24..32].copy_from_slice(&len.to_le_bytes());
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        fsync_dir(dir)
    })();
    if let Err(e) = result {
        let _ = remove_if_exists(&tmp);
        return Err(io_err(&path)(e));
    }
    Ok(path)
}

/// Passes bytes through, keeping their checksum and count.
struct ChecksummedWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for ChecksummedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Read and verify a snapshot file: its metadata and body.
pub fn read(path: &Path) -> Result<(SnapshotMeta, Vec<u8>), SnapshotError> {
    let mut bytes = fs::read(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let corrupt = |reason: &str| SnapshotError::Corrupt {
        file: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if bytes.len() < HEADER_LEN {
        return Err(corrupt("file shorter than its header"));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    if read_u32(&bytes, 8) != VERSION {
        return Err(corrupt("unsupported format version"));
    }
    let meta_len = read_u32(&bytes, 12) as usize;
    let meta_crc = read_u32(&bytes, 16);
    let body_crc = read_u32(&bytes, 20);
    let body_len = read_u64(&bytes, 24);
    let body_start = HEADER_LEN + meta_len;
    if bytes.len() < body_start || (bytes.len() - body_start) as u64 != body_len {
        return Err(corrupt("length mismatch (truncated file?)"));
    }
    let meta_bytes = &bytes[HEADER_LEN..body_start];
    if crc32fast::hash(meta_bytes) != meta_crc {
        return Err(corrupt("metadata checksum mismatch"));
    }
    let meta: SnapshotMeta =
        bincode::deserialize(meta_bytes).map_err(|_| corrupt("undecodable metadata"))?;
    if crc32fast::hash(&bytes[body_start..]) != body_crc {
        return Err(corrupt("body checksum mismatch"));
    }
    let body = bytes.split_off(body_start);
    Ok((meta, body))
}

/// Open and verify a snapshot file without loading its body: returns the metadata and a
/// reader positioned at the body. The body's checksum is verified in a streaming pass first,
/// so restoring a large tree does not need the whole file in memory.
pub fn open(path: &Path) -> Result<(SnapshotMeta, impl Read), SnapshotError> {
    let io_err = |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |reason: &str| SnapshotError::Corrupt {
        file: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let mut header = [0u8; HEADER_LEN];
    if file_len < HEADER_LEN as u64 {
        return Err(corrupt("file shorter than its header"));
    }
    file.read_exact(&mut header).map_err(io_err)?;
    if &header[..8] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    if read_u32(&header, 8) != VERSION {
        return Err(corrupt("unsupported format version"));
    }
    let meta_len = u64::from(read_u32(&header, 12));
    let meta_crc = read_u32(&header, 16);
    let body_crc = read_u32(&header, 20);
    let body_len = read_u64(&header, 24);
    let body_start = HEADER_LEN as u64 + meta_len;
    if file_len < body_start || file_len - body_start != body_len {
        return Err(corrupt("length mismatch (truncated file?)"));
    }
    let mut meta_bytes = vec![0u8; meta_len as usize];
    file.read_exact(&mut meta_bytes).map_err(io_err)?;
    if crc32fast::hash(&meta_bytes) != meta_crc {
        return Err(corrupt("metadata checksum mismatch"));
    }
    let meta: SnapshotMeta =
        bincode::deserialize(&meta_bytes).map_err(|_| corrupt("undecodable metadata"))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut reader = BufReader::with_capacity(1 << 20, (&mut file).take(body_len));
    loop {
        let chunk = reader.fill_buf().map_err(io_err)?;
        if chunk.is_empty() {
            break;
        }
        hasher.update(chunk);
        let n = chunk.len();
        reader.consume(n);
    }
    if hasher.finalize() != body_crc {
        return Err(corrupt("body checksum mismatch"));
    }
    file.seek(SeekFrom::Start(body_start)).map_err(io_err)?;
    Ok((meta, BufReader::with_capacity(1 << 20, file.take(body_len))))
}

/// Delete all but the `keep` newest snapshot files; returns the ones kept, newest first.
pub fn retain(dir: &Path, keep: usize) -> io::Result<Vec<SnapshotFile>> {
    let mut files = list(dir)?;
    let doomed = files.split_off(keep.min(files.len()));
    for file in &doomed {
        tracing::info!(file = %file.path.display(), "removing old snapshot");
        remove_if_exists(&file.path)?;
    }
    if !doomed.is_empty() {
        fsync_dir(dir)?;
    }
    Ok(files)
}

/// Delete every snapshot file except `keep`.
pub fn remove_all_except(dir: &Path, keep: &Path) -> io::Result<()> {
    for file in list(dir)? {
        if file.path != keep {
            remove_if_exists(&file.path)?;
        }
    }
    fsync_dir(dir)
}

/// Delete temp files left by a crash during a snapshot write.
pub fn remove_stale_temp_files(dir: &Path) -> io::Result<()> {
    for dirent in fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let is_temp = name
            .to_str()
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(parse_file_name)
            .is_some();
        if is_temp {
            remove_if_exists(&dirent.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership};
    use std::collections::BTreeSet;

    fn meta(term: u64, index: u64) -> SnapshotMeta {
        let id = LogId::new(CommittedLeaderId::new(term, 1), index);
        let membership = Membership::new(vec![BTreeSet::from([1u64])], None);
        SnapshotMeta {
            last_log_id: Some(id),
            last_membership: StoredMembership::new(Some(id), membership),
            snapshot_id: format!("{term}-{index}"),
        }
    }

    #[test]
    fn write_read_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &meta(2, 10), b"body bytes").unwrap();
        assert_eq!(path.file_name().unwrap(), "snapshot-2-10.snap");
        let (m, body) = read(&path).unwrap();
        assert_eq!(m, meta(2, 10));
        assert_eq!(body, b"body bytes");
    }

    #[test]
    fn damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &meta(1, 5), b"0123456789").unwrap();
        let good = fs::read(&path).unwrap();

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        fs::write(&path, &flipped).unwrap();
        assert!(
            matches!(read(&path), Err(SnapshotError::Corrupt { reason, .. }) if reason.contains("body"))
        );

        fs::write(&path, &good[..good.len() - 3]).unwrap();
        assert!(matches!(read(&path), Err(SnapshotError::Corrupt { .. })));

        let mut bad_meta = good.clone();
        bad_meta[HEADER_LEN] ^= 0xff;
        fs::write(&path, &bad_meta).unwrap();
        assert!(
            matches!(read(&path), Err(SnapshotError::Corrupt { reason, .. }) if reason.contains("metadata"))
        );
    }

    #[test]
    fn list_orders_newest_first_and_retain_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        for (term, index) in [(1, 5), (2, 30), (1, 12), (2, 21)] {
            write(dir.path(), &meta(term, index), b"x").unwrap();
        }
        fs::write(dir.path().join("snapshot-9-99.snap.tmp"), b"partial").unwrap();
        fs::write(dir.path().join("unrelated.txt"), b"x").unwrap();
        let indexes: Vec<u64> = list(dir.path()).unwrap().iter().map(|f| f.index).collect();
        assert_eq!(indexes, vec![30, 21, 12, 5]);

        let kept = retain(dir.path(), 3).unwrap();
        assert_eq!(
            kept.iter().map(|f| f.index).collect::<Vec<_>>(),
            vec![30, 21, 12]
        );
        assert_eq!(list(dir.path()).unwrap(), kept);

        remove_stale_temp_files(dir.path()).unwrap();
        assert!(!dir.path().join("snapshot-9-99.snap.tmp").exists());
        assert!(dir.path().join("unrelated.txt").exists());
    }
}
