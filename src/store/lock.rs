//! Renewal locks, so that one certificate is renewed by one process at a time.
//!
//! On one host: an exclusive `flock` on `<state_dir>/locks/<name>.lock` (the timer and the
//! service never both renew). Across hosts sharing a bucket: a lease object
//! `<prefix>/locks/<name>.json`, taken with a create-if-absent write, extended with
//! if-match on our ETag while the order runs (and once more right before `current.json` is
//! switched), released by deleting it (if-match).
//!
//! Taking over needs no shared clock: a lease held by another process is taken over only
//! after this process watched the very same object (same ETag) stay unchanged for the
//! lease's whole TTL on its own monotonic clock, and then only with if-match on that ETag,
//! so that two hosts cannot both take it. `expires_at` is written for people to read; no
//! decision compares it with our wall clock. A lease left by a stopped process of this
//! host (same machine id and host name, PID gone) is taken over at once.
//!
//! Each lease carries a fencing counter that only grows; stored versions record it, and a
//! writer whose counter is older than the current version's is refused.
//!
//! The lease also carries the certificate's recent order times (the order ceiling's shared
//! history): a release that has some to keep leaves a released record holding them
//! (`expires_at == acquired_at`, free to take at once) instead of deleting the object, and
//! the next holder carries them on.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{CertStore, PutCondition, StoreError};
use crate::host;

const FORMAT: u32 = 1;
/// The shortest TTL a lease read from the bucket is believed to have.
const MIN_TTL: Duration = Duration::from_secs(1);
/// The longest TTL a lease read from the bucket is believed to have (or our own, if longer):
/// the bucket is untrusted, and a lease claiming a day must not stall renewals for a day.
const MAX_TTL: Duration = Duration::from_secs(3600);

/// The lease object as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Lease format number (1), so a later format can be told apart.
    pub format: u32,
    /// The certificate the lease guards (`[[certificate]] name`).
    pub name: String,
    /// `host/pid/token`: unique per process, so two processes on one host differ.
    pub owner: String,
    /// The holder's host name, for `status` and for recognising our own leftover lease.
    pub host: String,
    /// The holder's process id, to tell a live holder on this host from a dead one.
    pub pid: u32,
    /// The holder's `/etc/machine-id`: with `host`, what decides "a process of this host".
    /// Absent in leases written before it was recorded (those are never "this host").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// When the holder took it, by its own clock (for people; a released record sets it equal
    /// to `expires_at`).
    #[serde(with = "time::serde::rfc3339")]
    pub acquired_at: OffsetDateTime,
    /// The holder's own clock plus the TTL: for people, not for deciding a takeover.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// How long another process must see this lease unchanged before taking it over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// Counter one above the previous lease's and the stored one: a version stored under an
    /// older counter cannot replace one stored under a newer.
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
    /// Who holds the lease and until when, for messages (`Busy`, `status`); bucket text is
    /// made printable first.
    pub fn describe(&self) -> String {
        format!(
            "{} (pid {}) since {}, until {} by its clock",
            printable(&self.host),
            self.pid,
            crate::plan::stamp(self.acquired_at),
            crate::plan::stamp(self.expires_at)
        )
    }

    /// A record its holder released but kept for its order times: nobody holds it. (Both
    /// times come from the one host that wrote it; no clocks of two hosts are compared.)
    pub fn released(&self) -> bool {
        self.expires_at <= self.acquired_at
    }

    /// The TTL to wait out before taking this lease over: its own, bounded (it is read from
    /// the bucket), or `ours` for a lease that does not say.
    pub fn ttl(&self, ours: Duration) -> Duration {
        let own = self.ttl_secs.map_or(ours, Duration::from_secs);
        own.clamp(MIN_TTL, MAX_TTL.max(ours))
    }
}

