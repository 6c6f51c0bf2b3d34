//! Every check against fixtures made at test time: each test builds the defect, asserts the
//! specific variant, and that the message names the right certificate.

#[path = "../../tests/bundle_support/mod.rs"]
mod support;

use ::time::Duration;
use proptest::prelude::*;
use rcgen::ExtendedKeyUsagePurpose;

use super::*;
use support::{Alg, LeafSpec, Pki};

fn opts() -> CheckOptions {
    CheckOptions::new(Vec::new())
}

fn run_with(key: &[u8], bundles: &[(&str, &[u8])], opts: &CheckOptions) -> Report {
    let inputs: Vec<Input<'_>> = bundles.iter().map(|(label, bytes)| Input { label, bytes }).collect();
    check(Input { label: "key.pem", bytes: key }, &inputs, opts)
}

fn run(key: &str, bundle: &str) -> Report {
    run_with(key.as_bytes(), &[("server.crt", bundle.as_bytes())], &opts())
}

fn codes(report: &Report) -> Vec<&'static str> {
    report.problems.iter().map(|p| p.error.code()).collect()
}

/// The one problem with this code; fails listing everything found otherwise.
fn only<'r>(report: &'r Report, code: &str) -> &'r Problem {
    let found: Vec<&Problem> = report.problems.iter().filter(|p| p.error.code() == code).collect();
    assert_eq!(found.len(), 1, "expected one {code}, got: {:#?}", report.problems);
    found[0]
}

fn assert_clean(report: &Report) {
    assert!(report.problems.is_empty(), "unexpected problems: {:#?}", report.problems);
    assert!(report.is_usable());
}

fn roots(pems: &[&Pki]) -> CheckOptions {
    let mut o = opts();
    o.roots = Some(pems.iter().map(|p| CertificateDer::from(p.root.der())).collect());
    o
}

// --- healthy input -------------------------------------------------------------------

#[test]
fn healthy_chains_pass_for_every_key_type_and_depth() {
    for alg in [Alg::EcP256, Alg::EcP384, Alg::Rsa2048] {
        for levels in 1..=2 {
            let pki = Pki::new(levels, alg);
            let report = run(&pki.key_pem(), &pki.bundle());
            assert_clean(&report);
            let with_trust = run_with(
                pki.key_pem().as_bytes(),
                &[("server.crt", pki.bundle().as_bytes())],
                &roots(&[&pki]),
            );
            assert_clean(&with_trust);
            let pair = report.into_result().unwrap();
            assert_eq!(pair.fullchain_pem, pki.bundle(), "{alg:?}/{levels}");
            assert_eq!(pair.cert_pem, pki.leaf.pem());
            assert_eq!(pair.chain_pem, pki.chain_pem());
            assert_eq!(pair.info.names, vec!["*.gradient.example.com", "gradient.example.com"]);
            assert!(pair.info.ari_id.is_some());
        }
    }
}

#[test]
fn traditional_key_formats_are_read_and_stored_under_their_own_label() {
    for alg in [Alg::EcP256, Alg::Rsa2048] {
        let pki = Pki::new(1, alg);
        let key = support::traditional_key_pem(&pki.leaf.key);
        let pair = run(&key, &pki.bundle()).into_result().unwrap();
        let label = if alg == Alg::Rsa2048 { "RSA PRIVATE KEY" } else { "EC PRIVATE KEY" };
        assert!(
            pair.key_pem().starts_with(&format!("-----BEGIN {label}-----\n")),
            "{}",
            &pair.key_pem()[..40]
        );
        assert_eq!(support::pem_der(pair.key_pem()), support::pem_der(&key));
    }
}

#[test]
fn the_stored_key_is_clean_pem_and_debug_hides_it() {
    let pki = Pki::new(1, Alg::EcP256);
    let noisy_key = format!("\u{feff}Bag Attributes\r\n{}", pki.key_pem().replace('\n', "\r\n"));
    let pair = run(&noisy_key, &pki.bundle()).into_result().unwrap();
    assert_eq!(pair.key_pem(), pki.key_pem());
    assert!(!format!("{pair:?}").contains("PRIVATE"));
}

#[test]
fn a_private_ca_leaf_straight_from_the_root_is_fine_when_the_root_is_trusted() {
    let pki = Pki::new(0, Alg::EcP256);
    let report =
        run_with(pki.key_pem().as_bytes(), &[("server.crt", pki.bundle().as_bytes())], &roots(&[&pki]));
    assert_clean(&report);
}

// --- order -----------------------------------------------------------------------------

#[test]
fn intermediate_before_leaf_is_out_of_order_and_fixable() {
    let pki = Pki::new(1, Alg::EcP256);
    let bundle = format!("{}{}", pki.intermediates[0].pem(), pki.leaf.pem());
    let report = run(&pki.key_pem(), &bundle);
    let BundleError::ChainOutOfOrder { cert, next, .. } = &only(&report, "chain_out_of_order").error else {
        unreachable!()
    };
    assert_eq!((cert.position, next.position), (1, 2));
    assert!(cert.subject.ends_with("CN=Wildcert Test Intermediate 1"));
    let message = report.problems[0].error.to_string();
    assert!(
        message.starts_with("server.crt: certificate 1 (CN=Wildcert Test Intermediate 1, serial "),
        "{message}"
    );
    assert!(message.contains("is not signed by certificate 2 (CN=*.gradient.example.com"), "{message}");
    assert!(!report.is_usable());
    assert_eq!(report.fixed_bundle.as_deref(), Some(pki.bundle().as_str()));
}

