//! Renewal locks, so that one certificate is renewed by one process at a time.
//!
//! On one host: an exclusive `flock` on `<state_dir>/locks/<name>.lock` (the timer and the
//! service never both renew). Across hosts sharing a bucket: a lease object
//! `<prefix>/locks/<name>.json`, taken with a create-if-absent write, extended with
//! if-match on our ETag while the order runs, released by deleting it (if-match), and taken
//! over only once expired, with if-match on the stale ETag so that two hosts cannot both
//! take it. Each lease carries a fencing counter that only grows; stored versions record it,
//! and a writer whose counter is older than the current version's is refused.
//!
//! The lease also carries the certificate's recent order times (the order ceiling's shared
//! history): a release that has some to keep leaves an expired record holding them instead
//! of deleting the object, and the next holder carries them on.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{CertStore, PutCondition, StoreError};

const FORMAT: u32 = 1;

/// The lease object as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub format: u32,
    pub name: String,
    /// `host/pid/token`: unique per process, so two processes on one host differ.
    pub owner: String,
    pub host: String,
    pub pid: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub acquired_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub fencing: u64,
    /// Recent new-order times for this certificate, from every host (see `ceiling`).
    /// Untrusted like all the bucket holds: readers merge it through `ceiling::merge`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "crate::state::serialize_stamps",
        deserialize_with = "crate::state::deserialize_stamps"
    )]
    pub orders: Vec<OffsetDateTime>,
}

impl LockRecord {
    pub fn describe(&self) -> String {
        format!(
            "{} (pid {}) since {}, until {}",
            self.host,
            self.pid,
            crate::plan::stamp(self.acquired_at),
            crate::plan::stamp(self.expires_at)
        )
    }
}

/// A lease this process holds.
#[derive(Debug, Clone)]
pub struct Lease {
    pub record: LockRecord,
    etag: String,
}

/// The result of trying to take the lease.
#[derive(Debug, Clone)]
pub enum Attempt {
    Acquired(Lease),
    /// Somebody else holds an unexpired lease.
    Held(LockRecord),
}

/// This process as a lock owner.
pub fn owner() -> &'static (String, String, u32) {
    static OWNER: OnceLock<(String, String, u32)> = OnceLock::new();
    OWNER.get_or_init(|| {
        let host = super::layout::host_name();
        let pid = std::process::id();
        (format!("{host}/{pid}/{:08x}", rand::random::<u32>()), host, pid)
    })
}

pub fn key(name: &str) -> String {
    format!("locks/{name}.json")
}

/// A lease left by a process of this host that no longer runs (killed, crashed): taking it
/// over at once is safe, and waiting out its expiry would only delay recovery.
fn dead_on_this_host(record: &LockRecord, host: &str) -> bool {
    record.host == host
        && record.pid != std::process::id()
        && !Path::new(&format!("/proc/{}", record.pid)).exists()
}

/// Reads the lease, if any (for `status`).
pub async fn read<S: CertStore>(store: &S, name: &str) -> Result<Option<LockRecord>, StoreError> {
    Ok(match store.get(&key(name)).await? {
        Some(obj) => serde_json::from_slice(&obj.bytes).ok(),
        None => None,
    })
}

