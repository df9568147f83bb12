//! A real `arbor server` process on loopback, in its own temporary directory.

use std::fs::OpenOptions;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::error::HarnessError;
use crate::four_letter::{send_four_letter, wait_until_ready, wait_until_serving, ReadyTimeout};
use crate::ports::free_port;
use crate::process::{kill_and_reap, log_tail};
use crate::workspace::arbor_bin;

/// Set this variable to keep test servers' directories (config, data, log) after the test.
const KEEP_DIRS_ENV: &str = "ARBOR_TEST_KEEP_DIRS";

/// How to start an [`ArborServer`].
#[derive(Debug, Clone)]
pub struct ArborOptions {
    /// Extra zoo.cfg settings, written after the harness's own (so they override them).
    pub config: Vec<(String, String)>,
    /// How long to wait for `ruok` to answer `imok`.
    pub startup_timeout: Duration,
    /// The binary to run; `None` means [`arbor_bin`].
    pub binary: Option<PathBuf>,
}

impl Default for ArborOptions {
    fn default() -> Self {
        ArborOptions {
            config: Vec::new(),
            startup_timeout: Duration::from_secs(20),
            binary: None,
        }
    }
}

impl ArborOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a zoo.cfg setting, e.g. `.config("extendedTypesEnabled", "true")`.
    pub fn config(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.config.push((key.into(), value.to_string()));
        self
    }

    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }
}

/// Where a server listens and how its process is started: on loopback and directly, unless
/// a test places it elsewhere (e.g. in a network namespace, see [`crate::netns`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The address of the client and admin listeners (`clientPortAddress`,
    /// `admin.serverAddress`); clients and the harness connect there.
    pub host: IpAddr,
    /// A command prefix the server runs under, e.g. `["ip", "netns", "exec", "ns1"]`; it must
    /// exec the server (so the process id the harness signals is the server's).
    pub wrapper: Vec<String>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            wrapper: Vec::new(),
        }
    }
}

/// The zoo.cfg the harness writes: loopback-only listeners on the given ports, every
/// four-letter word enabled, then `extra` settings in order (later settings win).
pub fn render_zoo_cfg(
    data_dir: &Path,
    client_port: u16,
    admin_port: u16,
    extra: &[(String, String)],
) -> String {
    render_zoo_cfg_on(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        data_dir,
        client_port,
        admin_port,
        extra,
    )
}

/// [`render_zoo_cfg`] with the client and admin listeners on `host`.
pub fn render_zoo_cfg_on(
    host: IpAddr,
    data_dir: &Path,
    client_port: u16,
    admin_port: u16,
    extra: &[(String, String)],
) -> String {
    let mut text = format!(
        "# Written by arbor-test-support\n\
         tickTime=2000\n\
         dataDir={}\n\
         clientPort={client_port}\n\
         clientPortAddress={host}\n\
         admin.serverAddress={host}\n\
         admin.serverPort={admin_port}\n\
         4lw.commands.whitelist=*\n",
        data_dir.display()
    );
    for (key, value) in extra {
        text.push_str(&format!("{key}={value}\n"));
    }
    text
}

/// A running `arbor server --config <dir>/zoo.cfg`. Dropping it SIGKILLs the process and
/// removes its directory (unless `ARBOR_TEST_KEEP_DIRS` is set).
pub struct ArborServer {
    /// Removes the directory on drop; `None` once kept.
    dir_guard: Option<TempDir>,
    dir: PathBuf,
    binary: PathBuf,
    config_path: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    client_port: u16,
    admin_port: u16,
    placement: Placement,
    startup_timeout: Duration,
    child: Option<Child>,
}

impl ArborServer {
    /// Starts a server and waits until it answers `ruok`; panics with the log tail otherwise.
    pub fn start(opts: ArborOptions) -> ArborServer {
        Self::try_start(opts).unwrap_or_else(|e| panic!("ArborServer::start: {e}"))
    }

    pub fn try_start(opts: ArborOptions) -> Result<ArborServer, HarnessError> {
        let mut server = Self::prepare(&opts, Placement::default())?;
        server.write_config(&opts.config, None)?;
        server.spawn_and_wait()?;
        Ok(server)
    }

