//! The Exoscale adapter against a contract fake of the Exoscale API v2, built from its
//! documentation (<https://openapi-v2.exoscale.com/>: "Request signature" and the DNS and
//! operation endpoints): every request carries `Authorization: EXO2-HMACSHA256
//! credential=<key>[,signed-query-args=a;b],expires=<unix time>,signature=<base64>`, the
//! HMAC-SHA256 under the secret of the lines `METHOD /v2/path`, the body, the signed query
//! values, the signed header values (none) and the expiry, else 403; `GET /v2/dns-domain`
//! lists `dns-domains` (`id`, `unicode-name`); `GET /v2/dns-domain/{id}/record` lists
//! `dns-domain-records` (`id`, `name` relative to the domain, `type`, `content`, `ttl`);
//! `POST .../record` with `{"name", "type", "content", "ttl"}` and `DELETE
//! .../record/{record-id}` answer an operation (`id`, `state` "pending", `reference`) that
//! `GET /v2/operation/{id}` reports as "success" once applied. When given a BIND, the fake
//! applies every change to it through RFC 2136, so Pebble validates a real issuance through
//! this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret};
use wildcert_dns_exoscale::Exoscale;

const KEY: &str = "EXO0123456789abcdef01234567";
const SECRET: &str = "s3cr3t-Ex0scale-ApI-SecReT-value0123456";

#[derive(Debug, Clone)]
struct Record {
    id: String,
    domain: String,
    name: String,
    content: String,
}

#[derive(Default)]
struct State {
    /// (id, name)
    domains: Vec<(String, String)>,
    records: Vec<Record>,
    next: u64,
    /// Operations not yet reported: id.
    pending: Vec<String>,
    polls: u32,
}

fn signed(request: &HttpRequest) -> Result<(), &'static str> {
    let value = request.header("authorization").ok_or("missing Authorization")?;
    let rest = value.strip_prefix("EXO2-HMACSHA256 ").ok_or("unknown scheme")?;
    let field = |name: &str| rest.split(',').find_map(|p| p.strip_prefix(&format!("{name}=")));
    if field("credential") != Some(KEY) {
        return Err("invalid credential");
    }
    let expires: i64 = field("expires").and_then(|e| e.parse().ok()).ok_or("missing expires")?;
    if expires < time::OffsetDateTime::now_utc().unix_timestamp() {
        return Err("expired signature");
    }
    let message = format!("{} {}\n{}\n\n\n{expires}", request.method, request.path(), request.body);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, message.as_bytes()).as_ref());
    if field("signature") != Some(expected.as_str()) {
        return Err("invalid signature");
    }
    Ok(())
}

fn fqdn(state: &State, r: &Record) -> String {
    let domain = &state.domains.iter().find(|(id, _)| *id == r.domain).unwrap().1;
    if r.name.is_empty() { format!("{domain}.") } else { format!("{}.{domain}.", r.name) }
}

fn operation(state: &mut State, reference: &str) -> Value {
    state.next += 1;
    let id = format!("0b1c2d3e-0000-4000-8000-{:012}", state.next);
    state.pending.push(id.clone());
    json!({"id": id, "state": "pending", "reference": {"id": reference, "link": "", "command": "dns-domain-record"}})
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    if let Err(why) = signed(request) {
        return (Reply::json(403, json!({"message": why})), Vec::new());
    }
    let path = request.path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = |id: &str| state.domains.iter().any(|(d, _)| d == id);
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["v2", "dns-domain"]) => {
            let items: Vec<Value> = state.domains.iter().map(|(id, name)| json!({"id": id, "unicode-name": name, "created-at": "2026-01-01T00:00:00Z"})).collect();
            (Reply::json(200, json!({"dns-domains": items})), Vec::new())
        }
        ("GET", ["v2", "dns-domain", id, "record"]) if known(id) => {
            let mut items: Vec<Value> = vec![
                json!({"id": "soa-1", "name": "", "type": "SOA", "content": "ns1.exoscale.ch. support.exoscale.ch. 1 10800 3600 604800 3600", "ttl": 3600}),
            ];
            items.extend(state.records.iter().filter(|r| r.domain == *id).map(|r| json!({"id": r.id, "name": r.name, "type": "TXT", "content": r.content, "ttl": 60, "priority": 0})));
            (Reply::json(200, json!({"dns-domain-records": items})), Vec::new())
        }
        ("POST", ["v2", "dns-domain", id, "record"]) if known(id) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            if body["type"] != "TXT" || !body["content"].is_string() || !body["name"].is_string() {
                return (
                    Reply::json(400, json!({"message": "name, type and content are required"})),
                    Vec::new(),
                );
            }
            state.next += 1;
            let r = Record {
                id: format!("rec-{}", state.next),
                domain: id.to_string(),
                name: body["name"].as_str().unwrap().into(),
                content: body["content"].as_str().unwrap().into(),
            };
            let change = Change::add(fqdn(state, &r), r.content.clone());
            let op = operation(state, &r.id.clone());
            state.records.push(r);
            (Reply::json(200, op), vec![change])
        }
        ("DELETE", ["v2", "dns-domain", id, "record", rid]) if known(id) => {
            let Some(i) = state.records.iter().position(|r| r.id == *rid && r.domain == *id) else {
                return (Reply::json(404, json!({"message": "record not found"})), Vec::new());
            };
            let r = state.records.remove(i);
            let change = Change::remove(fqdn(state, &r), r.content.clone());
            let op = operation(state, &r.id);
            (Reply::json(200, op), vec![change])
        }
        ("GET", ["v2", "operation", id]) => {
            state.polls += 1;
            let known = state.pending.iter().any(|p| p == id);
            if !known {
                return (Reply::json(404, json!({"message": "operation not found"})), Vec::new());
            }
            (Reply::json(200, json!({"id": id, "state": "success", "reference": {"id": ""}})), Vec::new())
        }
        _ => (Reply::json(404, json!({"message": "not found"})), Vec::new()),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| fqdn(state, r).eq_ignore_ascii_case(name))
        .map(|r| r.content.clone())
        .collect()
}

