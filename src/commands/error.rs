//! What a command can fail with. Each variant names one problem; `cli::exit_status` picks
//! the exit code from the variant with one `match`, so no caller has to search an opaque
//! error's causes for a type it knows (and a new variant does not compile until it has an
//! exit code).
//!
//! Library errors pass through `transparent`: their message is printed once, as the library
//! wrote it. The command's own variants say what is wrong and how to fix it; the ones that
//! add context to a library error keep that error as their `source`, and
//! `wildcert::error_chain::message` prints `context: cause`.

use std::path::PathBuf;

use wildcert::acme::AcmeError;
use wildcert::bundle::BundleRejected;
use wildcert::challenge::ChallengeError;
use wildcert::config::ConfigError;
use wildcert::dns::DnsError;
use wildcert::init::write::WriteError;
use wildcert::store::StoreError;
use wildcert_dns_api::ProviderError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The configuration file is unusable, or names no such certificate: a usage error.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Getting one certificate failed; the renewal error knows whether to retry.
    #[error(transparent)]
    Renewal(#[from] wildcert::renewal::Error),
    /// A key and bundle failed the checks: the certificate is unusable.
    #[error(transparent)]
    Bundle(#[from] BundleRejected),
    /// The DNS side of a challenge (adapter set-up, propagation).
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// The ACME CA or the account.
    #[error(transparent)]
    Acme(#[from] AcmeError),
    /// A DNS provider's API.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A DNS query (zone discovery, authoritative servers).
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// The bucket, the shared directory or the local certificate directory.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service could not start.
    #[error(transparent)]
    Daemon(#[from] wildcert::daemon::Error),
    /// `init` could not write the configuration or a secret file.
    #[error(transparent)]
    InitWrite(#[from] WriteError),
    /// JSON output could not be rendered.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Writing to standard output, or to `init`'s private temporary directory, failed.
    #[error(transparent)]
    Io(std::io::Error),

    /// `issue` / `renew` went through every certificate, and at least one failed: the first
    /// failure decides the exit code.
    #[error("{summary}")]
    Unfinished {
        /// What was not done, e.g. "not every certificate could be issued".
        summary: &'static str,
        /// The first certificate's failure.
        #[source]
        first: Box<CommandError>,
    },

    /// `issue --cert NAME` for a certificate that is imported, not issued.
    #[error(
        "certificate {name} has source = \"files\"; it is not issued but imported: use `wildcert import --cert {name} --key KEY --bundle CRT`"
    )]
    NotIssuedByAcme {
        /// The configured certificate.
        name: String,
    },

    /// `bucket policy` without `--bucket`, and without the configuration file to take it from.
    #[error("give --bucket NAME, or a configuration with storage.bucket ({} does not exist)", config.display())]
    PolicyWithoutConfig {
        /// The configuration file that does not exist.
        config: PathBuf,
    },
    /// `bucket policy` without `--bucket`, and the configuration names no bucket either.
    #[error("{}: no storage.bucket; give --bucket NAME", config.display())]
    PolicyWithoutBucket {
        /// The configuration file.
        config: PathBuf,
    },
    /// A bucket name S3 would refuse; the text says which rule it breaks.
    #[error("{0}")]
    BucketName(String),
    /// `bucket check` / `bucket setup` with a configuration that names no bucket.
    #[error("{}: [storage] names no bucket; add bucket = \"NAME\"", config.display())]
    NoBucket {
        /// The configuration file.
        config: PathBuf,
    },
    /// `bucket setup` was refused a bucket-level call; `hint` says whose keys can make it.
    #[error("{hint}")]
    SetupDenied {
        /// What to do instead.
        hint: &'static str,
        /// The refusal.
        #[source]
        source: StoreError,
    },

    /// `pull` with neither a bucket nor a shared directory configured.
    #[error("{}: [storage] names no bucket (or shared_dir) to pull from; add bucket = \"NAME\"", config.display())]
    NothingToPullFrom {
        /// The configuration file.
        config: PathBuf,
    },
    /// `pull`: the bucket holds no such certificate.
    #[error(
        "no certificate `{name}` in {at}; store one first with `wildcert issue` or `wildcert import` on the host that manages it"
    )]
    NotInBucket {
        /// The certificate asked for.
        name: String,
        /// The bucket (or directory) looked in.
        at: String,
    },
    /// `pull`: the stored version failed the bundle checks; nothing was written.
    #[error("version {version}")]
    PulledVersion {
        /// `<name>/<version>`.
        version: String,
        /// What the checks found.
        #[source]
        source: BundleRejected,
    },
    /// `pull --out DIR`: the directory cannot be inspected.
    #[error("--out {}", out.display())]
    OutDir {
        /// `--out` as given.
        out: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// `pull --out DIR`: the path has no parent or no name (`/`, `..`).
    #[error("--out {}: give a directory of its own, e.g. /etc/ssl/gradient", out.display())]
    OutNotADirectory {
        /// `--out` as given.
        out: PathBuf,
    },
    /// `pull --out DIR`: a hidden name, which would collide with the `.archive` folder.
    #[error("--out {}: the directory name must not start with '.'", out.display())]
    OutHidden {
        /// `--out` as given.
        out: PathBuf,
    },
    /// `pull --out DIR`: a real directory with other files, which pull would move aside.
    #[error(
        "--out {} holds other files ({}); give a directory of its own (wildcert replaces it with a symlink)",
        out.display(),
        others.join(", ")
    )]
    OutNotEmpty {
        /// `--out` as given.
        out: PathBuf,
        /// The files that are not certificate files.
        others: Vec<String>,
    },

    /// `revoke` of a certificate that ACME did not issue.
    #[error(
        "certificate `{name}` is not issued by ACME (source = \"files\"): revoke it with the CA that issued it"
    )]
    NotRevocable {
        /// The configured certificate.
        name: String,
    },
    /// `revoke`: neither the local directory nor the bucket holds the certificate.
    #[error("no certificate `{name}` stored locally or in the bucket: nothing to revoke")]
    NothingToRevoke {
        /// The configured certificate.
        name: String,
    },
    /// `revoke`: the stored full chain has no certificate that parses.
    #[error("certificate `{name}`: the stored full chain has no readable leaf")]
    NoReadableLeaf {
        /// The configured certificate.
        name: String,
    },
    /// `revoke`: the stored full chain holds no PEM certificate block.
    #[error("the stored full chain has no PEM certificate")]
    NoPemCertificate,
    /// `revoke`: the stored full chain's first PEM block does not decode.
    #[error("the stored full chain's first PEM block is unreadable")]
    UnreadablePem(#[source] rustls_pki_types::pem::Error),
    /// `revoke` succeeded at the CA, but the state that makes the certificate due at once
    /// could not be written: the operator must renew by hand.
    #[error(
        "revoked serial {serial}, but could not record it in {}: run `wildcert issue --cert {name} --force` now",
        state_dir.display()
    )]
    RevokedNotRecorded {
        /// The revoked certificate's serial.
        serial: String,
        /// `storage.state_dir`.
        state_dir: PathBuf,
        /// The configured certificate.
        name: String,
        /// Why the state file could not be written.
        #[source]
        source: std::io::Error,
    },

    /// `verify --fix --out PATH`: the path names no file.
    #[error("{}: not a file name", path.display())]
    NotAFileName {
        /// `--out` as given.
        path: PathBuf,
    },
    /// `verify --fix --out PATH`: the corrected bundle could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// `--out` as given.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}
