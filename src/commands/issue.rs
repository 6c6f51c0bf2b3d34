//! `wildcert issue`: get certificates now, skipping ones that are not due (unless --force).

use std::time::Duration;

use time::OffsetDateTime;
use tracing::Instrument;

use crate::cli::IssueArgs;
use crate::commands::error::CommandError;
use wildcert::alerts::{Alerts, Event};
use wildcert::config::{CertificateConfig, Config, Source};
use wildcert::exit::Status;
use wildcert::renewal::{Outcome, Session, Urgency};
use wildcert::signals::Shutdown;
use wildcert::state::CertState;
use wildcert::{plan, state};

/// How long a finished command waits for notifications still being delivered.
pub(crate) const NOTIFY_GRACE: Duration = Duration::from_secs(20);
/// The same after a stop signal: systemd's stop timeout must not run out.
pub(crate) const NOTIFY_GRACE_STOPPING: Duration = Duration::from_secs(2);

pub async fn run(config: Config, args: IssueArgs) -> Result<Status, CommandError> {
    let shutdown = Shutdown::listen();
    let alerts = Alerts::start(&config)?;
    let result = issue(&config, &args, &shutdown, &alerts).await;
    let grace = if shutdown.requested().is_some() { NOTIFY_GRACE_STOPPING } else { NOTIFY_GRACE };
    alerts.finish(grace).await;
    match shutdown.requested() {
        Some(stop) => {
            eprintln!("stopped by {}; certificates not yet issued were not started", stop.name());
            Ok(stop.status())
        }
        None => result,
    }
}

/// `--force` orders even when the certificate is not due.
fn urgency(force: bool) -> Urgency {
    if force { Urgency::Forced } else { Urgency::IfDue }
}

async fn issue(
    config: &Config,
    args: &IssueArgs,
    shutdown: &Shutdown,
    alerts: &Alerts,
) -> Result<Status, CommandError> {
    let selected = config.select(args.cert.as_deref())?;
    if let Some(name) = &args.cert
        && selected.iter().any(|c| c.source == Source::Files)
    {
        return Err(CommandError::NotIssuedByAcme { name: name.clone() });
    }
    let certs: Vec<&CertificateConfig> = selected.into_iter().filter(|c| c.source == Source::Acme).collect();
    if certs.is_empty() {
        println!("no ACME certificates configured in {}", config.path.display());
        return Ok(Status::Ok);
    }
    // A new host of a fleet gets the certificate the others already stored.
    let ctx = Session::open(config).await;
    let mut first_error: Option<CommandError> = None;
    for cert in &certs {
        if shutdown.requested().is_some() {
            break;
        }
        let cert = *cert;
        let state = state::load(&config.storage.state_dir, &cert.name);
        // The schedule `status` and `renew` follow, without the failure backoff: asking for a
        // certificate by hand is an attempt of its own.
        let mut schedule = CertState { failures: 0, retry_after: None, ..state.clone() };
        let now = OffsetDateTime::now_utc();
        let (info, planned) = ctx.plan_offline(cert, &mut schedule, now).await;
        if !args.force
            && let Some(info) = &info
            && !planned.is_due(now)
        {
            println!(
                "{}: valid until {}, renewal due {} ({}); nothing to do (--force issues anyway)",
                cert.name,
                plan::show(info.not_after),
                plan::show(planned.at),
                planned.reason.describe()
            );
            continue;
        }
        let stop = shutdown.clone();
        let outcome = ctx
            .renew_locked(cert, state, info, urgency(args.force), async move { stop.wait().await })
            .instrument(tracing::info_span!("cert", cert = %cert.name))
            .await;
        match outcome {
            Outcome::Renewed(obtained) => {
                let info = &obtained.pair.info;
                alerts.send(Event::Renewed {
                    certificate: cert.name.clone(),
                    not_after: info.not_after,
                    serial: info.serial.clone(),
                });
                println!(
                    "{}: issued {} (serial {}), valid until {}; {}",
                    cert.name,
                    info.names.join(", "),
                    info.serial,
                    plan::show(info.not_after),
                    obtained.saved.live.fullchain.display()
                );
                if let Some(Err(e)) = &obtained.hook {
                    eprintln!("warning: {e}");
                }
            }
            Outcome::NotDue(_) => {
                println!("{}: renewed by another process meanwhile; nothing to do", cert.name)
            }
            Outcome::Busy { holder, .. } => {
                let e =
                    CommandError::from(wildcert::store::StoreError::Busy { name: cert.name.clone(), holder });
                eprintln!("error: {}", wildcert::error_chain::message(&e));
                first_error.get_or_insert(e);
            }
            Outcome::Failed { error, next } => {
                eprintln!("error: {}: {}", cert.name, wildcert::error_chain::message(&error));
                if shutdown.requested().is_none() {
                    alerts.renewal_failed(&ctx, cert, &error, next.at).await;
                }
                first_error.get_or_insert(error.into());
            }
        }
    }
    if shutdown.requested().is_none() {
        alerts.check_expiry_all(&ctx, &certs).await;
    }
    match first_error {
        Some(e) => Err(CommandError::Unfinished {
            summary: "not every certificate could be issued",
            first: Box::new(e),
        }),
        None => Ok(Status::Ok),
    }
}
