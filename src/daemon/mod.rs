//! `wildcert run`: the long-running service. Each round it re-imports changed supplied
//! certificates, plans every ACME certificate (ARI window or lifetime rule, backoff after
//! failures), renews the due ones concurrently (bounded per CA and per DNS provider), and
//! sleeps until the earliest planned time or `check_interval`. SIGHUP reloads the
//! configuration (a broken one is refused and the old one kept); SIGTERM/SIGINT stop within
//! seconds, removing any challenge record in flight.
//!
//! The systemd watchdog is pinged while the loop waits between rounds, when a round ends,
//! and during a round only while it makes progress (`crate::progress`): a round stuck on
//! something without a deadline stops the pings, and systemd restarts the service.

pub mod metrics;
pub mod notify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;

use crate::alerts::{Alerts, Event};
use crate::config::{Config, Source};
use crate::exit::Status;
use crate::renewal::{Outcome, Session};
use crate::signals::Shutdown;
use crate::{state, supplied};
use metrics::Metrics;
use notify::Notifier;

/// Concurrent orders through one `[dns.NAME]` adapter.
const PER_DNS_CONCURRENCY: usize = 2;
/// How long SIGTERM waits for in-flight orders to clean up.
const STOP_GRACE: Duration = Duration::from_secs(8);

/// Why the service could not start (once running, failures are logged and retried instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A directory wildcert must write to is not writable: found before READY, not in the
    /// middle of the first order.
    #[error("{what} {}: {error}", path.display())]
    NotWritable {
        /// The setting that names the directory.
        what: &'static str,
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// `[daemon] metrics_listen` cannot be bound.
    #[error("cannot serve metrics on {addr} ([daemon] metrics_listen): {error}")]
    Metrics {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why it cannot be bound.
        error: std::io::Error,
    },
    /// The SIGHUP handler cannot be installed.
    #[error(transparent)]
    Signal(#[from] std::io::Error),
}

/// Runs the service until SIGTERM or SIGINT: a renewal round, then a wait until the next
/// certificate is due (or `check_interval`), re-reading the configuration on SIGHUP.
pub async fn run(config_path: PathBuf) -> Result<Status, Error> {
    let mut config = Config::load(&config_path)?;
    config.refuse_interactive(&config.certificates, "run")?;
    preflight(&config)?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let notifier = Notifier::from_env();
    let mut alerts = Alerts::start(&config)?;
    let metrics = Metrics::default();
    let _server = match config.daemon.metrics_listen {
        Some(addr) => {
            let stale =
                time::Duration::try_from(config.daemon.check_interval * 3).unwrap_or(time::Duration::DAY);
            Some(
                metrics::serve(addr, metrics.clone(), stale)
                    .await
                    .map_err(|error| Error::Metrics { addr, error })?,
            )
        }
        None => None,
    };

    let shutdown = Shutdown::listen();
    let mut hup = signal(SignalKind::hangup())?;
    let watchdog = notify::watchdog_interval();

    let acme_count = config.certificates.iter().filter(|c| c.source == Source::Acme).count();
    notifier.ready(&format!("managing {} certificate(s), {acme_count} from ACME", config.certificates.len()));
    tracing::info!(config = %config_path.display(), certificates = config.certificates.len(), "wildcert is running");

    let mut account = None;
    loop {
        let work = async {
            // Every round starts like a command: leftovers removed (skipping certificates
            // another process is working on), queued uploads and other hosts' certificates.
            let mut ctx = Session::open(&config).await;
            if let Some(a) = account.take() {
                ctx.set_account(a);
            }
            let next = round(&ctx, &metrics, &shutdown, &alerts).await;
            (next, ctx.into_account())
        };
        let (next, kept) = watched(work, watchdog, &notifier).await;
        account = kept;
        notifier.watchdog();
        metrics.loop_ran(OffsetDateTime::now_utc());
        if shutdown.requested().is_some() {
            break;
        }
        let now = OffsetDateTime::now_utc();
        let wake = next
            .as_ref()
            .map(|(at, _)| *at)
            .unwrap_or(now + config.daemon.check_interval)
            .min(now + config.daemon.check_interval);
        let status = match &next {
            Some((at, name)) => format!("next renewal: {name} at {}", crate::plan::stamp(*at)),
            None => "nothing to renew".into(),
        };
        notifier.status(&status);
        tracing::info!(next_round = %crate::plan::stamp(wake), "{status}");
        let sleep = (wake - now).try_into().unwrap_or(Duration::ZERO).max(Duration::from_millis(200));
        let wake_at = tokio::time::Instant::now() + sleep;
        // Waiting is being alive: ping the watchdog on its schedule until the next round.
        let wait = async {
            loop {
                let now = tokio::time::Instant::now();
                let until = watchdog.map_or(wake_at, |every| (now + every).min(wake_at));
                tokio::time::sleep_until(until).await;
                if until >= wake_at {
                    break;
                }
                notifier.watchdog();
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = shutdown.wait() => break,
            _ = hup.recv() => {
                notifier.reloading();
                match Config::load(&config_path).and_then(|c| c.refuse_interactive(&c.certificates, "run").map(|_| c)).and_then(|c| preflight(&c).map(|_| c).map_err(|e| crate::config::ConfigError::Invalid {
                    path: config_path.clone(), line: None, key: "storage".into(), message: e.to_string(),
                })) {
                    Ok(new) => {
                        tracing::info!("configuration reloaded");
                        crate::dns::provider::Provider::forget_shared();
                        // A new CA, or a new proxy (the account holds its HTTP client).
                        if new.acme.directory != config.acme.directory || new.network != config.network {
                            account = None;
                        }
                        match Alerts::start(&new) {
                            Ok(a) => alerts = a,
                            Err(e) => tracing::error!(error = %e, "[notify] of the new configuration is unusable; notifying as before"),
                        }
                        config = new;
                        let names: Vec<&str> = config.certificates.iter().map(|c| c.name.as_str()).collect();
                        metrics.retain(&names);
                    }
                    Err(e) => tracing::error!(error = %e, "the new configuration is broken; still running with the old one"),
                }
                notifier.ready("configuration reloaded");
            }
        }
    }
    notifier.stopping();
    alerts.finish(Duration::from_secs(2)).await;
    tracing::info!("stopped");
    Ok(Status::Ok)
}

/// Runs one round, pinging the watchdog every `every` only if some work completed since
/// the last look: a stalled round stops the pings and systemd restarts the service.
async fn watched<T>(
    round: impl std::future::Future<Output = T>,
    every: Option<Duration>,
    notifier: &Notifier,
) -> T {
    let Some(every) = every else { return round.await };
    tokio::pin!(round);
    let mut seen = crate::progress::steps();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut round => return out,
            _ = tick.tick() => {
                let now = crate::progress::steps();
                if now != seen {
                    seen = now;
                    notifier.watchdog();
                } else {
                    tracing::warn!(quiet_for = ?every, "the renewal round made no progress; not pinging the watchdog");
                }
            }
        }
    }
}

