//! A test PKI made at test time with rcgen: roots, intermediates and leaves, in the shapes
//! (and with the defects) operators bring. Nothing here is committed as a file.
//!
//! Shared by the bundle unit tests (`src/bundle/tests.rs` includes this file) and the
//! integration tests that run the binary.

#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber, SignatureAlgorithm,
};
use time::{Duration, OffsetDateTime};

/// Key algorithms for fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    EcP256,
    EcP384,
    EcP521,
    Rsa2048,
}

impl Alg {
    fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            Alg::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Alg::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Alg::EcP521 => &rcgen::PKCS_ECDSA_P521_SHA512,
            Alg::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

pub fn key(alg: Alg) -> KeyPair {
    match alg {
        Alg::Rsa2048 => KeyPair::generate_rsa_for(alg.rcgen(), rcgen::RsaKeySize::_2048).expect("RSA key"),
        _ => KeyPair::generate_for(alg.rcgen()).expect("EC key"),
    }
}

/// A certificate with its key and the parameters it was made from (needed to sign with it).
pub struct Node {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub cert: rcgen::Certificate,
}

impl Node {
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    pub fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    /// PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// The same subject and key, signed again by `parent` (a cross-signed or re-issued copy).
    pub fn resigned_by(&self, parent: &Node) -> Node {
        let mut params = self.params.clone();
        params.serial_number = Some(next_serial());
        let cert = params.signed_by(&self.key, &parent.issuer()).expect("sign");
        Node { params, key: KeyPair::from_pem(&self.key.serialize_pem()).expect("key"), cert }
    }
}

fn next_serial() -> SerialNumber {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0x1000);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut bytes = vec![0x4a, 0x7c];
    bytes.extend(n.to_be_bytes());
    SerialNumber::from_slice(&bytes)
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Wildcert Test PKI");
    dn.push(DnType::CommonName, cn);
    dn
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = now() - Duration::days(365);
    params.not_after = now() + Duration::days(3650);
    params.serial_number = Some(next_serial());
    params.use_authority_key_identifier_extension = true;
    params
}

pub fn root(cn: &str, alg: Alg) -> Node {
    let params = ca_params(cn);
    let key = key(alg);
    let cert = params.self_signed(&key).expect("self-sign");
    Node { params, key, cert }
}

pub fn intermediate(cn: &str, alg: Alg, parent: &Node) -> Node {
    intermediate_with(cn, alg, parent, |_| {})
}

pub fn intermediate_with(
    cn: &str,
    alg: Alg,
    parent: &Node,
    edit: impl FnOnce(&mut CertificateParams),
) -> Node {
    let mut params = ca_params(cn);
    edit(&mut params);
    let key = key(alg);
    let cert = params.signed_by(&key, &parent.issuer()).expect("sign");
    Node { params, key, cert }
}

/// The authorityInfoAccess extension with one caIssuers URL.
pub fn ca_issuers(url: &str) -> CustomExtension {
    let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let mut location = vec![0x86, url.len() as u8];
    location.extend(url.as_bytes());
    let mut description = vec![0x30, (oid.len() + location.len()) as u8];
    description.extend(oid);
    description.extend(location);
    let mut content = vec![0x30, description.len() as u8];
    content.extend(description);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], content)
}

/// What a leaf looks like; the default is a healthy wildcard certificate.
#[derive(Clone)]
pub struct LeafSpec {
    pub names: Vec<String>,
    pub cn: String,
    pub alg: Alg,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub ca: bool,
    pub eku: Vec<ExtendedKeyUsagePurpose>,
    pub aia: Option<String>,
}

impl Default for LeafSpec {
    fn default() -> Self {
        LeafSpec {
            names: vec!["*.gradient.example.com".into(), "gradient.example.com".into()],
            cn: "*.gradient.example.com".into(),
            alg: Alg::EcP256,
            not_before: now() - Duration::days(10),
            not_after: now() + Duration::days(80),
            ca: false,
            eku: vec![ExtendedKeyUsagePurpose::ServerAuth],
            aia: None,
        }
    }
}

fn leaf_params(spec: &LeafSpec) -> CertificateParams {
    let mut params = CertificateParams::new(spec.names.clone()).expect("names");
    params.distinguished_name = dn(&spec.cn);
    params.not_before = spec.not_before;
    params.not_after = spec.not_after;
    params.extended_key_usages = spec.eku.clone();
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(next_serial());
    params.use_authority_key_identifier_extension = true;
    if spec.ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    if let Some(url) = &spec.aia {
        params.custom_extensions.push(ca_issuers(url));
    }
    params
}

pub fn leaf(spec: &LeafSpec, parent: &Node) -> Node {
    let params = leaf_params(spec);
    let key = key(spec.alg);
    let cert = params.signed_by(&key, &parent.issuer()).expect("sign");
    Node { params, key, cert }
}

/// A leaf that signs itself.
pub fn self_signed_leaf(spec: &LeafSpec) -> Node {
    let params = leaf_params(spec);
    let key = key(spec.alg);
    let cert = params.self_signed(&key).expect("sign");
    Node { params, key, cert }
}

/// An RSA public key of any size (aws-lc will not generate one below 2048 bits), for a
/// certificate that carries it.
pub struct RawRsaPublicKey {
    der: Vec<u8>,
    pub modulus: Vec<u8>,
}

