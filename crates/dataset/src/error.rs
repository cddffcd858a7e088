//! Every way a dataset build can fail, each naming the problem and the fix.

use std::path::{Path, PathBuf};

/// A dataset error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The panel breaks one of its rules (columns, order, duplicates, dates, size).
    #[error("panel {}: {what}", path.display())]
    Panel {
        /// The panel file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        what: String,
    },
    /// An input value or option is unusable.
    #[error("{what}")]
    Input {
        /// What is wrong and how to fix it.
        what: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow failed to assemble a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

impl Error {
    pub(crate) fn panel(path: &Path, what: String) -> Self {
        Error::Panel {
            path: path.to_path_buf(),
            what,
        }
    }

    pub(crate) fn input(what: impl Into<String>) -> Self {
        Error::Input { what: what.into() }
    }

    pub(crate) fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Error::Io {
            path,
            action,
            source,
        }
    }
}
