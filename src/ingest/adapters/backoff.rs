//! Reconnect delays: exponential with jitter, bounded, and reset once a
//! connection has stayed healthy for a while.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// A connection that lived this long resets the delay to `base`.
    pub healthy_after: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration, healthy_after: Duration) -> Backoff {
        Backoff { base, max, healthy_after, attempt: 0 }
    }

    /// The delay before the next attempt, after a connection that lived
    /// `lived` (zero for a failed attempt): `base * 2^n` capped at `max`,
    /// times a random factor in [0.5, 1.0] so many clients do not retry in step.
    pub fn next_delay(&mut self, lived: Duration, rng: &mut impl Rng) -> Duration {
        if lived >= self.healthy_after {
            self.attempt = 0;
        }
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        let capped = exp.min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        capped.mul_f64(rng.random_range(0.5..=1.0))
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30), Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delays_grow_are_bounded_and_reset_after_a_healthy_connection() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), Duration::from_secs(10));
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay(Duration::ZERO, &mut rng)).collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[3] >= Duration::from_millis(400) && delays[3] <= Duration::from_millis(800));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(delays[7] >= Duration::from_secs(1));
        let after_healthy = backoff.next_delay(Duration::from_secs(11), &mut rng);
        assert!(after_healthy <= Duration::from_millis(100));
    }
}
