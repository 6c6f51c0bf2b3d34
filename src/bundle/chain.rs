//! Which certificate is the leaf, which signed which (by verifying signatures, not by
//! comparing names), what is missing, what is extra, whether each file is in order, and
//! whether the chain reaches a trusted root.

use std::cell::RefCell;
use std::collections::HashMap;

use x509_parser::prelude::*;

use super::error::{BundleError, CertRef};
use super::key::PublicKeyId;
use super::{Problem, Role, Severity};

/// Above this many certificates, issuers are only looked for among certificates whose
/// subject equals the issuer name (RFC 5280 name chaining); below it, among all of them,
/// which also finds issuers whose names differ only in string encoding.
const TRY_ALL_BELOW: usize = 32;

/// One parsed certificate of the bundle.
pub(crate) struct Cert<'a> {
    pub at: CertRef,
    pub file: usize,
    pub der: &'a [u8],
    pub x: X509Certificate<'a>,
    pub is_ca: bool,
    pub key: PublicKeyId,
}

impl<'a> Cert<'a> {
    pub(crate) fn new(at: CertRef, file: usize, der: &'a [u8], x: X509Certificate<'a>) -> Cert<'a> {
        let is_ca = matches!(x.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        let key = PublicKeyId::from_spki(x.public_key());
        Cert { at, file, der, x, is_ca, key }
    }

    /// The caIssuers URL of the Authority Information Access extension: where the issuer's
    /// certificate can be downloaded.
    pub(crate) fn ca_issuers_url(&self) -> Option<String> {
        self.x.iter_extensions().find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => aia.iter().find_map(|d| match &d.access_location {
                GeneralName::URI(uri)
                    if d.access_method == oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS =>
                {
                    Some(uri.to_string())
                }
                _ => None,
            }),
            _ => None,
        })
    }

    fn names_issuer_of(&self, child: &Cert<'_>) -> bool {
        self.x.subject().as_raw() == child.x.issuer().as_raw()
    }
}

/// The outcome of checking one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sig {
    Valid,
    Invalid,
    /// An algorithm aws-lc cannot verify (e.g. ECDSA with SHA-512 on P-521).
    Unsupported,
}

pub(crate) fn verify(child: &X509Certificate<'_>, issuer: &SubjectPublicKeyInfo<'_>) -> Sig {
    match child.verify_signature(Some(issuer)) {
        Ok(()) => Sig::Valid,
        Err(X509Error::SignatureUnsupportedAlgorithm) => Sig::Unsupported,
        Err(_) => Sig::Invalid,
    }
}

/// Signature checks between bundle certificates, each done at most once.
pub(crate) struct Signatures<'c, 'a> {
    certs: &'c [Cert<'a>],
    memo: RefCell<HashMap<(usize, usize), Sig>>,
}

impl<'c, 'a> Signatures<'c, 'a> {
    pub(crate) fn new(certs: &'c [Cert<'a>]) -> Self {
        Signatures { certs, memo: RefCell::new(HashMap::new()) }
    }

    /// Whether `issuer` signed `child`.
    pub(crate) fn check(&self, child: usize, issuer: usize) -> Sig {
        if let Some(&sig) = self.memo.borrow().get(&(child, issuer)) {
            return sig;
        }
        let sig = verify(&self.certs[child].x, self.certs[issuer].x.public_key());
        self.memo.borrow_mut().insert((child, issuer), sig);
        sig
    }

    /// Whether it is worth verifying that `issuer` signed `child`.
    fn candidate(&self, child: usize, issuer: usize) -> bool {
        self.certs.len() < TRY_ALL_BELOW || self.certs[issuer].names_issuer_of(&self.certs[child])
    }

    pub(crate) fn signed(&self, child: usize, issuer: usize) -> bool {
        child != issuer && self.candidate(child, issuer) && self.check(child, issuer) == Sig::Valid
    }

    pub(crate) fn self_signed(&self, i: usize) -> bool {
        let c = &self.certs[i];
        c.x.subject().as_raw() == c.x.issuer().as_raw() && self.check(i, i) == Sig::Valid
    }
}

/// Why the chain stops where it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// At a self-signed root in the bundle.
    Root,
    /// At a certificate whose issuer is not in the bundle. `near_miss`: a certificate with
    /// the issuer's name that did not sign it.
    Open { near_miss: Option<usize> },
    /// At a certificate whose signature cannot be checked.
    Unverifiable { algorithm: String },
}

/// The chain found in the bundle.
pub(crate) struct Analysis {
    /// Indices into the certificates: leaf first, then each one's issuer.
    pub chain: Vec<usize>,
    pub roles: Vec<Role>,
    pub end: End,
}

impl Analysis {
    pub(crate) fn leaf(&self) -> usize {
        self.chain[0]
    }

    /// Leaf and intermediates: what a server sends (a self-signed leaf is sent too).
    pub(crate) fn served(&self) -> &[usize] {
        match self.end {
            End::Root if self.chain.len() > 1 => &self.chain[..self.chain.len() - 1],
            _ => &self.chain,
        }
    }
}

