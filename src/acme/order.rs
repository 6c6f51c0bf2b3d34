//! One ACME order, from creation to the downloaded chain: one order for all names, a DNS-01
//! challenge per pending authorization, challenges answered only after every authoritative
//! server serves the records, records removed as soon as the CA has decided, a fresh key
//! and CSR per order.

use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewOrder, OrderStatus,
    RetryPolicy,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair};
use wildcert_dns_api::{RawChallenge, Secret};

use super::order_resume::{OrderResumeFile, ResumableOrder};
use super::{AcmeError, problem_text};
use crate::challenge::{ChallengeError, ChallengeRecord, Challenger};
use crate::config::KeyType;
use crate::names;

/// Polling the CA: prompt at first (Pebble and Let's Encrypt often finish within
/// milliseconds), then backing off.
const FIRST_POLL: Duration = Duration::from_millis(15);
const POLL_BACKOFF: f32 = 1.6;

/// What to order.
#[derive(Debug, Clone)]
pub struct OrderSpec<'a> {
    /// The `[[certificate]] name`, carried by the order's span so every log line names it.
    pub name: &'a str,
    /// The names to order, e.g. `*.gradient.example.com` and `gradient.example.com`: one
    /// order, one CSR for all of them.
    pub domains: &'a [String],
    /// The algorithm of the fresh key made for this order (`key_type`, default `ec256`).
    pub key_type: KeyType,
    /// The CA profile to ask for (`profile` of the certificate or `[acme]`), if any.
    pub profile: Option<&'a str>,
    /// ARI: the certificate this order replaces (RFC 9773 `replaces`).
    pub replaces: Option<CertificateIdentifier<'static>>,
    /// How long to poll the CA for the order to become ready and valid (`[acme] order_timeout`).
    pub timeout: Duration,
}

/// The result: a new key and the chain the CA returned (not yet checked).
pub struct Issued {
    /// The private key made for this order, PEM; secret, written only 0600.
    pub key_pem: String,
    /// The chain as the CA sent it; must pass the bundle checks before it is stored.
    pub chain_pem: String,
    /// The order's URL at the CA, for logs and for revocation or support questions.
    pub order_url: String,
}

/// Why one order failed; `is_transient`, `is_validation` and `retry_after` tell the scheduler
/// which backoff applies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrderError {
    /// The CA failed or refused; see `AcmeError`.
    #[error(transparent)]
    Acme(AcmeError),
    /// Presenting, checking or removing the TXT records failed.
    #[error(transparent)]
    Challenge(ChallengeError),
    /// The CA checked the TXT record and refused it (wrong value, not visible to the CA, CAA).
    #[error("the CA could not validate {identifier}: {detail}")]
    ValidationFailed {
        /// The name the CA could not validate, e.g. `*.gradient.example.com`.
        identifier: String,
        /// The CA's problem document in words.
        detail: String,
    },
    /// The new private key or the CSR could not be made (a bug or an unsupported `key_type`).
    #[error("cannot make the key or CSR: {0}")]
    Key(String),
}

