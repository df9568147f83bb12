//! Replacing a file atomically: stage a temporary file beside the destination, let the check
//! command judge it, fsync it, keep the old version as `.bak` if asked, rename it over the
//! destination and fsync the directory. A reader sees the old file or the new one, never a mix,
//! and a crash leaves one of the two.

mod owner;
pub mod plan;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::command::{self, Outcome, DEST_ENV, STAGED_ENV};
use crate::config::FileSpec;
use plan::{Current, Decision, WritePlan};

pub use owner::{resolve_owner, Owner};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Installed {
    /// The destination already had this content.
    Unchanged,
    /// Same content; only the permission bits were fixed.
    ModeChanged,
    /// The destination now has the new content.
    Replaced,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("check command refused the new content ({outcome}){}", output_suffix(.output))]
    CheckFailed { outcome: Outcome, output: String },
    #[error("{step} {}: {source}", .path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("owner: {0}")]
    Owner(String),
}

fn output_suffix(output: &str) -> String {
    let output = output.trim();
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output}")
    }
}

fn io_error<'p>(
    step: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> InstallError + 'p {
    move |source| InstallError::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// A name part no other staging in this process (or another agent process) uses.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn read_current(dest: &Path) -> Result<Option<Current>, InstallError> {
    match std::fs::read(dest) {
        Ok(content) => {
            let metadata = std::fs::metadata(dest).map_err(io_error("stat", dest))?;
            Ok(Some(Current {
                content,
                mode: metadata.permissions().mode() & 0o7777,
            }))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error("read", dest)(err)),
    }
}

/// Writes `content` to a new file at `staged` with `mode`, optionally owned by `owner`.
fn stage(
    staged: &Path,
    content: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> Result<File, InstallError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(staged)
        .map_err(io_error("create", staged))?;
    file.write_all(content).map_err(io_error("write", staged))?;
    if let Some(owner) = owner {
        owner.apply(&file).map_err(io_error("chown", staged))?;
    }
    // After chown, which may clear set-id bits; explicit so the umask does not matter.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_error("chmod", staged))?;
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    File::open(dir)
        .and_then(|dir_handle| dir_handle.sync_all())
        .map_err(io_error("fsync directory", dir))
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or_else(|| Path::new("/"))
}

/// Keeps the current destination as `backup` (a hard link, renamed into place atomically).
fn keep_backup(dest: &Path, backup: &Path) -> Result<(), InstallError> {
    let temporary = plan::staged_path(backup, &unique_suffix());
    if std::fs::hard_link(dest, &temporary).is_err() {
        std::fs::copy(dest, &temporary).map_err(io_error("copy for backup", dest))?;
    }
    std::fs::rename(&temporary, backup).map_err(|err| {
        let _ = std::fs::remove_file(&temporary);
        io_error("rename backup", backup)(err)
    })
}