#[test]
fn intermediates_swapped_in_a_three_level_chain() {
    let pki = Pki::new(2, Alg::EcP256);
    // leaf, then the intermediate next to the root, then the one that signed the leaf.
    let bundle = format!("{}{}{}", pki.leaf.pem(), pki.intermediates[0].pem(), pki.intermediates[1].pem());
    let report = run(&pki.key_pem(), &bundle);
    let BundleError::ChainOutOfOrder { cert, next, order, .. } = &only(&report, "chain_out_of_order").error
    else {
        unreachable!()
    };
    assert_eq!((cert.position, next.position), (1, 2));
    assert_eq!(order, "certificate 1, then certificate 3, then certificate 2");
    assert_eq!(report.fixed_bundle.as_deref(), Some(pki.bundle().as_str()));
}

#[test]
fn files_may_come_in_any_order() {
    let pki = Pki::new(2, Alg::EcP256);
    let report = run_with(
        pki.key_pem().as_bytes(),
        &[("ca-bundle.crt", pki.chain_pem().as_bytes()), ("server.crt", pki.leaf.pem().as_bytes())],
        &opts(),
    );
    assert_clean(&report);
    assert_eq!(report.into_result().unwrap().fullchain_pem, pki.bundle());
}

#[test]
fn something_before_the_leaf_is_reported() {
    let pki = Pki::new(1, Alg::EcP256);
    let other = Pki::new(1, Alg::EcP256);
    let bundle = format!("{}{}", other.intermediates[0].pem(), pki.bundle());
    let report = run(&pki.key_pem(), &bundle);
    let BundleError::LeafNotFirst { leaf, first, .. } = &only(&report, "leaf_not_first").error else {
        unreachable!()
    };
    assert_eq!((leaf.position, first.position), (2, 1));
    let BundleError::Unrelated { cert, .. } = &only(&report, "unrelated").error else { unreachable!() };
    assert_eq!(cert.position, 1);
}

// --- completeness ----------------------------------------------------------------------

#[test]
fn missing_intermediate_is_named_by_its_dn_and_url() {
    let root = support::root("Wildcert Test Root", Alg::EcP256);
    let inter = support::intermediate("Wildcert Test Intermediate R9", Alg::EcP256, &root);
    let spec = LeafSpec { aia: Some("http://ca.example.invalid/r9.der".into()), ..LeafSpec::default() };
    let leaf = support::leaf(&spec, &inter);
    let report = run(&leaf.key_pem(), &leaf.pem());
    let BundleError::MissingIntermediate { cert, issuer, url, is_leaf, .. } =
        &only(&report, "missing_intermediate").error
    else {
        unreachable!()
    };
    assert_eq!(cert.position, 1);
    assert!(*is_leaf);
    assert_eq!(issuer, "O=Wildcert Test PKI, CN=Wildcert Test Intermediate R9");
    assert_eq!(url.as_deref(), Some("http://ca.example.invalid/r9.der"));
    let message = report.problems[0].error.to_string();
    assert!(message.contains("download it from http://ca.example.invalid/r9.der"), "{message}");
    assert!(!report.is_usable());
}

#[test]
fn an_intermediate_with_the_right_name_but_another_key_is_pointed_out() {
    let pki = Pki::new(1, Alg::EcP256);
    let impostor = support::intermediate("Wildcert Test Intermediate 1", Alg::EcP256, &pki.root);
    let bundle = format!("{}{}", pki.leaf.pem(), impostor.pem());
    let report = run(&pki.key_pem(), &bundle);
    let BundleError::MissingIntermediate { near_miss, .. } = &only(&report, "missing_intermediate").error
    else {
        unreachable!()
    };
    assert_eq!(near_miss.as_ref().map(|c| c.position), Some(2));
}

#[test]
fn a_missing_middle_intermediate_is_caught_with_trust() {
    let pki = Pki::new(2, Alg::EcP256);
    // The intermediate that signed the leaf is there; the one above it is not.
    let bundle = format!("{}{}", pki.leaf.pem(), pki.intermediates[1].pem());
    let without_trust = run(&pki.key_pem(), &bundle);
    assert_clean(&without_trust);
    let report = run_with(pki.key_pem().as_bytes(), &[("server.crt", bundle.as_bytes())], &roots(&[&pki]));
    let BundleError::Untrusted { top, issuer, .. } = &only(&report, "untrusted").error else {
        unreachable!()
    };
    assert_eq!(top.position, 2);
    assert!(issuer.ends_with("CN=Wildcert Test Intermediate 1"));
}

#[test]
fn a_root_in_the_bundle_is_only_noted() {
    let pki = Pki::new(1, Alg::Rsa2048);
    let bundle = format!("{}{}", pki.bundle(), pki.root.pem());
    let report = run(&pki.key_pem(), &bundle);
    let p = only(&report, "root_in_bundle");
    assert_eq!(p.severity, Severity::Info);
    assert_eq!(p.error.certificate().unwrap().position, 3);
    assert!(report.is_usable());
    assert_eq!(report.certificates[2].role, Role::Root);
    let pair = report.into_result().unwrap();
    assert_eq!(pair.fullchain_pem, pki.bundle());
}

#[test]
fn unrelated_and_duplicate_certificates_are_warned_about_and_dropped() {
    let pki = Pki::new(1, Alg::EcP256);
    let other = Pki::new(1, Alg::EcP256);
    let bundle = format!("{}{}{}", pki.bundle(), other.intermediates[0].pem(), pki.intermediates[0].pem());
    let report = run(&pki.key_pem(), &bundle);
    let unrelated = only(&report, "unrelated");
    assert_eq!((unrelated.severity, unrelated.error.certificate().unwrap().position), (Severity::Warning, 3));
    let duplicate = only(&report, "duplicate");
    assert_eq!((duplicate.severity, duplicate.error.certificate().unwrap().position), (Severity::Warning, 4));
    assert!(report.is_usable());
    assert_eq!(report.fixed_bundle.as_deref(), Some(pki.bundle().as_str()));
}