/// Takes the lease for `ttl`. `floor` is the highest fencing counter already stored, so a
/// fresh lease after a release still counts up.
pub async fn acquire<S: CertStore>(
    store: &S,
    name: &str,
    ttl: Duration,
    floor: u64,
) -> Result<Attempt, StoreError> {
    let (me, host, pid) = owner();
    for _ in 0..5 {
        let now = OffsetDateTime::now_utc();
        let existing = store.get(&key(name)).await?;
        let (condition, previous, orders) = match &existing {
            None => (PutCondition::IfAbsent, 0, Vec::new()),
            Some(obj) => {
                let record: Option<LockRecord> = serde_json::from_slice(&obj.bytes).ok();
                match record {
                    Some(r) if r.owner != *me && r.expires_at > now && !dead_on_this_host(&r, host) => {
                        return Ok(Attempt::Held(r));
                    }
                    Some(r) => {
                        if r.owner != *me && r.expires_at > r.acquired_at {
                            tracing::warn!(cert = name, holder = %r.describe(), "taking over an expired renewal lock");
                        }
                        let orders = r.orders.into_iter().take(crate::ceiling::MAX_HISTORY).collect();
                        (PutCondition::IfMatch(obj.etag.clone()), r.fencing, orders)
                    }
                    // Unreadable: treat as expired, but only replace exactly what we read.
                    None => (PutCondition::IfMatch(obj.etag.clone()), 0, Vec::new()),
                }
            }
        };
        let record = LockRecord {
            format: FORMAT,
            name: name.to_string(),
            owner: me.clone(),
            host: host.clone(),
            pid: *pid,
            acquired_at: now,
            expires_at: now + ttl,
            fencing: previous.max(floor) + 1,
            orders,
        };
        let body = serde_json::to_vec_pretty(&record).expect("serializable");
        match store.put(&key(name), body, condition).await {
            Ok(etag) => {
                tracing::info!(cert = name, fencing = record.fencing, "took the renewal lock");
                return Ok(Attempt::Acquired(Lease { record, etag }));
            }
            Err(StoreError::ConditionFailed { .. }) => {
                tokio::time::sleep(Duration::from_millis(10 + rand::random::<u64>() % 40)).await;
            }
            Err(e) => return Err(e),
        }
    }
    // Lost every race: report whoever holds it now.
    match read(store, name).await? {
        Some(r) => Ok(Attempt::Held(r)),
        None => Err(StoreError::ConditionFailed { key: key(name) }),
    }
}

/// Extends the lease; `ConditionFailed` means it was taken over (we lost it).
pub async fn extend<S: CertStore>(store: &S, lease: &mut Lease, ttl: Duration) -> Result<(), StoreError> {
    let mut record = lease.record.clone();
    record.expires_at = OffsetDateTime::now_utc() + ttl;
    let body = serde_json::to_vec_pretty(&record).expect("serializable");
    let etag = store.put(&key(&record.name), body, PutCondition::IfMatch(lease.etag.clone())).await?;
    lease.record = record;
    lease.etag = etag;
    Ok(())
}

/// Releases the lease (only if it is still ours). With order times to keep, the object
/// stays as an already expired record (`expires_at == acquired_at`) holding them.
pub async fn release<S: CertStore>(store: &S, lease: Lease) -> Result<(), StoreError> {
    if lease.record.orders.is_empty() {
        return store.delete(&key(&lease.record.name), Some(&lease.etag)).await;
    }
    let now = OffsetDateTime::now_utc();
    let record = LockRecord { acquired_at: now, expires_at: now, ..lease.record };
    let body = serde_json::to_vec_pretty(&record).expect("serializable");
    store.put(&key(&record.name), body, PutCondition::IfMatch(lease.etag)).await.map(|_| ())
}

/// An exclusive lock among the processes of this host, released when dropped.
#[derive(Debug)]
pub struct LocalLock {
    _file: File,
}

