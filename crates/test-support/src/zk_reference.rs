//! A real Apache ZooKeeper 3.8 (Debian's package) started by `shared/tools/zk-reference`, the
//! reference for differential tests.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::HarnessError;
use crate::four_letter::{send_four_letter, wait_until_serving};
use crate::ports::free_port;
use crate::process::{kill_and_reap, log_tail, wait_for_exit};
use crate::workspace::workspace_root;

/// Installed by Debian's `zookeeper` package; the script needs it.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// zk-reference polls `ruok` with no timeout of its own, and ZooKeeper 3.8.0 never closes a
/// four-letter-word connection that arrives before its database is loaded, so a start can hang.
/// Such a start is abandoned after this long and retried on a fresh port.
const START_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 3;

/// A standalone ZooKeeper on `127.0.0.1:<free port>` with `4lw.commands.whitelist=*` and
/// `extendedTypesEnabled=true`. Dropping it stops the server and removes its directory.
pub struct ZkReference {
    dir: TempDir,
    port: u16,
    script: PathBuf,
}

impl ZkReference {
    /// The zk-reference script: `$ZK_REFERENCE`, else `<workspace>/../shared/tools/zk-reference`.
    pub fn script() -> PathBuf {
        match std::env::var_os("ZK_REFERENCE").filter(|v| !v.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => workspace_root().join("../shared/tools/zk-reference"),
        }
    }

    /// Whether the script exists and ZooKeeper is installed, i.e. whether
    /// [`ZkReference::standalone`] can work here.
    pub fn available() -> bool {
        Self::script().is_file() && Path::new(ZOOKEEPER_JAR).is_file()
    }

    /// Starts the server and waits for `ruok` (the script waits up to 20 s); panics on failure.
    pub fn standalone() -> ZkReference {
        Self::try_standalone().unwrap_or_else(|e| panic!("ZkReference::standalone: {e}"))
    }

    pub fn try_standalone() -> Result<ZkReference, HarnessError> {
        let script = Self::script();
        if !script.is_file() {
            return Err(HarnessError::MissingBinary {
                path: script,
                env_var: "ZK_REFERENCE",
            });
        }
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("zk-reference-")
                .tempdir()
                .map_err(HarnessError::io("create a temporary directory"))?;
            let reference = ZkReference {
                dir,
                port: free_port(),
                script: script.clone(),
            };
            match reference.run_start_script()? {
                None => return Ok(reference),
                // Dropping `reference` stops whatever did start.
                Some(failure) => failures.push(format!("{failure}\n{}", reference.log_tail())),
            }
        }
        Err(HarnessError::CommandFailed {
            what: "zk-reference standalone".into(),
            status: format!("{START_ATTEMPTS} attempts failed"),
            output: failures.join("\n---\n"),
        })
    }

    /// Runs `zk-reference standalone DIR PORT`; `Some(reason)` when it failed or hung.
    fn run_start_script(&self) -> Result<Option<String>, HarnessError> {
        let output_path = self.dir.path().join("zk-reference.out");
        let output = File::create(&output_path).map_err(HarnessError::io("create script log"))?;
        let output_for_stderr = output
            .try_clone()
            .map_err(HarnessError::io("clone script log handle"))?;
        let mut child = Command::new("bash")
            .arg(&self.script)
            .arg("standalone")
            .arg(self.dir.path())
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(output))
            .stderr(Stdio::from(output_for_stderr))
            .spawn()
            .map_err(HarnessError::io("run zk-reference standalone"))?;
        let deadline = Instant::now() + START_ATTEMPT_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => {
                    if wait_until_serving(self.addr(), START_ATTEMPT_TIMEOUT) {
                        return Ok(None);
                    }
                    return Ok(Some("srvr kept saying it is not serving".into()));
                }
                Ok(Some(status)) => {
                    return Ok(Some(format!("{status}: {}", log_tail(&output_path))));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Ok(None) | Err(_) => {
                    kill_and_reap(&mut child);
                    return Ok(Some(format!(
                        "no answer within {} s",
                        START_ATTEMPT_TIMEOUT.as_secs()
                    )));
                }
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    /// The directory the script keeps zoo.cfg, data/, pid and server.log in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The JVM's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("pid"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
    }

    /// Sends a four-letter word; panics if the connection fails.
    pub fn four_letter(&self, word: &str) -> String {
        send_four_letter(self.addr(), word).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("server.log"))
    }

    /// Stops the server (SIGTERM through the script) and waits for the JVM to exit.
    pub fn stop(&mut self) {
        let pid = self.pid();
        // A failure to run the script leaves nothing more to do than the pid wait below.
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
        if let Some(pid) = pid {
            if !wait_for_exit(pid, Duration::from_secs(10)) {
                // SIGTERM was not enough; do not leave a JVM behind.
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                wait_for_exit(pid, Duration::from_secs(5));
            }
        }
    }
}

impl Drop for ZkReference {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_path_points_next_to_the_workspace() {
        if std::env::var_os("ZK_REFERENCE").is_none() {
            let script = ZkReference::script();
            assert!(
                script.ends_with("shared/tools/zk-reference"),
                "{}",
                script.display()
            );
        }
    }

    /// Runs against the real ZooKeeper; scripts/test.sh installs it, so CI always runs this.
    #[test]
    fn real_zookeeper_starts_answers_and_stops() {
        if !ZkReference::available() {
            eprintln!(
                "SKIPPED: ZooKeeper or {} not available",
                ZkReference::script().display()
            );
            return;
        }
        let zk = ZkReference::standalone();
        assert_eq!(zk.four_letter("ruok"), "imok");
        let srvr = zk.four_letter("srvr");
        assert!(srvr.starts_with("Zookeeper version: 3.8"), "{srvr}");
        assert!(srvr.contains("Mode: standalone"), "{srvr}");
        let pid = zk.pid().expect("pid file");
        let addr = zk.addr();
        drop(zk);
        assert!(!crate::process::pid_alive(pid), "drop must stop the JVM");
        assert!(send_four_letter(addr, "ruok").is_err());
    }
}
