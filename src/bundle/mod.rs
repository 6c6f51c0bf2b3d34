//! Bundle checks: bytes in, a checked certificate pair or precise problems out.
//!
//! Pure: no I/O, no ACME, no storage. The ACME path runs the CA's chain through exactly
//! these checks before anything is written, the same as a bundle an operator supplies.

use std::fmt;

use ::time::OffsetDateTime;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::*;

/// One input file (its label is what messages call it).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub label: &'a str,
    pub bytes: &'a [u8],
}

/// What to check against.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Names the leaf must cover (wildcard semantics of `names::covers`). Empty: the leaf's own.
    pub names: Vec<String>,
    pub now: OffsetDateTime,
    /// Warn when fewer than this many days are left.
    pub expiry_warning_days: i64,
    /// Trust anchors the chain must reach; `None` skips the trust check.
    pub roots: Option<Vec<CertificateDer<'static>>>,
}

impl CheckOptions {
    pub fn new(names: Vec<String>) -> CheckOptions {
        CheckOptions { names, now: OffsetDateTime::now_utc(), expiry_warning_days: 30, roots: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// One finding. `Error`s make the pair unusable; warnings and infos do not.
#[derive(Debug, Clone)]
pub struct Problem {
    pub severity: Severity,
    pub error: BundleError,
}

/// Every way a key + bundle can be wrong, with what to do about it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    #[error("{file}: no PEM certificate found; expected blocks starting with -----BEGIN CERTIFICATE-----")]
    NoCertificate { file: String },
    #[error("{file}: no private key found; expected a block such as -----BEGIN PRIVATE KEY-----")]
    NoKey { file: String },
    #[error("{file}: cannot parse: {detail}")]
    Unparsable { file: String, detail: String },
    #[error(
        "the private key does not match the leaf certificate ({leaf}); use the key the CSR for this certificate was made with"
    )]
    KeyMismatch { leaf: String },
    #[error("{cert} is not valid before {not_before}; check the clock or wait")]
    NotYetValid { cert: String, not_before: String },
    #[error("{cert} expired on {not_after}; renew it")]
    Expired { cert: String, not_after: String },
    #[error("{cert} expires on {not_after} ({days} days left); renew it soon")]
    ExpiresSoon { cert: String, not_after: String, days: i64 },
    #[error("the leaf ({leaf}) does not cover {name}; its names are: {have}")]
    NameNotCovered { leaf: String, name: String, have: String },
}

/// A finished check.
#[derive(Debug)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub pair: Option<CheckedPair>,
}

impl Report {
    pub fn is_usable(&self) -> bool {
        self.pair.is_some() && !self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// The pair when usable, else every problem as one error.
    pub fn into_result(self) -> Result<CheckedPair, BundleRejected> {
        if self.is_usable() {
            Ok(self.pair.expect("usable reports carry a pair"))
        } else {
            Err(BundleRejected { problems: self.problems })
        }
    }
}

/// The error a caller gets when a pair is unusable; lists each problem.
#[derive(Debug, Clone)]
pub struct BundleRejected {
    pub problems: Vec<Problem>,
}

impl fmt::Display for BundleRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<String> = self
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| p.error.to_string())
            .collect();
        write!(f, "certificate bundle rejected: {}", errors.join("; "))
    }
}

impl std::error::Error for BundleRejected {}

/// Facts about the leaf that storage and planning need.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertInfo {
    pub names: Vec<String>,
    #[serde(with = "::time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "::time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Hex, lower case, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    /// RFC 9773 certificate identifier (`base64url(AKI).base64url(serial)`), when the leaf
    /// has an Authority Key Identifier.
    pub ari_id: Option<String>,
}

/// A key and chain that passed every check.
#[derive(Clone)]
pub struct CheckedPair {
    key_pem: String,
    /// The leaf only.
    pub cert_pem: String,
    /// Intermediates in order, without the root.
    pub chain_pem: String,
    /// Leaf followed by intermediates.
    pub fullchain_pem: String,
    pub info: CertInfo,
}