impl LocalLock {
    /// `Ok(None)` when another process holds it.
    pub fn try_acquire(state_dir: &Path, name: &str) -> Result<Option<LocalLock>, StoreError> {
        let dir = state_dir.join("locks");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(StoreError::io(&dir, "create"))?;
        let path = dir.join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(StoreError::io(&path, "open"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LocalLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(&path, "lock")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DirStore;

    #[tokio::test]
    async fn one_holder_then_release_then_counter_grows() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        let Attempt::Acquired(lease) = acquire(&store, "gradient", Duration::from_secs(60), 0).await.unwrap()
        else {
            panic!("free lock not acquired")
        };
        assert_eq!(lease.record.fencing, 1);
        // The same process asking again re-takes its own lease (a new fencing counter).
        let Attempt::Acquired(again) = acquire(&store, "gradient", Duration::from_secs(60), 0).await.unwrap()
        else {
            panic!("own lease not re-taken")
        };
        assert_eq!(again.record.fencing, 2);
        release(&store, again).await.unwrap();
        assert!(read(&store, "gradient").await.unwrap().is_none());
        let Attempt::Acquired(third) = acquire(&store, "gradient", Duration::from_secs(60), 7).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(third.record.fencing, 8, "after a release the floor (stored counter) continues the count");
    }

    #[tokio::test]
    async fn held_by_another_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        let now = OffsetDateTime::now_utc();
        let other = LockRecord {
            format: FORMAT,
            name: "gradient".into(),
            owner: "elsewhere/1/abc".into(),
            host: "elsewhere".into(),
            pid: 1,
            acquired_at: now,
            expires_at: now + Duration::from_secs(60),
            fencing: 4,
            orders: vec![],
        };
        store
            .put(&key("gradient"), serde_json::to_vec(&other).unwrap(), PutCondition::IfAbsent)
            .await
            .unwrap();
        match acquire(&store, "gradient", Duration::from_secs(60), 0).await.unwrap() {
            Attempt::Held(r) => assert_eq!(r.host, "elsewhere"),
            Attempt::Acquired(_) => panic!("took a live lease"),
        }
        let expired = LockRecord { expires_at: now - Duration::from_secs(1), ..other };
        let obj = store.get(&key("gradient")).await.unwrap().unwrap();
        store
            .put(&key("gradient"), serde_json::to_vec(&expired).unwrap(), PutCondition::IfMatch(obj.etag))
            .await
            .unwrap();
        let Attempt::Acquired(lease) = acquire(&store, "gradient", Duration::from_secs(60), 0).await.unwrap()
        else {
            panic!("expired lease not taken over")
        };
        assert_eq!(lease.record.fencing, 5);
    }

    #[tokio::test]
    async fn a_taken_over_lease_cannot_be_extended_or_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        let Attempt::Acquired(mut lease) =
            acquire(&store, "gradient", Duration::from_secs(60), 0).await.unwrap()
        else {
            panic!()
        };
        let obj = store.get(&key("gradient")).await.unwrap().unwrap();
        let mut stolen = lease.record.clone();
        stolen.owner = "elsewhere/2/x".into();
        store
            .put(&key("gradient"), serde_json::to_vec(&stolen).unwrap(), PutCondition::IfMatch(obj.etag))
            .await
            .unwrap();
        assert!(matches!(
            extend(&store, &mut lease, Duration::from_secs(60)).await,
            Err(StoreError::ConditionFailed { .. })
        ));
        let _ = release(&store, lease).await;
        assert_eq!(
            read(&store, "gradient").await.unwrap().unwrap().owner,
            "elsewhere/2/x",
            "the new holder's lease stays"
        );
    }

    #[tokio::test]
    async fn order_times_survive_a_release_and_pass_to_the_next_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        let Attempt::Acquired(mut lease) =
            acquire(&store, "gradient", Duration::from_secs(60), 0).await.unwrap()
        else {
            panic!()
        };
        let ordered = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        lease.record.orders = vec![ordered];
        release(&store, lease).await.unwrap();
        let kept = read(&store, "gradient").await.unwrap().expect("the record stays with its order times");
        assert_eq!(kept.orders, vec![ordered]);
        assert!(kept.expires_at <= OffsetDateTime::now_utc(), "released: not held by anyone");
        let Attempt::Acquired(next) = acquire(&store, "gradient", Duration::from_secs(60), 0).await.unwrap()
        else {
            panic!("a released record is free to take")
        };
        assert_eq!(next.record.orders, vec![ordered]);
        assert_eq!(next.record.fencing, kept.fencing + 1);
    }

    #[test]
    fn local_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalLock::try_acquire(dir.path(), "gradient").unwrap();
        assert!(first.is_some());
        // flock locks belong to the open file description: a second open is refused.
        assert!(LocalLock::try_acquire(dir.path(), "gradient").unwrap().is_none());
        drop(first);
        assert!(LocalLock::try_acquire(dir.path(), "gradient").unwrap().is_some());
    }
}
