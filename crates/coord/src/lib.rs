//! The coordination trait that Arbor's modules (config center, naming, agent) are written against.
//!
//! A module says *what* it reads and writes (nodes, multis, watches) through [`Coordination`];
//! where that goes is the implementation's business. [`remote::ZkCoord`] talks the ZooKeeper
//! protocol through the `zookeeper-client` crate, so the CLI and the agent work against Arbor and
//! against a plain Apache ZooKeeper ensemble alike. The server mounts the modules' HTTP APIs on a
//! `ZkCoord` connected to its own client port, so an API write takes exactly the path a client
//! write takes (forwarding, consensus, watches).
//!
//! The trait is generic-friendly rather than object-safe (`impl Future` returns): modules take
//! `C: Coordination`.
//!
//! ACLs: a module chooses the ACL of every node it creates ([`Acl`]; [`Acl::open`] unless it was
//! given a credential) and authenticates its session with [`Coordination::add_auth`], as a
//! Curator application does with its `ACLProvider` and `authorization(...)`.

mod acl;
pub mod api;
mod model;
pub mod remote;

use std::future::Future;

pub use acl::{Acl, AclEntry, CredentialError, DigestCredential, Perms};
pub use model::{
    Change, ChangeKind, CoordError, CreateKind, MultiError, Node, NodeStat, OpResult, WriteOp,
};

/// Reads, writes and watches on a ZooKeeper-style tree.
///
/// Paths are absolute ZooKeeper paths. "Missing" is not an error for reads: `Ok(None)`.
pub trait Coordination: Send + Sync + 'static {
    /// Data and stat of `path`, or `None` if it does not exist.
    fn get(&self, path: &str) -> impl Future<Output = Result<Option<Node>, CoordError>> + Send;

    /// Stat of `path`, or `None` if it does not exist.
    fn stat(&self, path: &str)
        -> impl Future<Output = Result<Option<NodeStat>, CoordError>> + Send;

    /// Child names of `path` (unsorted, as the server returns them), or `None` if it does not exist.
    fn children(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<Vec<String>>, CoordError>> + Send;

    /// Creates one node with `acl` (ancestors must exist); returns the created path (with a
    /// sequence suffix for sequential kinds).
    fn create_with_acl(
        &self,
        path: &str,
        data: &[u8],
        kind: CreateKind,
        acl: &Acl,
    ) -> impl Future<Output = Result<String, CoordError>> + Send;

    /// [`Coordination::create_with_acl`] with [`Acl::open`] (`world:anyone:cdrwa`).
    fn create(
        &self,
        path: &str,
        data: &[u8],
        kind: CreateKind,
    ) -> impl Future<Output = Result<String, CoordError>> + Send {
        async move { self.create_with_acl(path, data, kind, &Acl::open()).await }
    }

    /// Sets data, optionally only if the node's version equals `expected_version`.
    fn set_data(
        &self,
        path: &str,
        data: &[u8],
        expected_version: Option<i32>,
    ) -> impl Future<Output = Result<NodeStat, CoordError>> + Send;

    /// Deletes a node, optionally only at `expected_version`.
    fn delete(
        &self,
        path: &str,
        expected_version: Option<i32>,
    ) -> impl Future<Output = Result<(), CoordError>> + Send;

    /// Applies all `ops` atomically (ZooKeeper multi): all succeed or none.
    fn multi(
        &self,
        ops: Vec<WriteOp>,
    ) -> impl Future<Output = Result<Vec<OpResult>, MultiError>> + Send;

    /// Reads `path` and leaves a one-time watch that fires on its creation, deletion or data change.
    fn watch_node(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Node>, Change), CoordError>> + Send;

    /// Lists `path`'s children and leaves a one-time watch that fires when they change (or the
    /// node is created/deleted).
    fn watch_children(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Vec<String>>, Change), CoordError>> + Send;

    /// Makes this client's view current with the leader (ZooKeeper `sync`).
    fn sync(&self, path: &str) -> impl Future<Output = Result<(), CoordError>> + Send;

    /// The ACL of `path` with its stat, or `None` if it does not exist.
    fn get_acl(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<(Acl, NodeStat)>, CoordError>> + Send;

    /// Replaces the ACL of `path`, optionally only at ACL version `expected_aversion`.
    fn set_acl(
        &self,
        path: &str,
        acl: &Acl,
        expected_aversion: Option<i32>,
    ) -> impl Future<Output = Result<NodeStat, CoordError>> + Send;

    /// Adds an identity to the session (ZooKeeper `addauth`), e.g. `digest` with
    /// `user:password`. The identity stays for the session's life, across reconnects.
    fn add_auth(
        &self,
        scheme: &str,
        auth: &[u8],
    ) -> impl Future<Output = Result<(), CoordError>> + Send;

    /// Adds `credential`'s `digest` identity to the session.
    fn add_digest_auth(
        &self,
        credential: &DigestCredential,
    ) -> impl Future<Output = Result<(), CoordError>> + Send {
        let auth = credential.auth_bytes();
        async move { self.add_auth("digest", &auth).await }
    }

    /// Creates `path` and any missing ancestors as empty persistent nodes (`mkdir -p`) with
    /// [`Acl::open`].
    fn ensure_path(&self, path: &str) -> impl Future<Output = Result<(), CoordError>> + Send {
        async move { self.ensure_path_with_acl(path, &Acl::open()).await }
    }

    /// Creates `path` and any missing ancestors as empty persistent nodes with `acl` (nodes that
    /// exist already keep theirs).
    fn ensure_path_with_acl(
        &self,
        path: &str,
        acl: &Acl,
    ) -> impl Future<Output = Result<(), CoordError>> + Send {
        async move {
            let mut prefix = String::new();
            for part in path.split('/').filter(|part| !part.is_empty()) {
                prefix.push('/');
                prefix.push_str(part);
                match self
                    .create_with_acl(&prefix, &[], CreateKind::Persistent, acl)
                    .await
                {
                    Ok(_) | Err(CoordError::NodeExists) => {}
                    Err(other) => return Err(other),
                }
            }
            Ok(())
        }
    }

    /// The session id this handle's ephemeral nodes belong to.
    fn session_id(&self) -> i64;
}
