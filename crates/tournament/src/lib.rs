//! Tournaments as definitions, not code paths: the round calendar, each round's schedule
//! (open, close, daily scoring, resolution) and its stage at any instant; submission
//! validation as numerai-tools does it; API keys and their scopes.
//!
//! Pure: time is an argument (a [`jiff::Timestamp`]), never read from a clock.

pub mod calendar;
mod error;
pub mod keys;
pub mod leaderboard;
pub mod records;
pub mod submission;

pub use error::Error;
