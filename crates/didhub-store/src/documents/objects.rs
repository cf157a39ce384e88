//! Where document contents are kept: one `object_store` behind the documents room, a local
//! directory by default (`<data_dir>/documents/`), an S3-compatible bucket when configured
//! (built with the `s3` feature). Keys are content addresses (`didhub_core::documents::
//! object_key`), so a content is written once however often it is uploaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::{Result, StoreError};

/// How documents are stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentsConfig {
    /// Where contents go: none for `<data_dir>/documents/`, a directory (a path or
    /// `file:///…`), or `s3://bucket/prefix` (the `s3` feature; credentials, region and
    /// endpoint from the usual `AWS_*` variables).
    pub url: Option<String>,
    /// The size limit of one document, in bytes.
    pub max_bytes: u64,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        DocumentsConfig {
            url: None,
            max_bytes: didhub_core::documents::DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

#[derive(Clone, Debug)]
enum Location {
    Local(PathBuf),
    #[cfg(feature = "s3")]
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            #[cfg(feature = "s3")]
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The content store of a database: opened on first use, so that a command that never
/// touches documents never creates their directory or reaches a bucket.
#[derive(Debug)]
pub(crate) struct Objects {
    location: Location,
    pub(crate) max_bytes: u64,
    store: OnceCell<Arc<dyn ObjectStore>>,
}

fn config(msg: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("documents: {msg}"))
}

impl Objects {
    /// Checks the configuration (nothing is opened yet).
    pub(crate) fn new(cfg: &DocumentsConfig, data_dir: &Path) -> Result<Objects> {
        let max = didhub_core::documents::MAX_DOCUMENT_BYTES_CEILING;
        if cfg.max_bytes == 0 || cfg.max_bytes > max {
            return Err(config(format!(
                "the size limit must be between 1 and {max} bytes, not {}",
                cfg.max_bytes
            )));
        }
        let url = cfg.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let location = match url {
            None => Location::Local(data_dir.join("documents")),
            Some(u) if u.starts_with("s3://") => s3(u)?,
            Some(u) => match u.strip_prefix("file://") {
                Some(p) if p.starts_with('/') => Location::Local(PathBuf::from(p)),
                Some(_) => return Err(config(format!("'{u}' is not file:///absolute/path"))),
                None if u.contains("://") => {
                    let scheme = u.split("://").next().unwrap_or("");
                    return Err(config(format!(
                        "unsupported storage scheme '{scheme}' (expected a directory, \
                         file:///path or s3://bucket/prefix)"
                    )));
                }
                None => Location::Local(PathBuf::from(u)),
            },
        };
        Ok(Objects {
            location,
            max_bytes: cfg.max_bytes,
            store: OnceCell::new(),
        })
    }

    async fn store(&self) -> Result<&Arc<dyn ObjectStore>> {
        self.store
            .get_or_try_init(|| async {
                let s: Arc<dyn ObjectStore> = match &self.location {
                    Location::Local(dir) => {
                        tokio::fs::create_dir_all(dir)
                            .await
                            .map_err(|e| config(format!("cannot create {}: {e}", dir.display())))?;
                        Arc::new(
                            LocalFileSystem::new_with_prefix(dir).map_err(|e| {
                                config(format!("cannot open {}: {e}", dir.display()))
                            })?,
                        )
                    }
                    #[cfg(feature = "s3")]
                    Location::S3 { bucket, prefix } => {
                        let s3 = object_store::aws::AmazonS3Builder::from_env()
                            .with_bucket_name(bucket)
                            .build()
                            .map_err(|e| config(format!("s3://{bucket}: {e}")))?;
                        if prefix.is_empty() {
                            Arc::new(s3)
                        } else {
                            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str()))
                        }
                    }
                };
                Ok(s)
            })
            .await
    }

    fn failed(&self, what: &str, key: &str, e: object_store::Error) -> StoreError {
        StoreError::Io(std::io::Error::other(format!(
            "document storage ({}): {what} {key}: {e}",
            self.location
        )))
    }

    /// Keeps `bytes` under their content address (once: an address already there is left as
    /// it is) and answers the hex SHA-256.
    pub(crate) async fn put(&self, bytes: &Bytes) -> Result<String> {
        let hex = hex::encode(Sha256::digest(bytes));
        let key = didhub_core::documents::object_key(&hex);
        let store = self.store().await?;
        let path = Key::from(key.as_str());
        match store.head(&path).await {
            Ok(meta) if meta.size == bytes.len() as u64 => return Ok(hex),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.failed("reading", &key, e)),
        }
        // Two uploads of one content at once write the same bytes to the same key: the local
        // store writes a temporary file and renames it, S3 replaces the object whole.
        store
            .put(&path, PutPayload::from_bytes(bytes.clone()))
            .await
            .map_err(|e| self.failed("writing", &key, e))?;
        Ok(hex)
    }

    /// The content of a hex SHA-256, checked against it: a content that changed in storage
    /// is an error, never served as the document.
    pub(crate) async fn get(&self, sha256: &str) -> Result<Bytes> {
        let key = didhub_core::documents::object_key(sha256);
        let store = self.store().await?;
        let bytes = store
            .get(&Key::from(key.as_str()))
            .await
            .map_err(|e| self.failed("reading", &key, e))?
            .bytes()
            .await
            .map_err(|e| self.failed("reading", &key, e))?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "document storage ({}): {key} does not hold the content it was stored with",
                self.location
            ))));
        }
        Ok(bytes)
    }
}

#[cfg(feature = "s3")]
fn s3(u: &str) -> Result<Location> {
    let rest = u.trim_start_matches("s3://");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(config(format!(
            "'{u}' names no bucket (s3://bucket/prefix)"
        )));
    }
    Ok(Location::S3 {
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
    })
}

#[cfg(not(feature = "s3"))]
fn s3(u: &str) -> Result<Location> {
    Err(config(format!(
        "'{u}' needs S3 storage, which this build does not have (build with `--features s3`)"
    )))
}
