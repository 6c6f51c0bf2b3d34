//! Private keys (PKCS#8, PKCS#1 RSA, SEC1 EC) and the public key they stand for, compared
//! with a certificate's SubjectPublicKeyInfo component by component.
//!
//! The structure is read here (so even a weak RSA key that aws-lc refuses to load can be
//! matched and named); aws-lc then loads every key it supports, which checks that the
//! private and public halves belong together.

use aws_lc_rs::signature::{self, KeyPair as _};
use x509_parser::prelude::*;

use super::der::{self, Tlv};

/// How the key is written, which decides the PEM label it is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFormat {
    Pkcs8,
    Pkcs1,
    Sec1,
}

impl KeyFormat {
    pub(crate) fn pem_label(self) -> &'static str {
        match self {
            KeyFormat::Pkcs8 => "PRIVATE KEY",
            KeyFormat::Pkcs1 => "RSA PRIVATE KEY",
            KeyFormat::Sec1 => "EC PRIVATE KEY",
        }
    }

    pub(crate) fn from_pem_label(label: &str) -> Option<KeyFormat> {
        match label {
            "PRIVATE KEY" => Some(KeyFormat::Pkcs8),
            "RSA PRIVATE KEY" => Some(KeyFormat::Pkcs1),
            "EC PRIVATE KEY" => Some(KeyFormat::Sec1),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
    Other(String),
}

/// The public half of a key pair, in a form both keys and certificates reduce to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKeyId {
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    Ec { curve: Curve, point: Vec<u8> },
    Other { algorithm: String, bytes: Vec<u8> },
}

impl PublicKeyId {
    /// `RSA 2048-bit`, `EC P-256`: what messages call the key.
    pub(crate) fn describe(&self) -> String {
        match self {
            PublicKeyId::Rsa { modulus, .. } => {
                format!("RSA {}-bit", self.rsa_bits().unwrap_or(modulus.len() * 8))
            }
            PublicKeyId::Ec { curve: Curve::P256, .. } => "EC P-256".into(),
            PublicKeyId::Ec { curve: Curve::P384, .. } => "EC P-384".into(),
            PublicKeyId::Ec { curve: Curve::P521, .. } => "EC P-521".into(),
            PublicKeyId::Ec { curve: Curve::Other(oid), .. } => format!("EC curve {oid}"),
            PublicKeyId::Other { algorithm, .. } => algorithm.clone(),
        }
    }

    pub(crate) fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKeyId::Rsa { modulus, .. } => {
                let first = *modulus.first()?;
                Some((modulus.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
            }
            _ => None,
        }
    }

    /// The public key a certificate carries.
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> PublicKeyId {
        let alg = spki.algorithm.algorithm.as_bytes();
        let bytes = spki.subject_public_key.data.to_vec();
        if alg == der::OID_RSA_ENCRYPTION
            && let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = spki.parsed()
        {
            return PublicKeyId::Rsa {
                modulus: der::unsigned(rsa.modulus).to_vec(),
                exponent: der::unsigned(rsa.exponent).to_vec(),
            };
        }
        if alg == der::OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| curve(oid.as_bytes()))
                .unwrap_or_else(|| Curve::Other("(not named)".into()));
            return PublicKeyId::Ec { curve, point: bytes };
        }
        let algorithm = if alg == der::OID_ED25519 { "Ed25519".to_string() } else { der::oid_to_string(alg) };
        PublicKeyId::Other { algorithm, bytes }
    }
}

fn curve(oid: &[u8]) -> Curve {
    match oid {
        der::OID_P256 => Curve::P256,
        der::OID_P384 => Curve::P384,
        der::OID_P521 => Curve::P521,
        other => Curve::Other(der::oid_to_string(other)),
    }
}

/// A decoded private key. `Debug` never shows the key.
#[derive(Clone)]
pub(crate) struct PrivateKey {
    pub format: KeyFormat,
    der: Vec<u8>,
    pub public: PublicKeyId,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("format", &self.format)
            .field("public", &self.public.describe())
            .finish()
    }
}

impl PrivateKey {
    /// Normalised PEM (the label its format calls for, 64-column lines, LF).
    pub(crate) fn to_pem(&self) -> String {
        super::pem::encode(self.format.pem_label(), &self.der)
    }
}

/// Which format a DER blob is, judged by structure alone (for input that is not PEM).
pub(crate) fn sniff(der: &[u8]) -> Option<KeyFormat> {
    [KeyFormat::Pkcs8, KeyFormat::Pkcs1, KeyFormat::Sec1].into_iter().find(|&f| structure(f, der).is_ok())
}

