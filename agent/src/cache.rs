//! The last good content of every managed file, kept in `cache_dir` so a host that starts
//! while the ensemble is unreachable still gets its files.
//!
//! One file per (source, dest) pair, named by a SHA-1 of both: the content is only reused for
//! the same document going to the same place. Entries are written atomically.

use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::config::SourceSpec;
use crate::install::{write_atomically, InstallError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCache {
    dir: PathBuf,
}

impl FileCache {
    pub fn new(cache_dir: &Path) -> FileCache {
        FileCache {
            dir: cache_dir.join("files"),
        }
    }

    pub fn entry_path(&self, source: &SourceSpec, dest: &Path) -> PathBuf {
        let mut hasher = Sha1::new();
        hasher.update(source.to_string().as_bytes());
        hasher.update([0]);
        hasher.update(dest.as_os_str().as_encoded_bytes());
        let digest = hasher.finalize();
        let name: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        self.dir.join(name)
    }

    pub fn load(&self, source: &SourceSpec, dest: &Path) -> Option<Vec<u8>> {
        std::fs::read(self.entry_path(source, dest)).ok()
    }

    /// Stores `content` unless the entry already has it.
    pub fn store(
        &self,
        source: &SourceSpec,
        dest: &Path,
        content: &[u8],
    ) -> Result<(), InstallError> {
        if self.load(source, dest).as_deref() == Some(content) {
            return Ok(());
        }
        write_atomically(&self.entry_path(source, dest), content, 0o600)
    }
    /// Deletes the entries of files no longer managed (`keep` are the current ones), so the
    /// cache does not grow with every file ever configured. Returns how many went.
    pub fn prune<'a>(&self, keep: impl IntoIterator<Item = (&'a SourceSpec, &'a Path)>) -> usize {
        let keep: std::collections::BTreeSet<PathBuf> = keep
            .into_iter()
            .map(|(source, dest)| self.entry_path(source, dest))
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            // Only finished entries (40 hex digits); temp files belong to a write in progress.
            let is_entry = name.len() == 40
                && name
                    .to_string_lossy()
                    .chars()
                    .all(|c| c.is_ascii_hexdigit());
            if is_entry && !keep.contains(&path) && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str) -> SourceSpec {
        SourceSpec::parse("prod", "web", name).unwrap()
    }

    #[test]
    fn entries_are_per_source_and_dest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path());
        let dest = Path::new("/etc/web/app.yaml");
        assert_eq!(cache.load(&source("a.yaml"), dest), None);
        cache.store(&source("a.yaml"), dest, b"one").unwrap();
        cache.store(&source("a.yaml"), dest, b"two").unwrap();
        assert_eq!(
            cache.load(&source("a.yaml"), dest).as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(cache.load(&source("b.yaml"), dest), None);
        assert_eq!(cache.load(&source("a.yaml"), Path::new("/etc/other")), None);
        assert_ne!(
            cache.entry_path(&source("a.yaml"), dest),
            cache.entry_path(&source("b.yaml"), dest)
        );
    }

    #[test]
    fn prune_keeps_current_entries_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::new(dir.path());
        let (kept, gone) = (source("a.yaml"), source("b.yaml"));
        let dest = Path::new("/etc/x");
        cache.store(&kept, dest, b"a").unwrap();
        cache.store(&gone, dest, b"b").unwrap();
        std::fs::write(dir.path().join("files/.in-progress.tmp"), b"x").unwrap();
        assert_eq!(cache.prune([(&kept, dest)]), 1);
        assert_eq!(cache.load(&kept, dest).as_deref(), Some(&b"a"[..]));
        assert_eq!(cache.load(&gone, dest), None);
        assert!(dir.path().join("files/.in-progress.tmp").exists());
    }
}
