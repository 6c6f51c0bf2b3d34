//! Bundle checks: bytes in, a checked certificate pair or precise problems out.
//!
//! Pure: no I/O, no ACME, no storage. The ACME path runs the CA's chain through exactly
//! these checks before anything is written, the same as a bundle an operator supplies.
//!
//! The pieces: `pem` and `der` read untrusted bytes; `parse` turns files into certificates
//! and a key and explains files that are something else; `key` compares private keys with
//! certificates; `chain` finds the leaf and its issuers by verifying signatures; `checks`
//! judges single certificates. Every problem is a [`BundleError`] variant.

mod chain;
mod checks;
mod der;
mod error;
mod key;
mod parse;
mod path;
mod pem;

#[cfg(test)]
mod tests;

use std::fmt;

use ::time::OffsetDateTime;
use rustls_pki_types::CertificateDer;
use serde::ser::SerializeStruct;
use x509_parser::prelude::*;

pub use error::{BundleError, CertRef};

use chain::{Cert, Signatures};

/// One input file (its label is what messages call it).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// How messages name the file (usually its path as given), so the operator finds it.
    pub label: &'a str,
    /// The file's content, untrusted: PEM, or whatever the operator gave by mistake.
    pub bytes: &'a [u8],
}

/// What to check against.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Names the leaf must cover (wildcard semantics of `names::covers`). Empty: the leaf's own.
    pub names: Vec<String>,
    /// The time validity is judged at; injectable so tests and `status` need no real clock.
    pub now: OffsetDateTime,
    /// Warn when fewer than this many days are left.
    pub expiry_warning_days: i64,
    /// Trust anchors the chain must reach; `None` skips the trust check. Path validation
    /// (what TLS clients do) always runs, anchored here when given.
    pub roots: Option<Vec<CertificateDer<'static>>>,
    /// CA certificates the caller knows, such as the ACME CA's configured `ca_certificates`:
    /// with `roots: None`, one that signed the top of the bundle's chain anchors path
    /// validation (else that top does, so the top is validated too). They never make the
    /// trust check stricter.
    pub known_cas: Vec<CertificateDer<'static>>,
}

impl CheckOptions {
    /// Checks for `names` now, warning 30 days before expiry, with no trust anchors.
    pub fn new(names: Vec<String>) -> CheckOptions {
        CheckOptions {
            names,
            now: OffsetDateTime::now_utc(),
            expiry_warning_days: 30,
            roots: None,
            known_cas: Vec::new(),
        }
    }
}

/// How much a finding matters; ordered so reports list errors first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, nothing to fix (e.g. a root sent along).
    Info,
    /// Usable, but the operator should act (e.g. expires soon).
    Warning,
    /// Unusable: the pair is not installed.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding. `Error`s make the pair unusable; warnings and infos do not.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Whether it makes the pair unusable.
    pub severity: Severity,
    /// What is wrong, where, and how to fix it.
    pub error: BundleError,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.error)
    }
}

/// `{severity, code, message, file, certificate}`: the shape `verify --json` prints.
impl serde::Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Problem", 5)?;
        s.serialize_field("severity", &self.severity)?;
        s.serialize_field("code", self.error.code())?;
        s.serialize_field("message", &self.error.to_string())?;
        s.serialize_field("file", &self.error.file())?;
        s.serialize_field("certificate", &self.error.certificate())?;
        s.end()
    }
}

/// What a certificate of the bundle turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The server certificate, the one the key belongs to.
    Leaf,
    /// A CA certificate on the leaf's chain, sent along by the server.
    Intermediate,
    /// A self-signed CA at the end of the chain; clients bring their own.
    Root,
    /// Not needed for the leaf's chain.
    Unrelated,
    /// A second copy of a certificate listed earlier.
    Duplicate,
}

/// One certificate as found in the input.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertSummary {
    /// Which certificate: file, position, subject, serial.
    #[serde(flatten)]
    pub at: CertRef,
    /// What it is for the leaf's chain, so `verify` can show what `--fix` keeps.
    pub role: Role,
    /// Start of its validity.
    #[serde(with = "::time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of its validity.
    #[serde(with = "::time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// A finished check.
#[derive(Debug)]
pub struct Report {
    /// Errors first, then warnings, then infos.
    pub problems: Vec<Problem>,
    /// Present when a key and a leaf were read, even if there are errors.
    pub pair: Option<CheckedPair>,
    /// Facts about the leaf, whenever one was found (with or without a usable key).
    pub leaf: Option<CertInfo>,
    /// Every certificate read, in input order, with its role.
    pub certificates: Vec<CertSummary>,
    /// The leaf and its intermediates in order, as PEM: the repaired bundle `verify --fix`
    /// writes (roots, unrelated certificates, duplicates and keys left out).
    pub fixed_bundle: Option<String>,
}

impl Report {
    /// Whether a key and leaf were read and no problem is an error: the pair may be installed.
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

    /// The problems that make the pair unusable, for messages that list only those.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }
}

