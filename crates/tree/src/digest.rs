//! `DataTree::digest`: a 64-bit fingerprint of the replicated state, so tests (and operators)
//! can compare replicas. It covers every node (path, data, ACL, stored stat fields) and every
//! session, and is independent of internal ids and child order; it does not cover
//! `last_zxid`, so a txn that changes nothing leaves it unchanged.

use crate::node::{Node, NodeId, ROOT};
use crate::tree::DataTree;

/// FNV-1a, 64-bit: simple and stable across platforms and releases (std's hashers are not
/// guaranteed to be).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StableHasher(u64);

impl StableHasher {
    pub(crate) fn new() -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// Length-prefixed, so that adjacent fields cannot run into each other.
    pub(crate) fn field(&mut self, bytes: &[u8]) -> &mut Self {
        self.int(bytes.len() as i64).bytes(bytes)
    }

    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// The hash, with a final avalanche so that sums of hashes stay well spread.
    pub(crate) fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl DataTree {
    /// Fingerprint of all nodes and sessions (see the module docs). O(size of the tree).
    pub fn digest(&self) -> u64 {
        let mut nodes = 0u64;
        let mut stack: Vec<(NodeId, String)> = vec![(ROOT, "/".to_owned())];
        while let Some((id, path)) = stack.pop() {
            let node = self.store.node(id);
            nodes = nodes.wrapping_add(self.node_hash(&path, node));
            for &child in node.children() {
                let name = self.store.node(child).name();
                let child_path = if id == ROOT {
                    format!("/{name}")
                } else {
                    format!("{path}/{name}")
                };
                stack.push((child, child_path));
            }
        }
        let mut sessions = StableHasher::new();
        for (id, timeout, password) in self.sessions() {
            sessions.int(id).int(timeout.into()).field(password);
        }
        StableHasher::new()
            .int(nodes as i64)
            .int(sessions.finish() as i64)
            .finish()
    }

    fn node_hash(&self, path: &str, node: &Node) -> u64 {
        let mut h = StableHasher::new();
        h.field(path.as_bytes()).field(node.data());
        for acl in self.acls.get(node.acl) {
            h.int(acl.perms.into())
                .field(acl.id.scheme.as_bytes())
                .field(acl.id.id.as_bytes());
        }
        h.int(node.czxid)
            .int(node.mzxid)
            .int(node.ctime)
            .int(node.mtime)
            .int(node.owner())
            .int(node.version.into())
            .int(node.aversion().into())
            .int(node.cversion().into())
            .int(node.pzxid());
        h.finish()
    }
}
