//! The tournament service (DESIGN.md's `app`): the use cases that turn uploads into scores
//! and money — open a round, accept a submission, score a day, resolve and settle — over
//! ports: the ledger's and the records' store (SQLite by default), a blob directory, and a
//! [`market::Market`] that supplies live data and targets. Time is always an argument.

pub mod blobs;
pub mod definition;
mod error;
pub mod export;
pub mod fund;
pub mod market;
pub mod pack;
pub mod service;
pub mod stakes;
pub mod standings;
pub mod tables;

pub use definition::Definition;
pub use error::Error;
pub use service::{CheckedUpload, Service, TickReport, UploadTicket};
