//! Benchmark client (work in progress).
