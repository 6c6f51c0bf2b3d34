//! `wildcert pull`: the current certificate from the bucket into a directory, for hosts that
//! only serve it.

use std::path::{Path, PathBuf};

use crate::cli::PullArgs;
use crate::commands::error::CommandError;
use wildcert::bundle::{self, CheckOptions, Input, Severity};
use wildcert::config::Config;
use wildcert::exit::Status;
use wildcert::store::live::{CERT, CHAIN, FULLCHAIN, PRIVKEY};
use wildcert::store::{CertFiles, Expected, LiveDir, Storage, StoreError, local_matches, trust};

pub async fn run(config: Config, args: PullArgs) -> Result<Status, CommandError> {
    let storage = Storage::new(&config);
    if !storage.has_remote() {
        return Err(CommandError::NothingToPullFrom { config: config.path.clone() });
    }
    let (live, name) = out_dir(&args.out)?;
    let stored = storage.fetch(&args.cert).await?;
    let Some(stored) = stored else {
        storage.check_exists().await?;
        let at = storage.describe().await.unwrap_or_default();
        return Err(CommandError::NotInBucket { name: args.cert, at });
    };
    // What the bucket says about the pair is not trusted: the names and key type come from
    // this host's configuration when it manages the certificate.
    let expected = match config.certificate(&args.cert) {
        Some(cert) => Expected::for_certificate(cert),
        None => {
            tracing::warn!(
                cert = %args.cert,
                "no [[certificate]] named `{}` in the configuration: checking the pair against its own names",
                args.cert
            );
            Expected { names: Vec::new(), key: None }
        }
    };
    let what = format!("{}/{}", args.cert, stored.meta.version);
    let report = bundle::check(
        Input { label: "privkey.pem from the bucket", bytes: &stored.files.privkey },
        &[Input { label: "fullchain.pem from the bucket", bytes: &stored.files.fullchain }],
        &CheckOptions::new(expected.names.clone()),
    );
    for p in report.problems.iter().filter(|p| p.severity == Severity::Warning) {
        tracing::warn!("{}", p.error);
    }
    if let Err(e) = trust::check_pair(&stored.files, &expected, &what) {
        tracing::error!(cert = %args.cert, error = %e, "refused the certificate stored in the bucket; nothing was written");
        return Err(StoreError::Untrusted(e).into());
    }
    let checked =
        report.into_result().map_err(|source| CommandError::PulledVersion { version: what, source })?;
    let files = &CertFiles::from_pair(&checked);

    let summary = format!(
        "serial {}, {}, valid until {} (version {})",
        checked.info.serial,
        checked.info.names.join(", "),
        checked.info.not_after,
        stored.meta.version
    );
    let paths = live.paths(&name);
    if local_matches(&paths, files) {
        println!("{} already holds the current certificate: {summary}", args.out.display());
        return Ok(Status::Unchanged);
    }
    live.write_files(&name, &checked.info.serial, files.for_live_dir()).await?;
    println!("wrote {}: {summary}", args.out.display());
    Ok(Status::Ok)
}

/// `--out DIR` becomes a `LiveDir` entry: `DIR` is a symlink, switched in one rename, to a
/// version folder in `<parent of DIR>/.archive/<DIR name>/`.
fn out_dir(out: &Path) -> Result<(LiveDir, String), CommandError> {
    let out_error = |source| CommandError::OutDir { out: out.to_owned(), source };
    let abs: PathBuf = std::path::absolute(out).map_err(out_error)?;
    let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
        return Err(CommandError::OutNotADirectory { out: out.to_owned() });
    };
    let name = name.to_string_lossy().into_owned();
    if name.starts_with('.') {
        return Err(CommandError::OutHidden { out: out.to_owned() });
    }
    // A real directory is moved aside to become the symlink; refuse one that holds anything
    // else than the four files, so a typo cannot move /etc/nginx away.
    if let Ok(meta) = std::fs::symlink_metadata(&abs)
        && meta.is_dir()
    {
        let others: Vec<String> = std::fs::read_dir(&abs)
            .map_err(out_error)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| ![PRIVKEY, FULLCHAIN, CERT, CHAIN].contains(&n.as_str()))
            .collect();
        if !others.is_empty() {
            return Err(CommandError::OutNotEmpty { out: out.to_owned(), others });
        }
    }
    Ok((LiveDir::new(parent.to_path_buf()), name))
}
