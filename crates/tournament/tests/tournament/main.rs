//! Integration tests of the tournament definitions, one module per area.

mod calendar;
mod leaderboard;
