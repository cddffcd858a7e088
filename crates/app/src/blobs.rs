//! Content-addressed files: a blob's id is the SHA-256 of its bytes and its extension
//! (`3f2a…e1.parquet`), so the same bytes are stored once and a stored file can be checked.
//!
//! Writes go to a temporary file, are synced, then renamed into place: a blob either exists
//! whole or not at all.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// A directory of blobs (`ROOT/ab/abcdef….ext`).
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: PathBuf,
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl BlobDir {
    /// Blobs under `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where blob `id` lives.
    pub fn path(&self, id: &str) -> PathBuf {
        self.root.join(&id[..2.min(id.len())]).join(id)
    }

    /// Stores `bytes` with `extension` (`parquet`, `csv`, `bin`, `json`); returns the id.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn put(&self, bytes: &[u8], extension: &str) -> Result<String, Error> {
        let id = format!("{}.{extension}", sha256_hex(bytes));
        let path = self.path(&id);
        if path.exists() {
            return Ok(id);
        }
        let dir = path.parent().expect("a blob has a directory");
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
            sync_directory(&self.root)?;
        }
        let temporary = dir.join(format!(".{id}.partial"));
        let mut file = File::create(&temporary).map_err(Error::io("create", &temporary))?;
        file.write_all(bytes)
            .map_err(Error::io("write", &temporary))?;
        file.sync_all().map_err(Error::io("sync", &temporary))?;
        fs::rename(&temporary, &path).map_err(Error::io("rename", &temporary))?;
        // The rename is durable only once the directory is: a record naming this blob may be
        // committed right after, and must never outlive it through a power loss.
        sync_directory(dir)?;
        Ok(id)
    }

    /// Removes the temporary files of writes a crash interrupted; returns how many.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn remove_partials(&self) -> Result<usize, Error> {
        let mut removed = 0;
        let Ok(shards) = fs::read_dir(&self.root) else {
            return Ok(0);
        };
        for shard in shards.flatten() {
            let Ok(files) = fs::read_dir(shard.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(".partial") {
                    fs::remove_file(file.path()).map_err(Error::io("remove", &file.path()))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Stores the file at `path` (moved in) with its extension; returns the id.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn put_file(&self, path: &Path) -> Result<String, Error> {
        let bytes = fs::read(path).map_err(Error::io("read", path))?;
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("bin");
        let id = self.put(&bytes, extension)?;
        fs::remove_file(path).map_err(Error::io("remove", path))?;
        Ok(id)
    }

    /// The bytes of blob `id`, checked against its hash.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Corrupt`] when the bytes do not match the id.
    pub fn read(&self, id: &str) -> Result<Vec<u8>, Error> {
        let path = self.path(id);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut file| file.read_to_end(&mut bytes))
            .map_err(Error::io("read", &path))?;
        let hash = id.split('.').next().unwrap_or("");
        if sha256_hex(&bytes) != hash {
            return Err(Error::Corrupt(format!(
                "{} does not match its hash: the blob store is damaged",
                path.display()
            )));
        }
        Ok(bytes)
    }
}

/// Makes a directory's entries (a rename, a new file) durable.
fn sync_directory(dir: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(Error::io("sync", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
