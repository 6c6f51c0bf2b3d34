//! Key and certificate pairs made at test time for the storage and daemon tests: a leaf from
//! a throw-away root and intermediate, as wildcert's bundle checks accept it.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use wildcert::bundle::{CheckOptions, CheckedPair, Input, check};

/// A leaf for `names` with the key `key`, valid from `days_ago` days ago for `days_left`
/// more days, signed by an intermediate under a root (named `{ca} intermediate` and
/// `{ca} root`); the bundle is the leaf and the intermediate, checked as an import would be.
pub fn checked_pair(ca: &str, names: &[&str], key: KeyPair, days_ago: i64, days_left: i64) -> CheckedPair {
    let ca_params = |name: String| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p
    };
    let root = Issuer::new(ca_params(format!("{ca} root")), KeyPair::generate().unwrap());
    let mid_key = KeyPair::generate().unwrap();
    let mid_params = ca_params(format!("{ca} intermediate"));
    let mid_cert = mid_params.signed_by(&mid_key, &root).unwrap();
    let mid = Issuer::new(mid_params, mid_key);
    let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    leaf.not_before = now - time::Duration::days(days_ago);
    leaf.not_after = now + time::Duration::days(days_left);
    let cert = leaf.signed_by(&key, &mid).unwrap();
    let bundle = format!("{}{}", cert.pem(), mid_cert.pem());
    let key_pem = key.serialize_pem();
    check(
        Input { label: "key", bytes: key_pem.as_bytes() },
        &[Input { label: "bundle", bytes: bundle.as_bytes() }],
        &CheckOptions::new(vec![]),
    )
    .into_result()
    .unwrap()
}