#[test]
fn only_ca_certificates_means_no_leaf() {
    let pki = Pki::new(2, Alg::EcP256);
    let report = run(&pki.key_pem(), &pki.chain_pem());
    only(&report, "no_leaf");
    assert!(report.pair.is_none() && report.leaf.is_none());
}

#[test]
fn a_certificate_signed_by_a_non_ca_is_refused() {
    let root = support::root("Wildcert Test Root", Alg::EcP256);
    let fake_ca = support::intermediate_with("Not A CA", Alg::EcP256, &root, |p| p.is_ca = rcgen::IsCa::NoCa);
    let leaf = support::leaf(&LeafSpec::default(), &fake_ca);
    let report = run(&leaf.key_pem(), &format!("{}{}", leaf.pem(), fake_ca.pem()));
    let BundleError::IssuerNotCa { cert, signed } = &only(&report, "issuer_not_ca").error else {
        unreachable!()
    };
    assert_eq!((cert.position, signed.position), (2, 1));
}

#[test]
fn signatures_that_cannot_be_verified_are_reported() {
    let root = support::root("Wildcert Test Root", Alg::EcP256);
    let p521 = support::intermediate("Wildcert P-521 Intermediate", Alg::EcP521, &root);
    let leaf = support::leaf(&LeafSpec::default(), &p521);
    let report = run(&leaf.key_pem(), &format!("{}{}", leaf.pem(), p521.pem()));
    let BundleError::UnverifiableSignature { cert, algorithm } =
        &only(&report, "unverifiable_signature").error
    else {
        unreachable!()
    };
    assert_eq!(cert.position, 1);
    assert!(algorithm.contains("1.2.840.10045.4.3.4"), "{algorithm}");
}

// --- trust -----------------------------------------------------------------------------

#[test]
fn a_chain_to_another_root_is_untrusted() {
    let pki = Pki::new(1, Alg::EcP256);
    let other = Pki::new(1, Alg::EcP256);
    let report =
        run_with(pki.key_pem().as_bytes(), &[("server.crt", pki.bundle().as_bytes())], &roots(&[&other]));
    let BundleError::Untrusted { top, issuer, .. } = &only(&report, "untrusted").error else {
        unreachable!()
    };
    assert_eq!(top.position, 2);
    assert!(issuer.ends_with("CN=Wildcert Test Root"));
    // The same name is not enough: the signature decides.
    assert_eq!(pki.root.params.distinguished_name, other.root.params.distinguished_name);
}

#[test]
fn an_untrusted_root_in_the_bundle() {
    let pki = Pki::new(1, Alg::EcP256);
    let other = Pki::new(1, Alg::EcP256);
    let bundle = format!("{}{}", pki.bundle(), pki.root.pem());
    let report = run_with(pki.key_pem().as_bytes(), &[("server.crt", bundle.as_bytes())], &roots(&[&other]));
    let BundleError::UntrustedRoot { root } = &only(&report, "untrusted_root").error else { unreachable!() };
    assert_eq!(root.position, 3);
    let trusted = run_with(pki.key_pem().as_bytes(), &[("server.crt", bundle.as_bytes())], &roots(&[&pki]));
    assert!(trusted.is_usable(), "{:#?}", trusted.problems);
}

#[test]
fn a_self_signed_leaf() {
    let leaf = support::self_signed_leaf(&LeafSpec::default());
    let unchecked = run(&leaf.key_pem(), &leaf.pem());
    let p = only(&unchecked, "self_signed");
    assert_eq!(p.severity, Severity::Warning);
    let other = Pki::new(1, Alg::EcP256);
    let checked =
        run_with(leaf.key_pem().as_bytes(), &[("server.crt", leaf.pem().as_bytes())], &roots(&[&other]));
    assert_eq!(only(&checked, "self_signed").severity, Severity::Error);
}

// --- key -------------------------------------------------------------------------------

#[test]
fn the_key_of_another_certificate() {
    let pki = Pki::new(1, Alg::EcP256);
    let old = support::leaf(&LeafSpec::default(), &pki.intermediates[0]);
    let report = run(&old.key_pem(), &pki.bundle());
    let BundleError::KeyMismatch { leaf, matches, key, cert_key, .. } = &only(&report, "key_mismatch").error
    else {
        unreachable!()
    };
    assert_eq!(leaf.position, 1);
    assert_eq!(matches, &None);
    assert_eq!((key.as_str(), cert_key.as_str()), ("EC P-256", "EC P-256"));
    let message = report.problems[0].error.to_string();
    assert!(
        message.starts_with(
            "key.pem: this private key (EC P-256) does not match the leaf server.crt: certificate 1"
        ),
        "{message}"
    );
    assert!(!report.is_usable());

    // With the older certificate also pasted in, the message says whose key it is.
    let bundle = format!("{}{}", pki.bundle(), old.pem());
    let report = run(&old.key_pem(), &bundle);
    let BundleError::KeyMismatch { matches, .. } = &only(&report, "key_mismatch").error else {
        unreachable!()
    };
    assert_eq!(matches.as_ref().map(|m| m.position), Some(3));
}

#[test]
fn an_rsa_key_for_an_ec_certificate() {
    let pki = Pki::new(1, Alg::EcP256);
    let rsa = support::key(Alg::Rsa2048);
    let report = run(&rsa.serialize_pem(), &pki.bundle());
    let BundleError::KeyMismatch { key, cert_key, .. } = &only(&report, "key_mismatch").error else {
        unreachable!()
    };
    assert_eq!((key.as_str(), cert_key.as_str()), ("RSA 2048-bit", "EC P-256"));
}