async fn fake(domains: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("5d7b3f1a-0000-4000-8000-{i:012}"), d.to_string()))
            .collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, secret: &str) -> Exoscale {
    Exoscale::new(&format!("{url}/v2"), &Secret::new(KEY), &Secret::new(secret), Duration::from_secs(5))
        .unwrap()
}

/// The conformance suite against the contract fake, which checks every signature; every
/// change waits for its operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exoscale_conformance() {
    let api = fake(&["example.com", "gradient.example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![SECRET.into()],
    };
    conformance::records(&subject).await;
    {
        let state = api.state();
        assert!(state.polls >= 2, "operations were not polled");
        // Everything the suite presented was cleaned up.
        assert!(state.records.is_empty());
    }
    conformance::auth_failure(
        &adapter(&api.url, "wrong-secret"),
        &fqdn,
        &None,
        "api_secret",
        &["wrong-secret".into(), SECRET.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET), &api.upstream(), &fqdn, &None).await;
}

/// The record goes into the longest matching domain, relative to it.
#[tokio::test]
async fn exoscale_picks_the_longest_domain() {
    let api = fake(&["example.com", "gradient.example.com"], None).await;
    let record = conformance::record("_acme-challenge.gradient.example.com.", &None, "ours");
    adapter(&api.url, SECRET).present(&record).await.unwrap();
    let state = api.state();
    assert_eq!(state.records.len(), 1);
    assert_eq!(state.records[0].name, "_acme-challenge");
    assert_eq!(state.records[0].domain, state.domains[1].0);
}

/// The installer's settings reach the adapter; the retired v1 endpoint falls back to v2.
#[tokio::test]
async fn exoscale_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let secret = fake_api::temp_secret(dir.path(), "exoscale.secret", SECRET);
    let (warnings, provider) = fake_api::installer(
        "exoscale",
        &format!("EXOSCALE_API_KEY = \"{KEY}\", EXOSCALE_API_SECRET_FILE = \"{secret}\", EXOSCALE_ENDPOINT = \"https://api.exoscale.com/v1\", EXOSCALE_TTL = \"60\""),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "retired v1 API");
    assert!(matches!(provider, Provider::Exoscale(_)));
    assert!(provider.describe().contains("https://api-ch-gva-2.exoscale.com/v2"), "{}", provider.describe());
    let err = fake_api::installer("exoscale", &format!("EXOSCALE_API_KEY = \"{KEY}\"")).unwrap_err();
    assert!(err.contains("api_secret"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exoscale_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key = fake_api::secret_file(&stack, "exoscale.key", KEY);
    let secret = fake_api::secret_file(&stack, "exoscale.secret", SECRET);
    let table = format!(
        "provider = \"exoscale\"\napi_url = \"{}/v2\"\napi_key_file = \"{}\"\napi_secret_file = \"{}\"",
        api.url,
        key.display(),
        secret.display()
    );
    fake_api::issue_through(&stack, &table, &[SECRET]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.starts_with("POST ")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("DELETE ")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
