//! The certificate layout every `CertStore` holds, built once on top of the trait:
//!
//! ```text
//! certificates/<name>/<version>/{fullchain,cert,chain,privkey}.pem   immutable
//! certificates/<name>/<version>/meta.json                            SHA-256 of each file, facts
//! certificates/<name>/current.json                                   which version is live
//! ```
//!
//! A writer uploads a complete version folder (if-absent, so nothing is ever overwritten),
//! then switches `current.json` with a conditional write against the ETag it read. A reader
//! follows `current.json`, checks `meta.json` against its SHA-256 and every file against
//! `meta.json`, so it sees one complete pair or an error, never a mix.
//!
//! Version names start with a sequence number one above the version they replace, and old
//! versions are pruned only below the current one. A writer whose version is not above the
//! current one re-uploads under a new name before switching, so pruning can never delete a
//! version somebody is about to switch to.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use super::backend::{CertStore, PutCondition};
use super::live::{CERT, CHAIN, FULLCHAIN, PRIVKEY};
use super::lock::Fence;
use super::trust::{self, Expected, KeyKind};
use super::{Origin, Overwrite, StoreError, sha256_hex};
use crate::bundle::{CertInfo, CheckedPair};

/// The pointer file under `certificates/<name>/` that names the live version; switched
/// only with a conditional write.
pub const CURRENT: &str = "current.json";
/// The description inside each version folder: checksums and facts, nothing secret.
pub const META: &str = "meta.json";
/// The files of a version, in upload order (`meta.json` goes last).
pub const FILES: [&str; 4] = [FULLCHAIN, CERT, CHAIN, PRIVKEY];

const FORMAT: u32 = 1;
/// Switch attempts before a writer that keeps losing gives up and reports.
const MAX_ROUNDS: u32 = 20;
/// Reads of `current.json` before a reader that keeps racing writers gives up.
const READ_ATTEMPTS: u32 = 10;
/// A fencing counter above this was not written by a lease (each lease adds one).
const MAX_FENCING: u64 = 1 << 48;

/// The four PEM files of one certificate, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// `privkey.pem`: the private key; installed 0600 (0640 with `live_group`), redacted from
    /// `Debug`.
    pub privkey: Vec<u8>,
    /// `fullchain.pem`: leaf then intermediates, what most web servers want.
    pub fullchain: Vec<u8>,
    /// `cert.pem`: the leaf alone.
    pub cert: Vec<u8>,
    /// `chain.pem`: the intermediates alone.
    pub chain: Vec<u8>,
}

impl CertFiles {
    /// The four files of a pair that passed the bundle checks, as they are stored.
    pub fn from_pair(pair: &CheckedPair) -> CertFiles {
        CertFiles {
            privkey: pair.key_pem().as_bytes().to_vec(),
            fullchain: pair.fullchain_pem.as_bytes().to_vec(),
            cert: pair.cert_pem.as_bytes().to_vec(),
            chain: pair.chain_pem.as_bytes().to_vec(),
        }
    }

    /// The bytes of one of the `FILES` by name; panics on any other name (a bug, not input).
    pub fn get(&self, file: &str) -> &[u8] {
        match file {
            PRIVKEY => &self.privkey,
            FULLCHAIN => &self.fullchain,
            CERT => &self.cert,
            CHAIN => &self.chain,
            other => panic!("no certificate file named {other}"),
        }
    }

    fn set(&mut self, file: &str, bytes: Vec<u8>) {
        match file {
            PRIVKEY => self.privkey = bytes,
            FULLCHAIN => self.fullchain = bytes,
            CERT => self.cert = bytes,
            CHAIN => self.chain = bytes,
            other => panic!("no certificate file named {other}"),
        }
    }

    /// SHA-256 (hex) of each file.
    pub fn sums(&self) -> BTreeMap<String, String> {
        FILES.iter().map(|f| (f.to_string(), sha256_hex(self.get(f)))).collect()
    }

    /// `(file name, bytes, mode)` for `LiveDir::write_files`.
    pub fn for_live_dir(&self) -> Vec<(&'static str, Vec<u8>, u32)> {
        FILES.iter().map(|f| (*f, self.get(f).to_vec(), if *f == PRIVKEY { 0o600 } else { 0o644 })).collect()
    }
}

impl fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertFiles").field("privkey", &"[redacted]").field("sums", &self.sums()).finish()
    }
}

