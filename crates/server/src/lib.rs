//! The ZooKeeper-compatible server: client connections, sessions, watches, four-letter words.

pub mod config;
