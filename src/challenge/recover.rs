//! Removing challenge records an earlier run left: after a crash, a kill or a failed
//! cleanup (the local journal), or left by a holder of the renewal lease that died (the
//! bucket's copy).
//!
//! A journal is untrusted input, the bucket's copy above all: whoever can write the bucket
//! could name any TXT record (an SPF record at the apex, say) for every host to delete with
//! its DNS credentials. An entry is acted on only when it names the `_acme-challenge` name of
//! one of that certificate's configured domains (or the CNAME target that name resolves to
//! now, when the entry says it followed a delegation) and its value is shaped like a key
//! authorization digest. Anything else is logged with the reason and left alone.

use crate::config::{CertificateConfig, Config};
use crate::dns::provider::Provider;
use crate::names;
use crate::store::Storage;
use crate::store::lock::LocalLock;

use super::Challenger;
use super::crash_journal::{self as journal, JournalEntry};
use wildcert_dns_api::DnsProvider;

/// Whether `value` is shaped like a DNS-01 TXT value: the base64url encoding (no padding) of
/// a SHA-256 digest, exactly 43 characters of `A-Z a-z 0-9 - _`.
pub fn is_key_authorization_digest(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Lower case with exactly one trailing dot.
fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

/// The `_acme-challenge` names a certificate's domains are proven at.
pub fn challenge_names(cert: &CertificateConfig) -> Vec<String> {
    cert.domains.iter().map(|d| absolute(&names::challenge_fqdn(d))).collect()
}

/// What an entry that passed `check_shape` still needs: nothing, or confirming that its
/// requested name's CNAME chain ends at its `fqdn` today.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Direct,
    Delegated { requested: String },
}

/// The checks that need no DNS: table, value, name, zone and RAW fields. The error says why
/// the entry is refused.
pub(super) fn check_shape(
    entry: &JournalEntry,
    cert: &CertificateConfig,
    config: &Config,
) -> Result<Shape, String> {
    if !config.dns.contains_key(&entry.dns) {
        return Err(format!("it names [dns.{}], which is not configured", entry.dns));
    }
    if !is_key_authorization_digest(&entry.value) {
        return Err(
            "its value is not shaped like a key authorization digest (43 base64url characters)".into()
        );
    }
    if entry.fqdn.is_empty() || entry.fqdn.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("its name is not a DNS name".into());
    }
    let allowed = challenge_names(cert);
    let fqdn = absolute(&entry.fqdn);
    let shape = match &entry.requested {
        None if allowed.contains(&fqdn) => Shape::Direct,
        None => {
            return Err(format!(
                "{fqdn} is not the _acme-challenge name of a domain of certificate `{}` ({})",
                cert.name,
                allowed.join(", ")
            ));
        }
        Some(requested) => {
            let requested = absolute(requested);
            if !allowed.contains(&requested) {
                return Err(format!(
                    "it was recorded for {requested}, which is not the _acme-challenge name of a domain of certificate `{}` ({})",
                    cert.name,
                    allowed.join(", ")
                ));
            }
            if requested == fqdn { Shape::Direct } else { Shape::Delegated { requested } }
        }
    };
    if let Some(zone) = &entry.zone {
        let zone = absolute(zone);
        if fqdn != zone && !fqdn.ends_with(&format!(".{zone}")) {
            return Err(format!("{fqdn} is not inside the zone {zone} it names"));
        }
    }
    if let Some(domain) = &entry.raw_domain {
        let bases: Vec<String> = cert.domains.iter().map(|d| absolute(names::challenge_base(d))).collect();
        if !bases.contains(&absolute(domain)) {
            return Err(format!("its domain {domain} is not one of certificate `{}`", cert.name));
        }
    }
    if let Some(token) = &entry.raw_token {
        let ok = (16..=256).contains(&token.len())
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err("its token is not a base64url ACME token".into());
        }
    }
    Ok(shape)
}

/// Entries looked at per journal and pass: an order writes one per domain, so a journal far
/// longer than that was not written by wildcert, and must not keep a host busy.
const MAX_ENTRIES: usize = 64;
/// The largest bucket journal read.
const MAX_REMOTE_BYTES: usize = 256 * 1024;

/// Where each configured challenge name's CNAME chain ends now, asked once per pass.
type Targets = std::collections::HashMap<String, Result<String, String>>;