#[test]
fn weak_rsa_keys_are_refused() {
    let pki = Pki::new(1, Alg::Rsa2048);
    let weak = support::RawRsaPublicKey::new(1024);
    let cert = support::leaf_with_public_key(&LeafSpec::default(), &weak, &pki.intermediates[0]);
    let bundle = format!("{}{}", cert.pem(), pki.chain_pem());
    let report = run(&weak.fake_pkcs1_pem(), &bundle);
    let BundleError::WeakKey { cert, key } = &only(&report, "weak_key").error else { unreachable!() };
    assert_eq!((cert.position, key.as_str()), (1, "RSA 1024-bit"));
    assert!(!codes(&report).contains(&"key_mismatch"), "{:#?}", report.problems);
}

#[test]
fn p521_keys_are_not_accepted() {
    let pki = Pki::with_leaf(1, Alg::EcP256, &LeafSpec { alg: Alg::EcP521, ..LeafSpec::default() });
    let report = run(&pki.key_pem(), &pki.bundle());
    let BundleError::UnsupportedKeyType { cert, key } = &only(&report, "unsupported_key_type").error else {
        unreachable!()
    };
    assert_eq!((cert.position, key.as_str()), (1, "EC P-521"));
}

// --- leaf usage and names --------------------------------------------------------------

#[test]
fn a_ca_certificate_as_leaf() {
    let pki = Pki::with_leaf(1, Alg::EcP256, &LeafSpec { ca: true, ..LeafSpec::default() });
    let report = run(&pki.key_pem(), &pki.bundle());
    let BundleError::LeafIsCa { leaf } = &only(&report, "leaf_is_ca").error else { unreachable!() };
    assert_eq!(leaf.position, 1);
}

#[test]
fn client_only_certificates_are_refused_and_no_eku_is_fine() {
    let client = LeafSpec { eku: vec![ExtendedKeyUsagePurpose::ClientAuth], ..LeafSpec::default() };
    let pki = Pki::with_leaf(1, Alg::EcP256, &client);
    let report = run(&pki.key_pem(), &pki.bundle());
    let BundleError::MissingServerAuth { leaf, have } = &only(&report, "missing_server_auth").error else {
        unreachable!()
    };
    assert_eq!((leaf.position, have.as_str()), (1, "clientAuth"));
    let pki = Pki::with_leaf(1, Alg::EcP256, &LeafSpec { eku: Vec::new(), ..LeafSpec::default() });
    assert_clean(&run(&pki.key_pem(), &pki.bundle()));
}

#[test]
fn wildcard_coverage_follows_the_one_label_rule() {
    let spec = LeafSpec { names: vec!["*.gradient.example.com".into()], ..LeafSpec::default() };
    let pki = Pki::with_leaf(1, Alg::EcP256, &spec);
    let check_names = |names: &[&str]| {
        let mut o = opts();
        o.names = names.iter().map(|s| s.to_string()).collect();
        run_with(pki.key_pem().as_bytes(), &[("server.crt", pki.bundle().as_bytes())], &o)
    };
    assert_clean(&check_names(&["a.gradient.example.com", "*.gradient.example.com"]));
    for missing in ["gradient.example.com", "a.b.gradient.example.com", "gradient.example.org"] {
        let report = check_names(&["*.gradient.example.com", missing]);
        let BundleError::NameNotCovered { leaf, name, have, .. } = &only(&report, "name_not_covered").error
        else {
            unreachable!()
        };
        assert_eq!((leaf.position, name.as_str(), have.as_str()), (1, missing, "*.gradient.example.com"));
    }
    let apex = check_names(&["gradient.example.com"]);
    assert!(apex.problems[0].error.to_string().contains("covers exactly one label"));
}

#[test]
fn a_certificate_without_subject_alt_names() {
    let pki = Pki::with_leaf(1, Alg::EcP256, &LeafSpec { names: Vec::new(), ..LeafSpec::default() });
    let report = run(&pki.key_pem(), &pki.bundle());
    let BundleError::NoSubjectAltName { leaf, cn } = &only(&report, "no_subject_alt_name").error else {
        unreachable!()
    };
    assert_eq!((leaf.position, cn.as_str()), (1, "*.gradient.example.com"));
    assert!(report.problems[0].error.to_string().contains("browsers ignore the CN"));
}

// --- validity --------------------------------------------------------------------------

#[test]
fn expired_not_yet_valid_and_expiring_leaves() {
    let now = support::now();
    let cases = [
        (now - Duration::days(90), now - Duration::days(1), "expired", Severity::Error),
        (now + Duration::days(2), now + Duration::days(90), "not_yet_valid", Severity::Error),
        (now - Duration::days(80), now + Duration::days(10), "expires_soon", Severity::Warning),
    ];
    for (not_before, not_after, code, severity) in cases {
        let pki = Pki::with_leaf(1, Alg::EcP256, &LeafSpec { not_before, not_after, ..LeafSpec::default() });
        let report = run(&pki.key_pem(), &pki.bundle());
        let p = only(&report, code);
        assert_eq!((p.severity, p.error.certificate().unwrap().position), (severity, 1));
        assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
        assert_eq!(report.is_usable(), severity != Severity::Error);
    }
}

