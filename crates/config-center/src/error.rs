//! The config center's errors, and how callers (CLI exit codes, HTTP statuses) classify them.

use arbor_coord::CoordError;

use crate::format::ContentError;
use crate::layout::{NameError, Version};
use crate::projection::ProjectionError;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{key}: {source}")]
    Content { key: String, source: ContentError },
    #[error("{key}: cannot project into Spring's layout: {source}")]
    Projection {
        key: String,
        source: ProjectionError,
    },
    #[error(
        "{key}: version conflict: expected version {expected}, but the current version is {current}"
    )]
    Conflict {
        key: String,
        expected: Version,
        current: Version,
    },
    #[error("{key}: no such config{}", deleted_at.map(|v| format!(" (deleted in version {v})")).unwrap_or_default())]
    NotFound {
        key: String,
        deleted_at: Option<Version>,
    },
    #[error("{key}: version {version} is not in the history ({retained})")]
    VersionNotFound {
        key: String,
        version: Version,
        /// What is retained, e.g. `retained: 4..=9`.
        retained: String,
    },
    #[error("{key}: version {version} records a deletion; there is no content to restore")]
    NotRestorable { key: String, version: Version },
    #[error(
        "{key}: the change needs a {size}-byte request, over the {limit}-byte limit (the server's \
         jute.maxbuffer); make the document smaller{}",
        if *projected { " or turn off the Spring projection for this app" } else { "" }
    )]
    RequestTooLarge {
        key: String,
        size: usize,
        limit: usize,
        projected: bool,
    },
    #[error("{key}: gave up after {attempts} attempts: other writers kept changing it")]
    Contention { key: String, attempts: u32 },
    #[error("{path}: stored data is unreadable: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("{path}: cannot give the node the config center's ACL: {source}")]
    Protect { path: String, source: CoordError },
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Coord(#[from] CoordError),
}

/// What kind of failure an error is, for exit codes and HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input (name, content, projection, size): fix the request.
    Invalid,
    /// The thing (config, version) does not exist.
    NotFound,
    /// Someone else changed it (expected version, contention).
    Conflict,
    /// The ensemble could not be reached; a write's outcome is unknown.
    Unavailable,
    /// Stored data or local files are unusable, or the server refused for another reason.
    Failed,
}

impl ConfigError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConfigError::Name(_)
            | ConfigError::Content { .. }
            | ConfigError::Projection { .. }
            | ConfigError::NotRestorable { .. }
            | ConfigError::RequestTooLarge { .. } => ErrorKind::Invalid,
            ConfigError::NotFound { .. } | ConfigError::VersionNotFound { .. } => {
                ErrorKind::NotFound
            }
            ConfigError::Conflict { .. } | ConfigError::Contention { .. } => ErrorKind::Conflict,
            ConfigError::Coord(CoordError::Unavailable(_) | CoordError::SessionExpired) => {
                ErrorKind::Unavailable
            }
            ConfigError::Coord(CoordError::BadArguments(_)) => ErrorKind::Invalid,
            ConfigError::Protect {
                source: CoordError::Unavailable(_) | CoordError::SessionExpired,
                ..
            } => ErrorKind::Unavailable,
            ConfigError::Corrupt { .. }
            | ConfigError::Io(_)
            | ConfigError::Protect { .. }
            | ConfigError::Coord(_) => ErrorKind::Failed,
        }
    }
}
