//! The DigitalOcean adapter against a contract fake of the DigitalOcean API v2, built from
//! its API reference (Domains and Domain Records): `GET /v2/domains/{name}`, `GET
//! /v2/domains/{domain}/records?type=&name=&page=&per_page=` (name is the full record name;
//! answers carry names relative to the domain, `meta.total` and `links`), `POST
//! .../records` with `{"type", "name", "data", "ttl"}` answering 201 `{"domain_record"}` (TTL
//! at least 30, else 422), `DELETE .../records/{id}` answering 204, `Authorization: Bearer`,
//! and errors as `{"id", "message"}`. When given a BIND, the fake applies every change to it
//! through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_digitalocean::DigitalOcean;

const TOKEN: &str = "dop_v1_f4ke7oken0123";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain: String,
    /// Relative to the domain, `@` at the apex.
    name: String,
    data: String,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
}

fn error(status: u16, id: &str, message: &str) -> Reply {
    Reply::json(status, json!({"id": id, "message": message}))
}

fn not_found() -> Reply {
    error(404, "not_found", "The resource you were accessing could not be found.")
}

fn full_name(record: &Record) -> String {
    if record.name == "@" {
        format!("{}.", record.domain)
    } else {
        format!("{}.{}.", record.name, record.domain)
    }
}

