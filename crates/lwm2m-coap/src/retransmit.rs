//! The CON retransmission schedule (RFC 7252 §4.2).
//!
//! The first timeout is random in `[ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]`
//! and doubles after every retransmission; after `MAX_RETRANSMIT`
//! retransmissions the next expiry gives up.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::rng::Rng;
use crate::timers::later;

/// What to do when the retransmission timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Send the message again; the timer is re-armed.
    Retransmit,
    /// `MAX_RETRANSMIT` reached: the peer is considered unreachable.
    GiveUp,
}

/// Retransmission state of one outstanding CON message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Retransmit {
    /// Retransmissions sent so far (not counting the first transmission).
    pub(crate) count: u32,
    /// The current timeout; doubles after every retransmission.
    pub(crate) timeout: Duration,
    /// When the timer fires next.
    pub(crate) next_at: Instant,
}

impl Retransmit {
    /// Starts the schedule for a message first sent at `now`.
    pub(crate) fn start(now: Instant, config: &Config, rng: &mut Rng) -> Self {
        let timeout = initial_timeout(config, rng);
        Self {
            count: 0,
            timeout,
            next_at: later(now, timeout),
        }
    }

    /// Advances the schedule when the timer fired. Re-arms from the planned
    /// expiry rather than from `now` so that a late call does not stretch
    /// the whole schedule.
    pub(crate) fn on_expiry(&mut self, max_retransmit: u32) -> Expiry {
        if self.count >= max_retransmit {
            return Expiry::GiveUp;
        }
        self.count += 1;
        self.timeout = self.timeout.saturating_mul(2);
        self.next_at = later(self.next_at, self.timeout);
        Expiry::Retransmit
    }
}

/// A random initial timeout in `[ack_timeout, ack_timeout * ack_random_factor]`.
pub(crate) fn initial_timeout(config: &Config, rng: &mut Rng) -> Duration {
    let spread = config.ack_random_factor - 1.0;
    config.ack_timeout.mul_f64(1.0 + spread * rng.next_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_within_rfc_bounds() {
        let config = Config::default();
        let mut rng = Rng::new(3);
        let t0 = Instant::now();
        for _ in 0..200 {
            let mut r = Retransmit::start(t0, &config, &mut rng);
            let first = r.timeout;
            assert!(first >= Duration::from_secs(2) && first <= Duration::from_secs(3));
            let mut fire_times = vec![r.next_at];
            while r.on_expiry(config.max_retransmit) == Expiry::Retransmit {
                fire_times.push(r.next_at);
            }
            assert_eq!(r.count, 4);
            // Fires at T, 3T, 7T, 15T (retransmissions) and gives up at 31T.
            let expected: Vec<Instant> = [1u32, 3, 7, 15, 31]
                .iter()
                .map(|k| t0 + first * *k)
                .collect();
            assert_eq!(fire_times, expected);
            // MAX_TRANSMIT_WAIT = 93 s is the upper bound of the give-up time.
            let give_up = fire_times.last().copied().unwrap() - t0;
            assert!(give_up >= Duration::from_secs(62) && give_up <= Duration::from_secs(93));
        }
    }

    #[test]
    fn zero_retransmits_gives_up_at_first_expiry() {
        let config = Config {
            max_retransmit: 0,
            ..Config::default()
        };
        let mut rng = Rng::new(1);
        let mut r = Retransmit::start(Instant::now(), &config, &mut rng);
        assert_eq!(r.on_expiry(config.max_retransmit), Expiry::GiveUp);
    }

    #[test]
    fn random_factor_one_is_deterministic() {
        let config = Config {
            ack_random_factor: 1.0,
            ..Config::default()
        };
        let mut rng = Rng::new(1);
        assert_eq!(initial_timeout(&config, &mut rng), Duration::from_secs(2));
    }
}
