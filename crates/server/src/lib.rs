//! The ZooKeeper-compatible server: client connections, sessions, watches, four-letter words.
//!
//! Map: `server` assembles everything and runs background duties; `conn` owns one client
//! connection (handshake, in-order pipeline, writer); `ops` says what each request means;
//! `db` holds the replicated tree plus the local state that must change with it (watches,
//! outboxes, session liveness); `watch` and `session` are the pure registries; `report`
//! computes what the server says about itself, printed as text by `four_letter` (client port)
//! and as JSON by `admin` (the admin HTTP listener, which also serves `metrics` and the module
//! APIs); `config` parses zoo.cfg/YAML.

pub mod admin;
pub mod config;
pub mod conn;
pub mod db;
pub mod four_letter;
pub mod metrics;
pub mod ops;
pub mod reconfig;
pub mod reconfigure;
pub mod report;
pub mod server;
pub mod session;
pub mod stats;
pub mod tls;
pub mod watch;

pub use config::ServerConfig;
pub use server::{Server, StartError};
