//! Plain data of the coordination trait: node stats, write operations, results, errors, changes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::acl::Acl;

/// The Stat of a znode, with ZooKeeper's field meanings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    /// Milliseconds since the epoch.
    pub ctime: i64,
    /// Milliseconds since the epoch.
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    /// Owning session for ephemerals, 0 otherwise.
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
}

/// A node's data with its stat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub data: Vec<u8>,
    pub stat: NodeStat,
}

/// Node kinds a module may create (the ACL is given separately: [`crate::Acl`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    Persistent,
    PersistentSequential,
    Ephemeral,
    EphemeralSequential,
    Container,
}

/// One operation of an atomic multi.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    Create {
        path: String,
        data: Vec<u8>,
        kind: CreateKind,
        acl: Acl,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        expected_version: Option<i32>,
    },
    Delete {
        path: String,
        expected_version: Option<i32>,
    },
    /// Fails the multi unless `path` exists at `version`.
    Check { path: String, version: i32 },
}

impl WriteOp {
    pub fn path(&self) -> &str {
        match self {
            WriteOp::Create { path, .. }
            | WriteOp::SetData { path, .. }
            | WriteOp::Delete { path, .. }
            | WriteOp::Check { path, .. } => path,
        }
    }
}

/// Result of one operation of a successful multi, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    Created { path: String },
    SetData { stat: NodeStat },
    Deleted,
    Checked,
}

/// Failures, named after ZooKeeper's error codes where one applies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoordError {
    #[error("node does not exist")]
    NoNode,
    #[error("node already exists")]
    NodeExists,
    #[error("version mismatch")]
    BadVersion,
    #[error("node has children")]
    NotEmpty,
    #[error("ephemeral nodes may not have children")]
    NoChildrenForEphemerals,
    #[error("not authorized")]
    NoAuth,
    #[error("invalid argument: {0}")]
    BadArguments(String),
    #[error("session expired")]
    SessionExpired,
    /// The ensemble could not be reached or the connection dropped mid-request; the outcome of a
    /// write that failed this way is unknown.
    #[error("coordination service unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected error: {0}")]
    Other(String),
}

/// A failed multi: nothing was applied. `index` is the operation that failed, when the server
/// said which one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{source}", index.map(|index| format!("operation {index} failed: ")).unwrap_or_default())]
pub struct MultiError {
    pub index: Option<usize>,
    pub source: CoordError,
}

impl From<CoordError> for MultiError {
    fn from(source: CoordError) -> Self {
        MultiError {
            index: None,
            source,
        }
    }
}

/// What a fired watch reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Deleted,
    DataChanged,
    ChildrenChanged,
    /// The session ended (expired or closed) or the watch was otherwise lost: re-read everything.
    SessionLost,
}

/// A pending one-time watch; resolves once, when the watched thing changes.
pub struct Change(Pin<Box<dyn Future<Output = ChangeKind> + Send + 'static>>);

impl Change {
    pub fn new(future: impl Future<Output = ChangeKind> + Send + 'static) -> Self {
        Change(Box::pin(future))
    }
}

impl Future for Change {
    type Output = ChangeKind;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ChangeKind> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Change(..)")
    }
}
