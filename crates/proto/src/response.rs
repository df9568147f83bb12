//! Reply bodies (what follows a [`ReplyHeader`]), and whole reply/notification frames.

use crate::error::ErrorCode;
use crate::jute::{DecodeError, Reader, Record, Writer};
use crate::opcode::{xid, OpCode};
use crate::records::{ClientInfo, MultiHeader, ReplyHeader, WatcherEvent};
use crate::types::{Acl, Stat};

/// A reply body. Which variant a reply carries is determined by the request's opcode (see
/// [`Response::decode_for`]); a reply whose header has a non-zero `err` is normally sent with
/// [`Response::Empty`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No body: delete, ping, check, setWatches(2), checkWatches, removeWatches, auth,
    /// closeSession, and every error reply. (Not addWatch: see [`Response::AddWatch`].)
    Empty,
    /// create: the created path (with any sequence suffix).
    Create(String),
    /// create2, createContainer, createTTL.
    Create2(String, Stat),
    /// exists, setData, setACL.
    Stat(Stat),
    GetData(Vec<u8>, Stat),
    GetAcl(Vec<Acl>, Stat),
    GetChildren(Vec<String>),
    GetChildren2(Vec<String>, Stat),
    Sync(String),
    /// multi and multiRead.
    Multi(Vec<MultiResult>),
    GetEphemerals(Vec<String>),
    GetAllChildrenNumber(i32),
    WhoAmI(Vec<ClientInfo>),
    /// addWatch: ZooKeeper answers with an `ErrorResponse{err: 0}` body (4 bytes), and the Java
    /// client reads it, so this is not `Empty`.
    AddWatch,
    /// reconfig: the new configuration and the config node's stat.
    Reconfig(Vec<u8>, Stat),
    /// sasl: the server's challenge token.
    Sasl(Vec<u8>),
}

/// One entry of a multi/multiRead reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Create(String),
    /// create2, createContainer and createTTL inside a multi all report this form.
    Create2(String, Stat),
    Delete,
    SetData(Stat),
    Check,
    GetData(Vec<u8>, Stat),
    GetChildren(Vec<String>),
    /// A failed op (or, in a failed multi, `Ok` before the failing op and
    /// `RuntimeInconsistency` after it).
    Error(ErrorCode),
}

impl MultiResult {
    /// The `MultiHeader.type` this result is sent under.
    pub fn op(&self) -> i32 {
        match self {
            MultiResult::Create(_) => OpCode::Create.code(),
            MultiResult::Create2(..) => OpCode::Create2.code(),
            MultiResult::Delete => OpCode::Delete.code(),
            MultiResult::SetData(_) => OpCode::SetData.code(),
            MultiResult::Check => OpCode::Check.code(),
            MultiResult::GetData(..) => OpCode::GetData.code(),
            MultiResult::GetChildren(_) => OpCode::GetChildren.code(),
            MultiResult::Error(_) => OpCode::Error.code(),
        }
    }