fn warn(error: BundleError) -> Problem {
    Problem { severity: Severity::Warning, error }
}

/// Finds the leaf and builds its chain. Reports duplicates, certificates the chain does not
/// need, a root sent along, and a bundle with no server certificate.
///
/// `prefer`: certificates tried first as issuers, the path a TLS client builds to a trusted
/// root when the one found by file order does not reach it (an older and a cross-signed
/// copy of an intermediate in one bundle).
pub(crate) fn analyse(
    certs: &[Cert<'_>],
    sigs: &Signatures<'_, '_>,
    key: Option<&PublicKeyId>,
    files: &[&str],
    prefer: &[usize],
    problems: &mut Vec<Problem>,
) -> Option<Analysis> {
    let n = certs.len();
    let mut roles = vec![Role::Unrelated; n];
    let mut duplicate_of = vec![None; n];
    for i in 0..n {
        if let Some(first) = (0..i).find(|&j| duplicate_of[j].is_none() && certs[j].der == certs[i].der) {
            duplicate_of[i] = Some(first);
            roles[i] = Role::Duplicate;
        }
    }
    let live: Vec<usize> = (0..n).filter(|&i| duplicate_of[i].is_none()).collect();
    let signs_another = |i: usize| live.iter().any(|&j| sigs.signed(j, i));

    let leaf = live
        .iter()
        .copied()
        .find(|&i| !certs[i].is_ca && !signs_another(i))
        .or_else(|| live.iter().copied().find(|&i| key.is_some_and(|k| *k == certs[i].key)));
    let Some(leaf) = leaf else {
        if n > 0 {
            problems.push(Problem {
                severity: Severity::Error,
                error: BundleError::NoLeaf { files: files.join(", ") },
            });
        }
        return None;
    };

    let mut chain = vec![leaf];
    let end = loop {
        let current = *chain.last().expect("the chain starts with the leaf");
        if sigs.self_signed(current) {
            break End::Root;
        }
        let next_in_file = live.iter().copied().find(|&j| {
            certs[j].file == certs[current].file && certs[j].at.position == certs[current].at.position + 1
        });
        let by_name = live.iter().copied().filter(|&j| certs[j].names_issuer_of(&certs[current]));
        let others = live.iter().copied();
        let preferred = prefer.iter().copied().filter(|j| live.contains(j));
        let candidates = preferred.chain(next_in_file).chain(by_name).chain(others);
        let mut tried = vec![false; n];
        for &c in &chain {
            tried[c] = true;
        }
        let mut found = None;
        for j in candidates {
            if std::mem::replace(&mut tried[j], true) {
                continue;
            }
            if sigs.signed(current, j) {
                found = Some(j);
                break;
            }
        }
        match found {
            Some(j) => chain.push(j),
            None => {
                let named: Vec<usize> = live
                    .iter()
                    .copied()
                    .filter(|&j| j != current && certs[j].names_issuer_of(&certs[current]))
                    .collect();
                if named.iter().any(|&j| sigs.check(current, j) == Sig::Unsupported) {
                    break End::Unverifiable { algorithm: signature_algorithm(&certs[current].x) };
                }
                break End::Open { near_miss: named.first().copied() };
            }
        }
    };

    for (k, &i) in chain.iter().enumerate() {
        roles[i] = if k == 0 {
            Role::Leaf
        } else if k == chain.len() - 1 && end == End::Root {
            Role::Root
        } else {
            Role::Intermediate
        };
    }
    let leaf_ref = certs[leaf].at.clone();
    for i in 0..n {
        match (roles[i], duplicate_of[i]) {
            (Role::Duplicate, Some(first)) => problems.push(warn(BundleError::Duplicate {
                cert: certs[i].at.clone(),
                first: certs[first].at.clone(),
            })),
            (Role::Unrelated, _) if sigs.self_signed(i) && chain.iter().any(|&c| sigs.signed(c, i)) => {
                roles[i] = Role::Root;
            }
            (Role::Unrelated, _) => problems
                .push(warn(BundleError::Unrelated { cert: certs[i].at.clone(), leaf: leaf_ref.clone() })),
            _ => {}
        }
    }
    for i in 0..n {
        if roles[i] == Role::Root {
            problems.push(Problem {
                severity: Severity::Info,
                error: BundleError::RootInBundle { root: certs[i].at.clone() },
            });
        }
    }
    Some(Analysis { chain, roles, end })
}

/// Dotted OID of a certificate's signature algorithm, with a name for the common ones.
pub(crate) fn signature_algorithm(x: &X509Certificate<'_>) -> String {
    let oid = &x.signature_algorithm.algorithm;
    match x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry()) {
        Ok(name) => format!("{name} ({})", oid.to_id_string()),
        Err(_) => oid.to_id_string(),
    }
}

