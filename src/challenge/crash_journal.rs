//! The challenge crash journal: every TXT record is noted in `<state_dir>/journal/<cert>.json`
//! (and copied to `journal/<cert>.json` in the bucket) before it is written, and leaves the
//! note only once it has been removed.
//!
//! Writers merge: an order adds its records to whatever the journal already holds and removes
//! only the records it removed, so the records of an earlier cleanup that failed stay noted
//! until a later attempt removes them. The local file is changed only under the
//! certificate's local lock (an order, or `recover_leftovers`); the bucket copy only by the
//! holder of the certificate's renewal lease.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wildcert_dns_api::{RawChallenge, Secret, TxtRecord};

use super::ChallengeError;
use crate::store::Storage;

/// TTL of challenge records: short, so a retried challenge is not answered from a cache.
pub(super) const CHALLENGE_TTL: u32 = 60;

/// One noted record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct JournalEntry {
    /// The `[dns.NAME]` table whose adapter wrote it.
    pub dns: String,
    /// Where the record was written.
    pub fqdn: String,
    /// The `_acme-challenge` name the CA looks up, when the record was written at the end of
    /// its CNAME chain (`fqdn`) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    pub zone: Option<String>,
    pub value: String,
    /// RAW-mode adapters (exec/httpreq) get the domain and token too. The key authorization
    /// is kept in memory only: after a crash such an adapter cleans up by domain and token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_token: Option<String>,
    #[serde(skip)]
    pub raw_key_authorization: Option<Secret>,
}

impl JournalEntry {
    pub fn txt(&self) -> TxtRecord {
        TxtRecord {
            fqdn: self.fqdn.clone(),
            zone: self.zone.clone(),
            value: self.value.clone(),
            ttl: CHALLENGE_TTL,
            raw: match (&self.raw_domain, &self.raw_token) {
                (Some(domain), Some(token)) => Some(RawChallenge {
                    domain: domain.clone(),
                    token: token.clone(),
                    key_authorization: self.raw_key_authorization.clone().unwrap_or_default(),
                }),
                _ => None,
            },
        }
    }

    /// Whether both note the same record (the in-memory key authorization aside).
    pub fn same_record(&self, other: &JournalEntry) -> bool {
        self.dns == other.dns
            && self.fqdn.eq_ignore_ascii_case(&other.fqdn)
            && self.value == other.value
            && self.raw_token == other.raw_token
    }
}

/// `entries` plus `add`, minus `remove`, each record once.
pub(super) fn merged(
    mut entries: Vec<JournalEntry>,
    add: &[JournalEntry],
    remove: &[JournalEntry],
) -> Vec<JournalEntry> {
    for entry in add {
        if !entries.iter().any(|e| e.same_record(entry)) {
            entries.push(entry.clone());
        }
    }
    entries.retain(|e| !remove.iter().any(|r| r.same_record(e)));
    entries
}

/// The journal of one certificate: the local file, and the bucket's copy when there is a
/// bucket, so that the host that takes over an expired renewal lease can remove records the
/// dead holder left.
#[derive(Debug)]
pub(super) struct CrashJournal {
    path: PathBuf,
    remote: Option<(Storage, String)>,
}

impl CrashJournal {
    /// The local file only.
    pub(super) fn local(state_dir: &Path, cert: &str) -> CrashJournal {
        CrashJournal { path: path(state_dir, cert), remote: None }
    }

    /// Also keeps the bucket's copy (when `storage` has a bucket).
    pub(super) fn with_remote(mut self, storage: &Storage, cert: &str) -> CrashJournal {
        if storage.has_remote() {
            self.remote = Some((storage.clone(), remote_key(cert)));
        }
        self
    }

    /// Notes `add` and forgets `remove` in the local journal and the bucket's copy, keeping
    /// every other record noted there. Only the local file must succeed: it is the record
    /// this host relies on.
    pub(super) async fn update(
        &self,
        add: &[JournalEntry],
        remove: &[JournalEntry],
    ) -> Result<(), ChallengeError> {
        update_local(&self.path, add, remove)
            .map_err(|e| ChallengeError::Journal { path: self.path.clone(), detail: e.to_string() })?;
        if let Some((storage, key)) = &self.remote {
            update_remote(storage, key, add, remove).await;
        }
        Ok(())
    }
}