impl OrderError {
    /// Whether a later retry may succeed without the operator changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            OrderError::Acme(e) => e.is_transient(),
            OrderError::Challenge(e) => e.is_transient(),
            // A failed validation is usually DNS that was not ready: worth another try later.
            OrderError::ValidationFailed { .. } => true,
            OrderError::Key(_) => false,
        }
    }

    /// Whether the CA failed to validate the names (retried on the slow schedule).
    pub fn is_validation(&self) -> bool {
        match self {
            OrderError::ValidationFailed { .. } => true,
            OrderError::Acme(e) => e.is_validation(),
            _ => false,
        }
    }

    /// How long the CA asked to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            OrderError::Acme(e) => e.retry_after(),
            OrderError::Challenge(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// Whether the CA refused an order because of its `replaces` field itself (RFC 9773 §5):
/// `alreadyReplaced`, or a malformed/unauthorized problem whose detail names `replaces`
/// (an unknown or foreign certificate). Only then is the order worth repeating without it;
/// a rate limit or an outage would refuse the plain order just the same. A CA that
/// advertises ARI but ignores the field (its order comes back without it, which instant-acme
/// reports as a mismatch) counts too: it did not take `replaces`.
pub fn refuses_replaces(err: &instant_acme::Error) -> bool {
    if let instant_acme::Error::Other(e) = err {
        return e.to_string().starts_with("replaces field mismatch");
    }
    let instant_acme::Error::Api(problem) = err else { return false };
    let kind = problem.r#type.as_deref().unwrap_or_default();
    let kind = kind.strip_prefix(super::PROBLEM_PREFIX).unwrap_or(kind);
    let names_replaces =
        problem.detail.as_deref().is_some_and(|d| d.to_ascii_lowercase().contains("replaces"));
    kind == "alreadyReplaced" || (matches!(kind, "malformed" | "unauthorized") && names_replaces)
}

fn acme(url: &str) -> impl Fn(instant_acme::Error) -> OrderError + '_ {
    move |e| OrderError::Acme(AcmeError::from_client(e, url))
}

/// Generates the certificate's private key.
pub fn generate_key(key_type: KeyType) -> Result<KeyPair, OrderError> {
    let result = match key_type {
        KeyType::Ec256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyType::Ec384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyType::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048),
        KeyType::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072),
        KeyType::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096),
    };
    result.map_err(|e| OrderError::Key(e.to_string()))
}

/// Runs one order, or resumes the one journaled by a process that was stopped mid-order.
/// The caller must call `challenger.cleanup()` afterwards in every case (this function does
/// it on its normal paths; the caller covers cancellation), and remove the journal once the
/// certificate is stored. `on_created` is called once the CA created a new order (not for
/// a resumed one), for the order ceiling's history.
#[tracing::instrument(name = "order", skip_all, fields(cert = spec.name, order_url = tracing::field::Empty))]
pub async fn run_order(
    account: &Account,
    spec: &OrderSpec<'_>,
    challenger: &Challenger,
    resume_file: &OrderResumeFile,
    on_created: &(dyn Fn() + Sync),
) -> Result<Issued, OrderError> {
    // Boxed: the whole order's state machine is large, and nesting it unboxed in the
    // capture scope (and the caller's `select!`) overflows the compiler's layout depth.
    super::http::capture_retry_after(Box::pin(async {
        let (order, key) = match resume(account, spec, resume_file).await {
            Some(resumed) => resumed,
            None => {
                let created = new_order(account, spec, resume_file).await?;
                on_created();
                created
            }
        };
        complete(order, key, spec, challenger).await
    }))
    .await
}

/// Validates, finalizes and downloads an order that exists at the CA.
async fn complete(
    mut order: instant_acme::Order,
    key: KeyPair,
    spec: &OrderSpec<'_>,
    challenger: &Challenger,
) -> Result<Issued, OrderError> {
    let order_url = order.url().to_string();
    tracing::Span::current().record("order_url", order_url.as_str());

    if order.state().status == OrderStatus::Pending {
        answer_challenges(&mut order, spec, challenger).await?;
    }
    if order.state().status == OrderStatus::Ready {
        tracing::info!("order ready; finalizing");
        let mut params =
            CertificateParams::new(spec.domains.to_vec()).map_err(|e| OrderError::Key(e.to_string()))?;
        params.distinguished_name = DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(|e| OrderError::Key(e.to_string()))?;
        order.finalize_csr(csr.der()).await.map_err(acme(&order_url))?;
        crate::failpoint::hit("finalized").await;
    }
    let policy = RetryPolicy::new().initial_delay(FIRST_POLL).backoff(POLL_BACKOFF).timeout(spec.timeout);
    let chain_pem = order.poll_certificate(&policy).await.map_err(acme(&order_url))?;
    tracing::info!("certificate downloaded");
    Ok(Issued { key_pem: key.serialize_pem(), chain_pem, order_url })
}

