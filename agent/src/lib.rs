//! arbor-agent: the host-side daemon that registers this host's services in Arbor's registry
//! and keeps config files on disk in step with the config center.
//!
//! Pure cores (no I/O, tested with data): [`config`] (parsing, validation, merging), [`plan`]
//! (old vs new config), [`quiescence`] (when to write), [`health`] (what check results mean for
//! the registry), [`install::plan`] (how a file is replaced). Thin shells around them do the
//! I/O.

pub mod checks;
pub mod command;
pub mod config;
pub mod health;
pub mod install;
pub mod plan;
pub mod quiescence;

pub mod agent;
pub mod backoff;
pub mod cache;
pub mod file_task;
pub mod http;
pub mod metrics;
pub mod reconfig;
pub mod registry;
pub mod service_task;
pub mod session;
pub mod source;
