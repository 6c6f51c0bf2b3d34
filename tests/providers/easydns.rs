//! The easyDNS adapter against a contract fake of the easyDNS REST API, built from its API
//! documentation (docs.sandbox.rest.easydns.net: zones/records) and lego's client of it:
//! HTTP basic authentication with the API token and key; `?format=json` on every call;
//! `GET /zones/records/all/{domain}` answering `{"tm", "data": [...], "count", "total",
//! "start", "max", "status"}` (records with string `id`, `domain`, `host` relative to the
//! domain, `ttl`, `prio`, `type`, `rdata`), paged by `start`, 404 for a domain that is not
//! the account's; `PUT /zones/records/add/{domain}/TXT` with `{"domain", "host", "ttl",
//! "prio", "type", "rdata"}` answering 201 with the new record; `DELETE
//! /zones/records/{domain}/{id}`; errors as `{"error": {"code", "message"}}`. When given a
//! BIND, the fake applies every change to it through RFC 2136, so Pebble validates a real
//! issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, param};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_easydns::EasyDns;

const TOKEN: &str = "6ff5c4b3a2e1d0c9";
const KEY: &str = "b2a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain: String,
    host: String,
    rdata: String,
}

struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
    /// Records per page.
    max: usize,
}

fn error(code: u16, message: &str) -> (Reply, Vec<Change>) {
    (Reply::json(code, json!({"error": {"code": code, "message": message}})), Vec::new())
}

fn fqdn(r: &Record) -> String {
    if r.host == "@" || r.host.is_empty() {
        format!("{}.", r.domain)
    } else {
        format!("{}.{}.", r.host, r.domain)
    }
}

fn record_json(r: &Record) -> Value {
    json!({"id": r.id.to_string(), "domain": r.domain, "host": r.host, "ttl": "300", "prio": "0", "type": "TXT",
           "rdata": r.rdata, "geozone_id": "0", "last_mod": "2026-12-03 04:00:00"})
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN}:{KEY}")));
    if request.header("authorization") != Some(expected.as_str()) {
        return error(401, "The token or key is invalid.");
    }
    let q = request.query();
    if param(&q, "format") != Some("json") {
        return (Reply::text(200, "text/xml", "<response/>"), Vec::new());
    }
    let path = request.path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = |d: &str| state.domains.iter().any(|x| x == d);
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["zones", "records", "all", d]) if known(d) => {
            let start: usize = param(&q, "start").and_then(|s| s.parse().ok()).unwrap_or(0);
            let all: Vec<&Record> = state.records.iter().filter(|r| r.domain == *d).collect();
            let page: Vec<Value> = all.iter().skip(start).take(state.max).map(|r| record_json(r)).collect();
            let body = json!({"tm": 1_764_734_400, "data": page, "count": page.len(), "total": all.len(),
                              "start": start, "max": state.max, "status": 200});
            (Reply::json(200, body), Vec::new())
        }
        ("PUT", ["zones", "records", "add", d, "TXT"]) if known(d) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            if body["type"] != "TXT"
                || !body["rdata"].is_string()
                || !body["host"].is_string()
                || body["domain"] != *d
            {
                return error(400, "domain, host, type and rdata are required");
            }
            if !body["ttl"].is_string() || !body["prio"].is_string() {
                return error(400, "ttl and prio are strings");
            }
            state.next_id += 1;
            let r = Record {
                id: state.next_id,
                domain: d.to_string(),
                host: body["host"].as_str().unwrap().into(),
                rdata: body["rdata"].as_str().unwrap().into(),
            };
            let change = Change::add(fqdn(&r), r.rdata.clone());
            let reply = Reply::json(
                201,
                json!({"msg": "OK", "tm": 1_764_734_400, "data": record_json(&r), "status": 201}),
            );
            state.records.push(r);
            (reply, vec![change])
        }
        ("DELETE", ["zones", "records", d, id]) if known(d) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.records.iter().position(|r| r.id == id && r.domain == *d) {
                Some(i) => {
                    let r = state.records.remove(i);
                    let reply = Reply::json(
                        200,
                        json!({"msg": "OK", "tm": 1_764_734_400, "data": {"domain": d, "id": id.to_string()}, "status": 200}),
                    );
                    (reply, vec![Change::remove(fqdn(&r), r.rdata)])
                }
                None => error(404, "record not found"),
            }
        }
        _ => error(404, "Not Found"),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| fqdn(r).eq_ignore_ascii_case(name)).map(|r| r.rdata.clone()).collect()
}

async fn fake(domains: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().map(|d| d.to_string()).collect(),
        records: Vec::new(),
        next_id: 70_000,
        max: 1000,
    };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, key: &str) -> EasyDns {
    EasyDns::new(url, &Secret::new(TOKEN), &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, the domain found by walking up the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn easydns_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![TOKEN.into(), KEY.into()],
    };
    conformance::records(&subject).await;
    conformance::auth_failure(
        &adapter(&api.url, "wrong-key"),
        &fqdn,
        &None,
        "key",
        &["wrong-key".into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, KEY), &api.upstream(), &fqdn, &None).await;
}

/// Listings are read page by page (`start`), and cleanup finds records by value: a record
/// added before a restart is removed by a new adapter.
#[tokio::test]
async fn easydns_pages_and_cleanup_after_restart() {
    let api = fake(&["example.com"], None).await;
    {
        let mut state = api.state();
        state.max = 5;
        for i in 0..12 {
            state.records.push(Record {
                id: 100 + i,
                domain: "example.com".into(),
                host: "_acme-challenge".into(),
                rdata: format!("other-{i}"),
            });
        }
    }
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "ours".into(),
        ttl: 120,
        raw: None,
    };
    adapter(&api.url, KEY).present(&record).await.unwrap();
    adapter(&api.url, KEY).present(&record).await.unwrap();
    assert_eq!(
        api.state().records.iter().filter(|r| r.rdata == "ours").count(),
        1,
        "found on the third page"
    );
    adapter(&api.url, KEY).cleanup(&record).await.unwrap();
    let state = api.state();
    assert_eq!(state.records.len(), 12);
    assert!(state.records.iter().all(|r| r.rdata != "ours"));
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn easydns_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_api::temp_secret(dir.path(), "easydns.key", KEY);
    let (warnings, provider) = fake_api::installer(
        "easydns",
        &format!("EASYDNS_TOKEN = \"{TOKEN}\", EASYDNS_KEY_FILE = \"{key}\", EASYDNS_ENDPOINT = \"https://sandbox.rest.easydns.net\", EASYDNS_SEQUENCE_INTERVAL = \"60\""),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "EASYDNS_SEQUENCE_INTERVAL has no effect");
    assert!(matches!(provider, Provider::EasyDns(_)));
    assert!(provider.describe().contains("sandbox.rest.easydns.net"));
    let err = fake_api::installer("easydns", &format!("EASYDNS_KEY_FILE = \"{key}\"")).unwrap_err();
    assert!(err.contains("token"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn easydns_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let token = fake_api::secret_file(&stack, "easydns.token", TOKEN);
    let key = fake_api::secret_file(&stack, "easydns.key", KEY);
    let table = format!(
        "provider = \"easydns\"\napi_url = \"{}\"\ntoken_file = \"{}\"\nkey_file = \"{}\"",
        api.url,
        token.display(),
        key.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN, KEY]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.starts_with("PUT ")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("DELETE ")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
