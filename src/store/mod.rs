//! Where certificates live: the bucket (versions + `current.json`), and the local directory
//! the web server reads.
//!
//! The store knows certificates as checked pairs plus metadata; `CertStore` backends know
//! only keys and bytes with conditions. Neither knows ACME or DNS.

pub mod backend;
pub mod bucket;
pub mod dir;
pub mod layout;
pub mod live;
pub mod lock;
mod pending;
pub mod s3;
pub mod trust;

use std::path::PathBuf;
use std::sync::Arc;

pub use backend::{CertStore, Object, PutCondition};
pub use dir::DirStore;
pub use layout::{CertFiles, Current, Layout, Meta, SaveOutcome, Stored};
pub use live::LiveDir;
pub use s3::S3Store;
pub use trust::{Expected, TrustError};

use crate::bundle::CheckedPair;
use crate::config::{Config, StorageConfig};

/// Why saving, fetching or locking a certificate failed; `is_transient` tells the scheduler
/// whether a later retry can succeed without the operator changing anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A local file (live directory, state directory, shared directory) could not be read or
    /// written: usually permissions or a full disk.
    #[error("{path}: {action}: {source}")]
    Io {
        /// The file or directory the failed step touched.
        path: PathBuf,
        /// The step that failed (e.g. "rename"), so the message says what to look at.
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The bucket failed or could not be reached for a reason other than a refusal of the
    /// credentials (those are `Denied`).
    #[error("bucket {bucket} at {endpoint}: {detail}")]
    Bucket {
        /// `storage.bucket`, so the operator knows which bucket.
        bucket: String,
        /// The endpoint the client talked to (`storage.endpoint` or the AWS default).
        endpoint: String,
        /// What went wrong and how to fix it; never a credential.
        detail: String,
        /// Whether a retry may succeed (timeouts, throttling, 5xx); read by `is_transient`.
        transient: bool,
    },
    /// The credentials may not do this (AccessDenied and the like, 401/403): a key or policy
    /// to change, not a passing fault. `bucket check` tells these apart from other failures.
    #[error("bucket {bucket} at {endpoint}: {detail}")]
    Denied {
        /// `storage.bucket`, so the operator knows which bucket.
        bucket: String,
        /// The endpoint the client talked to (`storage.endpoint` or the AWS default).
        endpoint: String,
        /// What the server said and which key or policy to check; never a credential.
        detail: String,
    },
    /// A conditional write lost: somebody else changed the object first.
    #[error("{key}: changed by another writer (condition failed)")]
    ConditionFailed {
        /// The object whose write lost, as messages name it (store and full key).
        key: String,
    },
    /// Something stored (bucket object, pending record, shared-directory key) is malformed
    /// or fails its checksum; it is not used.
    #[error("{what}: {detail}")]
    Corrupt {
        /// The object or key that was refused.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The configuration cannot work as given (missing bucket name, bad proxy, unreadable
    /// secret file, invalid certificate name): the operator must change it.
    #[error("{key}: {detail}")]
    Config {
        /// The configuration key at fault, e.g. `storage.secret_access_key`.
        key: String,
        /// What is wrong and how to fix it; never the secret itself.
        detail: String,
    },
    /// The renewal lock this writer held was taken over and the new holder already stored.
    #[error(
        "{key}: not switched: our renewal lock (fencing {ours}) was taken over by a writer that already stored with fencing {current}"
    )]
    Fenced {
        /// The `current.json` that was not switched, as messages name it.
        key: String,
        /// The fencing counter of the lock this writer held.
        ours: u64,
        /// The higher fencing counter the bucket's current version already carries.
        current: u64,
    },
    /// The renewal lease could not be extended right before the switch: another process
    /// took it over, so this writer must not switch.
    #[error("{key}: not switched: our renewal lock was taken over by another process")]
    LeaseLost {
        /// The lease object (`locks/<name>.json`) that is no longer ours.
        key: String,
    },
    /// Another process holds the renewal lock.
    #[error("{name}: another process is renewing it: {holder}; try again later")]
    Busy {
        /// The certificate whose lock is held.
        name: String,
        /// Who holds it (host and process when known), so the operator knows whom to wait for.
        holder: String,
    },
    /// Something read from the bucket failed validation and was not used.
    #[error("refused what the bucket holds: {0}")]
    Untrusted(#[from] trust::TrustError),
    /// The bucket refused a new certificate; it is installed locally and queued for upload.
    #[error("{source}; the new certificate is installed in {live} and queued for upload on the next run")]
    NotUploaded {
        /// Why the bucket refused the upload.
        source: Box<StoreError>,
        /// The live directory the certificate was installed in all the same.
        live: PathBuf,
    },
}

