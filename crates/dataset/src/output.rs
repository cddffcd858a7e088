//! Where a build writes its files, and the manifest that lists them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::writer::{Kind, TableWriter, Values};

/// A place files are created in (a directory, an object store, memory in tests).
pub trait Files {
    /// Creates (or replaces) the file `name` and returns a writer for it.
    fn create(&mut self, name: &str) -> Result<Box<dyn Write + Send>, Error>;
}

/// The [`Files`] of a local directory (which must exist): each file buffered 1 MiB at a time.
#[derive(Debug, Clone)]
pub struct Directory(pub PathBuf);

impl Files for Directory {
    fn create(&mut self, name: &str) -> Result<Box<dyn Write + Send>, Error> {
        let path = self.0.join(name);
        let file = File::create(&path).map_err(|source| Error::Io {
            path,
            action: "create",
            source,
        })?;
        Ok(Box::new(BufWriter::with_capacity(1 << 20, file)))
    }
}

/// One published file of a dataset version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The file name within the version directory.
    pub name: String,
    /// Table rows (0 for JSON files).
    pub rows: usize,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

/// A writer that counts and hashes what passes through it.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Flushes and gives the entry for a file named `name` with `rows` rows.
    pub fn entry(mut self, name: &str, rows: usize) -> Result<FileEntry, Error> {
        self.inner
            .flush()
            .map_err(Error::io(std::path::Path::new(name), "write"))?;
        let digest = self.hasher.finalize();
        Ok(FileEntry {
            name: name.to_string(),
            rows,
            bytes: self.bytes,
            sha256: digest.iter().map(|byte| format!("{byte:02x}")).collect(),
        })
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `value` as pretty JSON to `name` and returns its entry.
pub fn write_json(
    files: &mut dyn Files,
    name: &str,
    value: &impl Serialize,
) -> Result<FileEntry, Error> {
    let mut sink = Hashing::new(files.create(name)?);
    serde_json::to_writer_pretty(&mut sink, value)
        .map_err(|error| Error::input(format!("cannot encode {name}: {error}")))?;
    sink.write_all(b"\n")
        .map_err(Error::io(std::path::Path::new(name), "write"))?;
    sink.entry(name, 0)
}

/// An unindexed table (Signals, Crypto) being written into a [`Files`], hashed as it goes.
pub(crate) struct TableFile {
    name: &'static str,
    writer: TableWriter<Hashing<Box<dyn Write + Send>>>,
}

impl TableFile {
    /// Creates `name` with `columns`.
    pub(crate) fn create(
        files: &mut dyn Files,
        name: &'static str,
        columns: &[(String, Kind)],
    ) -> Result<Self, Error> {
        let writer = TableWriter::unindexed(Hashing::new(files.create(name)?), columns)?;
        Ok(Self { name, writer })
    }

    /// Writes one group of rows (an era, a date) as one row group.
    pub(crate) fn write(&mut self, columns: Vec<Values>) -> Result<(), Error> {
        self.writer.write_rows(columns)
    }

    /// Finishes the file and gives its manifest entry.
    pub(crate) fn finish(self) -> Result<FileEntry, Error> {
        let rows = self.writer.rows();
        self.writer.finish()?.entry(self.name, rows)
    }
}
