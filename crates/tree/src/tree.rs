//! `DataTree`: the state (nodes, ACLs, sessions) and its read accessors. Changes are made by
//! `apply` (see `apply.rs`) through the undoable primitives in `change.rs`.

use std::collections::{BTreeMap, BTreeSet};

use arbor_proto::{Acl, ErrorCode, Id, Stat};

use crate::acl;
use crate::acl_table::AclTable;
use crate::node::{Birth, Node, NodeId, OwnerKind, ROOT};
use crate::path;
use crate::store::NodeStore;
use crate::txn::{SessionId, TxnOp, Zxid};

/// Settings that change what the tree accepts; every replica must use the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeOptions {
    /// ZooKeeper's `zookeeper.extendedTypesEnabled`: allows TTL nodes.
    pub extended_types_enabled: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub timeout_ms: i32,
    pub password: Box<[u8]>,
    pub ephemerals: BTreeSet<NodeId>,
}

/// The ZooKeeper data tree as a deterministic state machine.
#[derive(Debug, Clone)]
pub struct DataTree {
    pub(crate) options: TreeOptions,
    pub(crate) store: NodeStore,
    pub(crate) acls: AclTable,
    pub(crate) sessions: BTreeMap<SessionId, Session>,
    pub(crate) containers: BTreeSet<NodeId>,
    pub(crate) ttls: BTreeSet<NodeId>,
    /// Sum over nodes of path length (UTF-16 units) plus data length, as ZooKeeper counts it.
    pub(crate) data_size: i64,
    pub(crate) last_zxid: Zxid,
}

impl DataTree {
    /// A tree as a fresh ZooKeeper server has it: `/`, `/zookeeper`, `/zookeeper/quota` and
    /// `/zookeeper/config`, all empty with zero stats; the config node is read-only for
    /// everyone and has aversion -1 (ZooKeeper sets its ACL with version -1).
    pub fn new(options: TreeOptions) -> Self {
        Self::empty(options, Acl::open_unsafe()).with_system_nodes()
    }

    /// A tree with only the root (with `root_acl`), for snapshot loading.
    pub(crate) fn empty(options: TreeOptions, root_acl: Vec<Acl>) -> Self {
        let mut acls = AclTable::default();
        let root_acl = acls.intern(&root_acl);
        let birth = Birth {
            zxid: 0,
            time: 0,
            owner: 0,
        };
        DataTree {
            options,
            store: NodeStore::with_root(Node::new(ROOT, "", b"", root_acl, birth)),
            acls,
            sessions: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 1, // the root's path, "/"
            last_zxid: 0,
        }
    }

    fn with_system_nodes(mut self) -> Self {
        let birth = Birth {
            zxid: 0,
            time: 0,
            owner: 0,
        };
        let open = self.acls.intern(&Acl::open_unsafe());
        let zookeeper = self
            .store
            .insert(Node::new(ROOT, "zookeeper", b"", open, birth))
            .id;
        let open = self.acls.intern(&Acl::open_unsafe());
        self.store
            .insert(Node::new(zookeeper, "quota", b"", open, birth));
        let read_only = self.acls.intern(&Acl::read_unsafe());
        let config = self
            .store
            .insert(Node::new(zookeeper, "config", b"", read_only, birth))
            .id;
        self.store.node_mut(config).set_aversion(-1);
        self.data_size += ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"]
            .iter()
            .map(|p| path::java_len(p))
            .sum::<i64>();
        self
    }

    pub fn options(&self) -> TreeOptions {
        self.options
    }

