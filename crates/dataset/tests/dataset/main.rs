//! Integration tests of the dataset factory, one module per area.

mod synth;
mod signals;
mod crypto;
mod zz_timing;