impl CheckedPair {
    /// The private key, PEM. Handle with care: written only with mode 0600.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

impl fmt::Debug for CheckedPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedPair").field("key_pem", &"[redacted]").field("info", &self.info).finish()
    }
}

/// Runs every check.
pub fn check(key: Input<'_>, bundles: &[Input<'_>], opts: &CheckOptions) -> Report {
    let mut problems = Vec::new();
    let error = |e: BundleError| Problem { severity: Severity::Error, error: e };

    let key_der = match PrivateKeyDer::from_pem_slice(key.bytes) {
        Ok(k) => k,
        Err(_) => {
            problems.push(error(BundleError::NoKey { file: key.label.into() }));
            return Report { problems, pair: None };
        }
    };
    let mut certs: Vec<CertificateDer<'static>> = Vec::new();
    for input in bundles {
        let found: Vec<_> = CertificateDer::pem_slice_iter(input.bytes).filter_map(Result::ok).collect();
        if found.is_empty() {
            problems.push(error(BundleError::NoCertificate { file: input.label.into() }));
        }
        certs.extend(found);
    }
    if certs.is_empty() {
        return Report { problems, pair: None };
    }
    let leaf_der = certs[0].clone();
    let leaf = match X509Certificate::from_der(&leaf_der) {
        Ok((_, leaf)) => leaf,
        Err(e) => {
            problems.push(error(BundleError::Unparsable {
                file: bundles[0].label.into(),
                detail: e.to_string(),
            }));
            return Report { problems, pair: None };
        }
    };
    let leaf_label = format!("leaf certificate {}", leaf.subject());

    match rcgen::KeyPair::try_from(&key_der) {
        Ok(kp) => {
            if kp.public_key_raw() != leaf.public_key().subject_public_key.data.as_ref() {
                problems.push(error(BundleError::KeyMismatch { leaf: leaf_label.clone() }));
            }
        }
        Err(e) => {
            problems.push(error(BundleError::Unparsable { file: key.label.into(), detail: e.to_string() }))
        }
    }

    let names: Vec<String> = leaf
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for wanted in &opts.names {
        if !names.iter().any(|n| crate::names::covers(n, wanted)) {
            problems.push(error(BundleError::NameNotCovered {
                leaf: leaf_label.clone(),
                name: wanted.clone(),
                have: names.join(", "),
            }));
        }
    }

    let not_before = leaf.validity().not_before.to_datetime();
    let not_after = leaf.validity().not_after.to_datetime();
    if opts.now < not_before {
        problems.push(error(BundleError::NotYetValid {
            cert: leaf_label.clone(),
            not_before: not_before.to_string(),
        }));
    }
    if opts.now > not_after {
        problems
            .push(error(BundleError::Expired { cert: leaf_label.clone(), not_after: not_after.to_string() }));
    } else {
        let days = (not_after - opts.now).whole_days();
        if days < opts.expiry_warning_days {
            problems.push(Problem {
                severity: Severity::Warning,
                error: BundleError::ExpiresSoon {
                    cert: leaf_label.clone(),
                    not_after: not_after.to_string(),
                    days,
                },
            });
        }
    }

    let ari_id = instant_acme::CertificateIdentifier::try_from(&leaf_der).ok().map(|id| id.to_string());
    let info = CertInfo {
        names,
        not_before,
        not_after,
        serial: leaf.raw_serial_as_string().replace(':', "").to_ascii_lowercase(),
        subject: leaf.subject().to_string(),
        issuer: leaf.issuer().to_string(),
        ari_id,
    };
    let pem = |der: &CertificateDer<'_>| {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    };
    let cert_pem = pem(&leaf_der);
    let chain_pem: String = certs[1..].iter().map(pem).collect();
    let key_pem = match &key_der {
        PrivateKeyDer::Pkcs8(_) => {
            rcgen::KeyPair::try_from(&key_der).map(|k| k.serialize_pem()).unwrap_or_default()
        }
        _ => String::from_utf8_lossy(key.bytes).into_owned(),
    };
    let pair =
        CheckedPair { key_pem, fullchain_pem: format!("{cert_pem}{chain_pem}"), cert_pem, chain_pem, info };
    Report { problems, pair: Some(pair) }
}
