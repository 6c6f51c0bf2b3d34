//! Certificates the operator supplies (`source = "files"`): re-imported when the files
//! change, loudly warned about as their expiry approaches (nobody renews them but a person).

use aws_lc_rs::digest::{SHA256, digest};
use time::OffsetDateTime;

use crate::bundle::{self, CheckOptions, Input, Severity};
use crate::config::{CertificateConfig, Config};
use crate::renewal;
use crate::state;
use crate::store::{Origin, Storage};

/// Days-left thresholds at which an expiring supplied certificate is warned about.
const WARN_DAYS: [i64; 5] = [30, 14, 7, 3, 1];

/// Looks at the supplied files: stores them when they changed and pass the checks, warns as
/// expiry approaches. Never replaces the stored pair with a worse one.
pub async fn check_and_reimport(config: &Config, storage: &Storage, cert: &CertificateConfig) {
    let (Some(key_path), Some(bundle_path)) = (&cert.key_file, &cert.bundle_file) else { return };
    let state_dir = &config.storage.state_dir;
    let mut st = state::load(state_dir, &cert.name);
    let files = (std::fs::read(key_path), std::fs::read(bundle_path));
    let (key, bundle_bytes) = match files {
        (Ok(k), Ok(b)) => (k, b),
        (Err(e), _) => return warn_unreadable(cert, key_path, e),
        (_, Err(e)) => return warn_unreadable(cert, bundle_path, e),
    };
    let digest_hex = hex(digest(&SHA256, &[key.as_slice(), bundle_bytes.as_slice()].concat()).as_ref());
    let current = match storage.live().read(&cert.name).await {
        Ok(Some(files)) => bundle::leaf_info(&files.fullchain),
        _ => None,
    };
    if st.source_digest.as_deref() != Some(digest_hex.as_str()) || current.is_none() {
        st.source_digest = Some(digest_hex);
        let key_label = key_path.display().to_string();
        let bundle_label = bundle_path.display().to_string();
        let report = bundle::check(
            Input { label: &key_label, bytes: &key },
            &[Input { label: &bundle_label, bytes: &bundle_bytes }],
            &CheckOptions::new(cert.domains.clone()),
        );
        let now = OffsetDateTime::now_utc();
        if !report.is_usable() {
            let problems: Vec<String> = report
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .map(|p| p.to_string())
                .collect();
            tracing::error!(cert = %cert.name, problems = %problems.join("; "), "the supplied key and bundle fail the checks; the stored certificate stays");
            st.record_failure(now, format!("supplied files rejected: {}", problems.join("; ")), None);
        } else {
            let pair = report.into_result().expect("usable report");
            match &current {
                Some(cur) if cur.serial == pair.info.serial => {}
                Some(cur) if pair.info.not_after < cur.not_after => {
                    tracing::error!(cert = %cert.name, stored_until = %cur.not_after, supplied_until = %pair.info.not_after, "the supplied certificate expires sooner than the stored one; not replacing it (use `wildcert import --force`)");
                    st.record_failure(
                        now,
                        "supplied certificate expires sooner than the stored one".into(),
                        None,
                    );
                }
                _ => match storage.save(&cert.name, &pair, Origin::Files).await {
                    Ok(saved) => {
                        tracing::info!(cert = %cert.name, serial = %pair.info.serial, not_after = %pair.info.not_after, "imported the changed supplied certificate");
                        st.record_success(now);
                        st.expiry_warned_days = None;
                        if let Some(Err(_)) = renewal::deploy(cert, &saved).await {
                            st.hook_failures += 1;
                        }
                    }
                    Err(e) => {
                        tracing::error!(cert = %cert.name, error = %e, "could not store the supplied certificate");
                        st.record_failure(now, e.to_string(), None);
                    }
                },
            }
        }
    }
    if let Ok(Some(files)) = storage.live().read(&cert.name).await
        && let Some(info) = bundle::leaf_info(&files.fullchain)
    {
        warn_expiry(cert, &info, &mut st, OffsetDateTime::now_utc());
    }
    if let Err(e) = state::save(state_dir, &cert.name, &st) {
        tracing::warn!(error = %e, "could not save the certificate state");
    }
}

fn warn_unreadable(cert: &CertificateConfig, path: &std::path::Path, e: std::io::Error) {
    tracing::error!(cert = %cert.name, path = %path.display(), error = %e, "cannot read the supplied certificate file");
}

/// Warns once per threshold crossed (30, 14, 7, 3, 1 days left), every time once expired.
fn warn_expiry(
    cert: &CertificateConfig,
    info: &bundle::CertInfo,
    st: &mut state::CertState,
    now: OffsetDateTime,
) {
    let days = (info.not_after - now).whole_days();
    if now >= info.not_after {
        tracing::error!(cert = %cert.name, not_after = %info.not_after, "the supplied certificate has EXPIRED; put a new key and bundle in place ({})", cert.bundle_file.as_deref().map(|p| p.display().to_string()).unwrap_or_default());
        return;
    }
    let Some(threshold) = WARN_DAYS.iter().copied().filter(|t| days < *t).min() else { return };
    if st.expiry_warned_days.is_none_or(|w| threshold < w) {
        tracing::warn!(cert = %cert.name, days_left = days, not_after = %info.not_after, "the supplied certificate expires soon and is not renewed automatically; replace its files");
        st.expiry_warned_days = Some(threshold);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
