//! Server-to-server traffic on the quorum port: Raft RPCs, writes forwarded to the leader,
//! read-index requests for `sync`, and session liveness reports; over plain TCP or, with
//! `sslQuorum`, mutual TLS in both directions.
//!
//! - [`wire`]: the messages and their framing (pure);
//! - [`client`]: the dialing side, one multiplexed connection per peer;
//! - [`listener`]: the accepting side, dispatching to a [`listener::PeerService`];
//! - [`tls`]: the TLS settings both sides take ([`tls::PeerTls`]) and the server name a dialer
//!   verifies.

pub mod client;
pub mod listener;
pub mod tls;
pub mod wire;