#[test]
fn clock_skew_and_short_lifetimes_are_not_errors() {
    let now = support::now();
    let issued_a_moment_ahead = LeafSpec { not_before: now + Duration::seconds(90), ..LeafSpec::default() };
    let pki = Pki::with_leaf(1, Alg::EcP256, &issued_a_moment_ahead);
    assert_clean(&run(&pki.key_pem(), &pki.bundle()));

    // A six-day certificate with five days left is fresh; with one day left it is not.
    let fresh = LeafSpec {
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(5),
        ..LeafSpec::default()
    };
    let pki = Pki::with_leaf(1, Alg::EcP256, &fresh);
    assert_clean(&run(&pki.key_pem(), &pki.bundle()));
    let old = LeafSpec {
        not_before: now - Duration::days(5),
        not_after: now + Duration::days(1),
        ..LeafSpec::default()
    };
    let pki = Pki::with_leaf(1, Alg::EcP256, &old);
    assert_eq!(only(&run(&pki.key_pem(), &pki.bundle()), "expires_soon").severity, Severity::Warning);
}

#[test]
fn an_expired_intermediate_is_caught() {
    let root = support::root("Wildcert Test Root", Alg::EcP256);
    let inter = support::intermediate_with("Old Intermediate", Alg::EcP256, &root, |p| {
        p.not_before = support::now() - Duration::days(400);
        p.not_after = support::now() - Duration::days(5);
    });
    let leaf = support::leaf(&LeafSpec::default(), &inter);
    let report = run(&leaf.key_pem(), &format!("{}{}", leaf.pem(), inter.pem()));
    let BundleError::Expired { cert, is_leaf, .. } = &only(&report, "expired").error else { unreachable!() };
    assert_eq!((cert.position, *is_leaf), (2, false));
    assert!(report.problems[0].error.to_string().contains("intermediate"));
}

// --- reading the files -----------------------------------------------------------------

#[test]
fn der_files_are_explained_with_the_conversion_command() {
    let pki = Pki::new(1, Alg::EcP256);
    let report = run_with(pki.key_pem().as_bytes(), &[("server.der", &pki.leaf.der())], &opts());
    let p = only(&report, "der_encoded");
    assert!(p.error.to_string().contains("openssl x509 -inform der -in server.der -out server.der.pem"));

    let key_der = pki.leaf.key.serialize_der();
    let report = run_with(&key_der, &[("server.crt", pki.bundle().as_bytes())], &opts());
    let p = only(&report, "der_encoded");
    assert!(p.error.to_string().contains("openssl pkey -inform der -in key.pem -out key.pem.pem"));
}

#[test]
fn container_formats_are_explained() {
    let pki = Pki::new(1, Alg::EcP256);
    let p7 = support::pem("PKCS7", b"\x30\x03\x02\x01\x01");
    let report = run(&pki.key_pem(), &p7);
    assert!(only(&report, "pkcs7").error.to_string().contains("openssl pkcs7 -print_certs -in server.crt"));

    // PFX: SEQUENCE { INTEGER 3, SEQUENCE { OID data, [0] ... } }
    let pfx = [
        0x30, 0x13, 0x02, 0x01, 0x03, 0x30, 0x0e, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07,
        0x01, 0xa0, 0x01, 0x00,
    ];
    let report = run_with(&pfx, &[("server.pfx", &pfx)], &opts());
    assert_eq!(codes(&report), vec!["pkcs12", "pkcs12"]);
}

#[test]
fn encrypted_keys_are_refused_with_a_way_out() {
    let pki = Pki::new(1, Alg::EcP256);
    let pkcs8 = support::pem("ENCRYPTED PRIVATE KEY", b"\x30\x03\x02\x01\x00 opaque");
    let report = run(&pkcs8, &pki.bundle());
    assert!(only(&report, "encrypted_key").error.to_string().contains("openssl pkey -in key.pem"));

    let legacy = support::traditional_key_pem(&pki.leaf.key).replacen(
        "-----\n",
        "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n",
        1,
    );
    only(&run(&legacy, &pki.bundle()), "encrypted_key");
}

#[test]
fn two_keys_in_the_key_file() {
    let pki = Pki::new(1, Alg::EcP256);
    let other = support::key(Alg::EcP256);
    let report = run(&format!("{}{}", pki.key_pem(), other.serialize_pem()), &pki.bundle());
    let BundleError::SeveralKeys { count, .. } = &only(&report, "several_keys").error else { unreachable!() };
    assert_eq!(*count, 2);
}

#[test]
fn swapped_key_and_bundle() {
    let pki = Pki::new(1, Alg::EcP256);
    let report = run(&pki.bundle(), &pki.key_pem());
    let BundleError::CertificateAsKey { subject, .. } = &only(&report, "certificate_as_key").error else {
        unreachable!()
    };
    assert!(subject.ends_with("CN=*.gradient.example.com"));
    assert!(only(&report, "no_certificate").error.to_string().contains("swap"));
    only(&report, "key_in_bundle");
}

#[test]
fn a_key_pasted_into_the_bundle() {
    let pki = Pki::new(1, Alg::EcP256);
    let combined = format!("{}{}", pki.key_pem(), pki.bundle());
    let report = run(&pki.key_pem(), &combined);
    let p = only(&report, "key_in_bundle");
    assert_eq!(p.severity, Severity::Warning);
    assert!(matches!(p.error, BundleError::KeyInBundle { line: 1, same_as_key: Some(true), .. }));
    assert_eq!(report.fixed_bundle.as_deref(), Some(pki.bundle().as_str()));

    let stranger = format!("{}{}", pki.bundle(), support::key(Alg::EcP256).serialize_pem());
    let report = run(&pki.key_pem(), &stranger);
    assert_eq!(only(&report, "key_in_bundle").severity, Severity::Error);
}

