//! From input files to certificates and a key, explaining every file that is not what it
//! should be: binary instead of PEM, a container format, a damaged block, an encrypted key,
//! a key and a certificate swapped.

use x509_parser::prelude::*;

use super::der;
use super::error::{BundleError, shell_word};
use super::key::{self, KeyFormat, PrivateKey};
use super::pem::{self, Block};
use super::{Input, Problem, Severity};

/// A certificate block as found, before any judgement.
#[derive(Debug, Clone)]
pub(crate) struct RawCert {
    pub file: usize,
    /// 1-based among the certificate blocks of its file.
    pub position: usize,
    pub der: Vec<u8>,
}

/// A private key found inside a bundle file.
#[derive(Debug, Clone)]
pub(crate) struct StrayKey {
    pub file: usize,
    pub line: usize,
    pub public: Option<key::PublicKeyId>,
}

pub(crate) struct Bundles {
    pub certs: Vec<RawCert>,
    pub stray_keys: Vec<StrayKey>,
}

fn error(error: BundleError) -> Problem {
    Problem { severity: Severity::Error, error }
}

fn is_blank(bytes: &[u8]) -> bool {
    pem::text(bytes).trim().is_empty()
}

/// What kind of binary (DER) file this is, if it is one we recognise.
enum Binary {
    Certificate,
    Key,
    Pkcs7,
    Pkcs12,
}

fn sniff_binary(bytes: &[u8]) -> Option<Binary> {
    if bytes.first() != Some(&der::SEQUENCE) {
        return None;
    }
    if matches!(X509Certificate::from_der(bytes), Ok((rest, _)) if rest.iter().all(u8::is_ascii_whitespace)) {
        return Some(Binary::Certificate);
    }
    if key::sniff(bytes).is_some() {
        return Some(Binary::Key);
    }
    let (outer, _) = der::read(bytes)?;
    let items = der::children(outer.value)?;
    match items.as_slice() {
        // PFX ::= SEQUENCE { version 3, authSafe ContentInfo (data), macData OPTIONAL }
        [version, auth_safe, ..] if version.tag == der::INTEGER && version.value == [3] => {
            let content = der::children(auth_safe.value)?;
            (content.first()?.value == der::OID_PKCS7_DATA).then_some(Binary::Pkcs12)
        }
        // ContentInfo ::= SEQUENCE { contentType signedData, [0] content }
        [oid, ..] if oid.tag == der::OID && oid.value == der::OID_PKCS7_SIGNED_DATA => Some(Binary::Pkcs7),
        _ => None,
    }
}

/// What a non-PEM file holds, in words, for "no key found" style messages.
fn found_in(scan: &pem::Scan) -> String {
    if scan.blocks.is_empty() {
        return if scan.begins == 0 { " (the file holds no PEM block at all)".into() } else { String::new() };
    }
    let labels: Vec<String> = scan.blocks.iter().map(|b| format!("{} (line {})", b.label, b.line)).collect();
    format!(" (it holds: {})", labels.join(", "))
}

fn flaws(file: &str, scan: &pem::Scan) -> impl Iterator<Item = Problem> {
    let file = file.to_string();
    scan.flaws
        .clone()
        .into_iter()
        .map(move |f| error(BundleError::BadPem { file: file.clone(), line: f.line, detail: f.detail }))
}

fn is_certificate_label(label: &str) -> bool {
    matches!(label, "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE")
}

/// Reads the key file: exactly one unencrypted private key.
pub(crate) fn read_key(input: Input<'_>, problems: &mut Vec<Problem>) -> Option<PrivateKey> {
    let file = input.label;
    if is_blank(input.bytes) {
        problems.push(error(BundleError::EmptyFile { file: file.into(), expected: "the private key" }));
        return None;
    }
    let scan = pem::scan(input.bytes);
    if scan.begins == 0 {
        let e = match sniff_binary(input.bytes) {
            Some(Binary::Key) => BundleError::DerEncoded {
                file: file.into(),
                what: "private key",
                command: format!(
                    "openssl pkey -inform der -in {} -out {}",
                    shell_word(file),
                    shell_word(&format!("{file}.pem"))
                ),
            },
            Some(Binary::Pkcs12) => BundleError::Pkcs12 { file: file.into() },
            Some(Binary::Certificate) => BundleError::CertificateAsKey {
                file: file.into(),
                subject: subject_of(input.bytes).unwrap_or_default(),
            },
            _ => BundleError::NoKey { file: file.into(), found: found_in(&scan) },
        };
        problems.push(error(e));
        return None;
    }
    problems.extend(flaws(file, &scan));

    let mut keys: Vec<&Block> = Vec::new();
    let mut certs: Vec<&Block> = Vec::new();
    let mut encrypted = None;
    for block in &scan.blocks {
        match block.label.as_str() {
            "ENCRYPTED PRIVATE KEY" => {
                encrypted.get_or_insert(block);
                keys.push(block);
            }
            label if label.ends_with("PRIVATE KEY") => {
                if block.encrypted {
                    encrypted.get_or_insert(block);
                }
                keys.push(block);
            }
            label if is_certificate_label(label) => certs.push(block),
            _ => {}
        }
    }
    if keys.len() > 1 {
        problems.push(error(BundleError::SeveralKeys { file: file.into(), count: keys.len() }));
        return None;
    }
    if encrypted.is_some() {
        problems.push(error(BundleError::EncryptedKey {
            file: file.into(),
            command: format!(
                "openssl pkey -in {} -out {}",
                shell_word(file),
                shell_word(&format!("{file}.decrypted"))
            ),
        }));
        return None;
    }
    let Some(block) = keys.first() else {
        let e = match certs.first() {
            Some(cert) => BundleError::CertificateAsKey {
                file: file.into(),
                subject: subject_of(&cert.der).unwrap_or_default(),
            },
            None if scan.flaws.is_empty() => BundleError::NoKey { file: file.into(), found: found_in(&scan) },
            None => return None,
        };
        problems.push(error(e));
        return None;
    };
    if !certs.is_empty() {
        problems.push(Problem {
            severity: Severity::Info,
            error: BundleError::CertificateInKeyFile { file: file.into(), count: certs.len() },
        });
    }
    let Some(format) = KeyFormat::from_pem_label(&block.label) else {
        let detail = match block.label.as_str() {
            "OPENSSH PRIVATE KEY" => format!(
                "it is an OpenSSH key; web servers need PEM: `ssh-keygen -p -m PKCS8 -f {}` rewrites it in place",
                shell_word(file)
            ),
            other => format!("a {other} is not supported; use an EC P-256/P-384 or RSA 2048+ key"),
        };
        problems.push(error(BundleError::BadKey { file: file.into(), line: block.line, detail }));
        return None;
    };
    match key::decode(format, &block.der) {
        Ok(key) => Some(key),
        Err(detail) => {
            problems.push(error(BundleError::BadKey { file: file.into(), line: block.line, detail }));
            None
        }
    }
}

