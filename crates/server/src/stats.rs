//! Server counters reported by `srvr`/`stat`/`mntr` and reset by `srst`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Request and latency counters; lock-free, updated on every request.
#[derive(Debug)]
pub struct ServerStats {
    received: AtomicU64,
    sent: AtomicU64,
    latency_count: AtomicU64,
    latency_total_us: AtomicU64,
    latency_min_us: AtomicU64,
    latency_max_us: AtomicU64,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
            latency_total_us: AtomicU64::new(0),
            latency_min_us: AtomicU64::new(u64::MAX),
            latency_max_us: AtomicU64::new(0),
        }
    }
}

/// A consistent-enough copy of the counters for reporting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsView {
    pub received: u64,
    pub sent: u64,
    /// Milliseconds, as ZooKeeper prints them.
    pub min_latency_ms: f64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: f64,
}

impl ServerStats {
    pub fn received(&self) {
        self.received.fetch_add(1, Relaxed);
    }

    pub fn sent(&self) {
        self.sent.fetch_add(1, Relaxed);
    }

    pub fn latency(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_total_us.fetch_add(us, Relaxed);
        self.latency_min_us.fetch_min(us, Relaxed);
        self.latency_max_us.fetch_max(us, Relaxed);
    }

    pub fn reset(&self) {
        self.received.store(0, Relaxed);
        self.sent.store(0, Relaxed);
        self.latency_count.store(0, Relaxed);
        self.latency_total_us.store(0, Relaxed);
        self.latency_min_us.store(u64::MAX, Relaxed);
        self.latency_max_us.store(0, Relaxed);
    }

    pub fn view(&self) -> StatsView {
        let count = self.latency_count.load(Relaxed);
        let min = self.latency_min_us.load(Relaxed);
        StatsView {
            received: self.received.load(Relaxed),
            sent: self.sent.load(Relaxed),
            min_latency_ms: if count == 0 { 0.0 } else { min as f64 / 1000.0 },
            avg_latency_ms: if count == 0 {
                0.0
            } else {
                self.latency_total_us.load(Relaxed) as f64 / count as f64 / 1000.0
            },
            max_latency_ms: self.latency_max_us.load(Relaxed) as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_min_avg_max_and_reset() {
        let s = ServerStats::default();
        assert_eq!(s.view().min_latency_ms, 0.0);
        s.latency(Duration::from_millis(2));
        s.latency(Duration::from_millis(4));
        s.received();
        s.sent();
        let v = s.view();
        assert_eq!(
            (v.min_latency_ms, v.avg_latency_ms, v.max_latency_ms),
            (2.0, 3.0, 4.0)
        );
        assert_eq!((v.received, v.sent), (1, 1));
        s.reset();
        assert_eq!(s.view().received, 0);
        assert_eq!(s.view().max_latency_ms, 0.0);
    }
}
