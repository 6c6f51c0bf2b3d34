//! The VegaDNS adapter against a contract fake of VegaDNS-API 1.0, built from its
//! documentation (<https://github.com/shupp/VegaDNS-API>) and lego's client of it
//! (<https://github.com/nrdcg/vegadns>): `POST /1.0/token` with HTTP basic authentication
//! (API key and secret) and `grant_type=client_credentials` answers `{"access_token",
//! "token_type": "bearer", "expires_in"}` (refused: 401); later calls carry `Authorization:
//! Bearer <token>` (a token it does not know: 401); `GET /1.0/domains?search=` lists matching
//! domains `{"status", "total_domains", "domains": [{"domain_id", "domain", "status",
//! "owner_id"}]}`; `GET /1.0/records?domain_id=` the domain's records `{"status",
//! "total_records", "domain", "records": [{"record_id", "name", "value", "record_type",
//! "ttl", ...}]}`; `POST /1.0/records` (form `record_type`, `name`, `value`, `ttl`,
//! `domain_id`) answers 201; `DELETE /1.0/records/{id}` 200, or 404 for an unknown ID.
//! Errors carry `{"status": "error", "message"}`. When given a BIND, the fake applies each TXT
//! change to it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, query_pairs};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_rfc2136::Rfc2136;
use wildcert_dns_vegadns::VegaDns;

const KEY: &str = "vk-7d1e2f90";
const SECRET: &str = "vs-3c9a5b41e6";

#[derive(Default)]
struct State {
    /// (domain_id, domain).
    domains: Vec<(u64, String)>,
    records: Vec<Value>,
    tokens: BTreeSet<String>,
    next: u64,
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({"status": "error", "message": message}))
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let Some(path) = request.path().strip_prefix("/1.0/") else { return error(404, "Not Found") };
    if (request.method.as_str(), path) == ("POST", "token") {
        let expected =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}")));
        let form = query_pairs(&request.body);
        if request.header("authorization") != Some(expected.as_str()) {
            return error(401, "Invalid client credentials");
        }
        if !form.iter().any(|(k, v)| k == "grant_type" && v == "client_credentials") {
            return error(400, "grant_type must be client_credentials");
        }
        state.next += 1;
        let token = format!("at-{}-5f0c", state.next);
        state.tokens.insert(token.clone());
        return Reply::json(200, json!({"access_token": token, "token_type": "bearer", "expires_in": 3600}));
    }
    let bearer = request.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or_default();
    if !state.tokens.contains(bearer) {
        return error(401, "Invalid or expired token");
    }
    match (request.method.as_str(), path) {
        ("GET", "domains") => {
            let search = request.param("search").unwrap_or_default();
            let domains: Vec<Value> = state
                .domains
                .iter()
                .filter(|(_, d)| d.contains(&search))
                .map(|(id, d)| json!({"domain_id": id, "domain": d, "status": "active", "owner_id": 0}))
                .collect();
            Reply::json(200, json!({"status": "ok", "total_domains": domains.len(), "domains": domains}))
        }
        ("GET", "records") => {
            let id: u64 = request.param("domain_id").and_then(|v| v.parse().ok()).unwrap_or(0);
            let Some((_, domain)) = state.domains.iter().find(|(d, _)| *d == id) else {
                return error(404, "Domain not found");
            };
            let records: Vec<Value> =
                state.records.iter().filter(|r| r["domain_id"] == id).cloned().collect();
            Reply::json(
                200,
                json!({"status": "ok", "total_records": records.len(), "domain": {"domain_id": id, "domain": domain, "status": "active", "owner_id": 0}, "records": records}),
            )
        }
        ("POST", "records") => {
            let form: std::collections::BTreeMap<String, String> =
                query_pairs(&request.body).into_iter().collect();
            let id: u64 = form.get("domain_id").and_then(|v| v.parse().ok()).unwrap_or(0);
            let Some((_, domain)) = state.domains.iter().find(|(d, _)| *d == id).cloned() else {
                return error(404, "Domain not found");
            };
            let (Some(name), Some(value), Some(kind), Some(ttl)) = (
                form.get("name"),
                form.get("value"),
                form.get("record_type"),
                form.get("ttl").and_then(|t| t.parse::<u32>().ok()),
            ) else {
                return error(400, "name, value, record_type and ttl are required");
            };
            if !(name == &domain || name.ends_with(&format!(".{domain}"))) {
                return error(400, "Record name must be within the domain");
            }
            state.next += 1;
            state.records.push(json!({"record_id": state.next, "name": name, "value": value, "record_type": kind, "ttl": ttl, "location_id": null, "domain_id": id}));
            let changes =
                if kind == "TXT" { vec![Change::add(format!("{name}."), value)] } else { Vec::new() };
            Reply::json(201, json!({"status": "ok", "record": state.records.last()})).with(changes)
        }
        ("DELETE", p) if p.starts_with("records/") => {
            let id: u64 = p.trim_start_matches("records/").parse().unwrap_or(0);
            let Some(at) = state.records.iter().position(|r| r["record_id"] == id) else {
                return error(404, "Record not found");
            };
            let gone = state.records.remove(at);
            let changes = if gone["record_type"] == "TXT" {
                vec![Change::remove(
                    format!("{}.", gone["name"].as_str().unwrap()),
                    gone["value"].as_str().unwrap(),
                )]
            } else {
                Vec::new()
            };
            Reply::json(200, json!({"status": "ok"})).with(changes)
        }
        _ => error(405, "Method not allowed"),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().enumerate().map(|(i, d)| (i as u64 + 1, d.to_string())).collect(),
        next: 100,
        ..Default::default()
    };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| {
            r["record_type"] == "TXT"
                && format!("{}.", r["name"].as_str().unwrap()).eq_ignore_ascii_case(name)
        })
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect()
}

