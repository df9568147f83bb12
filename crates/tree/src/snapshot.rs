//! Snapshots: the whole tree in a compact, versioned binary format.
//!
//! Layout (integers little-endian; `str`/`bytes` are a u32 length then the bytes):
//! ```text
//! magic "ARBORTRE" | format u32 | flags u8 (bit 0: extended types) | last_zxid i64
//! acl lists: u32 count, each: u32 entries, entries × (perms i32, scheme str, id str)
//! sessions:  u32 count, each: id i64, timeout i32, password bytes
//! nodes:     u64 count, in pre-order (parents first, the root first), each:
//!            parent u32 (position in this list; u32::MAX for the root), name str, data bytes,
//!            acl u32 (position in the ACL list table), czxid, mzxid, ctime, mtime, owner i64, version, aversion, cversion i32,
//!            pzxid i64
//! crc32 (u32) of everything above
//! ```
//! Reading checks every length, reference and name, so a truncated or corrupt snapshot is an
//! error, never a panic or an oversized allocation.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read, Write};

use arbor_proto::{Acl, Id};

use crate::acl_table::{AclRef, AclTable};
use crate::node::{Birth, Node, NodeId, OwnerKind, ROOT};
use crate::path;
use crate::store::NodeStore;
use crate::tree::{DataTree, Session, TreeOptions};

const MAGIC: &[u8; 8] = b"ARBORTRE";
const FORMAT_VERSION: u32 = 1;
const FLAG_EXTENDED_TYPES: u8 = 1;
const NO_PARENT: u32 = u32::MAX;

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("not a tree snapshot (bad magic)")]
    BadMagic,
    #[error("unsupported snapshot format version {0}")]
    UnsupportedVersion(u32),
    #[error("snapshot is truncated")]
    Truncated,
    #[error("snapshot checksum mismatch")]
    ChecksumMismatch,
    #[error("corrupt snapshot: {0}")]
    Corrupt(&'static str),
}

