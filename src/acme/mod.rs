//! Talking to the ACME CA: the HTTPS client, the account, and one order from creation to
//! certificate.

pub mod account;
pub mod ari;
pub mod http;
pub mod order;
pub mod order_resume;
pub mod revoke;

use std::time::Duration;

pub use account::load_or_create;
pub use order::{Issued, OrderError, OrderSpec, run_order};

/// Everything that can go wrong with the CA, classified for the scheduler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// No answer from the CA (DNS, connection, timeout): retried later.
    #[error("cannot reach the CA at {url}: {detail}")]
    Unreachable {
        /// The CA URL the request went to (directory or endpoint), to tell which CA and call.
        url: String,
        /// The connection error, with its causes.
        detail: String,
    },
    /// The CA's HTTPS certificate is not trusted: `[acme] ca_certificates` is missing or wrong.
    #[error(
        "the CA's HTTPS certificate at {url} is not trusted ({detail}); for a private or test CA, set [acme] ca_certificates to the PEM file of its root"
    )]
    UntrustedTls {
        /// The CA URL the request went to (directory or endpoint), to tell which CA and call.
        url: String,
        /// The TLS client's error.
        detail: String,
    },
    /// The CA refused the request, or the client for it cannot be set up (e.g. unreadable
    /// `ca_certificates`): retrying will not help.
    #[error("the CA at {url} refused: {detail}")]
    Refused {
        /// The CA URL the request went to (directory or endpoint), to tell which CA and call.
        url: String,
        /// What the CA or the client said.
        detail: String,
    },
    /// The CA's rate limit was hit: retried after its Retry-After.
    #[error("the CA at {url} asks to slow down: {detail}")]
    RateLimited {
        /// The CA URL the request went to (directory or endpoint), to tell which CA and call.
        url: String,
        /// What the CA or the client said.
        detail: String,
        /// How long the CA asked to wait (its Retry-After), when it said; the scheduler honours it,
        /// capped.
        retry_after: Option<Duration>,
    },
    /// 503, or a nonce the CA kept refusing: try again later (when it says).
    #[error("the CA at {url} is unavailable for now: {detail}")]
    Unavailable {
        /// The CA URL the request went to (directory or endpoint), to tell which CA and call.
        url: String,
        /// What the CA or the client said.
        detail: String,
        /// How long the CA asked to wait (its Retry-After), when it said; the scheduler honours it,
        /// capped.
        retry_after: Option<Duration>,
    },
    /// The CA reported a validation problem (unauthorized, CAA, DNS, incorrect response):
    /// something in DNS to fix, retried on the slow schedule.
    #[error("the CA at {url} could not validate: {detail}")]
    Validation {
        /// The CA URL the request went to (directory or endpoint), to tell which CA and call.
        url: String,
        /// What the CA or the client said.
        detail: String,
    },
    /// The order went wrong in a way no other variant names (CA internal error, processing
    /// timeout).
    #[error("{context}: {detail}")]
    Order {
        /// Which CA or step it happened at.
        context: String,
        /// What the CA or the client said.
        detail: String,
        /// Whether a later retry may succeed (CA outage, timeout); read by `is_transient`.
        transient: bool,
    },
    /// The local account file cannot be read, written or used.
    #[error("ACME account file {path}: {detail}")]
    Account {
        /// `<state_dir>/accounts/<directory>/account.json`: one account per CA directory.
        path: String,
        /// What is wrong with it; never key material.
        detail: String,
    },
}

impl AcmeError {
    /// Whether a later retry may succeed (outage, rate limit, validation that DNS may fix):
    /// the scheduler backs off; the others need the operator.
    pub fn is_transient(&self) -> bool {
        match self {
            AcmeError::Unreachable { .. }
            | AcmeError::RateLimited { .. }
            | AcmeError::Unavailable { .. }
            | AcmeError::Validation { .. } => true,
            AcmeError::Order { transient, .. } => *transient,
            _ => false,
        }
    }

    /// When the CA said how long to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AcmeError::RateLimited { retry_after, .. } | AcmeError::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Whether the CA's answer is about validating the names (retried slowly).
    pub fn is_validation(&self) -> bool {
        matches!(self, AcmeError::Validation { .. })
    }