fn record_json(r: &Record) -> Value {
    json!({"id": r.id, "type": "TXT", "name": r.name, "data": r.data, "priority": null, "port": null, "ttl": 30, "weight": null, "flags": null, "tag": null})
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return error(401, "Unauthorized", "Unable to authenticate you");
    }
    match (request.method.as_str(), request.segments().as_slice()) {
        ("GET", ["v2", "domains", name]) => match state.domains.iter().find(|d| d == name) {
            Some(d) => Reply::json(200, json!({"domain": {"name": d, "ttl": 1800, "zone_file": ""}})),
            None => not_found(),
        },
        ("GET", ["v2", "domains", domain, "records"]) => {
            if !state.domains.iter().any(|d| d == domain) {
                return not_found();
            }
            let param = |k: &str| request.param(k);
            let per_page: usize = param("per_page").and_then(|v| v.parse().ok()).unwrap_or(20).min(200);
            let page: usize = param("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let matching: Vec<&Record> = state
                .records
                .iter()
                .filter(|r| r.domain == *domain)
                .filter(|_| param("type").is_none_or(|t| t == "TXT"))
                .filter(|r| param("name").is_none_or(|n| full_name(r).trim_end_matches('.') == n))
                .collect();
            let items: Vec<Value> =
                matching.iter().skip((page - 1) * per_page).take(per_page).map(|r| record_json(r)).collect();
            // `links.pages` names the first/prev and next/last pages where they exist.
            let last = matching.len().div_ceil(per_page).max(1);
            let url = |n: usize| {
                format!(
                    "https://api.digitalocean.com/v2/domains/{domain}/records?page={n}&per_page={per_page}"
                )
            };
            let mut pages = serde_json::Map::new();
            if page > 1 {
                pages.insert("first".into(), json!(url(1)));
                pages.insert("prev".into(), json!(url(page - 1)));
            }
            if page < last {
                pages.insert("next".into(), json!(url(page + 1)));
                pages.insert("last".into(), json!(url(last)));
            }
            let links = if pages.is_empty() { json!({}) } else { json!({ "pages": pages }) };
            Reply::json(
                200,
                json!({"domain_records": items, "links": links, "meta": {"total": matching.len()}}),
            )
        }
        ("POST", ["v2", "domains", domain, "records"]) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            if body["type"] != "TXT" || !body["name"].is_string() || !body["data"].is_string() {
                return error(422, "unprocessable_entity", "type, name and data are required");
            }
            if body["ttl"].as_u64().is_some_and(|t| t < 30) {
                return error(422, "unprocessable_entity", "Ttl must be at least 30.");
            }
            if !state.domains.iter().any(|d| d == domain) {
                return not_found();
            }
            state.next_id += 1;
            let record = Record {
                id: state.next_id,
                domain: domain.to_string(),
                name: body["name"].as_str().unwrap().to_string(),
                data: body["data"].as_str().unwrap().to_string(),
            };
            state.records.push(record.clone());
            Reply::json(201, json!({"domain_record": record_json(&record)}))
                .with([Change::add(full_name(&record), &record.data)])
        }
        ("DELETE", ["v2", "domains", domain, "records", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.records.iter().position(|r| r.id == id && r.domain == *domain) {
                Some(i) => {
                    let record = state.records.remove(i);
                    Reply::json(204, Value::Null).with([Change::remove(full_name(&record), &record.data)])
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

type FakeDigitalOcean = FakeApi<State>;

async fn fake(domains: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeDigitalOcean {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| full_name(r).eq_ignore_ascii_case(name)).map(|r| r.data.clone()).collect()
}

fn adapter(url: &str, token: &str) -> DigitalOcean {
    DigitalOcean::new(url, &Secret::new(token), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digitalocean_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, TOKEN),
        fqdn: fqdn.clone(),
        // No discovered zone: the adapter walks up the name through GET /v2/domains/{name}.
        zone: None,
        read: api.reader(values),
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(seen.iter().any(|s| s == "GET /v2/domains/_acme-challenge.gradient.example.com"), "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("POST /v2/domains/example.com/records")), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, "dop_v1_wrong"),
        &fqdn,
        &None,
        "auth_token",
        &["dop_v1_wrong".into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, TOKEN), &api.upstream(), &fqdn, &None).await;
}

/// The record's name is sent relative to the domain, and the TTL raised to the minimum.
#[tokio::test]
async fn digitalocean_creates_relative_names_with_minimum_ttl() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&api.url, TOKEN);
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "v1".into(),
        ttl: 5,
        raw: None,
    };
    p.present(&record).await.unwrap();
    let state = api.state();
    assert_eq!(state.records[0].name, "_acme-challenge");
    // The fake refuses TTLs under 30 with 422, so the create succeeding shows the raise.
    assert_eq!(state.records.len(), 1);
    // The discovered zone is checked first, and it is the domain: one lookup.
    let seen = api.seen();
    let lookups: Vec<&String> = seen.iter().filter(|s| !s.contains("/records")).collect();
    assert_eq!(lookups, ["GET /v2/domains/example.com"]);
}

/// Listings are paged (at most 200 records a page, the next page named in `links.pages.next`):
/// a value on the third page is found, so it is neither added twice nor left behind.
#[tokio::test]
async fn digitalocean_finds_a_value_past_the_first_200_records() {
    let api = fake(&["example.com"], None).await;
    let ours = "value-on-page-3";
    {
        let mut state = api.state();
        for i in 0..450 {
            state.next_id += 1;
            let data = if i == 420 { ours.to_string() } else { format!("other-{i}") };
            let id = state.next_id;
            state.records.push(Record {
                id,
                domain: "example.com".into(),
                name: "_acme-challenge".into(),
                data,
            });
        }
    }
    let p = adapter(&api.url, TOKEN);
    let record = conformance::record("_acme-challenge.example.com.", &Some("example.com.".into()), ours);
    p.present(&record).await.unwrap();
    assert_eq!(values(&api.state(), "_acme-challenge.example.com.").len(), 450, "the value was added twice");
    let pages = |seen: &[String]| {
        seen.iter().filter(|s| s.starts_with("GET /v2/domains/example.com/records")).count()
    };
    assert_eq!(pages(&api.seen()), 3, "{:#?}", api.seen());
    p.cleanup(&record).await.unwrap();
    let left = values(&api.state(), "_acme-challenge.example.com.");
    assert_eq!(left.len(), 449);
    assert!(!left.iter().any(|v| v == ours), "our value was left behind");
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn digitalocean_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("do.token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = fake_api::config_with(&format!(
        "[dns.installer]\nprovider = \"digitalocean\"\nsettings = {{ DO_AUTH_TOKEN_FILE = \"{}\", DO_API_URL = \"http://127.0.0.1:9\", DO_TTL = \"30\", DO_HTTP_TIMEOUT = \"10\" }}\n",
        token.display()
    ));
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "DO_TTL has no effect");
    let provider = Provider::from_section(&config.dns["installer"], &mut Vec::new()).unwrap();
    assert!(matches!(provider, Provider::DigitalOcean(_)));
    assert!(provider.describe().contains("127.0.0.1:9"));
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("DO_AUTH_TOKEN_FILE", "DO_TOKEN"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("DO_AUTH_TOKEN"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digitalocean_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let token_file = fake_api::secret_file(&stack, "digitalocean.token", TOKEN);
    let table = format!(
        "provider = \"digitalocean\"\napi_url = \"{}\"\nauth_token_file = \"{}\"",
        api.url,
        token_file.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.starts_with("POST ")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("DELETE ")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