impl StoreError {
    /// Whether retrying later may succeed without the operator changing anything: the
    /// scheduler backs off and retries these, and reports the others as needing a fix.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Bucket { transient, .. } => *transient,
            StoreError::ConditionFailed { .. } => true,
            StoreError::Busy { .. } => true,
            StoreError::NotUploaded { source, .. } => source.is_transient(),
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

impl From<crate::private_file::PrivateWriteError> for StoreError {
    fn from(e: crate::private_file::PrivateWriteError) -> StoreError {
        StoreError::Io { path: e.path, action: e.step, source: e.source }
    }
}

/// Lower-case hex SHA-256, the ETag of the directory backend and the sums in `meta.json`.
pub use crate::digest::sha256_hex;

/// Where a stored certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Issued by an ACME CA; renewal orders a new one.
    Acme,
    /// Imported from a key and bundle the operator supplied (`source = "files"`, `import`).
    Files,
}

/// Whether a save may replace a stored certificate that expires later than the new one.
/// The same certificate (same serial) is never stored twice either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Only when the new certificate expires no sooner: what every renewal does, so that a
    /// slow host cannot replace a fresher certificate another host stored.
    IfNewer,
    /// Also over one that expires later, if it was current when the save began (`import
    /// --force`: the operator replaces a certificate on purpose). One another writer stores
    /// meanwhile still wins.
    Always,
}

/// The shared store the configuration names: a bucket or a shared directory.
#[derive(Debug, Clone)]
pub enum Backend {
    /// An S3-compatible bucket (`storage.bucket`).
    S3(S3Store),
    /// A directory shared between hosts (`storage.shared_dir`), e.g. an NFS mount.
    Dir(DirStore),
}

impl Backend {
    /// The backend for `[storage]`, or `None` when only the local directory is configured.
    pub async fn from_config(cfg: &StorageConfig) -> Result<Option<Backend>, StoreError> {
        if cfg.bucket.is_some() {
            return Ok(Some(Backend::S3(S3Store::connect(cfg).await?)));
        }
        Ok(cfg.shared_dir.as_ref().map(|dir| {
            let prefix = cfg.prefix.trim_matches('/');
            Backend::Dir(DirStore::new(if prefix.is_empty() { dir.clone() } else { dir.join(prefix) }))
        }))
    }
}