    /// The zxid of the last applied txn (0 for a fresh tree).
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    fn find(&self, path: &str) -> Option<&Node> {
        self.store.lookup(path).map(|id| self.store.node(id))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.store.lookup(path).is_some()
    }

    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.find(path).map(Node::stat)
    }

    pub fn data(&self, path: &str) -> Option<(&[u8], Stat)> {
        self.find(path).map(|n| (n.data(), n.stat()))
    }

    /// Child names, sorted (ZooKeeper's order is unspecified; sorted is deterministic).
    pub fn children(&self, path: &str) -> Option<(Vec<String>, Stat)> {
        let node = self.find(path)?;
        let mut names: Vec<String> = node
            .children()
            .iter()
            .map(|&c| self.store.node(c).name().to_owned())
            .collect();
        names.sort_unstable();
        Some((names, node.stat()))
    }

    pub fn acl(&self, path: &str) -> Option<(Vec<Acl>, Stat)> {
        self.find(path)
            .map(|n| (self.acls.get(n.acl).to_vec(), n.stat()))
    }

    /// Whether identities `auth` hold `perm` on `path`: `NoNode` or `NoAuth` if not.
    pub fn check_perm(&self, path: &str, perm: i32, auth: &[Id]) -> Result<(), ErrorCode> {
        let node = self.find(path).ok_or(ErrorCode::NoNode)?;
        if acl::allows(self.acls.get(node.acl), perm, auth) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    /// Paths of the session's ephemerals, sorted.
    pub fn ephemerals(&self, session: SessionId) -> Vec<String> {
        let mut paths: Vec<String> = self
            .sessions
            .get(&session)
            .map(|s| {
                s.ephemerals
                    .iter()
                    .map(|&id| self.store.path_of(id))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort_unstable();
        paths
    }

    /// Number of descendants of `path` (for `/`: every node but the root), as ZooKeeper's
    /// `getAllChildrenNumber` answers.
    pub fn all_children_number(&self, path: &str) -> Option<i64> {
        let id = self.store.lookup(path)?;
        if id == ROOT {
            return Some(self.store.len() as i64 - 1);
        }
        let mut count = 0i64;
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let children = self.store.node(id).children();
            count += children.len() as i64;
            stack.extend_from_slice(children);
        }
        Some(count)
    }

    /// The znode count ZooKeeper reports (`zk_znode_count`): it counts the root twice (it is
    /// mapped under both `""` and `/`), so a fresh tree reports 5.
    pub fn node_count(&self) -> usize {
        self.store.len() + 1
    }

    /// Number of ephemeral nodes (`zk_ephemerals_count`).
    pub fn ephemeral_count(&self) -> usize {
        self.sessions.values().map(|s| s.ephemerals.len()).sum()
    }

    /// ZooKeeper's `zk_approximate_data_size`: sum of path length plus data length over all
    /// nodes (44 for a fresh tree).
    pub fn approximate_data_size(&self) -> i64 {
        self.data_size
    }

    /// Open sessions: `(id, timeout_ms, password)`, by id.
    pub fn sessions(&self) -> impl Iterator<Item = (SessionId, i32, &[u8])> + '_ {
        self.sessions
            .iter()
            .map(|(&id, s)| (id, s.timeout_ms, &*s.password))
    }

    /// A session's `(timeout_ms, password)`.
    pub fn session(&self, id: SessionId) -> Option<(i32, &[u8])> {
        self.sessions.get(&id).map(|s| (s.timeout_ms, &*s.password))
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The housekeeping deletions due at `now_ms`, for the leader to propose: containers that
    /// have had children and have none now, and TTL nodes without children whose TTL has
    /// passed since their last modification. Sorted by path.
    pub fn housekeeping(&self, now_ms: i64) -> Vec<TxnOp> {
        let mut containers: Vec<String> = self
            .containers
            .iter()
            .map(|&id| (id, self.store.node(id)))
            .filter(|(_, n)| container_is_due(n))
            .map(|(id, _)| self.store.path_of(id))
            .collect();
        let mut ttls: Vec<String> = self
            .ttls
            .iter()
            .map(|&id| (id, self.store.node(id)))
            .filter(|(_, n)| ttl_is_due(n, now_ms))
            .map(|(id, _)| self.store.path_of(id))
            .collect();
        containers.sort_unstable();
        ttls.sort_unstable();
        containers
            .into_iter()
            .map(|path| TxnOp::DeleteContainer { path })
            .chain(
                ttls.into_iter()
                    .map(|path| TxnOp::DeleteExpiredTtl { path }),
            )
            .collect()
    }

    /// Registers a node in the per-kind indexes (session ephemerals, containers, TTLs).
    pub(crate) fn index_kind(&mut self, id: NodeId, owner: i64) {
        match OwnerKind::of(owner) {
            OwnerKind::Persistent => {}
            OwnerKind::Ephemeral(session) => {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.ephemerals.insert(id);
                }
            }
            OwnerKind::Container => {
                self.containers.insert(id);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.insert(id);
            }
        }
    }

    pub(crate) fn unindex_kind(&mut self, id: NodeId, owner: i64) {
        match OwnerKind::of(owner) {
            OwnerKind::Persistent => {}
            OwnerKind::Ephemeral(session) => {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.ephemerals.remove(&id);
                }
            }
            OwnerKind::Container => {
                self.containers.remove(&id);
            }
            OwnerKind::Ttl(_) => {
                self.ttls.remove(&id);
            }
        }
    }
}

