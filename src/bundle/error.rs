//! What can be wrong with a key and bundle, each with where it is and what to do about it.

use std::fmt;

/// Which certificate a problem is about: the file it came from, its position among the
/// certificates of that file (1-based, as an operator counts them), its subject and serial.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertRef {
    pub file: String,
    pub position: usize,
    /// The whole subject DN, e.g. `C=US, O=Let's Encrypt, CN=R3`.
    pub subject: String,
    /// Hex, lower case, as `openssl x509 -serial` prints it.
    pub serial: String,
}

impl CertRef {
    /// `certificate 2 (CN=R3, serial 0a1b2c…)`, without the file name.
    pub fn short(&self) -> String {
        format!(
            "certificate {} ({}, serial {})",
            self.position,
            short_subject(&self.subject),
            short_serial(&self.serial)
        )
    }
}

impl fmt::Display for CertRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.short())
    }
}

/// The CN when there is one (what operators recognise), else the whole DN.
fn short_subject(subject: &str) -> String {
    subject
        .split(", ")
        .filter(|part| part.starts_with("CN="))
        .last()
        .map(str::to_string)
        .unwrap_or_else(|| if subject.is_empty() { "empty subject".into() } else { subject.to_string() })
}

/// Long serials are shortened; enough remains to tell certificates apart.
fn short_serial(serial: &str) -> String {
    if serial.chars().count() > 16 {
        format!("{}…", serial.chars().take(12).collect::<String>())
    } else {
        serial.into()
    }
}

