//! `wildcert issue`: get certificates now, skipping ones that are not due (unless --force).

use anyhow::bail;
use time::OffsetDateTime;

use crate::challenge;
use crate::cli::IssueArgs;
use crate::config::{CertificateConfig, Config, Source};
use crate::exit::Status;
use crate::renewal::{Context, Outcome};
use crate::state::CertState;
use crate::store::Storage;
use crate::{plan, signals, state};

pub async fn run(config: Config, args: IssueArgs) -> anyhow::Result<Status> {
    let selected = config.select(args.cert.as_deref())?;
    if let Some(name) = &args.cert
        && selected.iter().any(|c| c.source == Source::Files)
    {
        bail!(
            "certificate {name} has source = \"files\"; it is not issued but imported: use `wildcert import --cert {name} --key KEY --bundle CRT`"
        );
    }
    let certs: Vec<&CertificateConfig> = selected.into_iter().filter(|c| c.source == Source::Acme).collect();
    if certs.is_empty() {
        println!("no ACME certificates configured in {}", config.path.display());
        return Ok(Status::Ok);
    }
    let removed = challenge::recover_leftovers(&config).await;
    if removed > 0 {
        tracing::info!(removed, "cleaned up challenge records left by an earlier run");
    }
    let storage = Storage::new(&config);
    // A new host of a fleet gets the certificate the others already stored.
    crate::renewal::sync_from_bucket(&config, &storage).await;
    let ctx = Context::new(&config, &storage);
    let mut first_error: Option<anyhow::Error> = None;
    for cert in certs {
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
        match ctx.renew_locked(cert, state, info, !args.force, signals::shutdown()).await {
            Outcome::Renewed(obtained) => {
                let info = &obtained.pair.info;
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
                    anyhow::Error::new(crate::store::StoreError::Busy { name: cert.name.clone(), holder });
                eprintln!("error: {}", crate::cli::chain_message(&e));
                first_error.get_or_insert(e);
            }
            Outcome::Failed { error, .. } => {
                eprintln!("error: {}: {}", cert.name, crate::cli::chain_message(&error));
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.context("not every certificate could be issued")),
        None => Ok(Status::Ok),
    }
}