/// A host name read from the bucket, fit for a log line.
fn printable(text: &str) -> String {
    text.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// A lease this process holds.
#[derive(Debug, Clone)]
pub struct Lease {
    /// What the lease says in the bucket; written again on every extension.
    pub record: LockRecord,
    etag: String,
    /// When the last write that confirmed it was sent: nobody can have taken it over before
    /// one TTL has passed since.
    confirmed: Instant,
}

impl Lease {
    /// Whether a TTL has passed since the last confirmed write: another host may hold it now.
    pub fn lapsed(&self, ttl: Duration) -> bool {
        self.confirmed.elapsed() >= ttl
    }
}

/// The result of trying to take the lease.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// The lease is ours now; extend it while the order runs.
    Acquired(Lease),
    /// Somebody else holds a lease that has not been seen unchanged for its TTL yet.
    Held(LockRecord),
}

/// This process as a lock owner: what a lease it writes says about its holder.
#[derive(Debug)]
pub struct Owner {
    /// `host/pid/token`: unique per process, so two processes on one host differ, and a
    /// restart with the same PID is still another owner.
    pub id: String,
    /// This host's name.
    pub host: String,
    /// This process.
    pub pid: u32,
}

/// This process as a lock owner, the same for its whole life.
pub fn owner() -> &'static Owner {
    static OWNER: OnceLock<Owner> = OnceLock::new();
    OWNER.get_or_init(|| {
        let host = host::host_name();
        let pid = std::process::id();
        Owner { id: format!("{host}/{pid}/{:08x}", rand::random::<u32>()), host, pid }
    })
}

/// The bucket key of the lease of `name`: `locks/<name>.json` under the prefix.
pub fn key(name: &str) -> String {
    format!("locks/{name}.json")
}

/// A lease left by a process of this host (same machine id and host name) that no longer
/// runs (killed, crashed, or a previous run that had our PID): taking it over at once is safe,
/// and waiting out its TTL would only delay recovery. A lease of another machine never is.
fn dead_on_this_host(record: &LockRecord) -> bool {
    let me = owner();
    record.owner != me.id
        && host::identity().is_this_host(record.machine_id.as_deref(), &record.host)
        && (record.pid == me.pid || !host::pid_alive(record.pid))
}

/// A lease object as first seen by this process.
struct Seen {
    etag: String,
    since: Instant,
}

/// What this process has seen of each lease, across renewal rounds (the daemon builds a new
/// `Storage` per round, the observation must outlive it).
fn observations() -> &'static Mutex<HashMap<String, Seen>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Seen>>> = OnceLock::new();
    SEEN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Notes `etag` at `at`; true when this exact object has been seen unchanged for `ttl`.
fn unchanged_for(at: &str, etag: &str, ttl: Duration) -> bool {
    let mut seen = observations().lock().unwrap_or_else(|e| e.into_inner());
    match seen.get(at) {
        Some(s) if s.etag == etag => s.since.elapsed() >= ttl,
        _ => {
            seen.insert(at.to_string(), Seen { etag: etag.to_string(), since: Instant::now() });
            false
        }
    }
}

fn forget(at: &str) {
    observations().lock().unwrap_or_else(|e| e.into_inner()).remove(at);
}

/// Reads the lease, if any (for `status`).
pub async fn read<S: CertStore>(store: &S, name: &str) -> Result<Option<LockRecord>, StoreError> {
    Ok(match store.get(&key(name)).await? {
        Some(obj) => serde_json::from_slice(&obj.bytes).ok(),
        None => None,
    })
}

