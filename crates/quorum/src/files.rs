//! Small file helpers: atomic replacement, directory fsync, checksummed small files, and an
//! exclusive directory lock.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Make a directory's entries (creations, renames, deletions) durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replace `path` with `bytes` atomically: readers (and a crash) see either the old or the new
/// content. With `durable` the new content and the rename are fsync'd before returning.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = parent_dir(path);
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
    }
    fs::rename(&tmp, path)?;
    if durable {
        fsync_dir(&dir)?;
    }
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Delete a file, treating "already gone" as success.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A small file framed as `[magic 8][crc32 of payload u32 LE][payload len u32 LE][payload]`.
pub(crate) fn seal(magic: &[u8; 8], payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(16 + payload.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of a file written by [`seal`], or why it is not valid.
pub(crate) fn unseal<'a>(magic: &[u8; 8], bytes: &'a [u8]) -> Result<&'a [u8], &'static str> {
    if bytes.len() < 16 {
        return Err("file shorter than its header");
    }
    if &bytes[..8] != magic {
        return Err("bad magic");
    }
    let crc = read_u32(bytes, 8);
    let len = read_u32(bytes, 12) as usize;
    let payload = bytes.get(16..).unwrap_or_default();
    if payload.len() != len {
        return Err("length mismatch");
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch");
    }
    Ok(payload)
}

/// Little-endian u32 at `at`; callers check bounds first.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Little-endian u64 at `at`; callers check bounds first.
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// An exclusive advisory lock on `<dir>/arbor.lock`, held until dropped, so two servers never
/// write the same log or snapshots.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

#[derive(Debug)]
pub(crate) enum LockError {
    Held,
    Io(io::Error),
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("arbor.lock"))
            .map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held),
            Err(TryLockError::Error(e)) => Err(LockError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: &[u8; 8] = b"TESTMAGC";

    #[test]
    fn seal_roundtrip_and_damage_detection() {
        let sealed = seal(MAGIC, b"hello");
        assert_eq!(unseal(MAGIC, &sealed), Ok(&b"hello"[..]));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(unseal(MAGIC, &flipped), Err("checksum mismatch"));
        assert_eq!(
            unseal(MAGIC, &sealed[..sealed.len() - 1]),
            Err("length mismatch")
        );
        assert_eq!(unseal(b"OTHERMAG", &sealed), Err("bad magic"));
        assert_eq!(
            unseal(MAGIC, &sealed[..3]),
            Err("file shorter than its header")
        );
    }

    #[test]
    fn write_atomic_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomic(&path, b"one", true).unwrap();
        write_atomic(&path, b"two", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!dir.path().join("state.tmp").exists());
    }

    #[test]
    fn dir_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert!(matches!(DirLock::acquire(dir.path()), Err(LockError::Held)));
        drop(first);
        assert!(DirLock::acquire(dir.path()).is_ok());
    }
}
