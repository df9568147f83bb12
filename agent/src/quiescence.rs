//! When to write a file after its source changed: consul-template's `wait {min, max}`.
//!
//! A burst of changes is collapsed into one write, made once no change came for `min`, and no
//! later than `max` after the burst's first change (so a source that never settles still gets
//! written). With `min == 0` a change is due at once.

use std::time::Instant;

use crate::config::Wait;

#[derive(Clone, Debug)]
pub struct Quiescence {
    wait: Wait,
    burst: Option<Burst>,
}

#[derive(Clone, Copy, Debug)]
struct Burst {
    first: Instant,
    last: Instant,
}

impl Quiescence {
    pub fn new(wait: Wait) -> Quiescence {
        Quiescence { wait, burst: None }
    }

    /// Notes a change seen at `now`.
    pub fn change(&mut self, now: Instant) {
        self.burst = Some(match self.burst {
            Some(burst) => Burst {
                first: burst.first,
                last: now,
            },
            None => Burst {
                first: now,
                last: now,
            },
        });
    }

    /// When the pending burst is due, or `None` if nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.burst
            .map(|burst| (burst.last + self.wait.min).min(burst.first + self.wait.max))
    }

    pub fn is_pending(&self) -> bool {
        self.burst.is_some()
    }

    /// True (and the burst is over) if a write is due at `now`.
    pub fn take_due(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(deadline) if deadline <= now => {
                self.burst = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn wait(min: u64, max: u64) -> Wait {
        Wait {
            min: ms(min),
            max: ms(max),
        }
    }

    #[test]
    fn nothing_pending_nothing_due() {
        let mut q = Quiescence::new(wait(100, 400));
        assert_eq!(q.deadline(), None);
        assert!(!q.take_due(Instant::now()));
    }

    #[test]
    fn a_burst_is_written_once_after_min_of_quiet() {
        let t0 = Instant::now();
        let mut q = Quiescence::new(wait(100, 1000));
        for step in 0..5 {
            q.change(t0 + ms(step * 50));
            assert!(!q.take_due(t0 + ms(step * 50 + 10)));
        }
        assert_eq!(q.deadline(), Some(t0 + ms(300)));
        assert!(!q.take_due(t0 + ms(299)));
        assert!(q.take_due(t0 + ms(300)));
        assert!(!q.is_pending());
        assert!(!q.take_due(t0 + ms(301)), "one write per burst");
    }

    #[test]
    fn a_source_that_never_settles_is_written_at_max() {
        let t0 = Instant::now();
        let mut q = Quiescence::new(wait(100, 250));
        q.change(t0);
        q.change(t0 + ms(90));
        q.change(t0 + ms(180));
        assert_eq!(q.deadline(), Some(t0 + ms(250)));
        assert!(q.take_due(t0 + ms(250)));
        // The next change starts a new burst.
        q.change(t0 + ms(260));
        assert_eq!(q.deadline(), Some(t0 + ms(360)));
    }

    #[test]
    fn no_wait_means_due_at_once() {
        let t0 = Instant::now();
        let mut q = Quiescence::new(Wait::default());
        q.change(t0);
        assert!(q.take_due(t0));
    }
}