impl CertStore for Backend {
    fn describe(&self) -> String {
        match self {
            Backend::S3(s) => s.describe(),
            Backend::Dir(d) => d.describe(),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        match self {
            Backend::S3(s) => s.get(key).await,
            Backend::Dir(d) => d.get(key).await,
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, condition: PutCondition) -> Result<String, StoreError> {
        match self {
            Backend::S3(s) => s.put(key, bytes, condition).await,
            Backend::Dir(d) => d.put(key, bytes, condition).await,
        }
    }

    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<(), StoreError> {
        match self {
            Backend::S3(s) => s.delete(key, if_match).await,
            Backend::Dir(d) => d.delete(key, if_match).await,
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Backend::S3(s) => s.list(prefix).await,
            Backend::Dir(d) => d.list(prefix).await,
        }
    }
}

/// What happened in the bucket (or shared directory) during `Storage::save`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketOutcome {
    /// No bucket or shared directory is configured.
    NotConfigured,
    /// The certificate came from the bucket's current version and was installed here;
    /// nothing was written to the bucket.
    InstalledFromBucket,
    /// This certificate is the current version now (or already was).
    Stored {
        /// The version folder `current.json` now names.
        version: String,
    },
    /// The bucket holds a certificate that expires later; that one was installed locally.
    Kept {
        /// The bucket's `current.json`, naming the later-expiring version.
        current: Current,
    },
    /// The bucket could not be reached: the certificate waits in `state_dir` for upload.
    Pending {
        /// Why the upload failed, for the log and `status`.
        reason: String,
    },
}

/// What `Storage::save` did.
#[derive(Debug, Clone)]
pub struct Saved {
    /// Paths of the files the web server reads.
    pub live: live::LivePaths,
    /// What happened in the bucket, for the log line and `issue`'s summary.
    pub bucket: BucketOutcome,
}

/// One pending upload retried by `Storage::flush_pending`.
#[derive(Debug)]
pub struct Flushed {
    /// The certificate the queued record belongs to.
    pub name: String,
    /// The queued certificate's serial, to tell a retried upload from a newer one.
    pub serial: String,
    /// `Ok` means the record is done with (stored, already there, or superseded) and removed.
    pub result: Result<SaveOutcome, StoreError>,
}

/// The storage pipeline for one configuration.
#[derive(Debug, Clone)]
pub struct Storage {
    live: LiveDir,
    pending: pending::PendingDir,
    state_dir: PathBuf,
    remote: Option<Remote>,
}

/// The outcome of asking for the renewal lock of one certificate.
#[derive(Debug)]
pub enum LockOutcome {
    /// This process may renew; keep the lock until the certificate is stored.
    Acquired(RenewalLock),
    /// Another process on this host is renewing it.
    HeldLocally,
    /// Another process (maybe on another host) holds the lease in the bucket.
    HeldBy(lock::LockRecord),
}

/// The renewal lock of one certificate: this host's file lock, plus the bucket lease when a
/// bucket is configured (shared with the writer, which confirms it before switching).
#[derive(Debug)]
pub struct RenewalLock {
    _local: lock::LocalLock,
    lease: Option<lock::SharedLease>,
    fencing: u64,
    ttl: std::time::Duration,
    /// The order times the lease carried when it was taken.
    taken_orders: Vec<time::OffsetDateTime>,
}

impl RenewalLock {
    fn new(local: lock::LocalLock, lease: Option<lock::Lease>, ttl: std::time::Duration) -> RenewalLock {
        let fencing = lease.as_ref().map_or(0, |l| l.record.fencing);
        let taken_orders = lease.as_ref().map_or_else(Vec::new, |l| l.record.orders.clone());
        let lease = lease.map(|l| Arc::new(tokio::sync::Mutex::new(l)));
        RenewalLock { _local: local, lease, fencing, ttl, taken_orders }
    }

    /// The fencing counter stores carry (0 without a bucket).
    pub fn fencing(&self) -> u64 {
        self.fencing
    }

    /// What a save under this lock shows the bucket before switching `current.json`.
    pub fn fence(&self) -> lock::Fence {
        lock::Fence::new(self.fencing, self.lease.clone().map(|l| (l, self.ttl)))
    }

    /// Whether a whole TTL passed since the lease was last confirmed: another process may
    /// have taken it over, so the order it guards must stop.
    pub async fn lapsed(&self) -> bool {
        match &self.lease {
            Some(lease) => lease.lock().await.lapsed(self.ttl),
            None => false,
        }
    }

    /// The order times the bucket lease carried when it was taken (untrusted: merge them
    /// through `ceiling::merge`); empty without a bucket.
    pub fn shared_orders(&self) -> &[time::OffsetDateTime] {
        &self.taken_orders
    }

    /// Sets the order times the lease carries from its next write on (extension, release).
    pub async fn share_orders(&self, orders: &[time::OffsetDateTime]) {
        if let Some(lease) = &self.lease {
            lease.lock().await.record.orders = orders.to_vec();
        }
    }
}

/// The configured shared store, connected on first use.
#[derive(Debug, Clone)]
struct Remote {
    config: Arc<StorageConfig>,
    layout: Arc<tokio::sync::OnceCell<Layout<Backend>>>,
}

impl Storage {
    /// Reads nothing yet: the bucket client is built (and its secret read) on first use.
    pub fn new(config: &Config) -> Storage {
        Storage::from_storage_config(&config.storage)
    }

