//! Getting one certificate end to end — order, checks, storage, deploy hook — shared by
//! `issue`, `renew` and the daemon.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use instant_acme::{Account, CertificateIdentifier};
use time::OffsetDateTime;

use crate::acme::order_resume::OrderResumeFile;
use crate::acme::{self, AcmeError, OrderSpec, ari};
use crate::bundle::{self, CertInfo, CheckOptions, CheckedPair, Input};
use crate::ceiling::{self, Ceiling, CeilingTripped};
use crate::challenge::Challenger;
use crate::config::{CertificateConfig, Config};
use crate::hooks::{self, HookError};
use crate::plan::{self, Plan, RetryPolicy};
use crate::state::{self, CertState, FailureKind};
use crate::store::lock::Fence;
use crate::store::{Expected, LockOutcome, Origin, Overwrite, RenewalLock, Saved, Storage, StoreError};

/// First pause while watching another host's lease; doubles up to `WATCH_MAX`.
mod error;
pub mod revoked;
pub use error::Error;

const WATCH_FIRST: Duration = Duration::from_millis(250);
const WATCH_MAX: Duration = Duration::from_secs(2);

/// What one successful run produced.
#[derive(Debug)]
pub struct Obtained {
    /// The new certificate and key, as checked.
    pub pair: CheckedPair,
    /// Where it was stored and what the bucket did.
    pub saved: Saved,
    /// The CA's URL of the order, for logs and notifications.
    pub order_url: String,
    /// The deploy hook's outcome, when one is configured.
    pub hook: Option<Result<(), HookError>>,
}

/// Orders, checks, stores and deploys one certificate under the renewal lock `fence`.
/// `cancel` completing stops the order; the challenge records written so far are removed
/// either way. `on_created` is called when the CA created a new order (see
/// `acme::run_order`).
#[allow(clippy::too_many_arguments)]
pub async fn obtain(
    config: &Config,
    storage: &Storage,
    account: &Account,
    cert: &CertificateConfig,
    replaces: Option<CertificateIdentifier<'static>>,
    fence: Fence,
    on_created: &(dyn Fn() + Sync),
    cancel: impl Future<Output = ()>,
) -> Result<Obtained, Error> {
    let section = config.dns_for(cert).expect("validated at load");
    let resume_file = OrderResumeFile::new(&config.storage.state_dir, &cert.name);
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
        result = acme::run_order(account, &spec, &challenger, &resume_file, on_created) => result,
        _ = cancel => {
            challenger.cleanup().await;
            return Err(Error::Stopped);
        }
    };
    challenger.cleanup().await;
    let issued = result.map_err(|source| Error::Order { domains: cert.domains.join(", "), source })?;

    let pair = bundle::check(
        Input { label: "the new private key", bytes: issued.key_pem.as_bytes() },
        &[Input { label: "the chain from the CA", bytes: issued.chain_pem.as_bytes() }],
        &issued_chain_options(config, cert),
    )
    .into_result()
    .map_err(Error::Bundle)?;
    let saved = storage
        .save_fenced(&cert.name, &pair, Origin::Acme, Overwrite::IfNewer, &fence)
        .await
        .map_err(Error::Store)?;
    resume_file.remove();
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

/// How an issued chain is checked: no trust check (the CA chose its roots), and path
/// validation anchored at the CA's own chain or, when they issued it, the configured
/// `[acme] ca_certificates` (a private CA's root often serves both).
fn issued_chain_options(config: &Config, cert: &CertificateConfig) -> CheckOptions {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut opts = CheckOptions::new(cert.domains.clone());
    if let Some(path) = &config.acme.ca_certificates
        && let Ok(certs) = CertificateDer::pem_file_iter(path)
    {
        opts.known_cas = certs.filter_map(Result::ok).collect();
    }
    opts
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
                let saved = Saved { live, bucket: crate::store::BucketOutcome::InstalledFromBucket };
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

/// What a renewal pass needs: the configuration, the storage, this host's jitter, and the
/// ACME account, loaded only when a certificate is due (or its renewal window must be
/// fetched). `issue`, `renew`, `status` and every round of the daemon start one the same way
/// ([`Session::open`]), so none of them can skip a start-up step the others take.
pub struct Session<'a> {
    /// The configuration the session was opened with.
    pub config: &'a Config,
    /// The bucket (when configured), the local directory and the upload queue.
    pub storage: Storage,
    account: tokio::sync::OnceCell<Account>,
    /// What makes this host's jitter differ from every other host's.
    jitter_seed: String,
}

