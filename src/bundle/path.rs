//! The verdict TLS clients reach on a chain: RFC 5280 path validation by rustls-webpki, the
//! validator rustls runs on every connection, for the serverAuth purpose, at the check's
//! time. Its refusals become messages that name the certificate, the rule and the fix.
//!
//! wildcert's own checks (`chain`, `checks`) explain a bundle better than a path validator
//! can, but they are not the judge: when path validation refuses, the pair is unusable even
//! if every own check passed, and the message says that the clients' verdict overrides them.
//! A refusal an own check already reported is not repeated.
//!
//! The anchors are the trust check's: the roots given (`--roots`, else the system's). Where
//! the trust check is skipped (`roots: None`: issued chains, `--no-trust`, re-imported
//! files, pairs from the bucket), the path ends at a root sent in the bundle, or at a CA the
//! caller knows ([`CheckOptions::known_cas`]) that signed the chain's top, else at that top
//! itself: everything below it is validated, and whether the top is trusted stays a
//! question the trust check alone answers, as before.
//!
//! rustls-webpki ignores key usage (see its `verify_cert.rs`); browsers, OpenSSL and Go do
//! not, so `checks::issuer_constraints` refuses an issuer without keyCertSign itself.

use ::time::OffsetDateTime;
use rustls_pki_types::{CertificateDer, ServerName, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, Error as WebPkiError, KeyUsage};
use x509_parser::prelude::*;

use super::chain::{Analysis, Cert, End, Sig, signature_algorithm, verify};
use super::checks::{CLOCK_SKEW, dns_names, eku_without_server_auth, when};
use super::error::{BundleError, CertRef};
use super::{CheckOptions, Problem, Severity};

/// What rustls accepts with the aws-lc-rs provider, the one this program uses everywhere.
fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.all
}

fn unix(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.unix_timestamp().max(0) as u64))
}

fn seconds(t: UnixTime) -> i64 {
    t.as_secs() as i64
}

