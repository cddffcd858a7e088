//! The ledger's use cases on a real SQLite file: idempotency, staking rules,
//! settlement and what survives a crash.

mod fixture;
mod idempotency;
mod staking;
