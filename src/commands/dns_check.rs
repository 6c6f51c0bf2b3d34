//! `wildcert dns check`: a pre-flight doctor for DNS-01. For each certificate: where the
//! challenge records go (CNAME chain, zone, authoritative servers), whether every server
//! answers, a probe TXT written, seen everywhere and removed, whether CAA allows the CA, the
//! zone's negative-caching TTL, and the clock against the CA's.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hickory_proto::rr::RecordType;
use instant_acme::{BodyWrapper, HttpClient};

use crate::commands::error::CommandError;
use wildcert::acme::http::AcmeHttp;
use wildcert::challenge::{ChallengeRecord, Challenger};
use wildcert::config::{Config, Source, directory_url};
use wildcert::dns::caa::{self, CaaVerdict};
use wildcert::dns::query::query;
use wildcert::dns::zone;
use wildcert::exit::Status;
use wildcert::names;

/// Clock difference above which TSIG (fudge 300 s) and SigV4 (5 min) start failing.
const SKEW_WARN: Duration = Duration::from_secs(60);

struct Report {
    failures: usize,
    warnings: usize,
}

impl Report {
    fn ok(&self, text: impl AsRef<str>) {
        println!("  ok    {}", text.as_ref());
    }
    fn warn(&mut self, text: impl AsRef<str>) {
        self.warnings += 1;
        println!("  warn  {}", text.as_ref());
    }
    fn fail(&mut self, text: impl AsRef<str>) {
        self.failures += 1;
        println!("  FAIL  {}", text.as_ref());
    }
}

pub async fn run(config: Config, cert: Option<String>) -> Result<Status, CommandError> {
    let mut report = Report { failures: 0, warnings: 0 };
    let (identities, clock) = ca_facts(&config).await;
    println!("CA {}", directory_url(&config.acme.directory));
    match clock {
        Ok(skew) if skew.abs() > SKEW_WARN.as_secs_f64() => report.fail(format!(
            "local clock is {skew:+.0}s off the CA's; TSIG and S3 signatures fail beyond a few minutes: fix NTP"
        )),
        Ok(skew) => report.ok(format!("clock within {:.0}s of the CA's", skew.abs().ceil())),
        Err(e) => report.fail(format!("cannot reach the CA: {e}")),
    }

    for cert in config.select(cert.as_deref())?.into_iter().filter(|c| c.source == Source::Acme) {
        let section = config.dns_for(cert).expect("validated");
        println!("\ncertificate {} via [dns.{}] ({})", cert.name, section.name, section.code);
        let challenger = match Challenger::new(&config, section, &cert.name).await {
            Ok(c) => c,
            Err(e) => {
                report.fail(e.to_string());
                continue;
            }
        };
        let mut seen = Vec::new();
        for domain in &cert.domains {
            let fqdn = names::challenge_fqdn(domain);
            if seen.contains(&fqdn) {
                continue;
            }
            seen.push(fqdn.clone());
            check_challenge_name(&challenger, &fqdn, &mut report).await;
        }
        for domain in &cert.domains {
            let Ok(name) = zone::fqdn(names::challenge_base(domain)) else { continue };
            match caa::lookup(challenger.resolvers(), &name).await {
                Ok((at, props)) => match caa::evaluate(at.as_deref(), &props, domain.starts_with("*."), &identities) {
                    CaaVerdict::NoRecords => report.ok(format!("{domain}: no CAA records (any CA may issue)")),
                    CaaVerdict::Allowed { at } => report.ok(format!("{domain}: CAA at {at} allows this CA")),
                    CaaVerdict::Forbidden { at, allowed } => report.fail(format!(
                        "{domain}: CAA at {at} allows only [{}], not this CA ({}); add `{} 0 {} \"{}\"`",
                        allowed.join(", "),
                        identities.join(", "),
                        at,
                        if domain.starts_with("*.") { "CAA issuewild" } else { "CAA issue" },
                        identities.first().map(String::as_str).unwrap_or("ca.example")
                    )),
                    CaaVerdict::Unknown { at, allowed } => report.warn(format!(
                        "{domain}: CAA at {at} allows [{}]; this CA's directory names no CAA identity to compare",
                        allowed.join(", ")
                    )),
                },
                Err(e) => report.warn(format!("{domain}: CAA lookup failed: {e}")),
            }
        }
    }
    println!("\n{} failure(s), {} warning(s)", report.failures, report.warnings);
    Ok(if report.failures == 0 { Status::Ok } else { Status::Failed })
}

