//! Replication and durability on openraft.
//!
//! Every change to the data tree is a [`arbor_tree::Txn`] replicated through a Raft log; its zxid
//! is its Raft log index. Standalone mode is a Raft group with exactly one voter, so there is a
//! single write path whether or not peers exist.
//!
//! Layout:
//! - [`types`]: the openraft type configuration and the [`Applier`] boundary the server implements;
//! - [`log_store`]: checksummed, segmented, group-committed log (openraft `RaftLogStorage`);
//! - [`state_machine`] and [`snapshot`]: the `RaftStateMachine` delegating to the applier, and
//!   snapshot files with retention;
//! - [`peer`]: server-to-server connections on the quorum port (Raft RPCs, forwarded writes,
//!   read-index requests, session reports);
//! - [`network`]: openraft's network over [`peer`];
//! - [`batcher`]: the proposal pipeline (batching, forwarding to the leader, FIFO order);
//! - [`quorum`]: the [`Quorum`] facade the server calls;
//! - [`observe`]: hooks that time fsyncs and snapshots and follow leadership (for metrics).

mod batcher;
pub mod error;
mod files;
pub mod log_store;
pub mod network;
pub mod observe;
pub mod peer;
pub mod quorum;
pub mod snapshot;
pub mod state_machine;
mod thread_priority;
pub mod types;

pub use error::{LogError, ProposeError, QuorumError, SnapshotError};
pub use observe::{DurationObserver, Leadership, LeadershipWatch, StorageObservers};
pub use peer::tls::PeerTls;
pub use peer::wire::Membership;
pub use quorum::{Ensemble, Quorum, QuorumConfig, QuorumStatus, Role};
pub use types::{Applier, Response, SnapshotBytes, SnapshotWriter, TxnBatch, TypeConfig};

#[cfg(test)]
pub(crate) mod test_util;