/// Whether a renewal happens only while the certificate is due, or regardless
/// (`issue --force`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Renew only if due, and check again once the lock is held: another host may have
    /// just renewed it, or the order ceiling may hold it back.
    IfDue,
    /// Renew now, due or not.
    Forced,
}

/// The outcome of looking at one certificate.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing to do until the plan's time.
    NotDue(Plan),
    /// A new certificate is stored and installed.
    Renewed(Box<Obtained>),
    /// The attempt failed; it is recorded in the state file.
    Failed {
        /// Why.
        error: Error,
        /// The next attempt, after the backoff.
        next: Plan,
    },
    /// Another process holds the renewal lock; look again at `retry_at`.
    Busy {
        /// Who holds it, as the lease describes it.
        holder: String,
        /// When to look again.
        retry_at: OffsetDateTime,
    },
}

impl Outcome {
    /// The order ceiling held a due certificate back (the typed cause of a failure).
    pub fn ceiling_tripped(&self) -> Option<&CeilingTripped> {
        match self {
            Outcome::Failed { error, .. } => error.ceiling_tripped(),
            _ => None,
        }
    }
}

/// The certificate to plan from: the one that expires last among the bucket's current
/// version, the local copy and the one queued for upload. After a bucket refused a new
/// certificate, the local and queued ones are newer than the bucket's: planning from the
/// bucket would find the old one due and order again.
fn newest(candidates: impl IntoIterator<Item = Option<CertInfo>>) -> Option<CertInfo> {
    candidates.into_iter().flatten().reduce(|best, c| if c.not_after > best.not_after { c } else { best })
}

