//! What a service's check results mean for its registry entry.
//!
//! A service with a check is registered only after its check passes. A failure marks the entry
//! `enabled: false` (readers that honour the flag stop using it); `deregister_after`
//! consecutive failures remove it; the next pass brings it back.

/// The registry state a service should be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Desired {
    Absent,
    Enabled,
    Disabled,
}

#[derive(Clone, Debug)]
pub struct HealthTracker {
    deregister_after: u32,
    consecutive_failures: u32,
    desired: Desired,
}

impl HealthTracker {
    /// A tracker for a service with a check (starts absent until the first pass).
    pub fn checked(deregister_after: u32) -> HealthTracker {
        HealthTracker {
            deregister_after: deregister_after.max(1),
            consecutive_failures: 0,
            desired: Desired::Absent,
        }
    }

    /// A service without a check is always registered.
    pub fn unchecked() -> HealthTracker {
        HealthTracker {
            deregister_after: 1,
            consecutive_failures: 0,
            desired: Desired::Enabled,
        }
    }

    /// A changed check threshold; the state so far is kept.
    pub fn set_deregister_after(&mut self, deregister_after: u32) {
        self.deregister_after = deregister_after.max(1);
    }

    pub fn desired(&self) -> Desired {
        self.desired
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Records one check result; returns the new desired state.
    pub fn record(&mut self, passed: bool) -> Desired {
        if passed {
            self.consecutive_failures = 0;
            self.desired = Desired::Enabled;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.desired = if self.desired == Desired::Absent
                || self.consecutive_failures >= self.deregister_after
            {
                Desired::Absent
            } else {
                Desired::Disabled
            };
        }
        self.desired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_only_after_a_pass() {
        let mut health = HealthTracker::checked(3);
        assert_eq!(health.desired(), Desired::Absent);
        assert_eq!(health.record(false), Desired::Absent);
        assert_eq!(health.record(true), Desired::Enabled);
    }

    #[test]
    fn failures_disable_then_remove_and_a_pass_restores() {
        let mut health = HealthTracker::checked(3);
        health.record(true);
        assert_eq!(health.record(false), Desired::Disabled);
        assert_eq!(health.record(false), Desired::Disabled);
        assert_eq!(health.record(false), Desired::Absent);
        assert_eq!(health.consecutive_failures(), 3);
        assert_eq!(health.record(false), Desired::Absent);
        assert_eq!(health.record(true), Desired::Enabled);
        assert_eq!(health.consecutive_failures(), 0);
    }

    #[test]
    fn a_pass_resets_the_failure_count() {
        let mut health = HealthTracker::checked(2);
        health.record(true);
        health.record(false);
        health.record(true);
        assert_eq!(health.record(false), Desired::Disabled);
    }

    #[test]
    fn deregister_after_one_removes_at_the_first_failure() {
        let mut health = HealthTracker::checked(1);
        health.record(true);
        assert_eq!(health.record(false), Desired::Absent);
    }

    #[test]
    fn a_new_threshold_keeps_the_state_and_applies_to_the_next_result() {
        let mut health = HealthTracker::checked(5);
        health.record(true);
        health.record(false);
        health.set_deregister_after(2);
        assert_eq!(health.desired(), Desired::Disabled);
        assert_eq!(health.record(false), Desired::Absent);
    }

    #[test]
    fn unchecked_services_are_always_enabled() {
        assert_eq!(HealthTracker::unchecked().desired(), Desired::Enabled);
    }
}