/// A subject for messages, from DER or PEM bytes of a certificate.
fn subject_of(bytes: &[u8]) -> Option<String> {
    X509Certificate::from_der(bytes).ok().map(|(_, c)| c.subject().to_string())
}

/// Advice for blocks that have no place in a bundle.
fn stray_block_hint(label: &str) -> &'static str {
    match label {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
            "a certificate request (CSR) is only needed to order the certificate; remove it"
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" => "a public key is already inside the certificate; remove it",
        "X509 CRL" => "revocation lists are not sent by servers; remove it",
        "DH PARAMETERS" | "EC PARAMETERS" => {
            "parameters belong in the server's own configuration; remove them"
        }
        _ => "remove it",
    }
}

/// Reads every bundle file; certificates keep their file and position.
pub(crate) fn read_bundles(bundles: &[Input<'_>], problems: &mut Vec<Problem>) -> Bundles {
    let mut out = Bundles { certs: Vec::new(), stray_keys: Vec::new() };
    for (index, input) in bundles.iter().enumerate() {
        let file = input.label;
        if is_blank(input.bytes) {
            problems.push(error(BundleError::EmptyFile {
                file: file.into(),
                expected: "the certificate and its intermediates",
            }));
            continue;
        }
        let scan = pem::scan(input.bytes);
        if scan.begins == 0 {
            let e = match sniff_binary(input.bytes) {
                Some(Binary::Certificate) => BundleError::DerEncoded {
                    file: file.into(),
                    what: "certificate",
                    command: format!("openssl x509 -inform der -in {} -out {}", shell_word(file), shell_word(&format!("{file}.pem"))),
                },
                Some(Binary::Pkcs7) => BundleError::Pkcs7 {
                    file: file.into(),
                    command: format!("openssl pkcs7 -inform der -print_certs -in {} -out {}", shell_word(file), shell_word(&format!("{file}.pem"))),
                },
                Some(Binary::Pkcs12) => BundleError::Pkcs12 { file: file.into() },
                Some(Binary::Key) => BundleError::NoCertificate {
                    file: file.into(),
                    found: " (it is a binary private key: give the key with --key, the certificates with --bundle)"
                        .into(),
                },
                None => BundleError::NoCertificate { file: file.into(), found: found_in(&scan) },
            };
            problems.push(error(e));
            continue;
        }
        problems.extend(flaws(file, &scan));
        let mut position = 0;
        let mut certs_here = 0;
        for block in &scan.blocks {
            let label = block.label.as_str();
            if is_certificate_label(label) {
                position += 1;
                match X509Certificate::from_der(&block.der) {
                    Ok(_) => {
                        certs_here += 1;
                        out.certs.push(RawCert { file: index, position, der: block.der.clone() })
                    }
                    Err(e) => problems.push(error(BundleError::BadCertificate {
                        file: file.into(),
                        position,
                        line: block.line,
                        detail: e.to_string(),
                    })),
                }
            } else if label == "PKCS7" || label == "CMS" {
                problems.push(error(BundleError::Pkcs7 {
                    file: file.into(),
                    command: format!(
                        "openssl pkcs7 -print_certs -in {} -out {}",
                        shell_word(file),
                        shell_word(&format!("{file}.pem"))
                    ),
                }));
            } else if label.ends_with("PRIVATE KEY") {
                let public = KeyFormat::from_pem_label(label)
                    .filter(|_| !block.encrypted)
                    .and_then(|f| key::decode(f, &block.der).ok())
                    .map(|k| k.public);
                out.stray_keys.push(StrayKey { file: index, line: block.line, public });
            } else {
                problems.push(Problem {
                    severity: Severity::Warning,
                    error: BundleError::UnexpectedBlock {
                        file: file.into(),
                        line: block.line,
                        label: label.into(),
                        hint: stray_block_hint(label),
                    },
                });
            }
        }
        let pkcs7 = scan.blocks.iter().any(|b| b.label == "PKCS7" || b.label == "CMS");
        if certs_here == 0 && position == 0 && !pkcs7 && scan.flaws.is_empty() {
            let e = if out.stray_keys.iter().any(|k| k.file == index) {
                BundleError::NoCertificate {
                    file: file.into(),
                    found: " (it holds a private key: did you swap --key and --bundle?)".into(),
                }
            } else {
                BundleError::NoCertificate { file: file.into(), found: found_in(&scan) }
            };
            problems.push(error(e));
        }
    }
    out
}