/// A file name as one shell word, so suggested commands can be pasted as they are.
pub(crate) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/+,:@%=".contains(&b));
    if plain { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// Every way a key + bundle can be wrong, with what to do about it.
///
/// Messages name the file, the certificate (position, subject, serial) and the fix. They
/// never contain key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    // --- reading the files ---
    #[error("{file}: the file is empty; it should hold {expected} in PEM form")]
    EmptyFile { file: String, expected: &'static str },
    #[error(
        "{file}: no PEM certificate found{found}; expected blocks starting with -----BEGIN CERTIFICATE-----"
    )]
    NoCertificate { file: String, found: String },
    #[error("{file}: no private key found{found}; expected a block such as -----BEGIN PRIVATE KEY-----")]
    NoKey { file: String, found: String },
    /// Input that fits no more precise variant (kept for callers outside this module).
    #[error("{file}: cannot parse: {detail}")]
    Unparsable { file: String, detail: String },
    #[error(
        "{file}: this is a binary (DER) {what}, but web servers and wildcert expect PEM text; convert it with: {command}"
    )]
    DerEncoded { file: String, what: &'static str, command: String },
    #[error(
        "{file}: this is a PKCS#12 archive (.pfx/.p12), not PEM; extract the certificates with `openssl pkcs12 -in {0} -nokeys -out bundle.crt` and the key with `openssl pkcs12 -in {0} -nocerts -nodes -out key.pem` (then chmod 600 key.pem)",
        shell_word(file)
    )]
    Pkcs12 { file: String },
    #[error(
        "{file}: this is a PKCS#7 container (.p7b), which web servers cannot read; convert it with: {command}"
    )]
    Pkcs7 { file: String, command: String },
    #[error("{file} line {line}: {detail}; the PEM block is damaged — copy the file again from its source")]
    BadPem { file: String, line: usize, detail: String },
    #[error(
        "{file}: certificate {position} (line {line}) is not a valid X.509 certificate ({detail}); copy it again from your CA"
    )]
    BadCertificate { file: String, position: usize, line: usize, detail: String },
    #[error(
        "{file}: the private key is encrypted with a passphrase, and a server that restarts unattended cannot type it; write a decrypted copy with `{command}` (it asks for the passphrase), then chmod 600 it"
    )]
    EncryptedKey { file: String, command: String },
    #[error(
        "{file}: holds {count} private keys; keep exactly one, the one made together with this certificate's CSR"
    )]
    SeveralKeys { file: String, count: usize },
    #[error(
        "{file} line {line}: the private key cannot be read ({detail}); export it again from where it was made"
    )]
    BadKey { file: String, line: usize, detail: String },
    #[error(
        "{file}: holds a certificate ({subject}), not a private key; did you swap --key and --bundle? The key file starts with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)"
    )]
    CertificateAsKey { file: String, subject: String },
    #[error("{file} line {line}: {}", match same_as_key {
        Some(true) => "the bundle also holds the private key (a combined file); do not publish this file, and give web servers a bundle without it — 'wildcert verify --fix --out fixed.crt' writes one",
        Some(false) => "a private key is pasted into the bundle, and it is not the key given with --key; remove it from the bundle (certificate files are often readable by everyone) — 'wildcert verify --fix --out fixed.crt' writes the bundle without it",
        None => "a private key is pasted into the bundle; keep it only in the key file (certificate files are often readable by everyone)",
    })]
    /// `same_as_key`: whether it is the key given as the key file (`None`: that one is unreadable).
    KeyInBundle { file: String, line: usize, same_as_key: Option<bool> },
    #[error(
        "{file}: also holds {count} certificate(s), which are not read from the key file; give them with --bundle if they belong to the chain"
    )]
    CertificateInKeyFile { file: String, count: usize },
    #[error(
        "{file} line {line}: a {label} block is not part of a certificate bundle and was ignored; {hint}"
    )]
    UnexpectedBlock { file: String, line: usize, label: String, hint: &'static str },

    // --- the key and the leaf ---
    #[error(
        "{file}: this private key ({key}) does not match the leaf {leaf}, which carries a different {cert_key} public key{}; find the key that was made together with this certificate's CSR — `openssl pkey -in {} -pubout | openssl sha256` must print the same as `openssl x509 -in {} -noout -pubkey | openssl sha256`",
        matches.as_ref().map(|m| format!(": it is the key of {m}")).unwrap_or_else(|| ": it is the key of another certificate (an older one, or another CSR)".into()),
        shell_word(file),
        shell_word(&leaf.file)
    )]
    KeyMismatch { file: String, leaf: CertRef, key: String, cert_key: String, matches: Option<CertRef> },
    #[error(
        "no server certificate found: {files} only hold CA certificates (intermediates or roots); put your own certificate (the one issued for your names) first"
    )]
    NoLeaf { files: String },
    #[error(
        "{cert} has a {key} key, which is too weak; browsers need RSA of at least 2048 bits — get a new certificate with a new key (RSA 2048+ or EC P-256)"
    )]
    WeakKey { cert: CertRef, key: String },
    #[error(
        "{cert} has a {key} key, which not every client accepts; use an EC P-256 or P-384 key, or RSA 2048+, for a new certificate"
    )]
    UnsupportedKeyType { cert: CertRef, key: String },
    #[error(
        "{leaf} is a CA certificate (basicConstraints cA=true), not a server certificate; browsers refuse it as a server's own — put the certificate issued for your names first"
    )]
    LeafIsCa { leaf: CertRef },
    #[error(
        "{leaf} may not be used for TLS servers: its extended key usage lists {have} but not serverAuth; ask the CA for a TLS server certificate"
    )]
    MissingServerAuth { leaf: CertRef, have: String },

    // --- names ---
    #[error(
        "{leaf} has no subjectAltName, only the subject common name \"{cn}\"; browsers ignore the CN since 2017 and will reject it — have it reissued with the names as subjectAltNames (every CA does this when asked)"
    )]
    NoSubjectAltName { leaf: CertRef, cn: String },
    #[error("{leaf} does not cover {name}; its names are: {have}{hint}")]
    NameNotCovered { leaf: CertRef, name: String, have: String, hint: String },

    // --- order and completeness ---
    #[error(
        "{file}: {} is not signed by {}: the bundle is out of order — put the leaf first, then the certificate that signed it, and so on (here: {order}); 'wildcert verify --fix --out fixed.crt' writes it in order",
        cert.short(), next.short()
    )]
    ChainOutOfOrder { file: String, cert: CertRef, next: CertRef, order: String },
    #[error(
        "{file}: {} comes before the leaf {}; web servers send the first certificate of the file as their own — put the leaf first ('wildcert verify --fix --out fixed.crt' writes it in order)",
        first.short(), leaf.short()
    )]
    LeafNotFirst { file: String, leaf: CertRef, first: CertRef },
    #[error(
        "{cert} was issued by \"{issuer}\", which is not in the bundle: the intermediate certificate is missing{} — {}append it after {}{}",
        near_miss.as_ref().map(|m| format!(" ({m} has that name but did not sign it: a different key, e.g. an older or cross-signed version)")).unwrap_or_default(),
        url.as_ref().map(|u| format!("download it from {u} (convert it with `openssl x509 -inform der -in FILE -out FILE.pem` if it is binary) and ")).unwrap_or_else(|| "get it from your CA (\"intermediate\" or \"CA bundle\") and ".into()),
        if *is_leaf { "the leaf" } else { "this certificate" },
        if *is_leaf { "; if a private CA issued the leaf directly from its root, pass that root with --roots" } else { "" }
    )]
    MissingIntermediate {
        cert: CertRef,
        issuer: String,
        url: Option<String>,
        near_miss: Option<CertRef>,
        is_leaf: bool,
    },
    #[error(
        "{cert} is signed with {algorithm}, which wildcert cannot verify; clients support RSA (PKCS#1/PSS, SHA-256/384/512) and ECDSA P-256/P-384 — ask the CA for a chain with a common algorithm"
    )]
    UnverifiableSignature { cert: CertRef, algorithm: String },
    #[error(
        "{cert} signed {}, but it is not a CA certificate (no basicConstraints cA=true), so clients reject the chain; use the real intermediate from your CA",
        signed.short()
    )]
    IssuerNotCa { cert: CertRef, signed: CertRef },
    #[error(
        "{cert} signed {}, but its key usage lacks keyCertSign, so it may not sign certificates and TLS clients (browsers, OpenSSL, Go) reject the chain; use the real intermediate from your CA",
        signed.short()
    )]
    IssuerNotCertSigner { cert: CertRef, signed: CertRef },
    #[error(
        "{cert} limits its extended key usage to {have}, without serverAuth, and that limit binds every certificate below it: TLS clients refuse the leaf as a server certificate; ask the CA for the intermediate that issues TLS server certificates"
    )]
    IssuerWithoutServerAuth { cert: CertRef, have: String },
    #[error(
        "{ca} allows at most {path_len} intermediate(s) below it (basicConstraints pathLenConstraint), but the chain has {below}, so TLS clients refuse it; ask the CA for a chain that respects it (a leaf issued by an intermediate closer to the root)"
    )]
    PathLenExceeded { ca: CertRef, path_len: usize, below: usize },
    #[error(
        "{ca} carries name constraints that {constraint}, and the leaf names {name}: this CA may not issue for that name; get the certificate from a CA allowed to issue for {name}"
    )]
    NameConstraintViolation { ca: CertRef, name: String, constraint: String },
    #[error(
        "{cert} is signed with {algorithm}, which TLS clients no longer accept; have it reissued with SHA-256 or better (RSA PKCS#1/PSS or ECDSA P-256/P-384)"
    )]
    RefusedSignatureAlgorithm { cert: CertRef, algorithm: String },
    /// A refusal by path validation that no more precise variant describes; `reason` says
    /// what is wrong with `cert` and what to do.
    #[error("{cert}: {reason}")]
    ClientsRefuse { cert: CertRef, reason: String },
    /// What RFC 5280 path validation refused, as a client would, where wildcert's own checks
    /// had passed the chain: the clients' verdict wins. `detail` names the path validator's
    /// own error.
    #[error(
        "{finding} — TLS clients refuse this chain (RFC 5280 path validation: {detail}) although wildcert's own checks passed it; the clients' verdict wins"
    )]
    RefusedByClients { finding: Box<BundleError>, detail: String },
    #[error(
        "{root} is a self-signed root; clients already have their roots, so sending it only costs bytes — you may remove it ('wildcert verify --fix --out fixed.crt' drops it)"
    )]
    RootInBundle { root: CertRef },
    #[error(
        "{cert} is not used in the chain of the leaf {} (another site's certificate, an old one, or an alternative path); remove it ('wildcert verify --fix --out fixed.crt' drops it)",
        leaf.short()
    )]
    Unrelated { cert: CertRef, leaf: CertRef },
    #[error("{cert} is the same certificate as {}; remove the copy", first.short())]
    Duplicate { cert: CertRef, first: CertRef },

    // --- trust ---
    #[error(
        "the chain ends at {top}, issued by \"{issuer}\", which is neither in the bundle nor a trusted root{}; if an intermediate is missing, append it; if this is a private CA, pass its root certificate with --roots FILE",
        url.as_ref().map(|u| format!(" (its issuer can be downloaded from {u})")).unwrap_or_default()
    )]
    Untrusted { top: CertRef, issuer: String, url: Option<String> },
    #[error(
        "the chain ends at {root}, a self-signed root that is not among the trusted roots, so clients will reject it; use a certificate from a public CA, or for a private CA pass its root with --roots FILE"
    )]
    UntrustedRoot { root: CertRef },
    #[error(
        "{leaf} is self-signed{}: clients do not trust it; use a certificate from a public CA (or pass it with --roots FILE if your clients trust it explicitly)",
        if *checked { " and not among the trusted roots" } else { "" }
    )]
    SelfSigned { leaf: CertRef, checked: bool },

    // --- validity ---
    #[error("{cert} is not valid before {not_before}; check this machine's clock, or wait until then")]
    NotYetValid { cert: CertRef, not_before: String },
    #[error("{cert} expired on {not_after}; {}", renew_hint(*is_leaf))]
    Expired { cert: CertRef, not_after: String, is_leaf: bool },
    #[error("{cert} expires on {not_after} ({days} days left); {}", renew_hint(*is_leaf))]
    ExpiresSoon { cert: CertRef, not_after: String, days: i64, is_leaf: bool },
}

