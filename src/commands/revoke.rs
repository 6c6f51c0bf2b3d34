//! `wildcert revoke`: asks the CA to revoke the certificate in use (RFC 8555 §7.6), signed with
//! the ACME account key (or, `--with-cert-key`, with the certificate's own key), then marks it
//! (here, and for the other hosts of the bucket in a notice there) so that the next `renew`,
//! `issue` or daemon round replaces it at once.

use instant_acme::{RevocationReason, RevocationRequest};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::commands::error::CommandError;
use wildcert::acme::{self, AcmeError};
use wildcert::bundle;
use wildcert::config::{Config, Source, directory_url};
use wildcert::exit::Status;
use wildcert::renewal::revoked;
use wildcert::state;
use wildcert::store::Storage;

/// RFC 5280 §5.3.1 reason codes a subscriber may give (the CA-only ones are left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "camelCase")]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl Reason {
    fn to_acme(self) -> RevocationReason {
        match self {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The certificate in use (the local copy, else the bucket's) is revoked with the ACME account key (--with-cert-key: its own key). \
    Afterwards it is due at once: the next `wildcert renew` (or the service's next round) orders a new one."
)]
pub struct RevokeArgs {
    /// The configured certificate to revoke.
    #[arg(long)]
    pub cert: String,
    /// Why (RFC 5280 reason code); keyCompromise when its private key leaked.
    #[arg(long, value_enum)]
    pub reason: Option<Reason>,
    /// Sign the request with the certificate's own key (ECDSA) instead of the account key:
    /// needs no account, e.g. when the account that ordered it is gone.
    #[arg(long)]
    pub with_cert_key: bool,
}

pub async fn run(config: Config, args: RevokeArgs) -> Result<Status, CommandError> {
    let cert = config.select(Some(&args.cert))?[0];
    if cert.source != Source::Acme {
        return Err(CommandError::NotRevocable { name: cert.name.clone() });
    }
    let storage = Storage::new(&config);
    let (fullchain, privkey) = match storage.live().read(&cert.name).await? {
        Some(files) => (files.fullchain, files.privkey),
        None => match storage.fetch(&cert.name).await? {
            Some(stored) => (stored.files.fullchain, stored.files.privkey),
            None => return Err(CommandError::NothingToRevoke { name: cert.name.clone() }),
        },
    };
    let info = bundle::leaf_info(&fullchain)
        .ok_or_else(|| CommandError::NoReadableLeaf { name: cert.name.clone() })?;
    let leaf = CertificateDer::pem_slice_iter(&fullchain)
        .next()
        .ok_or(CommandError::NoPemCertificate)?
        .map_err(CommandError::UnreadablePem)?;

    let url = directory_url(&config.acme.directory).to_string();
    let already = |e: AcmeError| match e {
        AcmeError::Refused { url, detail } if detail.contains("alreadyRevoked") => {
            AcmeError::Refused { url, detail: format!("{detail}; it was revoked before") }
        }
        other => other,
    };
    if args.with_cert_key {
        let http = acme::account::client(&config)?;
        let reason = args.reason.map(|r| r.to_acme() as u8);
        acme::revoke::with_cert_key(&http, &url, &leaf, &privkey, reason).await.map_err(already)?;
    } else {
        let account = acme::load_or_create(&config).await?;
        let request = RevocationRequest { certificate: &leaf, reason: args.reason.map(Reason::to_acme) };
        account.revoke(&request).await.map_err(|e| already(AcmeError::from_client(e, &url)))?;
    }

    let mut st = state::load(&config.storage.state_dir, &cert.name);
    st.revoked_serial = Some(info.serial.clone());
    state::save(&config.storage.state_dir, &cert.name, &st).map_err(|source| {
        CommandError::RevokedNotRecorded {
            serial: info.serial.clone(),
            state_dir: config.storage.state_dir.clone(),
            name: cert.name.clone(),
            source,
        }
    })?;
    tracing::info!(cert = %cert.name, serial = %info.serial, "certificate revoked");
    // The other hosts of the bucket serve the same certificate: tell them.
    let notice = revoked::Notice {
        serial: info.serial.clone(),
        revoked_at: time::OffsetDateTime::now_utc(),
        host: wildcert::host::host_name(),
    };
    if let Err(e) = revoked::publish(&storage, &cert.name, &notice).await {
        eprintln!(
            "warning: {}: revoked, but the notice for the other hosts of the bucket could not be written ({e}); run `wildcert renew --cert {}` here, and the new certificate reaches them through the bucket",
            cert.name, cert.name
        );
    }
    println!(
        "{}: revoked serial {}; it is due now: run `wildcert renew --cert {}` (a running service replaces it at its next check)",
        cert.name, info.serial, cert.name
    );
    Ok(Status::Ok)
}
