//! The ZooKeeper 3.8/3.9 client wire format: jute primitives, records, opcodes and error codes.
//!
//! This crate does no I/O. Decoders take a complete frame (`&[u8]`) and never panic; they never
//! allocate more than the frame they were given, because every length prefix is checked against
//! the bytes that remain before anything is reserved.
//!
//! A connection carries length-prefixed frames ([`frame`]). The first client frame is a
//! [`ConnectRequest`]; after the server's [`ConnectResponse`], each client frame is a
//! [`RequestHeader`] and a [`Request`] body, and each server frame a [`ReplyHeader`] and a
//! [`Response`] body (or, with xid -1, a [`WatcherEvent`]).

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
