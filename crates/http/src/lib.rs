//! The numerapi-compatible server: GraphQL at `/` (and `/graphql`), signed file URLs under
//! `/files/`, server-rendered pages, `/metrics`, and the scheduler that runs the tournament on
//! its clock. See ARCHITECTURE.md for how the parts fit.

pub mod api;
pub mod client;
pub mod clock;
pub mod config;
pub mod files;
pub mod graphql;
pub mod metrics;
pub mod pages;
pub mod server;
pub mod signing;

pub use clock::Clock;
pub use config::Config;
pub use server::{Shared, router, serve};
