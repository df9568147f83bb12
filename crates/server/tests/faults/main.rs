//! Fault injection against real ensembles (issue 4, "How it is shown"): network partitions in
//! Linux network namespaces, SIGSTOP of the leader, a linearizability check of client
//! histories under faults, session expiry across members, and catch-up by snapshot.
//!
//! Tests that need namespaces print `SKIPPED ...` and pass where they cannot be made (not
//! root, or no `ip netns`); CI runs as root, so there they run.

// The blocking wire client (`common::raw`) the other integration tests use.
#[path = "../common/mod.rs"]
mod common;

mod catch_up;
mod linearizable;
mod partitions;
mod sessions;
mod stop;
mod support;
