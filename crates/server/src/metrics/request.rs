//! Request latency per opcode, on the hot path of every request.
//!
//! Resolving a labelled child of a `HistogramVec` hashes the labels and takes a lock, so each
//! opcode's histogram is resolved once, the first time the opcode is seen, and kept in a fixed
//! slot: afterwards an observation is an index, an atomic load and the histogram's own atomic
//! updates (no lock, no allocation).

use std::sync::OnceLock;
use std::time::Duration;

use arbor_proto::OpCode;
use prometheus::{Histogram, HistogramVec};

/// Opcodes 0..=22, 100..=107, createSession, closeSession, and one slot for anything else.
const SLOTS: usize = 23 + 8 + 3;
const OTHER_SLOT: usize = SLOTS - 1;

/// The slot of `op` in the table: a pure function of its code, so no search per request.
fn slot(op: OpCode) -> usize {
    match op.code() {
        code @ 0..=22 => code as usize,
        code @ 100..=107 => 23 + (code - 100) as usize,
        -10 => 31,
        -11 => 32,
        _ => OTHER_SLOT,
    }
}

pub struct RequestLatency {
    family: HistogramVec,
    slots: [OnceLock<Histogram>; SLOTS],
}

impl RequestLatency {
    /// `family` must have exactly one label, the opcode's name.
    pub fn new(family: HistogramVec) -> RequestLatency {
        RequestLatency {
            family,
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Records that a request of type `op` was answered `elapsed` after it was read.
    pub fn observe(&self, op: OpCode, elapsed: Duration) {
        let index = slot(op);
        let histogram = self.slots[index].get_or_init(|| {
            let name = if index == OTHER_SLOT {
                "other"
            } else {
                op.name()
            };
            self.family.with_label_values(&[name])
        });
        histogram.observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_has_its_own_slot() {
        let mut seen = std::collections::HashMap::new();
        for code in -20..=120 {
            let Some(op) = OpCode::from_code(code) else {
                continue;
            };
            let s = slot(op);
            assert!(s < SLOTS);
            if s != OTHER_SLOT {
                assert_eq!(seen.insert(s, op), None, "{op:?} shares slot {s}");
            }
        }
        assert_eq!(slot(OpCode::Error), OTHER_SLOT);
        assert_eq!(slot(OpCode::Notification), 0);
    }

    #[test]
    fn observations_land_in_the_opcode_series() {
        let family = HistogramVec::new(
            prometheus::HistogramOpts::new("t_latency_seconds", "test"),
            &["op"],
        )
        .unwrap();
        let latency = RequestLatency::new(family.clone());
        latency.observe(OpCode::GetData, Duration::from_millis(2));
        latency.observe(OpCode::GetData, Duration::from_millis(4));
        latency.observe(OpCode::Create, Duration::from_millis(1));
        let get_data = family.with_label_values(&["getData"]);
        assert_eq!(get_data.get_sample_count(), 2);
        assert!((get_data.get_sample_sum() - 0.006).abs() < 1e-9);
        assert_eq!(family.with_label_values(&["create"]).get_sample_count(), 1);
    }
}
