//! What is read from the bucket is untrusted: anyone who can write the bucket (a leaked key,
//! a too-wide IAM policy, the console's CORS rule) could have written it. Before a version
//! name becomes part of an object key, and before a stored pair is installed, planned on or
//! handed to a deploy hook, it is checked here.
//!
//! A stored pair passes exactly the bundle checks an imported one does, against the names
//! and key type this host's configuration asks for (not against what `meta.json` claims),
//! and the files that are installed are the ones the checks produced, so a `cert.pem` or
//! `chain.pem` that does not match `fullchain.pem` is never served.

use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
};

use super::layout::CertFiles;
use crate::bundle::{self, CheckOptions, CheckedPair, Input};

/// Why something read from the bucket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A version name that is not of the form this program writes.
    #[error(
        "version name {name:?} is not one wildcert writes ({reason}); expected SEQUENCE-YYYYMMDDTHHMMSSZ-SERIAL-XXXX"
    )]
    BadVersionName {
        /// The version name as read (untrusted; printed with `{:?}` to escape it).
        name: String,
        /// Which part of the form it breaks.
        reason: &'static str,
    },
    /// The stored key and chain failed the bundle checks.
    #[error("the pair stored in {what} failed the bundle checks: {detail}")]
    PairRejected {
        /// `<name>/<version>`: which stored pair.
        what: String,
        /// The bundle checks' findings.
        detail: String,
    },
    /// The stored certificate's key is not of the configured type.
    #[error("the pair stored in {what} has a {found} key; the configuration asks for {expected}")]
    WrongKeyType {
        /// `<name>/<version>`: which stored pair.
        what: String,
        /// The key type the stored pair carries.
        found: String,
        /// The type `key_type` asks for.
        expected: KeyKind,
    },
}

/// The kind of key a certificate carries, as far as `key_type` distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on P-256 (`key_type = "ec256"`).
    P256,
    /// ECDSA on P-384 (`key_type = "ec384"`).
    P384,
    /// RSA (`key_type = "rsa2048"` etc.).
    Rsa {
        /// The modulus size in bits.
        bits: usize,
    },
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyKind::P256 => f.write_str("ec256"),
            KeyKind::P384 => f.write_str("ec384"),
            KeyKind::Rsa { bits } => write!(f, "rsa{bits}"),
        }
    }
}

impl From<crate::config::KeyType> for KeyKind {
    fn from(k: crate::config::KeyType) -> KeyKind {
        use crate::config::KeyType;
        match k {
            KeyType::Ec256 => KeyKind::P256,
            KeyType::Ec384 => KeyKind::P384,
            KeyType::Rsa2048 => KeyKind::Rsa { bits: 2048 },
            KeyType::Rsa3072 => KeyKind::Rsa { bits: 3072 },
            KeyType::Rsa4096 => KeyKind::Rsa { bits: 4096 },
        }
    }
}

impl KeyKind {
    /// The key kind of the first certificate in `pem` (the leaf), `None` for any other
    /// algorithm or unreadable input.
    pub fn of_leaf(pem: &[u8]) -> Option<KeyKind> {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
        let cert = block.parse_x509().ok()?;
        let spki = cert.public_key();
        let alg = &spki.algorithm.algorithm;
        if *alg == OID_PKCS1_RSAENCRYPTION {
            return match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                    Some(KeyKind::Rsa { bits: rsa.key_size() })
                }
                _ => None,
            };
        }
        if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok())?;
            if curve == OID_EC_P256 {
                return Some(KeyKind::P256);
            }
            if curve == OID_NIST_EC_P384 {
                return Some(KeyKind::P384);
            }
        }
        None
    }
}

/// What a pair read from the bucket must be, from this host's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Names the leaf must cover (the configured `domains`; empty: the leaf's own).
    pub names: Vec<String>,
    /// The configured key type; `None` accepts any (a certificate this host does not manage).
    pub key: Option<KeyKind>,
}

impl Expected {
    /// What a certificate like `pair` must be to stand in for it: the same names, the same
    /// kind of key.
    pub fn like(pair: &CheckedPair) -> Expected {
        Expected { names: pair.info.names.clone(), key: KeyKind::of_leaf(pair.cert_pem.as_bytes()) }
    }

    /// What a configured certificate must be: its `domains`, and for ACME certificates its
    /// `key_type` (a supplied pair's key is whatever the operator's files hold).
    pub fn for_certificate(cert: &crate::config::CertificateConfig) -> Expected {
        Expected {
            names: cert.domains.clone(),
            key: (cert.source == crate::config::Source::Acme).then(|| cert.key_type.into()),
        }
    }
}

/// Runs the bundle checks on a stored version's key and full chain. `what` names the version
/// in messages. On success the returned pair's files (`CertFiles::from_pair`) are what may be
/// installed.
pub fn check_pair(files: &CertFiles, expected: &Expected, what: &str) -> Result<CheckedPair, TrustError> {
    let report = bundle::check(
        Input { label: "privkey.pem from the bucket", bytes: &files.privkey },
        &[Input { label: "fullchain.pem from the bucket", bytes: &files.fullchain }],
        &CheckOptions::new(expected.names.clone()),
    );
    let pair = report
        .into_result()
        .map_err(|e| TrustError::PairRejected { what: what.to_string(), detail: e.to_string() })?;
    if let Some(want) = expected.key {
        let found = KeyKind::of_leaf(pair.cert_pem.as_bytes());
        if found != Some(want) {
            return Err(TrustError::WrongKeyType {
                what: what.to_string(),
                found: found.map_or_else(|| "different".to_string(), |k| k.to_string()),
                expected: want,
            });
        }
    }
    Ok(pair)
}

