//! `numerus sim`: deterministic simulators (being written).

use std::process::ExitCode;

/// Arguments of `numerus sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {}

pub fn run(_args: SimArgs) -> ExitCode {
    ExitCode::FAILURE
}
