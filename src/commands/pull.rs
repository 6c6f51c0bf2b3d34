//! `wildcert pull`: the current certificate from the bucket into a directory, for hosts that
//! only serve it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::PullArgs;
use wildcert::bundle::{self, CheckOptions, Input, Severity};
use wildcert::config::Config;
use wildcert::exit::Status;
use wildcert::store::live::{CERT, CHAIN, FULLCHAIN, PRIVKEY};
use wildcert::store::{CertFiles, Expected, LiveDir, Storage, StoreError, local_matches, trust};

pub async fn run(config: Config, args: PullArgs) -> anyhow::Result<Status> {
    let storage = Storage::new(&config);
    if !storage.has_remote() {
        bail!(
            "{}: [storage] names no bucket (or shared_dir) to pull from; add bucket = \"NAME\"",
            config.path.display()
        );
    }
    let (live, name) = out_dir(&args.out)?;
    let stored = storage.fetch(&args.cert).await?;
    let Some(stored) = stored else {
        storage.check_exists().await?;
        let at = storage.describe().await.unwrap_or_default();
        bail!(
            "no certificate `{}` in {at}; store one first with `wildcert issue` or `wildcert import` on the host that manages it",
            args.cert
        );
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
        return Err(anyhow::Error::new(StoreError::Untrusted(e)));
    }
    let checked = report.into_result().with_context(|| format!("version {what}"))?;
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
fn out_dir(out: &Path) -> anyhow::Result<(LiveDir, String)> {
    let abs: PathBuf = std::path::absolute(out).with_context(|| format!("--out {}", out.display()))?;
    let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
        bail!("--out {}: give a directory of its own, e.g. /etc/ssl/gradient", out.display());
    };
    let name = name.to_string_lossy().into_owned();
    if name.starts_with('.') {
        bail!("--out {}: the directory name must not start with '.'", out.display());
    }
    // A real directory is moved aside to become the symlink; refuse one that holds anything
    // else than the four files, so a typo cannot move /etc/nginx away.
    if let Ok(meta) = std::fs::symlink_metadata(&abs)
        && meta.is_dir()
    {
        let others: Vec<String> = std::fs::read_dir(&abs)
            .with_context(|| format!("--out {}", out.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| ![PRIVKEY, FULLCHAIN, CERT, CHAIN].contains(&n.as_str()))
            .collect();
        if !others.is_empty() {
            bail!(
                "--out {} holds other files ({}); give a directory of its own (wildcert replaces it with a symlink)",
                out.display(),
                others.join(", ")
            );
        }
    }
    Ok((LiveDir::new(parent.to_path_buf()), name))
}
