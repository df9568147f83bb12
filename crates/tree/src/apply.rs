//! `DataTree::apply`: one txn in, its result and watch triggers out. Checks run in the order
//! ZooKeeper 3.8's `PrepRequestProcessor` runs them, so the same request fails with the same
//! error; nothing changes unless every check passed.

use std::collections::btree_map::Entry;
use std::collections::BTreeSet;

use arbor_proto::{perms, ErrorCode, EventType, Id};

use crate::acl;
use crate::change::Batch;
use crate::node::{Birth, Node, NodeId, OwnerKind, CONTAINER_OWNER, MAX_TTL_MS};
use crate::path;
use crate::tree::{container_is_due, ttl_is_due, DataTree, Session};
use crate::txn::{Applied, CreateOp, OpResult, SessionId, Txn, TxnOp, TxnResult, Zxid};

/// What every op of a txn shares.
struct Ctx<'a> {
    zxid: Zxid,
    time: i64,
    session: SessionId,
    auth: &'a [Id],
}

fn finished(result: TxnResult) -> Applied {
    Applied {
        result,
        triggers: Vec::new(),
    }
}

/// ZooKeeper's version rule: -1 matches any version.
fn check_version(current: i32, expected: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}

impl DataTree {
    /// Applies the txn with log position `zxid`. Deterministic, and total: any input yields a
    /// result (invalid paths and the like are `BadArguments`), never a panic.
    pub fn apply(&mut self, zxid: Zxid, txn: &Txn) -> Applied {
        self.last_zxid = zxid;
        let ctx = Ctx {
            zxid,
            time: txn.time,
            session: txn.session,
            auth: &txn.auth,
        };
        match &txn.op {
            TxnOp::CreateSession {
                session,
                timeout_ms,
                password,
            } => {
                self.open_session(*session, *timeout_ms, password);
                finished(TxnResult::SessionCreated)
            }
            TxnOp::CloseSession { session } => self.close_session(zxid, *session),
            TxnOp::Multi(ops) => self.apply_multi(&ctx, ops),
            TxnOp::DeleteContainer { path } => self.delete_if(zxid, path, container_is_due),
            TxnOp::DeleteExpiredTtl { path } => {
                self.delete_if(zxid, path, |node| ttl_is_due(node, ctx.time))
            }
            TxnOp::Noop => finished(TxnResult::Done),
            op => {
                let mut batch = self.begin();
                match self.apply_op(&mut batch, &ctx, op) {
                    Ok(result) => Applied {
                        result: TxnResult::Op(result),
                        triggers: self.commit(batch),
                    },
                    Err(code) => {
                        self.rollback(batch);
                        finished(TxnResult::Error(code))
                    }
                }
            }
        }
    }

    fn apply_op(
        &mut self,
        batch: &mut Batch,
        ctx: &Ctx,
        op: &TxnOp,
    ) -> Result<OpResult, ErrorCode> {
        match op {
            TxnOp::Create(create) => self.create(batch, ctx, create),
            TxnOp::Delete { path, version } => self.delete(batch, ctx, path, *version),
            TxnOp::SetData {
                path,
                data,
                version,
            } => self.set_data(batch, ctx, path, data, *version),
            TxnOp::SetAcl { path, acl, version } => self.set_acl(batch, ctx, path, acl, *version),
            TxnOp::Check { path, version } => self.check(ctx, path, *version),
            // Session, housekeeping, nested multi and no-op txns are not single ops.
            _ => Err(ErrorCode::BadArguments),
        }
    }