/// `check_shape`, then for a delegated entry: the configured name must resolve to the
/// recorded target now.
async fn check(
    entry: &JournalEntry,
    cert: &CertificateConfig,
    config: &Config,
    targets: &mut Targets,
) -> Result<(), String> {
    let Shape::Delegated { requested } = check_shape(entry, cert, config)? else { return Ok(()) };
    if !targets.contains_key(&requested) {
        let section = config.dns.get(&entry.dns).expect("checked by check_shape");
        let target = match Challenger::new(config, section, &cert.name).await {
            Ok(challenger) => challenger
                .locate(&requested)
                .await
                .map(|t| absolute(&t.target.to_ascii()))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        targets.insert(requested.clone(), target);
    }
    match &targets[&requested] {
        Err(e) => Err(format!("cannot confirm the CNAME target of {requested}: {e}")),
        Ok(target) if *target != absolute(&entry.fqdn) => {
            Err(format!("it was recorded as the CNAME target of {requested}, which resolves to {target} now"))
        }
        Ok(_) => Ok(()),
    }
}

/// Removes each acceptable entry through its `[dns]` table's shared adapter. Returns the
/// entries removed; refused and failing ones are logged and stay.
async fn remove_entries(
    config: &Config,
    cert: &CertificateConfig,
    entries: Vec<JournalEntry>,
) -> Vec<JournalEntry> {
    if entries.len() > MAX_ENTRIES {
        tracing::warn!(
            cert = %cert.name,
            entries = entries.len(),
            "the challenge journal lists more records than an order writes; looking at the first {MAX_ENTRIES} only"
        );
    }
    let mut removed = Vec::new();
    let mut targets = Targets::new();
    for entry in entries.into_iter().take(MAX_ENTRIES) {
        // Boxed: resolving a delegation nests deep futures inside the renewal's.
        if let Err(reason) = Box::pin(check(&entry, cert, config, &mut targets)).await {
            tracing::warn!(
                cert = %cert.name,
                // Debug: whoever wrote the entry chose these characters.
                dns = ?entry.dns,
                fqdn = ?entry.fqdn,
                value = ?entry.value,
                reason = ?reason,
                "refusing a challenge journal entry: not a record wildcert writes for this certificate; nothing deleted"
            );
            continue;
        }
        let section = config.dns.get(&entry.dns).expect("checked above");
        let provider = match Provider::shared(section) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot clean up a leftover challenge record");
                continue;
            }
        };
        let name = crate::dns::name_lock::lock(&config.storage.state_dir, &entry.fqdn).await;
        let result = provider.cleanup(&entry.txt()).await;
        drop(name);
        match result {
            Ok(()) => {
                tracing::info!(fqdn = %entry.fqdn, "removed a challenge TXT record left by an earlier run");
                removed.push(entry);
            }
            Err(e) => {
                tracing::warn!(fqdn = %entry.fqdn, error = %e, "could not remove a leftover challenge TXT record; will retry");
            }
        }
    }
    removed
}

/// Removes records listed in the bucket's copy of a certificate's challenge journal: left by
/// a holder of the renewal lock that died (call with the lock held). Returns how many.
pub async fn recover_remote(config: &Config, storage: &Storage, cert: &str) -> usize {
    let Some(cert) = config.certificate(cert) else { return 0 };
    let key = journal::remote_key(&cert.name);
    let entries: Vec<JournalEntry> = match storage.get_note(&key).await {
        Ok(Some(bytes)) if bytes.len() > MAX_REMOTE_BYTES => {
            tracing::warn!(cert = %cert.name, key = %key, bytes = bytes.len(), "the challenge journal in the bucket is far larger than wildcert writes; nothing deleted");
            return 0;
        }
        Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(cert = %cert.name, key = %key, error = %e, "the challenge journal in the bucket is not valid; nothing deleted");
                return 0;
            }
        },
        Ok(None) => return 0,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the challenge journal in the bucket");
            return 0;
        }
    };
    let removed = remove_entries(config, cert, entries).await;
    if !removed.is_empty() {
        tracing::info!(
            removed = removed.len(),
            "removed challenge records a stopped holder of the renewal lock left"
        );
        journal::update_remote(storage, &key, &[], &removed).await;
    }
    removed.len()
}

