//! Integration tests of the dataset factory, one module per area.

mod classic;
mod crypto;
mod signals;
mod synth;