/// Takes the lease for `ttl`. `floor` is the highest fencing counter already stored, so a
/// fresh lease after a release still counts up. A lease of another live process is taken
/// over only once this process has seen it unchanged for its TTL (call again to keep
/// watching).
pub async fn acquire<S: CertStore>(
    store: &S,
    name: &str,
    ttl: Duration,
    floor: u64,
) -> Result<Attempt, StoreError> {
    let me = owner();
    let watched = format!("{}\n{}", store.describe(), key(name));
    for _ in 0..5 {
        let sent = Instant::now();
        let existing = store.get(&key(name)).await?;
        let (condition, record) = match &existing {
            None => (PutCondition::IfAbsent, None),
            Some(obj) => {
                let record: Option<LockRecord> = serde_json::from_slice(&obj.bytes).ok();
                match record {
                    Some(r) if r.owner == me.id || r.released() => {
                        (PutCondition::IfMatch(obj.etag.clone()), Some(r))
                    }
                    Some(r) if dead_on_this_host(&r) => {
                        tracing::warn!(cert = name, holder = %r.describe(), "taking over the renewal lock of a stopped process of this host");
                        (PutCondition::IfMatch(obj.etag.clone()), Some(r))
                    }
                    Some(r) => {
                        let wait = r.ttl(ttl);
                        if !unchanged_for(&watched, &obj.etag, wait) {
                            return Ok(Attempt::Held(r));
                        }
                        tracing::warn!(cert = name, holder = %r.describe(), unchanged_for_secs = wait.as_secs(), "taking over an expired renewal lock");
                        (PutCondition::IfMatch(obj.etag.clone()), Some(r))
                    }
                    // Unreadable: nobody can extend it; replace exactly what we read.
                    None => (PutCondition::IfMatch(obj.etag.clone()), None),
                }
            }
        };
        let (previous, orders) = match record {
            Some(r) => (r.fencing, r.orders.into_iter().take(crate::ceiling::MAX_HISTORY).collect()),
            None => (0, Vec::new()),
        };
        let now = host::wall_clock();
        let record = LockRecord {
            format: FORMAT,
            name: name.to_string(),
            owner: me.id.clone(),
            host: me.host.clone(),
            pid: me.pid,
            machine_id: host::identity().machine_id.clone(),
            acquired_at: now,
            expires_at: now + ttl,
            ttl_secs: Some(ttl.as_secs().max(1)),
            fencing: previous.max(floor) + 1,
            orders,
        };
        let body = serde_json::to_vec_pretty(&record).expect("serializable");
        match store.put(&key(name), body, condition).await {
            Ok(etag) => {
                forget(&watched);
                tracing::info!(cert = name, fencing = record.fencing, "took the renewal lock");
                return Ok(Attempt::Acquired(Lease { record, etag, confirmed: sent }));
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
    let sent = Instant::now();
    let mut record = lease.record.clone();
    record.expires_at = host::wall_clock() + ttl;
    record.ttl_secs = Some(ttl.as_secs().max(1));
    let body = serde_json::to_vec_pretty(&record).expect("serializable");
    let etag = store.put(&key(&record.name), body, PutCondition::IfMatch(lease.etag.clone())).await?;
    lease.record = record;
    lease.etag = etag;
    lease.confirmed = sent;
    Ok(())
}

/// Releases the lease (only if it is still ours). With order times to keep, the object
/// stays as a released record (`expires_at == acquired_at`) holding them.
pub async fn release<S: CertStore>(store: &S, lease: Lease) -> Result<(), StoreError> {
    if lease.record.orders.is_empty() {
        return store.delete(&key(&lease.record.name), Some(&lease.etag)).await;
    }
    let now = host::wall_clock();
    let record = LockRecord { acquired_at: now, expires_at: now, ..lease.record };
    let body = serde_json::to_vec_pretty(&record).expect("serializable");
    store.put(&key(&record.name), body, PutCondition::IfMatch(lease.etag)).await.map(|_| ())
}

/// A lease shared between the task that keeps it alive and the writer that switches
/// `current.json` under it.
pub type SharedLease = Arc<tokio::sync::Mutex<Lease>>;

/// What a writer shows the store before switching `current.json`: the fencing counter it
/// records, and the lease to confirm (extend with if-match) right before the switch, so a
/// writer whose lease was taken over is refused before the new holder can have switched.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    counter: u64,
    lease: Option<(SharedLease, Duration)>,
}

impl Fence {
    /// An operator's unlocked write (`import`, queued uploads): counter 0, nothing to confirm.
    pub fn none() -> Fence {
        Fence::default()
    }

    /// A fence for the holder of a lease with this counter; the lease (with its TTL) is
    /// confirmed once more right before the switch.
    pub fn new(counter: u64, lease: Option<(SharedLease, Duration)>) -> Fence {
        Fence { counter, lease }
    }

    /// The fencing counter a stored version records and a switch must not go below.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Extends the lease with if-match; `StoreError::LeaseLost` when another process took it.
    pub async fn confirm<S: CertStore>(&self, store: &S) -> Result<(), StoreError> {
        let Some((lease, ttl)) = &self.lease else { return Ok(()) };
        let mut lease = lease.lock().await;
        extend(store, &mut lease, *ttl).await.map_err(|e| match e {
            StoreError::ConditionFailed { key } => StoreError::LeaseLost { key },
            other => other,
        })
    }
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

    fn other_holder(ttl_secs: u64) -> LockRecord {
        let now = OffsetDateTime::now_utc();
        LockRecord {
            format: FORMAT,
            name: "gradient".into(),
            owner: "elsewhere/1/abc".into(),
            host: "elsewhere".into(),
            pid: 1,
            machine_id: Some("e".repeat(32)),
            acquired_at: now,
            expires_at: now + Duration::from_secs(ttl_secs),
            ttl_secs: Some(ttl_secs),
            fencing: 4,
            orders: vec![],
        }
    }

    async fn put_record(store: &DirStore, record: &LockRecord) {
        let condition = match store.get(&key("gradient")).await.unwrap() {
            Some(obj) => PutCondition::IfMatch(obj.etag),
            None => PutCondition::IfAbsent,
        };
        store.put(&key("gradient"), serde_json::to_vec(record).unwrap(), condition).await.unwrap();
    }

    async fn try_take(store: &DirStore) -> Attempt {
        acquire(store, "gradient", Duration::from_secs(60), 0).await.unwrap()
    }

    #[tokio::test]
    async fn held_by_another_until_seen_unchanged_for_its_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        // Its expiry by its clock is long past: that alone never lets us take it.
        let stale_clock = LockRecord {
            acquired_at: OffsetDateTime::now_utc() - Duration::from_secs(601),
            expires_at: OffsetDateTime::now_utc() - Duration::from_secs(600),
            ..other_holder(1)
        };
        put_record(&store, &stale_clock).await;
        let started = Instant::now();
        match try_take(&store).await {
            Attempt::Held(r) => assert_eq!(r.host, "elsewhere"),
            Attempt::Acquired(_) => panic!("took a lease the moment it was seen"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(matches!(try_take(&store).await, Attempt::Held(_)), "half its TTL is not enough");
        tokio::time::sleep(Duration::from_millis(600)).await;
        let Attempt::Acquired(lease) = try_take(&store).await else {
            panic!("a lease unchanged for its whole TTL was not taken over")
        };
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(lease.record.fencing, 5);
        assert_eq!(lease.record.machine_id, host::identity().machine_id);
        assert_eq!(lease.record.ttl_secs, Some(60));
    }

    #[tokio::test]
    async fn a_lease_its_holder_keeps_extending_is_never_taken() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        // Its expiry by its clock is 10 minutes ago (its clock runs late, or ours early).
        let mut record = LockRecord {
            acquired_at: OffsetDateTime::now_utc() - Duration::from_secs(601),
            expires_at: OffsetDateTime::now_utc() - Duration::from_secs(600),
            ..other_holder(1)
        };
        for round in 0..6u64 {
            record.fencing = 4 + round % 2; // a changed body: a new ETag, as an extension gives
            put_record(&store, &record).await;
            assert!(matches!(try_take(&store).await, Attempt::Held(_)), "round {round}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    #[tokio::test]
    async fn a_stopped_process_of_this_host_is_taken_over_at_once_another_machine_never() {
        let me = host::identity();
        let Some(machine_id) = me.machine_id.clone() else {
            eprintln!("no /etc/machine-id here: nothing is ever \"this host\"");
            return;
        };
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = gone.id();
        gone.wait().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        let other_machine = LockRecord { host: me.name.clone(), pid: dead_pid, ..other_holder(60) };
        put_record(&store, &other_machine).await;
        assert!(
            matches!(try_take(&store).await, Attempt::Held(_)),
            "another machine with our host name and a PID we do not have is alive for all we know"
        );
        let ours_dead = LockRecord { machine_id: Some(machine_id.clone()), ..other_machine.clone() };
        put_record(&store, &ours_dead).await;
        assert!(matches!(try_take(&store).await, Attempt::Acquired(_)), "a dead local process's lease");

        let ours_alive = LockRecord {
            owner: "other-process".into(),
            pid: 1,
            machine_id: Some(machine_id.clone()),
            host: me.name.clone(),
            ..other_holder(60)
        };
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        put_record(&store, &ours_alive).await;
        assert!(matches!(try_take(&store).await, Attempt::Held(_)), "a live local process keeps it");
        // A previous run that had our PID (a restart as PID 1 of a container or namespace).
        let our_pid_before = LockRecord { pid: std::process::id(), ..ours_alive };
        put_record(&store, &our_pid_before).await;
        assert!(matches!(try_take(&store).await, Attempt::Acquired(_)));
    }

    #[test]
    fn a_lease_ttl_read_from_the_bucket_is_bounded() {
        let ours = Duration::from_secs(600);
        assert_eq!(other_holder(30).ttl(ours), Duration::from_secs(30));
        assert_eq!(other_holder(0).ttl(ours), MIN_TTL);
        assert_eq!(other_holder(86_400 * 365).ttl(ours), MAX_TTL);
        assert_eq!(other_holder(7200).ttl(Duration::from_secs(7200)), Duration::from_secs(7200));
        let old = LockRecord { ttl_secs: None, ..other_holder(30) };
        assert_eq!(old.ttl(ours), ours, "a lease that does not say is believed to have ours");
    }

    #[test]
    fn records_without_the_new_fields_still_read() {
        let old = r#"{"format":1,"name":"gradient","owner":"a/1/x","host":"a","pid":1,
            "acquired_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:10:00Z","fencing":3}"#;
        let r: LockRecord = serde_json::from_str(old).unwrap();
        assert_eq!((r.machine_id, r.ttl_secs, r.fencing), (None, None, 3));
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
        assert!(kept.released(), "released: not held by anyone");
        let Attempt::Acquired(next) = acquire(&store, "gradient", Duration::from_secs(60), 0).await.unwrap()
        else {
            panic!("a released record is free to take")
        };
        assert_eq!(next.record.orders, vec![ordered]);
        assert_eq!(next.record.fencing, kept.fencing + 1);
    }

    #[tokio::test]
    async fn a_record_another_host_released_is_taken_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        let now = OffsetDateTime::now_utc();
        let released =
            LockRecord { acquired_at: now, expires_at: now, orders: vec![now], ..other_holder(600) };
        put_record(&store, &released).await;
        let Attempt::Acquired(lease) = try_take(&store).await else {
            panic!("a released record waited for like a live lease")
        };
        assert_eq!(lease.record.orders.len(), 1, "its order times are carried on");
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
    async fn a_writer_whose_lease_was_taken_over_is_refused_before_it_switches() {
        use crate::store::testing::pair_expiring_in;
        use crate::store::{CertFiles, Layout, Origin, Overwrite};
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(DirStore::new(dir.path()), 5);
        let ttl = Duration::from_secs(60);
        let Attempt::Acquired(lease) = acquire(layout.store(), "gradient", ttl, 0).await.unwrap() else {
            panic!()
        };
        let fence = Fence::new(lease.record.fencing, Some((Arc::new(tokio::sync::Mutex::new(lease)), ttl)));
        let pair = pair_expiring_in(90);
        let files = CertFiles::from_pair(&pair);
        // While the lease is ours the save confirms it and switches.
        layout
            .save_fenced("gradient", &files, &pair.info, Origin::Acme, Overwrite::IfNewer, &fence)
            .await
            .unwrap();
        // Another host takes it over (nothing stored by it yet: the counter alone cannot tell).
        let obj = layout.store().get(&key("gradient")).await.unwrap().unwrap();
        let mut theirs: LockRecord = serde_json::from_slice(&obj.bytes).unwrap();
        theirs.owner = "elsewhere/2/x".into();
        theirs.fencing += 1;
        layout
            .store()
            .put(&key("gradient"), serde_json::to_vec(&theirs).unwrap(), PutCondition::IfMatch(obj.etag))
            .await
            .unwrap();
        let newer = pair_expiring_in(91);
        let err = layout
            .save_fenced(
                "gradient",
                &CertFiles::from_pair(&newer),
                &newer.info,
                Origin::Acme,
                Overwrite::IfNewer,
                &fence,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
        let current = layout.current("gradient").await.unwrap().unwrap().0;
        assert_eq!(current.serial, pair.info.serial, "the stale writer did not switch");
        assert_eq!(read(layout.store(), "gradient").await.unwrap().unwrap().owner, "elsewhere/2/x");
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
