//! Getting one certificate end to end — order, checks, storage, deploy hook — shared by
//! `issue`, `renew` and the daemon.

use std::future::Future;

use anyhow::{Context as _, bail};
use instant_acme::{Account, CertificateIdentifier};
use time::OffsetDateTime;

use crate::acme::{self, AcmeError, OrderSpec, ari};
use crate::bundle::{self, CertInfo, CheckOptions, CheckedPair, Input};
use crate::challenge::Challenger;
use crate::config::{CertificateConfig, Config};
use crate::hooks::{self, HookError};
use crate::plan::{self, Plan, RetryPolicy};
use crate::state::{self, CertState};
use crate::store::{Origin, Saved, Storage};

/// What one successful run produced.
#[derive(Debug)]
pub struct Obtained {
    pub pair: CheckedPair,
    pub saved: Saved,
    pub order_url: String,
    /// The deploy hook's outcome, when one is configured.
    pub hook: Option<Result<(), HookError>>,
}

/// Orders, checks, stores and deploys one certificate. `cancel` completing stops the order;
/// the challenge records written so far are removed either way.
pub async fn obtain(
    config: &Config,
    storage: &Storage,
    account: &Account,
    cert: &CertificateConfig,
    replaces: Option<CertificateIdentifier<'static>>,
    cancel: impl Future<Output = ()>,
) -> anyhow::Result<Obtained> {
    let section = config.dns_for(cert).expect("validated at load");
    let challenger = Challenger::new(config, section, &cert.name).await?;
    let spec = OrderSpec {
        name: &cert.name,
        domains: &cert.domains,
        key_type: cert.key_type,
        profile: cert.profile.as_deref().or(config.acme.profile.as_deref()),
        replaces,
        timeout: config.acme.order_timeout,
    };
    let result = tokio::select! {
        result = acme::run_order(account, &spec, &challenger) => result,
        _ = cancel => {
            challenger.cleanup().await;
            bail!("stopped; the challenge records written so far were removed");
        }
    };
    challenger.cleanup().await;
    let issued = result.with_context(|| format!("order for {}", cert.domains.join(", ")))?;

    let pair = bundle::check(
        Input { label: "the new private key", bytes: issued.key_pem.as_bytes() },
        &[Input { label: "the chain from the CA", bytes: issued.chain_pem.as_bytes() }],
        &CheckOptions::new(cert.domains.clone()),
    )
    .into_result()
    .context("the CA's certificate failed the checks; nothing was stored")?;
    let saved = storage.save(&cert.name, &pair, Origin::Acme).await.context("storing the new certificate")?;
    tracing::info!(
        cert = %cert.name,
        serial = %pair.info.serial,
        not_after = %plan::stamp(pair.info.not_after),
        path = %saved.live.fullchain.display(),
        "new certificate stored"
    );
    let hook = deploy(cert, &saved).await;
    Ok(Obtained { pair, saved, order_url: issued.order_url, hook })
}

/// Runs the certificate's deploy hook, if any, logging a failure (the certificate stays).
pub async fn deploy(cert: &CertificateConfig, saved: &Saved) -> Option<Result<(), HookError>> {
    let command = cert.deploy_hook.as_deref()?;
    let result = hooks::run_deploy_hook(&cert.name, command, &saved.live, cert.hook_timeout).await;
    if let Err(e) = &result {
        tracing::error!(error = %e, "deploy hook failed; the new certificate is stored");
    }
    Some(result)
}

/// What a renewal pass needs, with the ACME account loaded only when a certificate is due
/// (or its renewal window must be fetched).
pub struct Context<'a> {
    pub config: &'a Config,
    pub storage: &'a Storage,
    account: tokio::sync::OnceCell<Account>,
    host: String,
}

/// The outcome of looking at one certificate.
#[derive(Debug)]
pub enum Outcome {
    NotDue(Plan),
    Renewed(Box<Obtained>),
    Failed { error: anyhow::Error, next: Plan },
}