/// `meta.json`: what a version holds. Never contains anything secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Layout format number (1), so a later layout can be told apart.
    pub format: u32,
    /// The certificate's `[[certificate]] name`; a reader refuses a `meta.json` for another.
    pub name: String,
    /// The version folder this describes; must match the one `current.json` names.
    pub version: String,
    /// One above the sequence of the version this one replaced.
    pub sequence: u64,
    /// The leaf's serial (lower-case hex), to tell a re-upload of the same certificate.
    pub serial: String,
    /// The names the leaf covers, for `status` and planning.
    pub names: Vec<String>,
    /// Start of the leaf's validity; with `not_after` it gives the lifetime planning uses.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of the leaf's validity: when renewal is due and which of two versions wins.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The leaf's issuer DN, for `status`.
    pub issuer: String,
    /// RFC 9773 certificate identifier for asking the CA's renewal info, when the leaf has one.
    pub ari_id: Option<String>,
    /// Whether the version was issued by ACME or imported from files.
    pub source: Origin,
    /// Fencing token of the renewal lock the writer held (0: written without a lock).
    pub fencing: u64,
    /// When the writer uploaded the version (its own clock; for people, never compared).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The host that wrote the version (`host_name`), for people tracing a fleet.
    pub host: String,
    /// SHA-256 (hex) of each file in the version folder.
    pub sha256: BTreeMap<String, String>,
}

/// `current.json`: the pointer readers follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    /// Layout format number (1), so a later layout can be told apart.
    pub format: u32,
    /// The version folder readers follow.
    pub version: String,
    /// The sequence that version carries; versions below it may be pruned.
    pub sequence: u64,
    /// SHA-256 (hex) of the version's `meta.json`.
    pub meta_sha256: String,
    /// The current leaf's serial, so a writer sees "already current" without reading more.
    pub serial: String,
    /// The current leaf's expiry, so a writer can keep a later-expiring certificate.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// When the pointer was switched (the writer's clock; for people, never compared).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The host that switched it (`host_name`).
    pub host: String,
    /// The highest renewal-lock fencing counter a switch carried so far (never decreases).
    #[serde(default)]
    pub fencing: u64,
}

/// A complete, verified version.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The pointer that led to this version.
    pub current: Current,
    /// The version's `meta.json`, whose checksums the files matched.
    pub meta: Meta,
    /// The four PEM files; still to pass the bundle checks before they are installed.
    pub files: CertFiles,
}

/// What `Layout::save` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// The new version is current now.
    Stored {
        /// The version folder `current.json` names now.
        version: String,
        /// The pointer it replaced, `None` for the first version.
        replaced: Option<Current>,
        /// How many old version folders were deleted (beyond `keep_versions`).
        pruned: usize,
    },
    /// The same certificate (serial) was already current.
    AlreadyCurrent {
        /// The bucket's pointer, unchanged.
        current: Current,
    },
    /// The current certificate expires later than this one; it stays (`Overwrite::Always`
    /// replaces it).
    Kept {
        /// The bucket's pointer to the later-expiring version.
        current: Current,
    },
}

/// `current.json` as read by `Layout::read_pointer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pointer {
    /// Nothing stored under the name yet.
    Absent,
    /// A well-formed pointer and its ETag.
    Usable(Current, String),
    /// Present but unreadable or implausible: a writer replaces exactly this copy (if-match
    /// on its ETag), a reader treats the certificate as not stored.
    Unusable {
        /// The ETag of the bad copy, for the if-match that replaces it.
        etag: String,
        /// What is wrong with it, for the warning.
        reason: String,
    },
}

impl Pointer {
    /// The pointer and its ETag when it is well-formed.
    pub fn usable(&self) -> Option<(&Current, &str)> {
        match self {
            Pointer::Usable(c, etag) => Some((c, etag)),
            _ => None,
        }
    }
}

/// The layout on top of one backend.
#[derive(Debug, Clone)]
pub struct Layout<S> {
    store: S,
    keep_versions: usize,
    host: String,
}

/// Certificate names become key parts: the same rule as `[[certificate]] name`.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    crate::names::validate_certificate_name(name)
        .map_err(|detail| StoreError::Config { key: "certificate name".into(), detail })
}

fn folder(name: &str) -> String {
    format!("certificates/{name}/")
}

fn key(name: &str, version: &str, file: &str) -> String {
    format!("certificates/{name}/{version}/{file}")
}

fn current_key(name: &str) -> String {
    format!("certificates/{name}/{CURRENT}")
}

fn version_name(sequence: u64, serial: &str) -> String {
    let stamp = OffsetDateTime::now_utc()
        .format(format_description!("[year][month][day]T[hour][minute][second]Z"))
        .expect("static format");
    let serial: String = serial.chars().take(12).collect();
    format!("{sequence:010}-{stamp}-{serial}-{:04x}", rand::random::<u16>())
}

