//! Where certificates live: the bucket (versions + `current.json`), and the local directory
//! the web server reads.
//!
//! The store knows certificates as checked pairs plus metadata; `CertStore` backends know
//! only keys and bytes with conditions. Neither knows ACME or DNS.

pub mod backend;
pub mod live;

use std::path::PathBuf;

pub use backend::{CertStore, Object, PutCondition};
pub use live::LiveDir;

use crate::bundle::CheckedPair;
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{path}: {action}: {source}")]
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
    #[error("bucket {bucket} at {endpoint}: {detail}")]
    Bucket { bucket: String, endpoint: String, detail: String, transient: bool },
    /// A conditional write lost: somebody else changed the object first.
    #[error("{key}: changed by another writer (condition failed)")]
    ConditionFailed { key: String },
    #[error("{what}: {detail}")]
    Corrupt { what: String, detail: String },
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Bucket { transient, .. } => *transient,
            StoreError::ConditionFailed { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, action, source }
    }
}

/// Where a stored certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Acme,
    Files,
}

/// What `Storage::save` did.
#[derive(Debug, Clone)]
pub struct Saved {
    /// Paths of the files the web server reads.
    pub live: live::LivePaths,
}

/// The storage pipeline for one configuration.
#[derive(Debug, Clone)]
pub struct Storage {
    live: LiveDir,
}

impl Storage {
    pub fn new(config: &Config) -> Storage {
        Storage { live: LiveDir::new(config.storage.local_dir.clone()) }
    }

    pub fn live(&self) -> &LiveDir {
        &self.live
    }

    /// Stores a checked pair: the bucket first (when configured), then the local directory.
    pub async fn save(&self, name: &str, pair: &CheckedPair, _origin: Origin) -> Result<Saved, StoreError> {
        let live = self.live.write(name, pair).await?;
        Ok(Saved { live })
    }
}