/// Validates the chain the pair will be served with and adds what clients refuse.
pub(crate) fn validate(
    certs: &[Cert<'_>],
    analysis: &Analysis,
    opts: &CheckOptions,
    problems: &mut Vec<Problem>,
) {
    if matches!(analysis.end, End::Unverifiable { .. }) {
        // Already an error naming the algorithm; the validator would only repeat it.
        return;
    }
    let Some(refusal) = refusal(certs, analysis, opts) else { return };
    let roots = opts.roots.as_ref().map(|r| Roots::new(r));
    let ctx = Context { certs, analysis, roots: roots.as_ref(), now: opts.now };
    let finding = ctx.explain(&refusal);
    if !already_reported(problems, &finding) {
        problems.push(Problem {
            severity: Severity::Error,
            error: BundleError::RefusedByClients { finding: Box::new(finding), detail: describe(&refusal) },
        });
    }
}

/// Path validation's error, if it refuses; `None` when it accepts or has nothing to anchor.
pub(super) fn refusal(certs: &[Cert<'_>], analysis: &Analysis, opts: &CheckOptions) -> Option<WebPkiError> {
    let leaf = CertificateDer::from(certs[analysis.leaf()].der);
    let served: Vec<CertificateDer<'_>> =
        analysis.served()[1..].iter().map(|&i| CertificateDer::from(certs[i].der)).collect();
    let top = *analysis.chain.last().expect("chains are never empty");
    let anchors = |ders: &[CertificateDer<'_>]| -> Vec<TrustAnchor<'static>> {
        ders.iter().filter_map(|d| webpki::anchor_from_trusted_cert(d).ok().map(|a| a.to_owned())).collect()
    };
    let top_der = CertificateDer::from(certs[top].der);
    let result = match &opts.roots {
        Some(roots) => run(&leaf, &served, &anchors(roots), opts.now),
        // A root sent along anchors its own chain.
        None if analysis.end == End::Root => run(&leaf, &served, &anchors(&[top_der]), opts.now),
        None => {
            // A known CA anchors the path only if it signed the top: one that merely shares
            // the issuer's name would turn an acceptable private chain into a refusal.
            let issuers: Vec<CertificateDer<'static>> = opts
                .known_cas
                .iter()
                .filter(|ca| {
                    X509Certificate::from_der(ca)
                        .is_ok_and(|(_, x)| verify(&certs[top].x, x.public_key()) == Sig::Valid)
                })
                .cloned()
                .collect();
            if !issuers.is_empty() {
                run(&leaf, &served, &anchors(&issuers), opts.now)
            } else if top != analysis.leaf() {
                let below: Vec<CertificateDer<'_>> =
                    served.iter().filter(|d| d.as_ref() != certs[top].der).cloned().collect();
                run(&leaf, &below, &anchors(&[top_der]), opts.now)
            } else {
                // A leaf nobody in the bundle signed: the chain check already says so.
                Ok(Vec::new())
            }
        }
    };
    match result {
        Err(e) => Some(e),
        Ok(_) => names_refused(&leaf, &opts.names),
    }
}

/// One path validation at `now`. A certificate that starts less than [`CLOCK_SKEW`] ahead is
/// accepted, as the own validity check does: a chain issued a moment ago by a CA whose clock
/// runs ahead must pass. Returns the intermediates of the path found.
fn run(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    now: OffsetDateTime,
) -> Result<Vec<Vec<u8>>, WebPkiError> {
    let ee = EndEntityCert::try_from(leaf)?;
    let mut at = now;
    // Each retry moves to a later notBefore; a path has at most a handful of certificates.
    for _ in 0..8 {
        match ee.verify_for_usage(
            algorithms(),
            anchors,
            intermediates,
            unix(at),
            KeyUsage::server_auth(),
            None,
            None,
        ) {
            Ok(path) => return Ok(path.intermediate_certificates().map(|c| c.der().to_vec()).collect()),
            Err(WebPkiError::CertNotValidYet { not_before, .. })
                if seconds(not_before) <= (now + CLOCK_SKEW).unix_timestamp()
                    && seconds(not_before) > at.unix_timestamp() =>
            {
                at = OffsetDateTime::from_unix_timestamp(seconds(not_before)).unwrap_or(now);
            }
            Err(e) => return Err(e),
        }
    }
    Err(WebPkiError::MaximumPathBuildCallsExceeded)
}

/// With trust anchors, when the chain found by file order is refused for want of a path to
/// them but the bundle holds another one: that path's certificates (indices), leaf first.
pub(super) fn client_path(
    certs: &[Cert<'_>],
    analysis: &Analysis,
    roots: &[CertificateDer<'static>],
    now: OffsetDateTime,
) -> Option<Vec<usize>> {
    let leaf = CertificateDer::from(certs[analysis.leaf()].der);
    let anchors: Vec<TrustAnchor<'_>> =
        roots.iter().filter_map(|d| webpki::anchor_from_trusted_cert(d).ok()).collect();
    let served: Vec<CertificateDer<'_>> =
        analysis.served()[1..].iter().map(|&i| CertificateDer::from(certs[i].der)).collect();
    if !matches!(run(&leaf, &served, &anchors, now), Err(WebPkiError::UnknownIssuer)) {
        return None;
    }
    let others: Vec<CertificateDer<'_>> = (0..certs.len())
        .filter(|&i| i != analysis.leaf())
        .map(|i| CertificateDer::from(certs[i].der))
        .collect();
    let path = run(&leaf, &others, &anchors, now).ok()?;
    let mut indices = vec![analysis.leaf()];
    indices.extend(path.iter().filter_map(|der| certs.iter().position(|c| c.der == der.as_slice())));
    Some(indices)
}

/// Whether a client connecting to one of the (non-wildcard) names refuses the leaf. A
/// wildcard name has no host a client would connect to; the own coverage check judges it.
fn names_refused(leaf: &CertificateDer<'_>, names: &[String]) -> Option<WebPkiError> {
    let ee = EndEntityCert::try_from(leaf).ok()?;
    names.iter().filter(|n| !n.starts_with("*.")).find_map(|name| {
        let server = ServerName::try_from(name.trim_end_matches('.')).ok()?.to_owned();
        ee.verify_is_valid_for_subject_name(&server).err()
    })
}

/// The path validator's error in words, for the message's parenthesis.
fn describe(e: &WebPkiError) -> String {
    let name = format!("{e:?}");
    let name = name.split(['(', ' ', '{']).next().unwrap_or_default();
    let what = match e {
        WebPkiError::UnknownIssuer => "no path from the leaf to a trust anchor",
        WebPkiError::CertExpired { .. } => "a certificate on the path has expired",
        WebPkiError::CertNotValidYet { .. } => "a certificate on the path is not valid yet",
        WebPkiError::NameConstraintViolation => "a name constraint excludes the leaf",
        WebPkiError::PathLenConstraintViolated => "a path length constraint is exceeded",
        WebPkiError::EndEntityUsedAsCa => "a certificate that is no CA signed another",
        WebPkiError::CaUsedAsEndEntity => "the leaf is a CA certificate",
        WebPkiError::RequiredEkuNotFoundContext(_) | WebPkiError::EmptyEkuExtension => {
            "the extended key usage excludes serverAuth"
        }
        WebPkiError::CertNotValidForName(_) => "the leaf is not valid for the name",
        WebPkiError::InvalidSignatureForPublicKey => "a signature does not verify",
        WebPkiError::UnsupportedSignatureAlgorithmContext(_)
        | WebPkiError::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a signature algorithm clients refuse"
        }
        WebPkiError::UnsupportedCriticalExtension => "a critical extension clients do not know",
        WebPkiError::MaximumPathDepthExceeded => "more intermediates than clients follow",
        WebPkiError::CertDistrusted => "a key clients distrust",
        _ => "refused",
    };
    format!("{what}, rustls-webpki {name}")
}

/// Whether an own check already reported this finding (same kind, same certificate), or,
/// for a trust finding, any trust finding: then the clients' refusal adds nothing.
fn already_reported(problems: &[Problem], finding: &BundleError) -> bool {
    const TRUST: [&str; 5] =
        ["untrusted", "untrusted_root", "missing_intermediate", "self_signed", "unverifiable_signature"];
    problems.iter().filter(|p| p.severity == Severity::Error).any(|p| {
        let (have, new) = (p.error.code(), finding.code());
        (TRUST.contains(&have) && TRUST.contains(&new))
            || (have == new && p.error.certificate() == finding.certificate())
            || (have == new && matches!(
                (&p.error, finding),
                (BundleError::NameNotCovered { name: a, .. }, BundleError::NameNotCovered { name: b, .. }) if a == b
            ))
    })
}

/// The trusted roots, parsed once, for naming a root in a message.
struct Roots<'r> {
    parsed: Vec<(CertRef, X509Certificate<'r>)>,
}

impl<'r> Roots<'r> {
    fn new(ders: &'r [CertificateDer<'static>]) -> Roots<'r> {
        let parsed = ders
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let (_, x) = X509Certificate::from_der(d).ok()?;
                let at = CertRef {
                    file: "the trusted roots".into(),
                    position: i + 1,
                    subject: x.subject().to_string(),
                    serial: x.raw_serial_as_string().replace(':', "").to_ascii_lowercase(),
                };
                Some((at, x))
            })
            .collect();
        Roots { parsed }
    }
}

