//! The contract between wildcert and a DNS adapter.
//!
//! An adapter does two things for a DNS-01 challenge: add one TXT value to a name and remove it
//! again. It never learns about ACME, the configuration file, or storage. The apex and wildcard
//! of one domain share `_acme-challenge.<domain>`, so an adapter must *add* its value to the
//! record set (keeping any other values) and remove *only* its own value.

#![warn(missing_docs)]

pub mod rrset;
pub mod shared;
pub mod spec;

pub use shared::{LegoMode, NameLocks, ServerSpec, is_within, normalize, parse_server, same_name};

use std::fmt;
use std::future::Future;
use std::time::Duration;

/// One TXT value to publish for a DNS-01 challenge.
#[derive(Clone, PartialEq, Eq)]
pub struct TxtRecord {
    /// Fully qualified owner name with a trailing dot, e.g. `_acme-challenge.example.com.`.
    ///
    /// When `_acme-challenge` is delegated with a CNAME, this is already the CNAME's target.
    pub fqdn: String,
    /// The zone that holds `fqdn` (trailing dot), when the caller found it through SOA
    /// discovery. Adapters that know better (a configured zone, a hosted-zone lookup) may
    /// ignore it.
    pub zone: Option<String>,
    /// The TXT value: the base64url SHA-256 digest of the key authorization. Not a secret by
    /// itself, but only logged at debug level.
    pub value: String,
    /// TTL for the record; short, so that a retried challenge is not served a stale value.
    pub ttl: u32,
    /// The ACME challenge itself, for adapters that let an external program derive the record
    /// (lego's `RAW` mode of `exec` and `httpreq`). `None` when there is no ACME challenge
    /// behind the record, e.g. a probe written by `wildcert dns check`.
    pub raw: Option<RawChallenge>,
}

/// The inputs of a DNS-01 challenge before they become a TXT record: what lego hands to
/// `exec`/`httpreq` programs in `RAW` mode.
#[derive(Clone, PartialEq, Eq)]
pub struct RawChallenge {
    /// The identifier being validated, without `*.` and without a trailing dot: the apex and
    /// the wildcard of `example.com` both give `example.com`.
    pub domain: String,
    /// The challenge token from the CA.
    pub token: String,
    /// `token.thumbprint`: whoever holds it can answer this challenge, so it is kept out of
    /// `Debug` and logs.
    pub key_authorization: Secret,
}

impl fmt::Debug for RawChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawChallenge")
            .field("domain", &self.domain)
            .field("token", &self.token)
            .field("key_authorization", &self.key_authorization)
            .finish()
    }
}

impl fmt::Debug for TxtRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxtRecord")
            .field("fqdn", &self.fqdn)
            .field("zone", &self.zone)
            .field("ttl", &self.ttl)
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl TxtRecord {
    /// `fqdn` without its trailing dot, the spelling most HTTP APIs expect.
    pub fn fqdn_without_dot(&self) -> &str {
        self.fqdn.strip_suffix('.').unwrap_or(&self.fqdn)
    }
}