#[test]
fn certificates_in_the_key_file_are_noted() {
    let pki = Pki::new(1, Alg::EcP256);
    let report = run(&format!("{}{}", pki.key_pem(), pki.bundle()), &pki.bundle());
    let p = only(&report, "certificate_in_key_file");
    assert_eq!(p.severity, Severity::Info);
    assert!(report.is_usable());
}

#[test]
fn empty_and_keyless_files() {
    let pki = Pki::new(1, Alg::EcP256);
    let report = run("\r\n  \n", &pki.bundle());
    only(&report, "empty_file");
    let report = run("just some notes\n", &pki.bundle());
    assert!(only(&report, "no_key").error.to_string().contains("no PEM block"));
    let report = run(&pki.key_pem(), "");
    only(&report, "empty_file");
    let report = run(&pki.key_pem(), "not a certificate\n");
    only(&report, "no_certificate");
    let pubkey = support::pem("PUBLIC KEY", b"\x30\x00");
    let report = run(&pubkey, &pki.bundle());
    assert!(only(&report, "no_key").error.to_string().contains("PUBLIC KEY (line 1)"));
}

#[test]
fn damaged_blocks_are_located() {
    let pki = Pki::new(1, Alg::EcP256);
    let bundle = pki.bundle();
    let cut = bundle.find("-----END CERTIFICATE-----").unwrap();
    let truncated = format!("{}{}", &bundle[..cut], pki.intermediates[0].pem());
    let report = run(&pki.key_pem(), &truncated);
    let BundleError::BadPem { line, .. } = &only(&report, "bad_pem").error else { unreachable!() };
    assert_eq!(*line, 1);

    let not_der = format!("{}{}", support::pem("CERTIFICATE", b"hello, this is not DER"), pki.bundle());
    let report = run(&pki.key_pem(), &not_der);
    let BundleError::BadCertificate { position, line, .. } = &only(&report, "bad_certificate").error else {
        unreachable!()
    };
    assert_eq!((*position, *line), (1, 1));
}

#[test]
fn unreadable_keys() {
    let pki = Pki::new(1, Alg::EcP256);
    let ssh = support::pem("OPENSSH PRIVATE KEY", b"openssh-key-v1\0");
    assert!(only(&run(&ssh, &pki.bundle()), "bad_key").error.to_string().contains("ssh-keygen"));
    let junk = support::pem("PRIVATE KEY", b"\x30\x03\x02\x01\x00");
    only(&run(&junk, &pki.bundle()), "bad_key");
}

#[test]
fn stray_blocks_are_warned_about_and_ec_parameters_in_key_files_ignored() {
    let pki = Pki::new(1, Alg::EcP256);
    let csr = support::pem("CERTIFICATE REQUEST", b"\x30\x00");
    let report = run(&pki.key_pem(), &format!("{}{csr}", pki.bundle()));
    let p = only(&report, "unexpected_block");
    assert_eq!(p.severity, Severity::Warning);
    assert!(p.error.to_string().contains("CSR"));

    let params = support::pem("EC PARAMETERS", b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07");
    let key = format!("{params}{}", support::traditional_key_pem(&pki.leaf.key));
    assert_clean(&run(&key, &pki.bundle()));
}

#[test]
fn no_bundle_at_all() {
    let pki = Pki::new(1, Alg::EcP256);
    let report = check(Input { label: "key.pem", bytes: pki.key_pem().as_bytes() }, &[], &opts());
    only(&report, "no_certificate");
}

#[test]
fn leaf_info_reads_a_stored_full_chain() {
    let pki = Pki::new(1, Alg::EcP256);
    let info = leaf_info(pki.bundle().as_bytes()).unwrap();
    assert_eq!(info.serial, run(&pki.key_pem(), &pki.bundle()).leaf.unwrap().serial);
}

// --- framing noise ---------------------------------------------------------------------

#[derive(Debug)]
struct Noise {
    crlf: bool,
    bom: bool,
    blank_lines: usize,
    junk: Vec<String>,
    trailing_newline: bool,
    indent: bool,
}

fn add_noise(pem: &str, noise: &Noise) -> Vec<u8> {
    let mut out = String::new();
    let mut junk = noise.junk.iter().cycle();
    for line in pem.lines() {
        if line.starts_with("-----BEGIN") {
            if let Some(j) = junk.next() {
                out.push_str(j);
                out.push('\n');
            }
            out.push_str(&"\n".repeat(noise.blank_lines));
        } else if noise.indent && !line.starts_with("-----") {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
    if let Some(j) = noise.junk.last() {
        out.push_str(j);
        out.push('\n');
    }
    if !noise.trailing_newline {
        while out.ends_with('\n') {
            out.pop();
        }
    }
    if noise.crlf {
        out = out.replace('\n', "\r\n");
    }
    let mut bytes = Vec::new();
    if noise.bom {
        bytes.extend(b"\xef\xbb\xbf");
    }
    bytes.extend(out.as_bytes());
    bytes
}

fn noise() -> impl Strategy<Value = Noise> {
    (
        any::<bool>(),
        any::<bool>(),
        0..3usize,
        prop::collection::vec("[a-zA-Z0-9=:/.,_ ]{0,40}", 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(crlf, bom, blank_lines, junk, trailing_newline, indent)| Noise {
            crlf,
            bom,
            blank_lines,
            junk,
            trailing_newline,
            indent,
        })
}

struct Fixture {
    key: String,
    bundle: String,
    bad_order: String,
    verdicts: [(bool, Vec<&'static str>); 2],
}

fn fixture() -> &'static Fixture {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pki = Pki::new(2, Alg::EcP256);
        let key = support::traditional_key_pem(&pki.leaf.key);
        let bundle = format!("{}{}", pki.bundle(), pki.root.pem());
        let bad_order =
            format!("{}{}{}", pki.intermediates[1].pem(), pki.leaf.pem(), pki.intermediates[0].pem());
        let verdict = |b: &str| {
            let r = run(&key, b);
            (r.is_usable(), codes(&r))
        };
        let verdicts = [verdict(&bundle), verdict(&bad_order)];
        Fixture { key, bundle, bad_order, verdicts }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn framing_noise_never_changes_the_verdict(key_noise in noise(), bundle_noise in noise()) {
        let f = fixture();
        for (bundle, verdict) in [(&f.bundle, &f.verdicts[0]), (&f.bad_order, &f.verdicts[1])] {
            let key = add_noise(&f.key, &key_noise);
            let bundle = add_noise(bundle, &bundle_noise);
            let report = run_with(&key, &[("server.crt", &bundle)], &opts());
            prop_assert_eq!(&(report.is_usable(), codes(&report)), verdict);
        }
    }

    #[test]
    fn damaged_input_never_panics(cut in 0usize..4000, flip in 0usize..4000, byte in any::<u8>()) {
        let f = fixture();
        let mut bundle = f.bundle.as_bytes().to_vec();
        let at = flip % bundle.len();
        bundle[at] = byte;
        bundle.truncate(cut.max(1).min(bundle.len()));
        let mut key = f.key.as_bytes().to_vec();
        let k = flip % key.len();
        key[k] = byte;
        let _ = run_with(&key, &[("server.crt", &bundle)], &opts());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = run_with(&bytes, &[("server.crt", &bytes)], &opts());
    }
}

#[test]
fn the_fixture_verdicts_are_what_the_noise_test_assumes() {
    let f = fixture();
    assert_eq!(f.verdicts[0], (true, vec!["root_in_bundle"]));
    assert_eq!(f.verdicts[1], (false, vec!["chain_out_of_order"]));
}

// --- fuzz corpus -----------------------------------------------------------------------

/// Replays the seed corpus of the fuzz target, so CI runs it without a nightly toolchain.
#[test]
fn fuzz_corpus_replays_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/bundle");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/bundle exists") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let (key, bundle) = split_fuzz_input(&bytes);
        let _ =
            check(Input { label: "key", bytes: key }, &[Input { label: "bundle", bytes: bundle }], &opts());
        count += 1;
    }
    assert!(count >= 3, "the corpus has only {count} files");
}

/// How the fuzz target splits its input: key and bundle around the first NUL byte, or the
/// same bytes for both.
pub(crate) fn split_fuzz_input(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == 0) {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, bytes),
    }
}

