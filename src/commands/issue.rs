//! `wildcert issue`: get certificates now, skipping ones that are not due (unless --force).

use anyhow::bail;
use time::OffsetDateTime;

use crate::acme;
use crate::bundle;
use crate::challenge;
use crate::cli::IssueArgs;
use crate::config::{CertificateConfig, Config, Source};
use crate::exit::Status;
use crate::store::Storage;
use crate::{plan, renewal, signals, state};

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

    let mut account = None;
    let mut first_error: Option<anyhow::Error> = None;
    for cert in certs {
        if !args.force
            && let Some(info) = current_info(&storage, &cert.name).await
        {
            let due_at = plan::renewal_time(info.not_before, info.not_after, cert.renew_before);
            if OffsetDateTime::now_utc() < due_at {
                println!(
                    "{}: valid until {}, renewal due {}; nothing to do (--force issues anyway)",
                    cert.name,
                    plan::show(info.not_after),
                    plan::show(due_at)
                );
                continue;
            }
        }
        if account.is_none() {
            account = Some(acme::load_or_create(&config).await?);
        }
        let account = account.as_ref().expect("account loaded above");
        match issue_one(&config, &storage, account, cert).await {
            Ok(()) => {}
            Err(e) => {
                eprintln!("error: {}: {}", cert.name, crate::cli::chain_message(&e));
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.context("not every certificate could be issued")),
        None => Ok(Status::Ok),
    }
}

/// The validity of the certificate stored locally now, if any.
async fn current_info(storage: &Storage, name: &str) -> Option<bundle::CertInfo> {
    let files = storage.live().read(name).await.ok()??;
    bundle::leaf_info(&files.fullchain)
}

async fn issue_one(
    config: &Config,
    storage: &Storage,
    account: &instant_acme::Account,
    cert: &CertificateConfig,
) -> anyhow::Result<()> {
    let obtained = renewal::obtain(config, storage, account, cert, None, signals::shutdown()).await?;
    let now = OffsetDateTime::now_utc();
    let mut state = state::load(&config.storage.state_dir, &cert.name);
    state.record_success(now);
    if let Some(Err(_)) = &obtained.hook {
        state.hook_failures += 1;
    }
    if let Err(e) = state::save(&config.storage.state_dir, &cert.name, &state) {
        tracing::warn!(error = %e, "could not save the certificate state");
    }
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
    Ok(())
}