/// This machine's name (see `crate::host`): who wrote a version.
pub use crate::host::host_name;

fn corrupt(what: String, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what, detail: detail.into() }
}

/// A version folder uploaded by this writer, not yet (or no longer) current.
struct Uploaded {
    version: String,
    sequence: u64,
    meta_sha256: String,
}

impl<S: CertStore> Layout<S> {
    /// The layout on `store`, keeping `storage.keep_versions` versions (at least one).
    pub fn new(store: S, keep_versions: usize) -> Layout<S> {
        Layout { store, keep_versions: keep_versions.max(1), host: host_name() }
    }

    /// The backend, for objects outside the layout (locks, notes).
    pub fn store(&self) -> &S {
        &self.store
    }

    fn at(&self, key: &str) -> String {
        format!("{} {key}", self.store.describe())
    }

    /// `current.json` and its ETag, or `None` when nothing usable is stored under `name`
    /// (nothing at all, or a pointer that is unreadable or fails the checks of
    /// `read_pointer`: logged, and read as "no current version" so that one bad object
    /// cannot stop every host).
    pub async fn current(&self, name: &str) -> Result<Option<(Current, String)>, StoreError> {
        match self.read_pointer(name).await? {
            Pointer::Absent => Ok(None),
            Pointer::Usable(current, etag) => Ok(Some((current, etag))),
            Pointer::Unusable { reason, .. } => {
                tracing::warn!(
                    certificate = name,
                    key = %self.at(&current_key(name)),
                    reason = %reason,
                    "current.json is unusable; treating the certificate as not stored (the next store replaces it)"
                );
                Ok(None)
            }
        }
    }

