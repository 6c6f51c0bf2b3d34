//! Revocation notices in the bucket. `wildcert revoke` runs on one host, but every host of a
//! bucket serves the certificate: the revoking host leaves a notice naming the revoked serial,
//! and each host, when it plans, treats the certificate in use as due at once if its serial is
//! the one named. The notice is untrusted input like everything in the bucket: it can only
//! make the certificate in use (the exact serial) due, which the order ceiling bounds, and an
//! oversized or unreadable notice is ignored with a log line.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{Storage, StoreError};

/// Far more than a notice wildcert writes; anything bigger is not read.
const MAX_NOTICE_BYTES: usize = 4096;

/// What the revoking host leaves for the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The revoked certificate's serial, hex as `CertInfo::serial` gives it.
    pub serial: String,
    /// When the CA confirmed the revocation.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// The host that revoked it, for the log line of the others.
    pub host: String,
}

/// The notice's key under the bucket's team folder.
fn key(cert: &str) -> String {
    format!("revoked/{cert}.json")
}

/// Leaves the notice for `cert` in the bucket (no-op without one).
pub async fn publish(storage: &Storage, cert: &str, notice: &Notice) -> Result<(), StoreError> {
    let body = serde_json::to_vec(notice).expect("a notice serializes");
    storage.put_note(&key(cert), Some(body)).await
}

/// The notice for `cert` in the bucket, if there is a readable one.
pub async fn read(storage: &Storage, cert: &str) -> Option<Notice> {
    let key = key(cert);
    match storage.get_note(&key).await {
        Ok(Some(bytes)) if bytes.len() > MAX_NOTICE_BYTES => {
            tracing::warn!(
                cert,
                key,
                bytes = bytes.len(),
                "the revocation notice in the bucket is far larger than wildcert writes; ignored"
            );
            None
        }
        Ok(Some(bytes)) => match serde_json::from_slice::<Notice>(&bytes) {
            Ok(notice) if is_serial(&notice.serial) => Some(notice),
            Ok(_) => {
                tracing::warn!(
                    cert,
                    key,
                    "the revocation notice in the bucket names no valid serial; ignored"
                );
                None
            }
            Err(e) => {
                tracing::warn!(cert, key, error = %e, "the revocation notice in the bucket is not valid; ignored");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::debug!(cert, error = %e, "cannot read the revocation notice in the bucket");
            None
        }
    }
}

/// A certificate serial as wildcert writes it: 1 to 40 hex digits (RFC 5280 §4.1.2.2 allows
/// 20 octets).
fn is_serial(text: &str) -> bool {
    (1..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Applies a notice to a certificate's remembered state: when it names the serial in use and
/// the state does not know yet, records the revocation (so the plan makes it due at once) and
/// says so. Returns whether the state changed.
pub fn apply(notice: Option<&Notice>, serial_in_use: &str, revoked_serial: &mut Option<String>) -> bool {
    let Some(notice) = notice else { return false };
    if !notice.serial.eq_ignore_ascii_case(serial_in_use)
        || revoked_serial.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(serial_in_use))
    {
        return false;
    }
    tracing::warn!(
        serial = serial_in_use,
        by = %notice.host,
        revoked_at = %notice.revoked_at,
        "the certificate in use was revoked on another host (notice in the bucket); renewing it now"
    );
    *revoked_serial = Some(serial_in_use.to_string());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(serial: &str) -> Notice {
        Notice { serial: serial.into(), revoked_at: OffsetDateTime::UNIX_EPOCH, host: "host-a".into() }
    }

    #[test]
    fn a_notice_for_the_serial_in_use_makes_it_revoked_once() {
        let mut revoked = None;
        assert!(apply(Some(&notice("0A1B")), "0a1b", &mut revoked));
        assert_eq!(revoked.as_deref(), Some("0a1b"));
        assert!(!apply(Some(&notice("0A1B")), "0a1b", &mut revoked), "already known");
    }

    #[test]
    fn a_notice_for_another_serial_changes_nothing() {
        let mut revoked = None;
        assert!(!apply(Some(&notice("ff")), "0a1b", &mut revoked));
        assert!(!apply(None, "0a1b", &mut revoked));
        assert_eq!(revoked, None);
    }

    #[test]
    fn serials_are_hex_of_bounded_length() {
        assert!(is_serial("0a1B"));
        assert!(!is_serial(""));
        assert!(!is_serial("../x"));
        assert!(!is_serial(&"a".repeat(41)));
    }
}