/// Removes challenge records left behind by an earlier run that crashed, was killed or
/// failed to clean up. Each journal is handled under its certificate's local lock: one that
/// a running process holds (its order is in flight) is skipped. Returns how many records
/// were removed; ones that still fail stay journaled for the next round.
pub async fn recover_leftovers(config: &Config) -> usize {
    let state_dir = &config.storage.state_dir;
    let Ok(files) = std::fs::read_dir(state_dir.join("journal")) else { return 0 };
    let mut removed = 0;
    for file in files.filter_map(|e| e.ok()).map(|e| e.path()) {
        if file.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(name) = file.file_stem().and_then(|s| s.to_str()) else { continue };
        if names::validate_certificate_name(name).is_err() {
            continue;
        }
        let _lock = match LocalLock::try_acquire(state_dir, name) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                tracing::info!(
                    cert = name,
                    "another wildcert process is working on this certificate; leaving its challenge records alone"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(cert = name, error = %e, "cannot take the local lock; leaving the challenge journal for later");
                continue;
            }
        };
        let Some(cert) = config.certificate(name) else {
            tracing::warn!(path = %file.display(), "challenge journal of a certificate that is no longer configured; check the DNS for its records and remove it by hand");
            continue;
        };
        let records = match journal::read(&file) {
            Ok(records) => records,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %file.display(), error = %e, "unreadable challenge journal; remove it by hand after checking the DNS");
                continue;
            }
        };
        let done = remove_entries(config, cert, records).await;
        removed += done.len();
        if let Err(e) = journal::update_local(&file, &[], &done) {
            tracing::warn!(path = %file.display(), error = %e, "could not update the challenge journal");
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";

    fn config() -> Config {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("tsig.secret");
        std::fs::write(&secret, "c2VjcmV0c2VjcmV0c2VjcmV0\n").unwrap();
        let text = format!(
            r#"
[acme]
directory = "https://127.0.0.1:14000/dir"
[storage]
local_dir = "{d}/live"
state_dir = "{d}/state"
[dns.office]
provider = "rfc2136"
nameserver = "127.0.0.1:53"
tsig_key = "wildcert."
tsig_secret_file = "{s}"
[[certificate]]
name = "gradient"
domains = ["*.gradient.example.com", "gradient.example.com", "www.other.example.org"]
"#,
            d = dir.path().display(),
            s = secret.display()
        );
        let path = dir.path().join("wildcert.toml");
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        std::mem::forget(dir);
        config
    }

    fn entry(fqdn: &str, value: &str) -> JournalEntry {
        JournalEntry {
            dns: "office".into(),
            fqdn: fqdn.into(),
            requested: None,
            zone: Some("gradient.example.com.".into()),
            value: value.into(),
            raw_domain: None,
            raw_token: None,
            raw_key_authorization: None,
        }
    }

    #[test]
    fn digests_are_43_base64url_characters() {
        assert!(is_key_authorization_digest(DIGEST));
        assert!(is_key_authorization_digest(
            &"-_aZ09".repeat(7).chars().chain("x".chars()).collect::<String>()
        ));
        for bad in [
            "",
            "v=spf1 include:_spf.example.com ~all",
            &DIGEST[..42],
            &format!("{DIGEST}A"),
            &format!("{}=", &DIGEST[..42]),
            &format!("{}+", &DIGEST[..42]),
            &format!("{}/", &DIGEST[..42]),
            &format!("{} ", &DIGEST[..42]),
        ] {
            assert!(!is_key_authorization_digest(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn only_challenge_names_of_the_certificate_with_digest_values_pass() {
        let config = config();
        let cert = config.certificate("gradient").unwrap();
        let ok = entry("_acme-challenge.gradient.example.com.", DIGEST);
        assert_eq!(check_shape(&ok, cert, &config), Ok(Shape::Direct));
        let no_dot = JournalEntry { fqdn: "_ACME-challenge.Gradient.example.com".into(), ..ok.clone() };
        assert_eq!(check_shape(&no_dot, cert, &config), Ok(Shape::Direct));
        let other_domain =
            JournalEntry { fqdn: "_acme-challenge.www.other.example.org.".into(), zone: None, ..ok.clone() };
        assert_eq!(check_shape(&other_domain, cert, &config), Ok(Shape::Direct));

        let refused = |e: &JournalEntry| check_shape(e, cert, &config).unwrap_err();
        let spf = entry("gradient.example.com.", "v=spf1 include:_spf.example.com ~all");
        assert!(refused(&spf).contains("key authorization digest"), "{}", refused(&spf));
        let apex = entry("gradient.example.com.", DIGEST);
        assert!(refused(&apex).contains("not the _acme-challenge name"), "{}", refused(&apex));
        let elsewhere = entry("_acme-challenge.example.net.", DIGEST);
        assert!(refused(&elsewhere).contains("certificate `gradient`"));
        let deeper = entry("_acme-challenge.x.gradient.example.com.", DIGEST);
        assert!(refused(&deeper).contains("not the _acme-challenge name"));
        let table = JournalEntry { dns: "elsewhere".into(), ..ok.clone() };
        assert!(refused(&table).contains("[dns.elsewhere]"));
        let zone = JournalEntry { zone: Some("example.net.".into()), ..ok.clone() };
        assert!(refused(&zone).contains("not inside the zone"));
        let token = JournalEntry { raw_token: Some("../../etc".into()), ..ok.clone() };
        assert!(refused(&token).contains("token"));
        let domain = JournalEntry { raw_domain: Some("example.net".into()), ..ok.clone() };
        assert!(refused(&domain).contains("example.net"));
    }

    #[test]
    fn a_delegated_entry_must_come_from_a_configured_challenge_name() {
        let config = config();
        let cert = config.certificate("gradient").unwrap();
        let delegated = JournalEntry {
            fqdn: "gradient.acme.delegated.example.net.".into(),
            requested: Some("_acme-challenge.gradient.example.com.".into()),
            zone: Some("delegated.example.net.".into()),
            ..entry("", DIGEST)
        };
        assert_eq!(
            check_shape(&delegated, cert, &config),
            Ok(Shape::Delegated { requested: "_acme-challenge.gradient.example.com.".into() })
        );
        let forged = JournalEntry { requested: Some("_acme-challenge.example.net.".into()), ..delegated };
        assert!(
            check_shape(&forged, cert, &config)
                .unwrap_err()
                .contains("recorded for _acme-challenge.example.net.")
        );
    }
}
