//! Helpers for the agent's integration tests: the real `arbor-agent` binary as a child process,
//! a ZooKeeper client for pushing documents and reading the registry, a tiny HTTP GET, and
//! wait-until loops with deadlines.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use arbor_coord::remote::ZkCoord;
use arbor_coord::{CoordError, Coordination, CreateKind};

pub const AGENT_BIN: &str = env!("CARGO_BIN_EXE_arbor-agent");

/// A running `arbor-agent --config <path>`; its stderr goes to `agent.log` beside the config.
pub struct AgentProcess {
    child: Option<Child>,
    pub log_path: PathBuf,
}

impl AgentProcess {
    pub fn start(config_path: &Path) -> AgentProcess {
        let log_path = config_path.with_file_name(format!(
            "agent-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let log = File::create(&log_path).expect("create agent log");
        let child = Command::new(AGENT_BIN)
            .arg("--config")
            .arg(config_path)
            .env("ARBOR_AGENT_LOG", "info,arbor_agent=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn arbor-agent");
        AgentProcess {
            child: Some(child),
            log_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: plain syscall on our own child's pid.
        unsafe {
            libc::kill(self.pid() as i32, signal);
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return status;
            }
            assert!(
                started.elapsed() < deadline,
                "arbor-agent did not exit within {deadline:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `condition` (every 20 ms) until it holds and returns how long that took; panics with
/// `what` at the deadline.
pub fn wait_until(what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// Async variant of [`wait_until`].
pub async fn wait_until_async<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn connect(servers: &str) -> ZkCoord {
    ZkCoord::connect(servers, Duration::from_secs(10))
        .await
        .expect("connect to arbor")
}

/// Writes a config-center document (`/arbor/config/<env>/<app>/<name>`), creating it if needed.
pub async fn push(coord: &ZkCoord, source: &str, content: &str) {
    let path = format!("/arbor/config/{source}");
    match coord.set_data(&path, content.as_bytes(), None).await {
        Ok(_) => {}
        Err(CoordError::NoNode) => {
            let parent = &path[..path.rfind('/').unwrap()];
            coord.ensure_path(parent).await.expect("ensure parent");
            coord
                .create(&path, content.as_bytes(), CreateKind::Persistent)
                .await
                .expect("create document");
        }
        Err(err) => panic!("push {path}: {err}"),
    }
}

/// `arbor config push` (the real CLI) of `content` as `<env>/<app>/<name>`.
pub fn config_push(servers: &str, source: &str, content: &str) {
    let parts: Vec<&str> = source.split('/').collect();
    let [env, app, name] = parts.as_slice() else {
        panic!("source {source} is not env/app/name");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(name);
    std::fs::write(&file, content).expect("write pushed file");
    let output = Command::new(arbor_test_support::arbor_bin())
        .args([
            "config", "push", "--server", servers, "--env", env, "--app", app,
        ])
        .arg(&file)
        .output()
        .expect("run arbor config push");
    assert!(
        output.status.success(),
        "arbor config push {source}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The registry entry `/services/<service>/<id>` as JSON, if present.
pub async fn registry_entry(coord: &ZkCoord, service: &str, id: &str) -> Option<serde_json::Value> {
    let node = coord
        .get(&format!("/services/{service}/{id}"))
        .await
        .expect("read registry")?;
    Some(serde_json::from_slice(&node.data).expect("instance JSON"))
}

/// The session that owns the registry entry `/services/<service>/<id>`, if present.
pub async fn ephemeral_owner(coord: &ZkCoord, service: &str, id: &str) -> Option<i64> {
    coord
        .get(&format!("/services/{service}/{id}"))
        .await
        .expect("read registry")
        .map(|node| node.stat.ephemeral_owner)
}

/// `GET http://<addr><path>`: status and body, or `None` if the connection failed.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())?;
    Some((status, body))
}

/// The value of one metric series from /metrics (`name{labels}` exactly as rendered).
pub fn metric(addr: &str, series: &str) -> Option<f64> {
    let (_, body) = http_get(addr, "/metrics")?;
    body.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

pub fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write file");
}
