//! Serializes the writes to one record name among the wildcert processes of this host.
//!
//! Adapters whose API replaces whole record sets (PowerDNS) read the set, add or remove one
//! value, and write the set back. Inside one process the shared adapter serializes that per
//! name; a second process (the renew timer beside the service, a second certificate's order
//! that shares the `_acme-challenge` name) would not see those locks. An exclusive `flock` on
//! `<state_dir>/locks/dns/<hash of the name>.lock`, held for one present or cleanup, closes
//! that gap on one host. (Across hosts only the provider can: Route53 refuses a stale batch.)

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a writer waits for another process's write to the same name before going on
/// regardless (one present or cleanup takes seconds, not minutes).
const WAIT: Duration = Duration::from_secs(120);

/// Held while one process writes a name; released when dropped.
#[derive(Debug)]
pub struct NameLock {
    _file: Option<File>,
}

/// Takes the host-wide lock of record name `fqdn`. Never fails: when the lock file cannot be
/// used, or another process holds it past `WAIT`, it logs why and goes on unlocked (the
/// in-process serialization still holds).
pub async fn lock(state_dir: &Path, fqdn: &str) -> NameLock {
    let name = fqdn.trim_end_matches('.').to_ascii_lowercase();
    let dir = state_dir.join("locks").join("dns");
    let path = dir.join(format!("{}.lock", &crate::digest::sha256_hex(name.as_bytes())[..32]));
    let file =
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).and_then(|()| {
            OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&path)
        });
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, fqdn = name, "cannot use the record name lock; writing without it");
            return NameLock { _file: None };
        }
    };
    let started = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        match file.try_lock() {
            Ok(()) => return NameLock { _file: Some(file) },
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < WAIT => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            Err(e) => {
                tracing::warn!(fqdn = name, error = %e, "another wildcert process keeps the record name locked; writing without the lock");
                return NameLock { _file: None };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_writer_per_name_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path(), "_acme-challenge.Example.com.").await;
        assert!(held._file.is_some());
        // Another name is not blocked.
        let other =
            tokio::time::timeout(Duration::from_millis(200), lock(dir.path(), "_acme-challenge.example.org"))
                .await;
        assert!(other.is_ok());
        // The same name (any case, with or without the dot) waits for the holder.
        let same =
            tokio::time::timeout(Duration::from_millis(200), lock(dir.path(), "_acme-challenge.example.com"))
                .await;
        assert!(same.is_err(), "a second writer of the name did not wait");
        drop(held);
        let again =
            tokio::time::timeout(Duration::from_secs(2), lock(dir.path(), "_acme-challenge.example.com"))
                .await;
        assert!(again.is_ok_and(|l| l._file.is_some()));
    }
}