    /// Classifies an instant-acme error from a request to `url`. Within
    /// `http::capture_retry_after`, a problem carries the Retry-After of the response it
    /// came in (instant-acme's error does not keep the headers).
    pub fn from_client(err: instant_acme::Error, url: &str) -> AcmeError {
        let url = url.to_string();
        match err {
            instant_acme::Error::Api(problem) => {
                let kind = problem.r#type.as_deref().unwrap_or_default();
                let kind = kind.strip_prefix(PROBLEM_PREFIX).unwrap_or(kind);
                let detail = problem_text(&problem);
                let retry_after = http::last_retry_after();
                if kind == "rateLimited" || problem.status == Some(429) {
                    AcmeError::RateLimited { url, detail, retry_after }
                } else if kind == "badNonce" || problem.status == Some(503) {
                    AcmeError::Unavailable { url, detail, retry_after }
                } else if VALIDATION_PROBLEMS.contains(&kind) {
                    AcmeError::Validation { url, detail }
                } else if kind.ends_with(":serverInternal") || problem.status.is_some_and(|s| s >= 500) {
                    AcmeError::Order { context: format!("the CA at {url}"), detail, transient: true }
                } else {
                    AcmeError::Refused { url, detail }
                }
            }
            // The CA's Retry-After while polling points past the order timeout.
            instant_acme::Error::Timeout(Some(next)) => AcmeError::Unavailable {
                detail: "asked to poll again later than [acme] order_timeout allows".into(),
                url,
                retry_after: Some(next.saturating_duration_since(std::time::Instant::now())),
            },
            instant_acme::Error::Timeout(None) => AcmeError::Order {
                context: format!("the CA at {url}"),
                detail: "did not finish processing in time".into(),
                transient: true,
            },
            other => {
                let detail = error_chain(&other);
                let lower = detail.to_ascii_lowercase();
                if lower.contains("certificate")
                    && (lower.contains("invalid peer")
                        || lower.contains("unknownissuer")
                        || lower.contains("not valid"))
                {
                    AcmeError::UntrustedTls { url, detail }
                } else if lower.contains("json") {
                    AcmeError::Refused {
                        url,
                        detail: format!(
                            "the answer is not an ACME response ({detail}); is the directory URL right?"
                        ),
                    }
                } else {
                    AcmeError::Unreachable { url, detail }
                }
            }
        }
    }
}

/// The namespace of RFC 8555 problem types.
pub const PROBLEM_PREFIX: &str = "urn:ietf:params:acme:error:";

/// Problem types that report what the CA saw while validating (RFC 8555 §6.7): a DNS or
/// CAA setup to fix, not a passing outage.
const VALIDATION_PROBLEMS: [&str; 6] =
    ["unauthorized", "caa", "dns", "incorrectResponse", "connection", "tls"];

/// A problem document in words: detail, type, and each subproblem's identifier.
pub fn problem_text(problem: &instant_acme::Problem) -> String {
    let mut text = problem.detail.clone().unwrap_or_else(|| "no detail given".into());
    if let Some(kind) = &problem.r#type {
        text.push_str(&format!(" ({})", kind.trim_start_matches("urn:ietf:params:acme:error:")));
    }
    for sub in &problem.subproblems {
        text.push_str(&format!("; {sub}"));
    }
    text
}

/// An error and its sources, joined, without repeating a source its parent already quotes.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str, status: u16) -> instant_acme::Error {
        instant_acme::Error::Api(
            serde_json::from_value(serde_json::json!({
                "type": format!("{PROBLEM_PREFIX}{kind}"),
                "detail": "said the CA",
                "status": status,
            }))
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn problems_are_classified_with_the_retry_after_of_their_response() {
        let e = AcmeError::from_client(problem("rateLimited", 429), "newOrder");
        assert!(matches!(e, AcmeError::RateLimited { retry_after: None, .. }), "{e:?}");
        let e = http::capture_retry_after(async {
            let (mut parts, ()) = ::http::Response::builder()
                .status(429)
                .header(::http::header::RETRY_AFTER, "90")
                .body(())
                .unwrap()
                .into_parts();
            http::tests_note(&mut parts);
            AcmeError::from_client(problem("rateLimited", 429), "newOrder")
        })
        .await;
        assert_eq!(e.retry_after(), Some(Duration::from_secs(90)));
        assert!(e.is_transient());
        let e = AcmeError::from_client(problem("badNonce", 400), "newOrder");
        assert!(matches!(e, AcmeError::Unavailable { .. }), "{e:?}");
        let e = AcmeError::from_client(problem("serverInternal", 503), "newOrder");
        assert!(matches!(e, AcmeError::Unavailable { .. }), "{e:?}");
        for kind in ["unauthorized", "caa", "dns", "incorrectResponse"] {
            assert!(AcmeError::from_client(problem(kind, 403), "newOrder").is_validation(), "{kind}");
        }
        let later = std::time::Instant::now() + Duration::from_secs(600);
        let e = AcmeError::from_client(instant_acme::Error::Timeout(Some(later)), "order");
        assert!(e.retry_after().is_some_and(|d| d > Duration::from_secs(590)), "{e:?}");
        let e = AcmeError::from_client(problem("malformed", 400), "newOrder");
        assert!(matches!(e, AcmeError::Refused { .. }) && !e.is_validation(), "{e:?}");
    }
}