    /// A server with its directory and ports, not yet configured or started.
    pub(crate) fn prepare(
        opts: &ArborOptions,
        placement: Placement,
    ) -> Result<ArborServer, HarnessError> {
        let binary = opts.binary.clone().unwrap_or_else(arbor_bin);
        if !binary.is_file() {
            return Err(HarnessError::MissingBinary {
                path: binary,
                env_var: "ARBOR_BIN",
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("arbor-test-")
            .tempdir()
            .map_err(HarnessError::io("create a temporary directory"))?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).map_err(HarnessError::io("create dataDir"))?;
        let client_port = free_port();
        let admin_port = free_port();
        let config_path = dir.path().join("zoo.cfg");
        Ok(ArborServer {
            log_path: dir.path().join("server.log"),
            dir: dir.path().to_path_buf(),
            dir_guard: Some(dir),
            binary,
            config_path,
            data_dir,
            client_port,
            admin_port,
            placement,
            startup_timeout: opts.startup_timeout,
            child: None,
        })
    }

    /// Writes zoo.cfg (the harness's settings, then `extra`) and, for an ensemble member,
    /// `dataDir/myid`.
    pub(crate) fn write_config(
        &self,
        extra: &[(String, String)],
        myid: Option<u64>,
    ) -> Result<(), HarnessError> {
        let config = render_zoo_cfg_on(
            self.placement.host,
            &self.data_dir,
            self.client_port,
            self.admin_port,
            extra,
        );
        std::fs::write(&self.config_path, config).map_err(HarnessError::io("write zoo.cfg"))?;
        if let Some(id) = myid {
            std::fs::write(self.data_dir.join("myid"), format!("{id}\n"))
                .map_err(HarnessError::io("write myid"))?;
        }
        Ok(())
    }

    fn spawn_and_wait(&mut self) -> Result<(), HarnessError> {
        self.spawn()?;
        self.wait_serving()
    }

    /// Starts the process without waiting for it (an ensemble member cannot serve before a
    /// quorum of its peers runs). Kills a running one first.
    pub fn spawn(&mut self) -> Result<(), HarnessError> {
        self.kill9();
        // Append, so a restarted server's log follows the previous run's.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(HarnessError::io("open server.log"))?;
        let log_for_stderr = log
            .try_clone()
            .map_err(HarnessError::io("clone server.log handle"))?;
        let mut command = match self.placement.wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        let child = command
            .arg("server")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_for_stderr))
            .spawn()
            .map_err(HarnessError::io(format!("spawn {}", self.binary.display())))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the spawned process answers `ruok` and `srvr` says it serves; on failure
    /// the process is killed and the error carries the log tail.
    pub fn wait_serving(&mut self) -> Result<(), HarnessError> {
        let Some(mut child) = self.child.take() else {
            return Err(HarnessError::NotReady {
                what: format!("arbor on {} (not started)", self.addr()),
                seconds: 0,
                log_tail: log_tail(&self.log_path),
            });
        };
        let what = format!("arbor on {}", self.addr());
        let result = wait_until_ready(self.addr(), self.startup_timeout, || {
            match child.try_wait() {
                Ok(Some(status)) => Err(HarnessError::ExitedEarly {
                    what: what.clone(),
                    status: status.to_string(),
                    log_tail: log_tail(&self.log_path),
                }),
                Ok(None) | Err(_) => Ok(()),
            }
        });
        match result {
            Ok(()) if wait_until_serving(self.addr(), self.startup_timeout) => {
                self.child = Some(child);
                Ok(())
            }
            Ok(()) => {
                kill_and_reap(&mut child);
                Err(HarnessError::NotReady {
                    what: format!("{what} (srvr still says it is not serving)"),
                    seconds: self.startup_timeout.as_secs(),
                    log_tail: log_tail(&self.log_path),
                })
            }
            Err(ReadyTimeout::Exited(e)) => Err(e),
            Err(ReadyTimeout::TimedOut) => {
                kill_and_reap(&mut child);
                Err(HarnessError::NotReady {
                    what,
                    seconds: self.startup_timeout.as_secs(),
                    log_tail: log_tail(&self.log_path),
                })
            }
        }
    }

    /// The client address, `127.0.0.1:<clientPort>` unless placed elsewhere.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.placement.host, self.client_port)
    }

