//! What each client request means: reads executed against the tree, writes turned into txns,
//! and txn results turned back into ZooKeeper replies. No sockets here.

use arbor_proto::records::{CreateRequest, CreateTtlRequest};
use arbor_proto::{
    perms, Acl, AddWatchMode, ClientInfo, CreateMode, ErrorCode, EventType, Id, MultiOp,
    MultiResult, OpCode, Request, Response, Stat,
};
use arbor_tree::{CreateOp, OpResult, SessionId, TxnOp, TxnResult};

use crate::db::Db;
use crate::watch::{ConnId, WatchKind};

/// Who is asking: enough to run a read on their behalf.
pub struct Caller<'a> {
    pub conn: ConnId,
    pub session: SessionId,
    pub auth: &'a [Id],
}

/// The path a read looks up. ZooKeeper's server does not validate read paths: a malformed one
/// simply names no node (`NONODE`), and `""` is the root (its data tree maps both `""` and `/`
/// to the root). Clients validate before sending, so this matters only for raw clients.
fn read_path(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// How to shape the reply of a write once its txn has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteReply {
    /// create: path only.
    Create,
    /// create2/createContainer/createTTL: path and stat.
    Create2,
    /// setData/setACL: stat.
    Stat,
    /// delete/check: no body.
    Empty,
    /// multi: per-op create shape (`true` = with stat).
    Multi(Vec<WriteReply>),
}

fn create_op(r: CreateRequest, op: OpCode) -> Result<CreateOp, ErrorCode> {
    create(r.path, r.data, r.acl, r.flags, -1, op)
}

fn create_ttl_op(r: CreateTtlRequest) -> Result<CreateOp, ErrorCode> {
    create(r.path, r.data, r.acl, r.flags, r.ttl, OpCode::CreateTtl)
}

/// A create of any kind. ZooKeeper ties the opcode to the mode: createTTL only makes TTL
/// nodes, createContainer only containers, and only createContainer may make one. (A TTL mode
/// sent with plain create carries no ttl; the tree refuses it with BADARGUMENTS.)
fn create(
    path: String,
    data: Vec<u8>,
    acl: Vec<Acl>,
    flags: i32,
    ttl: i64,
    op: OpCode,
) -> Result<CreateOp, ErrorCode> {
    let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
    let mode_fits_op = match op {
        OpCode::CreateTtl => mode.is_ttl(),
        OpCode::CreateContainer => mode.is_container(),
        _ => !mode.is_container(),
    };
    if !mode_fits_op {
        return Err(ErrorCode::BadArguments);
    }
    // The path is judged by the tree when the txn is applied, in ZooKeeper's order (no `/` or
    // a NUL, then the parent, its ACL, then the full path: `/a/../b` is NONODE, not
    // BADARGUMENTS, because its parent `/a/..` does not exist).
    Ok(CreateOp {
        path,
        data,
        acl,
        mode,
        ttl,
    })
}

fn multi_op(op: MultiOp) -> Result<(TxnOp, WriteReply), ErrorCode> {
    Ok(match op {
        MultiOp::Create(r) => (
            TxnOp::Create(create_op(r, OpCode::Create)?),
            WriteReply::Create,
        ),
        MultiOp::Create2(r) => (
            TxnOp::Create(create_op(r, OpCode::Create2)?),
            WriteReply::Create2,
        ),
        MultiOp::CreateContainer(r) => (
            TxnOp::Create(create_op(r, OpCode::CreateContainer)?),
            WriteReply::Create2,
        ),
        MultiOp::CreateTtl(r) => (TxnOp::Create(create_ttl_op(r)?), WriteReply::Create2),
        MultiOp::Delete(r) => (
            TxnOp::Delete {
                path: r.path,
                version: r.version,
            },
            WriteReply::Empty,
        ),
        MultiOp::SetData(r) => (
            TxnOp::SetData {
                path: r.path,
                data: r.data,
                version: r.version,
            },
            WriteReply::Stat,
        ),
        MultiOp::Check(r) => (
            TxnOp::Check {
                path: r.path,
                version: r.version,
            },
            WriteReply::Empty,
        ),
        MultiOp::GetChildren(_) | MultiOp::GetData(_) => return Err(ErrorCode::BadArguments),
    })
}

