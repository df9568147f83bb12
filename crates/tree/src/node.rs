//! One znode as stored in memory, and how ZooKeeper's `ephemeralOwner` field is interpreted.

use arbor_proto::Stat;

use crate::acl_table::AclRef;

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

/// Child bookkeeping, allocated only once a node gets its first child, so leaves (the vast
/// majority of nodes) pay 8 bytes for it.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    /// Child ids in no particular order; each child records its position in `slot`.
    pub children: Vec<NodeId>,
    /// ZooKeeper's stored `cversion`: the number of children ever created. Clients see
    /// `2 * cversion - numChildren` (creates plus deletes); sequential suffixes use this value.
    pub cversion: i32,
    pub pzxid: i64,
}

/// A znode. 88 bytes plus one heap block holding its name and data.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The last path component followed by the data, in one allocation.
    name_and_data: Box<[u8]>,
    name_len: u32,
    pub acl: AclRef,
    pub parent: NodeId,
    /// Position in the parent's `Family::children`, for O(1) unlinking.
    pub slot: u32,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    /// Raw, as ZooKeeper stores it (see `OwnerKind`).
    pub owner: i64,
    pub version: i32,
    pub aversion: i32,
    pub family: Option<Box<Family>>,
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
        Node {
            name_and_data: join(name, data),
            name_len: name.len() as u32,
            acl,
            parent,
            slot: 0,
            czxid: birth.zxid,
            mzxid: birth.zxid,
            ctime: birth.time,
            mtime: birth.time,
            owner: birth.owner,
            version: 0,
            aversion: 0,
            family: None,
        }
    }

    pub(crate) fn name(&self) -> &str {
        // Always valid: the bytes were copied from a `&str` (or validated by the snapshot reader).
        std::str::from_utf8(&self.name_and_data[..self.name_len as usize]).unwrap_or_default()
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.name_and_data[self.name_len as usize..]
    }

    /// Replaces the data, returning the old name+data block (for undo).
    pub(crate) fn replace_data(&mut self, data: &[u8]) -> Box<[u8]> {
        let joined = join(self.name(), data);
        std::mem::replace(&mut self.name_and_data, joined)
    }

    /// Puts back a block returned by `replace_data`.
    pub(crate) fn restore_data(&mut self, block: Box<[u8]>) {
        self.name_and_data = block;
    }

    pub(crate) fn kind(&self) -> OwnerKind {
        OwnerKind::of(self.owner)
    }

    pub(crate) fn children(&self) -> &[NodeId] {
        self.family.as_ref().map_or(&[], |f| f.children.as_slice())
    }

    pub(crate) fn num_children(&self) -> usize {
        self.children().len()
    }

    /// Stored cversion (children ever created).
    pub(crate) fn cversion(&self) -> i32 {
        self.family.as_ref().map_or(0, |f| f.cversion)
    }

    pub(crate) fn pzxid(&self) -> i64 {
        self.family.as_ref().map_or(self.czxid, |f| f.pzxid)
    }

    /// The family, created on first use with the values a leaf implicitly has.
    pub(crate) fn family_mut(&mut self) -> &mut Family {
        let pzxid = self.czxid;
        self.family.get_or_insert_with(|| {
            Box::new(Family {
                children: Vec::new(),
                cversion: 0,
                pzxid,
            })
        })
    }

    /// Sets the stored cversion and pzxid (the family is created if needed).
    pub(crate) fn set_child_stamp(&mut self, cversion: i32, pzxid: i64) {
        let family = self.family_mut();
        family.cversion = cversion;
        family.pzxid = pzxid;
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
            aversion: self.aversion,
            ephemeral_owner: OwnerKind::client_owner(self.owner),
            data_length: self.data().len() as i32,
            num_children,
            pzxid: self.pzxid(),
        }
    }
}

fn join(name: &str, data: &[u8]) -> Box<[u8]> {
    let mut bytes = Vec::with_capacity(name.len() + data.len());
    bytes.extend_from_slice(name.as_bytes());
    bytes.extend_from_slice(data);
    bytes.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let birth = Birth {
            zxid: 5,
            time: 9,
            owner: 0,
        };
        let mut node = Node::new(ROOT, "name", b"data", 0, birth);
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
    fn node_struct_stays_compact() {
        assert!(std::mem::size_of::<Node>() <= 88);
        assert_eq!(
            std::mem::size_of::<Option<Node>>(),
            std::mem::size_of::<Node>()
        );
    }
}