/// A TXT value in zone-file presentation form, one quoted character string: what APIs that
/// replace whole record sets (Route53, PowerDNS) expect as record content.
pub fn quote_txt(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// The text of TXT record content in presentation form: `"ab" "cd"` gives `abcd`, escapes
/// (`\"`, `\\`, `\065`) are resolved. Used to find our value among others.
pub fn txt_text(content: &str) -> String {
    let mut out = String::new();
    let mut chars = content.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => {
                let digits: String =
                    std::iter::from_fn(|| chars.next_if(char::is_ascii_digit)).take(3).collect();
                if digits.len() == 3 {
                    if let Ok(byte) = digits.parse::<u8>() {
                        out.push(char::from(byte));
                    }
                } else {
                    out.push_str(&digits);
                    if digits.is_empty()
                        && let Some(next) = chars.next()
                    {
                        out.push(next);
                    }
                }
            }
            c if quoted => out.push(c),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// A DNS adapter: publish and withdraw TXT values.
///
/// `present` returns once the provider has *accepted* the change (for APIs with an async
/// change status, once it reports the change applied); checking that every authoritative
/// server serves it is the caller's job. `cleanup` removes exactly `record.value` and treats
/// an already-absent value as success.
pub trait DnsProvider: Send + Sync {
    /// Short human name used in logs and errors, e.g. `rfc2136 (10.0.0.53:53)`.
    fn describe(&self) -> String;

    /// Add `record.value` to the TXT record set at `record.fqdn`, keeping other values.
    fn present(&self, record: &TxtRecord) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Remove `record.value` from the TXT record set at `record.fqdn`; absent is fine.
    fn cleanup(&self, record: &TxtRecord) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// What went wrong talking to a DNS provider. Messages name the server or API and say what
/// to change; they never contain a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Credentials were refused (TSIG BADKEY/BADSIG, HTTP 401/403, an unknown access key).
    #[error("{provider}: authentication refused: {detail}")]
    Auth {
        /// The adapter and its server or API (`describe()`), so the message says which.
        provider: String,
        /// What the server said and what to change; never a secret.
        detail: String,
    },
    /// The server understood the request and said no (REFUSED/NOTAUTH, HTTP 4xx, a bad zone).
    #[error("{provider}: change rejected: {detail}")]
    Rejected {
        /// The adapter and its server or API (`describe()`), so the message says which.
        provider: String,
        /// What the server said and what to change; never a secret.
        detail: String,
    },
    /// No zone the provider manages contains the name.
    #[error("{provider}: no zone found for {fqdn}: {detail}")]
    ZoneNotFound {
        /// The adapter and its server or API (`describe()`), so the message says which.
        provider: String,
        /// The record name no managed zone contains.
        fqdn: String,
        /// What the server said and what to change; never a secret.
        detail: String,
    },
    /// The server could not be reached or did not answer in time.
    #[error("{provider}: {detail}")]
    Unreachable {
        /// The adapter and its server or API (`describe()`), so the message says which.
        provider: String,
        /// What the server said and what to change; never a secret.
        detail: String,
    },
    /// The provider asked us to slow down or failed on its side (HTTP 429/5xx, SERVFAIL).
    #[error("{provider}: temporary failure: {detail}")]
    Temporary {
        /// The adapter and its server or API (`describe()`), so the message says which.
        provider: String,
        /// What the server said and what to change; never a secret.
        detail: String,
        /// How long the provider asked to wait (Retry-After), when it said.
        retry_after: Option<Duration>,
    },
    /// The adapter's settings are unusable (bad address, unknown algorithm, missing key).
    #[error("{provider}: configuration: {detail}")]
    Config {
        /// The adapter and its server or API (`describe()`), so the message says which.
        provider: String,
        /// What the server said and what to change; never a secret.
        detail: String,
    },
    /// The change was accepted but did not complete before the deadline.
    #[error("{provider}: timed out after {after:?}: {detail}")]
    Timeout {
        /// The adapter and its server or API (`describe()`), so the message says which.
        provider: String,
        /// How long the adapter waited for the change to complete.
        after: Duration,
        /// What the server said and what to change; never a secret.
        detail: String,
    },
}

impl ProviderError {
    /// Whether trying again later (same settings) may succeed: a scheduler backs off and
    /// retries these, and reports the others as needing an operator.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Unreachable { .. }
                | ProviderError::Temporary { .. }
                | ProviderError::Timeout { .. }
        )
    }
}

/// A secret string (TSIG secret, API token, AWS secret key). `Debug` and `Display` print
/// `[redacted]`, so a secret cannot reach a log or an error message by accident.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from a file, a variable or the configuration.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call only where it is sent to the service that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty: an empty secret file is a setup mistake worth a clear message.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn record_debug_hides_value() {
        let r = TxtRecord {
            fqdn: "_acme-challenge.example.com.".into(),
            zone: None,
            value: "digest-value".into(),
            ttl: 60,
            raw: Some(RawChallenge {
                domain: "example.com".into(),
                token: "tok".into(),
                key_authorization: Secret::new("tok.thumbprint"),
            }),
        };
        let debug = format!("{r:?}");
        assert!(!debug.contains("digest-value"), "{debug}");
        assert!(!debug.contains("thumbprint"), "{debug}");
        assert_eq!(r.fqdn_without_dot(), "_acme-challenge.example.com");
    }

    #[test]
    fn txt_presentation_form() {
        assert_eq!(quote_txt("abc-DEF_123"), "\"abc-DEF_123\"");
        assert_eq!(txt_text("\"abc-DEF_123\""), "abc-DEF_123");
        assert_eq!(txt_text("\"ab\" \"cd\""), "abcd");
        assert_eq!(txt_text("\"say \\\"hi\\\"\""), "say \"hi\"");
        assert_eq!(txt_text("\"\\065\""), "A");
        assert_eq!(txt_text("unquoted"), "unquoted");
        assert_eq!(txt_text(&quote_txt("v\"x\\y")), "v\"x\\y");
    }

    #[test]
    fn transient_classification() {
        let p = || "x".to_string();
        assert!(ProviderError::Unreachable { provider: p(), detail: p() }.is_transient());
        assert!(!ProviderError::Auth { provider: p(), detail: p() }.is_transient());
    }
}