async fn check_challenge_name(challenger: &Challenger, fqdn: &str, report: &mut Report) {
    let target = match challenger.locate(fqdn).await {
        Ok(t) => t,
        Err(e) => return report.fail(format!("{fqdn}: {e}")),
    };
    if target.chain.is_empty() {
        report.ok(format!("{fqdn}: no CNAME; the TXT goes there"));
    } else {
        let chain: Vec<String> = target.chain.iter().map(|n| n.to_string()).collect();
        report.ok(format!("{fqdn}: delegated by CNAME -> {}", chain.join(" -> ")));
    }
    report.ok(format!("zone {} (found by its SOA)", target.zone));
    match target.negative_ttl {
        Some(ttl) if ttl > 300 => report.warn(format!(
            "negative-caching TTL {ttl}s: a resolver that asked too early remembers \"no record\" that long"
        )),
        Some(ttl) => report.ok(format!("negative-caching TTL {ttl}s")),
        None => {}
    }
    if target.servers.is_empty() {
        report.fail(format!(
            "no authoritative server of {} has a known address; set [propagation] nameservers",
            target.zone
        ));
    }
    for server in &target.servers {
        let started = Instant::now();
        match query(server.addr, &target.zone, RecordType::SOA, Duration::from_secs(3)).await {
            Ok(a) if a.authoritative => {
                report.ok(format!("{server} answers authoritatively ({} ms)", started.elapsed().as_millis()))
            }
            Ok(a) => report.warn(format!("{server} answers but not authoritatively ({})", a.code)),
            Err(e) => report.warn(format!(
                "{server}: {e} (skipped during orders; list real servers in [propagation] nameservers)"
            )),
        }
    }
    if challenger.provider().interactive() {
        // Asking a person to type a throw-away record checks the person, not the DNS.
        return report
            .warn("probe TXT skipped: a person creates this adapter's records when `wildcert issue` runs");
    }
    // A made-up key authorization, so that RAW-mode adapters (which compute the TXT value
    // themselves) publish exactly the value checked for.
    let key_authorization = format!("wildcert-dns-check.{:016x}", rand::random::<u64>());
    let value = {
        use base64::Engine;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    };
    let probe = ChallengeRecord {
        identifier: format!("probe for {fqdn}"),
        fqdn: fqdn.to_string(),
        value,
        raw: Some(wildcert_dns_api::RawChallenge {
            domain: fqdn.trim_start_matches("_acme-challenge.").trim_end_matches('.').to_string(),
            token: "wildcert-dns-check".into(),
            key_authorization: wildcert_dns_api::Secret::new(key_authorization),
        }),
    };
    let started = Instant::now();
    let result = challenger.present(std::slice::from_ref(&probe)).await;
    let cleanup = challenger.cleanup().await;
    match result {
        Ok(Some(p)) => report.ok(format!(
            "probe TXT written at {} and served by {} in {} ms",
            target.target,
            p.seen_on.join(", "),
            started.elapsed().as_millis()
        )),
        Ok(None) => report.warn("probe TXT written; propagation not checked ([propagation] check = false)"),
        Err(e) => report.fail(format!("probe TXT: {e}")),
    }
    if cleanup.is_empty() {
        report.ok("probe TXT removed");
    } else {
        for e in cleanup {
            report.fail(format!("probe TXT not removed: {e}"));
        }
    }
}

/// The CA's CAA identities (directory `meta.caaIdentities`, else well-known ones) and the
/// clock difference to its `Date` header, in seconds (positive: we are ahead).
async fn ca_facts(config: &Config) -> (Vec<String>, Result<f64, String>) {
    let url = directory_url(&config.acme.directory).to_string();
    let mut identities = caa::known_identities(&url);
    let http = match AcmeHttp::new(config.acme.ca_certificates.as_deref(), Duration::from_secs(10)) {
        Ok(h) => h.allowing_http(config.acme.allow_http),
        Err(e) => return (identities, Err(e)),
    };
    let request = match http::Request::get(&url).body(BodyWrapper::<Bytes>::default()) {
        Ok(r) => r,
        Err(e) => return (identities, Err(e.to_string())),
    };
    let mut response = match HttpClient::request(&http, request).await {
        Ok(r) => r,
        Err(e) => return (identities, Err(wildcert::acme::error_chain(&e))),
    };
    let date =
        response.parts.headers.get(http::header::DATE).and_then(|d| d.to_str().ok()).and_then(|d| {
            time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc2822).ok()
        });
    if let Ok(body) = response.body.into_bytes().await
        && let Ok(dir) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(ids) = dir["meta"]["caaIdentities"].as_array()
    {
        identities = ids.iter().filter_map(|v| v.as_str().map(String::from)).collect();
    }
    let skew = match date {
        Some(d) => Ok((time::OffsetDateTime::now_utc() - d).as_seconds_f64()),
        None => Err("the CA sent no Date header".into()),
    };
    (identities, skew)
}
