//! Client requests: the body that follows a [`RequestHeader`], one variant per client opcode.

use crate::jute::{DecodeError, Reader, Record, Writer};
use crate::opcode::OpCode;
use crate::records::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteRequest, ExistsRequest, GetAclRequest, GetAllChildrenNumberRequest,
    GetChildren2Request, GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, GetSaslRequest,
    MultiHeader, ReconfigRequest, RemoveWatchesRequest, RequestHeader, SetAclRequest,
    SetDataRequest, SetWatches, SetWatches2, SyncRequest,
};

/// A decoded request body. The opcode is implied by the variant ([`Request::op_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(GetAclRequest),
    SetAcl(SetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildren2Request),
    Sync(SyncRequest),
    Ping,
    Check(CheckVersionRequest),
    /// A transaction. ZooKeeper's decoder accepts any [`MultiOp`] here; whether read ops are
    /// allowed is the server's decision (see [`MultiOp::is_read`]).
    Multi(Vec<MultiOp>),
    /// A batch of reads (getChildren/getData); decoded like `Multi`.
    MultiRead(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    Auth(AuthPacket),
    SetWatches(SetWatches),
    SetWatches2(SetWatches2),
    Sasl(GetSaslRequest),
    GetEphemerals(GetEphemeralsRequest),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
}

/// One operation of a multi or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    GetChildren(GetChildrenRequest),
    GetData(GetDataRequest),
}

impl MultiOp {
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
            MultiOp::GetData(_) => OpCode::GetData,
        }
    }

    /// Whether this op belongs in a multiRead (as opposed to a transactional multi).
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetChildren(_) | MultiOp::GetData(_))
    }

    /// The path the op acts on.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => &r.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
        }
    }

    fn encode_body(&self, w: &mut Writer) {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => r.encode(w),
            MultiOp::CreateTtl(r) => r.encode(w),
            MultiOp::Delete(r) => r.encode(w),
            MultiOp::SetData(r) => r.encode(w),
            MultiOp::Check(r) => r.encode(w),
            MultiOp::GetChildren(r) => r.encode(w),
            MultiOp::GetData(r) => r.encode(w),
        }
    }

    fn decode_body(op: i32, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let op_code = OpCode::from_code(op).ok_or(DecodeError::InvalidMultiOp(op))?;
        Ok(match op_code {
            OpCode::Create => MultiOp::Create(r.read()?),
            OpCode::Create2 => MultiOp::Create2(r.read()?),
            OpCode::CreateContainer => MultiOp::CreateContainer(r.read()?),
            OpCode::CreateTtl => MultiOp::CreateTtl(r.read()?),
            OpCode::Delete => MultiOp::Delete(r.read()?),
            OpCode::SetData => MultiOp::SetData(r.read()?),
            OpCode::Check => MultiOp::Check(r.read()?),
            OpCode::GetChildren => MultiOp::GetChildren(r.read()?),
            OpCode::GetData => MultiOp::GetData(r.read()?),
            _ => return Err(DecodeError::InvalidMultiOp(op)),
        })
    }
}

/// Encodes a `MultiOperationRecord`: each op behind a `MultiHeader{type, false, -1}` (the err
/// value the Java client writes), then the terminator.
fn encode_multi(ops: &[MultiOp], w: &mut Writer) {
    for op in ops {
        MultiHeader {
            op: op.op_code().code(),
            done: false,
            err: -1,
        }
        .encode(w);
        op.encode_body(w);
    }
    MultiHeader::END.encode(w);
}

/// Decodes a `MultiOperationRecord`: ops until a header with `done` set. Every op consumes at
/// least one header's worth of input, so the loop is bounded by the input length.
fn decode_multi(r: &mut Reader<'_>) -> Result<Vec<MultiOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let header = MultiHeader::decode(r)?;
        if header.done {
            return Ok(ops);
        }
        ops.push(MultiOp::decode_body(header.op, r)?);
    }
}