    /// `current.json` as read, checked: it must parse, and its version name must be one this
    /// program writes (it becomes part of object keys), with the sequence it claims.
    pub async fn read_pointer(&self, name: &str) -> Result<Pointer, StoreError> {
        check_name(name)?;
        let key = current_key(name);
        let Some(obj) = self.store.get(&key).await? else { return Ok(Pointer::Absent) };
        let current: Current = match serde_json::from_slice(&obj.bytes) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Pointer::Unusable {
                    etag: obj.etag,
                    reason: format!("not a valid current.json: {e}"),
                });
            }
        };
        let reason = match trust::check_version_name(&current.version) {
            Err(e) => Some(e.to_string()),
            Ok(sequence) if sequence != current.sequence => {
                Some(format!("version {} does not carry its sequence {}", current.version, current.sequence))
            }
            Ok(_) if current.fencing > MAX_FENCING => {
                Some(format!("fencing {} is implausible", current.fencing))
            }
            Ok(_) => None,
        };
        Ok(match reason {
            Some(reason) => Pointer::Unusable { etag: obj.etag, reason },
            None => Pointer::Usable(current, obj.etag),
        })
    }

    /// The current version's `meta.json` (checked against `current.json`), for planning.
    pub async fn current_meta(&self, name: &str) -> Result<Option<Meta>, StoreError> {
        for attempt in 1..=READ_ATTEMPTS {
            let Some((current, _)) = self.current(name).await? else { return Ok(None) };
            match self.read_meta(name, &current).await {
                Ok(meta) => return Ok(Some(meta)),
                Err(e) if attempt < READ_ATTEMPTS && self.moved_on(name, &current).await? => {
                    tracing::debug!("current version of {name} changed while reading it: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The current version with every file verified, or `None` when nothing was stored.
    pub async fn read_current(&self, name: &str) -> Result<Option<Stored>, StoreError> {
        for attempt in 1..=READ_ATTEMPTS {
            let Some((current, _)) = self.current(name).await? else { return Ok(None) };
            match self.read_version(name, &current).await {
                Ok(stored) => return Ok(Some(stored)),
                Err(e) if attempt < READ_ATTEMPTS && self.moved_on(name, &current).await? => {
                    tracing::debug!("current version of {name} changed while reading it: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Whether `current.json` points somewhere else than `seen` now.
    async fn moved_on(&self, name: &str, seen: &Current) -> Result<bool, StoreError> {
        Ok(self.current(name).await?.is_some_and(|(now, _)| now.version != seen.version))
    }

    async fn read_meta(&self, name: &str, current: &Current) -> Result<Meta, StoreError> {
        let meta_key = key(name, &current.version, META);
        let obj =
            self.store.get(&meta_key).await?.ok_or_else(|| {
                corrupt(self.at(&meta_key), "missing, but current.json points to its version")
            })?;
        let sum = sha256_hex(&obj.bytes);
        if sum != current.meta_sha256 {
            return Err(corrupt(
                self.at(&meta_key),
                format!("SHA-256 is {sum}, current.json says {}", current.meta_sha256),
            ));
        }
        let meta: Meta = serde_json::from_slice(&obj.bytes)
            .map_err(|e| corrupt(self.at(&meta_key), format!("not a valid meta.json: {e}")))?;
        if meta.version != current.version || meta.name != name {
            return Err(corrupt(
                self.at(&meta_key),
                format!("describes {}/{}, not {name}/{}", meta.name, meta.version, current.version),
            ));
        }
        Ok(meta)
    }

    async fn read_version(&self, name: &str, current: &Current) -> Result<Stored, StoreError> {
        let meta = self.read_meta(name, current).await?;
        let mut files = CertFiles { privkey: vec![], fullchain: vec![], cert: vec![], chain: vec![] };
        for file in FILES {
            let k = key(name, &current.version, file);
            let obj = self.store.get(&k).await?.ok_or_else(|| corrupt(self.at(&k), "missing"))?;
            let want =
                meta.sha256.get(file).ok_or_else(|| corrupt(self.at(&k), "not listed in meta.json"))?;
            let sum = sha256_hex(&obj.bytes);
            if &sum != want {
                return Err(corrupt(self.at(&k), format!("SHA-256 is {sum}, meta.json says {want}")));
            }
            files.set(file, obj.bytes);
        }
        Ok(Stored { current: current.clone(), meta, files })
    }

    /// Stores a certificate as a new version and makes it current, unless the current one
    /// is the same or expires strictly later (`Overwrite::Always` replaces a later-expiring one
    /// that was current when the save began). Concurrent writers: one wins each switch; a loser re-reads and
    /// tries again while its certificate is still the better one.
    pub async fn save(
        &self,
        name: &str,
        files: &CertFiles,
        info: &CertInfo,
        origin: Origin,
        overwrite: Overwrite,
    ) -> Result<SaveOutcome, StoreError> {
        self.save_fenced(name, files, info, origin, overwrite, &Fence::none()).await
    }

    /// `save` by the holder of the renewal lock `fence`: refused when a holder of a later
    /// lock already switched `current.json`, or when the lease cannot be extended right
    /// before the switch (it was taken over while this writer worked), so a stale writer is
    /// stopped before the new holder can have switched. `Fence::none()` is an operator's
    /// unlocked write.
    ///
    /// The version `current.json` points to is judged by its own files, run through the
    /// bundle checks against this certificate's names and key type, never by the facts
    /// `current.json` claims: a version that fails them (or a `current.json` that cannot be
    /// read) is replaced, with a warning, by exactly the copy that was read.
    pub async fn save_fenced(
        &self,
        name: &str,
        files: &CertFiles,
        info: &CertInfo,
        origin: Origin,
        overwrite: Overwrite,
        fence: &Fence,
    ) -> Result<SaveOutcome, StoreError> {
        check_name(name)?;
        let fencing = fence.counter();
        let expected = Expected { names: info.names.clone(), key: KeyKind::of_leaf(&files.cert) };
        let mut uploaded: Option<Uploaded> = None;
        // `Overwrite::Always` overrides only the certificate seen at the start, never one that another
        // writer stores while this save runs.
        let mut forced_over: Option<String> = None;
        for round in 1..=MAX_ROUNDS {
            let pointer = self.read_pointer(name).await?;
            // The current version, when it is a pair that could stand in for this one.
            let standing = match &pointer {
                Pointer::Usable(current, _) => self.judge(name, current, &expected).await,
                Pointer::Absent => None,
                Pointer::Unusable { reason, .. } => {
                    tracing::warn!(
                        certificate = name,
                        key = %self.at(&current_key(name)),
                        reason = %reason,
                        "current.json is unusable; replacing exactly the copy read"
                    );
                    None
                }
            };
            if let (Some((current, _)), Some(_)) = (pointer.usable(), &standing)
                && fencing > 0
                && current.fencing > fencing
            {
                self.discard(name, uploaded.take()).await;
                return Err(StoreError::Fenced {
                    key: self.at(&current_key(name)),
                    ours: fencing,
                    current: current.fencing,
                });
            }
            if let (Some((current, _)), Some(stored)) = (pointer.usable(), &standing) {
                if round == 1 && overwrite == Overwrite::Always {
                    forced_over = Some(current.version.clone());
                }
                // An equal expiry is not worse: a re-issue within the same second replaces.
                let worse = info.not_after < stored.not_after;
                let forced = forced_over.as_deref() == Some(current.version.as_str());
                if stored.serial == info.serial || (worse && !forced) {
                    self.discard(name, uploaded.take()).await;
                    return Ok(if stored.serial == info.serial {
                        SaveOutcome::AlreadyCurrent { current: current.clone() }
                    } else {
                        SaveOutcome::Kept { current: current.clone() }
                    });
                }
            }
            let next_sequence = match &pointer {
                Pointer::Usable(c, _) => c.sequence + 1,
                Pointer::Absent => 1,
                // The sequence must still grow: continue above every version listed.
                Pointer::Unusable { .. } => self.highest_sequence(name).await + 1,
            };
            if uploaded.as_ref().is_none_or(|u| u.sequence < next_sequence) {
                self.discard(name, uploaded.take()).await;
                uploaded = Some(self.upload(name, next_sequence, files, info, origin, fencing).await?);
                crate::failpoint::hit("uploading").await;
            }
            let up = uploaded.as_ref().expect("uploaded above");
            // Only a version that passed the checks carries its fencing counter forward.
            let seen_fencing = match (pointer.usable(), &standing) {
                (Some((c, _)), Some(_)) => c.fencing,
                _ => 0,
            };
            let new = Current {
                format: FORMAT,
                version: up.version.clone(),
                sequence: up.sequence,
                meta_sha256: up.meta_sha256.clone(),
                serial: info.serial.clone(),
                not_after: info.not_after,
                updated_at: OffsetDateTime::now_utc(),
                host: self.host.clone(),
                fencing: fencing.max(seen_fencing),
            };
            let body = serde_json::to_vec_pretty(&new).expect("serializable");
            let condition = match &pointer {
                Pointer::Usable(_, etag) | Pointer::Unusable { etag, .. } => {
                    PutCondition::IfMatch(etag.clone())
                }
                Pointer::Absent => PutCondition::IfAbsent,
            };
            if let Err(e) = fence.confirm(&self.store).await {
                self.discard(name, uploaded.take()).await;
                return Err(e);
            }
            match self.store.put(&current_key(name), body, condition).await {
                Ok(_) => {
                    let pruned = self.prune(name, &new).await;
                    tracing::info!(
                        certificate = name,
                        version = %new.version,
                        serial = %new.serial,
                        "stored in {}",
                        self.store.describe()
                    );
                    return Ok(SaveOutcome::Stored {
                        version: new.version,
                        replaced: pointer.usable().map(|(c, _)| c.clone()),
                        pruned,
                    });
                }
                Err(StoreError::ConditionFailed { .. }) => {
                    tracing::debug!(certificate = name, round, "another writer switched current.json first");
                    let jitter = rand::random::<u64>() % (20 * u64::from(round.min(10)));
                    tokio::time::sleep(Duration::from_millis(5 + jitter)).await;
                }
                // The switch may or may not have happened: leave the version for a retry to find.
                Err(e) => return Err(e),
            }
        }
        self.discard(name, uploaded.take()).await;
        Err(StoreError::ConditionFailed { key: self.at(&current_key(name)) })
    }

    /// The leaf facts of the version `current` points to, when its files are complete and
    /// pass the bundle checks against `expected`; `None` (logged) otherwise.
    async fn judge(&self, name: &str, current: &Current, expected: &Expected) -> Option<CertInfo> {
        let what = self.at(&folder(name)) + &current.version;
        let stored = match self.read_version(name, current).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(certificate = name, error = %e, "the current version cannot be read; replacing it");
                return None;
            }
        };
        match trust::check_pair(&stored.files, expected, &what) {
            Ok(pair) => Some(pair.info),
            Err(e) => {
                tracing::warn!(certificate = name, error = %e, "the current version is refused; replacing it");
                None
            }
        }
    }

    /// The highest sequence among the well-named versions listed under `name` (0 when none).
    async fn highest_sequence(&self, name: &str) -> u64 {
        let keys = self.store.list(&folder(name)).await.unwrap_or_default();
        keys.iter()
            .filter_map(|k| k.get(folder(name).len()..)?.split_once('/'))
            .filter_map(|(version, _)| trust::check_version_name(version).ok())
            .max()
            .unwrap_or(0)
    }

    /// Uploads a complete version folder, `meta.json` last; returns its name and the
    /// SHA-256 of its `meta.json`.
    async fn upload(
        &self,
        name: &str,
        sequence: u64,
        files: &CertFiles,
        info: &CertInfo,
        origin: Origin,
        fencing: u64,
    ) -> Result<Uploaded, StoreError> {
        'fresh_name: loop {
            let version = version_name(sequence, &info.serial);
            let meta = Meta {
                format: FORMAT,
                name: name.to_string(),
                version: version.clone(),
                sequence,
                serial: info.serial.clone(),
                names: info.names.clone(),
                not_before: info.not_before,
                not_after: info.not_after,
                issuer: info.issuer.clone(),
                ari_id: info.ari_id.clone(),
                source: origin,
                fencing,
                created_at: OffsetDateTime::now_utc(),
                host: self.host.clone(),
                sha256: files.sums(),
            };
            let meta_bytes = serde_json::to_vec_pretty(&meta).expect("serializable");
            let meta_sha256 = sha256_hex(&meta_bytes);
            let uploads =
                FILES.iter().map(|f| (*f, files.get(f).to_vec())).chain(std::iter::once((META, meta_bytes)));
            for (file, bytes) in uploads {
                match self.store.put(&key(name, &version, file), bytes, PutCondition::IfAbsent).await {
                    Ok(_) => {}
                    // Another writer picked the same name: never mix files, start over.
                    Err(StoreError::ConditionFailed { .. }) => continue 'fresh_name,
                    Err(e) => return Err(e),
                }
            }
            return Ok(Uploaded { version, sequence, meta_sha256 });
        }
    }

    /// Deletes a version this writer uploaded but did not make current (best effort).
    async fn discard(&self, name: &str, uploaded: Option<Uploaded>) {
        if let Some(up) = uploaded
            && let Err(e) = self.delete_version(name, &up.version).await
        {
            tracing::warn!("could not remove unused version {}: {e}", up.version);
        }
    }

    async fn delete_version(&self, name: &str, version: &str) -> Result<(), StoreError> {
        // meta.json first: a half-deleted folder then reads as incomplete.
        for file in std::iter::once(META).chain(FILES) {
            self.store.delete(&key(name, version, file), None).await?;
        }
        Ok(())
    }

    /// Keeps `current` and the newest `keep_versions - 1` complete versions below it;
    /// deletes the rest below it. Versions above it (a writer mid-switch) are left alone.
    /// Returns how many versions were deleted; failures are logged, not fatal.
    async fn prune(&self, name: &str, current: &Current) -> usize {
        let keys = match self.store.list(&folder(name)).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!("could not list old versions of {name}: {e}");
                return 0;
            }
        };
        let mut complete = BTreeSet::new();
        let mut versions = BTreeSet::new();
        for k in &keys {
            let rest = &k[folder(name).len()..];
            if let Some((version, file)) = rest.split_once('/') {
                if trust::check_version_name(version).is_err() {
                    tracing::warn!(certificate = name, key = %k, "ignoring an object whose version name wildcert does not write");
                    continue;
                }
                versions.insert(version.to_string());
                if file == META {
                    complete.insert(version.to_string());
                }
            }
        }
        let below: Vec<&String> = versions.iter().filter(|v| v.as_str() < current.version.as_str()).collect();
        let keep: BTreeSet<&String> = below
            .iter()
            .rev()
            .filter(|v| complete.contains(**v))
            .take(self.keep_versions - 1)
            .copied()
            .collect();
        let mut deleted = 0;
        for version in below {
            if keep.contains(version) {
                continue;
            }
            match self.delete_version(name, version).await {
                Ok(()) => deleted += 1,
                Err(e) => tracing::warn!("could not delete old version {version} of {name}: {e}"),
            }
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dir::DirStore;
    use crate::store::testing::pair_expiring_in;

    fn layout(dir: &tempfile::TempDir, keep: usize) -> Layout<DirStore> {
        Layout::new(DirStore::new(dir.path().join("share")), keep)
    }

    async fn save(l: &Layout<DirStore>, pair: &CheckedPair, overwrite: Overwrite) -> SaveOutcome {
        l.save("gradient", &CertFiles::from_pair(pair), &pair.info, Origin::Acme, overwrite).await.unwrap()
    }

    #[tokio::test]
    async fn stores_reads_back_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir, 5);
        assert!(l.read_current("gradient").await.unwrap().is_none());
        let pair = pair_expiring_in(90);
        let SaveOutcome::Stored { version, replaced: None, pruned: 0 } =
            save(&l, &pair, Overwrite::IfNewer).await
        else {
            panic!("first save stores")
        };
        let stored = l.read_current("gradient").await.unwrap().unwrap();
        assert_eq!(stored.meta.version, version);
        assert_eq!(stored.files, CertFiles::from_pair(&pair));
        assert_eq!(stored.meta.serial, pair.info.serial);
        assert_eq!(stored.meta.sequence, 1);
        let meta_text =
            String::from_utf8(l.store().get(&key("gradient", &version, META)).await.unwrap().unwrap().bytes)
                .unwrap();
        assert!(!meta_text.contains("PRIVATE KEY"), "meta.json holds no key");
        assert!(matches!(save(&l, &pair, Overwrite::IfNewer).await, SaveOutcome::AlreadyCurrent { .. }));
    }

    #[tokio::test]
    async fn never_replaces_with_a_worse_certificate_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir, 5);
        let long = pair_expiring_in(90);
        let short = pair_expiring_in(30);
        save(&l, &long, Overwrite::IfNewer).await;
        assert!(matches!(save(&l, &short, Overwrite::IfNewer).await, SaveOutcome::Kept { .. }));
        assert_eq!(l.read_current("gradient").await.unwrap().unwrap().meta.serial, long.info.serial);
        assert!(matches!(save(&l, &short, Overwrite::Always).await, SaveOutcome::Stored { .. }));
        assert_eq!(l.read_current("gradient").await.unwrap().unwrap().meta.serial, short.info.serial);
        // The same expiry (a re-issue within the same second) is not worse.
        let twin = pair_expiring_in(30);
        assert!(matches!(save(&l, &twin, Overwrite::IfNewer).await, SaveOutcome::Stored { .. }));
        // Nothing of the kept attempt is left behind.
        let versions: BTreeSet<String> = l
            .store()
            .list("certificates/gradient/")
            .await
            .unwrap()
            .iter()
            .filter_map(|k| k.split('/').nth(2).map(str::to_string))
            .filter(|v| v != CURRENT)
            .collect();
        assert_eq!(versions.len(), 3, "{versions:?}");
    }

    #[tokio::test]
    async fn keeps_only_the_newest_versions() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir, 2);
        let mut last = None;
        for days in [30, 40, 50, 60] {
            let pair = pair_expiring_in(days);
            let outcome = save(&l, &pair, Overwrite::IfNewer).await;
            last = Some((pair, outcome));
        }
        let (pair, outcome) = last.unwrap();
        assert!(matches!(outcome, SaveOutcome::Stored { pruned: 1, .. }), "{outcome:?}");
        let keys = l.store().list("certificates/gradient/").await.unwrap();
        assert_eq!(keys.len(), 1 + 2 * 5, "{keys:?}");
        let stored = l.read_current("gradient").await.unwrap().unwrap();
        assert_eq!(stored.meta.serial, pair.info.serial);
        assert_eq!(stored.meta.sequence, 4);
    }

    #[tokio::test]
    async fn a_tampered_file_is_reported_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir, 5);
        let pair = pair_expiring_in(90);
        let SaveOutcome::Stored { version, .. } = save(&l, &pair, Overwrite::IfNewer).await else { panic!() };
        l.store().put(&key("gradient", &version, CHAIN), b"junk".to_vec(), PutCondition::Any).await.unwrap();
        let err = l.read_current("gradient").await.unwrap_err().to_string();
        assert!(err.contains("chain.pem") && err.contains("SHA-256"), "{err}");
    }

    #[tokio::test]
    async fn a_corrupt_current_json_reads_as_absent_and_the_next_writer_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir, 5);
        let first = pair_expiring_in(30);
        save(&l, &first, Overwrite::IfNewer).await;
        let garbage = b"{\"format\": 1, \"version\": ".to_vec();
        l.store().put(&current_key("gradient"), garbage, PutCondition::Any).await.unwrap();
        assert!(matches!(l.read_pointer("gradient").await.unwrap(), Pointer::Unusable { .. }));
        assert!(l.current("gradient").await.unwrap().is_none(), "a reader sees no usable version");
        assert!(l.read_current("gradient").await.unwrap().is_none());
        assert!(l.current_meta("gradient").await.unwrap().is_none());
        let second = pair_expiring_in(20);
        let SaveOutcome::Stored { version, replaced: None, .. } = save(&l, &second, Overwrite::IfNewer).await
        else {
            panic!("the writer replaces the unusable pointer")
        };
        let stored = l.read_current("gradient").await.unwrap().unwrap();
        assert_eq!(stored.meta.serial, second.info.serial);
        assert_eq!(stored.meta.sequence, 2, "the sequence continues above the versions listed: {version}");
    }

    #[tokio::test]
    async fn a_version_name_that_leaves_the_folder_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir, 5);
        let pair = pair_expiring_in(30);
        save(&l, &pair, Overwrite::IfNewer).await;
        let (mut current, _) = l.current("gradient").await.unwrap().unwrap();
        current.version = "../../locks".into();
        let body = serde_json::to_vec(&current).unwrap();
        l.store().put(&current_key("gradient"), body, PutCondition::Any).await.unwrap();
        let Pointer::Unusable { reason, .. } = l.read_pointer("gradient").await.unwrap() else {
            panic!("a `..` version was accepted")
        };
        assert!(reason.contains("../../locks"), "{reason}");
        assert!(l.read_current("gradient").await.unwrap().is_none());
        // A well-formed name whose sequence is not the one claimed (an overflow of the next
        // sequence is then impossible too).
        current.version = "0000000007-20261202T221500Z-0a1b-09af".into();
        current.sequence = u64::MAX;
        let body = serde_json::to_vec(&current).unwrap();
        l.store().put(&current_key("gradient"), body, PutCondition::Any).await.unwrap();
        let Pointer::Unusable { reason, .. } = l.read_pointer("gradient").await.unwrap() else {
            panic!("a sequence mismatch was accepted")
        };
        assert!(reason.contains("does not carry its sequence"), "{reason}");
        let next = pair_expiring_in(40);
        assert!(matches!(save(&l, &next, Overwrite::IfNewer).await, SaveOutcome::Stored { .. }));
        assert_eq!(l.read_current("gradient").await.unwrap().unwrap().meta.sequence, 2);
    }

    #[tokio::test]
    async fn a_later_not_after_in_current_json_does_not_keep_the_stored_version() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir, 5);
        let old = pair_expiring_in(10);
        save(&l, &old, Overwrite::IfNewer).await;
        let (mut current, _) = l.current("gradient").await.unwrap().unwrap();
        current.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
        let body = serde_json::to_vec(&current).unwrap();
        l.store().put(&current_key("gradient"), body, PutCondition::Any).await.unwrap();
        let renewed = pair_expiring_in(60);
        assert!(
            matches!(save(&l, &renewed, Overwrite::IfNewer).await, SaveOutcome::Stored { .. }),
            "judged by the stored leaf (10 days), not current.json"
        );
        assert_eq!(l.read_current("gradient").await.unwrap().unwrap().meta.serial, renewed.info.serial);
    }

    #[tokio::test]
    async fn a_current_version_that_fails_the_checks_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(&dir, 5);
        let first = pair_expiring_in(90);
        let SaveOutcome::Stored { version, .. } = save(&l, &first, Overwrite::IfNewer).await else {
            panic!()
        };
        // A writer of the bucket swaps in another key (and fixes up the sums to match).
        let stranger = pair_expiring_in(90);
        let key_pem = stranger.key_pem().as_bytes().to_vec();
        l.store().put(&key("gradient", &version, PRIVKEY), key_pem.clone(), PutCondition::Any).await.unwrap();
        let meta_key = key("gradient", &version, META);
        let mut meta: Meta =
            serde_json::from_slice(&l.store().get(&meta_key).await.unwrap().unwrap().bytes).unwrap();
        meta.sha256.insert(PRIVKEY.into(), sha256_hex(&key_pem));
        let meta_bytes = serde_json::to_vec(&meta).unwrap();
        l.store().put(&meta_key, meta_bytes.clone(), PutCondition::Any).await.unwrap();
        let (mut current, _) = l.current("gradient").await.unwrap().unwrap();
        current.meta_sha256 = sha256_hex(&meta_bytes);
        l.store()
            .put(&current_key("gradient"), serde_json::to_vec(&current).unwrap(), PutCondition::Any)
            .await
            .unwrap();
        let shorter = pair_expiring_in(30);
        assert!(matches!(save(&l, &shorter, Overwrite::IfNewer).await, SaveOutcome::Stored { .. }));
        assert_eq!(l.read_current("gradient").await.unwrap().unwrap().meta.serial, shorter.info.serial);
    }

    #[tokio::test]
    async fn concurrent_writers_end_with_the_best_complete_version() {
        let dir = tempfile::tempdir().unwrap();
        let l = std::sync::Arc::new(layout(&dir, 2));
        let pairs: Vec<CheckedPair> = (0..8).map(|i| pair_expiring_in(30 + i)).collect();
        let best = pairs.last().unwrap().info.serial.clone();
        let mut tasks = Vec::new();
        for pair in pairs {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                l.save("gradient", &CertFiles::from_pair(&pair), &pair.info, Origin::Acme, Overwrite::IfNewer)
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let stored = l.read_current("gradient").await.unwrap().unwrap();
        assert_eq!(stored.meta.serial, best);
    }
}