impl<'a> Session<'a> {
    /// Starts work on the certificates of `config`: removes challenge records an earlier run
    /// left (under each certificate's local lock, so records an order in flight still needs
    /// stay), opens the storage, uploads what was queued while the bucket was down and
    /// installs certificates other hosts stored (deploy hooks included).
    pub async fn open(config: &'a Config) -> Session<'a> {
        let removed = crate::challenge::recover_leftovers(config).await;
        if removed > 0 {
            tracing::info!(removed, "cleaned up challenge records left by an earlier run");
        }
        let session = Session::read_only(config);
        sync_from_bucket(config, &session.storage).await;
        session
    }

    /// A session that changes nothing when it starts, for reports (`status`): no record is
    /// removed, nothing uploaded or installed.
    pub fn read_only(config: &'a Config) -> Session<'a> {
        Session {
            config,
            storage: Storage::new(config),
            account: tokio::sync::OnceCell::new(),
            jitter_seed: crate::host::identity().jitter_seed(),
        }
    }

    /// Reuses an account loaded in an earlier pass (the daemon keeps it across rounds).
    pub fn set_account(&mut self, account: Account) {
        let _ = self.account.set(account);
    }

    /// The account loaded during this session, for the next one.
    pub fn into_account(self) -> Option<Account> {
        self.account.into_inner()
    }

    /// The ACME account, loaded (or registered) on first use only: a pass with nothing
    /// due never talks to the CA.
    pub async fn account(&self) -> Result<&Account, AcmeError> {
        self.account.get_or_try_init(|| acme::load_or_create(self.config)).await
    }

    /// The backoff and order ceiling of `[daemon]`, the same for every entry point.
    pub fn retry_policy(&self) -> RetryPolicy {
        let daemon = &self.config.daemon;
        RetryPolicy {
            min: daemon.retry_min,
            max: daemon.retry_max,
            validation_min: daemon.validation_retry_min,
            ceiling: Ceiling { max_orders: daemon.max_orders, window: daemon.orders_window },
        }
    }

    /// The stored certificate's facts: the newest of the bucket's current version (so every
    /// host plans on the same certificate), the local copy and the queued one.
    ///
    /// The bucket's facts come from the stored pair's own leaf, after the bundle checks
    /// against the configuration, never from the metadata next to it: a bucket writer cannot
    /// postpone renewals by writing a later `not_after`. A refused or unreadable pair is
    /// logged and left out.
    pub async fn current_info(&self, name: &str) -> Option<CertInfo> {
        let mut bucket = None;
        if self.storage.has_remote() {
            let expected = self
                .config
                .certificate(name)
                .map(Expected::for_certificate)
                .unwrap_or(Expected { names: Vec::new(), key: None });
            match self.storage.fetch_checked(name, &expected).await {
                Ok(Some(pair)) => bucket = Some(pair.info),
                Ok(None) => {}
                Err(e @ StoreError::Untrusted(_)) => {
                    tracing::warn!(cert = name, error = %e, "planning from the local copy")
                }
                Err(e) => {
                    tracing::warn!(cert = name, error = %e, "cannot read the bucket; planning from the local copy")
                }
            }
        }
        let local =
            self.storage.live().read(name).await.ok().flatten().and_then(|f| bundle::leaf_info(&f.fullchain));
        newest([bucket, local, self.storage.queued_info(name)])
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
        if fetch_ari
            && let Some(info) = &info
            && self.storage.has_remote()
        {
            let notice = revoked::read(&self.storage, &cert.name).await;
            revoked::apply(notice.as_ref(), &info.serial, &mut state.revoked_serial);
        }
        if fetch_ari
            && let Some(info) = &info
            && plan::renew_before_ignored(info, cert.renew_before)
        {
            tracing::warn!(
                cert = %cert.name,
                renew_before = %ceiling::show_duration(cert.renew_before.unwrap_or_default()),
                lifetime = %ceiling::show_duration((info.not_after - info.not_before).try_into().unwrap_or_default()),
                "renew_before is at least the certificate's lifetime: every new certificate would be due at once; ignoring it and renewing by the lifetime rule"
            );
        }
        if fetch_ari && let Some(ari_id) = info.as_ref().and_then(|i| i.ari_id.as_deref()) {
            let stale = match &state.ari {
                Some(w) => w.cert_id != ari_id || now >= w.refetch_at,
                None => true,
            } && state.ari_retry_at.is_none_or(|t| now >= t);
            if stale && let Ok(account) = self.account().await {
                match ari::fetch(account, ari_id, now).await {
                    Ok(window) => {
                        state.ari = window;
                        state.ari_retry_at = None;
                    }
                    Err(retry_after) => {
                        state.ari = None;
                        state.ari_retry_at = retry_after.map(|d| {
                            plan::cap_retry_after(
                                d,
                                now,
                                self.config.daemon.retry_max,
                                info.as_ref().map(|i| i.not_after),
                            )
                        });
                    }
                }
            }
        }
        let jitter = plan::jitter_for(
            &self.jitter_seed,
            &cert.name,
            info.as_ref().map(|i| i.serial.as_str()).unwrap_or(""),
        );
        let p = plan::plan(info.as_ref(), cert.renew_before, state, self.retry_policy(), jitter, now);
        (info, p)
    }

    /// The plan as if there were no order ceiling: when a certificate held back by the
    /// ceiling would have been due (the daemon wakes then, to report the trip).
    pub fn plan_without_ceiling(
        &self,
        cert: &CertificateConfig,
        info: Option<&CertInfo>,
        state: &CertState,
        now: OffsetDateTime,
    ) -> Plan {
        let policy = self.retry_policy();
        let unlimited = RetryPolicy { ceiling: Ceiling { max_orders: u32::MAX, ..policy.ceiling }, ..policy };
        let jitter =
            plan::jitter_for(&self.jitter_seed, &cert.name, info.map(|i| i.serial.as_str()).unwrap_or(""));
        plan::plan(info, cert.renew_before, state, unlimited, jitter, now)
    }

    /// Renews `cert` if its plan says so (or when `Forced`), recording the outcome in its state.
    #[tracing::instrument(name = "cert", skip_all, fields(cert = %cert.name))]
    pub async fn renew_if_due(
        &self,
        cert: &CertificateConfig,
        urgency: Urgency,
        cancel: impl Future<Output = ()>,
    ) -> Outcome {
        let state_dir = &self.config.storage.state_dir;
        let mut state = state::load(state_dir, &cert.name);
        let now = OffsetDateTime::now_utc();
        let (info, planned) = self.plan(cert, &mut state, now).await;
        if urgency == Urgency::IfDue && !planned.is_due(now) {
            if planned.reason == plan::Reason::Ceiling {
                // Due but for the ceiling: that is an alert, not a quiet "not due".
                if self.plan_without_ceiling(cert, info.as_ref(), &state, now).is_due(now)
                    && let Err(tripped) = self.retry_policy().ceiling.check(&state.orders, now)
                {
                    return self.record_failure(cert, &mut state, info.as_ref(), Error::Ceiling(tripped));
                }
            }
            let _ = state::save(state_dir, &cert.name, &state);
            return Outcome::NotDue(planned);
        }
        tracing::info!(reason = planned.reason.describe(), "renewing");
        self.renew_locked(cert, state, info, urgency, cancel).await
    }

    /// Takes the renewal lock, checks again whether renewal is still needed (`IfDue`:
    /// another host may have just finished), renews while keeping the lease alive, records
    /// the outcome and releases the lock. While another host holds the lease it is watched
    /// (see `wait_for_lock`), and its certificate installed as soon as it is stored.
    pub async fn renew_locked(
        &self,
        cert: &CertificateConfig,
        mut state: CertState,
        info: Option<CertInfo>,
        urgency: Urgency,
        cancel: impl Future<Output = ()>,
    ) -> Outcome {
        let recheck = urgency == Urgency::IfDue;
        let state_dir = &self.config.storage.state_dir;
        let ttl = self.config.daemon.lock_ttl;
        let mut cancel = std::pin::pin!(cancel);
        let held = match self.wait_for_lock(cert, info.as_ref(), recheck, cancel.as_mut()).await {
            Waited::Locked(held) => held,
            Waited::Converged(plan) => {
                state.record_success(OffsetDateTime::now_utc());
                let _ = state::save(state_dir, &cert.name, &state);
                return Outcome::NotDue(plan);
            }
            Waited::Busy { holder, retry_at } => return Outcome::Busy { holder, retry_at },
            Waited::Failed(e) => {
                return self.record_failure(cert, &mut state, info.as_ref(), Error::Lock(e));
            }
        };
        crate::challenge::recover_remote(self.config, &self.storage, &cert.name).await;
        // Orders other hosts (or an earlier run) made count against the ceiling too.
        let now = OffsetDateTime::now_utc();
        state.orders =
            ceiling::merge(&state.orders, held.shared_orders(), self.config.daemon.orders_window, now);
        // Another process may have stored a new certificate while we waited for the lock:
        // renew only if the certificate stored now still needs it.
        if recheck && let Some(again) = self.install_if_renewed_elsewhere(cert, info.as_ref()).await {
            held.share_orders(&state.orders).await;
            self.storage.release_lock(held).await;
            state.record_success(OffsetDateTime::now_utc());
            let _ = state::save(state_dir, &cert.name, &state);
            return Outcome::NotDue(again);
        }
        if recheck && let Err(tripped) = self.retry_policy().ceiling.check(&state.orders, now) {
            held.share_orders(&state.orders).await;
            self.storage.release_lock(held).await;
            return self.record_failure(cert, &mut state, info.as_ref(), Error::Ceiling(tripped));
        }
        let replaces = match (&state.ari, &info) {
            (Some(w), Some(i)) if i.ari_id.as_deref() == Some(w.cert_id.as_str()) => {
                ari::identifier(&w.cert_id)
            }
            _ => None,
        };
        let fence = held.fence();
        let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            tokio::select! {
                _ = cancel => {}
                _ = lost_rx => {}
            }
        };
        // Each new order is written to the state file at once, so a crash or a kill right
        // after it still counts it.
        let created = std::sync::Mutex::new(Vec::<OffsetDateTime>::new());
        let window = self.config.daemon.orders_window;
        let on_created = || {
            let at = OffsetDateTime::now_utc();
            created.lock().expect("order times").push(at);
            let mut on_disk = state::load(state_dir, &cert.name);
            on_disk.orders = ceiling::merge(&on_disk.orders, &[at], window, at);
            if let Err(e) = state::save(state_dir, &cert.name, &on_disk) {
                tracing::warn!(error = %e, "cannot record the new order in the state file");
            }
        };
        let work = async {
            match self.account().await {
                Ok(account) => {
                    obtain(self.config, &self.storage, account, cert, replaces, fence, &on_created, stop)
                        .await
                }
                Err(e) => Err(Error::Acme(e)),
            }
        };
        let result = tokio::select! {
            result = work => result,
            _ = keep_alive(&self.storage, &held, ttl, lost_tx) => unreachable!("keep_alive never returns"),
        };
        let now = OffsetDateTime::now_utc();
        let created = created.into_inner().unwrap_or_default();
        state.orders = ceiling::merge(&state.orders, &created, window, now);
        held.share_orders(&state.orders).await;
        self.storage.release_lock(held).await;
        match result {
            Ok(obtained) => {
                state.record_success(now);
                if let Some(Err(_)) = &obtained.hook {
                    state.hook_failures += 1;
                } else if obtained.hook.is_some() {
                    state.hook_failures = 0;
                }
                // The certificate in use now may still be due: the store kept a longer-lived
                // one that is due (a switch to a shorter profile), or the plan cannot be met
                // by any certificate this CA issues. Ordering again at once would loop: it is
                // a failure, retried after the backoff.
                let in_use = self.current_info(&cert.name).await;
                let jitter = plan::jitter_for(
                    &self.jitter_seed,
                    &cert.name,
                    in_use.as_ref().map_or("", |i| &i.serial),
                );
                let after = CertState { orders: state.orders.clone(), ..CertState::default() };
                let again =
                    plan::plan(in_use.as_ref(), cert.renew_before, &after, self.retry_policy(), jitter, now);
                if again.is_due(now) && again.reason != plan::Reason::Ceiling {
                    let serial = in_use.as_ref().map_or("none", |i| i.serial.as_str());
                    let message = format!(
                        "renewed, but the certificate in use (serial {serial}) is still due ({}); not ordering again before the backoff",
                        again.reason.describe()
                    );
                    state.record_failure(now, message.clone(), None);
                    let next = plan::plan(
                        in_use.as_ref(),
                        cert.renew_before,
                        &state,
                        self.retry_policy(),
                        jitter,
                        now,
                    );
                    tracing::error!(failures = state.failures, next_attempt = %plan::stamp(next.at), "{message}");
                }
                let _ = state::save(state_dir, &cert.name, &state);
                Outcome::Renewed(Box::new(obtained))
            }
            Err(error) => self.record_failure(cert, &mut state, info.as_ref(), error),
        }
    }

    /// Takes the renewal lock. While another host holds the lease, polls (250 ms, doubling
    /// up to 2 s) for as long as the lease's TTL: the holder's certificate is installed (and
    /// the deploy hook run) as soon as it is stored (`recheck` only), a released lease is
    /// taken, and a lease seen unchanged for its whole TTL is taken over. A lease still alive
    /// after that is reported busy, to be looked at again at once.
    async fn wait_for_lock(
        &self,
        cert: &CertificateConfig,
        info: Option<&CertInfo>,
        recheck: bool,
        mut cancel: Pin<&mut impl Future<Output = ()>>,
    ) -> Waited {
        let ttl = self.config.daemon.lock_ttl;
        let started = Instant::now();
        let mut pause = WATCH_FIRST;
        let mut watching = false;
        loop {
            let record = match self.storage.lock(&cert.name, ttl).await {
                Ok(LockOutcome::Acquired(held)) => return Waited::Locked(held),
                Ok(LockOutcome::HeldLocally) => {
                    // It installs and deploys for this host too: nothing to wait for here.
                    tracing::info!("another wildcert process on this host is renewing it");
                    return Waited::Busy {
                        holder: "another wildcert process on this host".into(),
                        retry_at: OffsetDateTime::now_utc() + Duration::from_secs(5),
                    };
                }
                Ok(LockOutcome::HeldBy(record)) => record,
                Err(e) => return Waited::Failed(e),
            };
            if !watching {
                tracing::info!(holder = %record.describe(), "another process holds the renewal lock; watching for its certificate");
                watching = true;
            }
            if recheck && let Some(plan) = self.install_if_renewed_elsewhere(cert, info).await {
                return Waited::Converged(plan);
            }
            // The lease is taken over once seen unchanged for its TTL: watch a little longer.
            if started.elapsed() > record.ttl(ttl) + 2 * WATCH_MAX {
                tracing::info!(holder = %record.describe(), "the renewal lock is still held; looking again");
                return Waited::Busy {
                    holder: record.describe(),
                    retry_at: OffsetDateTime::now_utc() + Duration::from_secs(1),
                };
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.as_mut() => {
                    return Waited::Busy { holder: record.describe(), retry_at: OffsetDateTime::now_utc() };
                }
            }
            pause = (pause * 2).min(WATCH_MAX);
        }
    }

    /// When the bucket holds another certificate than `planned_from` and that one is not due,
    /// installs it locally (deploy hook included) and returns its plan.
    async fn install_if_renewed_elsewhere(
        &self,
        cert: &CertificateConfig,
        planned_from: Option<&CertInfo>,
    ) -> Option<Plan> {
        let now = OffsetDateTime::now_utc();
        let fresh = self.current_info(&cert.name).await?;
        if Some(&fresh.serial) == planned_from.map(|i| &i.serial) {
            return None;
        }
        let jitter = plan::jitter_for(&self.jitter_seed, &cert.name, &fresh.serial);
        let again = plan::plan(
            Some(&fresh),
            cert.renew_before,
            &CertState::default(),
            self.retry_policy(),
            jitter,
            now,
        );
        if again.is_due(now) {
            return None;
        }
        tracing::info!(serial = %fresh.serial, "renewed by another process meanwhile; installing its certificate");
        match self.storage.sync_local(&cert.name, &Expected::for_certificate(cert)).await {
            Ok(Some(live)) => {
                deploy(cert, &Saved { live, bucket: crate::store::BucketOutcome::InstalledFromBucket }).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot install the certificate stored in the bucket"),
        }
        Some(again)
    }

    fn record_failure(
        &self,
        cert: &CertificateConfig,
        state: &mut CertState,
        info: Option<&CertInfo>,
        error: Error,
    ) -> Outcome {
        let now = OffsetDateTime::now_utc();
        // The CA's or the DNS provider's "come back later", capped at `retry_max` and before
        // expiry (a year-long value must not let it expire).
        let retry_after = error
            .retry_after()
            .map(|d| plan::cap_retry_after(d, now, self.config.daemon.retry_max, info.map(|i| i.not_after)));
        let tripped = error.ceiling_tripped().cloned();
        let kind = if tripped.is_some() {
            FailureKind::Ceiling
        } else if error.is_validation() {
            FailureKind::Validation
        } else {
            FailureKind::Other
        };
        let message = crate::error_chain::message(&error);
        state.record_failure(now, message.clone(), retry_after);
        state.failure_kind = Some(kind);
        let jitter = plan::jitter_for(&self.jitter_seed, &cert.name, "");
        let next = plan::plan(info, cert.renew_before, state, self.retry_policy(), jitter, now);
        match &tripped {
            Some(t) => tracing::error!(
                max_orders = t.max_orders,
                window = %t.window,
                orders_resume = %plan::stamp(t.until),
                "order ceiling reached: {} new orders within the last {}; no new order until {}",
                t.recent,
                t.window,
                plan::stamp(t.until)
            ),
            None => tracing::error!(
                error = %message,
                failures = state.failures,
                kind = ?kind,
                retry_after = retry_after.map(plan::stamp),
                next_attempt = %plan::stamp(next.at),
                "renewal failed"
            ),
        }
        let _ = state::save(&self.config.storage.state_dir, &cert.name, state);
        Outcome::Failed { error, next }
    }
}

/// What `wait_for_lock` found.
enum Waited {
    Locked(RenewalLock),
    /// Another host stored a certificate that is not due; it is installed here now.
    Converged(Plan),
    Busy {
        holder: String,
        retry_at: OffsetDateTime,
    },
    Failed(StoreError),
}

/// Extends the renewal lease every third of its TTL while an order runs (sooner after a
/// failed attempt). Tells the order to stop when the lease was taken over, or when it could
/// not be extended for a whole TTL (another host may take it over from then on). Never
/// returns.
async fn keep_alive(
    storage: &Storage,
    held: &RenewalLock,
    ttl: Duration,
    lost: tokio::sync::oneshot::Sender<()>,
) {
    let mut pause = ttl / 3;
    loop {
        tokio::time::sleep(pause).await;
        match storage.extend_lock(held).await {
            Ok(()) => pause = ttl / 3,
            Err(StoreError::ConditionFailed { .. }) => {
                tracing::error!("the renewal lock was taken over by another process; stopping this order");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not extend the renewal lock; will retry");
                pause = (ttl / 10).max(Duration::from_millis(200));
            }
        }
        if held.lapsed().await {
            tracing::error!(
                "the renewal lock could not be extended for its whole TTL and may be taken over; stopping this order"
            );
            break;
        }
    }
    let _ = lost.send(());
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn info(serial: &str, not_after: OffsetDateTime) -> CertInfo {
        CertInfo {
            names: vec!["*.gradient.example.com".into()],
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after,
            serial: serial.into(),
            subject: String::new(),
            issuer: String::new(),
            ari_id: None,
        }
    }

    #[test]
    fn planning_uses_the_certificate_that_expires_last() {
        let bucket = info("bucket", datetime!(2026-03-01 0:00 UTC));
        let local = info("local", datetime!(2026-04-01 0:00 UTC));
        let queued = info("queued", datetime!(2026-04-01 0:00 UTC));
        // A bucket that refused the new certificate still serves the old one.
        let picked = newest([Some(bucket.clone()), Some(local), Some(queued)]).unwrap();
        assert_eq!(picked.serial, "local", "on a tie the earlier source wins");
        assert_eq!(newest([Some(bucket.clone()), None, None]).unwrap().serial, "bucket");
        let later = info("queued", datetime!(2026-05-01 0:00 UTC));
        assert_eq!(newest([Some(bucket), None, Some(later)]).unwrap().serial, "queued");
        assert!(newest([None, None, None]).is_none());
    }

    /// An issued chain is path-validated against the configured private CA when it issued
    /// the chain (see `bundle::path`), so the CA certificates must reach the check.
    #[test]
    fn issued_chains_are_checked_with_the_configured_ca_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        let text = format!(
            r#"
[acme]
directory = "https://127.0.0.1:14000/dir"
ca_certificates = "{ca}"

[storage]
local_dir = "{live}"
state_dir = "{state}"

[[certificate]]
name = "gradient"
source = "files"
domains = ["*.gradient.example.com"]
key_file = "{dir}/key.pem"
bundle_file = "{dir}/server.crt"
"#,
            ca = ca_path.display(),
            live = dir.path().join("live").display(),
            state = dir.path().join("state").display(),
            dir = dir.path().display(),
        );
        let config = Config::parse(&dir.path().join("wildcert.toml"), &text).unwrap();
        let opts = issued_chain_options(&config, &config.certificates[0]);
        assert_eq!(opts.known_cas, vec![ca.der().clone()]);
        assert!(opts.roots.is_none(), "an issued chain gets no trust check, as before");
        assert_eq!(opts.names, ["*.gradient.example.com"]);
    }
}
