//! The Vultr adapter against a contract fake of the Vultr API v2 DNS endpoints, built from
//! its API reference: `GET /v2/domains` and `GET /v2/domains/{domain}/records` (cursor paging:
//! `per_page`, `cursor`, `meta.links.next`), `POST /v2/domains/{domain}/records` with
//! `{"name", "type", "data", "ttl"}` answering 201 `{"record"}` (TXT `data` quoted), `DELETE
//! /v2/domains/{domain}/records/{id}` answering 204, `Authorization: Bearer`, and errors as
//! `{"error", "status"}`. The fake pages every two items (the real API up to 500) so that
//! the adapter's cursor handling is exercised. When given a BIND, it applies every change to
//! it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord, txt_text};
use wildcert_dns_rfc2136::Rfc2136;
use wildcert_dns_vultr::Vultr;

const KEY: &str = "VULTRK3Y0123456789ABC";
/// Items per page the fake serves, whatever `per_page` asks.
const PAGE: usize = 2;

#[derive(Debug, Clone)]
struct Record {
    id: String,
    domain: String,
    /// Relative to the domain; empty at the apex.
    name: String,
    data: String,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
}

fn error(status: u16, message: &str) -> Value {
    json!({"error": message, "status": status})
}

fn fqdn(r: &Record) -> String {
    if r.name.is_empty() { format!("{}.", r.domain) } else { format!("{}.{}.", r.name, r.domain) }
}

/// One page of `items` from `cursor` (an offset here; opaque to clients).
fn page(items: Vec<Value>, cursor: Option<&str>) -> (Vec<Value>, Value) {
    let start: usize = cursor.and_then(|c| c.strip_prefix("off-")).and_then(|c| c.parse().ok()).unwrap_or(0);
    let total = items.len();
    let chunk: Vec<Value> = items.into_iter().skip(start).take(PAGE).collect();
    let next = if start + PAGE < total { format!("off-{}", start + PAGE) } else { String::new() };
    (chunk, json!({"total": total, "links": {"next": next, "prev": ""}}))
}

fn route(
    state: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Option<(bool, TxtRecord)>) {
    if auth != Some(&format!("Bearer {KEY}")) {
        return (401, error(401, "Invalid API token."), None);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let cursor = query.split('&').find_map(|kv| kv.strip_prefix("cursor="));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["v2", "domains"]) => {
            let items = state.domains.iter().map(|d| json!({"domain": d, "date_created": "2024-01-01T00:00:00+00:00", "dns_sec": "disabled"})).collect();
            let (chunk, meta) = page(items, cursor);
            (200, json!({"domains": chunk, "meta": meta}), None)
        }
        (_, ["v2", "domains", d, "records", ..]) if !state.domains.iter().any(|x| x == d) => {
            (404, error(404, "Domain not found"), None)
        }
        ("GET", ["v2", "domains", d, "records"]) => {
            let items = state
                .records
                .iter()
                .filter(|r| r.domain == *d)
                .map(|r| json!({"id": r.id, "type": "TXT", "name": r.name, "data": r.data, "priority": -1, "ttl": 120}))
                .collect();
            let (chunk, meta) = page(items, cursor);
            (200, json!({"records": chunk, "meta": meta}), None)
        }
        ("POST", ["v2", "domains", d, "records"]) => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let (Some(name), Some(data)) = (request["name"].as_str(), request["data"].as_str()) else {
                return (400, error(400, "Invalid record: name and data are required"), None);
            };
            if request["type"] != "TXT" {
                return (400, error(400, "Invalid record type"), None);
            }
            state.next_id += 1;
            let record = Record {
                id: format!("cb676a46-66fd-4dfb-b839-{:012}", state.next_id),
                domain: d.to_string(),
                name: name.to_string(),
                data: data.to_string(),
            };
            state.records.push(record.clone());
            let change =
                TxtRecord { fqdn: fqdn(&record), zone: None, value: txt_text(data), ttl: 60, raw: None };
            (
                201,
                json!({"record": {"id": record.id, "type": "TXT", "name": name, "data": data, "priority": 0, "ttl": request["ttl"]}}),
                Some((true, change)),
            )
        }
        ("DELETE", ["v2", "domains", d, "records", id]) => match state
            .records
            .iter()
            .position(|r| r.id == *id && r.domain == *d)
        {
            Some(i) => {
                let r = state.records.remove(i);
                let change =
                    TxtRecord { fqdn: fqdn(&r), zone: None, value: txt_text(&r.data), ttl: 60, raw: None };
                (204, Value::Null, Some((false, change)))
            }
            None => (404, error(404, "Record not found"), None),
        },
        _ => (404, error(404, "Not found"), None),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, |state: &mut State, request: &support::HttpRequest| {
        let (status, body, change) =
            route(state, &request.method, &request.target, request.header("authorization"), &request.body);
        let change = change.map(|(add, r)| Change { add, fqdn: r.fqdn, value: r.value });
        Reply::json(status, body).with(change)
    })
    .await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| fqdn(r).eq_ignore_ascii_case(name)).map(|r| txt_text(&r.data)).collect()
}

fn adapter(url: &str, key: &str) -> Vultr {
    Vultr::new(url, &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake; the account has more domains than one
/// page holds, and the zone is the longest listed suffix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vultr_conformance() {
    let api = fake(&["example.org", "example.com", "gradient.example.com", "other.net"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(seen.iter().any(|s| s.contains("/v2/domains?per_page=500&cursor=off-2")), "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("POST /v2/domains/gradient.example.com/records")), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, "WRONGKEY"),
        &fqdn,
        &None,
        "api_key",
        &["WRONGKEY".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, KEY), &api.upstream(), &fqdn, &None).await;
}

/// TXT data goes quoted, names relative to the domain; records past the first page are found
/// for cleanup.
#[tokio::test]
async fn vultr_quotes_data_and_pages_records() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&api.url, KEY);
    let records: Vec<TxtRecord> = (0..5)
        .map(|i| TxtRecord {
            fqdn: "_acme-challenge.example.com.".into(),
            zone: Some("example.com.".into()),
            value: format!("value-{i}"),
            ttl: 60,
            raw: None,
        })
        .collect();
    for r in &records {
        p.present(r).await.unwrap();
    }
    {
        let state = api.state();
        assert_eq!(state.records[0].data, "\"value-0\"");
        assert_eq!(state.records[0].name, "_acme-challenge");
    }
    p.cleanup(&records[4]).await.unwrap();
    let left: Vec<String> = api.state().records.iter().map(|r| txt_text(&r.data)).collect();
    assert_eq!(left, ["value-0", "value-1", "value-2", "value-3"]);
}

#[test]
fn vultr_installer_settings() {
    let text = &fake_api::config_with(
        r#"[dns.installer]
provider = "vultr"
settings = { VULTR_API_KEY_FILE = "/etc/wildcert/vultr.key", VULTR_TTL = "300", VULTR_HTTP_TIMEOUT = "20" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    fake_api::assert_warned(&config.warnings, "VULTR_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Vultr(cfg) = &config.dns["installer"].config else {
        panic!()
    };
    assert_eq!(cfg.timeout, Duration::from_secs(20));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vultr_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let secret_file = fake_api::secret_file(&stack, "vultr.key", KEY);
    let table = format!(
        "provider = \"vultr\"\napi_url = \"{}\"\napi_key_file = \"{}\"",
        api.url,
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY]);
    assert!(api.state().records.is_empty());
}