/// Decodes a key and checks its halves belong together. The error says what is wrong in
/// words (never bytes).
pub(crate) fn decode(format: KeyFormat, der: &[u8]) -> Result<PrivateKey, String> {
    let parsed = structure(format, der)?;
    let public = consistent(format, der, parsed)?;
    Ok(PrivateKey { format, der: der.to_vec(), public })
}

/// What the structure says: RSA components, or an EC curve with the public point when the
/// key carries it.
enum Parsed {
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    Ec { curve: Curve, point: Option<Vec<u8>> },
    Other { algorithm: String },
}

fn structure(format: KeyFormat, der_bytes: &[u8]) -> Result<Parsed, String> {
    match format {
        KeyFormat::Pkcs8 => pkcs8(der_bytes),
        KeyFormat::Pkcs1 => pkcs1(der_bytes),
        KeyFormat::Sec1 => sec1(der_bytes, None),
    }
}

/// `PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, ... }`
fn pkcs8(input: &[u8]) -> Result<Parsed, String> {
    let bad = || "not a PKCS#8 PrivateKeyInfo".to_string();
    let items = der::read_exact(input, der::SEQUENCE).and_then(der::children).ok_or_else(bad)?;
    let [version, alg, key, ..] = items.as_slice() else { return Err(bad()) };
    if version.tag != der::INTEGER || alg.tag != der::SEQUENCE || key.tag != der::OCTET_STRING {
        return Err(bad());
    }
    let alg = der::children(alg.value).ok_or_else(bad)?;
    let Some(Tlv { tag: der::OID, value: oid }) = alg.first().copied() else { return Err(bad()) };
    match oid {
        der::OID_RSA_ENCRYPTION => pkcs1(key.value),
        der::OID_EC_PUBLIC_KEY => {
            let named = match alg.get(1) {
                Some(Tlv { tag: der::OID, value }) => Some(curve(value)),
                _ => None,
            };
            sec1(key.value, named)
        }
        der::OID_ED25519 => Ok(Parsed::Other { algorithm: "Ed25519".into() }),
        other => Ok(Parsed::Other { algorithm: der::oid_to_string(other) }),
    }
}

/// `RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, privateExponent, ... }`
fn pkcs1(input: &[u8]) -> Result<Parsed, String> {
    let bad = || "not a PKCS#1 RSAPrivateKey".to_string();
    let items = der::read_exact(input, der::SEQUENCE).and_then(der::children).ok_or_else(bad)?;
    if items.len() < 9 || items.iter().take(9).any(|t| t.tag != der::INTEGER) {
        return Err(bad());
    }
    Ok(Parsed::Rsa {
        modulus: der::unsigned(items[1].value).to_vec(),
        exponent: der::unsigned(items[2].value).to_vec(),
    })
}

/// `ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] curve OPTIONAL,
/// [1] publicKey BIT STRING OPTIONAL }`
fn sec1(input: &[u8], named: Option<Curve>) -> Result<Parsed, String> {
    let bad = || "not a SEC1 ECPrivateKey".to_string();
    let items = der::read_exact(input, der::SEQUENCE).and_then(der::children).ok_or_else(bad)?;
    let [version, key, rest @ ..] = items.as_slice() else { return Err(bad()) };
    if version.tag != der::INTEGER || version.value != [1] || key.tag != der::OCTET_STRING {
        return Err(bad());
    }
    let mut curve_here = None;
    let mut point = None;
    for item in rest {
        match item.tag {
            der::CONTEXT_0 => {
                let oid = der::read_exact(item.value, der::OID).ok_or_else(bad)?;
                curve_here = Some(curve(oid));
            }
            der::CONTEXT_1 => {
                let bits = der::read_exact(item.value, der::BIT_STRING).ok_or_else(bad)?;
                // The first octet counts unused bits; a point has none.
                point = Some(bits.get(1..).ok_or_else(bad)?.to_vec());
            }
            _ => return Err(bad()),
        }
    }
    let curve =
        curve_here.or(named).ok_or_else(|| "the EC key does not say which curve it is on".to_string())?;
    Ok(Parsed::Ec { curve, point })
}