fn read_error(e: io::Error) -> SnapshotError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        SnapshotError::Truncated
    } else {
        SnapshotError::Io(e)
    }
}

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotWriteError {
    #[error("snapshot I/O error: {0}")]
    Io(#[from] io::Error),
    /// The tree no longer records for this snapshot (it was replaced, or another snapshot
    /// began): the state it started from is gone.
    #[error("the tree stopped recording for this snapshot")]
    NotRecording,
    #[error("snapshot traversal found an inconsistency: {0}")]
    Inconsistent(&'static str),
}

/// Nodes encoded per step of [`DataTree::write_snapshot`].
const NODES_PER_STEP: usize = 1 << 14;

impl DataTree {
    /// Writes the whole tree (see the module docs for the format).
    pub fn write_snapshot(&self, w: &mut impl Write) -> io::Result<()> {
        let mut snapshot = self.capture(None);
        let mut chunk = Vec::new();
        loop {
            chunk.clear();
            let done = snapshot
                .encode_step(self, NODES_PER_STEP, &mut chunk)
                .map_err(|e| match e {
                    SnapshotWriteError::Io(e) => e,
                    other => io::Error::other(other),
                })?;
            w.write_all(&chunk)?;
            if done {
                return w.flush();
            }
        }
    }

    /// Fixes the current state as a snapshot to be written later, in steps, while the tree
    /// goes on changing: until [`DataTree::end_snapshot`], the store keeps the pre-image of
    /// every node that changes. Costs a copy of the ACL and session tables now, and one node
    /// copy per node changed before the snapshot is written.
    pub fn begin_snapshot(&mut self) -> TreeSnapshot {
        let recording = self.store.start_recording();
        self.capture(Some(recording))
    }

    /// Stops the recording `snapshot` reads from (finished or abandoned).
    pub fn end_snapshot(&mut self, snapshot: &TreeSnapshot) {
        if let Some(id) = snapshot.recording {
            self.store.stop_recording(id);
        }
    }

    /// Nodes whose pre-image the running snapshot keeps.
    pub fn snapshot_preserved_nodes(&self) -> usize {
        self.store.preserved_slots()
    }

    /// Encodes everything but the nodes, and sets up the node walk.
    fn capture(&self, recording: Option<u64>) -> TreeSnapshot {
        let mut header = Vec::new();
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let flags = if self.options.extended_types_enabled {
            FLAG_EXTENDED_TYPES
        } else {
            0
        };
        header.push(flags);
        header.extend_from_slice(&self.last_zxid.to_le_bytes());

        // ACL lists are written densely; nodes refer to them by position.
        let acls: Vec<(AclRef, &[Acl])> = self.acls.entries().collect();
        let mut acl_position = vec![0u32; acls.last().map_or(0, |(idx, _)| *idx as usize + 1)];
        for (position, (idx, _)) in acls.iter().enumerate() {
            acl_position[*idx as usize] = position as u32;
        }
        put_u32(&mut header, acls.len() as u32);
        for (_, list) in acls {
            put_u32(&mut header, list.len() as u32);
            for acl in list {
                header.extend_from_slice(&acl.perms.to_le_bytes());
                put_str(&mut header, acl.id.scheme.as_bytes());
                put_str(&mut header, acl.id.id.as_bytes());
            }
        }

        put_u32(&mut header, self.sessions.len() as u32);
        for (id, timeout, password) in self.sessions() {
            header.extend_from_slice(&id.to_le_bytes());
            header.extend_from_slice(&timeout.to_le_bytes());
            put_str(&mut header, password);
        }

        let node_count = self.store.len() as u64;
        header.extend_from_slice(&node_count.to_le_bytes());
        TreeSnapshot {
            recording,
            header: Some(header),
            crc: crc32fast::Hasher::new(),
            acl_position,
            stack: vec![(ROOT, NO_PARENT)],
            position: 0,
            node_count: node_count as usize,
            finished: false,
        }
    }

    /// Reads a snapshot written by `write_snapshot`. The reader is buffered internally and may
    /// be read past the end of the snapshot.
    pub fn read_snapshot(r: &mut impl Read) -> Result<DataTree, SnapshotError> {
        let mut input = Decoder {
            inner: BufReader::new(r),
            crc: crc32fast::Hasher::new(),
        };
        let mut magic = [0u8; 8];
        input.raw(&mut magic)?;
        if &magic != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = input.u32()?;
        if version != FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let mut flags = [0u8; 1];
        input.raw(&mut flags)?;
        let options = TreeOptions {
            extended_types_enabled: flags[0] & FLAG_EXTENDED_TYPES != 0,
        };
        let last_zxid = input.i64()?;
        let acls = read_acls(&mut input)?;
        let sessions = read_sessions(&mut input)?;
        let mut loader = Loader::new(options, acls, sessions, last_zxid);
        let count = input.u64()?;
        if count == 0 {
            return Err(SnapshotError::Corrupt("no root node"));
        }
        for position in 0..count {
            let record = input.node()?;
            loader.add(position, record)?;
        }
        let expected = input.crc.clone().finalize();
        let mut stored = [0u8; 4];
        input.inner.read_exact(&mut stored).map_err(read_error)?;
        if u32::from_le_bytes(stored) != expected {
            return Err(SnapshotError::ChecksumMismatch);
        }
        loader.finish()
    }
}

/// The tree as it was at one point (see [`DataTree::begin_snapshot`]), encoded in steps.
#[derive(Debug)]
pub struct TreeSnapshot {
    /// The store recording that keeps the starting state; `None` when the tree is borrowed
    /// for the whole write (`write_snapshot`) and cannot change.
    recording: Option<u64>,
    /// Everything before the nodes, until the first step hands it out.
    header: Option<Vec<u8>>,
    crc: crc32fast::Hasher,
    /// Position in the snapshot's ACL list table, by `AclRef`, as of the start.
    acl_position: Vec<u32>,
    /// Pre-order walk: nodes still to write, with their parent's position.
    stack: Vec<(NodeId, u32)>,
    position: u32,
    node_count: usize,
    finished: bool,
}

impl TreeSnapshot {
    /// Appends the next part of the snapshot to `out`: the header on the first call, then up
    /// to `max_nodes` nodes, then the checksum. Returns true once everything was appended.
    /// `tree` must be the tree the snapshot was taken from, still recording for it.
    pub fn encode_step(
        &mut self,
        tree: &DataTree,
        max_nodes: usize,
        out: &mut Vec<u8>,
    ) -> Result<bool, SnapshotWriteError> {
        if self.finished {
            return Ok(true);
        }
        if let Some(id) = self.recording {
            if !tree.store.is_recording(id) {
                return Err(SnapshotWriteError::NotRecording);
            }
        }
        let start = out.len();
        if let Some(header) = self.header.take() {
            out.extend_from_slice(&header);
        }
        for _ in 0..max_nodes {
            let Some((id, parent)) = self.stack.pop() else {
                break;
            };
            let node = tree
                .store
                .snapshot_node(id, self.recording)
                .ok_or(SnapshotWriteError::Inconsistent("a listed child is vacant"))?;
            let acl = *self.acl_position.get(node.acl as usize).ok_or(
                SnapshotWriteError::Inconsistent("a node's ACL list is newer"),
            )?;
            encode_node(out, parent, node, acl)?;
            self.stack
                .extend(node.children().iter().rev().map(|&c| (c, self.position)));
            self.position += 1;
        }
        let done = self.stack.is_empty();
        if done && self.position as usize != self.node_count {
            return Err(SnapshotWriteError::Inconsistent(
                "the walk found another number of nodes than the tree had",
            ));
        }
        self.crc.update(&out[start..]);
        if done {
            let crc = self.crc.clone().finalize();
            out.extend_from_slice(&crc.to_le_bytes());
            self.finished = true;
        }
        Ok(done)
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length-prefixed field (header fields: ACL ids and passwords, far below 4 GiB).
fn put_str(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

fn encode_node(out: &mut Vec<u8>, parent: u32, node: &Node, acl_position: u32) -> io::Result<()> {
    fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "field over 4 GiB"))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(bytes);
        Ok(())
    }
    out.extend_from_slice(&parent.to_le_bytes());
    put_bytes(out, node.name().as_bytes())?;
    put_bytes(out, node.data())?;
    out.extend_from_slice(&acl_position.to_le_bytes());
    for v in [node.czxid, node.mzxid, node.ctime, node.mtime, node.owner()] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [node.version, node.aversion(), node.cversion()] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&node.pzxid().to_le_bytes());
    Ok(())
}

fn read_acls(input: &mut Decoder<impl Read>) -> Result<AclTable, SnapshotError> {
    let mut table = AclTable::default();
    for _ in 0..input.u32()? {
        let entries = input.u32()?;
        let mut list = Vec::new();
        for _ in 0..entries {
            let perms = input.i32()?;
            let scheme = input.string()?;
            let id = input.string()?;
            list.push(Acl {
                perms,
                id: Id { scheme, id },
            });
        }
        if !table.push_unreferenced(list) {
            return Err(SnapshotError::Corrupt("duplicate ACL list"));
        }
    }
    Ok(table)
}

fn read_sessions(input: &mut Decoder<impl Read>) -> Result<BTreeMap<i64, Session>, SnapshotError> {
    let mut sessions = BTreeMap::new();
    for _ in 0..input.u32()? {
        let id = input.i64()?;
        let timeout_ms = input.i32()?;
        let password = input.bytes()?.into_boxed_slice();
        let session = Session {
            timeout_ms,
            password,
            ephemerals: BTreeSet::new(),
        };
        if sessions.insert(id, session).is_some() {
            return Err(SnapshotError::Corrupt("duplicate session"));
        }
    }
    Ok(sessions)
}

/// One node as stored in a snapshot.
struct NodeRecord {
    parent: u32,
    name: String,
    data: Vec<u8>,
    acl: AclRef,
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    owner: i64,
    version: i32,
    aversion: i32,
    cversion: i32,
    pzxid: i64,
}

/// Rebuilds a tree from node records in pre-order.
struct Loader {
    options: TreeOptions,
    acls: AclTable,
    sessions: BTreeMap<i64, Session>,
    last_zxid: i64,
    tree: Option<DataTree>,
    /// Per snapshot position: the node's id and its path length (for the data-size statistic).
    placed: Vec<(NodeId, i64)>,
}

impl Loader {
    fn new(
        options: TreeOptions,
        acls: AclTable,
        sessions: BTreeMap<i64, Session>,
        last_zxid: i64,
    ) -> Self {
        Loader {
            options,
            acls,
            sessions,
            last_zxid,
            tree: None,
            placed: Vec::new(),
        }
    }

    fn add(&mut self, position: u64, record: NodeRecord) -> Result<(), SnapshotError> {
        if !self.acls.contains(record.acl) {
            return Err(SnapshotError::Corrupt("node refers to an unknown ACL list"));
        }
        self.acls.retain(record.acl);
        let birth = Birth {
            zxid: record.czxid,
            time: record.ctime,
            owner: record.owner,
        };
        let Some(tree) = self.tree.as_mut() else {
            if position != 0 || record.parent != NO_PARENT || !record.name.is_empty() {
                return Err(SnapshotError::Corrupt("the first node must be the root"));
            }
            let mut root = Node::new(ROOT, "", &record.data, record.acl, birth);
            fill(&mut root, &record);
            self.placed.push((ROOT, 1));
            self.tree = Some(DataTree {
                options: self.options,
                store: NodeStore::with_root(root),
                acls: AclTable::default(),
                sessions: std::mem::take(&mut self.sessions),
                containers: BTreeSet::new(),
                ttls: BTreeSet::new(),
                data_size: 1 + record.data.len() as i64,
                last_zxid: self.last_zxid,
            });
            return Ok(());
        };
        let &(parent, parent_len) = self
            .placed
            .get(record.parent as usize)
            .ok_or(SnapshotError::Corrupt("node listed before its parent"))?;
        if record.name.contains('/') || !path::is_valid(&format!("/{}", record.name)) {
            return Err(SnapshotError::Corrupt("invalid node name"));
        }
        if record.name.is_empty() || tree.store.child(parent, &record.name).is_some() {
            return Err(SnapshotError::Corrupt("duplicate node name"));
        }
        if let OwnerKind::Ephemeral(session) = OwnerKind::of(record.owner) {
            if !tree.sessions.contains_key(&session) {
                return Err(SnapshotError::Corrupt("ephemeral of an unknown session"));
            }
        }
        let path_len =
            if parent == ROOT { 1 } else { parent_len + 1 } + path::java_len(&record.name);
        let mut node = Node::new(parent, &record.name, &record.data, record.acl, birth);
        fill(&mut node, &record);
        let id = tree.store.insert(node).id;
        tree.index_kind(id, record.owner);
        tree.data_size += path_len + record.data.len() as i64;
        self.placed.push((id, path_len));
        Ok(())
    }

    fn finish(mut self) -> Result<DataTree, SnapshotError> {
        let mut tree = self
            .tree
            .take()
            .ok_or(SnapshotError::Corrupt("no root node"))?;
        self.acls.finish_loading();
        tree.acls = self.acls;
        Ok(tree)
    }
}

/// Sets the fields `Node::new` does not take.
fn fill(node: &mut Node, record: &NodeRecord) {
    node.mzxid = record.mzxid;
    node.mtime = record.mtime;
    node.version = record.version;
    node.set_aversion(record.aversion);
    if record.cversion != 0 || record.pzxid != record.czxid {
        node.set_child_stamp(record.cversion, record.pzxid);
    }
}

struct Decoder<R: Read> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Decoder<R> {
    fn raw(&mut self, buf: &mut [u8]) -> Result<(), SnapshotError> {
        self.inner.read_exact(buf).map_err(read_error)?;
        self.crc.update(buf);
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut buf = [0u8; N];
        self.raw(&mut buf)?;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        self.array().map(u64::from_le_bytes)
    }

    fn i32(&mut self) -> Result<i32, SnapshotError> {
        self.array().map(i32::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        self.array().map(i64::from_le_bytes)
    }

    /// A length-prefixed field. Reads only the bytes that are there, so a corrupt length
    /// cannot make it allocate more than the input holds.
    fn bytes(&mut self) -> Result<Vec<u8>, SnapshotError> {
        let len = self.u32()?;
        let mut buf = Vec::new();
        (&mut self.inner)
            .take(u64::from(len))
            .read_to_end(&mut buf)
            .map_err(read_error)?;
        if buf.len() != len as usize {
            return Err(SnapshotError::Truncated);
        }
        self.crc.update(&buf);
        Ok(buf)
    }

    fn string(&mut self) -> Result<String, SnapshotError> {
        String::from_utf8(self.bytes()?).map_err(|_| SnapshotError::Corrupt("invalid UTF-8"))
    }

    fn node(&mut self) -> Result<NodeRecord, SnapshotError> {
        Ok(NodeRecord {
            parent: self.u32()?,
            name: self.string()?,
            data: self.bytes()?,
            acl: self.u32()?,
            czxid: self.i64()?,
            mzxid: self.i64()?,
            ctime: self.i64()?,
            mtime: self.i64()?,
            owner: self.i64()?,
            version: self.i32()?,
            aversion: self.i32()?,
            cversion: self.i32()?,
            pzxid: self.i64()?,
        })
    }
}

#[cfg(test)]
mod tests;
