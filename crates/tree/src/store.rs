//! The node store: a slab of nodes, a name index and parent/child links.
//!
//! Memory layout (the tree must hold ~1M znodes compactly):
//! - nodes live in a slab of `Option<Node>` slots addressed by 4-byte ids, in chunks that never
//!   move (`slab.rs`); vacant slots are reused;
//! - a node stores only its own name (not its path), in the same heap block as its data;
//! - one global hash index maps `(parent id, name)` to a child id. It stores bare `u32` ids
//!   (hashbrown's `HashTable`), hashing and comparing through the slab, so names are stored
//!   once. It is 256 tables picked by 8 bits of the hash (`shard_of`), so one insert grows
//!   (rehashes) at most 1/256 of it: rehashing one table of a million names through the slab
//!   stalled applies for half a second;
//! - child lists exist only for nodes that have had children.
//!
//! Paths are resolved by walking components from the root and rebuilt from parent links when
//! needed (triggers for session close, ephemeral listings, housekeeping).
//!
//! `remove` leaves the slot vacant without freeing it, so that an undo can `restore` the node
//! under the same id; `release` frees the slot once the transaction is settled.
//!
//! Snapshots are written while the tree goes on changing: between `start_recording` and
//! `stop_recording` the store keeps the pre-image of every slot the first time it changes
//! (`Recording`), so `snapshot_node` can still answer for the state at the start. Every
//! mutation of a slot goes through `preserve` first; that is the rule that keeps it exact.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// Seeded per process (names come from clients, so the layout must not be predictable), and
/// several times cheaper than std's SipHash on short names: hashing was a tenth of a write's
/// instructions.
use foldhash::quality::RandomState;

use hashbrown::HashTable;

use crate::node::{Node, NodeId, ROOT};
use crate::slab::Slab;

#[derive(Debug, Clone)]
pub(crate) struct NodeStore {
    slab: Slab,
    free: Vec<NodeId>,
    /// `INDEX_SHARDS` tables; an entry lives in the one `shard_of` its hash picks.
    index: Vec<HashTable<NodeId>>,
    hasher: RandomState,
    live: usize,
    recording: RecordingSlot,
    /// Identifies recordings, so a snapshot cannot read another one's pre-images.
    recordings_started: u64,
}

/// The pre-images kept while a snapshot of the state at `start` is being written.
#[derive(Debug)]
struct Recording {
    id: u64,
    /// Slots at or past this length did not exist at the start: nothing there is preserved.
    slab_len_at_start: usize,
    /// A slot's content at the start (`None`: vacant), kept when it first changed.
    preimages: HashMap<NodeId, Option<Node>>,
}

/// A recording belongs to the store it was started on: a clone of the store starts without.
#[derive(Debug, Default)]
struct RecordingSlot(Option<Box<Recording>>);

impl Clone for RecordingSlot {
    fn clone(&self) -> Self {
        RecordingSlot(None)
    }
}

const INDEX_SHARDS: usize = 256;

/// The index table a key's hash belongs to: 8 bits from the middle of the hash, which
/// hashbrown uses for neither the bucket (low bits) nor the tag (top 7 bits).
fn shard_of(hash: u64) -> usize {
    ((hash >> 32) as usize) & (INDEX_SHARDS - 1)
}

/// Where `insert` put a node, so that the insert can be undone exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inserted {
    pub id: NodeId,
    pub reused_slot: bool,
}

impl NodeStore {
    pub(crate) fn with_root(root: Node) -> Self {
        NodeStore {
            slab: {
                let mut slab = Slab::default();
                slab.push(Some(root));
                slab
            },
            free: Vec::new(),
            index: (0..INDEX_SHARDS).map(|_| HashTable::new()).collect(),
            hasher: RandomState::default(),
            live: 1,
            recording: RecordingSlot::default(),
            recordings_started: 0,
        }
    }

    /// Starts keeping pre-images (see the module docs); returns the recording's id. A recording
    /// already running is replaced (its snapshot can no longer be written).
    pub(crate) fn start_recording(&mut self) -> u64 {
        self.recordings_started += 1;
        self.recording = RecordingSlot(Some(Box::new(Recording {
            id: self.recordings_started,
            slab_len_at_start: self.slab.len(),
            preimages: HashMap::new(),
        })));
        self.recordings_started
    }

    /// Stops recording `id` and drops its pre-images (no-op if another recording runs).
    pub(crate) fn stop_recording(&mut self, id: u64) {
        if self.recording.0.as_ref().is_some_and(|r| r.id == id) {
            self.recording = RecordingSlot::default();
        }
    }

    /// Whether recording `id` is running.
    pub(crate) fn is_recording(&self, id: u64) -> bool {
        self.recording.0.as_ref().is_some_and(|r| r.id == id)
    }

