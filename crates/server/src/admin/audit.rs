//! The audit log of writes through the admin listener: one JSON line per attempt (module API
//! PUT/POST/DELETE, state-changing commands), refused ones included, saying who, what, when
//! and with what outcome.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde_json::json;
use sha2::{Digest, Sha256};

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The token's name; `None` when the API is open or the caller was not authenticated.
    pub principal: Option<&'a str>,
    /// The client's address.
    pub remote: Option<String>,
    pub method: &'a str,
    /// The decoded path and the raw query string.
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    /// The HTTP status answered (401/403 for refusals).
    pub status: u16,
}

impl AuditEntry<'_> {
    /// The entry as one JSON line (the body is recorded by size and SHA-256, not copied).
    pub fn to_line(&self) -> String {
        let digest: String = Sha256::digest(self.body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut line = json!({
            "time_ms": self.time_ms,
            "principal": self.principal,
            "remote": self.remote,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body_bytes": self.body.len(),
            "body_sha256": digest,
            "status": self.status,
            "outcome": match self.status {
                401 | 403 => "refused",
                200..=299 => "done",
                _ => "failed",
            },
        })
        .to_string();
        line.push('\n');
        line
    }
}

/// An append-only audit file.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends `entry`; a failure is logged (the request it describes has already happened).
    pub fn record(&self, entry: &AuditEntry<'_>) {
        let line = entry.to_line();
        if let Err(e) = self.file.lock().write_all(line.as_bytes()) {
            tracing::error!("cannot write the audit log {}: {e}", self.path.display());
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_json_lines_with_a_body_digest() {
        let entry = AuditEntry {
            time_ms: 1_700_000_000_000,
            principal: Some("ci"),
            remote: Some("127.0.0.1:5000".into()),
            method: "PUT",
            path: "/api/v1/config/prod/web/app.yaml",
            query: "message=x",
            body: b"abc",
            status: 403,
        };
        let line = entry.to_line();
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["principal"], "ci");
        assert_eq!(v["outcome"], "refused");
        assert_eq!(v["body_bytes"], 3);
        assert_eq!(
            v["body_sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_log_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/audit.log");
        let log = AuditLog::open(&path).unwrap();
        for status in [200, 401] {
            log.record(&AuditEntry {
                time_ms: 1,
                principal: None,
                remote: None,
                method: "DELETE",
                path: "/api/v1/x",
                query: "",
                body: b"",
                status,
            });
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("\"outcome\":\"failed\"") || text.contains("\"outcome\":\"done\""));
    }
}
