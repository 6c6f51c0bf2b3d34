//! The DNSimple adapter against a contract fake of the DNSimple API v2, built from its
//! reference: `GET /v2/whoami` (`{"data": {"user", "account"}}`), `GET
//! /v2/{account}/zones/{zone}`, `GET /v2/{account}/zones/{zone}/records?name=&type=&page=&per_page=`
//! (`{"data": [...], "pagination": {"current_page", "per_page", "total_entries",
//! "total_pages"}}`, `name` exact and relative, empty at the apex), `POST .../records` with
//! `{"name", "type", "content", "ttl"}` answering 201 `{"data"}` (TTL at least 60, else
//! 400), `DELETE .../records/{id}` answering 204, `Authorization: Bearer`, and errors as
//! `{"message"}`. When given a BIND, the fake applies every change to it through RFC 2136,
//! so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_dnsimple::Dnsimple;
use wildcert_dns_rfc2136::Rfc2136;

const TOKEN: &str = "dnsimple-acc0unt-t0ken";
const ACCOUNT: u64 = 1385;

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    zone: String,
    name: String,
    content: String,
}

#[derive(Default)]
struct State {
    zones: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
}

fn message(text: &str) -> Value {
    json!({"message": text})
}

fn fqdn(r: &Record) -> String {
    if r.name.is_empty() { format!("{}.", r.zone) } else { format!("{}.{}.", r.name, r.zone) }
}

fn json_record(r: &Record) -> Value {
    json!({"id": r.id, "zone_id": r.zone, "parent_id": null, "name": r.name, "content": r.content, "ttl": 60, "priority": null, "type": "TXT", "regions": ["global"], "system_record": false})
}

fn route(
    state: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Option<(bool, TxtRecord)>) {
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return (401, message("Authentication failed"), None);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param =
        |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(&format!("{k}="))).map(fake_api::decode);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let account = ACCOUNT.to_string();
    match (method, parts.as_slice()) {
        ("GET", ["v2", "whoami"]) => (
            200,
            json!({"data": {"user": null, "account": {"id": ACCOUNT, "email": "ops@example.com"}}}),
            None,
        ),
        (_, ["v2", a, ..]) if *a != account => (404, message("Account not found"), None),
        (_, ["v2", _, "zones", z, ..]) if !state.zones.iter().any(|x| x == z) => {
            (404, message(&format!("Zone `{z}` not found")), None)
        }
        ("GET", ["v2", _, "zones", z]) => {
            (200, json!({"data": {"id": 1, "account_id": ACCOUNT, "name": z, "reverse": false}}), None)
        }
        ("GET", ["v2", _, "zones", z, "records"]) => {
            let per_page: usize = param("per_page").and_then(|v| v.parse().ok()).unwrap_or(30).min(100);
            let page: usize = param("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let matching: Vec<Value> = state
                .records
                .iter()
                .filter(|r| r.zone == *z)
                .filter(|r| param("name").is_none_or(|n| r.name == n))
                .filter(|_| param("type").is_none_or(|t| t == "TXT"))
                .map(json_record)
                .collect();
            let total = matching.len();
            let data: Vec<Value> = matching.into_iter().skip((page - 1) * per_page).take(per_page).collect();
            let pages = total.div_ceil(per_page).max(1);
            (
                200,
                json!({"data": data, "pagination": {"current_page": page, "per_page": per_page, "total_entries": total, "total_pages": pages}}),
                None,
            )
        }
        ("POST", ["v2", _, "zones", z, "records"]) => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let (Some(name), Some(content)) = (request["name"].as_str(), request["content"].as_str()) else {
                return (400, message("Validation failed"), None);
            };
            if request["type"] != "TXT" || request["ttl"].as_u64().is_some_and(|t| t < 60) {
                return (400, message("Validation failed: TTL must be at least 60"), None);
            }
            state.next_id += 1;
            let record =
                Record { id: state.next_id, zone: z.to_string(), name: name.into(), content: content.into() };
            state.records.push(record.clone());
            let change = TxtRecord {
                fqdn: fqdn(&record),
                zone: None,
                value: record.content.clone(),
                ttl: 60,
                raw: None,
            };
            (201, json!({"data": json_record(&record)}), Some((true, change)))
        }
        ("DELETE", ["v2", _, "zones", z, "records", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.records.iter().position(|r| r.id == id && r.zone == *z) {
                Some(i) => {
                    let r = state.records.remove(i);
                    let change = TxtRecord {
                        fqdn: fqdn(&r),
                        zone: None,
                        value: r.content.clone(),
                        ttl: 60,
                        raw: None,
                    };
                    (204, Value::Null, Some((false, change)))
                }
                None => (404, message("Record not found"), None),
            }
        }
        _ => (404, message("Not found"), None),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { zones: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, |state: &mut State, request: &support::HttpRequest| {
        let (status, body, change) =
            route(state, &request.method, &request.target, request.header("authorization"), &request.body);
        let change = change.map(|(add, r)| Change { add, fqdn: r.fqdn, value: r.value });
        Reply::json(status, body).with(change)
    })
    .await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| fqdn(r).eq_ignore_ascii_case(name)).map(|r| r.content.clone()).collect()
}

