//! The Name.com adapter against a contract fake of the Name.com API v4, built from its API
//! documentation (<https://www.name.com/api-docs>: the overview and the DNS functions
//! GetDomain, ListRecords, CreateRecord, DeleteRecord): HTTP basic authentication with the
//! user name and API token; `GET /v4/domains/{domainName}` (404 when not the account's);
//! `GET /v4/domains/{domainName}/records?perPage=&page=` answering `records` (each with
//! `id`, `domainName`, `host` relative to the domain and left out at the apex, `fqdn`
//! ending in a dot, `type`, `answer`, `ttl`) and, when more pages follow, `nextPage` and
//! `lastPage`; `POST .../records` with `{"host", "type", "answer", "ttl"}` (Content-Type
//! application/json, else 403); `DELETE .../records/{id}`; errors as `{"message",
//! "details"}`. Name.com's smallest TTL is 300 s. When given a BIND, the fake applies every
//! change to it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, param};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret};
use wildcert_dns_namedotcom::NameDotCom;

const USER: &str = "gradient-ops";
const TOKEN: &str = "4f2a9c1b7e6d5a4f3e2d1c0b9a8f7e6d5c4b3a29";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain: String,
    /// Relative to the domain, empty at the apex.
    host: String,
    answer: String,
    ttl: u32,
}

struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
    /// The largest page the fake serves, whatever `perPage` asks for.
    max_per_page: usize,
}

fn fqdn(r: &Record) -> String {
    if r.host.is_empty() { format!("{}.", r.domain) } else { format!("{}.{}.", r.host, r.domain) }
}

fn error(status: u16, message: &str, details: &str) -> (Reply, Vec<Change>) {
    (Reply::json(status, json!({"message": message, "details": details})), Vec::new())
}

fn record_json(r: &Record) -> Value {
    let mut v = json!({"id": r.id, "domainName": r.domain, "fqdn": fqdn(r), "type": "TXT", "answer": r.answer, "ttl": r.ttl});
    // Fields at their default value are left out.
    if !r.host.is_empty() {
        v["host"] = json!(r.host);
    }
    v
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{TOKEN}")));
    if request.header("authorization") != Some(expected.as_str()) {
        return error(401, "Unauthenticated", "");
    }
    if request.method == "POST" && request.header("content-type") != Some("application/json") {
        return error(403, "Permission Denied", "Content-Type must be application/json");
    }
    let path = request.path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = |d: &str| state.domains.iter().any(|x| x == d);
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["v4", "domains", d]) if known(d) => {
            (Reply::json(200, json!({"domainName": d, "locked": true, "autorenewEnabled": true})), Vec::new())
        }
        ("GET", ["v4", "domains", d, "records"]) if known(d) => {
            let q = request.query();
            let per_page: usize = param(&q, "perPage")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000)
                .min(state.max_per_page)
                .max(1);
            let page: usize = param(&q, "page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let all: Vec<&Record> = state.records.iter().filter(|r| r.domain == *d).collect();
            let last = all.len().div_ceil(per_page).max(1);
            let items: Vec<Value> =
                all.iter().skip((page - 1) * per_page).take(per_page).map(|r| record_json(r)).collect();
            let mut body = json!({"records": items});
            if page < last {
                body["nextPage"] = json!(page + 1);
                body["lastPage"] = json!(last);
            }
            (Reply::json(200, body), Vec::new())
        }
        ("POST", ["v4", "domains", d, "records"]) if known(d) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            if body["type"] != "TXT" || !body["answer"].is_string() {
                return error(400, "Invalid Argument", "type and answer are required");
            }
            let ttl = body["ttl"].as_u64().unwrap_or(300) as u32;
            if ttl < 300 {
                return error(400, "Invalid Argument", "TTL must be at least 300");
            }
            let host = body["host"].as_str().unwrap_or_default().trim_matches('@').to_string();
            state.next_id += 1;
            let record = Record {
                id: state.next_id,
                domain: d.to_string(),
                host,
                answer: body["answer"].as_str().unwrap().into(),
                ttl,
            };
            let change = Change::add(fqdn(&record), record.answer.clone());
            let reply = Reply::json(200, record_json(&record));
            state.records.push(record);
            (reply, vec![change])
        }
        ("DELETE", ["v4", "domains", d, "records", id]) if known(d) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.records.iter().position(|r| r.id == id && r.domain == *d) {
                Some(i) => {
                    let r = state.records.remove(i);
                    (Reply::json(200, json!({})), vec![Change::remove(fqdn(&r), r.answer)])
                }
                None => error(404, "Not Found", "record not found"),
            }
        }
        _ => error(404, "Not Found", ""),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| fqdn(r).eq_ignore_ascii_case(name)).map(|r| r.answer.clone()).collect()
}