/// The public key, loaded through aws-lc where it supports the key (which checks that both
/// halves match); from the structure alone for keys too weak or unusual to load.
fn consistent(format: KeyFormat, der_bytes: &[u8], parsed: Parsed) -> Result<PublicKeyId, String> {
    match parsed {
        Parsed::Rsa { modulus, exponent } => {
            let claimed = PublicKeyId::Rsa { modulus, exponent };
            let bits = claimed.rsa_bits().unwrap_or(0);
            if !(2048..=8192).contains(&bits) {
                return Ok(claimed);
            }
            let loaded = match format {
                KeyFormat::Pkcs8 => signature::RsaKeyPair::from_pkcs8(der_bytes),
                _ => signature::RsaKeyPair::from_der(der_bytes),
            }
            .map_err(|e| format!("the RSA key is damaged or inconsistent: {e}"))?;
            let public = loaded.public_key().as_ref();
            let items = der::read_exact(public, der::SEQUENCE).and_then(der::children);
            match items.as_deref() {
                Some([n, e]) => {
                    let derived = PublicKeyId::Rsa {
                        modulus: der::unsigned(n.value).to_vec(),
                        exponent: der::unsigned(e.value).to_vec(),
                    };
                    if derived == claimed {
                        Ok(claimed)
                    } else {
                        Err("the RSA key's public part does not match its private part".into())
                    }
                }
                _ => Err("the RSA key's public part cannot be read".into()),
            }
        }
        Parsed::Ec { curve, point } => {
            let alg = match curve {
                Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                Curve::Other(_) => {
                    return match point {
                        Some(point) => Ok(PublicKeyId::Ec { curve, point }),
                        None => Err("the EC key on this curve does not carry its public point".into()),
                    };
                }
            };
            let loaded = signature::EcdsaKeyPair::from_private_key_der(alg, der_bytes)
                .map_err(|e| format!("the EC key is damaged or inconsistent: {e}"))?;
            let derived = loaded.public_key().as_ref().to_vec();
            match point {
                Some(point) if point != derived => {
                    Err("the EC key's public point does not match its private part".into())
                }
                _ => Ok(PublicKeyId::Ec { curve, point: derived }),
            }
        }
        Parsed::Other { algorithm } => {
            if algorithm == "Ed25519"
                && let Ok(kp) = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der_bytes)
            {
                return Ok(PublicKeyId::Other { algorithm, bytes: kp.public_key().as_ref().to_vec() });
            }
            Err(format!("{algorithm} keys are not supported; use an EC P-256/P-384 or RSA 2048+ key"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;

    fn p256_pkcs8() -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    #[test]
    fn ec_key_in_pkcs8_and_sec1_gives_the_same_public_key() {
        let pkcs8 = p256_pkcs8();
        let kp =
            signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8).unwrap();
        let sec1 = kp.private_key().as_der().unwrap();
        let a = decode(KeyFormat::Pkcs8, &pkcs8).unwrap();
        let b = decode(KeyFormat::Sec1, sec1.as_ref()).unwrap();
        assert_eq!(a.public, b.public);
        assert_eq!(a.public.describe(), "EC P-256");
        assert_eq!(sniff(&pkcs8), Some(KeyFormat::Pkcs8));
        assert_eq!(sniff(sec1.as_ref()), Some(KeyFormat::Sec1));
    }

    #[test]
    fn rsa_key_in_pkcs8_and_pkcs1_gives_the_same_public_key() {
        let kp = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let pkcs8 = kp.as_der().unwrap();
        let a = decode(KeyFormat::Pkcs8, pkcs8.as_ref()).unwrap();
        let items = der::children(der::read_exact(pkcs8.as_ref(), der::SEQUENCE).unwrap()).unwrap();
        let b = decode(KeyFormat::Pkcs1, items[2].value).unwrap();
        assert_eq!(a.public, b.public);
        assert_eq!(a.public.rsa_bits(), Some(2048));
        assert_eq!(sniff(items[2].value), Some(KeyFormat::Pkcs1));
        assert!(!format!("{a:?}").contains(&format!("{:?}", &items[2].value[..8])));
    }

    #[test]
    fn a_tampered_public_point_is_caught() {
        let pkcs8 = p256_pkcs8();
        let kp =
            signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8).unwrap();
        let mut sec1 = kp.private_key().as_der().unwrap().as_ref().to_vec();
        let last = sec1.len() - 1;
        sec1[last] ^= 1;
        assert!(decode(KeyFormat::Sec1, &sec1).is_err());
    }

    #[test]
    fn garbage_is_no_key() {
        assert!(sniff(b"hello").is_none());
        assert!(decode(KeyFormat::Pkcs8, &[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    }
}