/// Writes `content` to `path` atomically with no check: for the agent's own cache.
pub fn write_atomically(path: &Path, content: &[u8], mode: u32) -> Result<(), InstallError> {
    let dir = parent(path);
    std::fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
    let staged = plan::staged_path(path, &unique_suffix());
    let result = (|| {
        let file = stage(&staged, content, mode, None)?;
        file.sync_all().map_err(io_error("fsync", &staged))?;
        std::fs::rename(&staged, path).map_err(io_error("rename", path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    result
}

/// Brings `spec.dest` to `content`: nothing if it already has it; otherwise stage, check,
/// swap. On any failure the destination is left as it was.
pub async fn install(spec: &FileSpec, content: &[u8]) -> Result<Installed, InstallError> {
    let dest = spec.dest.clone();
    let owner = spec
        .owner
        .as_deref()
        .map(resolve_owner)
        .transpose()
        .map_err(InstallError::Owner)?;
    let current = blocking(move || read_current(&dest)).await?;
    let decision = plan::decide(
        &spec.dest,
        content,
        current.as_ref(),
        spec.mode,
        spec.backup,
        &unique_suffix(),
    );
    let plan = match decision {
        Decision::Unchanged => return Ok(Installed::Unchanged),
        Decision::ChangeMode(mode) => {
            let dest = spec.dest.clone();
            blocking(move || {
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
                    .map_err(io_error("chmod", &dest))
            })
            .await?;
            return Ok(Installed::ModeChanged);
        }
        Decision::Write(plan) => plan,
    };

    let staged_file = {
        let plan = plan.clone();
        let content = content.to_vec();
        blocking(move || {
            let dir = parent(&plan.dest);
            std::fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
            stage(&plan.staged, &content, plan.mode, owner)
        })
        .await?
    };
    let result = check_and_swap(spec, &plan, staged_file).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&plan.staged);
    }
    result.map(|()| Installed::Replaced)
}

async fn check_and_swap(
    spec: &FileSpec,
    plan: &WritePlan,
    staged: File,
) -> Result<(), InstallError> {
    if let Some(check) = &spec.check {
        let env = [
            (STAGED_ENV, plan.staged.to_string_lossy().into_owned()),
            (DEST_ENV, plan.dest.to_string_lossy().into_owned()),
        ];
        let ran = command::run(&check.command, check.timeout, Some(&plan.staged), &env).await;
        if !ran.outcome.success() {
            return Err(InstallError::CheckFailed {
                outcome: ran.outcome,
                output: ran.output,
            });
        }
    }
    let plan = plan.clone();
    blocking(move || {
        staged.sync_all().map_err(io_error("fsync", &plan.staged))?;
        if let Some(backup) = &plan.backup {
            keep_backup(&plan.dest, backup)?;
        }
        std::fs::rename(&plan.staged, &plan.dest).map_err(io_error("rename", &plan.dest))?;
        sync_dir(parent(&plan.dest))
    })
    .await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, InstallError> + Send + 'static,
) -> Result<T, InstallError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| {
            Err(InstallError::Io {
                step: "run blocking file work",
                path: PathBuf::new(),
                source: std::io::Error::other(join.to_string()),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CommandLine, CommandSpec, FileMode, SourceSpec, Wait};
    use std::time::Duration;

    fn spec(dest: &Path) -> FileSpec {
        FileSpec {
            source: SourceSpec::parse("e", "a", "n.txt").unwrap(),
            dest: dest.to_path_buf(),
            mode: None,
            owner: None,
            check: None,
            reload: None,
            wait: Wait::default(),
            backup: false,
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect()
    }

    #[tokio::test]
    async fn writes_creates_directories_and_skips_identical_content() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("etc/app/x.conf");
        let mut file = spec(&dest);
        file.mode = Some(FileMode(0o640));
        assert_eq!(install(&file, b"a=1\n").await.unwrap(), Installed::Replaced);
        assert_eq!(std::fs::read(&dest).unwrap(), b"a=1\n");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            install(&file, b"a=1\n").await.unwrap(),
            Installed::Unchanged
        );
        file.mode = Some(FileMode(0o600));
        assert_eq!(
            install(&file, b"a=1\n").await.unwrap(),
            Installed::ModeChanged
        );
        assert!(leftovers(dest.parent().unwrap()).is_empty());
    }

    #[tokio::test]
    async fn keeps_a_backup_of_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.conf");
        let mut file = spec(&dest);
        file.backup = true;
        install(&file, b"one").await.unwrap();
        assert!(
            !dir.path().join("x.conf.bak").exists(),
            "nothing to back up yet"
        );
        install(&file, b"two").await.unwrap();
        install(&file, b"three").await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"three");
        assert_eq!(
            std::fs::read(dir.path().join("x.conf.bak")).unwrap(),
            b"two"
        );
    }

    #[tokio::test]
    async fn a_failing_check_keeps_the_old_file_and_sees_the_staged_one() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.conf");
        let mut file = spec(&dest);
        // Accepts content without "BROKEN"; the staged path comes by placeholder and by env.
        file.check = Some(CommandSpec {
            command: CommandLine::Shell(
                "test {staged} = \"$ARBOR_STAGED_FILE\" && ! grep -q BROKEN {staged}".into(),
            ),
            timeout: Duration::from_secs(10),
        });
        install(&file, b"good").await.unwrap();
        let err = install(&file, b"BROKEN").await.unwrap_err();
        assert!(matches!(err, InstallError::CheckFailed { .. }), "{err}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"good");
        assert!(
            leftovers(dir.path()).is_empty(),
            "the staged file is removed"
        );
    }

    #[tokio::test]
    async fn an_unknown_owner_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.conf");
        let mut file = spec(&dest);
        file.owner = Some("no-such-user-arbor".into());
        let err = install(&file, b"x").await.unwrap_err();
        assert!(err.to_string().contains("no-such-user-arbor"), "{err}");
        assert!(!dest.exists());
    }

    #[test]
    fn write_atomically_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/entry");
        write_atomically(&path, b"first", 0o600).unwrap();
        write_atomically(&path, b"second", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert!(leftovers(path.parent().unwrap()).is_empty());
    }
}
