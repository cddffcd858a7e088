//! Tournaments as definitions, not code paths: the round calendar, each round's schedule
//! (open, close, daily scoring, resolution) and its stage at any instant.
//!
//! Pure: time is an argument (a [`jiff::Timestamp`]), never read from a clock.

pub mod calendar;
mod error;

pub use error::Error;