fn renew_hint(is_leaf: bool) -> &'static str {
    if is_leaf {
        "renew the certificate"
    } else {
        "download the current intermediate from your CA (or renew: a new leaf comes with the current one)"
    }
}

impl BundleError {
    /// A stable identifier for scripts (`verify --json`); never changes once released.
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::EmptyFile { .. } => "empty_file",
            BundleError::NoCertificate { .. } => "no_certificate",
            BundleError::NoKey { .. } => "no_key",
            BundleError::Unparsable { .. } => "unparsable",
            BundleError::DerEncoded { .. } => "der_encoded",
            BundleError::Pkcs12 { .. } => "pkcs12",
            BundleError::Pkcs7 { .. } => "pkcs7",
            BundleError::BadPem { .. } => "bad_pem",
            BundleError::BadCertificate { .. } => "bad_certificate",
            BundleError::EncryptedKey { .. } => "encrypted_key",
            BundleError::SeveralKeys { .. } => "several_keys",
            BundleError::BadKey { .. } => "bad_key",
            BundleError::CertificateAsKey { .. } => "certificate_as_key",
            BundleError::KeyInBundle { .. } => "key_in_bundle",
            BundleError::CertificateInKeyFile { .. } => "certificate_in_key_file",
            BundleError::UnexpectedBlock { .. } => "unexpected_block",
            BundleError::KeyMismatch { .. } => "key_mismatch",
            BundleError::NoLeaf { .. } => "no_leaf",
            BundleError::WeakKey { .. } => "weak_key",
            BundleError::UnsupportedKeyType { .. } => "unsupported_key_type",
            BundleError::LeafIsCa { .. } => "leaf_is_ca",
            BundleError::MissingServerAuth { .. } => "missing_server_auth",
            BundleError::NoSubjectAltName { .. } => "no_subject_alt_name",
            BundleError::NameNotCovered { .. } => "name_not_covered",
            BundleError::ChainOutOfOrder { .. } => "chain_out_of_order",
            BundleError::LeafNotFirst { .. } => "leaf_not_first",
            BundleError::MissingIntermediate { .. } => "missing_intermediate",
            BundleError::UnverifiableSignature { .. } => "unverifiable_signature",
            BundleError::IssuerNotCa { .. } => "issuer_not_ca",
            BundleError::IssuerNotCertSigner { .. } => "issuer_not_cert_signer",
            BundleError::IssuerWithoutServerAuth { .. } => "issuer_without_server_auth",
            BundleError::PathLenExceeded { .. } => "path_len_exceeded",
            BundleError::NameConstraintViolation { .. } => "name_constraint_violation",
            BundleError::RefusedSignatureAlgorithm { .. } => "refused_signature_algorithm",
            BundleError::ClientsRefuse { .. } => "clients_refuse",
            BundleError::RefusedByClients { finding, .. } => finding.code(),
            BundleError::RootInBundle { .. } => "root_in_bundle",
            BundleError::Unrelated { .. } => "unrelated",
            BundleError::Duplicate { .. } => "duplicate",
            BundleError::Untrusted { .. } => "untrusted",
            BundleError::UntrustedRoot { .. } => "untrusted_root",
            BundleError::SelfSigned { .. } => "self_signed",
            BundleError::NotYetValid { .. } => "not_yet_valid",
            BundleError::Expired { .. } => "expired",
            BundleError::ExpiresSoon { .. } => "expires_soon",
        }
    }

    /// The certificate the problem is about, when it is about one.
    pub fn certificate(&self) -> Option<&CertRef> {
        match self {
            BundleError::KeyMismatch { leaf, .. }
            | BundleError::LeafIsCa { leaf }
            | BundleError::MissingServerAuth { leaf, .. }
            | BundleError::NoSubjectAltName { leaf, .. }
            | BundleError::NameNotCovered { leaf, .. }
            | BundleError::SelfSigned { leaf, .. }
            | BundleError::LeafNotFirst { leaf, .. } => Some(leaf),
            BundleError::WeakKey { cert, .. }
            | BundleError::UnsupportedKeyType { cert, .. }
            | BundleError::ChainOutOfOrder { cert, .. }
            | BundleError::MissingIntermediate { cert, .. }
            | BundleError::UnverifiableSignature { cert, .. }
            | BundleError::IssuerNotCa { cert, .. }
            | BundleError::IssuerNotCertSigner { cert, .. }
            | BundleError::IssuerWithoutServerAuth { cert, .. }
            | BundleError::RefusedSignatureAlgorithm { cert, .. }
            | BundleError::ClientsRefuse { cert, .. }
            | BundleError::Unrelated { cert, .. }
            | BundleError::Duplicate { cert, .. }
            | BundleError::NotYetValid { cert, .. }
            | BundleError::Expired { cert, .. }
            | BundleError::ExpiresSoon { cert, .. } => Some(cert),
            BundleError::RootInBundle { root } | BundleError::UntrustedRoot { root } => Some(root),
            BundleError::Untrusted { top, .. } => Some(top),
            BundleError::PathLenExceeded { ca, .. } | BundleError::NameConstraintViolation { ca, .. } => {
                Some(ca)
            }
            BundleError::RefusedByClients { finding, .. } => finding.certificate(),
            _ => None,
        }
    }

    /// The input file the problem is about, when it is about one file.
    pub fn file(&self) -> Option<&str> {
        match self {
            BundleError::EmptyFile { file, .. }
            | BundleError::NoCertificate { file, .. }
            | BundleError::NoKey { file, .. }
            | BundleError::Unparsable { file, .. }
            | BundleError::DerEncoded { file, .. }
            | BundleError::Pkcs12 { file }
            | BundleError::Pkcs7 { file, .. }
            | BundleError::BadPem { file, .. }
            | BundleError::BadCertificate { file, .. }
            | BundleError::EncryptedKey { file, .. }
            | BundleError::SeveralKeys { file, .. }
            | BundleError::BadKey { file, .. }
            | BundleError::CertificateAsKey { file, .. }
            | BundleError::KeyInBundle { file, .. }
            | BundleError::CertificateInKeyFile { file, .. }
            | BundleError::UnexpectedBlock { file, .. }
            | BundleError::KeyMismatch { file, .. }
            | BundleError::ChainOutOfOrder { file, .. }
            | BundleError::LeafNotFirst { file, .. } => Some(file),
            BundleError::RefusedByClients { finding, .. } => finding.file(),
            other => other.certificate().map(|c| c.file.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(position: usize, subject: &str, serial: &str) -> CertRef {
        CertRef { file: "server.crt".into(), position, subject: subject.into(), serial: serial.into() }
    }

    #[test]
    fn certificate_reference_reads_like_an_operator_counts() {
        let c = cert(1, "C=US, O=Example, CN=*.gradient.example.com", "03a1b2c3d4e5f60718293a4b5c6d7e8f9001");
        assert_eq!(
            c.to_string(),
            "server.crt: certificate 1 (CN=*.gradient.example.com, serial 03a1b2c3d4e5…)"
        );
        assert_eq!(cert(2, "O=No Common Name", "0a").short(), "certificate 2 (O=No Common Name, serial 0a)");
    }

    #[test]
    fn file_names_in_commands_survive_the_shell() {
        assert_eq!(shell_word("certs/server.der"), "certs/server.der");
        assert_eq!(shell_word("my cert.der"), "'my cert.der'");
        assert_eq!(shell_word("it's.der"), r"'it'\''s.der'");
        let e = BundleError::Pkcs12 { file: "My Cert.pfx".into() };
        assert!(e.to_string().contains("openssl pkcs12 -in 'My Cert.pfx' -nokeys"));
    }

    #[test]
    fn out_of_order_message_names_both_certificates_and_the_fix() {
        let e = BundleError::ChainOutOfOrder {
            file: "server.crt".into(),
            cert: cert(1, "CN=R3", "0a"),
            next: cert(2, "CN=*.gradient.example.com", "0b"),
            order: "certificate 2, certificate 1".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("server.crt: certificate 1 (CN=R3, serial 0a) is not signed by certificate 2")
        );
        assert!(text.contains("--fix"));
        assert_eq!(e.code(), "chain_out_of_order");
        assert_eq!(e.certificate().unwrap().position, 1);
    }
}