    /// `new` from the `[storage]` table alone, for callers that have no whole `Config`.
    pub fn from_storage_config(cfg: &StorageConfig) -> Storage {
        let remote = (cfg.bucket.is_some() || cfg.shared_dir.is_some()).then(|| Remote {
            config: Arc::new(cfg.clone()),
            layout: Arc::new(tokio::sync::OnceCell::new()),
        });
        Storage {
            live: LiveDir::new(cfg.local_dir.clone()).with_group(cfg.live_gid),
            pending: pending::PendingDir::new(cfg.state_dir.join("pending")),
            state_dir: cfg.state_dir.clone(),
            remote,
        }
    }

    /// The local directory the web server reads (`storage.local_dir`).
    pub fn live(&self) -> &LiveDir {
        &self.live
    }

    /// Whether a bucket or shared directory is configured.
    pub fn has_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The layout on the configured bucket or shared directory, `None` without one.
    pub async fn layout(&self) -> Result<Option<&Layout<Backend>>, StoreError> {
        let Some(remote) = &self.remote else { return Ok(None) };
        let layout = remote
            .layout
            .get_or_try_init(|| async {
                let backend = Backend::from_config(&remote.config).await?.expect("remote is configured");
                Ok::<_, StoreError>(Layout::new(backend, remote.config.keep_versions))
            })
            .await?;
        Ok(Some(layout))
    }

    /// Stores a checked pair: the bucket first (when configured), then the local directory.
    pub async fn save(&self, name: &str, pair: &CheckedPair, origin: Origin) -> Result<Saved, StoreError> {
        self.save_with(name, pair, origin, Overwrite::IfNewer).await
    }

    /// `save`, and with `Overwrite::Always` replace a stored certificate even if it expires
    /// later.
    ///
    /// Pending uploads go first. When the bucket cannot be reached the pair is still
    /// installed locally and queued in `state_dir`; a refusal (credentials, missing bucket)
    /// does the same but is returned as `StoreError::NotUploaded`.
    pub async fn save_with(
        &self,
        name: &str,
        pair: &CheckedPair,
        origin: Origin,
        overwrite: Overwrite,
    ) -> Result<Saved, StoreError> {
        self.save_fenced(name, pair, origin, overwrite, &lock::Fence::none()).await
    }

    /// `save_with` by the holder of a renewal lock: the bucket refuses it when the lock was
    /// taken over (`StoreError::LeaseLost`, checked right before the switch) or a later
    /// holder already stored (`StoreError::Fenced`).
    pub async fn save_fenced(
        &self,
        name: &str,
        pair: &CheckedPair,
        origin: Origin,
        overwrite: Overwrite,
        fence: &lock::Fence,
    ) -> Result<Saved, StoreError> {
        layout::check_name(name)?;
        let files = CertFiles::from_pair(pair);
        if self.remote.is_none() {
            let live = self.live.write(name, pair).await?;
            return Ok(Saved { live, bucket: BucketOutcome::NotConfigured });
        }
        match self.flush_pending().await {
            Ok(flushed) => {
                for f in flushed {
                    match &f.result {
                        Ok(outcome) => {
                            tracing::info!(certificate = %f.name, ?outcome, "uploaded a pending certificate")
                        }
                        Err(e) => tracing::warn!(certificate = %f.name, "pending upload still failing: {e}"),
                    }
                }
            }
            Err(e) => tracing::warn!("cannot upload pending certificates: {e}"),
        }
        let stored = match self.layout().await {
            Ok(layout) => {
                let layout = layout.expect("remote is configured");
                layout.save_fenced(name, &files, &pair.info, origin, overwrite, fence).await
            }
            Err(e) => Err(e),
        };
        match stored {
            Ok(SaveOutcome::Stored { version, .. }) => {
                let live = self.live.write(name, pair).await?;
                Ok(Saved { live, bucket: BucketOutcome::Stored { version } })
            }
            Ok(SaveOutcome::AlreadyCurrent { current }) => {
                let live = self.install_if_changed(name, &files, &pair.info.serial).await?;
                Ok(Saved { live, bucket: BucketOutcome::Stored { version: current.version } })
            }
            Ok(SaveOutcome::Kept { current }) => {
                tracing::warn!(
                    certificate = name,
                    serial = %current.serial,
                    not_after = %current.not_after,
                    "the bucket holds a certificate that expires later; installing that one"
                );
                let live = match self.fetch_checked(name, &Expected::like(pair)).await {
                    Ok(Some(checked)) => {
                        self.install_if_changed(name, &CertFiles::from_pair(&checked), &checked.info.serial)
                            .await?
                    }
                    other => {
                        if let Err(e) = other {
                            tracing::warn!("cannot use it ({e}); installing the new certificate instead");
                        }
                        self.live.write(name, pair).await?
                    }
                };
                Ok(Saved { live, bucket: BucketOutcome::Kept { current } })
            }
            Err(e @ (StoreError::Fenced { .. } | StoreError::LeaseLost { .. })) => Err(e),
            Err(e) => {
                let live = self.live.write(name, pair).await?;
                self.pending.queue(name, &files, &pair.info, origin, overwrite, &e.to_string())?;
                if e.is_transient() {
                    tracing::warn!(
                        certificate = name,
                        "bucket unavailable, installed locally and queued for upload: {e}"
                    );
                    Ok(Saved { live, bucket: BucketOutcome::Pending { reason: e.to_string() } })
                } else {
                    Err(StoreError::NotUploaded { source: Box::new(e), live: live.dir })
                }
            }
        }
    }

