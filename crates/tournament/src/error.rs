//! What can go wrong with a tournament definition or a round lookup.

/// A tournament error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The definition is unusable; the message names the field and the fix.
    #[error("tournament definition: {0}")]
    Definition(String),
    /// There is no such round.
    #[error("there is no round {0}; rounds are numbered from 1")]
    NoSuchRound(u32),
    /// A date or time beyond what the calendar can represent.
    #[error("the date is out of the calendar's range")]
    OutOfRange,
}
