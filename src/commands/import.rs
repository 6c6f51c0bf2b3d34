//! `wildcert import`: checks an operator's key and bundle like `verify`, then stores the
//! pair as the configured certificate, the same way an issued one is stored.
//!
//! It never stores a pair that fails the checks, and does not replace a stored certificate
//! with one that expires sooner unless told to (`--force`).

use crate::cli::ImportArgs;
use crate::commands::error::CommandError;
use crate::commands::verify::{Files, load_roots};
use wildcert::bundle::{self, CheckOptions};
use wildcert::config::Config;
use wildcert::exit::Status;
use wildcert::store::{Origin, Overwrite, Storage};

pub async fn run(config: Config, args: ImportArgs) -> Result<Status, CommandError> {
    let certificate = config.select(Some(&args.cert))?[0].clone();
    let files = match Files::read(&args.key, &args.bundles) {
        Ok(f) => f,
        Err(status) => return Ok(status),
    };
    let (roots, _) = match load_roots(args.roots.as_deref(), args.no_trust) {
        Ok(r) => r,
        Err(status) => return Ok(status),
    };
    let names = if certificate.domains.is_empty() {
        files.check(&CheckOptions::new(Vec::new())).leaf.map(|l| l.names).unwrap_or_default()
    } else {
        certificate.domains.clone()
    };
    let mut opts = CheckOptions::new(names);
    opts.roots = roots;
    let report = files.check(&opts);
    for p in &report.problems {
        println!("{p}");
    }
    if !report.is_usable() {
        println!(
            "not stored: {} is unusable as certificate \"{}\"; fix the errors above ('wildcert verify' checks without storing)",
            files.bundles.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join(" + "),
            certificate.name
        );
        return Ok(Status::Invalid);
    }
    let pair = report.into_result()?;

    let storage = Storage::new(&config);
    if let Some(stored) = storage.live().read(&certificate.name).await?
        && let Some(current) = bundle::leaf_info(&stored.fullchain)
    {
        let same = current.serial == pair.info.serial && current.issuer == pair.info.issuer;
        if same && !args.force {
            println!(
                "unchanged: certificate \"{}\" already is this certificate (serial {}); nothing to do",
                certificate.name, current.serial
            );
            return Ok(Status::Ok);
        }
        if pair.info.not_after < current.not_after && !args.force {
            println!(
                "error: not replacing certificate \"{}\": the stored one (serial {}) is valid until {}, the new one (serial {}) only until {}; pass --force to store it anyway",
                certificate.name,
                current.serial,
                current.not_after.date(),
                pair.info.serial,
                pair.info.not_after.date()
            );
            return Ok(Status::Invalid);
        }
    }
    let overwrite = if args.force { Overwrite::Always } else { Overwrite::IfNewer };
    let saved = storage.save_with(&certificate.name, &pair, Origin::Files, overwrite).await?;
    tracing::info!(cert = %certificate.name, serial = %pair.info.serial, "stored an imported certificate");
    if let Some(Err(e)) = wildcert::renewal::deploy(&certificate, &saved).await {
        println!("warning: {e}");
    }
    println!(
        "stored certificate \"{}\": {} (serial {}), names {}, valid until {}; files in {}",
        certificate.name,
        pair.info.subject,
        pair.info.serial,
        pair.info.names.join(", "),
        pair.info.not_after.date(),
        saved.live.dir.display()
    );
    Ok(Status::Ok)
}