// --- path validation (what TLS clients do) -----------------------------------------------

/// Path validation alone, without the own checks: what rustls-webpki says of a bundle.
fn path_refusal(bundle: &str, opts: &CheckOptions) -> Option<webpki::Error> {
    let mut problems = Vec::new();
    let raw = parse::read_bundles(&[Input { label: "server.crt", bytes: bundle.as_bytes() }], &mut problems);
    let certs: Vec<chain::Cert<'_>> = raw
        .certs
        .iter()
        .map(|r| {
            let (_, x) = X509Certificate::from_der(&r.der).expect("fixture");
            let at = CertRef {
                file: "server.crt".into(),
                position: r.position,
                subject: String::new(),
                serial: String::new(),
            };
            chain::Cert::new(at, r.file, &r.der, x)
        })
        .collect();
    let sigs = chain::Signatures::new(&certs);
    let analysis = chain::analyse(&certs, &sigs, None, &["server.crt"], &[], &mut problems).expect("a leaf");
    path::refusal(&certs, &analysis, opts)
}

fn root_opts(root: &support::Node) -> CheckOptions {
    let mut o = opts();
    o.roots = Some(vec![CertificateDer::from(root.der())]);
    o
}

/// root → one intermediate edited by `edit` → healthy leaf; the bundle is leaf + intermediate.
fn one_below(edit: impl FnOnce(&mut rcgen::CertificateParams)) -> (support::Node, String, String) {
    let root = support::root("Wildcert Test Root", Alg::EcP256);
    let mid = support::intermediate_with("Wildcert Test Intermediate 1", Alg::EcP256, &root, edit);
    let leaf = support::leaf(&LeafSpec::default(), &mid);
    (root, format!("{}{}", leaf.pem(), mid.pem()), leaf.key_pem())
}

#[test]
fn path_validation_is_the_judge_and_says_so_when_own_checks_passed() {
    use rcgen::{GeneralSubtree, NameConstraints};
    let (root, bundle, key) = one_below(|p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("example.org".into())],
            excluded_subtrees: vec![],
        })
    });
    assert_eq!(path_refusal(&bundle, &root_opts(&root)), Some(webpki::Error::NameConstraintViolation));
    // Without trust anchors (issued chains, re-imported files, pairs from the bucket) the
    // path ends at the bundle's top certificate, whose constraints still bind the leaf.
    for o in [root_opts(&root), opts()] {
        let report = run_with(key.as_bytes(), &[("server.crt", bundle.as_bytes())], &o);
        let p = only(&report, "name_constraint_violation");
        assert!(matches!(&p.error, BundleError::RefusedByClients { finding, .. }
            if matches!(**finding, BundleError::NameConstraintViolation { .. })));
        assert_eq!(p.error.certificate().unwrap().position, 2);
        assert!(p.error.to_string().contains("the clients' verdict wins"), "{}", p.error);
        assert!(!report.is_usable());
    }
}

