//! One znode as stored in memory, and how ZooKeeper's `ephemeralOwner` field is interpreted.

use arbor_proto::Stat;

use crate::acl_table::AclRef;
use crate::name_data::NameData;

/// Index of a node in the store's slab. Never visible outside the crate: nothing observable
/// (results, triggers, digests, snapshots) depends on which id a node got.
pub(crate) type NodeId = u32;

/// The root's id; the root is never removed.
pub(crate) const ROOT: NodeId = 0;

/// Largest TTL a TTL node may have (the 40 bits ZooKeeper reserves for it), in milliseconds.
pub(crate) const MAX_TTL_MS: i64 = 0xFF_FFFF_FFFF;

/// The `ephemeralOwner` value ZooKeeper stores for container nodes.
pub(crate) const CONTAINER_OWNER: i64 = i64::MIN;

/// The high byte ZooKeeper sets in `ephemeralOwner` for "extended" types (TTL nodes).
const EXTENDED_MASK: i64 = 0xFF00_0000_0000_0000_u64 as i64;

/// What kind of node an `ephemeralOwner` value denotes (ZooKeeper's `EphemeralType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    Persistent,
    /// An ephemeral owned by this session.
    Ephemeral(i64),
    Container,
    /// A TTL node with this TTL in milliseconds.
    Ttl(i64),
}

impl OwnerKind {
    /// Classifies a stored owner. TTL owners are recognised whether or not extended types are
    /// enabled: they can only be created while enabled, and treating them as ephemerals of a
    /// non-existent session afterwards would be worse than keeping them TTL nodes.
    pub(crate) fn of(owner: i64) -> Self {
        if owner == CONTAINER_OWNER {
            OwnerKind::Container
        } else if owner & EXTENDED_MASK == EXTENDED_MASK {
            OwnerKind::Ttl(owner & MAX_TTL_MS)
        } else if owner == 0 {
            OwnerKind::Persistent
        } else {
            OwnerKind::Ephemeral(owner)
        }
    }

    /// The stored owner for a TTL node (`ttl` must be in `1..=MAX_TTL_MS`).
    pub(crate) fn ttl_owner(ttl: i64) -> i64 {
        EXTENDED_MASK | (ttl & MAX_TTL_MS)
    }

    /// What clients see in `Stat.ephemeralOwner`: ZooKeeper reports 0 for containers and TTL
    /// nodes, and the session id only for real ephemerals.
    pub(crate) fn client_owner(owner: i64) -> i64 {
        match OwnerKind::of(owner) {
            OwnerKind::Ephemeral(session) => session,
            _ => 0,
        }
    }
}

/// What only some nodes have: an owner (ephemerals, containers, TTL nodes), an ACL version
/// other than 0, or children. Allocated on first need, so a plain persistent leaf (the vast
/// majority of nodes) pays 8 bytes for all of it.
#[derive(Debug, Clone)]
pub(crate) struct Extras {
    /// Raw, as ZooKeeper stores it (see `OwnerKind`); fixed at creation.
    owner: i64,
    aversion: i32,
    /// ZooKeeper's stored `cversion`: the number of children ever created. Clients see
    /// `2 * cversion - numChildren` (creates plus deletes); sequential suffixes use this value.
    pub cversion: i32,
    pub pzxid: i64,
    /// Child ids in no particular order; each child records its position in `slot`.
    pub children: Vec<NodeId>,
}

/// A znode: 64 bytes plus one heap block holding its name and data.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The last path component followed by the data.
    name_data: NameData,
    pub acl: AclRef,
    pub parent: NodeId,
    /// Position in the parent's `Extras::children`, for O(1) unlinking.
    pub slot: u32,
    pub version: i32,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    extras: Option<Box<Extras>>,
}

/// The fields of a node that a create sets, besides name, data and ACL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Birth {
    pub zxid: i64,
    pub time: i64,
    pub owner: i64,
}

impl Node {
    pub(crate) fn new(parent: NodeId, name: &str, data: &[u8], acl: AclRef, birth: Birth) -> Self {
        let mut node = Node {
            name_data: NameData::new(name, data),
            acl,
            parent,
            slot: 0,
            version: 0,
            czxid: birth.zxid,
            mzxid: birth.zxid,
            ctime: birth.time,
            mtime: birth.time,
            extras: None,
        };
        if birth.owner != 0 {
            node.extras_mut().owner = birth.owner;
        }
        node
    }

    pub(crate) fn name(&self) -> &str {
        self.name_data.name()
    }

    pub(crate) fn data(&self) -> &[u8] {
        self.name_data.data()
    }

    pub(crate) fn name_is(&self, name: &str) -> bool {
        self.name_data.name_is(name)
    }

    /// Replaces the data, returning the old name+data block (for undo).
    pub(crate) fn replace_data(&mut self, data: &[u8]) -> NameData {
        let joined = NameData::new(self.name(), data);
        std::mem::replace(&mut self.name_data, joined)
    }

    /// Puts back a block returned by `replace_data`.
    pub(crate) fn restore_data(&mut self, block: NameData) {
        self.name_data = block;
    }

