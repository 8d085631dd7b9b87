//! When to try a lost connection again: exponential from `min` to `max`, with "equal jitter"
//! (half the delay fixed, half random), so a fleet of nodes that lost the same server does not
//! come back in one wave. A connection that stayed up resets it.

/// Reconnect delays, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min_us: u64,
    max_us: u64,
    attempt: u32,
}

impl Backoff {
    pub const fn new(min_us: u64, max_us: u64) -> Backoff {
        Backoff {
            min_us,
            max_us,
            attempt: 0,
        }
    }

    /// The delay before the next attempt; `random` is any random number (the jitter).
    pub fn next_delay(&mut self, random: u32) -> u64 {
        let base = self
            .min_us
            .saturating_mul(1u64 << self.attempt.min(32))
            .min(self.max_us)
            .max(1);
        self.attempt = self.attempt.saturating_add(1);
        let half = base / 2;
        half + u64::from(random) % (base - half + 1)
    }

    /// Attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The connection is good: the next loss starts from `min` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_resets() {
        let mut b = Backoff::new(100_000, 5_000_000);
        let lows: alloc::vec::Vec<u64> = (0..8).map(|_| b.next_delay(0)).collect();
        assert_eq!(
            lows,
            [
                50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000, 2_500_000, 2_500_000
            ]
        );
        assert!(b.next_delay(u32::MAX) <= 5_000_000);
        for r in [1, 77, 4_000_000, u32::MAX] {
            let d = b.next_delay(r);
            assert!((2_500_000..=5_000_000).contains(&d), "{d}");
        }
        b.reset();
        assert_eq!(b.next_delay(0), 50_000);
        let mut forever = Backoff::new(u64::MAX, u64::MAX);
        for _ in 0..100 {
            forever.next_delay(u32::MAX);
        }
    }
}
