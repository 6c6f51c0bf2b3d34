//! The GleSYS adapter against a contract fake of the GleSYS API's domain module, built from
//! its API documentation (<https://github.com/glesys/API/wiki/functions_domain>:
//! `domain/listrecords`, `domain/addrecord`, `domain/deleterecord`) and lego's client of it:
//! HTTP basic authentication with the project (`cl12345`) and an API key; JSON bodies by
//! POST; answers `{"response": {"status": {"code", "text"}, ...}}` with the HTTP status
//! equal to `code`; `listrecords` takes `domainname` and answers `records` (each with
//! `recordid`, `domainname`, `host` relative to the domain, `type`, `data`, `ttl`), 404 for
//! a domain that is not the project's; `addrecord` takes `domainname`, `host`, `type`,
//! `data`, `ttl` (at least 60) and answers the `record`; `deleterecord` takes `recordid`.
//! When given a BIND, the fake applies every change to it through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_glesys::Glesys;

const USER: &str = "cl12345";
const KEY: &str = "Gl3sYsApIkEy0123456789";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain: String,
    host: String,
    data: String,
    ttl: u32,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
}

fn status(code: u16, text: &str, more: Value) -> (Reply, Vec<Change>) {
    let mut body = json!({"response": {"status": {"code": code, "timestamp": "2026-12-03T05:00:00+01:00", "text": text, "transactionid": null}}});
    if let (Some(response), Value::Object(more)) = (body["response"].as_object_mut(), more) {
        response.extend(more);
    }
    (Reply::json(code, body), Vec::new())
}

fn fqdn(r: &Record) -> String {
    if r.host == "@" || r.host.is_empty() {
        format!("{}.", r.domain)
    } else {
        format!("{}.{}.", r.host, r.domain)
    }
}

fn record_json(r: &Record) -> Value {
    json!({"recordid": r.id, "domainname": r.domain, "host": r.host, "type": "TXT", "data": r.data, "ttl": r.ttl})
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{KEY}")));
    if request.header("authorization") != Some(expected.as_str()) {
        return status(401, "Unauthorized: invalid API key", json!({}));
    }
    if request.method != "POST" {
        return status(405, "Method not allowed", json!({}));
    }
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    match request.path() {
        "/domain/listrecords" => {
            let domain = body["domainname"].as_str().unwrap_or_default();
            if !state.domains.iter().any(|d| d == domain) {
                return status(404, "Domain not found", json!({}));
            }
            let records: Vec<Value> =
                state.records.iter().filter(|r| r.domain == domain).map(record_json).collect();
            status(200, "OK", json!({"records": records}))
        }
        "/domain/addrecord" => {
            let domain = body["domainname"].as_str().unwrap_or_default().to_string();
            if !state.domains.contains(&domain) {
                return status(404, "Domain not found", json!({}));
            }
            let ttl = body["ttl"].as_u64().unwrap_or(3600) as u32;
            if ttl < 60 || body["type"] != "TXT" || !body["host"].is_string() || !body["data"].is_string() {
                return status(
                    400,
                    "Invalid argument: host, type, data and a ttl of at least 60 are required",
                    json!({}),
                );
            }
            state.next_id += 1;
            let r = Record {
                id: state.next_id,
                domain,
                host: body["host"].as_str().unwrap().into(),
                data: body["data"].as_str().unwrap().into(),
                ttl,
            };
            let change = Change::add(fqdn(&r), r.data.clone());
            let (reply, _) = status(200, "OK", json!({"record": record_json(&r)}));
            state.records.push(r);
            (reply, vec![change])
        }
        "/domain/deleterecord" => {
            let id = body["recordid"].as_u64().unwrap_or(0);
            let Some(i) = state.records.iter().position(|r| r.id == id) else {
                return status(404, "Record not found", json!({}));
            };
            let r = state.records.remove(i);
            let (reply, _) = status(200, "OK", json!({}));
            (reply, vec![Change::remove(fqdn(&r), r.data)])
        }
        _ => status(404, "Not found", json!({})),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| fqdn(r).eq_ignore_ascii_case(name)).map(|r| r.data.clone()).collect()
}

async fn fake(domains: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().map(|d| d.to_string()).collect(),
        next_id: 9_000_000,
        ..Default::default()
    };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, key: &str) -> Glesys {
    Glesys::new(url, USER, &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, the domain found by walking up the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glesys_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    conformance::auth_failure(
        &adapter(&api.url, "wrong-key"),
        &fqdn,
        &None,
        "api_key",
        &["wrong-key".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, KEY), &api.upstream(), &fqdn, &None).await;
}

/// Hosts are relative to the domain, TTLs at least 60 s, other values stay, and a new
/// adapter (after a restart) still cleans up by value.
#[tokio::test]
async fn glesys_relative_hosts_minimum_ttl_and_restart() {
    let api = fake(&["example.com"], None).await;
    api.state().records.push(Record {
        id: 1,
        domain: "example.com".into(),
        host: "_acme-challenge".into(),
        data: "someone-else".into(),
        ttl: 300,
    });
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "ours".into(),
        ttl: 10,
        raw: None,
    };
    adapter(&api.url, KEY).present(&record).await.unwrap();
    {
        let state = api.state();
        let ours = state.records.iter().find(|r| r.data == "ours").unwrap();
        assert_eq!((ours.host.as_str(), ours.ttl), ("_acme-challenge", 60));
    }
    adapter(&api.url, KEY).cleanup(&record).await.unwrap();
    let state = api.state();
    assert_eq!(state.records.len(), 1);
    assert_eq!(state.records[0].data, "someone-else");
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn glesys_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_api::temp_secret(dir.path(), "glesys.key", KEY);
    let (warnings, provider) = fake_api::installer(
        "glesys",
        &format!("GLESYS_API_USER = \"{USER}\", GLESYS_API_KEY_FILE = \"{key}\", GLESYS_TTL = \"60\""),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "GLESYS_TTL has no effect");
    assert!(matches!(provider, Provider::Glesys(_)));
    assert!(provider.describe().contains("api.glesys.com"));
    let err = fake_api::installer("glesys", &format!("GLESYS_API_KEY_FILE = \"{key}\"")).unwrap_err();
    assert!(err.contains("GLESYS_API_USER"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glesys_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key = fake_api::secret_file(&stack, "glesys.key", KEY);
    let table = format!(
        "provider = \"glesys\"\napi_url = \"{}\"\napi_user = \"{USER}\"\napi_key_file = \"{}\"",
        api.url,
        key.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.ends_with("/domain/addrecord")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.ends_with("/domain/deleterecord")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
