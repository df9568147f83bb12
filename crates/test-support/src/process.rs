//! Small process and log-file utilities shared by the server helpers.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// Lines of a server log shown when a test fails.
const LOG_TAIL_LINES: usize = 40;

/// The last lines of a log file, or a note saying why it could not be read.
pub(crate) fn log_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            lines[start..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}

/// SIGKILLs the child and reaps it, so no zombie or stray server outlives the test.
pub(crate) fn kill_and_reap(child: &mut Child) {
    // `kill` fails only when the process already exited; reaping covers both cases.
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether a process id is still alive (Linux: a /proc entry that is not a zombie).
pub(crate) fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next()),
            Some(Some('Z' | 'X'))
        ),
        Err(_) => false,
    }
}

/// Waits up to `timeout` for `pid` to exit; returns whether it did.
pub(crate) fn wait_for_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while pid_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).expect("write");
        let tail = log_tail(&path);
        assert!(tail.starts_with("line 61\n"), "{tail}");
        assert!(tail.ends_with("line 100"), "{tail}");
        assert!(log_tail(&dir.path().join("absent")).starts_with("<cannot read"));
    }

    #[test]
    fn kill_and_reap_ends_a_process() {
        let mut child = Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        assert!(pid_alive(pid));
        kill_and_reap(&mut child);
        assert!(!pid_alive(pid));
        assert!(wait_for_exit(pid, Duration::from_millis(10)));
    }
}