/// The longest serial part of a version name (the first 12 hex digits of the serial).
const SERIAL_CHARS: usize = 12;

/// Checks a version name read from the bucket (`current.json`, a listing) before it becomes
/// part of an object key: exactly `SEQUENCE-YYYYMMDDTHHMMSSZ-SERIAL-XXXX` as `version_name`
/// writes it, so no `/`, `..`, control character or other surprise can reach a key or a
/// path of the directory backend. Returns the sequence number.
pub fn check_version_name(name: &str) -> Result<u64, TrustError> {
    let bad = |reason| TrustError::BadVersionName { name: name.to_string(), reason };
    if name.len() > 10 + 1 + 16 + 1 + SERIAL_CHARS + 1 + 4 {
        return Err(bad("too long"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(bad("contains a control character"));
    }
    if name.contains('/') || name.contains("..") {
        return Err(bad("contains '/' or '..'"));
    }
    let parts: Vec<&str> = name.split('-').collect();
    let [sequence, stamp, serial, suffix] = parts[..] else {
        return Err(bad("not four parts separated by '-'"));
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if sequence.len() != 10 || !digits(sequence) {
        return Err(bad("the sequence is not 10 digits"));
    }
    let stamp_ok = stamp.len() == 16
        && digits(&stamp[..8])
        && &stamp[8..9] == "T"
        && digits(&stamp[9..15])
        && &stamp[15..] == "Z";
    if !stamp_ok {
        return Err(bad("the time stamp is not YYYYMMDDTHHMMSSZ"));
    }
    if serial.is_empty() || serial.len() > SERIAL_CHARS || !hex(serial) {
        return Err(bad("the serial part is not 1-12 lower-case hex digits"));
    }
    if suffix.len() != 4 || !hex(suffix) {
        return Err(bad("the suffix is not 4 lower-case hex digits"));
    }
    sequence.parse().map_err(|_| bad("the sequence is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::pair_expiring_in;

    #[test]
    fn version_names_we_write_pass() {
        assert_eq!(check_version_name("0000000001-20261202T221500Z-0a1b2c3d4e5f-09af"), Ok(1));
        assert_eq!(check_version_name("0000000042-20261202T221500Z-7-0000"), Ok(42));
    }

    #[test]
    fn hostile_version_names_are_refused() {
        for name in [
            "../../locks/gradient.json",
            "0000000001-20261202T221500Z-0a1b-09af/../x",
            "0000000001-20261202T221500Z-..-09af",
            "0000000001-20261202T221500Z-0a1b-09a\n",
            "0000000001-20261202T221500Z-0a1b-09a\u{7f}",
            "",
            "1-20261202T221500Z-0a1b-09af",
            "0000000001-2026120xT221500Z-0a1b-09af",
            "0000000001-20261202T221500Z-0A1B-09af",
            "0000000001-20261202T221500Z--09af",
            "0000000001-20261202T221500Z-0a1b2c3d4e5f6-09af",
            "0000000001-20261202T221500Z-0a1b-09af-extra",
            "99999999999999999999-20261202T221500Z-0a1b-09af",
        ] {
            assert!(check_version_name(name).is_err(), "{name:?} accepted");
        }
        let msg = check_version_name("../x").unwrap_err().to_string();
        assert!(msg.contains("\"../x\"") && msg.contains("'..'"), "{msg}");
    }

    #[test]
    fn a_stored_pair_must_cover_the_configured_names_and_key_type() {
        let pair = pair_expiring_in(60);
        let files = CertFiles::from_pair(&pair);
        let ok = Expected {
            names: vec!["*.gradient.example.com".into(), "gradient.example.com".into()],
            key: Some(KeyKind::P256),
        };
        let checked = check_pair(&files, &ok, "v1").unwrap();
        assert_eq!(CertFiles::from_pair(&checked), files, "a pair we stored checks back to the same files");

        let other_names = Expected { names: vec!["www.example.org".into()], ..ok.clone() };
        let err = check_pair(&files, &other_names, "v1").unwrap_err();
        assert!(matches!(err, TrustError::PairRejected { .. }), "{err}");
        assert!(err.to_string().contains("www.example.org"), "{err}");

        let rsa = Expected { key: Some(KeyKind::Rsa { bits: 2048 }), ..ok.clone() };
        let err = check_pair(&files, &rsa, "v1").unwrap_err();
        assert_eq!(
            err,
            TrustError::WrongKeyType {
                what: "v1".into(),
                found: "ec256".into(),
                expected: KeyKind::Rsa { bits: 2048 }
            }
        );

        // The key of one pair with the chain of another.
        let stranger = pair_expiring_in(60);
        let mixed = CertFiles { privkey: CertFiles::from_pair(&stranger).privkey, ..files.clone() };
        assert!(matches!(check_pair(&mixed, &ok, "v1"), Err(TrustError::PairRejected { .. })));
    }

    #[test]
    fn key_kinds_follow_the_configuration_names() {
        use crate::config::KeyType;
        assert_eq!(KeyKind::from(KeyType::Ec256).to_string(), "ec256");
        assert_eq!(KeyKind::from(KeyType::Rsa3072).to_string(), "rsa3072");
        let pair = pair_expiring_in(60);
        assert_eq!(KeyKind::of_leaf(pair.cert_pem.as_bytes()), Some(KeyKind::P256));
        assert_eq!(KeyKind::of_leaf(b"junk"), None);
    }
}
