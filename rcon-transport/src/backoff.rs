//! Reconnect delays: exponential backoff with a cap, reset after a successful connection.
//!
//! No jitter: a host talks to its own game server, so there is no herd of clients to spread out,
//! and deterministic delays keep the behaviour testable.

use std::time::Duration;

/// Backoff settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Delay before the first reconnect attempt. Default 100 ms.
    pub initial: Duration,
    /// Upper bound of the delay. Default 10 s.
    pub max: Duration,
    /// Growth factor per failed attempt. Default 2.
    pub factor: u32,
    /// Give up after this many failed attempts in a row (`None`: never). Default `None`: a game
    /// server that restarts or saves comes back, and the host should follow it.
    pub max_attempts: Option<u32>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            factor: 2,
            max_attempts: None,
        }
    }
}

/// The delay sequence of one run of reconnect attempts.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    config: BackoffConfig,
    attempts: u32,
}

impl Backoff {
    /// Starts a sequence.
    pub(crate) fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            attempts: 0,
        }
    }

    /// The delay before the next attempt, or `None` once `max_attempts` have failed.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        if let Some(max_attempts) = self.config.max_attempts
            && self.attempts >= max_attempts
        {
            return None;
        }
        let factor = self.config.factor.max(1);
        let mut delay = self.config.initial;
        let growth_steps = if factor == 1 { 0 } else { self.attempts };
        for _ in 0..growth_steps {
            delay = delay.saturating_mul(factor);
            if delay >= self.config.max {
                break;
            }
        }
        self.attempts = self.attempts.saturating_add(1);
        Some(delay.min(self.config.max))
    }

    /// Attempts made since the last reset.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Call after a successful connection: the next failure starts from `initial` again.
    pub(crate) fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            factor: 3,
            max_attempts: None,
        });
        let delays: Vec<u128> = (0..5)
            .map(|_| backoff.next_delay().unwrap().as_millis())
            .collect();
        assert_eq!(delays, [100, 300, 900, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let mut backoff = Backoff::new(BackoffConfig {
            max_attempts: Some(2),
            ..BackoffConfig::default()
        });
        assert!(backoff.next_delay().is_some());
        assert!(backoff.next_delay().is_some());
        assert_eq!(backoff.next_delay(), None);
    }

    #[test]
    fn never_overflows() {
        let mut backoff = Backoff::new(BackoffConfig {
            initial: Duration::from_secs(u64::MAX / 2),
            max: Duration::MAX,
            factor: u32::MAX,
            max_attempts: None,
        });
        for _ in 0..100 {
            assert!(backoff.next_delay().is_some());
        }
    }
}
