//! The dataset factory: from a market panel to obfuscated tournament data in Numerai's layout.
//!
//! - [`panel`]: the panel format an operator's market data is converted to, read and written
//!   one day at a time.
//! - [`synth`]: a seeded synthetic market (stocks and crypto) in that format.
//! - [`classic`]: the Classic build (features, ids, targets, example predictions, manifest),
//!   streaming era by era; [`plan`] says which dates are eras and how they split.
//! - [`signals`]: the Signals build (named factors, targets, neutralizer, sample weights).
//! - [`crypto`]: the Crypto build (daily universes, forward-return targets, a few features).
//! - [`recipe`], [`features`], [`binning`], [`targets`], [`ids`]: the pieces of an era.
//! - [`writer`] and [`output`]: Parquet files pandas reads as Numerai's, and where they go.

pub mod binning;
pub mod classic;
pub mod crypto;
mod error;
pub mod features;
pub mod history;
pub mod ids;
pub mod live;
pub mod output;
pub mod panel;
pub mod plan;
pub mod recipe;
pub mod signals;
pub mod synth;
pub mod targets;
pub mod writer;

pub use error::Error;