#[test]
fn path_validation_alone_finds_path_length_and_issuer_eku_but_not_key_usage() {
    use rcgen::{BasicConstraints, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose};
    let root = support::root("Wildcert Test Root", Alg::EcP256);
    let upper = support::intermediate_with("Wildcert Test Intermediate 1", Alg::EcP256, &root, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0))
    });
    let lower = support::intermediate("Wildcert Test Intermediate 2", Alg::EcP256, &upper);
    let leaf = support::leaf(&LeafSpec::default(), &lower);
    let bundle = format!("{}{}{}", leaf.pem(), lower.pem(), upper.pem());
    assert_eq!(path_refusal(&bundle, &root_opts(&root)), Some(webpki::Error::PathLenConstraintViolated));

    let (root, bundle, _) = one_below(|p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth]);
    assert!(matches!(
        path_refusal(&bundle, &root_opts(&root)),
        Some(webpki::Error::RequiredEkuNotFoundContext(_))
    ));

    // rustls-webpki ignores key usage; the own check is what refuses this one.
    let (root, bundle, key) = one_below(|p| p.key_usages = vec![KeyUsagePurpose::DigitalSignature]);
    assert_eq!(path_refusal(&bundle, &root_opts(&root)), None);
    let report = run_with(key.as_bytes(), &[("server.crt", bundle.as_bytes())], &root_opts(&root));
    assert_eq!(codes(&report), ["issuer_not_cert_signer"]);
}

#[test]
fn without_trust_anchors_known_cas_anchor_the_path_and_a_private_top_stays_acceptable() {
    let pki = Pki::new(1, Alg::EcP256);
    let other = Pki::new(1, Alg::EcP256);
    for known in
        [vec![], vec![CertificateDer::from(pki.root.der())], vec![CertificateDer::from(other.root.der())]]
    {
        let mut o = opts();
        o.known_cas = known;
        assert_eq!(path_refusal(&pki.bundle(), &o), None);
        assert_clean(&run_with(pki.key_pem().as_bytes(), &[("server.crt", pki.bundle().as_bytes())], &o));
    }
    // Anchored at the configured CA, the intermediate itself is validated too.
    let now = support::now();
    let root = support::root("Wildcert Test Root", Alg::EcP256);
    let mid = support::intermediate_with("Wildcert Test Intermediate 1", Alg::EcP256, &root, |p| {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        p.not_before = now - Duration::days(400);
        p.not_after = now - Duration::days(1);
    });
    let leaf = support::leaf(&LeafSpec::default(), &mid);
    let mut o = opts();
    o.known_cas = vec![CertificateDer::from(root.der())];
    assert!(matches!(
        path_refusal(&format!("{}{}", leaf.pem(), mid.pem()), &o),
        Some(webpki::Error::CertExpired { .. })
    ));
}

#[test]
fn a_name_clients_would_not_accept_is_refused_even_when_covered_by_own_rules() {
    let pki = Pki::new(1, Alg::EcP256);
    let mut o = roots(&[&pki]);
    o.names = vec!["gradient.example.com".into()];
    assert_eq!(path_refusal(&pki.bundle(), &o), None);
    o.names = vec!["other.example.com".into()];
    assert!(matches!(path_refusal(&pki.bundle(), &o), Some(webpki::Error::CertNotValidForName(_))));
    // The own coverage check already names it: reported once.
    let report = run_with(pki.key_pem().as_bytes(), &[("server.crt", pki.bundle().as_bytes())], &o);
    assert_eq!(codes(&report), ["name_not_covered"]);
}

#[test]
fn a_root_the_own_check_links_by_signature_but_clients_cannot_find_is_overruled() {
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer};
    let ca = |value: DnValue| {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, value);
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p
    };
    // One key, one name, two encodings: the root says PrintableString, the leaf's issuer
    // field UTF8String.
    let key = support::key(Alg::EcP256);
    let printable = rcgen::string::PrintableString::try_from("Wildcert Test Root").unwrap();
    let root = ca(DnValue::PrintableString(printable)).self_signed(&key).unwrap();
    let utf8 = ca(DnValue::Utf8String("Wildcert Test Root".into()));
    let leaf_key = support::key(Alg::EcP256);
    let leaf = CertificateParams::new(vec!["gradient.example.com".into()])
        .unwrap()
        .signed_by(&leaf_key, &Issuer::from_params(&utf8, &key))
        .unwrap();
    let mut o = opts();
    o.roots = Some(vec![root.der().clone()]);
    let report = run_with(leaf_key.serialize_pem().as_bytes(), &[("server.crt", leaf.pem().as_bytes())], &o);
    let p = only(&report, "clients_refuse");
    assert!(matches!(p.error, BundleError::RefusedByClients { .. }), "{:#?}", report.problems);
    let text = p.error.to_string();
    assert!(text.starts_with("server.crt: certificate 1 ("), "{text}");
    assert!(text.contains("is signed by the trusted roots: certificate 1 (CN=Wildcert Test Root"), "{text}");
    assert!(text.contains("byte for byte"), "{text}");
    assert!(text.contains("although wildcert's own checks passed it; the clients' verdict wins"), "{text}");
    assert!(!report.is_usable());
}

#[test]
fn an_unknown_critical_extension_on_an_intermediate_is_named() {
    let (root, bundle, key) = one_below(|p| {
        let mut ext =
            rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![0x05, 0x00]);
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
    });
    assert_eq!(path_refusal(&bundle, &root_opts(&root)), Some(webpki::Error::UnsupportedCriticalExtension));
    let report = run_with(key.as_bytes(), &[("server.crt", bundle.as_bytes())], &root_opts(&root));
    let p = only(&report, "clients_refuse");
    assert_eq!(p.error.certificate().unwrap().position, 2);
    assert!(
        p.error.to_string().contains("carries the critical extension 1.3.6.1.4.1.55555.1"),
        "{}",
        p.error
    );
}