    /// Writes `files` to the local directory unless it already holds exactly these bytes.
    async fn install_if_changed(
        &self,
        name: &str,
        files: &CertFiles,
        serial: &str,
    ) -> Result<live::LivePaths, StoreError> {
        let paths = self.live.paths(name);
        if local_matches(&paths, files) {
            return Ok(paths);
        }
        self.live.write_files(name, serial, files.for_live_dir()).await
    }

    /// A small object under `key` in the bucket (e.g. the challenge journal), `None` without a
    /// bucket or when absent.
    pub async fn get_note(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.layout().await? {
            Some(layout) => Ok(layout.store().get(key).await?.map(|o| o.bytes)),
            None => Ok(None),
        }
    }

    /// Writes (or with `None` deletes) a small object under `key` in the bucket; no-op without one.
    pub async fn put_note(&self, key: &str, bytes: Option<Vec<u8>>) -> Result<(), StoreError> {
        let Some(layout) = self.layout().await? else { return Ok(()) };
        match bytes {
            Some(b) => layout.store().put(key, b, PutCondition::Any).await.map(|_| ()),
            None => layout.store().delete(key, None).await,
        }
    }

    /// Takes the renewal lock of `name` for `ttl` (see `lock`).
    pub async fn lock(&self, name: &str, ttl: std::time::Duration) -> Result<LockOutcome, StoreError> {
        let Some(local) = lock::LocalLock::try_acquire(&self.state_dir, name)? else {
            return Ok(LockOutcome::HeldLocally);
        };
        let Some(layout) = self.layout().await? else {
            return Ok(LockOutcome::Acquired(RenewalLock::new(local, None, ttl)));
        };
        let floor = layout.current(name).await?.map_or(0, |(c, _)| c.fencing);
        match lock::acquire(layout.store(), name, ttl, floor).await? {
            lock::Attempt::Acquired(lease) => {
                Ok(LockOutcome::Acquired(RenewalLock::new(local, Some(lease), ttl)))
            }
            lock::Attempt::Held(record) => Ok(LockOutcome::HeldBy(record)),
        }
    }

    /// Extends the bucket lease; an error means it can no longer be relied on.
    pub async fn extend_lock(&self, held: &RenewalLock) -> Result<(), StoreError> {
        match (&held.lease, self.layout().await?) {
            (Some(lease), Some(layout)) => {
                lock::extend(layout.store(), &mut *lease.lock().await, held.ttl).await
            }
            _ => Ok(()),
        }
    }

