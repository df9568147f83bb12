//! Deciding how a new file content reaches its destination, without touching the disk.

use std::path::{Path, PathBuf};

use crate::config::FileMode;

pub const DEFAULT_MODE: u32 = 0o644;

/// What is at the destination now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    pub content: Vec<u8>,
    pub mode: u32,
}

/// How to replace a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritePlan {
    pub dest: PathBuf,
    /// The temporary file, in the destination's directory so the rename is atomic.
    pub staged: PathBuf,
    /// Where the previous version goes, if one is kept.
    pub backup: Option<PathBuf>,
    pub mode: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Same content (and mode): nothing to do.
    Unchanged,
    /// Same content, different permission bits: chmod only, no reload.
    ChangeMode(u32),
    Write(WritePlan),
}

/// `.<name>.arbor-<unique>.tmp` beside `dest` (hidden, so globbing readers skip it).
pub fn staged_path(dest: &Path, unique: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.arbor-{unique}.tmp"))
}

pub fn backup_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// Compares `content` with what is at `dest` and plans the replacement.
pub fn decide(
    dest: &Path,
    content: &[u8],
    current: Option<&Current>,
    wanted_mode: Option<FileMode>,
    keep_backup: bool,
    unique: &str,
) -> Decision {
    let mode = wanted_mode
        .map(|FileMode(bits)| bits)
        .or(current.map(|current| current.mode))
        .unwrap_or(DEFAULT_MODE);
    if let Some(current) = current {
        if current.content == content {
            return if current.mode == mode {
                Decision::Unchanged
            } else {
                Decision::ChangeMode(mode)
            };
        }
    }
    Decision::Write(WritePlan {
        dest: dest.to_path_buf(),
        staged: staged_path(dest, unique),
        backup: (keep_backup && current.is_some()).then(|| backup_path(dest)),
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current(content: &str, mode: u32) -> Current {
        Current {
            content: content.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn same_content_is_left_alone() {
        let now = current("a=1\n", 0o644);
        assert_eq!(
            decide(
                Path::new("/etc/x.conf"),
                b"a=1\n",
                Some(&now),
                None,
                true,
                "1"
            ),
            Decision::Unchanged
        );
    }

    #[test]
    fn same_content_with_other_mode_is_a_chmod() {
        let now = current("a=1\n", 0o644);
        assert_eq!(
            decide(
                Path::new("/x"),
                b"a=1\n",
                Some(&now),
                Some(FileMode(0o600)),
                false,
                "1"
            ),
            Decision::ChangeMode(0o600)
        );
    }

    #[test]
    fn new_content_is_staged_beside_the_destination() {
        let now = current("a=1\n", 0o640);
        let decision = decide(
            Path::new("/etc/app/x.conf"),
            b"a=2\n",
            Some(&now),
            None,
            true,
            "7-3",
        );
        assert_eq!(
            decision,
            Decision::Write(WritePlan {
                dest: PathBuf::from("/etc/app/x.conf"),
                staged: PathBuf::from("/etc/app/.x.conf.arbor-7-3.tmp"),
                backup: Some(PathBuf::from("/etc/app/x.conf.bak")),
                mode: 0o640,
            })
        );
    }

    #[test]
    fn a_missing_destination_gets_the_default_mode_and_no_backup() {
        let Decision::Write(plan) = decide(Path::new("/x"), b"", None, None, true, "1") else {
            panic!("must write");
        };
        assert_eq!(plan.mode, DEFAULT_MODE);
        assert_eq!(plan.backup, None);
        let Decision::Write(plan) = decide(
            Path::new("/x"),
            b"",
            None,
            Some(FileMode(0o600)),
            false,
            "1",
        ) else {
            panic!("must write");
        };
        assert_eq!(plan.mode, 0o600);
    }
}
