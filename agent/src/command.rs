//! Running check and reload commands: in their own process group, with a timeout after which
//! the whole group is killed, output captured (bounded) for the log.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::config::CommandLine;

/// Replaced by the staged file's path in a command (shell-quoted in the shell form).
pub const STAGED_PLACEHOLDER: &str = "{staged}";
/// Environment variable holding the staged file's path for `check` commands.
pub const STAGED_ENV: &str = "ARBOR_STAGED_FILE";
/// Environment variable holding the destination path for `check` and `reload` commands.
pub const DEST_ENV: &str = "ARBOR_DEST_FILE";

const OUTPUT_LIMIT: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    SpawnFailed(String),
}

impl Outcome {
    pub fn success(&self) -> bool {
        *self == Outcome::Exited(0)
    }

    /// One number for the exit-status metric: the exit code, 128+signal as shells report it,
    /// -1 for a timeout, -2 when the command could not be started.
    pub fn status_code(&self) -> i64 {
        match self {
            Outcome::Exited(code) => i64::from(*code),
            Outcome::Signaled(signal) => 128 + i64::from(*signal),
            Outcome::TimedOut => -1,
            Outcome::SpawnFailed(_) => -2,
        }
    }

    /// `ok`, `failed`, `timeout` or `spawn_error`, for metric labels.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Exited(0) => "ok",
            Outcome::Exited(_) | Outcome::Signaled(_) => "failed",
            Outcome::TimedOut => "timeout",
            Outcome::SpawnFailed(_) => "spawn_error",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exit status {code}"),
            Outcome::Signaled(signal) => write!(f, "killed by signal {signal}"),
            Outcome::TimedOut => write!(f, "timed out (process group killed)"),
            Outcome::SpawnFailed(err) => write!(f, "could not start: {err}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Ran {
    pub outcome: Outcome,
    /// The first bytes of stdout and stderr, for the log.
    pub output: String,
}

/// Program and arguments for `command`, with the placeholder replaced by `staged`.
pub fn render(command: &CommandLine, staged: Option<&Path>) -> (String, Vec<String>) {
    let staged = staged.map(|path| path.to_string_lossy().into_owned());
    match command {
        CommandLine::Shell(text) => {
            let text = match &staged {
                Some(path) => text.replace(STAGED_PLACEHOLDER, &shell_quote(path)),
                None => text.clone(),
            };
            ("/bin/sh".to_string(), vec!["-c".to_string(), text])
        }
        CommandLine::Argv(argv) => {
            let mut argv = argv.iter().map(|arg| match &staged {
                Some(path) => arg.replace(STAGED_PLACEHOLDER, path),
                None => arg.clone(),
            });
            let program = argv.next().unwrap_or_default();
            (program, argv.collect())
        }
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs `command` with extra environment variables; kills its process group at `timeout`.
pub async fn run(
    command: &CommandLine,
    timeout: Duration,
    staged: Option<&Path>,
    env: &[(&str, String)],
) -> Ran {
    let (program, args) = render(command, staged);
    let mut builder = tokio::process::Command::new(&program);
    builder
        .args(&args)
        .envs(env.iter().map(|(key, value)| (*key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match builder.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Ran {
                outcome: Outcome::SpawnFailed(format!("{program}: {err}")),
                output: String::new(),
            }
        }
    };
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);
    let outcome = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => exit_outcome(status),
        Ok(Err(err)) => Outcome::SpawnFailed(err.to_string()),
        Err(_) => {
            if let Some(pid) = child.id() {
                // SAFETY: plain syscall; the negative pid addresses the group the child leads.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            Outcome::TimedOut
        }
    };
    let mut output = String::new();
    for reader in [stdout, stderr].into_iter().flatten() {
        // A background grandchild may hold the pipe open; do not wait for it for long.
        if let Ok(Ok(text)) = tokio::time::timeout(Duration::from_secs(1), reader).await {
            output.push_str(&text);
        }
    }
    Ran { outcome, output }
}

fn exit_outcome(status: std::process::ExitStatus) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Outcome::Exited(code),
        (None, Some(signal)) => Outcome::Signaled(signal),
        (None, None) => Outcome::Exited(-1),
    }
}

fn capture(
    mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match pipe.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_and_quoted_for_the_shell() {
        let staged = Path::new("/etc/it's here/.x.tmp");
        let (program, args) = render(
            &CommandLine::Shell("nginx -t -c {staged}".into()),
            Some(staged),
        );
        assert_eq!(program, "/bin/sh");
        assert_eq!(args, ["-c", r"nginx -t -c '/etc/it'\''s here/.x.tmp'"]);
        let (program, args) = render(
            &CommandLine::Argv(vec!["check".into(), "--file={staged}".into()]),
            Some(staged),
        );
        assert_eq!(program, "check");
        assert_eq!(args, ["--file=/etc/it's here/.x.tmp"]);
    }

    #[tokio::test]
    async fn exit_codes_output_and_environment() {
        let ran = run(
            &CommandLine::Shell("echo \"$ARBOR_DEST_FILE\"; exit 3".into()),
            Duration::from_secs(10),
            None,
            &[(DEST_ENV, "/etc/x".to_string())],
        )
        .await;
        assert_eq!(ran.outcome, Outcome::Exited(3));
        assert_eq!(ran.outcome.label(), "failed");
        assert_eq!(ran.output.trim(), "/etc/x");
        let ok = run(
            &CommandLine::Argv(vec!["true".into()]),
            Duration::from_secs(10),
            None,
            &[],
        )
        .await;
        assert!(ok.outcome.success());
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild-survived");
        // The grandchild would write the marker after 1 s unless its group is killed.
        let script = format!("(sleep 1; touch '{}') & sleep 30", marker.display());
        let ran = run(
            &CommandLine::Shell(script),
            Duration::from_millis(300),
            None,
            &[],
        )
        .await;
        assert_eq!(ran.outcome, Outcome::TimedOut);
        assert_eq!(ran.outcome.status_code(), -1);
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "the grandchild must have been killed");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_failure() {
        let ran = run(
            &CommandLine::Argv(vec!["/nonexistent/reload".into()]),
            Duration::from_secs(1),
            None,
            &[],
        )
        .await;
        assert!(
            matches!(ran.outcome, Outcome::SpawnFailed(_)),
            "{:?}",
            ran.outcome
        );
        assert_eq!(ran.outcome.status_code(), -2);
    }
}
