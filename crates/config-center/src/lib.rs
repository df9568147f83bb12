//! Arbor's config center: versioned configuration documents on a ZooKeeper-style tree.
//!
//! - [`layout`]: names (env, app, config name) and the paths everything lives at; the version
//!   definition.
//! - [`format`]: formats from the extension and the validation a push must pass
//!   ([`properties`] is the `.properties` reader).
//! - [`history`]: the history entry record and the settings records.
//!
//! Plain ZooKeeper clients read and watch `/arbor/config/<env>/<app>/<name>` directly; the
//! config center adds history, validation, conditional pushes, rollback and projections around
//! that node.

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
    ProjectionSummary, PushOptions, WatchOutcome,
};
pub use error::{ConfigError, ErrorKind};