/// The error a caller gets when a pair is unusable; lists each problem.
#[derive(Debug, Clone)]
pub struct BundleRejected {
    /// Every finding, warnings included; `Display` names only the errors.
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
    /// The leaf's DNS names (subjectAltName), to compare with the configured ones.
    pub names: Vec<String>,
    /// Start of validity; with `not_after` it gives the lifetime renewal is planned on.
    #[serde(with = "::time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity: when renewal is due, and which of two certificates wins.
    #[serde(with = "::time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Hex, lower case, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// The subject DN, for `status` and messages.
    pub subject: String,
    /// The issuer DN, for `status` and messages.
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
    /// Facts about the leaf, for storage metadata and planning.
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

/// Reads the leaf of a PEM full chain (for comparing with a stored certificate).
pub fn leaf_info(fullchain_pem: &[u8]) -> Option<CertInfo> {
    let scan = pem::scan(fullchain_pem);
    let block = scan.blocks.iter().find(|b| b.label == "CERTIFICATE")?;
    let (_, x) = X509Certificate::from_der(&block.der).ok()?;
    Some(cert_info(&x, &block.der))
}

fn serial_hex(x: &X509Certificate<'_>) -> String {
    x.raw_serial_as_string().replace(':', "").to_ascii_lowercase()
}

fn cert_info(x: &X509Certificate<'_>, der: &[u8]) -> CertInfo {
    let ari_id = instant_acme::CertificateIdentifier::try_from(&CertificateDer::from(der))
        .ok()
        .map(|id| id.to_string());
    CertInfo {
        names: checks::dns_names(x).unwrap_or_default(),
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        serial: serial_hex(x),
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        ari_id,
    }
}

/// Runs every check.
pub fn check(key: Input<'_>, bundles: &[Input<'_>], opts: &CheckOptions) -> Report {
    let mut problems = Vec::new();
    let private_key = parse::read_key(key, &mut problems);
    if bundles.is_empty() {
        problems.push(Problem {
            severity: Severity::Error,
            error: BundleError::NoCertificate {
                file: "--bundle".into(),
                found: " (no bundle file was given)".into(),
            },
        });
    }
    let raw = parse::read_bundles(bundles, &mut problems);
    let files: Vec<&str> = bundles.iter().map(|b| b.label).collect();
    for stray in &raw.stray_keys {
        let same_as_key = private_key.as_ref().map(|k| stray.public.as_ref() == Some(&k.public));
        problems.push(Problem {
            severity: if same_as_key == Some(true) { Severity::Warning } else { Severity::Error },
            error: BundleError::KeyInBundle { file: files[stray.file].into(), line: stray.line, same_as_key },
        });
    }

    let certs: Vec<Cert<'_>> = raw
        .certs
        .iter()
        .filter_map(|r| {
            let (_, x) = X509Certificate::from_der(&r.der).ok()?;
            let at = CertRef {
                file: files[r.file].into(),
                position: r.position,
                subject: x.subject().to_string(),
                serial: serial_hex(&x),
            };
            Some(Cert::new(at, r.file, &r.der, x))
        })
        .collect();
    let sigs = Signatures::new(&certs);
    let public = private_key.as_ref().map(|k| &k.public);
    let before = problems.clone();
    let mut analysis = chain::analyse(&certs, &sigs, public, &files, &[], &mut problems);
    // Clients build their own path from what they are sent: when the chain found by file
    // order does not reach the trusted roots but another path through the bundle does, that
    // path is the chain (the other certificates become extras).
    if let (Some(found), Some(roots)) = (&analysis, &opts.roots)
        && let Some(prefer) = path::client_path(&certs, found, roots, opts.now)
    {
        problems = before;
        analysis = chain::analyse(&certs, &sigs, public, &files, &prefer, &mut problems);
    }
    let summary = |roles: &dyn Fn(usize) -> Role| -> Vec<CertSummary> {
        certs
            .iter()
            .enumerate()
            .map(|(i, c)| CertSummary {
                at: c.at.clone(),
                role: roles(i),
                not_before: c.x.validity().not_before.to_datetime(),
                not_after: c.x.validity().not_after.to_datetime(),
            })
            .collect()
    };
    let Some(analysis) = analysis else {
        problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
        let certificates = summary(&|_| Role::Unrelated);
        return Report { problems, pair: None, leaf: None, certificates, fixed_bundle: None };
    };

    chain::check_order(&certs, &analysis, &files, &mut problems);
    let roots: Option<Vec<X509Certificate<'_>>> = opts.roots.as_ref().map(|roots| {
        roots.iter().filter_map(|d| X509Certificate::from_der(d).ok().map(|(_, x)| x)).collect()
    });
    chain::check_completeness_and_trust(&certs, &analysis, roots.as_deref(), &mut problems);
    checks::issuers_are_cas(&certs, &analysis, &mut problems);
    checks::issuer_constraints(&certs, &analysis, &mut problems);
    let leaf = &certs[analysis.leaf()];
    if let Some(k) = &private_key {
        checks::key_matches(key.label, k, &certs, analysis.leaf(), &mut problems);
    }
    checks::leaf(leaf, &opts.names, &mut problems);
    checks::validity(&certs, &analysis, opts.now, opts.expiry_warning_days, &mut problems);
    path::validate(&certs, &analysis, opts, &mut problems);

    let info = cert_info(&leaf.x, leaf.der);
    let served: Vec<String> =
        analysis.served().iter().map(|&i| pem::encode("CERTIFICATE", certs[i].der)).collect();
    let cert_pem = served[0].clone();
    let chain_pem: String = served[1..].concat();
    let fullchain_pem = format!("{cert_pem}{chain_pem}");
    let pair = private_key.map(|k| CheckedPair {
        key_pem: k.to_pem(),
        cert_pem,
        chain_pem,
        fullchain_pem: fullchain_pem.clone(),
        info: info.clone(),
    });
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    let certificates = summary(&|i| analysis.roles[i]);
    Report { problems, pair, leaf: Some(info), certificates, fixed_bundle: Some(fullchain_pem) }
}