    /// All ops or none. On failure, ops before the failing one report `Ok`, the failing one
    /// its error, later ones `RuntimeInconsistency` (as ZooKeeper reports them).
    fn apply_multi(&mut self, ctx: &Ctx, ops: &[TxnOp]) -> Applied {
        let mut batch = self.begin();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let outcome = match op {
                TxnOp::Create(_)
                | TxnOp::Delete { .. }
                | TxnOp::SetData { .. }
                | TxnOp::Check { .. } => self.apply_op(&mut batch, ctx, op),
                _ => Err(ErrorCode::BadArguments),
            };
            match outcome {
                Ok(result) => results.push(result),
                Err(code) => {
                    self.rollback(batch);
                    let mut results = vec![OpResult::Error(ErrorCode::Ok); i];
                    results.push(OpResult::Error(code));
                    results.resize(ops.len(), OpResult::Error(ErrorCode::RuntimeInconsistency));
                    return finished(TxnResult::Multi(results));
                }
            }
        }
        Applied {
            result: TxnResult::Multi(results),
            triggers: self.commit(batch),
        }
    }

    fn create(
        &mut self,
        batch: &mut Batch,
        ctx: &Ctx,
        op: &CreateOp,
    ) -> Result<OpResult, ErrorCode> {
        let mode = op.mode;
        if mode.is_ttl() {
            if !self.options.extended_types_enabled {
                return Err(ErrorCode::Unimplemented);
            }
            if !(1..=MAX_TTL_MS).contains(&op.ttl) {
                return Err(ErrorCode::BadArguments);
            }
        }
        if mode.is_ephemeral() && !self.sessions.contains_key(&ctx.session) {
            return Err(ErrorCode::SessionExpired);
        }
        let (parent_path, requested_name) =
            path::split_parent(&op.path).ok_or(ErrorCode::BadArguments)?;
        let acl = acl::fixup_acl(&op.acl, ctx.auth)?;
        let parent = self
            .store
            .lookup_parent(parent_path)
            .ok_or(ErrorCode::NoNode)?;
        let parent_node = self.store.node(parent);
        if !acl::allows(self.acls.get(parent_node.acl), perms::CREATE, ctx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let parent_cversion = parent_node.cversion();
        let name = if mode.is_sequential() {
            format!("{requested_name}{parent_cversion:010}")
        } else {
            requested_name.to_owned()
        };
        let full_path = format!("{parent_path}/{name}");
        if !path::is_valid(&full_path) {
            return Err(ErrorCode::BadArguments);
        }
        // An empty name only passes validation for "/", which always exists.
        if name.is_empty() || self.store.child(parent, &name).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(parent_node.kind(), OwnerKind::Ephemeral(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let owner = if mode.is_container() {
            CONTAINER_OWNER
        } else if mode.is_ttl() {
            OwnerKind::ttl_owner(op.ttl)
        } else if mode.is_ephemeral() {
            ctx.session
        } else {
            0
        };

        self.stamp_children(batch, parent, parent_cversion.wrapping_add(1), ctx.zxid);
        let acl = self.acls.intern(&acl);
        let birth = Birth {
            zxid: ctx.zxid,
            time: ctx.time,
            owner,
        };
        let node = Node::new(parent, &name, &op.data, acl, birth);
        let id = self.add_node(batch, node, path::java_len(&full_path));
        batch.trigger(full_path.as_str(), EventType::NodeCreated);
        batch.trigger(
            path::display_parent(parent_path),
            EventType::NodeChildrenChanged,
        );
        Ok(OpResult::Created {
            path: full_path,
            stat: self.store.node(id).stat(),
        })
    }

    fn delete(
        &mut self,
        batch: &mut Batch,
        ctx: &Ctx,
        path: &str,
        version: i32,
    ) -> Result<OpResult, ErrorCode> {
        let (parent_path, name) = path::split_parent(path).ok_or(ErrorCode::BadArguments)?;
        if path::is_undeletable(path) {
            return Err(ErrorCode::BadArguments);
        }
        let parent = self
            .store
            .lookup_parent(parent_path)
            .ok_or(ErrorCode::NoNode)?;
        if !acl::allows(
            self.acls.get(self.store.node(parent).acl),
            perms::DELETE,
            ctx.auth,
        ) {
            return Err(ErrorCode::NoAuth);
        }
        let id = self.store.child(parent, name).ok_or(ErrorCode::NoNode)?;
        let node = self.store.node(id);
        check_version(node.version, version)?;
        if node.num_children() > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        self.delete_node(batch, ctx.zxid, id, path);
        Ok(OpResult::Deleted)
    }

    /// Deletes a childless node at `path`, updating its parent and firing the triggers.
    fn delete_node(&mut self, batch: &mut Batch, zxid: Zxid, id: NodeId, path: &str) {
        let parent = self.store.node(id).parent;
        let parent_node = self.store.node(parent);
        // The stored cversion counts creates only; clients see deletes through numChildren.
        let (cversion, pzxid) = (parent_node.cversion(), parent_node.pzxid().max(zxid));
        self.stamp_children(batch, parent, cversion, pzxid);
        self.remove_node(batch, id, path::java_len(path));
        let parent_path = path::split_parent(path).map_or("", |(parent, _)| parent);
        batch.trigger(path, EventType::NodeDeleted);
        batch.trigger(
            path::display_parent(parent_path),
            EventType::NodeChildrenChanged,
        );
    }

    fn set_data(
        &mut self,
        batch: &mut Batch,
        ctx: &Ctx,
        path: &str,
        data: &[u8],
        version: i32,
    ) -> Result<OpResult, ErrorCode> {
        let id = self.writable(path, perms::WRITE, ctx.auth)?;
        let current = self.store.node(id).version;
        check_version(current, version)?;
        self.set_node_data(
            batch,
            id,
            data,
            (current.wrapping_add(1), ctx.zxid, ctx.time),
        );
        batch.trigger(path, EventType::NodeDataChanged);
        Ok(OpResult::DataSet {
            stat: self.store.node(id).stat(),
        })
    }

    fn set_acl(
        &mut self,
        batch: &mut Batch,
        ctx: &Ctx,
        path: &str,
        requested: &[arbor_proto::Acl],
        version: i32,
    ) -> Result<OpResult, ErrorCode> {
        if !path::is_valid(path) {
            return Err(ErrorCode::BadArguments);
        }
        let acl = acl::fixup_acl(requested, ctx.auth)?;
        let id = self.writable(path, perms::ADMIN, ctx.auth)?;
        let current = self.store.node(id).aversion();
        check_version(current, version)?;
        let acl = self.acls.intern(&acl);
        self.set_node_acl(batch, id, acl, current.wrapping_add(1));
        Ok(OpResult::AclSet {
            stat: self.store.node(id).stat(),
        })
    }

    fn check(&self, ctx: &Ctx, path: &str, version: i32) -> Result<OpResult, ErrorCode> {
        let id = self.writable(path, perms::READ, ctx.auth)?;
        check_version(self.store.node(id).version, version)?;
        Ok(OpResult::Checked)
    }

    /// The node at a valid `path` on which `auth` holds `perm`: `BadArguments`, `NoNode` or
    /// `NoAuth` otherwise, checked in that order.
    fn writable(&self, path: &str, perm: i32, auth: &[Id]) -> Result<NodeId, ErrorCode> {
        if !path::is_valid(path) {
            return Err(ErrorCode::BadArguments);
        }
        let id = self.store.lookup(path).ok_or(ErrorCode::NoNode)?;
        if acl::allows(self.acls.get(self.store.node(id).acl), perm, auth) {
            Ok(id)
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    fn open_session(&mut self, id: SessionId, timeout_ms: i32, password: &[u8]) {
        match self.sessions.entry(id) {
            Entry::Occupied(mut entry) => {
                let session = entry.get_mut();
                session.timeout_ms = timeout_ms;
                session.password = password.into();
            }
            Entry::Vacant(entry) => {
                entry.insert(Session {
                    timeout_ms,
                    password: password.into(),
                    ephemerals: BTreeSet::new(),
                });
            }
        }
    }

    /// Deletes the session's ephemerals (in path order), then forgets the session.
    fn close_session(&mut self, zxid: Zxid, session: SessionId) -> Applied {
        let Some(entry) = self.sessions.get(&session) else {
            return finished(TxnResult::Error(ErrorCode::SessionExpired));
        };
        let mut doomed: Vec<(String, NodeId)> = entry
            .ephemerals
            .iter()
            .map(|&id| (self.store.path_of(id), id))
            .collect();
        doomed.sort_unstable();
        let mut batch = self.begin();
        for (path, id) in &doomed {
            self.delete_node(&mut batch, zxid, *id, path);
        }
        self.sessions.remove(&session);
        Applied {
            result: TxnResult::SessionClosed,
            triggers: self.commit(batch),
        }
    }

    /// Housekeeping deletion: re-checks `due` at apply time; if it no longer holds (the node
    /// got a child, was modified, is gone), nothing changes.
    fn delete_if(&mut self, zxid: Zxid, path: &str, due: impl Fn(&Node) -> bool) -> Applied {
        let Some(id) = self.store.lookup(path) else {
            return finished(TxnResult::Done);
        };
        if !due(self.store.node(id)) {
            return finished(TxnResult::Done);
        }
        let mut batch = self.begin();
        self.delete_node(&mut batch, zxid, id, path);
        Applied {
            result: TxnResult::Done,
            triggers: self.commit(batch),
        }
    }
}

#[cfg(test)]
mod tests;
