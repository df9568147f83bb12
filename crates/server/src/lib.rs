//! The ZooKeeper-compatible server.