    /// Raw `ephemeralOwner` as stored (see `OwnerKind`).
    pub(crate) fn owner(&self) -> i64 {
        self.extras.as_ref().map_or(0, |e| e.owner)
    }

    pub(crate) fn kind(&self) -> OwnerKind {
        OwnerKind::of(self.owner())
    }

    pub(crate) fn aversion(&self) -> i32 {
        self.extras.as_ref().map_or(0, |e| e.aversion)
    }

    pub(crate) fn set_aversion(&mut self, aversion: i32) {
        if aversion != 0 || self.extras.is_some() {
            self.extras_mut().aversion = aversion;
        }
    }

    pub(crate) fn children(&self) -> &[NodeId] {
        self.extras.as_ref().map_or(&[], |e| e.children.as_slice())
    }

    pub(crate) fn num_children(&self) -> usize {
        self.children().len()
    }

    /// Stored cversion (children ever created).
    pub(crate) fn cversion(&self) -> i32 {
        self.extras.as_ref().map_or(0, |e| e.cversion)
    }

    pub(crate) fn pzxid(&self) -> i64 {
        self.extras.as_ref().map_or(self.czxid, |e| e.pzxid)
    }

    /// The extras, created on first use with the values a plain leaf implicitly has.
    pub(crate) fn extras_mut(&mut self) -> &mut Extras {
        let pzxid = self.czxid;
        self.extras.get_or_insert_with(|| {
            Box::new(Extras {
                owner: 0,
                aversion: 0,
                cversion: 0,
                pzxid,
                children: Vec::new(),
            })
        })
    }

    /// Sets the stored cversion and pzxid (the extras are created if needed).
    pub(crate) fn set_child_stamp(&mut self, cversion: i32, pzxid: i64) {
        let extras = self.extras_mut();
        extras.cversion = cversion;
        extras.pzxid = pzxid;
    }

    /// The `Stat` a client sees.
    pub(crate) fn stat(&self) -> Stat {
        let num_children = self.num_children() as i32;
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion().wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion(),
            ephemeral_owner: OwnerKind::client_owner(self.owner()),
            data_length: self.name_data.data_len() as i32,
            num_children,
            pzxid: self.pzxid(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A persistent node created at zxid 5, time 9.
    const PERSISTENT: Birth = Birth {
        zxid: 5,
        time: 9,
        owner: 0,
    };

    #[test]
    fn owner_kinds_follow_zookeeper_encoding() {
        assert_eq!(OwnerKind::of(0), OwnerKind::Persistent);
        assert_eq!(OwnerKind::of(0x1234), OwnerKind::Ephemeral(0x1234));
        assert_eq!(OwnerKind::of(i64::MIN), OwnerKind::Container);
        let owner = OwnerKind::ttl_owner(5000);
        assert_eq!(owner as u64, 0xFF00_0000_0000_1388);
        assert_eq!(OwnerKind::of(owner), OwnerKind::Ttl(5000));
        assert_eq!(OwnerKind::client_owner(owner), 0);
        assert_eq!(OwnerKind::client_owner(i64::MIN), 0);
        assert_eq!(OwnerKind::client_owner(77), 77);
    }

    #[test]
    fn node_keeps_name_and_data_apart() {
        let mut node = Node::new(ROOT, "name", b"data", 0, PERSISTENT);
        assert_eq!(node.name(), "name");
        assert_eq!(node.data(), b"data");
        let old = node.replace_data(b"longer data");
        assert_eq!(node.name(), "name");
        assert_eq!(node.data(), b"longer data");
        node.restore_data(old);
        assert_eq!(node.data(), b"data");
        let stat = node.stat();
        assert_eq!((stat.czxid, stat.pzxid, stat.ctime), (5, 5, 9));
        assert_eq!(
            (stat.data_length, stat.num_children, stat.cversion),
            (4, 0, 0)
        );
    }

    #[test]
    fn only_nodes_that_need_extras_get_them() {
        let mut leaf = Node::new(ROOT, "leaf", b"", 0, PERSISTENT);
        leaf.set_aversion(0);
        assert!(leaf.extras.is_none());
        assert_eq!((leaf.owner(), leaf.aversion(), leaf.pzxid()), (0, 0, 5));
        leaf.set_aversion(3);
        assert_eq!((leaf.aversion(), leaf.cversion(), leaf.pzxid()), (3, 0, 5));

        let ephemeral = Node::new(
            ROOT,
            "e",
            b"",
            0,
            Birth {
                owner: 0x42,
                ..PERSISTENT
            },
        );
        assert_eq!(ephemeral.kind(), OwnerKind::Ephemeral(0x42));
        assert_eq!(ephemeral.stat().ephemeral_owner, 0x42);
        assert_eq!((ephemeral.aversion(), ephemeral.pzxid()), (0, 5));
    }

    #[test]
    fn node_struct_stays_compact() {
        assert!(std::mem::size_of::<Node>() <= 64);
        assert_eq!(
            std::mem::size_of::<Option<Node>>(),
            std::mem::size_of::<Node>()
        );
    }
}