    /// Releases the lock (the lease only while it is still ours).
    pub async fn release_lock(&self, held: RenewalLock) {
        if let (Some(lease), Ok(Some(layout))) = (held.lease, self.layout().await) {
            let lease = lease.lock().await.clone();
            let name = lease.record.name.clone();
            if let Err(e) = lock::release(layout.store(), lease).await {
                tracing::warn!(cert = %name, error = %e, "could not release the renewal lock; it expires by itself");
            }
        }
    }

    /// Who holds the bucket lease of `name`, if anyone (for `status`).
    pub async fn lock_holder(&self, name: &str) -> Result<Option<lock::LockRecord>, StoreError> {
        match self.layout().await? {
            Some(layout) => {
                let record = lock::read(layout.store(), name).await?;
                // For people: the holder's own stated expiry against our clock.
                Ok(record.filter(|r| r.expires_at > crate::host::wall_clock()))
            }
            None => Ok(None),
        }
    }

    /// Installs the bucket's current version locally when the local directory holds
    /// something else (another host renewed). Returns the paths when it changed anything.
    ///
    /// The stored pair must pass the bundle checks against `expected` (this host's
    /// configuration); otherwise nothing is installed, the local pair stays, and the error
    /// says why (`StoreError::Untrusted`).
    ///
    /// A certificate that expires earlier than the local one is not installed (judged by the
    /// checked leaves, never by `meta.json`): a bucket that refuses writes keeps serving the
    /// older version, and installing that over the newer local (queued) one would revert it,
    /// run the hook and make it due again. One that expires at the same second is installed:
    /// the bucket's pair is the one every host of the fleet converges on, and a certificate
    /// issued within the same second as the local one (a replacement ordered right after a
    /// revocation, by another host) must not leave this host serving the revoked one.
    pub async fn sync_local(
        &self,
        name: &str,
        expected: &Expected,
    ) -> Result<Option<live::LivePaths>, StoreError> {
        let Some(checked) = self.fetch_checked(name, expected).await? else { return Ok(None) };
        let files = CertFiles::from_pair(&checked);
        let paths = self.live.paths(name);
        if local_matches(&paths, &files) {
            return Ok(None);
        }
        if let Ok(local) = std::fs::read(&paths.fullchain)
            && let Some(local) = crate::bundle::leaf_info(&local)
            && local.not_after > checked.info.not_after
        {
            tracing::debug!(certificate = name, local = %local.serial, bucket = %checked.info.serial, "the local certificate expires later than the bucket's; keeping it");
            return Ok(None);
        }
        let paths = self.live.write_files(name, &checked.info.serial, files.for_live_dir()).await?;
        tracing::info!(certificate = name, serial = %checked.info.serial, "installed the certificate stored in the bucket");
        Ok(Some(paths))
    }

    /// The current version as a pair that passed the bundle checks against `expected`
    /// (`StoreError::Untrusted` when it did not); `None` when nothing usable is stored.
    pub async fn fetch_checked(
        &self,
        name: &str,
        expected: &Expected,
    ) -> Result<Option<CheckedPair>, StoreError> {
        let Some(stored) = self.fetch(name).await? else { return Ok(None) };
        let what = format!("{}/{}", name, stored.meta.version);
        Ok(Some(trust::check_pair(&stored.files, expected, &what)?))
    }

    /// Uploads certificates queued while the bucket was unavailable. Records that are done
    /// with (stored, already there, or superseded by a later-expiring one) are removed;
    /// failing ones stay for the next call.
    pub async fn flush_pending(&self) -> Result<Vec<Flushed>, StoreError> {
        if self.remote.is_none() {
            return Ok(Vec::new());
        }
        let records = self.pending.list()?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let layout = self.layout().await?.expect("remote is configured");
        let mut done = Vec::new();
        for record in records {
            let files = record.files();
            let result =
                layout.save(&record.name, &files, &record.info, record.origin, record.overwrite()).await;
            if result.is_ok() {
                self.pending.remove(&record.name, &record.info.serial)?;
            }
            done.push(Flushed { name: record.name, serial: record.info.serial, result });
        }
        Ok(done)
    }

