//! The order resume file: the URL of the order in flight and the key made for it, so that a
//! process killed mid-order resumes that order at its next start instead of opening a new
//! one (an order that is already validated or finalized would otherwise be wasted, and
//! count against the CA's rate limits). `<state_dir>/orders/<name>.json`, mode 0600: it
//! holds a private key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::private_file::write_private_atomic;

/// What a restarted process needs to pick up an order: the file's format on disk, unchanged
/// from the releases that called it the order journal.
#[derive(Clone, Serialize, Deserialize)]
pub struct ResumableOrder {
    /// The CA's URL of the order, to ask for its state.
    pub order_url: String,
    /// The names it was placed for: an order for other names is not resumed.
    pub domains: Vec<String>,
    /// The key type it was placed with: a changed `key_type` starts a new order.
    pub key_type: String,
    /// The certificate's new private key (PEM).
    pub key_pem: String,
    /// When the order was placed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for ResumableOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumableOrder")
            .field("order_url", &self.order_url)
            .field("domains", &self.domains)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// One certificate's order resume file.
#[derive(Debug, Clone)]
pub struct OrderResumeFile {
    path: PathBuf,
}

impl OrderResumeFile {
    /// The file of certificate `cert`: `<state_dir>/orders/<cert>.json`.
    pub fn new(state_dir: &Path, cert: &str) -> OrderResumeFile {
        OrderResumeFile { path: state_dir.join("orders").join(format!("{cert}.json")) }
    }

    /// The order in flight, if any. An unreadable file is logged and treated as none: a new
    /// order is the safe fallback.
    pub fn load(&self) -> Option<ResumableOrder> {
        let bytes = std::fs::read(&self.path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(j) => Some(j),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "unreadable order journal; starting a new order");
                None
            }
        }
    }

    /// Notes the order as soon as the CA created it, durably and 0600 (it holds the key).
    pub fn save(&self, order: &ResumableOrder) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(order).map_err(std::io::Error::other)?;
        Ok(write_private_atomic(&self.path, &bytes)?)
    }

    /// Forgets the order once its certificate is stored (or it cannot be resumed).
    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove the order journal");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let j = OrderResumeFile::new(dir.path(), "gradient");
        assert!(j.load().is_none());
        let order = ResumableOrder {
            order_url: "https://ca/order/1".into(),
            domains: vec!["*.example.com".into()],
            key_type: "ec256".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----\nsecret\n".into(),
            created_at: OffsetDateTime::now_utc(),
        };
        j.save(&order).unwrap();
        let mode = std::fs::metadata(dir.path().join("orders/gradient.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(j.load().unwrap().order_url, "https://ca/order/1");
        assert!(!format!("{order:?}").contains("secret"));
        j.remove();
        assert!(j.load().is_none());
    }
}
