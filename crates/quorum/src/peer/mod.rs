//! Server-to-server traffic on the quorum port: Raft RPCs, writes forwarded to the leader,
//! read-index requests for `sync`, and session liveness reports.
//!
//! - [`wire`]: the messages and their framing (pure);
//! - [`client`]: the dialing side, one multiplexed connection per peer;
//! - [`listener`]: the accepting side, dispatching to a [`listener::PeerService`].

pub mod client;
pub mod listener;
pub mod wire;