    /// Number of slots preserved by the running recording (for tests and diagnostics).
    pub(crate) fn preserved_slots(&self) -> usize {
        self.recording.0.as_ref().map_or(0, |r| r.preimages.len())
    }

    /// A node as it was when recording `id` started (`None` if the slot was vacant then), or
    /// as it is now when nothing records (`id` is then ignored).
    pub(crate) fn snapshot_node(&self, id: NodeId, recording: Option<u64>) -> Option<&Node> {
        if let (Some(wanted), Some(rec)) = (recording, self.recording.0.as_ref()) {
            if rec.id == wanted {
                if let Some(preimage) = rec.preimages.get(&id) {
                    return preimage.as_ref();
                }
            }
        }
        self.slab.get(id as usize).and_then(Option::as_ref)
    }

    /// Keeps the slot's current content as its pre-image if a recording runs and the slot has
    /// not changed since it started. Called before every change of a slot.
    #[inline]
    fn preserve(&mut self, id: NodeId) {
        if let Some(rec) = self.recording.0.as_mut() {
            if (id as usize) < rec.slab_len_at_start {
                let slab = &self.slab;
                rec.preimages
                    .entry(id)
                    .or_insert_with(|| slab[id as usize].clone());
            }
        }
    }

    /// Number of live nodes, the root included.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// A live node. Ids come only from this store, so a vacant id is a bug.
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        self.slab[id as usize]
            .as_ref()
            .expect("node ids handed out by the store are live")
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.preserve(id);
        self.slab[id as usize]
            .as_mut()
            .expect("node ids handed out by the store are live")
    }

    fn hash_key(hasher: &RandomState, parent: NodeId, name: &str) -> u64 {
        hasher.hash_one((parent, name))
    }

    pub(crate) fn child(&self, parent: NodeId, name: &str) -> Option<NodeId> {
        let hash = Self::hash_key(&self.hasher, parent, name);
        let slab = &self.slab;
        self.index[shard_of(hash)]
            .find(hash, |&id| {
                slab[id as usize]
                    .as_ref()
                    .is_some_and(|n| n.parent == parent && n.name_is(name))
            })
            .copied()
    }

    /// Resolves an absolute path. Anything that is not a well-formed path of an existing
    /// node (relative, empty components, trailing `/`) resolves to `None`.
    pub(crate) fn lookup(&self, path: &str) -> Option<NodeId> {
        let rest = path.strip_prefix('/')?;
        if rest.is_empty() {
            return Some(ROOT);
        }
        rest.split('/')
            .try_fold(ROOT, |parent, name| self.child(parent, name))
    }

    /// Resolves a parent path as ZooKeeper does for creates and deletes (`""` is the root).
    pub(crate) fn lookup_parent(&self, parent: &str) -> Option<NodeId> {
        if parent.is_empty() {
            Some(ROOT)
        } else {
            self.lookup(parent)
        }
    }

    /// The absolute path of a live node.
    pub(crate) fn path_of(&self, id: NodeId) -> String {
        if id == ROOT {
            return "/".to_owned();
        }
        let mut names = Vec::new();
        let mut cur = id;
        while cur != ROOT {
            let node = self.node(cur);
            names.push(node.name());
            cur = node.parent;
        }
        let mut path = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        path
    }

    fn index_insert(&mut self, hash: u64, id: NodeId) {
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index[shard_of(hash)].insert_unique(hash, id, |&other| {
            let n = slab[other as usize]
                .as_ref()
                .expect("indexed nodes are live");
            Self::hash_key(hasher, n.parent, n.name())
        });
    }

    /// Adds `node` (its `parent` must be live and have no child of the same name) as the
    /// parent's last child.
    pub(crate) fn insert(&mut self, mut node: Node) -> Inserted {
        let parent = node.parent;
        let hash = Self::hash_key(&self.hasher, parent, node.name());
        node.slot = self.node(parent).num_children() as u32;
        let (id, reused_slot) = match self.free.pop() {
            Some(id) => {
                self.preserve(id);
                self.slab[id as usize] = Some(node);
                (id, true)
            }
            None => {
                self.slab.push(Some(node));
                ((self.slab.len() - 1) as NodeId, false)
            }
        };
        self.node_mut(parent).extras_mut().children.push(id);
        self.index_insert(hash, id);
        self.live += 1;
        Inserted { id, reused_slot }
    }

    /// Exact inverse of the `insert` that returned `inserted` (which must be the latest change).
    pub(crate) fn uninsert(&mut self, inserted: Inserted) -> Node {
        let node = self.remove(inserted.id);
        if inserted.reused_slot {
            self.free.push(inserted.id);
        } else {
            // An insert and its undo happen in one txn, so a recording cannot have started
            // between them: the popped slot is newer than any recording.
            debug_assert!(self
                .recording
                .0
                .as_ref()
                .is_none_or(|r| inserted.id as usize >= r.slab_len_at_start));
            self.slab.pop();
        }
        node
    }

    /// Unlinks a childless node and takes it out of its slot, which stays reserved until
    /// `release` (or `restore`).
    pub(crate) fn remove(&mut self, id: NodeId) -> Node {
        let (parent, slot, hash) = {
            let node = self.node(id);
            let hash = Self::hash_key(&self.hasher, node.parent, node.name());
            (node.parent, node.slot as usize, hash)
        };
        if let Ok(entry) = self.index[shard_of(hash)].find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        let moved = {
            let children = &mut self.node_mut(parent).extras_mut().children;
            children.swap_remove(slot);
            children.get(slot).copied()
        };
        if let Some(moved) = moved {
            self.node_mut(moved).slot = slot as u32;
        }
        self.live -= 1;
        self.preserve(id);
        self.slab[id as usize]
            .take()
            .expect("node ids handed out by the store are live")
    }

    /// Exact inverse of `remove(id)`: same id, same position among its siblings.
    pub(crate) fn restore(&mut self, id: NodeId, node: Node) {
        let parent = node.parent;
        let slot = node.slot as usize;
        let hash = Self::hash_key(&self.hasher, parent, node.name());
        self.preserve(id);
        self.slab[id as usize] = Some(node);
        let displaced = {
            let children = &mut self.node_mut(parent).extras_mut().children;
            if slot < children.len() {
                let displaced = children[slot];
                children[slot] = id;
                children.push(displaced);
                Some((displaced, children.len() - 1))
            } else {
                children.push(id);
                None
            }
        };
        if let Some((displaced, new_slot)) = displaced {
            self.node_mut(displaced).slot = new_slot as u32;
        }
        self.index_insert(hash, id);
        self.live += 1;
    }

    /// Frees the slot of a removed node for reuse.
    pub(crate) fn release(&mut self, id: NodeId) {
        debug_assert!(self.slab[id as usize].is_none());
        self.free.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Birth;

    fn node(parent: NodeId, name: &str) -> Node {
        let birth = Birth {
            zxid: 1,
            time: 1,
            owner: 0,
        };
        Node::new(parent, name, b"", 0, birth)
    }

    fn root() -> Node {
        node(ROOT, "")
    }

    #[test]
    fn insert_lookup_remove() {
        let mut store = NodeStore::with_root(root());
        let a = store.insert(node(ROOT, "a")).id;
        let b = store.insert(node(a, "b")).id;
        let c = store.insert(node(a, "c")).id;
        assert_eq!(store.lookup("/"), Some(ROOT));
        assert_eq!(store.lookup("/a/b"), Some(b));
        assert_eq!(store.lookup("/a/c"), Some(c));
        assert_eq!(store.lookup("/a/"), None);
        assert_eq!(store.lookup("a/b"), None);
        assert_eq!(store.lookup("/a//b"), None);
        assert_eq!(store.path_of(c), "/a/c");
        assert_eq!(store.len(), 4);

        let removed = store.remove(b);
        assert_eq!(store.lookup("/a/b"), None);
        assert_eq!(store.node(a).children(), &[c]);
        assert_eq!(store.node(c).slot, 0);
        store.restore(b, removed);
        assert_eq!(store.node(a).children(), &[b, c]);
        assert_eq!(store.lookup("/a/b"), Some(b));
        assert_eq!(store.node(c).slot, 1);

        let removed = store.remove(b);
        drop(removed);
        store.release(b);
        let d = store.insert(node(a, "d"));
        assert_eq!(
            d,
            Inserted {
                id: b,
                reused_slot: true
            }
        );
        store.uninsert(d);
        let e = store.insert(node(a, "e"));
        assert_eq!(e.id, b, "uninsert gives the slot back");
        assert_eq!(store.len(), 4);
    }

    #[test]
    fn many_siblings_stay_consistent() {
        let mut store = NodeStore::with_root(root());
        let ids: Vec<NodeId> = (0..500)
            .map(|i| store.insert(node(ROOT, &format!("n{i}"))).id)
            .collect();
        for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            store.remove(*id);
            store.release(*id);
            assert_eq!(store.lookup(&format!("/n{i}")), None);
        }
        for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
            assert_eq!(store.lookup(&format!("/n{i}")), Some(*id));
            let slot = store.node(*id).slot as usize;
            assert_eq!(store.node(ROOT).children()[slot], *id);
        }
    }
}