/// Turns a write request into the txn op to propose, and how to shape its reply. Syntax errors
/// (bad paths, modes) are answered here without consuming a zxid; everything that depends on
/// the tree is decided when the txn is applied.
pub fn write_op(request: Request) -> Result<(TxnOp, WriteReply), ErrorCode> {
    // The ops a multi may hold mean the same on their own: one mapping serves both.
    let single = match request {
        Request::Create(r) => MultiOp::Create(r),
        Request::Create2(r) => MultiOp::Create2(r),
        Request::CreateContainer(r) => MultiOp::CreateContainer(r),
        Request::CreateTtl(r) => MultiOp::CreateTtl(r),
        Request::Delete(r) => MultiOp::Delete(r),
        Request::SetData(r) => MultiOp::SetData(r),
        Request::Check(r) => MultiOp::Check(r),
        Request::SetAcl(r) => {
            return Ok((
                TxnOp::SetAcl {
                    path: r.path,
                    acl: r.acl,
                    version: r.version,
                },
                WriteReply::Stat,
            ));
        }
        Request::Multi(ops) => {
            let mut txn_ops = Vec::with_capacity(ops.len());
            let mut replies = Vec::with_capacity(ops.len());
            for op in ops {
                let (t, r) = multi_op(op)?;
                txn_ops.push(t);
                replies.push(r);
            }
            return Ok((TxnOp::Multi(txn_ops), WriteReply::Multi(replies)));
        }
        _ => return Err(ErrorCode::Unimplemented),
    };
    multi_op(single)
}

fn op_result(shape: &WriteReply, result: &OpResult) -> MultiResult {
    match result {
        OpResult::Created { path, stat } => match shape {
            WriteReply::Create => MultiResult::Create(path.clone()),
            _ => MultiResult::Create2(path.clone(), *stat),
        },
        OpResult::Deleted => MultiResult::Delete,
        OpResult::DataSet { stat } | OpResult::AclSet { stat } => MultiResult::SetData(*stat),
        OpResult::Checked => MultiResult::Check,
        OpResult::Error(e) => MultiResult::Error(*e),
    }
}

/// The reply to a write, from the result of applying its txn.
pub fn write_reply(shape: &WriteReply, result: &TxnResult) -> Result<Response, ErrorCode> {
    match (shape, result) {
        (_, TxnResult::Error(e)) => Err(*e),
        (WriteReply::Multi(shapes), TxnResult::Multi(results)) => Ok(Response::Multi(
            shapes
                .iter()
                .zip(results)
                .map(|(s, r)| op_result(s, r))
                .collect(),
        )),
        (_, TxnResult::Op(OpResult::Error(e))) => Err(*e),
        (WriteReply::Create, TxnResult::Op(OpResult::Created { path, .. })) => {
            Ok(Response::Create(path.clone()))
        }
        (WriteReply::Create2, TxnResult::Op(OpResult::Created { path, stat })) => {
            Ok(Response::Create2(path.clone(), *stat))
        }
        (WriteReply::Stat, TxnResult::Op(OpResult::DataSet { stat }))
        | (WriteReply::Stat, TxnResult::Op(OpResult::AclSet { stat })) => Ok(Response::Stat(*stat)),
        (WriteReply::Empty, TxnResult::Op(_)) => Ok(Response::Empty),
        _ => Err(ErrorCode::SystemError),
    }
}

/// Hides digest hashes from callers without ADMIN on the node (as ZooKeeper does since the
/// getACL information-disclosure fix).
fn redact(acl: Vec<Acl>) -> Vec<Acl> {
    acl.into_iter()
        .map(|mut a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or_default();
                a.id.id = format!("{user}:x");
            }
            a
        })
        .collect()
}

