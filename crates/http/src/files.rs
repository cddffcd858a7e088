//! Bytes the API hands out and takes in, kept in the data directory through `object_store`
//! (a local directory now; an S3 bucket is the same trait):
//!
//! ```text
//! data/VERSION/FILE         dataset versions (train, validation, features.json, …)
//! blobs/AB/ABCD….EXT        the service's content-addressed blobs (live files, uploads, …)
//! uploads/MODEL-NONCE-NAME  bytes PUT to a signed upload URL, until `create_submission`
//! ```
//!
//! Dataset names (`v1/train.parquet`) map to objects here; `VERSION/live.parquet` and
//! `VERSION/live_example_preds.parquet` are the requested (or current) round's own files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use numerus_app::Service;
use numerus_store_sqlite::SqliteStore;
use numerus_tournament::records::Records;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;

use crate::signing::{Access, Signer};

/// Round files served under each version's name, by role in the round's record.
const ROUND_FILES: [(&str, &str); 2] = [
    ("live.parquet", "live"),
    ("live_example_preds.parquet", "benchmark"),
];

/// The file side of the API.
pub struct Files {
    /// Where objects live.
    pub objects: Arc<dyn ObjectStore>,
    /// The data directory (object paths are relative to it).
    pub data_dir: PathBuf,
    /// Signs the URLs.
    pub signer: Signer,
    /// The URL clients reach the server at, e.g. `http://127.0.0.1:5000`.
    pub base_url: String,
    /// The runtime that drives `objects` (resolvers run on blocking threads).
    pub runtime: Handle,
    nonces: AtomicU64,
    nonce_key: [u8; 32],
}

impl std::fmt::Debug for Files {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Files")
            .field("data_dir", &self.data_dir)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Files {
    /// Files of `data_dir` through `objects`; `nonce_key` (random) makes upload names
    /// unguessable.
    pub fn new(
        objects: Arc<dyn ObjectStore>,
        data_dir: &Path,
        signer: Signer,
        base_url: String,
        runtime: Handle,
        nonce_key: [u8; 32],
    ) -> Self {
        Self {
            objects,
            data_dir: data_dir.to_path_buf(),
            signer,
            base_url,
            runtime,
            nonces: AtomicU64::new(0),
            nonce_key,
        }
    }

    /// A signed URL for `access` to `object`, valid from real time `now`.
    pub fn url(&self, access: Access, object: &str, now: Timestamp) -> String {
        format!(
            "{}/files/{object}?{}",
            self.base_url,
            self.signer.query(access, object, now)
        )
    }

    /// The dataset versions (`v1`, …), sorted.
    fn versions(&self) -> Vec<String> {
        visible_names(&self.data_dir.join("data"), true)
    }

    /// Every dataset file name (`v1/train.parquet`, …).
    pub fn dataset_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for version in self.versions() {
            let mut files = visible_names(&self.data_dir.join("data").join(&version), false);
            for (file, _) in ROUND_FILES {
                if !files.iter().any(|name| name == file) {
                    files.push(file.to_owned());
                }
            }
            files.sort();
            names.extend(files.into_iter().map(|file| format!("{version}/{file}")));
        }
        names
    }

    /// The object behind dataset `name`, for round `round` (the current one if `None`).
    ///
    /// # Errors
    /// A message naming the unknown file (and the listing to use) or the missing round.
    pub fn dataset_object(
        &self,
        service: &Service<SqliteStore>,
        name: &str,
        round: Option<u32>,
        now: Timestamp,
    ) -> Result<String, String> {
        if !self.dataset_names().iter().any(|known| known == name) {
            return Err(format!(
                "there is no dataset file {name:?}; list them with `listDatasets` (numerapi: list_datasets())"
            ));
        }
        let file = name.rsplit('/').next().unwrap_or(name);
        if let Some((_, role)) = ROUND_FILES
            .iter()
            .find(|(round_file, _)| *round_file == file)
        {
            let tournament = service.definition().id;
            let store = service.ledger().store();
            let record = match round {
                Some(number) => store
                    .round_record(tournament, number)
                    .map_err(|error| error.to_string())?
                    .ok_or_else(|| format!("round {number} has not opened"))?,
                None => current_round(service, now)?,
            };
            let blob = record
                .blobs
                .get(*role)
                .ok_or_else(|| format!("round {} has no {file} yet", record.number))?;
            return Ok(self.blob_object(service, blob));
        }
        Ok(format!("data/{name}"))
    }

