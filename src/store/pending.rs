//! Certificates that could not be uploaded yet: `<state_dir>/pending/<name>.json`, one per
//! certificate name, holding the four files (the key too, so the folder is 0700 and each
//! record 0600). `Storage::flush_pending` uploads them; nothing is lost while the bucket is
//! away, and a record never displaces a queued certificate that expires later.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::layout::CertFiles;
use super::{Origin, Overwrite, StoreError};
use crate::bundle::CertInfo;
use crate::private_file::write_private_atomic;

const FORMAT: u32 = 1;

#[derive(Debug, Clone)]
pub(super) struct PendingDir {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Record {
    format: u32,
    pub name: String,
    pub origin: Origin,
    /// `Overwrite::Always` as stored on disk (the record format predates the enum).
    force: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    pub info: CertInfo,
    /// Why the upload failed (for `status`).
    pub last_error: String,
    privkey: String,
    fullchain: String,
    cert: String,
    chain: String,
}

impl Record {
    /// What the save that queued it allowed, for the upload that finishes it.
    pub fn overwrite(&self) -> Overwrite {
        if self.force { Overwrite::Always } else { Overwrite::IfNewer }
    }

    pub fn files(&self) -> CertFiles {
        CertFiles {
            privkey: self.privkey.as_bytes().to_vec(),
            fullchain: self.fullchain.as_bytes().to_vec(),
            cert: self.cert.as_bytes().to_vec(),
            chain: self.chain.as_bytes().to_vec(),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl PendingDir {
    pub fn new(dir: PathBuf) -> PendingDir {
        PendingDir { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn read(path: &Path) -> Result<Option<Record>, StoreError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| StoreError::Corrupt {
                what: path.display().to_string(),
                detail: format!("not a pending-upload record: {e}"),
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, "read")(e)),
        }
    }

    /// Queues a certificate for upload, unless a queued one for `name` expires later.
    pub fn queue(
        &self,
        name: &str,
        files: &CertFiles,
        info: &CertInfo,
        origin: Origin,
        overwrite: Overwrite,
        error: &str,
    ) -> Result<(), StoreError> {
        let path = self.path(name);
        if let Ok(Some(existing)) = Self::read(&path)
            && existing.info.serial != info.serial
            && existing.info.not_after > info.not_after
            && overwrite == Overwrite::IfNewer
        {
            tracing::warn!(
                certificate = name,
                "a queued certificate expires later ({}); keeping it queued instead",
                existing.info.not_after
            );
            return Ok(());
        }
        let record = Record {
            format: FORMAT,
            name: name.to_string(),
            origin,
            force: overwrite == Overwrite::Always,
            created_at: OffsetDateTime::now_utc(),
            info: info.clone(),
            last_error: error.to_string(),
            privkey: text(&files.privkey),
            fullchain: text(&files.fullchain),
            cert: text(&files.cert),
            chain: text(&files.chain),
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(StoreError::io(&self.dir, "create directory"))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(StoreError::io(&self.dir, "chmod"))?;
        let bytes = serde_json::to_vec_pretty(&record).expect("serializable");
        write_private_atomic(&path, &bytes).map_err(StoreError::from)
    }

    /// Every readable record, by name. Unreadable ones are reported and left in place.
    pub fn list(&self) -> Result<Vec<Record>, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&self.dir, "list")(e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let path = entry.map_err(StoreError::io(&self.dir, "list"))?.path();
            let is_record = path.extension().is_some_and(|e| e == "json")
                && !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !is_record {
                continue;
            }
            match Self::read(&path) {
                Ok(Some(r)) => records.push(r),
                Ok(None) => {}
                Err(e) => tracing::warn!("skipping a pending upload: {e}"),
            }
        }
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records)
    }

    /// Removes the record for `name` if it still holds `serial` (a newer one may have been
    /// queued meanwhile).
    pub fn remove(&self, name: &str, serial: &str) -> Result<(), StoreError> {
        let path = self.path(name);
        match Self::read(&path)? {
            Some(r) if r.info.serial == serial => match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StoreError::io(&path, "delete")(e)),
            },
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::pair_expiring_in;

    #[test]
    fn records_are_private_and_a_later_expiry_is_not_displaced() {
        let dir = tempfile::tempdir().unwrap();
        let pending = PendingDir::new(dir.path().join("state/pending"));
        let long = pair_expiring_in(90);
        let short = pair_expiring_in(30);
        let q = |p: &crate::bundle::CheckedPair| {
            pending
                .queue(
                    "gradient",
                    &CertFiles::from_pair(p),
                    &p.info,
                    Origin::Acme,
                    Overwrite::IfNewer,
                    "down",
                )
                .unwrap()
        };
        q(&long);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("state/pending")), 0o700);
        assert_eq!(mode(&dir.path().join("state/pending/gradient.json")), 0o600);
        q(&short);
        let records = pending.list().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].info.serial, long.info.serial);
        assert_eq!(records[0].files(), CertFiles::from_pair(&long));
        pending.remove("gradient", &short.info.serial).unwrap();
        assert_eq!(pending.list().unwrap().len(), 1, "only the matching serial is removed");
        pending.remove("gradient", &long.info.serial).unwrap();
        assert!(pending.list().unwrap().is_empty());
    }
}