/// The journaled order, when it is for the same names and the CA still has it in a usable
/// state.
async fn resume(
    account: &Account,
    spec: &OrderSpec<'_>,
    resume_file: &OrderResumeFile,
) -> Option<(instant_acme::Order, KeyPair)> {
    let saved = resume_file.load()?;
    if saved.domains != spec.domains || saved.key_type != spec.key_type.as_str() {
        tracing::info!("the journaled order is for other names or another key type; starting a new one");
        resume_file.remove();
        return None;
    }
    let key = KeyPair::from_pem(&saved.key_pem).ok()?;
    match account.order(saved.order_url.clone()).await {
        Ok(mut order) => {
            let status = order.state().status;
            if status == OrderStatus::Invalid {
                tracing::info!(order_url = %saved.order_url, "the journaled order is invalid; starting a new one");
                resume_file.remove();
                return None;
            }
            tracing::info!(order_url = %saved.order_url, ?status, "resuming the order a stopped run left");
            Some((order, key))
        }
        Err(e) => {
            tracing::info!(order_url = %saved.order_url, error = %e, "the journaled order is gone; starting a new one");
            resume_file.remove();
            None
        }
    }
}

async fn new_order(
    account: &Account,
    spec: &OrderSpec<'_>,
    resume_file: &OrderResumeFile,
) -> Result<(instant_acme::Order, KeyPair), OrderError> {
    let identifiers: Vec<Identifier> = spec.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
    // The key does not depend on the CA: make it while the order is on its way.
    let key_type = spec.key_type;
    let key_task = tokio::task::spawn_blocking(move || generate_key(key_type));

    let mut new_order = NewOrder::new(&identifiers);
    if let Some(profile) = spec.profile {
        new_order = new_order.profile(profile);
    }
    let order = match &spec.replaces {
        Some(replaces) => {
            tracing::info!(replaces = %replaces, "ordering as the CA's suggested replacement (ARI)");
            match account.new_order(&new_order.replaces(replaces.clone())).await {
                Ok(order) => order,
                Err(e) if refuses_replaces(&e) => {
                    // Once, and only for an answer about `replaces` itself.
                    tracing::info!(error = %e, "the CA refused `replaces`; ordering once more without it");
                    let mut plain = NewOrder::new(&identifiers);
                    if let Some(profile) = spec.profile {
                        plain = plain.profile(profile);
                    }
                    account.new_order(&plain).await.map_err(acme("newOrder"))?
                }
                Err(e) => return Err(acme("newOrder")(e)),
            }
        }
        None => account.new_order(&new_order).await.map_err(acme("newOrder"))?,
    };
    tracing::info!(order_url = order.url(), names = %spec.domains.join(", "), "order created");
    let key = key_task.await.map_err(|e| OrderError::Key(e.to_string()))??;
    let resumable = ResumableOrder {
        order_url: order.url().to_string(),
        domains: spec.domains.to_vec(),
        key_type: spec.key_type.as_str().to_string(),
        key_pem: key.serialize_pem(),
        created_at: time::OffsetDateTime::now_utc(),
    };
    if let Err(e) = resume_file.save(&resumable) {
        tracing::warn!(error = %e, "could not journal the order; a crash now would start a new one");
    }
    Ok((order, key))
}