fn read_data(db: &Db, who: &Caller, path: &str, watch: bool) -> Result<(Vec<u8>, Stat), ErrorCode> {
    let tree = db.read();
    tree.check_perm(read_path(path), perms::READ, who.auth)?;
    let (data, stat) = tree.data(read_path(path)).ok_or(ErrorCode::NoNode)?;
    if watch {
        db.add_watch(who.conn, WatchKind::Data, path);
    }
    Ok((data.to_vec(), stat))
}

fn read_children(
    db: &Db,
    who: &Caller,
    path: &str,
    watch: bool,
) -> Result<(Vec<String>, Stat), ErrorCode> {
    let tree = db.read();
    tree.check_perm(read_path(path), perms::READ, who.auth)?;
    let (children, stat) = tree.children(read_path(path)).ok_or(ErrorCode::NoNode)?;
    if watch {
        db.add_watch(who.conn, WatchKind::Child, path);
    }
    Ok((children, stat))
}

/// Executes a read (or a watch-management request) against the local tree. The tree read
/// lock is held across the read and the watch registration so no change slips between them.
pub fn read(db: &Db, who: &Caller, request: &Request) -> Result<Response, ErrorCode> {
    match request {
        Request::Ping => Ok(Response::Empty),
        Request::Exists(r) => {
            // The one read ZooKeeper checks: a NUL in the path.
            if r.path.contains('\0') {
                return Err(ErrorCode::BadArguments);
            }
            let tree = db.read();
            let stat = tree.stat(read_path(&r.path));
            if r.watch {
                // A watch on a missing node waits for its creation (an "exist" watch).
                db.add_watch(who.conn, WatchKind::Data, &r.path);
            }
            stat.map(Response::Stat).ok_or(ErrorCode::NoNode)
        }
        Request::GetData(r) => {
            read_data(db, who, &r.path, r.watch).map(|(d, s)| Response::GetData(d, s))
        }
        Request::GetChildren(r) => {
            read_children(db, who, &r.path, r.watch).map(|(c, _)| Response::GetChildren(c))
        }
        Request::GetChildren2(r) => {
            read_children(db, who, &r.path, r.watch).map(|(c, s)| Response::GetChildren2(c, s))
        }
        Request::GetAcl(r) => {
            let path = read_path(&r.path);
            let tree = db.read();
            let (acl, stat) = tree.acl(path).ok_or(ErrorCode::NoNode)?;
            if tree.check_perm(path, perms::ADMIN, who.auth).is_ok() {
                Ok(Response::GetAcl(acl, stat))
            } else {
                tree.check_perm(path, perms::READ, who.auth)?;
                Ok(Response::GetAcl(redact(acl), stat))
            }
        }
        Request::GetEphemerals(r) => {
            let tree = db.read();
            let prefix = r.prefix_path.as_str();
            let all = tree.ephemerals(who.session);
            Ok(Response::GetEphemerals(
                all.into_iter()
                    .filter(|p| prefix.is_empty() || prefix == "/" || p.starts_with(prefix))
                    .collect(),
            ))
        }
        Request::GetAllChildrenNumber(r) => {
            let path = read_path(&r.path);
            let tree = db.read();
            tree.check_perm(path, perms::READ, who.auth)?;
            let n = tree.all_children_number(path).ok_or(ErrorCode::NoNode)?;
            Ok(Response::GetAllChildrenNumber(
                n.clamp(0, i64::from(i32::MAX)) as i32,
            ))
        }
        Request::MultiRead(ops) => {
            let mut results = Vec::with_capacity(ops.len());
            for op in ops {
                let result = match op {
                    MultiOp::GetData(r) => read_data(db, who, &r.path, r.watch)
                        .map(|(d, s)| MultiResult::GetData(d, s)),
                    MultiOp::GetChildren(r) => read_children(db, who, &r.path, r.watch)
                        .map(|(c, _)| MultiResult::GetChildren(c)),
                    _ => return Err(ErrorCode::BadArguments),
                };
                results.push(result.unwrap_or_else(MultiResult::Error));
            }
            Ok(Response::Multi(results))
        }
        Request::WhoAmI => Ok(Response::WhoAmI(
            who.auth
                .iter()
                .map(|id| ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    user: match id.scheme.as_str() {
                        "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
                        _ => id.id.clone(),
                    },
                })
                .collect(),
        )),
        Request::AddWatch(r) => {
            // As ZooKeeper: any path is accepted (a malformed one never fires).
            let kind = match r.watch_mode().ok_or(ErrorCode::BadArguments)? {
                AddWatchMode::Persistent => WatchKind::Persistent,
                AddWatchMode::PersistentRecursive => WatchKind::PersistentRecursive,
            };
            let _tree = db.read();
            db.add_watch(who.conn, kind, &r.path);
            Ok(Response::AddWatch)
        }
        Request::CheckWatches(r) => {
            let which = r.watcher_type().ok_or(ErrorCode::BadArguments)?;
            if db.with_watches(|w| w.has(who.conn, which, &r.path)) {
                Ok(Response::Empty)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        Request::RemoveWatches(r) => {
            let which = r.watcher_type().ok_or(ErrorCode::BadArguments)?;
            if db.with_watches(|w| w.remove(who.conn, which, &r.path).is_empty()) {
                Err(ErrorCode::NoWatcher)
            } else {
                Ok(Response::Empty)
            }
        }
        Request::SetWatches(r) => {
            restore_watches(
                db,
                who.conn,
                r.relative_zxid,
                &r.data_watches,
                &r.exist_watches,
                &r.child_watches,
                &[],
                &[],
            );
            Ok(Response::Empty)
        }
        Request::SetWatches2(r) => {
            restore_watches(
                db,
                who.conn,
                r.relative_zxid,
                &r.data_watches,
                &r.exist_watches,
                &r.child_watches,
                &r.persistent_watches,
                &r.persistent_recursive_watches,
            );
            Ok(Response::Empty)
        }
        _ => Err(ErrorCode::Unimplemented),
    }
}

/// Re-registers a reconnecting client's watches. Changes the client missed since
/// `relative_zxid` (the last zxid it saw) fire at once instead of being registered, so nothing
/// is lost across the reconnect.
#[allow(clippy::too_many_arguments)]
fn restore_watches(
    db: &Db,
    conn: ConnId,
    relative_zxid: i64,
    data: &[String],
    exist: &[String],
    child: &[String],
    persistent: &[String],
    recursive: &[String],
) {
    let tree = db.read();
    for path in data {
        match tree.stat(path) {
            None => db.notify(conn, EventType::NodeDeleted, path),
            Some(s) if s.mzxid > relative_zxid => db.notify(conn, EventType::NodeDataChanged, path),
            Some(_) => db.add_watch(conn, WatchKind::Data, path),
        }
    }
    for path in exist {
        match tree.stat(path) {
            Some(_) => db.notify(conn, EventType::NodeCreated, path),
            None => db.add_watch(conn, WatchKind::Data, path),
        }
    }
    for path in child {
        match tree.stat(path) {
            None => db.notify(conn, EventType::NodeDeleted, path),
            Some(s) if s.pzxid > relative_zxid => {
                db.notify(conn, EventType::NodeChildrenChanged, path)
            }
            Some(_) => db.add_watch(conn, WatchKind::Child, path),
        }
    }
    for path in persistent {
        db.add_watch(conn, WatchKind::Persistent, path);
    }
    for path in recursive {
        db.add_watch(conn, WatchKind::PersistentRecursive, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_proto::records::{CheckVersionRequest, DeleteRequest};

    fn create(path: &str, flags: i32) -> CreateRequest {
        CreateRequest {
            path: path.into(),
            data: b"x".to_vec(),
            acl: Acl::open_unsafe(),
            flags,
        }
    }

    #[test]
    fn create_modes_must_match_opcode() {
        assert!(write_op(Request::Create(create("/a", 0))).is_ok());
        assert_eq!(
            write_op(Request::Create(create("/a", 4))).unwrap_err(),
            ErrorCode::BadArguments
        );
        assert!(write_op(Request::CreateContainer(create("/a", 4))).is_ok());
        assert_eq!(
            write_op(Request::CreateContainer(create("/a", 0))).unwrap_err(),
            ErrorCode::BadArguments
        );
        assert_eq!(
            write_op(Request::Create(create("/a", 99))).unwrap_err(),
            ErrorCode::BadArguments
        );
        let ttl = |flags| CreateTtlRequest {
            path: "/t".into(),
            data: vec![],
            acl: Acl::open_unsafe(),
            flags,
            ttl: 1000,
        };
        assert!(matches!(
            write_op(Request::CreateTtl(ttl(5))),
            Ok((
                TxnOp::Create(CreateOp { ttl: 1000, .. }),
                WriteReply::Create2
            ))
        ));
        assert_eq!(
            write_op(Request::CreateTtl(ttl(0))).unwrap_err(),
            ErrorCode::BadArguments
        );
    }

    #[test]
    fn malformed_paths_are_left_to_the_tree() {
        // The tree judges paths when applying, in ZooKeeper's order (parent lookup before
        // validation), so a malformed path reaches it unchanged (modes are checked here:
        // `create_modes_must_match_opcode`).
        for path in ["a", "/a/", "/a/../b"] {
            let (op, _) = write_op(Request::Create(create(path, 0))).unwrap();
            assert!(
                matches!(op, TxnOp::Create(ref c) if c.path == path),
                "{path}"
            );
        }
        let (op, _) = write_op(Request::Delete(DeleteRequest {
            path: "//x".into(),
            version: -1,
        }))
        .unwrap();
        assert!(matches!(op, TxnOp::Delete { ref path, .. } if path == "//x"));
    }

    #[test]
    fn multi_replies_keep_each_ops_shape() {
        let req = Request::Multi(vec![
            MultiOp::Create(create("/a", 0)),
            MultiOp::Create2(create("/b", 0)),
            MultiOp::Check(CheckVersionRequest {
                path: "/a".into(),
                version: 0,
            }),
        ]);
        let (op, shape) = write_op(req.clone()).unwrap();
        assert!(matches!(op, TxnOp::Multi(ref ops) if ops.len() == 3));
        let stat = Stat::default();
        let result = TxnResult::Multi(vec![
            OpResult::Created {
                path: "/a".into(),
                stat,
            },
            OpResult::Created {
                path: "/b".into(),
                stat,
            },
            OpResult::Checked,
        ]);
        assert_eq!(
            write_reply(&shape, &result).unwrap(),
            Response::Multi(vec![
                MultiResult::Create("/a".into()),
                MultiResult::Create2("/b".into(), stat),
                MultiResult::Check,
            ])
        );
    }

    #[test]
    fn read_ops_inside_multi_are_refused() {
        let req = Request::Multi(vec![MultiOp::GetData(
            arbor_proto::records::GetDataRequest {
                path: "/a".into(),
                watch: false,
            },
        )]);
        assert_eq!(write_op(req.clone()).unwrap_err(), ErrorCode::BadArguments);
    }

    #[test]
    fn errors_become_reply_errors() {
        assert_eq!(
            write_reply(&WriteReply::Stat, &TxnResult::Error(ErrorCode::NoNode)).unwrap_err(),
            ErrorCode::NoNode
        );
        assert_eq!(
            write_reply(
                &WriteReply::Create,
                &TxnResult::Op(OpResult::Error(ErrorCode::NodeExists))
            )
            .unwrap_err(),
            ErrorCode::NodeExists
        );
    }
}
