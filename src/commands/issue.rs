//! `wildcert issue`: get certificates now, skipping ones that are not due (unless --force).

use anyhow::{Context, bail};
use time::OffsetDateTime;

use crate::acme::{self, OrderSpec};
use crate::bundle::{self, CheckOptions, Input};
use crate::challenge::{self, Challenger};
use crate::cli::IssueArgs;
use crate::config::{CertificateConfig, Config, Source};
use crate::exit::Status;
use crate::hooks;
use crate::plan;
use crate::signals;
use crate::store::{Origin, Storage};

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
                    info.not_after.date(),
                    due_at.date()
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
    let section = config.dns_for(cert).expect("validated at load");
    let challenger = Challenger::new(config, section, &cert.name).await?;
    let spec = OrderSpec {
        name: &cert.name,
        domains: &cert.domains,
        key_type: cert.key_type,
        profile: cert.profile.as_deref().or(config.acme.profile.as_deref()),
        replaces: None,
        timeout: config.acme.order_timeout,
    };
    let result = tokio::select! {
        result = acme::run_order(account, &spec, &challenger) => result,
        _ = signals::shutdown() => {
            challenger.cleanup().await;
            bail!("interrupted; the challenge records written so far were removed");
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
    println!(
        "{}: issued {} (serial {}), valid until {}; {}",
        cert.name,
        pair.info.names.join(", "),
        pair.info.serial,
        pair.info.not_after,
        saved.live.fullchain.display()
    );
    if let Some(command) = &cert.deploy_hook
        && let Err(e) = hooks::run_deploy_hook(&cert.name, command, &saved.live, cert.hook_timeout).await
    {
        tracing::error!(error = %e, "deploy hook failed; the new certificate is stored");
        eprintln!("warning: {e}");
    }
    Ok(())
}