/// Publishes a DNS-01 record per pending authorization, tells the CA, waits for its
/// decision, and removes the records.
async fn answer_challenges(
    order: &mut instant_acme::Order,
    spec: &OrderSpec<'_>,
    challenger: &Challenger,
) -> Result<(), OrderError> {
    let order_url = order.url().to_string();
    let mut records = Vec::new();
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(acme(&order_url))?;
            let identifier = authz.identifier().to_string();
            match authz.status {
                AuthorizationStatus::Valid => {
                    tracing::info!(identifier = %identifier, "authorization already valid");
                    continue;
                }
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(OrderError::ValidationFailed {
                        identifier,
                        detail: format!("authorization is {other:?}; a new order will get a fresh one"),
                    });
                }
            }
            let Some(challenge) = authz.challenge(ChallengeType::Dns01) else {
                return Err(OrderError::Acme(AcmeError::Refused {
                    url: order_url.clone(),
                    detail: format!("the CA offers no dns-01 challenge for {identifier}"),
                }));
            };
            let key_authorization = challenge.key_authorization();
            let raw = RawChallenge {
                domain: names::challenge_base(&identifier).to_string(),
                token: challenge.token.clone(),
                key_authorization: Secret::new(key_authorization.as_str()),
            };
            records.push(ChallengeRecord {
                fqdn: names::challenge_fqdn(&identifier),
                value: key_authorization.dns_value(),
                identifier,
                raw: Some(raw),
            });
        }
    }
    if !records.is_empty() {
        challenger.present(&records).await.map_err(OrderError::Challenge)?;
        crate::failpoint::hit("txt-written").await;
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(acme(&order_url))?;
            if authz.status != AuthorizationStatus::Pending {
                continue;
            }
            if let Some(mut challenge) = authz.challenge(ChallengeType::Dns01) {
                challenge.set_ready().await.map_err(acme(&order_url))?;
            }
        }
        crate::failpoint::hit("challenges-ready").await;
    }
    let policy = RetryPolicy::new().initial_delay(FIRST_POLL).backoff(POLL_BACKOFF).timeout(spec.timeout);
    let status = order.poll_ready(&policy).await;
    // The CA has decided (or given up): the records are no longer needed.
    challenger.cleanup().await;
    match status {
        Ok(OrderStatus::Ready) => Ok(()),
        Ok(_) => Err(validation_failure(order).await),
        Err(instant_acme::Error::Api(problem)) => Err(match validation_failure(order).await {
            OrderError::ValidationFailed { identifier, detail } if detail != "unknown" => {
                OrderError::ValidationFailed { identifier, detail }
            }
            _ => OrderError::ValidationFailed {
                identifier: spec.domains.join(", "),
                detail: problem_text(&problem),
            },
        }),
        Err(e) => Err(acme(&order_url)(e)),
    }
}

/// Finds the authorization the CA rejected and its reason.
async fn validation_failure(order: &mut instant_acme::Order) -> OrderError {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        let Ok(state) = authz.refresh().await else { continue };
        if state.status == AuthorizationStatus::Invalid {
            let identifier = state.identifier().to_string();
            let detail = state
                .challenges
                .iter()
                .find_map(|c| c.error.as_ref().map(problem_text))
                .unwrap_or_else(|| "the authorization is invalid".into());
            return OrderError::ValidationFailed { identifier, detail };
        }
    }
    OrderError::ValidationFailed { identifier: "the order".into(), detail: "unknown".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str, detail: &str) -> instant_acme::Error {
        instant_acme::Error::Api(
            serde_json::from_value(serde_json::json!({
                "type": format!("urn:ietf:params:acme:error:{kind}"),
                "detail": detail,
                "status": 400,
            }))
            .unwrap(),
        )
    }

    #[test]
    fn only_an_answer_about_replaces_drops_it() {
        assert!(refuses_replaces(&problem("alreadyReplaced", "already replaced")));
        assert!(refuses_replaces(&problem("malformed", "Invalid replaces field: unknown certificate")));
        assert!(refuses_replaces(&problem(
            "unauthorized",
            "the account did not issue the certificate in `replaces`"
        )));
        assert!(!refuses_replaces(&problem("rateLimited", "too many new orders; replaces ignored")));
        assert!(!refuses_replaces(&problem("malformed", "bad CSR")));
        assert!(!refuses_replaces(&problem("serverInternal", "replaces")));
        assert!(!refuses_replaces(&instant_acme::Error::Other("connection reset".into())));
        assert!(refuses_replaces(&instant_acme::Error::Other(
            "replaces field mismatch: expected Some(..), found None".into()
        )));
    }
}