/// Checks that the directories wildcert writes to can be written, before READY.
fn preflight(config: &Config) -> Result<(), Error> {
    for (what, dir) in
        [("storage.state_dir", &config.storage.state_dir), ("storage.local_dir", &config.storage.local_dir)]
    {
        writable(dir).map_err(|error| Error::NotWritable { what, path: dir.clone(), error })?;
    }
    Ok(())
}

fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".wildcert-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// One pass over every certificate; returns the earliest next planned renewal.
async fn round(
    ctx: &Session<'_>,
    metrics: &Metrics,
    stop: &Shutdown,
    alerts: &Alerts,
) -> Option<(OffsetDateTime, String)> {
    let config = ctx.config;
    for cert in config.certificates.iter().filter(|c| c.source == Source::Files) {
        supplied::check_and_reimport(config, &ctx.storage, cert).await;
        let st = state::load(&config.storage.state_dir, &cert.name);
        let not_after = ctx.current_info(&cert.name).await.map(|i| i.not_after);
        alerts.check_expiry(&cert.name, not_after, cert.source, OffsetDateTime::now_utc());
        metrics.update(&cert.name, |m| {
            m.not_after = not_after;
            m.last_success = st.last_success;
            m.consecutive_failures = st.failures;
        });
    }

    let ca_limit = Arc::new(Semaphore::new(config.daemon.max_concurrent_orders));
    let mut dns_limits: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let acme_certs: Vec<_> = config.certificates.iter().filter(|c| c.source == Source::Acme).collect();
    let tasks = acme_certs.iter().map(|cert| {
        let ca = ca_limit.clone();
        let dns_name = config.dns_for(cert).map(|d| d.name.clone()).unwrap_or_default();
        let dns = dns_limits
            .entry(dns_name)
            .or_insert_with(|| Arc::new(Semaphore::new(PER_DNS_CONCURRENCY)))
            .clone();
        let stop = stop.clone();
        async move {
            let _ca = ca.acquire_owned().await.ok();
            let _dns = dns.acquire_owned().await.ok();
            if stop.requested().is_some() {
                return None;
            }
            let started = std::time::Instant::now();
            let cancel = async move {
                stop.wait().await;
                tokio::time::sleep(Duration::ZERO).await;
            };
            let outcome = ctx.renew_if_due(cert, crate::renewal::Urgency::IfDue, cancel).await;
            Some((cert.name.clone(), outcome, started.elapsed()))
        }
    });
    let mut results = futures_util::stream::iter(tasks).buffer_unordered(acme_certs.len().max(1));
    let mut stopping_since: Option<std::time::Instant> = None;
    let mut busy: Vec<(OffsetDateTime, String)> = Vec::new();
    loop {
        let item = if let Some(since) = stopping_since {
            match tokio::time::timeout(STOP_GRACE.saturating_sub(since.elapsed()), results.next()).await {
                Ok(item) => item,
                Err(_) => {
                    tracing::warn!("stopping without waiting longer for orders in flight");
                    break;
                }
            }
        } else {
            results.next().await
        };
        let Some(item) = item else { break };
        if stop.requested().is_some() && stopping_since.is_none() {
            stopping_since = Some(std::time::Instant::now());
        }
        let Some((name, outcome, took)) = item else { continue };
        crate::progress::tick();
        match outcome {
            Outcome::NotDue(_) => {}
            Outcome::Renewed(obtained) => {
                alerts.send(Event::Renewed {
                    certificate: name.clone(),
                    not_after: obtained.pair.info.not_after,
                    serial: obtained.pair.info.serial.clone(),
                });
                metrics.observe_order(took.as_secs_f64());
                metrics.update(&name, |m| {
                    m.renewals_total += 1;
                    if let Some(Err(_)) = &obtained.hook {
                        m.hook_failures_total += 1;
                    }
                });
            }
            Outcome::Failed { ref error, ref next } => {
                let tripped = outcome.ceiling_tripped().is_some();
                metrics.update(&name, |m| {
                    m.failures_total += 1;
                    m.ceiling_trips_total += u64::from(tripped);
                });
                if stop.requested().is_none()
                    && let Some(cert) = config.certificate(&name)
                {
                    alerts.renewal_failed(ctx, cert, error, next.at).await;
                }
            }
            Outcome::Busy { retry_at, .. } => {
                busy.push((retry_at, name));
            }
        }
    }
    drop(results);

    // Plans after the renewals, for the next wake-up, the metrics and STATUS.
    let mut earliest: Option<(OffsetDateTime, String)> = None;
    let now = OffsetDateTime::now_utc();
    for cert in acme_certs {
        let mut st = state::load(&config.storage.state_dir, &cert.name);
        let (info, plan) = ctx.plan_offline(cert, &mut st, now).await;
        alerts.check_expiry(&cert.name, info.as_ref().map(|i| i.not_after), cert.source, now);
        metrics.update(&cert.name, |m| {
            m.not_after = info.as_ref().map(|i| i.not_after);
            m.next_renewal = Some(plan.at);
            m.last_success = st.last_success;
            m.consecutive_failures = st.failures;
            let ceiling = ctx.retry_policy().ceiling;
            m.orders_blocked_until = ceiling.next_allowed(&st.orders, now);
            m.recent_orders = ceiling.recent(&st.orders, now) as u32;
        });
        let mut at = busy.iter().find(|(_, n)| *n == cert.name).map_or(plan.at, |(retry_at, _)| *retry_at);
        // Held back by the order ceiling and not reported yet: wake when it would have been
        // due, so the trip is logged and counted then rather than when the window ends.
        if plan.reason == crate::plan::Reason::Ceiling && st.failure_kind != Some(state::FailureKind::Ceiling)
        {
            at = at.min(ctx.plan_without_ceiling(cert, info.as_ref(), &st, now).at);
        }
        if earliest.as_ref().is_none_or(|(e, _)| at < *e) {
            earliest = Some((at, cert.name.clone()));
        }
    }
    earliest
}