/// What a refusal is explained against: the chain the own checks found (the path clients
/// build from a bundle in order), and the roots.
struct Context<'c, 'a, 'r> {
    certs: &'c [Cert<'a>],
    analysis: &'c Analysis,
    roots: Option<&'r Roots<'r>>,
    now: OffsetDateTime,
}

impl Context<'_, '_, '_> {
    /// The chain's certificates from the leaf up, with their references.
    fn path(&self) -> impl Iterator<Item = (usize, &CertRef, &X509Certificate<'_>)> + '_ {
        self.analysis.chain.iter().enumerate().map(|(k, &i)| (k, &self.certs[i].at, &self.certs[i].x))
    }

    /// Trusted roots that issued the top of the chain (by name): the anchors in use.
    fn anchors(&self) -> Vec<(&CertRef, &X509Certificate<'_>)> {
        let top = &self.certs[*self.analysis.chain.last().expect("non-empty")].x;
        self.roots
            .map(|r| {
                r.parsed
                    .iter()
                    .filter(|(_, x)| x.subject().as_raw() == top.issuer().as_raw())
                    .map(|(at, x)| (at, x))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn leaf(&self) -> &Cert<'_> {
        &self.certs[self.analysis.leaf()]
    }

    /// The precise finding behind a refusal; a generic one where the certificate cannot be
    /// told.
    fn explain(&self, e: &WebPkiError) -> BundleError {
        self.precise(e).unwrap_or_else(|| BundleError::ClientsRefuse {
            cert: self.leaf().at.clone(),
            reason: format!("its chain fails path validation ({e:?}); have the CA check the chain it issued"),
        })
    }

    fn precise(&self, e: &WebPkiError) -> Option<BundleError> {
        Some(match e {
            WebPkiError::CertExpired { not_after, .. } => {
                let (k, at, _) = self
                    .path()
                    .find(|(_, _, x)| x.validity().not_after.timestamp() == seconds(*not_after))?;
                BundleError::Expired {
                    cert: at.clone(),
                    not_after: when(self.datetime(*not_after)),
                    is_leaf: k == 0,
                }
            }
            WebPkiError::CertNotValidYet { not_before, .. } => {
                let (_, at, _) = self
                    .path()
                    .find(|(_, _, x)| x.validity().not_before.timestamp() == seconds(*not_before))?;
                BundleError::NotYetValid { cert: at.clone(), not_before: when(self.datetime(*not_before)) }
            }
            WebPkiError::CaUsedAsEndEntity => BundleError::LeafIsCa { leaf: self.leaf().at.clone() },
            WebPkiError::EndEntityUsedAsCa => {
                let k = self.analysis.chain.iter().skip(1).position(|&i| !self.certs[i].is_ca)? + 1;
                BundleError::IssuerNotCa {
                    cert: self.certs[self.analysis.chain[k]].at.clone(),
                    signed: self.certs[self.analysis.chain[k - 1]].at.clone(),
                }
            }
            WebPkiError::PathLenConstraintViolated => self.path().skip(1).find_map(|(k, at, x)| {
                let path_len = x.basic_constraints().ok().flatten()?.value.path_len_constraint? as usize;
                let below = k - 1;
                (path_len < below).then(|| BundleError::PathLenExceeded { ca: at.clone(), path_len, below })
            })?,
            WebPkiError::NameConstraintViolation => self.name_constraint()?,
            WebPkiError::RequiredEkuNotFoundContext(_) | WebPkiError::EmptyEkuExtension => {
                self.path().find_map(|(k, at, x)| {
                    let have = eku_without_server_auth(x)?;
                    Some(if k == 0 {
                        BundleError::MissingServerAuth { leaf: at.clone(), have }
                    } else {
                        BundleError::IssuerWithoutServerAuth { cert: at.clone(), have }
                    })
                })?
            }
            WebPkiError::UnsupportedSignatureAlgorithmContext(c) => {
                self.refused_algorithm(&c.signature_algorithm_id)?
            }
            WebPkiError::UnsupportedSignatureAlgorithmForPublicKeyContext(c) => {
                self.refused_algorithm(&c.signature_algorithm_id)?
            }
            WebPkiError::CertNotValidForName(c) => {
                let name = match &c.expected {
                    ServerName::DnsName(d) => d.as_ref().to_string(),
                    other => format!("{other:?}"),
                };
                BundleError::NameNotCovered {
                    leaf: self.leaf().at.clone(),
                    name: name.clone(),
                    have: if c.presented.is_empty() {
                        "(no DNS names)".into()
                    } else {
                        c.presented.join(", ")
                    },
                    hint: format!(" — get a certificate that includes {name}"),
                }
            }
            WebPkiError::UnknownIssuer if self.name_mismatch().is_some() => self.name_mismatch()?,
            WebPkiError::UnknownIssuer => {
                let top = &self.certs[*self.analysis.chain.last().expect("non-empty")];
                if self.analysis.chain.len() == 1 && self.analysis.end == End::Root {
                    BundleError::SelfSigned { leaf: self.leaf().at.clone(), checked: self.roots.is_some() }
                } else if self.analysis.end == End::Root {
                    BundleError::UntrustedRoot { root: top.at.clone() }
                } else {
                    BundleError::Untrusted {
                        top: top.at.clone(),
                        issuer: top.x.issuer().to_string(),
                        url: top.ca_issuers_url(),
                    }
                }
            }
            WebPkiError::UnsupportedCriticalExtension => {
                // What rustls-webpki understands: keyUsage, subjectAltName, basicConstraints,
                // nameConstraints, cRLDistributionPoints, extKeyUsage.
                const KNOWN: [&str; 6] =
                    ["2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.30", "2.5.29.31", "2.5.29.37"];
                let (_, at, x) = self.path().find(|(_, _, x)| {
                    x.extensions()
                        .iter()
                        .any(|ext| ext.critical && !KNOWN.contains(&ext.oid.to_id_string().as_str()))
                })?;
                let oid = x
                    .extensions()
                    .iter()
                    .find(|ext| ext.critical && !KNOWN.contains(&ext.oid.to_id_string().as_str()))
                    .map(|ext| ext.oid.to_id_string())
                    .unwrap_or_default();
                BundleError::ClientsRefuse {
                    cert: at.clone(),
                    reason: format!(
                        "carries the critical extension {oid}, which TLS clients do not understand, so they refuse it; ask the CA for a certificate without it"
                    ),
                }
            }
            _ => return None,
        })
    }

    /// A certificate signed by the next one up (in the bundle, or a trusted root) whose
    /// issuer name differs from that signer's subject in its bytes: the own chain check links
    /// by signature, clients by name, byte for byte.
    fn name_mismatch(&self) -> Option<BundleError> {
        let chain = &self.analysis.chain;
        let mismatch = |child: &Cert<'_>, signer: &CertRef, subject: &[u8]| {
            (child.x.issuer().as_raw() != subject).then(|| BundleError::ClientsRefuse {
                cert: child.at.clone(),
                reason: format!(
                    "is signed by {signer}, but names its issuer \"{}\" in another encoding than that certificate's subject; TLS clients match issuer and subject byte for byte, so they find no issuer — ask the CA for a chain whose names match",
                    child.x.issuer()
                ),
            })
        };
        for pair in chain.windows(2) {
            let (child, signer) = (&self.certs[pair[0]], &self.certs[pair[1]]);
            if let Some(found) = mismatch(child, &signer.at, signer.x.subject().as_raw()) {
                return Some(found);
            }
        }
        let top = &self.certs[*chain.last().expect("non-empty")];
        self.roots?.parsed.iter().find_map(|(at, r)| {
            (verify(&top.x, r.public_key()) == Sig::Valid).then(|| mismatch(top, at, r.subject().as_raw()))?
        })
    }

    fn datetime(&self, t: UnixTime) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds(t)).unwrap_or(self.now)
    }

    /// The certificate whose signature algorithm is the refused one (the context carries the
    /// DER of its AlgorithmIdentifier, which contains the OID).
    fn refused_algorithm(&self, algorithm_id: &[u8]) -> Option<BundleError> {
        let (_, at, x) = self.path().find(|(_, _, x)| {
            let oid = x.signature_algorithm.algorithm.as_bytes();
            !oid.is_empty() && algorithm_id.windows(oid.len()).any(|w| w == oid)
        })?;
        Some(BundleError::RefusedSignatureAlgorithm { cert: at.clone(), algorithm: signature_algorithm(x) })
    }

    /// The CA whose name constraints exclude a name of the leaf, and which name.
    fn name_constraint(&self) -> Option<BundleError> {
        let names = dns_names(&self.leaf().x).unwrap_or_default();
        let issuers = self.path().skip(1).map(|(_, at, x)| (at, x)).chain(self.anchors());
        for (at, x) in issuers {
            let Ok(Some(nc)) = x.name_constraints() else { continue };
            let dns = |subtrees: &Option<Vec<GeneralSubtree<'_>>>| -> Vec<String> {
                subtrees
                    .iter()
                    .flatten()
                    .filter_map(|s| match &s.base {
                        GeneralName::DNSName(d) => Some(d.to_string()),
                        _ => None,
                    })
                    .collect()
            };
            let (permitted, excluded) = (dns(&nc.value.permitted_subtrees), dns(&nc.value.excluded_subtrees));
            for name in &names {
                if let Some(base) = excluded.iter().find(|b| within(name, b)) {
                    return Some(BundleError::NameConstraintViolation {
                        ca: at.clone(),
                        name: name.clone(),
                        constraint: format!("exclude {}", subtree(base)),
                    });
                }
                if !permitted.is_empty() && !permitted.iter().any(|b| within(name, b)) {
                    let list: Vec<String> = permitted.iter().map(|b| subtree(b)).collect();
                    return Some(BundleError::NameConstraintViolation {
                        ca: at.clone(),
                        name: name.clone(),
                        constraint: format!("permit only {}", list.join(" and ")),
                    });
                }
            }
        }
        None
    }
}

/// `names under example.com` (or `every name` for an empty base).
fn subtree(base: &str) -> String {
    match base.trim_start_matches('.') {
        "" => "every DNS name".into(),
        b => format!("names under {b}"),
    }
}

/// RFC 5280 dNSName subtree matching: the base itself and every name below it; a base with a
/// leading dot only the names below it. A wildcard name is judged by its labels.
fn within(name: &str, base: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let base = base.trim_end_matches('.').to_ascii_lowercase();
    if base.is_empty() {
        return true;
    }
    if let Some(below) = base.strip_prefix('.') {
        return name.ends_with(&format!(".{below}"));
    }
    name == base || name.ends_with(&format!(".{base}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_match_the_base_and_below() {
        assert!(within("gradient.example.com", "example.com"));
        assert!(within("*.gradient.example.com", "gradient.example.com"));
        assert!(within("GRADIENT.example.com.", "example.com"));
        assert!(!within("gradient.example.com", "ample.com"));
        assert!(!within("example.com", ".example.com"));
        assert!(within("a.example.com", ".example.com"));
        assert!(within("anything.test", ""));
        assert_eq!(subtree(".example.org"), "names under example.org");
    }
}
