//! The ZooKeeper data tree as a deterministic state machine. No I/O: `apply(zxid, &Txn) ->
//! Applied`, read accessors for the server's read path, snapshots and a state digest.
//!
//! Semantics follow Apache ZooKeeper 3.8 (stat fields, error codes and their order, sequential
//! names, container/TTL/ephemeral rules, multi results, watch triggers); see `apply.rs`.
//!
//! Memory design (target: a million znodes with 100-byte data well under 250 MB): nodes are
//! 64-byte structs in a slab addressed by `u32` ids; a node stores its own name (not its path)
//! in the same heap block as its data; a single hash index of bare ids maps (parent, name) to a
//! child; child lists, child counters, owners and ACL versions are allocated only for the
//! nodes that need them; ACL lists are interned and referenced by a 4-byte index. See
//! `store.rs` and `node.rs`.

mod acl;
mod acl_table;
mod apply;
mod change;
mod credential;
mod digest;
mod name_data;
mod node;
mod path;
mod slab;
mod snapshot;
mod store;
mod tree;
pub mod txn;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod test_support;

pub use credential::digest_credential;
pub use snapshot::{SnapshotError, SnapshotWriteError, TreeSnapshot};
pub use tree::{DataTree, TreeOptions};
pub use txn::{Applied, CreateOp, OpResult, SessionId, Trigger, Txn, TxnOp, TxnResult, Zxid};
