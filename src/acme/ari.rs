//! ACME Renewal Information (RFC 9773): the CA's suggested renewal window for a certificate.

use std::borrow::Cow;

use instant_acme::{Account, CertificateIdentifier};
use time::OffsetDateTime;

use crate::state::AriWindow;

/// Parses the `aki.serial` identifier kept in `CertInfo::ari_id`.
pub fn identifier(ari_id: &str) -> Option<CertificateIdentifier<'static>> {
    let (aki, serial) = ari_id.split_once('.')?;
    if aki.is_empty() || serial.is_empty() || serial.contains('.') {
        return None;
    }
    Some(CertificateIdentifier {
        authority_key_identifier: Cow::Owned(aki.to_string()),
        serial: Cow::Owned(serial.to_string()),
    })
}

/// Asks the CA for the window: `Ok(None)` when the CA does not offer ARI; `Err` with the
/// CA's Retry-After (if it sent one) when asking failed. Errors are logged; planning then
/// falls back to the lifetime rule.
pub async fn fetch(
    account: &Account,
    ari_id: &str,
    now: OffsetDateTime,
) -> Result<Option<AriWindow>, Option<std::time::Duration>> {
    let Some(id) = identifier(ari_id) else { return Ok(None) };
    let (result, retry_after) = super::http::capture_retry_after(async {
        let result = account.renewal_info(&id).await;
        (result, super::http::last_retry_after())
    })
    .await;
    match result {
        Ok((info, retry_after)) => {
            let window = AriWindow {
                cert_id: ari_id.to_string(),
                start: info.suggested_window.start,
                end: info.suggested_window.end,
                // Ask again when told; at least hourly, at most daily (RFC 9773 §4.3).
                refetch_at: crate::plan::after(
                    now,
                    retry_after
                        .clamp(std::time::Duration::from_secs(60), std::time::Duration::from_secs(86_400)),
                ),
                explanation_url: info.explanation_url,
            };
            tracing::debug!(start = %window.start, end = %window.end, "renewal window from the CA");
            Ok(Some(window))
        }
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, retry_after_secs = retry_after.map(|d| d.as_secs()), "could not fetch the renewal window (ARI); using the lifetime rule");
            Err(retry_after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_identifier() {
        let id = identifier("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE").unwrap();
        assert_eq!(id.to_string(), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
        assert!(identifier("nodot").is_none());
        assert!(identifier("a.b.c").is_none());
    }
}