    /// A ZooKeeper connect string for this server.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    pub fn client_port(&self) -> u16 {
        self.client_port
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The admin HTTP address, `127.0.0.1:<admin.serverPort>` unless placed elsewhere.
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::new(self.placement.host, self.admin_port)
    }

    /// The temporary directory holding zoo.cfg, data/ and server.log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` (e.g. `"STOP"`, `"CONT"`, `"TERM"`) to the running process.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().expect("signal: the server is not running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// SIGKILLs the server (no clean shutdown), keeping its directory for [`Self::restart`].
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }

    /// Starts the server again with the same directory, config and ports (killing it first if it
    /// still runs) and waits for `ruok`; panics with the log tail on failure.
    pub fn restart(&mut self) {
        if let Err(e) = self.try_restart() {
            panic!("ArborServer::restart: {e}");
        }
    }

    /// Like [`Self::restart`], but returns the failure: a server that refuses to start (e.g. on
    /// a damaged data directory) gives [`HarnessError::ExitedEarly`] with its exit status and
    /// log tail. The directory is kept either way.
    pub fn try_restart(&mut self) -> Result<(), HarnessError> {
        self.kill9();
        self.spawn_and_wait()
    }

    /// Sends a four-letter word to the client port; panics if the connection fails.
    pub fn four_letter(&self, word: &str) -> String {
        send_four_letter(self.addr(), word).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `mntr` as key -> value (`zk_followers` -> `2`); empty if the server does not answer or
    /// does not serve.
    pub fn mntr(&self) -> std::collections::BTreeMap<String, String> {
        send_four_letter(self.addr(), "mntr")
            .map(|reply| parse_mntr(&reply))
            .unwrap_or_default()
    }

    /// The last lines of the server's combined stdout/stderr.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// The server's whole combined stdout/stderr so far (of every run); empty if unreadable.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }
}

/// `mntr`'s `key<TAB>value` lines as a map.
pub(crate) fn parse_mntr(reply: &str) -> std::collections::BTreeMap<String, String> {
    reply
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(key, value)| (key.to_owned(), value.trim().to_owned()))
        .collect()
}

