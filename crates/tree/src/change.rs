//! Undoable change primitives. Every change `apply` makes goes through these, recording how to
//! undo it in a `Batch`; a failed multi rolls its batch back (newest first), restoring the
//! previous node states exactly, instead of cloning the tree up front.

use arbor_proto::EventType;

use crate::acl_table::AclRef;
use crate::name_data::NameData;
use crate::node::{Node, NodeId};
use crate::store::Inserted;
use crate::tree::DataTree;
use crate::txn::Trigger;

/// The changes (and watch triggers) of one txn that has not been settled yet.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    undo: Vec<Undo>,
    triggers: Vec<Trigger>,
    data_size_before: i64,
}

#[derive(Debug)]
enum Undo {
    Created(Inserted),
    Deleted {
        id: NodeId,
        node: Node,
    },
    ChildStamp {
        id: NodeId,
        cversion: i32,
        pzxid: i64,
    },
    Data {
        id: NodeId,
        block: NameData,
        version: i32,
        mzxid: i64,
        mtime: i64,
    },
    Acl {
        id: NodeId,
        acl: AclRef,
        aversion: i32,
    },
}

impl Batch {
    pub(crate) fn trigger(&mut self, path: impl Into<String>, event: EventType) {
        self.triggers.push(Trigger {
            path: path.into(),
            event,
        });
    }
}

impl DataTree {
    pub(crate) fn begin(&self) -> Batch {
        Batch {
            data_size_before: self.data_size,
            ..Batch::default()
        }
    }

    /// Adds a node whose ACL reference the caller already holds; `path_len` is its path's
    /// length for the data-size statistic.
    pub(crate) fn add_node(&mut self, batch: &mut Batch, node: Node, path_len: i64) -> NodeId {
        let owner = node.owner();
        self.data_size += path_len + node.data().len() as i64;
        let inserted = self.store.insert(node);
        self.index_kind(inserted.id, owner);
        batch.undo.push(Undo::Created(inserted));
        inserted.id
    }

    /// Removes a childless node.
    pub(crate) fn remove_node(&mut self, batch: &mut Batch, id: NodeId, path_len: i64) {
        let node = self.store.remove(id);
        self.data_size -= path_len + node.data().len() as i64;
        self.unindex_kind(id, node.owner());
        self.acls.release(node.acl);
        batch.undo.push(Undo::Deleted { id, node });
    }

    /// Sets a node's stored cversion and pzxid.
    pub(crate) fn stamp_children(
        &mut self,
        batch: &mut Batch,
        id: NodeId,
        cversion: i32,
        pzxid: i64,
    ) {
        let node = self.store.node_mut(id);
        batch.undo.push(Undo::ChildStamp {
            id,
            cversion: node.cversion(),
            pzxid: node.pzxid(),
        });
        node.set_child_stamp(cversion, pzxid);
    }

    pub(crate) fn set_node_data(
        &mut self,
        batch: &mut Batch,
        id: NodeId,
        data: &[u8],
        (version, zxid, time): (i32, i64, i64),
    ) {
        let node = self.store.node_mut(id);
        let old_len = node.data().len() as i64;
        let undo = Undo::Data {
            id,
            block: node.replace_data(data),
            version: node.version,
            mzxid: node.mzxid,
            mtime: node.mtime,
        };
        node.version = version;
        node.mzxid = zxid;
        node.mtime = time;
        self.data_size += data.len() as i64 - old_len;
        batch.undo.push(undo);
    }

    /// Points a node at an ACL reference the caller already holds.
    pub(crate) fn set_node_acl(
        &mut self,
        batch: &mut Batch,
        id: NodeId,
        acl: AclRef,
        aversion: i32,
    ) {
        let node = self.store.node_mut(id);
        let old_acl = std::mem::replace(&mut node.acl, acl);
        let old_aversion = node.aversion();
        node.set_aversion(aversion);
        self.acls.release(old_acl);
        batch.undo.push(Undo::Acl {
            id,
            acl: old_acl,
            aversion: old_aversion,
        });
    }

    /// Makes the batch's changes final and returns its triggers.
    pub(crate) fn commit(&mut self, batch: Batch) -> Vec<Trigger> {
        for undo in batch.undo {
            if let Undo::Deleted { id, .. } = undo {
                self.store.release(id);
            }
        }
        self.acls.collect_garbage();
        batch.triggers
    }

    /// Undoes the batch's changes, newest first; its triggers are dropped.
    pub(crate) fn rollback(&mut self, batch: Batch) {
        for undo in batch.undo.into_iter().rev() {
            match undo {
                Undo::Created(inserted) => {
                    let node = self.store.uninsert(inserted);
                    self.unindex_kind(inserted.id, node.owner());
                    self.acls.release(node.acl);
                }
                Undo::Deleted { id, node } => {
                    self.acls.retain(node.acl);
                    let owner = node.owner();
                    self.store.restore(id, node);
                    self.index_kind(id, owner);
                }
                Undo::ChildStamp {
                    id,
                    cversion,
                    pzxid,
                } => {
                    self.store.node_mut(id).set_child_stamp(cversion, pzxid);
                }
                Undo::Data {
                    id,
                    block,
                    version,
                    mzxid,
                    mtime,
                } => {
                    let node = self.store.node_mut(id);
                    node.restore_data(block);
                    node.version = version;
                    node.mzxid = mzxid;
                    node.mtime = mtime;
                }
                Undo::Acl { id, acl, aversion } => {
                    self.acls.retain(acl);
                    let node = self.store.node_mut(id);
                    let current = std::mem::replace(&mut node.acl, acl);
                    node.set_aversion(aversion);
                    self.acls.release(current);
                }
            }
        }
        self.data_size = batch.data_size_before;
        self.acls.collect_garbage();
    }
}
