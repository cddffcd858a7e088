//! Integration tests of the dataset factory, one module per area.

mod crypto;
mod signals;
mod synth;
