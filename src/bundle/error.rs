//! What can be wrong with a key and bundle, each with where it is and what to do about it.

use std::fmt;

/// Which certificate a problem is about: the file it came from, its position among the
/// certificates of that file (1-based, as an operator counts them), its subject and serial.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertRef {
    /// The file the certificate was read from, as the operator named it.
    pub file: String,
    /// Its place among that file's certificates, counted from 1.
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
    /// A key or bundle file with nothing in it (often a failed copy or a wrong path).
    #[error("{file}: the file is empty; it should hold {expected} in PEM form")]
    EmptyFile {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// What the file should hold, e.g. "the private key".
        expected: &'static str,
    },
    /// A bundle file without any certificate block.
    #[error(
        "{file}: no PEM certificate found{found}; expected blocks starting with -----BEGIN CERTIFICATE-----"
    )]
    NoCertificate {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// What the file holds instead (PEM labels and lines), empty when nothing was recognised.
        found: String,
    },
    /// A key file without any private-key block.
    #[error("{file}: no private key found{found}; expected a block such as -----BEGIN PRIVATE KEY-----")]
    NoKey {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// What the file holds instead (PEM labels and lines), empty when nothing was recognised.
        found: String,
    },
    /// Input that fits no more precise variant (kept for callers outside this module).
    #[error("{file}: cannot parse: {detail}")]
    Unparsable {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// What could not be parsed.
        detail: String,
    },
    /// Binary DER where PEM text is needed; the message carries the conversion command.
    #[error(
        "{file}: this is a binary (DER) {what}, but web servers and wildcert expect PEM text; convert it with: {command}"
    )]
    DerEncoded {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// "certificate" or "private key": what the DER encodes.
        what: &'static str,
        /// The `openssl` command that fixes it, file names quoted for the shell.
        command: String,
    },
    /// A `.pfx`/`.p12` archive where PEM files are needed; the message says how to extract both
    /// parts.
    #[error(
        "{file}: this is a PKCS#12 archive (.pfx/.p12), not PEM; extract the certificates with `openssl pkcs12 -in {0} -nokeys -out bundle.crt` and the key with `openssl pkcs12 -in {0} -nocerts -nodes -out key.pem` (then chmod 600 key.pem)",
        shell_word(file)
    )]
    Pkcs12 {
        /// The input file as the operator named it, so the message points at it.
        file: String,
    },
    /// A `.p7b` container, which web servers cannot read; the message carries the conversion
    /// command.
    #[error(
        "{file}: this is a PKCS#7 container (.p7b), which web servers cannot read; convert it with: {command}"
    )]
    Pkcs7 {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// The `openssl pkcs7` command that writes the certificates as PEM.
        command: String,
    },
    /// A PEM block that is cut off or damaged (bad base64, missing END line).
    #[error("{file} line {line}: {detail}; the PEM block is damaged — copy the file again from its source")]
    BadPem {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// The line of the damage (1-based), for an editor.
        line: usize,
        /// What the parser found wrong.
        detail: String,
    },
    /// A certificate block whose content is not valid X.509.
    #[error(
        "{file}: certificate {position} (line {line}) is not a valid X.509 certificate ({detail}); copy it again from your CA"
    )]
    BadCertificate {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// Position of the certificate in the file (1-based, as an operator counts).
        position: usize,
        /// The line where the certificate's PEM block begins.
        line: usize,
        /// What the X.509 parser refused.
        detail: String,
    },
    /// A passphrase-protected key, which an unattended restart cannot unlock.
    #[error(
        "{file}: the private key is encrypted with a passphrase, and a server that restarts unattended cannot type it; write a decrypted copy with `{command}` (it asks for the passphrase), then chmod 600 it"
    )]
    EncryptedKey {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// The `openssl pkey` command that writes a decrypted copy (it asks for the passphrase).
        command: String,
    },
    /// A key file with more than one private key: which one belongs to the leaf is ambiguous.
    #[error(
        "{file}: holds {count} private keys; keep exactly one, the one made together with this certificate's CSR"
    )]
    SeveralKeys {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// How many keys the file holds.
        count: usize,
    },
    /// A private-key block that cannot be decoded.
    #[error(
        "{file} line {line}: the private key cannot be read ({detail}); export it again from where it was made"
    )]
    BadKey {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// The line where the PEM block begins (1-based), for an editor.
        line: usize,
        /// What the key decoder refused (never key material).
        detail: String,
    },
    /// A certificate given where the key was expected (key and bundle swapped).
    #[error(
        "{file}: holds a certificate ({subject}), not a private key; did you swap --key and --bundle? The key file starts with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)"
    )]
    CertificateAsKey {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// The subject of the certificate found, to recognise the file.
        subject: String,
    },
    #[error("{file} line {line}: {}", match same_as_key {
        Some(true) => "the bundle also holds the private key (a combined file); do not publish this file, and give web servers a bundle without it — 'wildcert verify --fix --out fixed.crt' writes one",
        Some(false) => "a private key is pasted into the bundle, and it is not the key given with --key; remove it from the bundle (certificate files are often readable by everyone) — 'wildcert verify --fix --out fixed.crt' writes the bundle without it",
        None => "a private key is pasted into the bundle; keep it only in the key file (certificate files are often readable by everyone)",
    })]
    /// A private key inside the bundle, a file usually readable by everyone.
    KeyInBundle {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// The line where the PEM block begins (1-based), for an editor.
        line: usize,
        /// Whether it is the key given as the key file (`None`: that one is unreadable); decides
        /// the advice.
        same_as_key: Option<bool>,
    },
    /// Certificates in the key file, which are not read from there.
    #[error(
        "{file}: also holds {count} certificate(s), which are not read from the key file; give them with --bundle if they belong to the chain"
    )]
    CertificateInKeyFile {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// How many certificates the key file holds.
        count: usize,
    },
    /// A PEM block that belongs in no certificate bundle (a CSR, parameters); ignored.
    #[error(
        "{file} line {line}: a {label} block is not part of a certificate bundle and was ignored; {hint}"
    )]
    UnexpectedBlock {
        /// The input file as the operator named it, so the message points at it.
        file: String,
        /// The line where the PEM block begins (1-based), for an editor.
        line: usize,
        /// The PEM label of the block, e.g. `CERTIFICATE REQUEST`.
        label: String,
        /// What such a block is for and where it belongs.
        hint: &'static str,
    },

    // --- the key and the leaf ---
    /// The private key is not the one of the leaf certificate.
    #[error(
        "{file}: this private key ({key}) does not match the leaf {leaf}, which carries a different {cert_key} public key{}; find the key that was made together with this certificate's CSR — `openssl pkey -in {} -pubout | openssl sha256` must print the same as `openssl x509 -in {} -noout -pubkey | openssl sha256`",
        matches.as_ref().map(|m| format!(": it is the key of {m}")).unwrap_or_else(|| ": it is the key of another certificate (an older one, or another CSR)".into()),
        shell_word(file),
        shell_word(&leaf.file)
    )]
    KeyMismatch {
        /// The key file.
        file: String,
        /// The leaf (the server certificate).
        leaf: CertRef,
        /// The private key's algorithm and size.
        key: String,
        /// The algorithm and size of the key the leaf carries.
        cert_key: String,
        /// The certificate in the bundle this key does belong to, if any (often an older leaf).
        matches: Option<CertRef>,
    },
    /// Only CA certificates were given: the server certificate itself is missing.
    #[error(
        "no server certificate found: {files} only hold CA certificates (intermediates or roots); put your own certificate (the one issued for your names) first"
    )]
    NoLeaf {
        /// The bundle files given, comma-separated.
        files: String,
    },
    /// A key too small for browsers (RSA under 2048 bits).
    #[error(
        "{cert} has a {key} key, which is too weak; browsers need RSA of at least 2048 bits — get a new certificate with a new key (RSA 2048+ or EC P-256)"
    )]
    WeakKey {
        /// The certificate at fault.
        cert: CertRef,
        /// The key's algorithm and size, e.g. `RSA 1024-bit`.
        key: String,
    },
    /// A key type not every TLS client accepts (e.g. Ed25519, P-521).
    #[error(
        "{cert} has a {key} key, which not every client accepts; use an EC P-256 or P-384 key, or RSA 2048+, for a new certificate"
    )]
    UnsupportedKeyType {
        /// The certificate at fault.
        cert: CertRef,
        /// The key's algorithm and size, e.g. `RSA 1024-bit`.
        key: String,
    },
    /// The first certificate is a CA, not a server certificate.
    #[error(
        "{leaf} is a CA certificate (basicConstraints cA=true), not a server certificate; browsers refuse it as a server's own — put the certificate issued for your names first"
    )]
    LeafIsCa {
        /// The leaf (the server certificate).
        leaf: CertRef,
    },
    /// The leaf's extended key usage does not allow TLS servers.
    #[error(
        "{leaf} may not be used for TLS servers: its extended key usage lists {have} but not serverAuth; ask the CA for a TLS server certificate"
    )]
    MissingServerAuth {
        /// The leaf (the server certificate).
        leaf: CertRef,
        /// What the certificate does list, to compare with what is needed.
        have: String,
    },

    // --- names ---
    /// The leaf names its host only in the common name, which browsers ignore.
    #[error(
        "{leaf} has no subjectAltName, only the subject common name \"{cn}\"; browsers ignore the CN since 2017 and will reject it — have it reissued with the names as subjectAltNames (every CA does this when asked)"
    )]
    NoSubjectAltName {
        /// The leaf (the server certificate).
        leaf: CertRef,
        /// The subject common name, the only name the leaf carries.
        cn: String,
    },
    /// A configured name is not among the names the leaf covers.
    #[error("{leaf} does not cover {name}; its names are: {have}{hint}")]
    NameNotCovered {
        /// The leaf (the server certificate).
        leaf: CertRef,
        /// The configured name the leaf does not cover.
        name: String,
        /// The leaf's DNS names, comma-separated.
        have: String,
        /// Why not, when a wildcard almost matches (a wildcard covers one label); may be empty.
        hint: String,
    },

    // --- order and completeness ---
    /// A certificate in the bundle is not followed by the one that signed it.
    #[error(
        "{file}: {} is not signed by {}: the bundle is out of order — put the leaf first, then the certificate that signed it, and so on (here: {order}); 'wildcert verify --fix --out fixed.crt' writes it in order",
        cert.short(), next.short()
    )]
    ChainOutOfOrder {
        /// The bundle file.
        file: String,
        /// The certificate at fault.
        cert: CertRef,
        /// The certificate that follows it, which did not sign it.
        next: CertRef,
        /// The order that would be right, as certificate positions.
        order: String,
    },
    /// The leaf is in the bundle but not first, and servers send the first as their own.
    #[error(
        "{file}: {} comes before the leaf {}; web servers send the first certificate of the file as their own — put the leaf first ('wildcert verify --fix --out fixed.crt' writes it in order)",
        first.short(), leaf.short()
    )]
    LeafNotFirst {
        /// The bundle file.
        file: String,
        /// The leaf (the server certificate).
        leaf: CertRef,
        /// The certificate that comes first instead.
        first: CertRef,
    },
    /// The issuer of a certificate is not in the bundle: an intermediate is missing.
    #[error(
        "{cert} was issued by \"{issuer}\", which is not in the bundle: the intermediate certificate is missing{} — {}append it after {}{}",
        near_miss.as_ref().map(|m| format!(" ({m} has that name but did not sign it: a different key, e.g. an older or cross-signed version)")).unwrap_or_default(),
        url.as_ref().map(|u| format!("download it from {u} (convert it with `openssl x509 -inform der -in FILE -out FILE.pem` if it is binary) and ")).unwrap_or_else(|| "get it from your CA (\"intermediate\" or \"CA bundle\") and ".into()),
        if *is_leaf { "the leaf" } else { "this certificate" },
        if *is_leaf { "; if a private CA issued the leaf directly from its root, pass that root with --roots" } else { "" }
    )]
    MissingIntermediate {
        /// The certificate whose issuer is missing.
        cert: CertRef,
        /// The issuer DN it names.
        issuer: String,
        /// The issuer's download address from the Authority Information Access extension, if any.
        url: Option<String>,
        /// A certificate in the bundle with that name but another key (an older or cross-signed
        /// version).
        near_miss: Option<CertRef>,
        /// Whether `cert` is the leaf: then a private root that issued it directly may be what
        /// is missing, and the message says so.
        is_leaf: bool,
    },
    /// A signature algorithm wildcert cannot check, so the chain cannot be verified.
    #[error(
        "{cert} is signed with {algorithm}, which wildcert cannot verify; clients support RSA (PKCS#1/PSS, SHA-256/384/512) and ECDSA P-256/P-384 — ask the CA for a chain with a common algorithm"
    )]
    UnverifiableSignature {
        /// The certificate at fault.
        cert: CertRef,
        /// The signature algorithm (name or OID).
        algorithm: String,
    },
    /// A certificate signed another but is not a CA, so clients reject the chain.
    #[error(
        "{cert} signed {}, but it is not a CA certificate (no basicConstraints cA=true), so clients reject the chain; use the real intermediate from your CA",
        signed.short()
    )]
    IssuerNotCa {
        /// The issuer without the CA flag.
        cert: CertRef,
        /// The certificate it signed.
        signed: CertRef,
    },
    /// An issuer whose key usage does not allow signing certificates.
    #[error(
        "{cert} signed {}, but its key usage lacks keyCertSign, so it may not sign certificates and TLS clients (browsers, OpenSSL, Go) reject the chain; use the real intermediate from your CA",
        signed.short()
    )]
    IssuerNotCertSigner {
        /// The issuer whose key usage lacks keyCertSign.
        cert: CertRef,
        /// The certificate it signed.
        signed: CertRef,
    },
    /// An issuer whose extended key usage excludes TLS servers, which binds the leaf.
    #[error(
        "{cert} limits its extended key usage to {have}, without serverAuth, and that limit binds every certificate below it: TLS clients refuse the leaf as a server certificate; ask the CA for the intermediate that issues TLS server certificates"
    )]
    IssuerWithoutServerAuth {
        /// The issuer whose extended key usage binds the leaf.
        cert: CertRef,
        /// The extended key usages it does list.
        have: String,
    },
    /// More intermediates below a CA than its path length constraint allows.
    #[error(
        "{ca} allows at most {path_len} intermediate(s) below it (basicConstraints pathLenConstraint), but the chain has {below}, so TLS clients refuse it; ask the CA for a chain that respects it (a leaf issued by an intermediate closer to the root)"
    )]
    PathLenExceeded {
        /// The CA certificate whose constraint is broken.
        ca: CertRef,
        /// The CA's pathLenConstraint.
        path_len: usize,
        /// How many intermediates the chain has below it.
        below: usize,
    },
    /// A CA's name constraints exclude a name of the leaf.
    #[error(
        "{ca} carries name constraints that {constraint}, and the leaf names {name}: this CA may not issue for that name; get the certificate from a CA allowed to issue for {name}"
    )]
    NameConstraintViolation {
        /// The CA certificate whose constraint is broken.
        ca: CertRef,
        /// The leaf name the constraint excludes.
        name: String,
        /// What the constraint says, e.g. "permit only example.org".
        constraint: String,
    },
    /// A signature algorithm clients no longer accept (SHA-1, MD5).
    #[error(
        "{cert} is signed with {algorithm}, which TLS clients no longer accept; have it reissued with SHA-256 or better (RSA PKCS#1/PSS or ECDSA P-256/P-384)"
    )]
    RefusedSignatureAlgorithm {
        /// The certificate at fault.
        cert: CertRef,
        /// The signature algorithm (name or OID).
        algorithm: String,
    },
    /// A refusal by path validation that no more precise variant describes; `reason` says
    /// what is wrong with `cert` and what to do.
    #[error("{cert}: {reason}")]
    ClientsRefuse {
        /// The certificate path validation refused.
        cert: CertRef,
        /// What is wrong with it and what to do.
        reason: String,
    },
    /// What RFC 5280 path validation refused, as a client would, where wildcert's own checks
    /// had passed the chain: the clients' verdict wins. `detail` names the path validator's
    /// own error.
    #[error(
        "{finding} — TLS clients refuse this chain (RFC 5280 path validation: {detail}) although wildcert's own checks passed it; the clients' verdict wins"
    )]
    RefusedByClients {
        /// The refusal as wildcert's own words for it.
        finding: Box<BundleError>,
        /// The path validator's own error.
        detail: String,
    },
    /// A self-signed root in the bundle: harmless, it only costs bytes (an info).
    #[error(
        "{root} is a self-signed root; clients already have their roots, so sending it only costs bytes — you may remove it ('wildcert verify --fix --out fixed.crt' drops it)"
    )]
    RootInBundle {
        /// The self-signed root.
        root: CertRef,
    },
    /// A certificate that is not on the leaf's chain (another site's, an old one).
    #[error(
        "{cert} is not used in the chain of the leaf {} (another site's certificate, an old one, or an alternative path); remove it ('wildcert verify --fix --out fixed.crt' drops it)",
        leaf.short()
    )]
    Unrelated {
        /// The certificate at fault.
        cert: CertRef,
        /// The leaf whose chain it is not on.
        leaf: CertRef,
    },
    /// The same certificate twice in the bundle.
    #[error("{cert} is the same certificate as {}; remove the copy", first.short())]
    Duplicate {
        /// The second copy.
        cert: CertRef,
        /// The first copy of it.
        first: CertRef,
    },

    // --- trust ---
    /// The chain ends at a certificate whose issuer is neither in the bundle nor a trusted root.
    #[error(
        "the chain ends at {top}, issued by \"{issuer}\", which is neither in the bundle nor a trusted root{}; if an intermediate is missing, append it; if this is a private CA, pass its root certificate with --roots FILE",
        url.as_ref().map(|u| format!(" (its issuer can be downloaded from {u})")).unwrap_or_default()
    )]
    Untrusted {
        /// The last certificate of the chain that could be built.
        top: CertRef,
        /// The issuer DN it names.
        issuer: String,
        /// The issuer's download address from the Authority Information Access extension, if any.
        url: Option<String>,
    },
    /// The chain ends at a self-signed root that is not trusted.
    #[error(
        "the chain ends at {root}, a self-signed root that is not among the trusted roots, so clients will reject it; use a certificate from a public CA, or for a private CA pass its root with --roots FILE"
    )]
    UntrustedRoot {
        /// The self-signed root.
        root: CertRef,
    },
    /// The leaf signed itself: clients do not trust it.
    #[error(
        "{leaf} is self-signed{}: clients do not trust it; use a certificate from a public CA (or pass it with --roots FILE if your clients trust it explicitly)",
        if *checked { " and not among the trusted roots" } else { "" }
    )]
    SelfSigned {
        /// The leaf (the server certificate).
        leaf: CertRef,
        /// Whether a trust store was consulted (it was not among the roots).
        checked: bool,
    },

    // --- validity ---
    /// A certificate not valid yet (a wrong clock here, or a freshly issued one).
    #[error("{cert} is not valid before {not_before}; check this machine's clock, or wait until then")]
    NotYetValid {
        /// The certificate at fault.
        cert: CertRef,
        /// Start of its validity, as printed to the operator.
        not_before: String,
    },
    /// A certificate past its expiry.
    #[error("{cert} expired on {not_after}; {}", renew_hint(*is_leaf))]
    Expired {
        /// The certificate at fault.
        cert: CertRef,
        /// The certificate's expiry, as printed to the operator.
        not_after: String,
        /// Whether the certificate is the leaf: the fix is a renewal, not a new intermediate.
        is_leaf: bool,
    },
    /// A certificate close to expiry: fewer days left than `expiry_warning_days`, or than a third
    /// of its lifetime if that is less (a warning).
    #[error("{cert} expires on {not_after} ({days} days left); {}", renew_hint(*is_leaf))]
    ExpiresSoon {
        /// The certificate at fault.
        cert: CertRef,
        /// The certificate's expiry, as printed to the operator.
        not_after: String,
        /// Whole days left.
        days: i64,
        /// Whether the certificate is the leaf: the fix is a renewal, not a new intermediate.
        is_leaf: bool,
    },
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