pub(super) fn path(state_dir: &Path, cert: &str) -> PathBuf {
    state_dir.join("journal").join(format!("{cert}.json"))
}

pub(super) fn remote_key(cert: &str) -> String {
    format!("journal/{cert}.json")
}

pub(super) fn read(path: &Path) -> std::io::Result<Vec<JournalEntry>> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

pub(super) fn write(path: &Path, entries: &[JournalEntry]) -> std::io::Result<()> {
    if entries.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let bytes = serde_json::to_vec_pretty(entries).map_err(std::io::Error::other)?;
    Ok(crate::private_file::write_private_atomic(path, &bytes)?)
}

/// Adds and removes records in the local journal file. An unreadable file is kept aside
/// (`.json.unreadable`) for an operator rather than overwritten.
pub(super) fn update_local(
    path: &Path,
    add: &[JournalEntry],
    remove: &[JournalEntry],
) -> std::io::Result<()> {
    let existing = match read(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            let aside = path.with_extension("json.unreadable");
            tracing::warn!(path = %path.display(), error = %e, kept = %aside.display(), "unreadable challenge journal; kept aside, check the DNS for its records by hand");
            std::fs::rename(path, &aside)?;
            Vec::new()
        }
    };
    write(path, &merged(existing, add, remove))
}

/// Adds and removes records in the bucket's copy (best effort: the local file is the record
/// this host relies on). A copy that cannot be parsed is replaced.
pub(super) async fn update_remote(
    storage: &Storage,
    key: &str,
    add: &[JournalEntry],
    remove: &[JournalEntry],
) {
    let existing = match storage.get_note(key).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(key, error = %e, "the challenge journal in the bucket is not valid; replacing it");
            Vec::new()
        }),
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the challenge journal in the bucket; not updating it");
            return;
        }
    };
    let entries = merged(existing, add, remove);
    let body = (!entries.is_empty()).then(|| serde_json::to_vec_pretty(&entries).expect("serializable"));
    if let Err(e) = storage.put_note(key, body).await {
        tracing::warn!(error = %e, "could not copy the challenge journal to the bucket (the local copy is kept)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fqdn: &str, value: &str) -> JournalEntry {
        JournalEntry {
            dns: "office".into(),
            fqdn: fqdn.into(),
            requested: None,
            zone: None,
            value: value.into(),
            raw_domain: None,
            raw_token: None,
            raw_key_authorization: None,
        }
    }

    #[test]
    fn a_new_order_keeps_the_records_of_a_failed_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "gradient");
        let old = entry("_acme-challenge.gradient.example.com.", "old");
        update_local(&path, std::slice::from_ref(&old), &[]).unwrap();
        let new = entry("_acme-challenge.gradient.example.com.", "new");
        update_local(&path, std::slice::from_ref(&new), &[]).unwrap();
        update_local(&path, std::slice::from_ref(&new), &[]).unwrap();
        let values: Vec<String> = read(&path).unwrap().into_iter().map(|e| e.value).collect();
        assert_eq!(values, ["old", "new"]);
        update_local(&path, &[], std::slice::from_ref(&new)).unwrap();
        let values: Vec<String> = read(&path).unwrap().into_iter().map(|e| e.value).collect();
        assert_eq!(values, ["old"], "only what was removed leaves the journal");
        update_local(&path, &[], &[old]).unwrap();
        assert!(!path.exists(), "an empty journal is removed");
    }

    #[test]
    fn an_unreadable_journal_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), "gradient");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        update_local(&path, &[entry("_acme-challenge.a.example.com.", "v")], &[]).unwrap();
        assert_eq!(std::fs::read(path.with_extension("json.unreadable")).unwrap(), b"{not json");
        assert_eq!(read(&path).unwrap().len(), 1);
    }
}
