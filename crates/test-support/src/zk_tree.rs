//! What a client sees of a whole tree: every node's data and stat, read through one server.
//! Comparing two [`TreeView`]s (after a `sync` on each server) tells whether replicas converged;
//! [`TreeView::digest`] is a short fingerprint for messages.

use std::collections::BTreeMap;

use zookeeper_client as zk;

/// How many requests are kept in flight while walking a tree.
const WALK_BATCH: usize = 256;

/// A node as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub data: Vec<u8>,
    pub stat: zk::Stat,
}

/// Every node under a root, by path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeView {
    pub nodes: BTreeMap<String, NodeView>,
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

impl TreeView {
    /// Syncs `client`'s server with the leader, then reads every node under `root` (included).
    /// A node deleted during the walk is an error (`NoNode`): walk a quiet tree.
    pub async fn read(client: &zk::Client, root: &str) -> Result<TreeView, zk::Error> {
        client.sync(root).await?;
        let mut view = TreeView::default();
        let mut level = vec![root.to_owned()];
        while !level.is_empty() {
            let mut next = Vec::new();
            for chunk in level.chunks(WALK_BATCH) {
                let reads = chunk.iter().map(|path| async move {
                    let (data, stat) = client.get_data(path).await?;
                    let children = if stat.num_children > 0 {
                        client.list_children(path).await?
                    } else {
                        Vec::new()
                    };
                    Ok::<_, zk::Error>((path, data, stat, children))
                });
                for result in futures::future::join_all(reads).await {
                    let (path, data, stat, children) = result?;
                    next.extend(children.iter().map(|c| child_path(path, c)));
                    view.nodes.insert(path.clone(), NodeView { data, stat });
                }
            }
            level = next;
        }
        Ok(view)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// FNV-1a over paths, data and stats, in path order.
    pub fn digest(&self) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        let mut feed = |bytes: &[u8]| {
            for &b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for (path, node) in &self.nodes {
            let s = &node.stat;
            feed(path.as_bytes());
            feed(&node.data);
            for n in [
                s.czxid,
                s.mzxid,
                s.pzxid,
                s.ctime,
                s.mtime,
                s.ephemeral_owner,
                i64::from(s.version),
                i64::from(s.cversion),
                i64::from(s.aversion),
                i64::from(s.num_children),
            ] {
                feed(&n.to_le_bytes());
            }
        }
        hash
    }

    /// The first path where the two views differ, with both sides, or `None` if equal.
    pub fn first_difference(&self, other: &TreeView) -> Option<String> {
        let paths: std::collections::BTreeSet<&String> =
            self.nodes.keys().chain(other.nodes.keys()).collect();
        paths.into_iter().find_map(|path| {
            let (a, b) = (self.nodes.get(path), other.nodes.get(path));
            (a != b).then(|| format!("{path}: {a:?} vs {b:?}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(data: &[u8], version: i32) -> NodeView {
        NodeView {
            data: data.to_vec(),
            stat: zk::Stat {
                czxid: 1,
                mzxid: 1,
                pzxid: 1,
                ctime: 0,
                mtime: 0,
                version,
                cversion: 0,
                aversion: 0,
                ephemeral_owner: 0,
                data_length: data.len() as i32,
                num_children: 0,
            },
        }
    }

    #[test]
    fn digest_and_difference_see_data_stats_and_missing_nodes() {
        let mut a = TreeView::default();
        a.nodes.insert("/".into(), node(b"", 0));
        a.nodes.insert("/x".into(), node(b"1", 0));
        let b = a.clone();
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.first_difference(&b), None);

        let mut c = a.clone();
        c.nodes.insert("/x".into(), node(b"1", 1));
        assert_ne!(a.digest(), c.digest());
        assert!(a.first_difference(&c).unwrap().starts_with("/x:"));

        let mut d = a.clone();
        d.nodes.remove("/x");
        assert_ne!(a.digest(), d.digest());
        assert!(a.first_difference(&d).unwrap().contains("None"));
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }
}