fn adapter(url: &str, secret: &str) -> VegaDns {
    VegaDns::new(url, &Secret::new(KEY), &Secret::new(secret), Duration::from_secs(5)).unwrap()
}

const NAME: &str = "_acme-challenge.gradient.example.com.";

/// The conformance suite against the contract fake, with records that must survive;
/// refused credentials; busy answers; a token the API forgot is fetched anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vegadns_conformance() {
    let api = fake(&["example.org", "example.com", "sub.example.com"], None).await;
    let others = vec![
        json!({"record_id": 1, "name": "example.com", "value": "198.51.100.4", "record_type": "A", "ttl": 3600, "location_id": null, "domain_id": 2}),
        json!({"record_id": 2, "name": "_acme-challenge.gradient.example.com", "value": "someone-elses-value", "record_type": "TXT", "ttl": 60, "location_id": null, "domain_id": 2}),
    ];
    api.state().records = others.clone();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET),
        fqdn: NAME.to_string(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into(), SECRET.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().records, others, "another record changed");
    // One token serves every call while it lives.
    assert_eq!(api.seen().iter().filter(|s| *s == "POST /1.0/token").count(), 1);
    api.state().tokens.clear();
    let r = conformance::record(NAME, &None, "after-token-loss");
    subject.provider.present(&r).await.unwrap();
    subject.provider.cleanup(&r).await.unwrap();
    assert_eq!(api.seen().iter().filter(|s| *s == "POST /1.0/token").count(), 2);
    conformance::auth_failure(
        &adapter(&api.url, "wrong-secret"),
        NAME,
        &None,
        "secret",
        &["wrong-secret".into(), KEY.into(), SECRET.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET), &api.upstream(), NAME, &None).await;
    let err = subject
        .provider
        .present(&conformance::record("_acme-challenge.example.net.", &None, "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
}

/// The installer's settings reach the adapter.
#[test]
fn vegadns_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "vegadns"
settings = { VEGADNS_URL = "http://vegadns.internal:5000", SECRET_VEGADNS_KEY_FILE = "/etc/wildcert/vegadns.key", SECRET_VEGADNS_SECRET_FILE = "/etc/wildcert/vegadns.secret", VEGADNS_TTL = "10" }
allow_http = true
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "VEGADNS_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::VegaDns(cfg) = &config.dns["installer"].config else {
        panic!("not vegadns")
    };
    assert_eq!(cfg.url.as_deref(), Some("http://vegadns.internal:5000"));
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("SECRET_VEGADNS_SECRET_FILE = \"/etc/wildcert/vegadns.secret\", ", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("secret"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vegadns_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key_file = fake_api::secret_file(&stack, "vegadns.key", KEY);
    let secret_file = fake_api::secret_file(&stack, "vegadns.secret", SECRET);
    let table = format!(
        "provider = \"vegadns\"\nurl = \"{}\"\nkey_file = \"{}\"\nsecret_file = \"{}\"",
        api.url,
        key_file.display(),
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY, SECRET]);
    assert!(api.state().records.is_empty());
}
