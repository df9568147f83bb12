//! Retry delays: doubling from a floor to a ceiling, with up to 20 % jitter so many agents
//! that lost the same ensemble do not reconnect in lockstep.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Backoff {
    floor: Duration,
    ceiling: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(floor: Duration, ceiling: Duration) -> Backoff {
        Backoff {
            floor,
            ceiling,
            next: floor,
        }
    }

    /// The delay before the next attempt, given a jitter draw in `0.0..1.0`.
    pub fn next_with(&mut self, jitter: f64) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        base + base.mul_f64(0.2 * jitter.clamp(0.0, 1.0))
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        self.next_with(f64::from(nanos % 1000) / 1000.0)
    }

    /// After a success: the next failure starts from the floor again.
    pub fn reset(&mut self) {
        self.next = self.floor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_ceiling_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<u128> = (0..5).map(|_| backoff.next_with(0.0).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_with(1.0), Duration::from_millis(120));
    }
}
