//! Talking to the ACME CA: the account, and one order from creation to certificate.

use std::time::Duration;

/// Everything that can go wrong with the CA, classified for the scheduler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    #[error("cannot reach the CA at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the CA at {url} answered: {detail}")]
    Refused { url: String, detail: String },
    #[error("the CA at {url} asks to wait ({detail}); retry after {retry_after:?}")]
    RateLimited { url: String, detail: String, retry_after: Option<Duration> },
    #[error("{context}: {detail}")]
    Order { context: String, detail: String, transient: bool },
    #[error("ACME account in {path}: {detail}")]
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
}
