//! The ZooKeeper 3.8/3.9 client wire format: jute primitives, records, opcodes and error codes.
//!
//! This crate does no I/O. Decoders take a complete frame (`&[u8]`) and never panic. They never
//! reserve memory on the word of a length prefix: every length and vector count is checked
//! against the bytes that remain first, so memory use stays proportional to the frame.
//!
//! A connection carries length-prefixed frames ([`frame`]). The first client frame is a
//! [`ConnectRequest`]; after the server's [`ConnectResponse`], each client frame is a
//! [`RequestHeader`] and a [`Request`] body, and each server frame a [`ReplyHeader`] and a
//! [`Response`] body (or, with xid -1, a [`WatcherEvent`]).
//!
//! ```
//! use arbor_proto::records::GetDataRequest;
//! use arbor_proto::{
//!     reply_frame, split_frame, DecodeError, ErrorCode, Reader, Record, ReplyHeader, Request,
//!     RequestHeader, Response, Stat, DEFAULT_MAX_FRAME_LEN,
//! };
//!
//! // A client's getData("/a", watch) as it arrives on the socket.
//! let request = Request::GetData(GetDataRequest { path: "/a".into(), watch: true });
//! let stream = request.to_frame(7);
//!
//! // Server side: split off a frame, read the header, then the body for its opcode.
//! let frame = split_frame(&stream, DEFAULT_MAX_FRAME_LEN)?.expect("a whole frame");
//! let mut reader = Reader::new(frame.body);
//! let header = RequestHeader::decode(&mut reader)?;
//! let reply = match Request::decode(header.op, reader.rest()) {
//!     Ok(Request::GetData(req)) => {
//!         assert_eq!(req.path, "/a");
//!         let body = Response::GetData(b"hi".to_vec(), Stat::default());
//!         reply_frame(&ReplyHeader::new(header.xid, 42, ErrorCode::Ok), &body)
//!     }
//!     Err(DecodeError::UnknownOpCode(_)) => reply_frame(
//!         &ReplyHeader::new(header.xid, 42, ErrorCode::Unimplemented),
//!         &Response::Empty,
//!     ),
//!     other => panic!("unexpected {other:?}"),
//! };
//! assert_eq!(&reply[4..8], 7i32.to_be_bytes()); // the reply echoes the xid
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod frame;
pub mod jute;
pub mod opcode;
pub mod path;
pub mod records;
pub mod request;
pub mod response;
pub mod types;

pub use error::ErrorCode;
pub use frame::{split_frame, Frame, FrameError, DEFAULT_MAX_FRAME_LEN};
pub use jute::{DecodeError, Reader, Record, Writer};
pub use opcode::OpCode;
pub use path::{validate_create_path, validate_path, PathError};
pub use records::{
    AuthPacket, ClientInfo, ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader,
    WatcherEvent,
};
pub use request::{MultiOp, Request};
pub use response::{notification_frame, reply_frame, MultiResult, Response};
pub use types::{
    perms, Acl, AddWatchMode, CreateMode, EventType, Id, KeeperState, Stat, WatcherType,
};