fn adapter(url: &str, token: &str) -> Dnsimple {
    Dnsimple::new(url, &Secret::new(token), None, Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsimple_conformance() {
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
    assert_eq!(
        seen.iter().filter(|s| *s == "GET /v2/whoami").count(),
        1,
        "the account is asked once: {seen:#?}"
    );
    assert!(seen.iter().any(|s| s.starts_with("POST /v2/1385/zones/example.com/records")), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, "not-the-t0ken"),
        &fqdn,
        &None,
        "oauth_token",
        &["not-the-t0ken".into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, TOKEN), &api.upstream(), &fqdn, &None).await;
}

/// More records at the name than one page holds: cleanup still finds ours.
#[tokio::test]
async fn dnsimple_pages_through_records() {
    let api = fake(&["example.com"], None).await;
    {
        let mut state = api.state();
        for i in 0..150 {
            state.next_id += 1;
            let id = state.next_id;
            state.records.push(Record {
                id,
                zone: "example.com".into(),
                name: "_acme-challenge".into(),
                content: format!("other-{i}"),
            });
        }
    }
    let p = adapter(&api.url, TOKEN);
    let ours = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "ours".into(),
        ttl: 30,
        raw: None,
    };
    p.present(&ours).await.unwrap();
    p.present(&ours).await.unwrap();
    assert_eq!(api.state().records.iter().filter(|r| r.content == "ours").count(), 1);
    p.cleanup(&ours).await.unwrap();
    let state = api.state();
    assert_eq!(state.records.len(), 150);
    let seen = api.seen();
    assert!(seen.iter().any(|s| s.contains("page=2")), "{seen:#?}");
}

#[test]
fn dnsimple_installer_settings() {
    let text = &fake_api::config_with(
        r#"[dns.installer]
provider = "dnsimple"
settings = { DNSIMPLE_OAUTH_TOKEN_FILE = "/etc/wildcert/dnsimple.token", DNSIMPLE_BASE_URL = "https://api.sandbox.dnsimple.com", DNSIMPLE_TTL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    fake_api::assert_warned(&config.warnings, "DNSIMPLE_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Dnsimple(cfg) = &config.dns["installer"].config else {
        panic!()
    };
    assert_eq!(cfg.api_url, "https://api.sandbox.dnsimple.com");
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("[dns.installer]", "[dns.installer]\naccount_id = \"acme\""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("account_id"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsimple_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let secret_file = fake_api::secret_file(&stack, "dnsimple.token", TOKEN);
    let table = format!(
        "provider = \"dnsimple\"\napi_url = \"{}\"\noauth_token_file = \"{}\"",
        api.url,
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN]);
    assert!(api.state().records.is_empty());
}