async fn fake(domains: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().map(|d| d.to_string()).collect(),
        records: Vec::new(),
        next_id: 0,
        max_per_page: 1000,
    };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, token: &str) -> NameDotCom {
    NameDotCom::new(url, USER, &Secret::new(token), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, the domain found by walking up the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namedotcom_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, TOKEN),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(seen.iter().any(|s| s == "GET /v4/domains/_acme-challenge.gradient.example.com"), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, "wrong-token"),
        &fqdn,
        &None,
        "api_token",
        &["wrong-token".into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, TOKEN), &api.upstream(), &fqdn, &None).await;
}

/// Listings are followed through `nextPage`, other values stay, and TTLs are raised to 300.
#[tokio::test]
async fn namedotcom_pages_and_minimum_ttl() {
    let api = fake(&["example.com"], None).await;
    {
        let mut state = api.state();
        state.max_per_page = 10;
        for i in 0..35 {
            state.records.push(Record {
                id: 1000 + i,
                domain: "example.com".into(),
                host: "_acme-challenge".into(),
                answer: format!("other-{i}"),
                ttl: 300,
            });
        }
        state.next_id = 2000;
    }
    let p = adapter(&api.url, TOKEN);
    let record = conformance::record("_acme-challenge.example.com.", &Some("example.com.".into()), "ours");
    p.present(&record).await.unwrap();
    p.present(&record).await.unwrap();
    {
        let state = api.state();
        let ours: Vec<&Record> = state.records.iter().filter(|r| r.answer == "ours").collect();
        assert_eq!(ours.len(), 1, "the value on the fourth page was found");
        assert_eq!((ours[0].ttl, ours[0].host.as_str()), (300, "_acme-challenge"));
    }
    assert!(api.seen().iter().any(|s| s.contains("page=4")), "{:#?}", api.seen());
    p.cleanup(&record).await.unwrap();
    assert_eq!(api.state().records.len(), 35);
}

/// The installer's settings reach the adapter; NAMECOM_SERVER is a host name, as in lego.
#[tokio::test]
async fn namedotcom_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let token = fake_api::temp_secret(dir.path(), "namecom.token", TOKEN);
    let (warnings, provider) = fake_api::installer(
        "namedotcom",
        &format!("NAMECOM_USERNAME = \"{USER}\", NAMECOM_API_TOKEN_FILE = \"{token}\", NAMECOM_SERVER = \"api.dev.name.com\", NAMECOM_TTL = \"300\""),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "NAMECOM_TTL has no effect");
    assert!(matches!(provider, Provider::NameDotCom(_)));
    assert!(provider.describe().contains("https://api.dev.name.com"), "{}", provider.describe());
    let err =
        fake_api::installer("namedotcom", &format!("NAMECOM_API_TOKEN_FILE = \"{token}\"")).unwrap_err();
    assert!(err.contains("NAMECOM_USERNAME"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namedotcom_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let token = fake_api::secret_file(&stack, "namecom.token", TOKEN);
    let table = format!(
        "provider = \"namedotcom\"\napi_url = \"{}\"\nusername = \"{USER}\"\napi_token_file = \"{}\"",
        api.url,
        token.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.starts_with("POST ")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("DELETE ")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
