//! What wildcert remembers about each certificate between runs: attempts, failures, the
//! CA's renewal window (ARI). `<state_dir>/status/<name>.json`, written atomically. Planning
//! reads it; `status` shows it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The CA's suggested renewal window for one certificate (RFC 9773).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AriWindow {
    /// The certificate it is about (`aki.serial`).
    pub cert_id: String,
    /// The window opens: renew at a jittered time between `start` and `end`.
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// The window closes.
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    /// When to ask again (the CA's Retry-After).
    #[serde(with = "time::serde::rfc3339")]
    pub refetch_at: OffsetDateTime,
    /// The CA's explanation, when it moved the window (e.g. a revocation), for the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_url: Option<String>,
}

/// What kind of failure the last one was: each kind has its own retry schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Network, CA or storage trouble: retried after `retry_min`, doubling.
    #[default]
    Other,
    /// The CA could not validate the challenge (unauthorized, wrong TXT, CAA, DNS errors):
    /// a mistake that rarely fixes itself within minutes, and CAs limit failed validations
    /// (Let's Encrypt: 5 per hour), so retried after `validation_retry_min`, doubling.
    Validation,
    /// The order ceiling held the order back: retried when the window allows.
    Ceiling,
}

/// What this host remembers about one certificate between runs
/// (`<state_dir>/status/<name>.json`): the inputs of planning that are not in the
/// certificate itself, and what `status` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertState {
    /// The last renewal attempt, successful or not.
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<OffsetDateTime>,
    /// The last successful renewal.
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub last_success: Option<OffsetDateTime>,
    /// The last failure's message (no secrets: errors never carry them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Failed attempts in a row; reset by a success.
    #[serde(default)]
    pub failures: u32,
    /// The kind of the last failure (picks the retry schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<FailureKind>,
    /// Not before this time, because the CA said so (429/503 Retry-After).
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<OffsetDateTime>,
    /// The CA's renewal window for the current certificate, when it offers ARI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari: Option<AriWindow>,
    /// Asking for the ARI window failed and the CA said to come back then (capped).
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub ari_retry_at: Option<OffsetDateTime>,
    /// Deploy hook failures in a row.
    #[serde(default)]
    pub hook_failures: u32,
    /// `source = "files"`: digest of the key and bundle files last looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// When new orders were created for it (this host's and those the bucket lease
    /// reported), inside the order ceiling's window: see `ceiling`.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "stamps")]
    pub orders: Vec<OffsetDateTime>,
    /// `source = "files"`: the smallest "days left" threshold already warned about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warned_days: Option<i64>,
    /// The serial (hex, as `CertInfo::serial`) of a certificate `wildcert revoke` revoked:
    /// while it is the one in use, the certificate is due at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_serial: Option<String>,
}

impl CertState {
    /// A renewal succeeded: failures, backoff and the old certificate's window are cleared.
    pub fn record_success(&mut self, now: OffsetDateTime) {
        self.last_attempt = Some(now);
        self.last_success = Some(now);
        self.last_error = None;
        self.failures = 0;
        self.failure_kind = None;
        self.retry_after = None;
        self.ari = None;
    }

    /// A renewal failed with `error` (a message for people); the caller sets the kind.
    pub fn record_failure(
        &mut self,
        now: OffsetDateTime,
        error: String,
        retry_after: Option<OffsetDateTime>,
    ) {
        self.last_attempt = Some(now);
        self.last_error = Some(error);
        self.failures = self.failures.saturating_add(1);
        self.failure_kind = Some(FailureKind::Other);
        self.retry_after = retry_after;
    }
}

/// A list of times as RFC 3339 strings; entries that do not parse are dropped (the file is
/// a cache, and one bad entry must not lose the others).
mod stamps {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    /// Writes the times as RFC 3339 strings.
    pub fn serialize<S: Serializer>(times: &[OffsetDateTime], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(times.iter().filter_map(|t| t.format(&Rfc3339).ok()))
    }

    /// Reads the times, dropping entries that do not parse.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OffsetDateTime>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        Ok(texts.iter().filter_map(|t| OffsetDateTime::parse(t, &Rfc3339).ok()).collect())
    }
}

pub use stamps::{deserialize as deserialize_stamps, serialize as serialize_stamps};

fn path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("status").join(format!("{name}.json"))
}

/// The remembered state, or a fresh one (also when the file is unreadable: the state is a
/// cache of facts that the next attempt re-learns).
pub fn load(state_dir: &Path, name: &str) -> CertState {
    let p = path(state_dir, name);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %p.display(), error = %e, "unreadable certificate state; starting afresh");
            CertState::default()
        }),
        Err(_) => CertState::default(),
    }
}

/// Writes the state of certificate `name`, durably and 0600.
pub fn save(state_dir: &Path, name: &str, state: &CertState) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    Ok(crate::private_file::write_private_atomic(&path(state_dir, name), &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_failure_counting() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let mut s = load(dir.path(), "gradient");
        assert_eq!(s, CertState::default());
        s.record_failure(now, "CA down".into(), None);
        s.record_failure(now, "CA down".into(), None);
        assert_eq!(s.failures, 2);
        save(dir.path(), "gradient", &s).unwrap();
        let back = load(dir.path(), "gradient");
        assert_eq!(back.failures, 2);
        assert_eq!(back.last_error.as_deref(), Some("CA down"));
        let mut ok = back;
        ok.orders = vec![now.replace_nanosecond(0).unwrap()];
        ok.record_success(now);
        assert_eq!(ok.failures, 0);
        assert!(ok.last_error.is_none());
        assert_eq!(ok.orders.len(), 1, "a success does not forget the order history");
        save(dir.path(), "gradient", &ok).unwrap();
        assert_eq!(load(dir.path(), "gradient").orders, ok.orders);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("status/gradient.json")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
