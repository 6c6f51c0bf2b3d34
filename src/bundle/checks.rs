//! Checks of single certificates: the leaf's key, names and usage, and every served
//! certificate's validity period and issuer status.

use ::time::OffsetDateTime;
use ::time::macros::format_description;
use x509_parser::prelude::*;

use super::chain::{Analysis, Cert, End};
use super::error::BundleError;
use super::key::{Curve, PrivateKey, PublicKeyId};
use super::{Problem, Severity};

fn error(error: BundleError) -> Problem {
    Problem { severity: Severity::Error, error }
}

/// `2025-03-01 12:00 UTC`.
pub(crate) fn when(t: OffsetDateTime) -> String {
    t.to_offset(::time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
        .unwrap_or_else(|_| t.to_string())
}

/// The leaf's dNSName SANs; `None` when it has no subjectAltName extension at all.
pub(crate) fn dns_names(x: &X509Certificate<'_>) -> Option<Vec<String>> {
    let san = x.subject_alternative_name().ok().flatten()?;
    Some(
        san.value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
    )
}

/// The private key must be the one the leaf was issued for.
pub(crate) fn key_matches(
    key_file: &str,
    key: &PrivateKey,
    certs: &[Cert<'_>],
    leaf: usize,
    problems: &mut Vec<Problem>,
) {
    if key.public == certs[leaf].key {
        return;
    }
    let matches =
        certs.iter().enumerate().find(|(i, c)| *i != leaf && c.key == key.public).map(|(_, c)| c.at.clone());
    problems.push(error(BundleError::KeyMismatch {
        file: key_file.into(),
        leaf: certs[leaf].at.clone(),
        key: key.public.describe(),
        cert_key: certs[leaf].key.describe(),
        matches,
    }));
}

/// Names, key strength, CA flag and extended key usage of the leaf.
pub(crate) fn leaf(cert: &Cert<'_>, wanted: &[String], problems: &mut Vec<Problem>) {
    let at = || cert.at.clone();
    match dns_names(&cert.x) {
        None => {
            let cn = cert
                .x
                .subject()
                .iter_common_name()
                .filter_map(|a| a.as_str().ok())
                .collect::<Vec<_>>()
                .join(", ");
            problems.push(error(BundleError::NoSubjectAltName { leaf: at(), cn }));
        }
        Some(have) => {
            for name in wanted {
                if !have.iter().any(|san| crate::names::covers(san, name)) {
                    problems.push(error(BundleError::NameNotCovered {
                        leaf: at(),
                        name: name.clone(),
                        have: if have.is_empty() { "(no DNS names)".into() } else { have.join(", ") },
                        hint: coverage_hint(&have, name),
                    }));
                }
            }
        }
    }

    match &cert.key {
        PublicKeyId::Rsa { .. } if cert.key.rsa_bits().unwrap_or(0) < 2048 => {
            problems.push(error(BundleError::WeakKey { cert: at(), key: cert.key.describe() }))
        }
        PublicKeyId::Rsa { .. } | PublicKeyId::Ec { curve: Curve::P256 | Curve::P384, .. } => {}
        _ => problems.push(error(BundleError::UnsupportedKeyType { cert: at(), key: cert.key.describe() })),
    }

    if cert.is_ca {
        problems.push(error(BundleError::LeafIsCa { leaf: at() }));
    }

    if let Some(have) = eku_without_server_auth(&cert.x) {
        problems.push(error(BundleError::MissingServerAuth { leaf: at(), have }));
    }
}

/// The purposes an extended key usage extension lists when it lacks serverAuth (`None`: no
/// extension, or serverAuth is there). anyExtendedKeyUsage does not stand in for serverAuth:
/// rustls and browsers look for serverAuth itself.
pub(crate) fn eku_without_server_auth(x: &X509Certificate<'_>) -> Option<String> {
    let eku = x.extended_key_usage().ok().flatten()?;
    if eku.value.server_auth {
        return None;
    }
    let e = eku.value;
    let mut have: Vec<String> = [
        (e.any, "anyExtendedKeyUsage"),
        (e.client_auth, "clientAuth"),
        (e.code_signing, "codeSigning"),
        (e.email_protection, "emailProtection"),
        (e.time_stamping, "timeStamping"),
        (e.ocsp_signing, "OCSPSigning"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| name.to_string())
    .collect();
    have.extend(e.other.iter().map(|oid| oid.to_id_string()));
    Some(if have.is_empty() { "nothing".into() } else { have.join(", ") })
}

/// Why a name is not covered, for the two wildcard mistakes everybody makes once.
fn coverage_hint(have: &[String], name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    for san in have {
        let Some(base) = san.to_ascii_lowercase().strip_prefix("*.").map(str::to_string) else { continue };
        if name == base {
            return format!(
                " — a wildcard covers exactly one label: {san} covers a.{base} but not {base} itself; get a certificate that lists both {san} and {base}"
            );
        }
        if name.ends_with(&format!(".{base}")) {
            return format!(
                " — a wildcard covers exactly one label: {san} does not cover {name}; get a certificate that lists *.{}",
                name.split_once('.').map(|(_, rest)| rest).unwrap_or(&name)
            );
        }
    }
    format!(" — get a certificate that includes {name}")
}

/// How far a certificate's start may lie ahead of this machine's clock: a CA's clock and
/// ours are never exactly the same, and a certificate issued a moment ago must pass.
pub(crate) const CLOCK_SKEW: ::time::Duration = ::time::Duration::minutes(5);

/// Validity periods of the leaf and intermediates (a root's own dates are the trust
/// store's business). Short-lived certificates are warned about once a third of their
/// lifetime is left, not for their whole life.
pub(crate) fn validity(
    certs: &[Cert<'_>],
    analysis: &Analysis,
    now: OffsetDateTime,
    warning_days: i64,
    problems: &mut Vec<Problem>,
) {
    for &i in analysis.served() {
        let cert = &certs[i];
        let is_leaf = i == analysis.leaf();
        let not_before = cert.x.validity().not_before.to_datetime();
        let not_after = cert.x.validity().not_after.to_datetime();
        if now + CLOCK_SKEW < not_before {
            problems.push(error(BundleError::NotYetValid {
                cert: cert.at.clone(),
                not_before: when(not_before),
            }));
        }
        if now > not_after {
            problems.push(error(BundleError::Expired {
                cert: cert.at.clone(),
                not_after: when(not_after),
                is_leaf,
            }));
        } else {
            let days = (not_after - now).whole_days();
            let lifetime_days = (not_after - not_before).whole_days();
            if days < warning_days.min(lifetime_days / 3) {
                problems.push(Problem {
                    severity: Severity::Warning,
                    error: BundleError::ExpiresSoon {
                        cert: cert.at.clone(),
                        not_after: when(not_after),
                        days,
                        is_leaf,
                    },
                });
            }
        }
    }
}

/// Every certificate that signed another in the chain must be a CA.
pub(crate) fn issuers_are_cas(certs: &[Cert<'_>], analysis: &Analysis, problems: &mut Vec<Problem>) {
    for pair in analysis.chain.windows(2) {
        let (child, issuer) = (pair[0], pair[1]);
        let is_root = analysis.end == End::Root && issuer == *analysis.chain.last().expect("non-empty");
        // Old v1 roots predate basicConstraints; trust stores still accept them as anchors.
        let v1_root = is_root && certs[issuer].x.version() == X509Version::V1;
        if !certs[issuer].is_ca && !v1_root {
            problems.push(error(BundleError::IssuerNotCa {
                cert: certs[issuer].at.clone(),
                signed: certs[child].at.clone(),
            }));
        }
    }
}

/// What an issuer's extensions allow below it, as RFC 5280 and TLS clients read them: key
/// usage must include keyCertSign (rustls-webpki ignores key usage, but browsers, OpenSSL
/// and Go refuse the chain), an extended key usage must include serverAuth, and the number
/// of intermediates below a CA must not exceed its pathLenConstraint.
///
/// Path validation (`path`) finds the last two as well whenever the issuer lies below the
/// trust anchor; checked here too so that a chain checked without trust anchors, whose top
/// certificate then serves as the anchor, is judged the same.
pub(crate) fn issuer_constraints(certs: &[Cert<'_>], analysis: &Analysis, problems: &mut Vec<Problem>) {
    for (k, pair) in analysis.chain.windows(2).enumerate() {
        let (child, issuer) = (pair[0], pair[1]);
        let x = &certs[issuer].x;
        if let Ok(Some(ku)) = x.key_usage()
            && !ku.value.key_cert_sign()
        {
            problems.push(error(BundleError::IssuerNotCertSigner {
                cert: certs[issuer].at.clone(),
                signed: certs[child].at.clone(),
            }));
        }
        if let Some(have) = eku_without_server_auth(x) {
            problems
                .push(error(BundleError::IssuerWithoutServerAuth { cert: certs[issuer].at.clone(), have }));
        }
        // Intermediates between this issuer and the leaf.
        let below = k;
        if let Ok(Some(bc)) = x.basic_constraints()
            && let Some(path_len) = bc.value.path_len_constraint
            && (path_len as usize) < below
        {
            problems.push(error(BundleError::PathLenExceeded {
                ca: certs[issuer].at.clone(),
                path_len: path_len as usize,
                below,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_for_wildcard_mistakes() {
        let have = vec!["*.gradient.example.com".to_string()];
        assert!(coverage_hint(&have, "gradient.example.com").contains("not gradient.example.com itself"));
        assert!(coverage_hint(&have, "a.b.gradient.example.com").contains("lists *.b.gradient.example.com"));
        assert!(coverage_hint(&have, "other.example.org").contains("includes other.example.org"));
    }
}
