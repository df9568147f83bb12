//! The data tree as a deterministic state machine. No I/O: `apply(zxid, &Txn) -> Applied`, plus
//! read accessors used by the server's read path.

pub mod txn;

pub use txn::{Applied, CreateOp, OpResult, SessionId, Trigger, Txn, TxnOp, TxnResult, Zxid};
