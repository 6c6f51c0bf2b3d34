//! `wildcert renew`: renew what is due now and exit — for a systemd timer or cron. Uses the
//! same planning as the daemon, so a timer and a service agree on what "due" means.

use crate::cli::RenewArgs;
use crate::commands::error::CommandError;
use crate::commands::issue::{NOTIFY_GRACE, NOTIFY_GRACE_STOPPING};
use wildcert::alerts::{Alerts, Event};
use wildcert::config::{Config, Source};
use wildcert::exit::Status;
use wildcert::plan::show;
use wildcert::renewal::{Outcome, Session, Urgency};
use wildcert::signals::Shutdown;

pub async fn run(config: Config, args: RenewArgs) -> Result<Status, CommandError> {
    let shutdown = Shutdown::listen();
    let alerts = Alerts::start(&config)?;
    let result = renew(&config, &args, &shutdown, &alerts).await;
    let grace = if shutdown.requested().is_some() { NOTIFY_GRACE_STOPPING } else { NOTIFY_GRACE };
    alerts.finish(grace).await;
    match shutdown.requested() {
        Some(stop) => {
            eprintln!("stopped by {}; certificates not yet renewed were not started", stop.name());
            Ok(stop.status())
        }
        None => result,
    }
}

async fn renew(
    config: &Config,
    args: &RenewArgs,
    shutdown: &Shutdown,
    alerts: &Alerts,
) -> Result<Status, CommandError> {
    let selected = config.select(args.cert.as_deref())?;
    config.refuse_interactive(selected.iter().copied(), "renew")?;
    let ctx = Session::open(config).await;
    let mut first_error = None;
    for cert in selected.iter().copied() {
        if shutdown.requested().is_some() {
            break;
        }
        if cert.source == Source::Files {
            wildcert::supplied::check_and_reimport(config, &ctx.storage, cert).await;
            continue;
        }
        let stop = shutdown.clone();
        match ctx.renew_if_due(cert, Urgency::IfDue, async move { stop.wait().await }).await {
            Outcome::NotDue(plan) => {
                println!("{}: not due; renewal {} ({})", cert.name, show(plan.at), plan.reason.describe());
            }
            Outcome::Renewed(obtained) => {
                println!(
                    "{}: renewed (serial {}), valid until {}",
                    cert.name,
                    obtained.pair.info.serial,
                    show(obtained.pair.info.not_after)
                );
                alerts.send(Event::Renewed {
                    certificate: cert.name.clone(),
                    not_after: obtained.pair.info.not_after,
                    serial: obtained.pair.info.serial.clone(),
                });
            }
            Outcome::Busy { holder, .. } => {
                println!("{}: another process is renewing it ({holder})", cert.name);
            }
            Outcome::Failed { error, next } => {
                eprintln!(
                    "error: {}: {} (next attempt {})",
                    cert.name,
                    wildcert::error_chain::message(&error),
                    show(next.at)
                );
                if shutdown.requested().is_none() {
                    alerts.renewal_failed(&ctx, cert, &error, next.at).await;
                }
                first_error.get_or_insert(error);
            }
        }
    }
    if shutdown.requested().is_none() {
        alerts.check_expiry_all(&ctx, &selected).await;
    }
    match first_error {
        Some(e) => Err(CommandError::Unfinished {
            summary: "not every due certificate could be renewed",
            first: Box::new(e.into()),
        }),
        None => Ok(Status::Ok),
    }
}