/// This machine's name, for jitter and for lock owners.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl<'a> Context<'a> {
    pub fn new(config: &'a Config, storage: &'a Storage) -> Context<'a> {
        Context { config, storage, account: tokio::sync::OnceCell::new(), host: host_name() }
    }

    /// Reuses an account loaded in an earlier pass (the daemon keeps it across rounds).
    pub fn set_account(&mut self, account: Account) {
        let _ = self.account.set(account);
    }

    pub fn into_account(self) -> Option<Account> {
        self.account.into_inner()
    }

    pub async fn account(&self) -> Result<&Account, AcmeError> {
        self.account.get_or_try_init(|| acme::load_or_create(self.config)).await
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy { min: self.config.daemon.retry_min, max: self.config.daemon.retry_max }
    }

    /// The stored certificate's facts (the local copy).
    pub async fn current_info(&self, name: &str) -> Option<CertInfo> {
        let files = self.storage.live().read(name).await.ok()??;
        bundle::leaf_info(&files.fullchain)
    }

    /// Plans one certificate from what is known, without asking the CA.
    pub async fn plan_offline(
        &self,
        cert: &CertificateConfig,
        state: &mut CertState,
        now: OffsetDateTime,
    ) -> (Option<CertInfo>, Plan) {
        self.plan_inner(cert, state, now, false).await
    }

    /// Plans one certificate, refreshing its ARI window first when due.
    pub async fn plan(
        &self,
        cert: &CertificateConfig,
        state: &mut CertState,
        now: OffsetDateTime,
    ) -> (Option<CertInfo>, Plan) {
        self.plan_inner(cert, state, now, true).await
    }

    async fn plan_inner(
        &self,
        cert: &CertificateConfig,
        state: &mut CertState,
        now: OffsetDateTime,
        fetch_ari: bool,
    ) -> (Option<CertInfo>, Plan) {
        let info = self.current_info(&cert.name).await;
        if fetch_ari && let Some(ari_id) = info.as_ref().and_then(|i| i.ari_id.as_deref()) {
            let stale = match &state.ari {
                Some(w) => w.cert_id != ari_id || now >= w.refetch_at,
                None => true,
            };
            if stale && let Ok(account) = self.account().await {
                state.ari = ari::fetch(account, ari_id, now).await;
            }
        }
        let jitter =
            plan::jitter_for(&self.host, &cert.name, info.as_ref().map(|i| i.serial.as_str()).unwrap_or(""));
        let p = plan::plan(info.as_ref(), cert.renew_before, state, self.retry_policy(), jitter, now);
        (info, p)
    }

    /// Renews `cert` if its plan says so (or `force`), recording the outcome in its state.
    #[tracing::instrument(name = "cert", skip_all, fields(cert = %cert.name))]
    pub async fn renew_if_due(
        &self,
        cert: &CertificateConfig,
        force: bool,
        cancel: impl Future<Output = ()>,
    ) -> Outcome {
        let state_dir = &self.config.storage.state_dir;
        let mut state = state::load(state_dir, &cert.name);
        let now = OffsetDateTime::now_utc();
        let (info, planned) = self.plan(cert, &mut state, now).await;
        if !force && !planned.is_due(now) {
            let _ = state::save(state_dir, &cert.name, &state);
            return Outcome::NotDue(planned);
        }
        tracing::info!(reason = planned.reason.describe(), "renewing");
        let replaces = match (&state.ari, &info) {
            (Some(w), Some(i)) if i.ari_id.as_deref() == Some(w.cert_id.as_str()) => {
                ari::identifier(&w.cert_id)
            }
            _ => None,
        };
        let result = match self.account().await {
            Ok(account) => obtain(self.config, self.storage, account, cert, replaces, cancel).await,
            Err(e) => Err(anyhow::Error::new(e)),
        };
        let now = OffsetDateTime::now_utc();
        match result {
            Ok(obtained) => {
                state.record_success(now);
                if let Some(Err(_)) = &obtained.hook {
                    state.hook_failures += 1;
                } else if obtained.hook.is_some() {
                    state.hook_failures = 0;
                }
                let _ = state::save(state_dir, &cert.name, &state);
                Outcome::Renewed(Box::new(obtained))
            }
            Err(error) => {
                let retry_after = error
                    .chain()
                    .find_map(|c| c.downcast_ref::<AcmeError>().and_then(AcmeError::retry_after))
                    .map(|d| now + d);
                state.record_failure(now, crate::cli::chain_message(&error), retry_after);
                let jitter = plan::jitter_for(&self.host, &cert.name, "");
                let next =
                    plan::plan(info.as_ref(), cert.renew_before, &state, self.retry_policy(), jitter, now);
                tracing::error!(error = %crate::cli::chain_message(&error), failures = state.failures, next_attempt = %plan::stamp(next.at), "renewal failed");
                let _ = state::save(state_dir, &cert.name, &state);
                Outcome::Failed { error, next }
            }
        }
    }
}
