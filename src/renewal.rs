//! Getting one certificate end to end — order, checks, storage, deploy hook — shared by
//! `issue`, `renew` and the daemon.

use std::future::Future;

use anyhow::{Context as _, bail};
use instant_acme::{Account, CertificateIdentifier};
use time::OffsetDateTime;

use crate::acme::journal::OrderJournal;
use crate::acme::{self, AcmeError, OrderSpec, ari};
use crate::bundle::{self, CertInfo, CheckOptions, CheckedPair, Input};
use crate::challenge::Challenger;
use crate::config::{CertificateConfig, Config};
use crate::hooks::{self, HookError};
use crate::plan::{self, Plan, RetryPolicy};
use crate::state::{self, CertState};
use crate::store::{Expected, LockOutcome, Origin, RenewalLock, Saved, Storage, StoreError};

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
    fencing: u64,
    cancel: impl Future<Output = ()>,
) -> anyhow::Result<Obtained> {
    let section = config.dns_for(cert).expect("validated at load");
    let journal = OrderJournal::new(&config.storage.state_dir, &cert.name);
    let challenger =
        Challenger::new(config, section, &cert.name).await?.with_remote_journal(storage, &cert.name);
    let spec = OrderSpec {
        name: &cert.name,
        domains: &cert.domains,
        key_type: cert.key_type,
        profile: cert.profile.as_deref().or(config.acme.profile.as_deref()),
        replaces,
        timeout: config.acme.order_timeout,
    };
    let result = tokio::select! {
        result = acme::run_order(account, &spec, &challenger, &journal) => result,
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
    let saved = storage
        .save_fenced(&cert.name, &pair, Origin::Acme, false, fencing)
        .await
        .context("storing the new certificate")?;
    journal.remove();
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

/// Before planning: upload certificates queued while the bucket was down, and install
/// certificates other hosts stored (running the deploy hook when that changed anything).
pub async fn sync_from_bucket(config: &Config, storage: &Storage) {
    if !storage.has_remote() {
        return;
    }
    match storage.flush_pending().await {
        Ok(flushed) => {
            for f in flushed {
                match f.result {
                    Ok(_) => {
                        tracing::info!(cert = %f.name, serial = %f.serial, "uploaded a certificate queued while the bucket was unavailable")
                    }
                    Err(e) => tracing::warn!(cert = %f.name, error = %e, "a queued upload still fails"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot upload queued certificates"),
    }
    for cert in &config.certificates {
        match storage.sync_local(&cert.name, &Expected::for_certificate(cert)).await {
            Ok(Some(live)) => {
                let saved = Saved { live, bucket: crate::store::BucketOutcome::NotConfigured };
                deploy(cert, &saved).await;
            }
            Ok(None) => {}
            Err(e @ StoreError::Untrusted(_)) => {
                tracing::warn!(cert = %cert.name, error = %e, "not installing the certificate stored in the bucket; the local one stays")
            }
            Err(e) => tracing::warn!(cert = %cert.name, error = %e, "cannot compare with the bucket"),
        }
    }
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
    Failed {
        error: anyhow::Error,
        next: Plan,
    },
    /// Another process holds the renewal lock; look again at `retry_at`.
    Busy {
        holder: String,
        retry_at: OffsetDateTime,
    },
}

impl<'a> Context<'a> {
    pub fn new(config: &'a Config, storage: &'a Storage) -> Context<'a> {
        Context {
            config,
            storage,
            account: tokio::sync::OnceCell::new(),
            host: crate::store::layout::host_name(),
        }
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

    /// The stored certificate's facts: the bucket's current version when a bucket is
    /// configured (so every host plans on the same certificate), else the local copy.
    ///
    /// The facts come from the stored pair's own leaf, after the bundle checks against the
    /// configuration, never from the metadata next to it: a bucket writer cannot postpone
    /// renewals by writing a later `not_after`. A refused or unreadable pair is logged and
    /// planning falls back to the local copy.
    pub async fn current_info(&self, name: &str) -> Option<CertInfo> {
        if self.storage.has_remote() {
            let expected = self
                .config
                .certificate(name)
                .map(Expected::for_certificate)
                .unwrap_or(Expected { names: Vec::new(), key: None });
            match self.storage.fetch_checked(name, &expected).await {
                Ok(Some(pair)) => return Some(pair.info),
                Ok(None) => {}
                Err(e @ StoreError::Untrusted(_)) => {
                    tracing::warn!(cert = name, error = %e, "planning from the local copy")
                }
                Err(e) => {
                    tracing::warn!(cert = name, error = %e, "cannot read the bucket; planning from the local copy")
                }
            }
        }
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
        self.renew_locked(cert, state, info, !force, cancel).await
    }

    /// Takes the renewal lock, checks again whether renewal is still needed (`recheck`:
    /// another host may have just finished), renews while keeping the lease alive, records
    /// the outcome and releases the lock.
    pub async fn renew_locked(
        &self,
        cert: &CertificateConfig,
        mut state: CertState,
        info: Option<CertInfo>,
        recheck: bool,
        cancel: impl Future<Output = ()>,
    ) -> Outcome {
        let state_dir = &self.config.storage.state_dir;
        let ttl = self.config.daemon.lock_ttl;
        let now = OffsetDateTime::now_utc();
        let mut held = match self.storage.lock(&cert.name, ttl).await {
            Ok(LockOutcome::Acquired(held)) => held,
            Ok(LockOutcome::HeldLocally) => {
                tracing::info!("another wildcert process on this host is renewing it");
                return Outcome::Busy {
                    holder: "another wildcert process on this host".into(),
                    retry_at: now + std::time::Duration::from_secs(5),
                };
            }
            Ok(LockOutcome::HeldBy(record)) => {
                tracing::info!(holder = %record.describe(), "another process holds the renewal lock; waiting for it");
                let soon = now + (ttl / 4).max(std::time::Duration::from_secs(1));
                return Outcome::Busy { holder: record.describe(), retry_at: record.expires_at.min(soon) };
            }
            Err(e) => {
                let error = anyhow::Error::new(e).context("cannot take the renewal lock in the bucket");
                return self.record_failure(cert, &mut state, info.as_ref(), error);
            }
        };
        crate::challenge::recover_remote(self.config, self.storage, &cert.name).await;
        if recheck {
            // Another process may have stored a new certificate while we waited for the lock:
            // renew only if the certificate stored now still needs it.
            let now = OffsetDateTime::now_utc();
            let fresh = self.current_info(&cert.name).await;
            let changed = fresh.as_ref().map(|f| &f.serial) != info.as_ref().map(|i| &i.serial);
            if changed && let Some(fresh) = &fresh {
                let jitter = plan::jitter_for(&self.host, &cert.name, &fresh.serial);
                let again = plan::plan(
                    Some(fresh),
                    cert.renew_before,
                    &CertState::default(),
                    self.retry_policy(),
                    jitter,
                    now,
                );
                if !again.is_due(now) {
                    tracing::info!(serial = %fresh.serial, "renewed by another process meanwhile; installing its certificate");
                    if let Ok(Some(live)) =
                        self.storage.sync_local(&cert.name, &Expected::for_certificate(cert)).await
                    {
                        deploy(cert, &Saved { live, bucket: crate::store::BucketOutcome::NotConfigured })
                            .await;
                    }
                    self.storage.release_lock(held).await;
                    state.record_success(now);
                    let _ = state::save(state_dir, &cert.name, &state);
                    return Outcome::NotDue(again);
                }
            }
        }
        let replaces = match (&state.ari, &info) {
            (Some(w), Some(i)) if i.ari_id.as_deref() == Some(w.cert_id.as_str()) => {
                ari::identifier(&w.cert_id)
            }
            _ => None,
        };
        let fencing = held.fencing();
        let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            tokio::select! {
                _ = cancel => {}
                _ = lost_rx => {}
            }
        };
        let work = async {
            match self.account().await {
                Ok(account) => {
                    obtain(self.config, self.storage, account, cert, replaces, fencing, stop).await
                }
                Err(e) => Err(anyhow::Error::new(e)),
            }
        };
        let result = tokio::select! {
            result = work => result,
            _ = keep_alive(self.storage, &mut held, ttl, lost_tx) => unreachable!("keep_alive never returns"),
        };
        self.storage.release_lock(held).await;
        match result {
            Ok(obtained) => {
                state.record_success(OffsetDateTime::now_utc());
                if let Some(Err(_)) = &obtained.hook {
                    state.hook_failures += 1;
                } else if obtained.hook.is_some() {
                    state.hook_failures = 0;
                }
                let _ = state::save(state_dir, &cert.name, &state);
                Outcome::Renewed(Box::new(obtained))
            }
            Err(error) => self.record_failure(cert, &mut state, info.as_ref(), error),
        }
    }

    fn record_failure(
        &self,
        cert: &CertificateConfig,
        state: &mut CertState,
        info: Option<&CertInfo>,
        error: anyhow::Error,
    ) -> Outcome {
        let now = OffsetDateTime::now_utc();
        // The CA's or the DNS provider's "come back later", whichever is in the chain.
        let retry_after = error
            .chain()
            .find_map(|c| {
                c.downcast_ref::<AcmeError>().and_then(AcmeError::retry_after).or_else(|| {
                    match c.downcast_ref::<wildcert_dns_api::ProviderError>() {
                        Some(wildcert_dns_api::ProviderError::Temporary { retry_after, .. }) => *retry_after,
                        _ => None,
                    }
                })
            })
            .map(|d| now + d);
        state.record_failure(now, crate::cli::chain_message(&error), retry_after);
        let jitter = plan::jitter_for(&self.host, &cert.name, "");
        let next = plan::plan(info, cert.renew_before, state, self.retry_policy(), jitter, now);
        tracing::error!(error = %crate::cli::chain_message(&error), failures = state.failures, next_attempt = %plan::stamp(next.at), "renewal failed");
        let _ = state::save(&self.config.storage.state_dir, &cert.name, state);
        Outcome::Failed { error, next }
    }
}

/// Extends the renewal lease every third of its lifetime while an order runs. When it is
/// lost (taken over after an expiry we could not prevent), tells the order to stop; it never
/// returns.
async fn keep_alive(
    storage: &Storage,
    held: &mut RenewalLock,
    ttl: std::time::Duration,
    lost: tokio::sync::oneshot::Sender<()>,
) {
    let mut lost = Some(lost);
    loop {
        tokio::time::sleep(ttl / 3).await;
        match storage.extend_lock(held, ttl).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                tracing::error!("the renewal lock was taken over by another process; stopping this order");
                if let Some(tx) = lost.take() {
                    let _ = tx.send(());
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not extend the renewal lock; will retry"),
        }
    }
}