/// Each file must list its chain certificates leaf-first, each followed by its issuer; the
/// file holding the leaf must start with it. Across files any order is fine: the files are
/// assembled, not concatenated as given.
pub(crate) fn check_order(
    certs: &[Cert<'_>],
    analysis: &Analysis,
    files: &[&str],
    problems: &mut Vec<Problem>,
) {
    let rank = |i: usize| analysis.chain.iter().position(|&c| c == i);
    for (file_index, file) in files.iter().enumerate() {
        let mut members: Vec<usize> =
            (0..certs.len()).filter(|&i| certs[i].file == file_index && rank(i).is_some()).collect();
        members.sort_by_key(|&i| certs[i].at.position);
        let ranks: Vec<usize> = members.iter().filter_map(|&i| rank(i)).collect();
        let in_order = ranks.windows(2).all(|w| w[0] < w[1]);
        if !in_order {
            let k = ranks.windows(2).position(|w| w[1] != w[0] + 1).unwrap_or(0);
            let mut sorted = members.clone();
            sorted.sort_by_key(|&i| rank(i));
            let order = sorted
                .iter()
                .map(|&i| format!("certificate {}", certs[i].at.position))
                .collect::<Vec<_>>()
                .join(", then ");
            problems.push(Problem {
                severity: Severity::Error,
                error: BundleError::ChainOutOfOrder {
                    file: file.to_string(),
                    cert: certs[members[k]].at.clone(),
                    next: certs[members[k + 1]].at.clone(),
                    order,
                },
            });
            continue;
        }
        let leaf = analysis.leaf();
        if certs[leaf].file == file_index {
            let first = (0..certs.len())
                .filter(|&i| certs[i].file == file_index)
                .min_by_key(|&i| certs[i].at.position);
            if let Some(first) = first
                && first != leaf
            {
                problems.push(Problem {
                    severity: Severity::Error,
                    error: BundleError::LeafNotFirst {
                        file: file.to_string(),
                        leaf: certs[leaf].at.clone(),
                        first: certs[first].at.clone(),
                    },
                });
            }
        }
    }
}

/// Whether the chain is complete, and (with trust anchors) reaches one of them: some
/// certificate of the chain is a trust anchor or is signed by one (signature verified).
pub(crate) fn check_completeness_and_trust(
    certs: &[Cert<'_>],
    analysis: &Analysis,
    roots: Option<&[X509Certificate<'_>]>,
    problems: &mut Vec<Problem>,
) {
    let error = |e| Problem { severity: Severity::Error, error: e };
    let top = *analysis.chain.last().expect("chains are never empty");
    let leaf = analysis.leaf();
    if let End::Unverifiable { algorithm } = &analysis.end {
        problems.push(error(BundleError::UnverifiableSignature {
            cert: certs[top].at.clone(),
            algorithm: algorithm.clone(),
        }));
        return;
    }
    let trusted = roots.map(|roots| analysis.chain.iter().any(|&i| anchored(&certs[i], roots)));
    let missing = |problems: &mut Vec<Problem>, near_miss: &Option<usize>| {
        problems.push(error(BundleError::MissingIntermediate {
            cert: certs[top].at.clone(),
            issuer: certs[top].x.issuer().to_string(),
            url: certs[top].ca_issuers_url(),
            near_miss: near_miss.map(|i| certs[i].at.clone()),
            is_leaf: top == leaf,
        }))
    };
    match (&analysis.end, trusted) {
        (_, Some(true)) => {}
        (End::Root, Some(false)) if top == leaf => {
            problems.push(error(BundleError::SelfSigned { leaf: certs[leaf].at.clone(), checked: true }))
        }
        (End::Root, None) if top == leaf => problems.push(Problem {
            severity: Severity::Warning,
            error: BundleError::SelfSigned { leaf: certs[leaf].at.clone(), checked: false },
        }),
        (End::Root, Some(false)) => {
            problems.push(error(BundleError::UntrustedRoot { root: certs[top].at.clone() }))
        }
        (End::Root, None) => {}
        // A leaf nobody in the bundle signed: public CAs never issue from the root itself.
        (End::Open { near_miss }, _) if top == leaf => missing(problems, near_miss),
        (End::Open { near_miss }, _) if near_miss.is_some() => missing(problems, near_miss),
        (End::Open { .. }, Some(false)) => problems.push(error(BundleError::Untrusted {
            top: certs[top].at.clone(),
            issuer: certs[top].x.issuer().to_string(),
            url: certs[top].ca_issuers_url(),
        })),
        (End::Open { .. }, None) => {}
        (End::Unverifiable { .. }, _) => unreachable!("handled above"),
    }
}

/// Whether a chain certificate is itself a trust anchor (same subject and key) or is signed
/// by one.
fn anchored(cert: &Cert<'_>, roots: &[X509Certificate<'_>]) -> bool {
    let named = |r: &&X509Certificate<'_>| r.subject().as_raw() == cert.x.issuer().as_raw();
    let is_anchor = roots.iter().any(|r| {
        r.subject().as_raw() == cert.x.subject().as_raw() && r.public_key().raw == cert.x.public_key().raw
    });
    is_anchor
        || roots.iter().filter(named).any(|r| verify(&cert.x, r.public_key()) == Sig::Valid)
        || (roots.len() < TRY_ALL_BELOW
            && roots.iter().filter(|r| !named(r)).any(|r| verify(&cert.x, r.public_key()) == Sig::Valid))
}