    fn encode(&self, w: &mut Writer) {
        let err = match self {
            MultiResult::Error(code) => code.code(),
            _ => 0,
        };
        MultiHeader {
            op: self.op(),
            done: false,
            err,
        }
        .encode(w);
        match self {
            MultiResult::Create(path) => w.write_string(path),
            MultiResult::Create2(path, stat) => {
                w.write_string(path);
                stat.encode(w);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData(stat) => stat.encode(w),
            MultiResult::GetData(data, stat) => {
                w.write_buffer(data);
                stat.encode(w);
            }
            MultiResult::GetChildren(children) => w.write_vec(children),
            MultiResult::Error(code) => code.encode(w),
        }
    }

    /// Decodes the body that follows a result's header. Like ZooKeeper's client, the error
    /// code of an error result is taken from its body (`ErrorResponse`), not the header.
    fn decode_body(op: i32, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let op_code = OpCode::from_code(op).ok_or(DecodeError::InvalidMultiOp(op))?;
        Ok(match op_code {
            OpCode::Create => MultiResult::Create(r.read_string()?),
            OpCode::Create2 => MultiResult::Create2(r.read_string()?, r.read()?),
            OpCode::Delete => MultiResult::Delete,
            OpCode::SetData => MultiResult::SetData(r.read()?),
            OpCode::Check => MultiResult::Check,
            OpCode::GetData => MultiResult::GetData(r.read_buffer()?, r.read()?),
            OpCode::GetChildren => MultiResult::GetChildren(r.read_vec()?),
            OpCode::Error => MultiResult::Error(r.read()?),
            _ => return Err(DecodeError::InvalidMultiOp(op)),
        })
    }
}

impl Response {
    /// Writes the reply body (not the header).
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Response::Empty => {}
            Response::Create(path) | Response::Sync(path) => w.write_string(path),
            Response::Create2(path, stat) => {
                w.write_string(path);
                stat.encode(w);
            }
            Response::Stat(stat) => stat.encode(w),
            Response::GetData(data, stat) | Response::Reconfig(data, stat) => {
                w.write_buffer(data);
                stat.encode(w);
            }
            Response::GetAcl(acl, stat) => {
                w.write_vec(acl);
                stat.encode(w);
            }
            Response::GetChildren(children) | Response::GetEphemerals(children) => {
                w.write_vec(children)
            }
            Response::GetChildren2(children, stat) => {
                w.write_vec(children);
                stat.encode(w);
            }
            Response::Multi(results) => {
                for result in results {
                    result.encode(w);
                }
                MultiHeader::END.encode(w);
            }
            Response::GetAllChildrenNumber(n) => w.write_i32(*n),
            Response::WhoAmI(infos) => w.write_vec(infos),
            Response::AddWatch => w.write_i32(ErrorCode::Ok.code()),
            Response::Sasl(token) => w.write_buffer(token),
        }
    }

    /// The body alone.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes a successful reply (`err == 0`) to a request with opcode `op` (client side).
    /// Error replies usually have no body; do not decode them with this (except multi, whose
    /// failure is reported through its results).
    pub fn decode_for(op: OpCode, body: &[u8]) -> Result<Response, DecodeError> {
        let r = &mut Reader::new(body);
        Ok(match op {
            OpCode::Create => Response::Create(r.read_string()?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Response::Create2(r.read_string()?, r.read()?)
            }
            OpCode::Exists | OpCode::SetData | OpCode::SetAcl => Response::Stat(r.read()?),
            OpCode::GetData => Response::GetData(r.read_buffer()?, r.read()?),
            OpCode::GetAcl => Response::GetAcl(r.read_vec()?, r.read()?),
            OpCode::GetChildren => Response::GetChildren(r.read_vec()?),
            OpCode::GetChildren2 => Response::GetChildren2(r.read_vec()?, r.read()?),
            OpCode::Sync => Response::Sync(r.read_string()?),
            OpCode::Multi | OpCode::MultiRead => Response::Multi(decode_multi_results(r)?),
            OpCode::GetEphemerals => Response::GetEphemerals(r.read_vec()?),
            OpCode::GetAllChildrenNumber => Response::GetAllChildrenNumber(r.read_i32()?),
            OpCode::WhoAmI => Response::WhoAmI(r.read_vec()?),
            OpCode::AddWatch => {
                r.read_i32()?;
                Response::AddWatch
            }
            OpCode::Reconfig => Response::Reconfig(r.read_buffer()?, r.read()?),
            OpCode::Sasl => Response::Sasl(r.read_buffer()?),
            OpCode::Delete
            | OpCode::Ping
            | OpCode::Check
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::Auth
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::CloseSession => Response::Empty,
            OpCode::Notification
            | OpCode::DeleteContainer
            | OpCode::CreateSession
            | OpCode::Error => return Err(DecodeError::NoReplyForOpCode(op.code())),
        })
    }
}

/// Results until the terminating header (`done` set). Each result consumes at least a header's
/// worth of input, so the loop is bounded by the input length.
fn decode_multi_results(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let header = MultiHeader::decode(r)?;
        if header.done {
            return Ok(results);
        }
        results.push(MultiResult::decode_body(header.op, r)?);
    }
}

/// A complete reply frame: 4-byte length, `header`, `body`.
pub fn reply_frame(header: &ReplyHeader, body: &Response) -> Vec<u8> {
    crate::frame::framed(|w| {
        header.encode(w);
        body.encode(w);
    })
}

/// A complete notification frame: length, `ReplyHeader{xid: -1, zxid: -1, err: 0}` (what
/// ZooKeeper sends), the event.
pub fn notification_frame(event: &WatcherEvent) -> Vec<u8> {
    crate::frame::framed(|w| {
        ReplyHeader::new(xid::NOTIFICATION, -1, ErrorCode::Ok).encode(w);
        event.encode(w);
    })
}