/// A container is deleted once it has had a child and has none left (ZooKeeper's
/// `ContainerManager`; the stored cversion counts creates).
pub(crate) fn container_is_due(node: &Node) -> bool {
    node.kind() == OwnerKind::Container && node.num_children() == 0 && node.cversion() > 0
}

/// A TTL node expires when it has no children and more than its TTL has passed since mtime.
pub(crate) fn ttl_is_due(node: &Node, now_ms: i64) -> bool {
    match node.kind() {
        OwnerKind::Ttl(ttl) => {
            node.num_children() == 0 && i128::from(now_ms) - i128::from(node.mtime) > ttl.into()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_proto::perms;

    #[test]
    fn fresh_tree_matches_zookeeper() {
        // Values read from a fresh ZooKeeper 3.8.0 (stat, getAcl, mntr).
        let tree = DataTree::new(TreeOptions::default());
        let root = tree.stat("/").unwrap();
        assert_eq!(root.cversion, -1);
        assert_eq!(root.num_children, 1);
        assert_eq!(
            (root.czxid, root.mzxid, root.pzxid, root.ctime),
            (0, 0, 0, 0)
        );
        let zk = tree.stat("/zookeeper").unwrap();
        assert_eq!((zk.cversion, zk.num_children), (-2, 2));
        let quota = tree.stat("/zookeeper/quota").unwrap();
        assert_eq!(
            (quota.cversion, quota.aversion, quota.num_children),
            (0, 0, 0)
        );
        let (config_acl, config) = tree.acl("/zookeeper/config").unwrap();
        assert_eq!(config.aversion, -1);
        assert_eq!(config_acl, Acl::read_unsafe());
        assert_eq!(tree.acl("/").unwrap().0, Acl::open_unsafe());
        assert_eq!(tree.acl("/zookeeper").unwrap().0, Acl::open_unsafe());
        assert_eq!(tree.data("/zookeeper/config").unwrap().0, b"");
        assert_eq!(tree.node_count(), 5);
        assert_eq!(tree.approximate_data_size(), 44);
        assert_eq!(tree.ephemeral_count(), 0);
        assert_eq!(tree.all_children_number("/"), Some(3));
        assert_eq!(tree.all_children_number("/zookeeper"), Some(2));
        assert_eq!(tree.all_children_number("/nope"), None);
        assert_eq!(tree.children("/zookeeper").unwrap().0, ["config", "quota"]);
        assert_eq!(tree.last_zxid(), 0);
        assert!(tree.housekeeping(i64::MAX).is_empty());
    }

    #[test]
    fn check_perm_reports_missing_and_denied() {
        let tree = DataTree::new(TreeOptions::default());
        assert_eq!(
            tree.check_perm("/zookeeper/config", perms::READ, &[]),
            Ok(())
        );
        assert_eq!(
            tree.check_perm("/zookeeper/config", perms::WRITE, &[]),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            tree.check_perm("/zookeeper/config", perms::WRITE, &[Id::new("super", "")]),
            Ok(())
        );
        assert_eq!(
            tree.check_perm("/x", perms::READ, &[]),
            Err(ErrorCode::NoNode)
        );
    }
}
