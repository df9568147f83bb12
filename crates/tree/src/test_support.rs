//! Helpers shared by this crate's tests: txn builders and a harness that numbers zxids.

use arbor_proto::{Acl, CreateMode, ErrorCode, EventType, Id, Stat};

use crate::txn::{Applied, CreateOp, OpResult, SessionId, Trigger, Txn, TxnOp, TxnResult, Zxid};
use crate::{DataTree, TreeOptions};

pub(crate) struct Harness {
    pub tree: DataTree,
    next_session: SessionId,
}

impl Harness {
    /// A tree with extended types (TTL nodes) enabled.
    pub fn new() -> Self {
        Self::with_options(TreeOptions {
            extended_types_enabled: true,
        })
    }

    pub fn with_options(options: TreeOptions) -> Self {
        Harness {
            tree: DataTree::new(options),
            next_session: 0x100,
        }
    }

    /// A harness around an existing tree (e.g. one read from a snapshot).
    pub fn from_tree(tree: DataTree) -> Self {
        Harness {
            tree,
            next_session: 0x1000,
        }
    }

    pub fn next_zxid(&self) -> Zxid {
        self.tree.last_zxid() + 1
    }

    pub fn apply(&mut self, zxid: Zxid, txn: Txn) -> Applied {
        self.tree.apply(zxid, &txn)
    }

    pub fn run_at(&mut self, zxid: Zxid, time: i64, op: TxnOp) -> Applied {
        self.apply(
            zxid,
            Txn {
                session: 0,
                time,
                auth: Vec::new().into(),
                op,
            },
        )
    }

    pub fn run_as(&mut self, session: SessionId, auth: Vec<Id>, op: TxnOp) -> Applied {
        let zxid = self.next_zxid();
        self.apply(
            zxid,
            Txn {
                session,
                time: zxid * 10,
                auth: auth.into(),
                op,
            },
        )
    }

    pub fn run(&mut self, op: TxnOp) -> Applied {
        self.run_as(0, vec![], op)
    }

    /// Runs an op that must succeed.
    pub fn ok(&mut self, op: TxnOp) {
        let applied = self.run(op);
        assert!(matches!(applied.result, TxnResult::Op(_)), "{applied:?}");
    }

    pub fn ok_at(&mut self, zxid: Zxid, op: TxnOp) {
        let applied = self.run_at(zxid, 0, op);
        assert!(matches!(applied.result, TxnResult::Op(_)), "{applied:?}");
    }

    /// Runs an op that must fail, returning its error; checks that it changed nothing.
    pub fn err(&mut self, op: TxnOp) -> ErrorCode {
        let digest = self.tree.digest();
        let applied = self.run(op);
        assert!(applied.triggers.is_empty());
        assert_eq!(self.tree.digest(), digest, "a failed op changed the tree");
        match applied.result {
            TxnResult::Error(code) => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Runs a create that must succeed, returning the created path.
    pub fn created(&mut self, op: TxnOp) -> String {
        let zxid = self.next_zxid();
        self.created_at(zxid, op)
    }

    pub fn created_at(&mut self, zxid: Zxid, op: TxnOp) -> String {
        match self.run_at(zxid, 0, op).result {
            TxnResult::Op(OpResult::Created { path, .. }) => path,
            other => panic!("expected a create, got {other:?}"),
        }
    }

    pub fn open_session(&mut self) -> SessionId {
        let session = self.next_session;
        self.next_session += 1;
        self.run(TxnOp::CreateSession {
            session,
            timeout_ms: 30_000,
            password: b"secret".to_vec(),
        });
        session
    }

    pub fn stat(&self, path: &str) -> Stat {
        self.tree
            .stat(path)
            .unwrap_or_else(|| panic!("{path} missing"))
    }
}

pub(crate) fn create(path: &str, data: &[u8]) -> TxnOp {
    TxnOp::Create(CreateOp {
        path: path.into(),
        data: data.to_vec(),
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl: 0,
    })
}

pub(crate) fn create_mode(path: &str, mode: CreateMode) -> TxnOp {
    TxnOp::Create(CreateOp {
        mode,
        ..create_op(path)
    })
}

pub(crate) fn create_ttl(path: &str, ttl: i64) -> TxnOp {
    TxnOp::Create(CreateOp {
        mode: CreateMode::PersistentWithTtl,
        ttl,
        ..create_op(path)
    })
}

pub(crate) fn create_with_acl(path: &str, acl: Vec<Acl>) -> TxnOp {
    TxnOp::Create(CreateOp {
        acl,
        ..create_op(path)
    })
}

fn create_op(path: &str) -> CreateOp {
    match create(path, b"") {
        TxnOp::Create(op) => op,
        _ => unreachable!(),
    }
}

pub(crate) fn delete(path: &str, version: i32) -> TxnOp {
    TxnOp::Delete {
        path: path.into(),
        version,
    }
}

pub(crate) fn set_data(path: &str, data: &[u8], version: i32) -> TxnOp {
    TxnOp::SetData {
        path: path.into(),
        data: data.to_vec(),
        version,
    }
}

pub(crate) fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> TxnOp {
    TxnOp::SetAcl {
        path: path.into(),
        acl,
        version,
    }
}

pub(crate) fn check(path: &str, version: i32) -> TxnOp {
    TxnOp::Check {
        path: path.into(),
        version,
    }
}

pub(crate) fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id::new(scheme, id),
    }
}

pub(crate) fn super_id() -> Id {
    Id::new("super", "")
}

pub(crate) fn trig(path: &str, event: EventType) -> Trigger {
    Trigger {
        path: path.into(),
        event,
    }
}

/// The tree's snapshot bytes.
pub(crate) fn snapshot_of(tree: &DataTree) -> Vec<u8> {
    let mut bytes = Vec::new();
    tree.write_snapshot(&mut bytes).expect("writing to a Vec");
    bytes
}

/// The snapshot bytes without header and checksum: equal bytes mean equal state (ACL
/// references and child order included), whatever `last_zxid` is.
pub(crate) fn state_of(tree: &DataTree) -> Vec<u8> {
    let bytes = snapshot_of(tree);
    bytes[21..bytes.len() - 4].to_vec()
}
