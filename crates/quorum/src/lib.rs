//! Replication and durability on openraft.
