//! The fund's portfolio and True Contribution.
//!
//! **The portfolio.** Given a signal `s` over `n` stocks (the round's stake-weighted meta
//! model), factor exposures `B` (`n × F`), a group per stock (sector, country) and a
//! [`Constraints`] config, the weights `w` solve
//!
//! ```text
//! minimize   ½·γ·(‖u‖² + ‖v‖²) − sᵀ(u − v)          w = u − v,  u, v ≥ 0
//! subject to u, v ≤ cap                             per-position cap
//!            Σu + Σv ≤ gross                         gross exposure
//!            |Σu − Σv − net| ≤ net_tolerance         net exposure
//!            |B_fᵀ(u − v)| ≤ factor_tolerance        neutrality to each factor
//!            |1_gᵀ(u − v)| ≤ group_tolerance         neutrality to each group
//! ```
//!
//! The quadratic term (`γ` = `risk_aversion`) is a position-concentration penalty: it makes
//! the problem strictly convex, so the portfolio is unique and a differentiable function of
//! `s` almost everywhere, and at the optimum `u` and `v` are never both positive, so
//! `Σu + Σv` is the gross exposure `Σ|w|`. It is solved by Clarabel, an interior-point
//! solver; infeasible and max-iterations are [`Status`]es, not errors.
//!
//! **True Contribution.** See [`tc`].

pub mod config;
pub mod problem;
pub mod solve;
pub mod tc;

pub use config::Constraints;
pub use problem::{Problem, ProblemError};
pub use solve::{Portfolio, Status, solve};
pub use tc::{Sensitivity, true_contribution};