impl RawRsaPublicKey {
    pub fn new(bits: usize) -> RawRsaPublicKey {
        let mut modulus = vec![0xc3; bits / 8];
        for (i, b) in modulus.iter_mut().enumerate() {
            *b ^= (i as u8).wrapping_mul(37);
        }
        modulus[0] |= 0x80;
        let last = modulus.len() - 1;
        modulus[last] |= 1;
        let der = der_seq(&[der_uint(&modulus), der_uint(&[1, 0, 1])]);
        RawRsaPublicKey { der, modulus }
    }

    /// A PKCS#1 private key PEM with this modulus: right shape, made-up private parts.
    pub fn fake_pkcs1_pem(&self) -> String {
        let junk = |n: usize| der_uint(&vec![0x5a; n]);
        let der = der_seq(&[
            der_uint(&[0]),
            der_uint(&self.modulus),
            der_uint(&[1, 0, 1]),
            junk(self.modulus.len()),
            junk(self.modulus.len() / 2),
            junk(self.modulus.len() / 2),
            junk(self.modulus.len() / 2),
            junk(self.modulus.len() / 2),
            junk(self.modulus.len() / 2),
        ]);
        pem("RSA PRIVATE KEY", &der)
    }
}

impl PublicKeyData for RawRsaPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.der
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

/// A leaf carrying `public` (no private key is made).
pub fn leaf_with_public_key(
    spec: &LeafSpec,
    public: &impl PublicKeyData,
    parent: &Node,
) -> rcgen::Certificate {
    leaf_params(spec).signed_by(public, &parent.issuer()).expect("sign")
}

fn der_len(len: usize) -> Vec<u8> {
    match len {
        0..=0x7f => vec![len as u8],
        0x80..=0xff => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

fn der_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(value.len()));
    out.extend(value);
    out
}

fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    if magnitude.first().is_some_and(|b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend(magnitude);
    der_tlv(0x02, &v)
}

fn der_seq(items: &[Vec<u8>]) -> Vec<u8> {
    der_tlv(0x30, &items.concat())
}

/// Reads the first element of a DER SEQUENCE and returns its contents' children, for
/// unwrapping PKCS#8 into PKCS#1 in tests.
fn der_children(mut input: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let tag = input[0];
        let (len, header) = match input[1] {
            l if l < 0x80 => (l as usize, 2),
            0x81 => (input[2] as usize, 3),
            0x82 => (((input[2] as usize) << 8) | input[3] as usize, 4),
            _ => panic!("test DER too long"),
        };
        out.push((tag, input[header..header + len].to_vec()));
        input = &input[header + len..];
    }
    out
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// Decodes the first PEM block (test inputs are well-formed).
pub fn pem_der(text: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
}

/// The key as PKCS#1 (`RSA PRIVATE KEY`) for RSA or SEC1 (`EC PRIVATE KEY`) for EC, as
/// `openssl genrsa` / `openssl ecparam -genkey` write them.
pub fn traditional_key_pem(key: &KeyPair) -> String {
    let pkcs8 = key.serialize_der();
    let info = der_children(&pkcs8);
    let inner = der_children(&info[0].1);
    let private = inner[2].1.clone();
    let rsa = key.algorithm() == &rcgen::PKCS_RSA_SHA256;
    if rsa {
        pem("RSA PRIVATE KEY", &private)
    } else {
        // PKCS#8 leaves the curve in the AlgorithmIdentifier; SEC1 files carry it as [0].
        let algorithm = der_children(&inner[1].1);
        let curve = der_tlv(0x06, &algorithm[1].1);
        let mut fields: Vec<Vec<u8>> = der_children(&der_children(&private)[0].1)
            .into_iter()
            .map(|(tag, value)| der_tlv(tag, &value))
            .collect();
        if !fields.iter().any(|f| f[0] == 0xa0) {
            fields.insert(2, der_tlv(0xa0, &curve));
        }
        pem("EC PRIVATE KEY", &der_seq(&fields))
    }
}

/// root → `levels` intermediates → leaf.
pub struct Pki {
    pub root: Node,
    /// Closest to the root first.
    pub intermediates: Vec<Node>,
    pub leaf: Node,
}

impl Pki {
    pub fn new(levels: usize, alg: Alg) -> Pki {
        Pki::with_leaf(levels, alg, &LeafSpec { alg, ..LeafSpec::default() })
    }

    pub fn with_leaf(levels: usize, alg: Alg, spec: &LeafSpec) -> Pki {
        let root = root("Wildcert Test Root", alg);
        let mut intermediates: Vec<Node> = Vec::new();
        for level in 0..levels {
            let parent = intermediates.last().unwrap_or(&root);
            let node = intermediate(&format!("Wildcert Test Intermediate {}", level + 1), alg, parent);
            intermediates.push(node);
        }
        let leaf = leaf(spec, intermediates.last().unwrap_or(&root));
        Pki { root, intermediates, leaf }
    }

    /// The intermediates as a server sends them: closest to the leaf first.
    pub fn chain_pem(&self) -> String {
        self.intermediates.iter().rev().map(Node::pem).collect()
    }

    /// Leaf, then intermediates: what an operator should hand in.
    pub fn bundle(&self) -> String {
        format!("{}{}", self.leaf.pem(), self.chain_pem())
    }

    pub fn key_pem(&self) -> String {
        self.leaf.key_pem()
    }
}
