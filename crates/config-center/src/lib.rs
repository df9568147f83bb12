//! Arbor's config center: versioned configuration documents on a ZooKeeper-style tree.
//!
//! Plain ZooKeeper clients read and watch `/arbor/config/<env>/<app>/<name>` directly; the
//! config center adds history, validation, conditional pushes, rollback, diff, export/import and
//! a Spring Cloud Zookeeper Config projection around that node. Everything is written against
//! [`arbor_coord::Coordination`], so it works on Arbor and on a plain Apache ZooKeeper ensemble.
//!
//! Pure modules (no I/O, tested with data):
//! - [`layout`]: names (env, app, config name), the paths everything lives at, and what a
//!   version is (the sequence number of the newest history entry).
//! - [`format`](mod@format): formats from the extension and the validation a push must pass
//!   ([`properties`] is the `.properties` reader).
//! - [`history`]: the history entry record and the settings records.
//! - [`retention`], [`projection`], [`limits`], [`diff`]: planners for pruning, the Spring
//!   projection's node writes, the request size, unified diffs.
//!
//! I/O shells:
//! - [`ConfigCenter`]: push, get, history, rollback, diff, delete, watch, listings, settings;
//!   [`transfer`] adds export/import.
//! - [`api::ConfigApi`]: the HTTP API (`/api/v1/config`) as an `ApiHandler`.

pub mod api;
mod center;
pub mod diff;
mod error;
pub mod format;
pub mod history;
pub mod layout;
pub mod limits;
pub mod projection;
pub mod properties;
pub mod retention;
pub mod transfer;

pub use center::{
    ChangeOutcome, ConfigCenter, ConfigDocument, ConfigSummary, Current, DeleteOptions, DiffSide,
    ProjectionSummary, ProtectOutcome, PushOptions, WatchOutcome,
};
pub use error::{ConfigError, ErrorKind};
