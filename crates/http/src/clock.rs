//! The tournament's clock. The service never reads time itself: the server asks its clock and
//! passes `now` in. [`Clock::Wall`] is real time; [`Clock::Fast`] runs simulated time at a
//! fixed speed from an origin, so a demo lives a business day every few seconds — and, since
//! the origin is saved with the data directory, a restarted demo resumes where it would be.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Clock {
    /// Real time.
    Wall,
    /// `simulated_start + (real now − real_start) × 86,400 / day_seconds`.
    Fast {
        /// Real time at the origin.
        real_start: Timestamp,
        /// Simulated time at the origin.
        simulated_start: Timestamp,
        /// Real seconds per simulated day.
        day_seconds: f64,
    },
}

impl Clock {
    /// The tournament's time when the real time is `real`.
    pub fn at(&self, real: Timestamp) -> Timestamp {
        match *self {
            Clock::Wall => real,
            Clock::Fast {
                real_start,
                simulated_start,
                day_seconds,
            } => {
                let elapsed = real.duration_since(real_start).as_secs_f64();
                let simulated = elapsed * 86_400.0 / day_seconds;
                simulated_start
                    .checked_add(SignedDuration::from_secs_f64(simulated))
                    .unwrap_or(Timestamp::MAX)
            }
        }
    }

    /// The real moment the tournament's clock shows `simulated` (the inverse of [`Clock::at`]).
    pub fn real_of(&self, simulated: Timestamp) -> Timestamp {
        match *self {
            Clock::Wall => simulated,
            Clock::Fast {
                real_start,
                simulated_start,
                day_seconds,
            } => {
                let elapsed = simulated.duration_since(simulated_start).as_secs_f64();
                real_start
                    .checked_add(SignedDuration::from_secs_f64(
                        elapsed * day_seconds / 86_400.0,
                    ))
                    .unwrap_or(Timestamp::MAX)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_clock_runs_a_day_every_day_seconds_from_its_origin() {
        let real_start: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let simulated_start: Timestamp = "2026-01-06T00:00:00Z".parse().unwrap();
        let clock = Clock::Fast {
            real_start,
            simulated_start,
            day_seconds: 4.0,
        };
        assert_eq!(clock.at(real_start), simulated_start);
        let later = real_start + SignedDuration::from_secs(6);
        assert_eq!(
            clock.at(later),
            "2026-01-07T12:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(Clock::Wall.at(later), later);
        assert_eq!(clock.real_of(clock.at(later)), later);
    }
}