impl Drop for ArborServer {
    fn drop(&mut self) {
        self.kill9();
        if std::env::var_os(KEEP_DIRS_ENV).is_some() {
            if let Some(dir) = self.dir_guard.take() {
                eprintln!("arbor-test-support: kept {}", dir.keep().display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in `arbor` written in sh + python3: answers `ruok` with `imok` on the configured
    /// client port, so the harness can be tested before the real server exists.
    const FAKE_ARBOR: &str = r#"#!/bin/sh
[ "$1" = server ] && [ "$2" = --config ] || { echo "bad args: $*"; exit 64; }
port=$(sed -n 's/^clientPort=//p' "$3")
echo "fake arbor listening on $port"
exec python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    w = c.recv(4)
    c.sendall(b"imok" if w == b"ruok" else b"fake " + w)
    c.close()
' "$port"
"#;

    fn write_script(dir: &TempDir, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join(name);
        std::fs::write(&path, body).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn zoo_cfg_has_ports_loopback_all_words_and_extras_last() {
        let text = render_zoo_cfg(
            Path::new("/tmp/x/data"),
            3001,
            3002,
            &[("extendedTypesEnabled".into(), "true".into())],
        );
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "dataDir=/tmp/x/data",
            "clientPort=3001",
            "clientPortAddress=127.0.0.1",
            "admin.serverPort=3002",
            "4lw.commands.whitelist=*",
        ] {
            assert!(lines.contains(&expected), "{expected} missing from\n{text}");
        }
        assert_eq!(lines.last(), Some(&"extendedTypesEnabled=true"));
    }

    #[test]
    fn mntr_lines_become_a_map() {
        let map = parse_mntr("zk_version\t3.8.0, built on x\nzk_followers\t2\nnoise\n");
        assert_eq!(map.get("zk_followers").map(String::as_str), Some("2"));
        assert_eq!(
            map.get("zk_version").map(String::as_str),
            Some("3.8.0, built on x")
        );
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn missing_binary_is_reported_without_spawning() {
        let err = ArborServer::try_start(ArborOptions::new().binary("/nonexistent/arbor"))
            .err()
            .expect("must fail");
        assert!(matches!(err, HarnessError::MissingBinary { .. }), "{err}");
        assert!(err.to_string().contains("ARBOR_BIN"), "{err}");
    }

    #[test]
    fn start_four_letter_kill9_restart_and_drop() {
        let scripts = tempfile::tempdir().expect("tempdir");
        let fake = write_script(&scripts, "arbor", FAKE_ARBOR);
        let mut server = ArborServer::start(
            ArborOptions::new()
                .binary(&fake)
                .config("extendedTypesEnabled", "true"),
        );
        assert_eq!(server.four_letter("ruok"), "imok");
        assert_eq!(server.four_letter("srvr"), "fake srvr");
        assert_eq!(
            server.connect_string(),
            format!("127.0.0.1:{}", server.client_port())
        );
        assert_ne!(server.admin_port(), server.client_port());
        assert!(server.data_dir().is_dir());
        let cfg = std::fs::read_to_string(server.config_path()).expect("zoo.cfg");
        assert!(cfg.ends_with("extendedTypesEnabled=true\n"), "{cfg}");
        assert!(server.log_tail().contains("fake arbor listening"));

        let first_pid = server.pid().expect("running");
        server.kill9();
        assert!(server.pid().is_none());
        assert!(send_four_letter(server.addr(), "ruok").is_err());

        server.restart();
        assert_ne!(server.pid(), Some(first_pid));
        assert_eq!(server.four_letter("ruok"), "imok");
        // The log of both runs is kept.
        assert_eq!(server.log_tail().matches("fake arbor listening").count(), 2);

        let (pid, dir, addr) = (
            server.pid().expect("running"),
            server.dir().to_path_buf(),
            server.addr(),
        );
        drop(server);
        assert!(!crate::process::pid_alive(pid), "drop must kill the server");
        assert!(send_four_letter(addr, "ruok").is_err());
        if std::env::var_os(KEEP_DIRS_ENV).is_none() {
            assert!(!dir.exists(), "drop must remove {}", dir.display());
        }
    }

    #[test]
    fn a_server_that_exits_fails_fast_with_its_log() {
        let scripts = tempfile::tempdir().expect("tempdir");
        let fake = write_script(
            &scripts,
            "arbor",
            "#!/bin/sh\necho 'config is broken'\nexit 3\n",
        );
        let err = ArborServer::try_start(ArborOptions::new().binary(&fake))
            .err()
            .expect("must fail");
        match err {
            HarnessError::ExitedEarly {
                status, log_tail, ..
            } => {
                assert!(status.contains('3'), "{status}");
                assert!(log_tail.contains("config is broken"), "{log_tail}");
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn try_restart_reports_a_server_that_refuses_to_start_again() {
        let scripts = tempfile::tempdir().expect("tempdir");
        // Exits with status 5 once a `broken` file sits next to zoo.cfg.
        let body = FAKE_ARBOR.replacen(
            "#!/bin/sh\n",
            "#!/bin/sh\n[ -e \"$(dirname \"$3\")/broken\" ] && { echo 'refusing: broken'; exit 5; }\n",
            1,
        );
        let fake = write_script(&scripts, "arbor", &body);
        let mut server = ArborServer::start(ArborOptions::new().binary(&fake));
        std::fs::write(server.dir().join("broken"), "").expect("marker");
        match server.try_restart() {
            Err(HarnessError::ExitedEarly {
                status, log_tail, ..
            }) => {
                assert!(status.contains('5'), "{status}");
                assert!(log_tail.contains("refusing: broken"), "{log_tail}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(server.pid().is_none());
        std::fs::remove_file(server.dir().join("broken")).expect("remove marker");
        server.try_restart().expect("starts once repaired");
        assert_eq!(server.four_letter("ruok"), "imok");
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        let scripts = tempfile::tempdir().expect("tempdir");
        let fake = write_script(
            &scripts,
            "arbor",
            "#!/bin/sh\necho waiting\nexec sleep 30\n",
        );
        let err = ArborServer::try_start(
            ArborOptions::new()
                .binary(&fake)
                .startup_timeout(Duration::from_millis(500)),
        )
        .err()
        .expect("must fail");
        assert!(matches!(err, HarnessError::NotReady { .. }), "{err}");
        assert!(err.to_string().contains("waiting"), "{err}");
    }
}
