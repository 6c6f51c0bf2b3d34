//! Why getting one certificate failed, typed, so that the scheduler, the exit code, the
//! metrics and the notifications decide from the variant (no downcasting of an opaque
//! error) whether to retry soon, how long the CA asked to wait, and what to tell a person.

use std::time::Duration;

use crate::acme::{AcmeError, OrderError};
use crate::bundle::BundleRejected;
use crate::ceiling::CeilingTripped;
use crate::challenge::ChallengeError;
use crate::hooks::HookError;
use crate::store::StoreError;

/// A failed renewal of one certificate. Variants that only pass an error on are
/// `transparent` (the message is the inner one, printed once); the others add where it
/// happened and keep the inner error as their `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading or registering the ACME account.
    #[error(transparent)]
    Acme(#[from] AcmeError),
    /// Setting up the DNS side (adapter, resolvers) before the order.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// The order itself: creating, validating, finalizing.
    #[error("order for {domains}")]
    Order {
        /// The ordered names, comma-separated.
        domains: String,
        /// What went wrong in the order.
        #[source]
        source: OrderError,
    },
    /// The CA's chain failed the bundle checks; nothing was stored.
    #[error("the CA's certificate failed the checks; nothing was stored")]
    Bundle(#[source] BundleRejected),
    /// Storing the new certificate (bucket, local directory).
    #[error("storing the new certificate")]
    Store(#[source] StoreError),
    /// Taking the renewal lease in the bucket.
    #[error("cannot take the renewal lock in the bucket")]
    Lock(#[source] StoreError),
    /// The order ceiling held a due certificate back.
    #[error(transparent)]
    Ceiling(#[from] CeilingTripped),
    /// Stopped by a signal or a lost lease; the records written so far were removed.
    #[error("stopped; the challenge records written so far were removed")]
    Stopped,
    /// The deploy hook (a failed hook does not fail a renewal today, but a caller that
    /// wants it to can say so in this type).
    #[error(transparent)]
    Hook(#[from] HookError),
}

impl From<BundleRejected> for Error {
    fn from(e: BundleRejected) -> Error {
        Error::Bundle(e)
    }
}

impl From<StoreError> for Error {
    /// A store error met while storing the new certificate (the lease has its own variant).
    fn from(e: StoreError) -> Error {
        Error::Store(e)
    }
}

impl Error {
    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Acme(e) => e.is_transient(),
            Error::Challenge(e) => e.is_transient(),
            Error::Order { source, .. } => source.is_transient(),
            Error::Store(e) | Error::Lock(e) => e.is_transient(),
            // The ceiling lifts by itself once its window allows.
            Error::Ceiling(_) => true,
            Error::Bundle(_) | Error::Stopped | Error::Hook(_) => false,
        }
    }

    /// How long the CA or the DNS provider asked to wait, when one did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Acme(e) => e.retry_after(),
            Error::Challenge(e) => e.retry_after(),
            Error::Order { source, .. } => source.retry_after(),
            _ => None,
        }
    }

    /// Whether the CA failed to validate the names (retried on the slow schedule).
    pub fn is_validation(&self) -> bool {
        match self {
            Error::Acme(e) => e.is_validation(),
            Error::Order { source, .. } => source.is_validation(),
            _ => false,
        }
    }

    /// The order ceiling that held the certificate back, when that is the failure.
    pub fn ceiling_tripped(&self) -> Option<&CeilingTripped> {
        match self {
            Error::Ceiling(t) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_dns_api::ProviderError;

    fn provider_busy(retry_after: Option<Duration>) -> ChallengeError {
        ChallengeError::Provider(ProviderError::Temporary {
            provider: "cloudflare".into(),
            detail: "429".into(),
            retry_after,
        })
    }

    #[test]
    fn retry_after_comes_from_the_ca_or_the_dns_provider_wherever_it_is() {
        let ca = AcmeError::RateLimited {
            url: "https://ca/new-order".into(),
            detail: "slow down".into(),
            retry_after: Some(Duration::from_secs(90)),
        };
        assert_eq!(Error::Acme(ca).retry_after(), Some(Duration::from_secs(90)));
        let in_order = Error::Order {
            domains: "a".into(),
            source: OrderError::Challenge(provider_busy(Some(Duration::from_secs(30)))),
        };
        assert_eq!(in_order.retry_after(), Some(Duration::from_secs(30)));
        assert!(in_order.is_transient());
        assert_eq!(
            Error::from(provider_busy(Some(Duration::from_secs(5)))).retry_after(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(Error::Stopped.retry_after(), None);
        assert!(!Error::Stopped.is_transient());
    }

    #[test]
    fn validation_failures_are_told_apart() {
        let failed = Error::Order {
            domains: "*.gradient.example.com".into(),
            source: OrderError::ValidationFailed { identifier: "x".into(), detail: "no TXT".into() },
        };
        assert!(failed.is_validation());
        assert!(failed.is_transient());
        assert!(!Error::Order { domains: "x".into(), source: OrderError::Key("bad".into()) }.is_validation());
    }

    #[test]
    fn a_wrapper_prints_its_inner_message_once() {
        let e = Error::from(provider_busy(None));
        let text = crate::error_chain::message(&e);
        assert_eq!(text.matches("429").count(), 1, "{text}");
        let order =
            Error::Order { domains: "a, b".into(), source: OrderError::Challenge(provider_busy(None)) };
        let text = crate::error_chain::message(&order);
        assert!(text.starts_with("order for a, b: "), "{text}");
        assert_eq!(text.matches("429").count(), 1, "{text}");
    }
}
