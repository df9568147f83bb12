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
