//! The ZooKeeper 3.8/3.9 client wire format: jute primitives, records, opcodes and error codes.
//!
//! This crate does no I/O. Decoders take a complete frame (`&[u8]`) and never panic; they never
//! allocate more than the frame they were given, because every length prefix is checked against
//! the bytes that remain before anything is reserved.

pub mod error;
pub mod opcode;
pub mod types;

pub use error::ErrorCode;
pub use opcode::OpCode;
pub use types::{perms, Acl, CreateMode, EventType, Id, KeeperState, Stat};