    /// The certificate queued for upload under `name`, if any (planning counts it: it is
    /// the newest this host has when the bucket refuses it).
    pub fn queued_info(&self, name: &str) -> Option<crate::bundle::CertInfo> {
        self.pending.list().ok()?.into_iter().find(|r| r.name == name).map(|r| r.info)
    }

    /// Names with a certificate waiting for upload.
    pub fn pending(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.pending.list()?.into_iter().map(|r| r.name).collect())
    }

    /// `meta.json` of the current version in the bucket, for planning; `None` when nothing
    /// is stored or no bucket is configured.
    pub async fn current(&self, name: &str) -> Result<Option<Meta>, StoreError> {
        match self.layout().await? {
            Some(layout) => layout.current_meta(name).await,
            None => Ok(None),
        }
    }

    /// The current version with every file checked against its SHA-256 (for `pull`).
    pub async fn fetch(&self, name: &str) -> Result<Option<Stored>, StoreError> {
        match self.layout().await? {
            Some(layout) => layout.read_current(name).await,
            None => Ok(None),
        }
    }

    /// Fails with a message saying what to do when the configured bucket does not exist
    /// (some servers answer a read from a missing bucket like a missing object).
    pub async fn check_exists(&self) -> Result<(), StoreError> {
        if let Some(layout) = self.layout().await?
            && let Backend::S3(s3) = layout.store()
            && !s3.bucket_exists().await?
        {
            return Err(StoreError::Bucket {
                bucket: s3.bucket().to_string(),
                endpoint: s3.endpoint().to_string(),
                detail: "the bucket does not exist; run `wildcert bucket setup` or create it".into(),
                transient: false,
            });
        }
        Ok(())
    }

    /// What messages call the shared store.
    pub async fn describe(&self) -> Option<String> {
        match self.layout().await {
            Ok(Some(l)) => Some(l.store().describe()),
            _ => self.remote.as_ref().map(|r| {
                r.config
                    .bucket
                    .as_ref()
                    .map(|b| format!("bucket {b}"))
                    .or_else(|| r.config.shared_dir.as_ref().map(|d| format!("directory {}", d.display())))
                    .unwrap_or_default()
            }),
        }
    }
}

/// Whether the four files in `paths` hold exactly `files`.
pub fn local_matches(paths: &live::LivePaths, files: &CertFiles) -> bool {
    [
        (&paths.privkey, &files.privkey),
        (&paths.fullchain, &files.fullchain),
        (&paths.cert, &files.cert),
        (&paths.chain, &files.chain),
    ]
    .iter()
    .all(|(path, bytes)| std::fs::read(path).is_ok_and(|have| &have == *bytes))
}

/// Certificates made at test time.
#[cfg(test)]
pub(crate) mod testing {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use time::Duration;

    use crate::bundle::{CheckOptions, CheckedPair, Input, check};

    /// A leaf for `*.gradient.example.com` + apex from a throw-away root and intermediate,
    /// valid for `days`; the bundle is the leaf and the intermediate.
    pub fn pair_expiring_in(days: i64) -> CheckedPair {
        let ca = |name: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, name);
            p
        };
        let root_key = KeyPair::generate().unwrap();
        let root = Issuer::new(ca("wildcert test root"), root_key);
        let mid_key = KeyPair::generate().unwrap();
        let mid_params = ca("wildcert test intermediate");
        let mid_cert = mid_params.signed_by(&mid_key, &root).unwrap();
        let mid = Issuer::new(mid_params, mid_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["*.gradient.example.com".into(), "gradient.example.com".into()])
                .unwrap();
        let now = time::OffsetDateTime::now_utc();
        leaf.not_before = now - Duration::days(1);
        leaf.not_after = now + Duration::days(days);
        let cert = leaf.signed_by(&key, &mid).unwrap();
        let bundle = format!("{}{}", cert.pem(), mid_cert.pem());
        let key_pem = key.serialize_pem();
        check(
            Input { label: "key", bytes: key_pem.as_bytes() },
            &[Input { label: "bundle", bytes: bundle.as_bytes() }],
            &CheckOptions::new(vec![]),
        )
        .into_result()
        .unwrap()
    }
}
