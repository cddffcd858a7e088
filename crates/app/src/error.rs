//! What the service reports.

use numerus_ledger::LedgerError;
use numerus_tournament::records::StoreFailure;
use numerus_tournament::submission::Rejection;

/// A service error. Each names what was refused and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tournament definition is unusable.
    #[error("tournament definition: {0}")]
    Definition(String),
    /// A request the service refuses (unknown model, closed round, ...), with the fix.
    #[error("{0}")]
    Refused(String),
    /// An upload that is not a valid submission.
    #[error("{reason}")]
    Invalid {
        /// numerai-tools' error code.
        code: &'static str,
        /// Why, naming the row, column and fix.
        reason: String,
        /// The submission's id (its record says `rejected`).
        submission: u64,
    },
    /// The market data (live files, targets) could not be made.
    #[error("market data: {0}")]
    Market(String),
    /// A file in the blob store could not be written or read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored file that does not read back as written.
    #[error("{0}")]
    Corrupt(String),
    /// The ledger refused or failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The record store failed.
    #[error("record store: {0}")]
    Store(#[from] StoreFailure),
    /// A file failed to read.
    #[error(transparent)]
    Frames(#[from] numerus_frames::Error),
}

impl Error {
    /// An [`Error::Io`] maker for `map_err`.
    pub(crate) fn io<'p>(
        action: &'static str,
        path: &'p std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Error + 'p {
        move |source| Error::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// An upload rejected for `rejection`.
    pub(crate) fn invalid(rejection: &Rejection, submission: u64) -> Error {
        Error::Invalid {
            code: rejection.code(),
            reason: rejection.to_string(),
            submission,
        }
    }
}
