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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{split_frame, DEFAULT_MAX_FRAME_LEN};
    use crate::types::{EventType, Id, KeeperState};
    use proptest::prelude::*;

    fn stat(seed: i64) -> Stat {
        Stat {
            czxid: seed,
            mzxid: seed + 1,
            ctime: 1_700_000_000_000,
            mtime: 1_700_000_000_001,
            version: 3,
            cversion: 4,
            aversion: 5,
            ephemeral_owner: 0x77,
            data_length: 6,
            num_children: 2,
            pzxid: seed + 2,
        }
    }

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    /// Every reply body, with an opcode whose reply has that shape.
    fn every_response() -> Vec<(OpCode, Response)> {
        vec![
            (OpCode::Delete, Response::Empty),
            (OpCode::Create, Response::Create("/c0000000001".into())),
            (OpCode::Create2, Response::Create2("/c".into(), stat(1))),
            (
                OpCode::CreateContainer,
                Response::Create2("/cc".into(), stat(2)),
            ),
            (OpCode::CreateTtl, Response::Create2("/t".into(), stat(3))),
            (OpCode::Exists, Response::Stat(stat(4))),
            (OpCode::SetData, Response::Stat(stat(5))),
            (OpCode::SetAcl, Response::Stat(stat(6))),
            (
                OpCode::GetData,
                Response::GetData(b"hello".to_vec(), stat(7)),
            ),
            (
                OpCode::GetAcl,
                Response::GetAcl(
                    vec![Acl {
                        perms: 31,
                        id: Id::new("ip", "10.0.0.0/8"),
                    }],
                    stat(8),
                ),
            ),
            (OpCode::GetChildren, Response::GetChildren(names())),
            (
                OpCode::GetChildren2,
                Response::GetChildren2(names(), stat(9)),
            ),
            (OpCode::Sync, Response::Sync("/s".into())),
            (
                OpCode::Multi,
                Response::Multi(vec![
                    MultiResult::Create("/m".into()),
                    MultiResult::Create2("/m2".into(), stat(10)),
                    MultiResult::Delete,
                    MultiResult::SetData(stat(11)),
                    MultiResult::Check,
                    MultiResult::Error(ErrorCode::Ok),
                    MultiResult::Error(ErrorCode::BadVersion),
                    MultiResult::Error(ErrorCode::RuntimeInconsistency),
                ]),
            ),
            (
                OpCode::MultiRead,
                Response::Multi(vec![
                    MultiResult::GetData(vec![1], stat(12)),
                    MultiResult::GetChildren(names()),
                    MultiResult::Error(ErrorCode::NoNode),
                ]),
            ),
            (
                OpCode::GetEphemerals,
                Response::GetEphemerals(vec!["/e1".into(), "/e2".into()]),
            ),
            (
                OpCode::GetAllChildrenNumber,
                Response::GetAllChildrenNumber(42),
            ),
            (
                OpCode::WhoAmI,
                Response::WhoAmI(vec![
                    ClientInfo {
                        auth_scheme: "ip".into(),
                        user: "127.0.0.1".into(),
                    },
                    ClientInfo {
                        auth_scheme: "digest".into(),
                        user: "bob".into(),
                    },
                ]),
            ),
            (OpCode::AddWatch, Response::AddWatch),
            (
                OpCode::Reconfig,
                Response::Reconfig(b"server.1=h:2888:3888\nversion=1".to_vec(), stat(13)),
            ),
            (OpCode::Sasl, Response::Sasl(vec![9, 8, 7])),
        ]
    }

    #[test]
    fn every_response_round_trips() {
        for (op, rsp) in every_response() {
            let bytes = rsp.to_bytes();
            assert_eq!(
                Response::decode_for(op, &bytes).as_ref(),
                Ok(&rsp),
                "{op:?}"
            );
        }
    }

    #[test]
    fn every_truncated_response_is_an_error() {
        for (op, rsp) in every_response() {
            let bytes = rsp.to_bytes();
            for len in 0..bytes.len() {
                assert!(
                    Response::decode_for(op, &bytes[..len]).is_err(),
                    "{op:?} decoded from {len} of {} bytes",
                    bytes.len()
                );
            }
        }
    }

    #[test]
    fn bodiless_replies_decode_as_empty() {
        for op in [
            OpCode::Delete,
            OpCode::Ping,
            OpCode::Check,
            OpCode::CheckWatches,
            OpCode::RemoveWatches,
            OpCode::Auth,
            OpCode::SetWatches,
            OpCode::SetWatches2,
            OpCode::CloseSession,
        ] {
            assert_eq!(Response::decode_for(op, &[]), Ok(Response::Empty), "{op:?}");
        }
        for op in [OpCode::Notification, OpCode::CreateSession, OpCode::Error] {
            assert_eq!(
                Response::decode_for(op, &[]),
                Err(DecodeError::NoReplyForOpCode(op.code()))
            );
        }
    }

    #[test]
    fn add_watch_reply_is_a_zero_error_response() {
        assert_eq!(Response::AddWatch.to_bytes(), [0, 0, 0, 0]);
    }

    #[test]
    fn multi_error_result_has_zookeepers_layout() {
        let rsp = Response::Multi(vec![
            MultiResult::Delete,
            MultiResult::Error(ErrorCode::NoNode),
        ]);
        let expected = [
            0, 0, 0, 2, 0, 0, 0, 0, 0, // MultiHeader{delete, false, 0}
            0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b, // MultiHeader{-1, false, -101}
            0xff, 0xff, 0xff, 0x9b, // ErrorResponse{-101}
            0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, // MultiHeader{-1, true, -1}
        ];
        assert_eq!(rsp.to_bytes(), expected);
    }

    #[test]
    fn multi_results_reject_request_only_types() {
        let body = MultiHeader {
            op: OpCode::Exists.code(),
            done: false,
            err: 0,
        }
        .to_bytes();
        assert_eq!(
            Response::decode_for(OpCode::Multi, &body),
            Err(DecodeError::InvalidMultiOp(3))
        );
    }

    #[test]
    fn reply_frame_is_length_header_body() {
        let frame = reply_frame(
            &ReplyHeader::new(3, 0x10, ErrorCode::Ok),
            &Response::Sync("/".into()),
        );
        assert_eq!(
            frame,
            [
                0, 0, 0, 21, // length
                0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, // header
                0, 0, 0, 1, b'/', // body
            ]
        );
        let body = split_frame(&frame, DEFAULT_MAX_FRAME_LEN)
            .expect("valid")
            .expect("complete")
            .body;
        let mut r = Reader::new(body);
        assert_eq!(
            ReplyHeader::decode(&mut r),
            Ok(ReplyHeader::new(3, 0x10, ErrorCode::Ok))
        );
        assert_eq!(
            Response::decode_for(OpCode::Sync, r.rest()),
            Ok(Response::Sync("/".into()))
        );
    }

    #[test]
    fn notification_frame_uses_the_notification_xid() {
        let event = WatcherEvent::new(EventType::NodeCreated, KeeperState::SyncConnected, "/n");
        let frame = notification_frame(&event);
        let body = split_frame(&frame, DEFAULT_MAX_FRAME_LEN)
            .expect("valid")
            .expect("complete")
            .body;
        let mut r = Reader::new(body);
        assert_eq!(
            ReplyHeader::decode(&mut r),
            Ok(ReplyHeader::new(-1, -1, ErrorCode::Ok))
        );
        assert_eq!(WatcherEvent::decode(&mut r), Ok(event));
        assert!(r.is_empty());
    }

    fn all_opcodes() -> impl Strategy<Value = OpCode> {
        (-12..=110i32).prop_filter_map("defined opcode", OpCode::from_code)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic_the_response_decoder(
            op in all_opcodes(),
            body in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let _ = Response::decode_for(op, &body);
        }

        #[test]
        fn random_multi_results_round_trip(
            results in prop::collection::vec(
                prop_oneof![
                    any::<String>().prop_map(MultiResult::Create),
                    Just(MultiResult::Delete),
                    Just(MultiResult::Check),
                    prop::collection::vec(any::<u8>(), 0..8)
                        .prop_map(|data| MultiResult::GetData(data, Stat::default())),
                    prop::collection::vec(any::<String>(), 0..3).prop_map(MultiResult::GetChildren),
                    (-127..=0i32)
                        .prop_filter_map("defined code", ErrorCode::from_code)
                        .prop_map(MultiResult::Error),
                ],
                0..5,
            ),
        ) {
            let rsp = Response::Multi(results);
            prop_assert_eq!(Response::decode_for(OpCode::Multi, &rsp.to_bytes()), Ok(rsp));
        }
    }
}