    /// The object path of blob `id`.
    pub fn blob_object(&self, service: &Service<SqliteStore>, id: &str) -> String {
        let path = service.blobs().path(id);
        let relative = path.strip_prefix(&self.data_dir).unwrap_or(&path);
        relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A fresh object name for model `model`'s upload of `filename`.
    pub fn upload_object(&self, model: u64, filename: &str) -> String {
        let count = self.nonces.fetch_add(1, Ordering::Relaxed);
        let mut hasher = Sha256::new();
        hasher.update(self.nonce_key);
        hasher.update(count.to_le_bytes());
        let nonce = hex::encode(&hasher.finalize()[..12]);
        let safe: String = filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("predictions.csv")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(100)
            .collect();
        let safe = if safe.is_empty() || safe.starts_with('.') {
            format!("upload{safe}")
        } else {
            safe
        };
        // Flat names: a directory per upload would cost a mkdir each (and leave it behind).
        format!("uploads/{model}-{nonce}-{safe}")
    }

    /// The bytes PUT to upload object `object`.
    ///
    /// # Errors
    /// A message saying nothing was uploaded there.
    pub fn staged(&self, object: &str) -> Result<Vec<u8>, String> {
        let path = ObjectPath::from(object);
        self.runtime
            .block_on(async {
                let got = self.objects.get(&path).await?;
                got.bytes().await
            })
            .map(|bytes| bytes.to_vec())
            .map_err(|error| match error {
                object_store::Error::NotFound { .. } => format!(
                    "nothing was uploaded as {object:?}: PUT the file to the url from submission_upload_auth first"
                ),
                other => format!("reading the upload {object:?}: {other}"),
            })
    }

    /// Stores `bytes` as upload object `object`.
    ///
    /// # Errors
    /// The object store's.
    pub async fn stage(
        &self,
        object: &str,
        bytes: bytes::Bytes,
    ) -> Result<(), object_store::Error> {
        self.objects
            .put(&ObjectPath::from(object), PutPayload::from(bytes))
            .await
            .map(|_| ())
    }

    /// Removes staged uploads older than a link's lifetime at real time `now`: their links
    /// have expired and no `create_submission` can take them any more (the bytes of a server
    /// that died between a PUT and its create). Returns how many.
    ///
    /// # Errors
    /// The object store's.
    pub fn sweep_staged(
        &self,
        now: Timestamp,
        lifetime_seconds: u64,
    ) -> Result<usize, object_store::Error> {
        use futures_util::TryStreamExt;
        let cutoff = now
            .as_second()
            .saturating_sub(i64::try_from(lifetime_seconds).unwrap_or(i64::MAX));
        self.runtime.block_on(async {
            let prefix = ObjectPath::from("uploads");
            let stale: Vec<ObjectPath> = self
                .objects
                .list(Some(&prefix))
                .try_filter(|meta| std::future::ready(meta.last_modified.timestamp() < cutoff))
                .map_ok(|meta| meta.location)
                .try_collect()
                .await?;
            for path in &stale {
                self.objects.delete(path).await?;
            }
            Ok(stale.len())
        })
    }

    /// Removes upload object `object` (it has been taken into the service).
    pub fn unstage(&self, object: &str) {
        let path = ObjectPath::from(object);
        let _ = self.runtime.block_on(self.objects.delete(&path));
    }
}

/// The names of the directories (or, with `directories` false, the files) in `dir` that
/// are not hidden, sorted.
fn visible_names(dir: &Path, directories: bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let path = entry.path();
            if directories {
                path.is_dir()
            } else {
                path.is_file()
            }
        })
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The newest round that has opened by `now`.
///
/// # Errors
/// A message saying when the first round opens.
pub fn current_round(
    service: &Service<SqliteStore>,
    now: Timestamp,
) -> Result<numerus_tournament::records::RoundRecord, String> {
    let tournament = service.definition().id;
    let rounds = service
        .ledger()
        .store()
        .round_records(tournament, false)
        .map_err(|error| error.to_string())?;
    rounds
        .into_iter()
        .filter(|round| round.open_at <= now)
        .max_by_key(|round| round.number)
        .ok_or_else(|| {
            "no round has opened yet; the first opens at the calendar's next opening".to_owned()
        })
}
