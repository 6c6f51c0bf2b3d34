//! Talking to the ACME CA: the HTTPS client, the account, and one order from creation to
//! certificate.

pub mod account;
pub mod ari;
pub mod http;
pub mod journal;
pub mod order;

use std::time::Duration;

pub use account::load_or_create;
pub use order::{Issued, OrderError, OrderSpec, run_order};

/// Everything that can go wrong with the CA, classified for the scheduler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    #[error("cannot reach the CA at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error(
        "the CA's HTTPS certificate at {url} is not trusted ({detail}); for a private or test CA, set [acme] ca_certificates to the PEM file of its root"
    )]
    UntrustedTls { url: String, detail: String },
    #[error("the CA at {url} refused: {detail}")]
    Refused { url: String, detail: String },
    #[error("the CA at {url} asks to slow down: {detail}")]
    RateLimited { url: String, detail: String, retry_after: Option<Duration> },
    #[error("{context}: {detail}")]
    Order { context: String, detail: String, transient: bool },
    #[error("ACME account file {path}: {detail}")]
    Account { path: String, detail: String },
}

impl AcmeError {
    pub fn is_transient(&self) -> bool {
        match self {
            AcmeError::Unreachable { .. } | AcmeError::RateLimited { .. } => true,
            AcmeError::Order { transient, .. } => *transient,
            _ => false,
        }
    }

    /// When the CA said how long to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AcmeError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classifies an instant-acme error from a request to `url`.
    pub fn from_client(err: instant_acme::Error, url: &str) -> AcmeError {
        let url = url.to_string();
        match err {
            instant_acme::Error::Api(problem) => {
                let kind = problem.r#type.as_deref().unwrap_or_default();
                let detail = problem_text(&problem);
                if kind.ends_with(":rateLimited") || matches!(problem.status, Some(429) | Some(503)) {
                    AcmeError::RateLimited { url, detail, retry_after: None }
                } else if kind.ends_with(":serverInternal") || problem.status.is_some_and(|s| s >= 500) {
                    AcmeError::Order { context: format!("the CA at {url}"), detail, transient: true }
                } else {
                    AcmeError::Refused { url, detail }
                }
            }
            instant_acme::Error::Timeout(_) => AcmeError::Order {
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