impl Request {
    pub fn op_code(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
        }
    }

    /// Writes the request body (not the header).
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => r.encode(w),
            Request::CreateTtl(r) => r.encode(w),
            Request::Delete(r) => r.encode(w),
            Request::Exists(r) => r.encode(w),
            Request::GetData(r) => r.encode(w),
            Request::SetData(r) => r.encode(w),
            Request::GetAcl(r) => r.encode(w),
            Request::SetAcl(r) => r.encode(w),
            Request::GetChildren(r) => r.encode(w),
            Request::GetChildren2(r) => r.encode(w),
            Request::Sync(r) => r.encode(w),
            Request::Check(r) => r.encode(w),
            Request::Multi(ops) | Request::MultiRead(ops) => encode_multi(ops, w),
            Request::Reconfig(r) => r.encode(w),
            Request::CheckWatches(r) => r.encode(w),
            Request::RemoveWatches(r) => r.encode(w),
            Request::Auth(r) => r.encode(w),
            Request::SetWatches(r) => r.encode(w),
            Request::SetWatches2(r) => r.encode(w),
            Request::Sasl(r) => r.encode(w),
            Request::GetEphemerals(r) => r.encode(w),
            Request::GetAllChildrenNumber(r) => r.encode(w),
            Request::AddWatch(r) => r.encode(w),
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
        }
    }

    /// Decodes the body of a request whose header carried `op_code`.
    ///
    /// Trailing bytes after the body are ignored, as ZooKeeper ignores them. Opcodes that are
    /// unknown or that clients may not send yield [`DecodeError::UnknownOpCode`], which a server
    /// answers with `UNIMPLEMENTED` (keeping the connection).
    pub fn decode(op_code: i32, body: &[u8]) -> Result<Request, DecodeError> {
        let op = OpCode::from_code(op_code).ok_or(DecodeError::UnknownOpCode(op_code))?;
        let r = &mut Reader::new(body);
        Ok(match op {
            OpCode::Create => Request::Create(r.read()?),
            OpCode::Create2 => Request::Create2(r.read()?),
            OpCode::CreateContainer => Request::CreateContainer(r.read()?),
            OpCode::CreateTtl => Request::CreateTtl(r.read()?),
            OpCode::Delete => Request::Delete(r.read()?),
            OpCode::Exists => Request::Exists(r.read()?),
            OpCode::GetData => Request::GetData(r.read()?),
            OpCode::SetData => Request::SetData(r.read()?),
            OpCode::GetAcl => Request::GetAcl(r.read()?),
            OpCode::SetAcl => Request::SetAcl(r.read()?),
            OpCode::GetChildren => Request::GetChildren(r.read()?),
            OpCode::GetChildren2 => Request::GetChildren2(r.read()?),
            OpCode::Sync => Request::Sync(r.read()?),
            OpCode::Ping => Request::Ping,
            OpCode::Check => Request::Check(r.read()?),
            OpCode::Multi => Request::Multi(decode_multi(r)?),
            OpCode::MultiRead => Request::MultiRead(decode_multi(r)?),
            OpCode::Reconfig => Request::Reconfig(r.read()?),
            OpCode::CheckWatches => Request::CheckWatches(r.read()?),
            OpCode::RemoveWatches => Request::RemoveWatches(r.read()?),
            OpCode::Auth => Request::Auth(r.read()?),
            OpCode::SetWatches => Request::SetWatches(r.read()?),
            OpCode::SetWatches2 => Request::SetWatches2(r.read()?),
            OpCode::Sasl => Request::Sasl(r.read()?),
            OpCode::GetEphemerals => Request::GetEphemerals(r.read()?),
            OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(r.read()?),
            OpCode::AddWatch => Request::AddWatch(r.read()?),
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::Notification
            | OpCode::DeleteContainer
            | OpCode::CreateSession
            | OpCode::Error => return Err(DecodeError::UnknownOpCode(op_code)),
        })
    }

    /// The body alone.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// A complete frame as a client sends it: length, `RequestHeader{xid, op}`, body.
    pub fn to_frame(&self, xid: i32) -> Vec<u8> {
        crate::frame::framed(|w| {
            RequestHeader::new(xid, self.op_code()).encode(w);
            self.encode(w);
        })
    }

    /// Whether the request changes state (and so goes through consensus in ZooKeeper).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create(_)
                | Request::Create2(_)
                | Request::CreateContainer(_)
                | Request::CreateTtl(_)
                | Request::Delete(_)
                | Request::SetData(_)
                | Request::SetAcl(_)
                | Request::Multi(_)
                | Request::Reconfig(_)
                | Request::CloseSession
        )
    }

    /// The path the request names, for requests about a single path.
    pub fn path(&self) -> Option<&str> {
        Some(match self {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => &r.path,
            Request::CreateTtl(r) => &r.path,
            Request::Delete(r) => &r.path,
            Request::Exists(r) => &r.path,
            Request::GetData(r) => &r.path,
            Request::SetData(r) => &r.path,
            Request::GetAcl(r) => &r.path,
            Request::SetAcl(r) => &r.path,
            Request::GetChildren(r) => &r.path,
            Request::GetChildren2(r) => &r.path,
            Request::Sync(r) => &r.path,
            Request::Check(r) => &r.path,
            Request::CheckWatches(r) => &r.path,
            Request::RemoveWatches(r) => &r.path,
            Request::GetAllChildrenNumber(r) => &r.path,
            Request::AddWatch(r) => &r.path,
            Request::Ping
            | Request::Multi(_)
            | Request::MultiRead(_)
            | Request::Reconfig(_)
            | Request::Auth(_)
            | Request::SetWatches(_)
            | Request::SetWatches2(_)
            | Request::Sasl(_)
            | Request::GetEphemerals(_)
            | Request::WhoAmI
            | Request::CloseSession => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{perms, Acl, Id};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn create(path: &str) -> CreateRequest {
        CreateRequest {
            path: path.into(),
            data: b"data".to_vec(),
            acl: vec![Acl {
                perms: perms::ALL,
                id: Id::anyone(),
            }],
            flags: 3,
        }
    }

    fn create_ttl() -> CreateTtlRequest {
        CreateTtlRequest {
            path: "/ttl".into(),
            data: vec![1, 2],
            acl: Acl::read_unsafe(),
            flags: 5,
            ttl: 60_000,
        }
    }

    fn watches(prefix: &str) -> Vec<String> {
        vec![format!("/{prefix}1"), format!("/{prefix}2")]
    }

    /// One request of every client opcode.
    fn every_request() -> Vec<Request> {
        vec![
            Request::Create(create("/c")),
            Request::Create2(create("/c2")),
            Request::CreateContainer(create("/cc")),
            Request::CreateTtl(create_ttl()),
            Request::Delete(DeleteRequest {
                path: "/d".into(),
                version: -1,
            }),
            Request::Exists(ExistsRequest {
                path: "/e".into(),
                watch: true,
            }),
            Request::GetData(GetDataRequest {
                path: "/g".into(),
                watch: false,
            }),
            Request::SetData(SetDataRequest {
                path: "/s".into(),
                data: vec![0xff; 3],
                version: 7,
            }),
            Request::GetAcl(GetAclRequest { path: "/a".into() }),
            Request::SetAcl(SetAclRequest {
                path: "/a".into(),
                acl: vec![Acl {
                    perms: perms::READ | perms::WRITE,
                    id: Id::new("digest", "bob:xyz="),
                }],
                version: 2,
            }),
            Request::GetChildren(GetChildrenRequest {
                path: "/".into(),
                watch: true,
            }),
            Request::GetChildren2(GetChildren2Request {
                path: "/x".into(),
                watch: false,
            }),
            Request::Sync(SyncRequest { path: "/".into() }),
            Request::Ping,
            Request::Check(CheckVersionRequest {
                path: "/k".into(),
                version: 4,
            }),
            Request::Multi(vec![
                MultiOp::Create(create("/m1")),
                MultiOp::Create2(create("/m2")),
                MultiOp::CreateContainer(create("/m3")),
                MultiOp::CreateTtl(create_ttl()),
                MultiOp::Delete(DeleteRequest {
                    path: "/m4".into(),
                    version: 0,
                }),
                MultiOp::SetData(SetDataRequest {
                    path: "/m5".into(),
                    data: vec![],
                    version: -1,
                }),
                MultiOp::Check(CheckVersionRequest {
                    path: "/m6".into(),
                    version: 1,
                }),
            ]),
            Request::MultiRead(vec![
                MultiOp::GetChildren(GetChildrenRequest {
                    path: "/r1".into(),
                    watch: false,
                }),
                MultiOp::GetData(GetDataRequest {
                    path: "/r2".into(),
                    watch: false,
                }),
            ]),
            Request::Reconfig(ReconfigRequest {
                joining_servers: Some("server.5=127.0.0.5:2888:3888".into()),
                leaving_servers: None,
                new_members: None,
                cur_config_id: -1,
            }),
            Request::CheckWatches(CheckWatchesRequest {
                path: "/w".into(),
                watcher_type: 2,
            }),
            Request::RemoveWatches(RemoveWatchesRequest {
                path: "/w".into(),
                watcher_type: 3,
            }),
            Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: b"user:pass".to_vec(),
            }),
            Request::SetWatches(SetWatches {
                relative_zxid: 0x1_0000_0005,
                data_watches: watches("d"),
                exist_watches: watches("e"),
                child_watches: vec![],
            }),
            Request::SetWatches2(SetWatches2 {
                relative_zxid: 9,
                data_watches: watches("d"),
                exist_watches: vec![],
                child_watches: watches("c"),
                persistent_watches: watches("p"),
                persistent_recursive_watches: watches("r"),
            }),
            Request::Sasl(GetSaslRequest {
                token: vec![1, 2, 3],
            }),
            Request::GetEphemerals(GetEphemeralsRequest {
                prefix_path: "/eph".into(),
            }),
            Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/n".into() }),
            Request::AddWatch(AddWatchRequest {
                path: "/aw".into(),
                mode: 1,
            }),
            Request::WhoAmI,
            Request::CloseSession,
        ]
    }

    #[test]
    fn samples_cover_every_opcode_the_decoder_accepts() {
        let sampled: BTreeSet<i32> = every_request().iter().map(|r| r.op_code().code()).collect();
        let accepted: BTreeSet<i32> = (-100..=200)
            .filter(|&code| Request::decode(code, &[]) != Err(DecodeError::UnknownOpCode(code)))
            .collect();
        assert_eq!(sampled, accepted);
        assert_eq!(sampled.len(), 29);
    }

    #[test]
    fn every_request_round_trips() {
        for req in every_request() {
            let bytes = req.to_bytes();
            assert_eq!(
                Request::decode(req.op_code().code(), &bytes).as_ref(),
                Ok(&req),
                "{req:?}"
            );
        }
    }

    #[test]
    fn every_truncated_request_is_an_error() {
        for req in every_request() {
            let bytes = req.to_bytes();
            for len in 0..bytes.len() {
                assert!(
                    Request::decode(req.op_code().code(), &bytes[..len]).is_err(),
                    "{req:?} decoded from {len} of {} bytes",
                    bytes.len()
                );
            }
        }
    }

    #[test]
    fn non_client_and_unknown_opcodes_are_reported_with_their_code() {
        for code in [0, 10, 20, -10, -1, 23, 99, 108, i32::MIN] {
            assert_eq!(
                Request::decode(code, &[0; 64]),
                Err(DecodeError::UnknownOpCode(code))
            );
        }
    }

    #[test]
    fn get_data_request_has_the_jute_layout() {
        let req = Request::GetData(GetDataRequest {
            path: "/a".into(),
            watch: true,
        });
        assert_eq!(req.to_bytes(), [0, 0, 0, 2, b'/', b'a', 1]);
        assert_eq!(
            req.to_frame(5),
            [0, 0, 0, 15, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 2, b'/', b'a', 1]
        );
    }

    #[test]
    fn multi_has_the_java_client_layout() {
        let req = Request::Multi(vec![MultiOp::Delete(DeleteRequest {
            path: "/x".into(),
            version: -1,
        })]);
        let expected = [
            0, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff, // MultiHeader{delete, false, -1}
            0, 0, 0, 2, b'/', b'x', 0xff, 0xff, 0xff, 0xff, // DeleteRequest
            0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, // MultiHeader{-1, true, -1}
        ];
        assert_eq!(req.to_bytes(), expected);
    }

    #[test]
    fn multi_stops_at_the_done_header_whatever_its_type() {
        let body = MultiHeader {
            op: 1,
            done: true,
            err: 0,
        }
        .to_bytes();
        assert_eq!(Request::decode(14, &body), Ok(Request::Multi(vec![])));
    }

    #[test]
    fn multi_rejects_ops_that_cannot_be_batched() {
        let mut w = Writer::new();
        MultiHeader {
            op: OpCode::Exists.code(),
            done: false,
            err: -1,
        }
        .encode(&mut w);
        ExistsRequest::default().encode(&mut w);
        MultiHeader::END.encode(&mut w);
        assert_eq!(
            Request::decode(14, w.as_bytes()),
            Err(DecodeError::InvalidMultiOp(3))
        );
        assert_eq!(
            Request::decode(22, w.as_bytes()),
            Err(DecodeError::InvalidMultiOp(3))
        );
    }

    #[test]
    fn ping_ignores_trailing_bytes() {
        assert_eq!(Request::decode(11, &[1, 2, 3]), Ok(Request::Ping));
    }

    #[test]
    fn classification_helpers() {
        assert!(Request::Create(create("/a")).is_write());
        assert!(!Request::Ping.is_write());
        assert_eq!(Request::Create(create("/a")).path(), Some("/a"));
        assert_eq!(Request::Multi(vec![]).path(), None);
        assert!(MultiOp::GetData(GetDataRequest::default()).is_read());
        assert!(!MultiOp::Check(CheckVersionRequest::default()).is_read());
    }

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "(/[a-z0-9.]{0,4}){1,3}"]
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..24)
    }

    fn strings() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(string(), 0..4)
    }

    fn acls() -> impl Strategy<Value = Vec<Acl>> {
        prop::collection::vec(
            (any::<i32>(), string(), string()).prop_map(|(perms, scheme, id)| Acl {
                perms,
                id: Id { scheme, id },
            }),
            0..3,
        )
    }

    fn create_req() -> impl Strategy<Value = CreateRequest> {
        (string(), bytes(), acls(), any::<i32>()).prop_map(|(path, data, acl, flags)| {
            CreateRequest {
                path,
                data,
                acl,
                flags,
            }
        })
    }

    fn create_ttl_req() -> impl Strategy<Value = CreateTtlRequest> {
        (create_req(), any::<i64>()).prop_map(|(c, ttl)| CreateTtlRequest {
            path: c.path,
            data: c.data,
            acl: c.acl,
            flags: c.flags,
            ttl,
        })
    }

    fn path_version() -> impl Strategy<Value = (String, i32)> {
        (string(), any::<i32>())
    }

    fn path_watch() -> impl Strategy<Value = (String, bool)> {
        (string(), any::<bool>())
    }

    fn multi_op() -> impl Strategy<Value = MultiOp> {
        prop_oneof![
            create_req().prop_map(MultiOp::Create),
            create_req().prop_map(MultiOp::Create2),
            create_req().prop_map(MultiOp::CreateContainer),
            create_ttl_req().prop_map(MultiOp::CreateTtl),
            path_version()
                .prop_map(|(path, version)| MultiOp::Delete(DeleteRequest { path, version })),
            (string(), bytes(), any::<i32>()).prop_map(|(path, data, version)| {
                MultiOp::SetData(SetDataRequest {
                    path,
                    data,
                    version,
                })
            }),
            path_version()
                .prop_map(|(path, version)| MultiOp::Check(CheckVersionRequest { path, version })),
            path_watch()
                .prop_map(|(path, watch)| MultiOp::GetChildren(GetChildrenRequest { path, watch })),
            path_watch().prop_map(|(path, watch)| MultiOp::GetData(GetDataRequest { path, watch })),
        ]
    }

    fn request() -> impl Strategy<Value = Request> {
        let ops = || prop::collection::vec(multi_op(), 0..4);
        let opt = || proptest::option::of(string());
        prop_oneof![
            create_req().prop_map(Request::Create),
            create_req().prop_map(Request::Create2),
            create_req().prop_map(Request::CreateContainer),
            create_ttl_req().prop_map(Request::CreateTtl),
            path_version()
                .prop_map(|(path, version)| Request::Delete(DeleteRequest { path, version })),
            path_watch().prop_map(|(path, watch)| Request::Exists(ExistsRequest { path, watch })),
            path_watch().prop_map(|(path, watch)| Request::GetData(GetDataRequest { path, watch })),
            (string(), bytes(), any::<i32>()).prop_map(|(path, data, version)| {
                Request::SetData(SetDataRequest {
                    path,
                    data,
                    version,
                })
            }),
            string().prop_map(|path| Request::GetAcl(GetAclRequest { path })),
            (string(), acls(), any::<i32>()).prop_map(|(path, acl, version)| {
                Request::SetAcl(SetAclRequest { path, acl, version })
            }),
            path_watch()
                .prop_map(|(path, watch)| Request::GetChildren(GetChildrenRequest { path, watch })),
            path_watch().prop_map(|(path, watch)| Request::GetChildren2(GetChildren2Request {
                path,
                watch
            })),
            string().prop_map(|path| Request::Sync(SyncRequest { path })),
            Just(Request::Ping),
            path_version()
                .prop_map(|(path, version)| Request::Check(CheckVersionRequest { path, version })),
            ops().prop_map(Request::Multi),
            ops().prop_map(Request::MultiRead),
            (opt(), opt(), opt(), any::<i64>()).prop_map(|(j, l, n, id)| {
                Request::Reconfig(ReconfigRequest {
                    joining_servers: j,
                    leaving_servers: l,
                    new_members: n,
                    cur_config_id: id,
                })
            }),
            path_version().prop_map(|(path, watcher_type)| {
                Request::CheckWatches(CheckWatchesRequest { path, watcher_type })
            }),
            path_version().prop_map(|(path, watcher_type)| {
                Request::RemoveWatches(RemoveWatchesRequest { path, watcher_type })
            }),
            (any::<i32>(), string(), bytes()).prop_map(|(auth_type, scheme, auth)| {
                Request::Auth(AuthPacket {
                    auth_type,
                    scheme,
                    auth,
                })
            }),
            (any::<i64>(), strings(), strings(), strings()).prop_map(|(z, d, e, c)| {
                Request::SetWatches(SetWatches {
                    relative_zxid: z,
                    data_watches: d,
                    exist_watches: e,
                    child_watches: c,
                })
            }),
            (
                any::<i64>(),
                strings(),
                strings(),
                strings(),
                strings(),
                strings()
            )
                .prop_map(|(z, d, e, c, p, r)| {
                    Request::SetWatches2(SetWatches2 {
                        relative_zxid: z,
                        data_watches: d,
                        exist_watches: e,
                        child_watches: c,
                        persistent_watches: p,
                        persistent_recursive_watches: r,
                    })
                }),
            bytes().prop_map(|token| Request::Sasl(GetSaslRequest { token })),
            string().prop_map(|prefix_path| Request::GetEphemerals(GetEphemeralsRequest {
                prefix_path
            })),
            string().prop_map(
                |path| Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path })
            ),
            path_version()
                .prop_map(|(path, mode)| Request::AddWatch(AddWatchRequest { path, mode })),
            Just(Request::WhoAmI),
            Just(Request::CloseSession),
        ]
    }

    /// Opcodes worth fuzzing: every defined one plus unknown neighbours.
    fn any_opcode() -> impl Strategy<Value = i32> {
        prop_oneof![-12..=24i32, 99..=108i32, any::<i32>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_requests_round_trip(req in request()) {
            let bytes = req.to_bytes();
            prop_assert_eq!(Request::decode(req.op_code().code(), &bytes), Ok(req));
        }

        #[test]
        fn random_bytes_never_panic_the_request_decoder(
            op in any_opcode(),
            body in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let _ = Request::decode(op, &body);
        }

        #[test]
        fn mutated_requests_never_panic_the_decoder(
            req in request(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            // Random bytes rarely get past the first length prefix; corrupting valid encodings
            // reaches the deeper fields.
            let mut bytes = req.to_bytes();
            if !bytes.is_empty() {
                for (at, byte) in flips {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
            }
            let _ = Request::decode(req.op_code().code(), &bytes);
        }
    }
}
