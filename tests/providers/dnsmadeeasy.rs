//! The DNS Made Easy adapter against a contract fake of the DNS Made Easy API v2.0, built from
//! its API documentation ("API V2.0 Documentation": Authentication, Rate Limiting, Managed DNS
//! by name, Managed DNS Records GET/POST/DELETE) and lego's client of it: every request
//! carries `x-dnsme-apiKey`, `x-dnsme-requestDate` (an HTTP date close to the server's
//! clock) and `x-dnsme-hmac`, the hex HMAC-SHA1 of that date under the secret key, else 403;
//! `GET /V2.0/dns/managed/name?domainname=` answers the domain with its `id` (404 when not
//! managed); `GET .../{id}/records?recordName=&type=` answers `{"data": [...], "page",
//! "totalPages", "totalRecords"}` with names relative to the domain and TXT values quoted;
//! `POST .../{id}/records` answers 201 with the record; `DELETE .../{id}/records/{recordId}`;
//! the account's rate limit (150 requests per 5 minutes) answers HTTP 400 "Rate limit
//! exceeded". When given a BIND, the fake applies every change to it through RFC 2136, so
//! Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, param};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord, txt_text};
use wildcert_dns_dnsmadeeasy::DnsMadeEasy;

const KEY: &str = "1c1a3c91-4770-4ce7-96f4-54c0eb0e457a";
const SECRET: &str = "c9b5625f-9834-4ff8-baba-4ed5f32cae55";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain: u64,
    /// Relative to the domain, empty at the apex.
    name: String,
    /// As sent: TXT values in presentation form.
    value: String,
}

struct State {
    domains: Vec<(u64, String)>,
    records: Vec<Record>,
    next_id: u64,
    /// Requests the account may still make in the current window.
    requests_left: u32,
}

fn hex_hmac_sha1(key: &str, message: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    aws_lc_rs::hmac::sign(&key, message.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn error(status: u16, message: &str) -> (Reply, Vec<Change>) {
    (Reply::json(status, json!({"error": [message]})), Vec::new())
}

fn fqdn(state: &State, r: &Record) -> String {
    let domain = &state.domains.iter().find(|(id, _)| *id == r.domain).unwrap().1;
    if r.name.is_empty() { format!("{domain}.") } else { format!("{}.{domain}.", r.name) }
}

fn record_json(r: &Record) -> Value {
    json!({"id": r.id, "name": r.name, "type": "TXT", "value": r.value, "ttl": 120, "sourceId": r.domain,
           "gtdLocation": "DEFAULT", "failover": false, "monitor": false, "dynamicDns": false})
}

fn authenticated(request: &HttpRequest) -> Result<(), &'static str> {
    if request.header("x-dnsme-apikey") != Some(KEY) {
        return Err("API key not found");
    }
    let date = request.header("x-dnsme-requestdate").ok_or("Missing request date")?;
    let sent = time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc2822)
        .map_err(|_| "Invalid request date")?;
    if (time::OffsetDateTime::now_utc() - sent).abs() > time::Duration::minutes(5) {
        return Err("Request sent with date header too far out of sync");
    }
    if request.header("x-dnsme-hmac") != Some(hex_hmac_sha1(SECRET, date).as_str()) {
        return Err("HMAC validation failed");
    }
    Ok(())
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    if let Err(why) = authenticated(request) {
        return error(403, why);
    }
    if state.requests_left == 0 {
        return error(400, "Rate limit exceeded");
    }
    state.requests_left -= 1;
    let path = request.path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let q = request.query();
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["V2.0", "dns", "managed", "name"]) => {
            let name = param(&q, "domainname").unwrap_or_default();
            match state.domains.iter().find(|(_, d)| d == name) {
                Some((id, d)) => {
                    (Reply::json(200, json!({"id": id, "name": d, "gtdEnabled": false})), Vec::new())
                }
                None => error(404, "Domain not found"),
            }
        }
        ("GET", ["V2.0", "dns", "managed", id, "records"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let name = param(&q, "recordName");
            let rtype = param(&q, "type");
            let items: Vec<Value> = state
                .records
                .iter()
                .filter(|r| r.domain == id)
                .filter(|r| name.is_none_or(|n| n == r.name))
                .filter(|_| rtype.is_none_or(|t| t == "TXT"))
                .map(record_json)
                .collect();
            let total = items.len();
            (
                Reply::json(200, json!({"data": items, "page": 0, "totalPages": 1, "totalRecords": total})),
                Vec::new(),
            )
        }
        ("POST", ["V2.0", "dns", "managed", id, "records"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if !state.domains.iter().any(|(d, _)| *d == id) {
                return error(404, "Domain not found");
            }
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            if body["type"] != "TXT" || !body["value"].is_string() || !body["name"].is_string() {
                return error(400, "Record name, type and value are required");
            }
            state.next_id += 1;
            let record = Record {
                id: state.next_id,
                domain: id,
                name: body["name"].as_str().unwrap().into(),
                value: body["value"].as_str().unwrap().into(),
            };
            let change = Change::add(fqdn(state, &record), txt_text(&record.value));
            let reply = Reply::json(201, record_json(&record));
            state.records.push(record);
            (reply, vec![change])
        }
        ("DELETE", ["V2.0", "dns", "managed", id, "records", record]) => {
            let (id, record): (u64, u64) = (id.parse().unwrap_or(0), record.parse().unwrap_or(0));
            match state.records.iter().position(|r| r.id == record && r.domain == id) {
                Some(i) => {
                    let r = state.records.remove(i);
                    let change = Change::remove(fqdn(state, &r), txt_text(&r.value));
                    (Reply::json(200, Value::Null), vec![change])
                }
                None => error(404, "Record not found"),
            }
        }
        _ => error(404, "Not found"),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| fqdn(state, r).eq_ignore_ascii_case(name))
        .map(|r| txt_text(&r.value))
        .collect()
}

async fn fake(domains: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().enumerate().map(|(i, d)| (1_119_443 + i as u64, d.to_string())).collect(),
        records: Vec::new(),
        next_id: 66_000_000,
        requests_left: 150,
    };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, secret: &str) -> DnsMadeEasy {
    DnsMadeEasy::new(&format!("{url}/V2.0"), &Secret::new(KEY), &Secret::new(secret), Duration::from_secs(5))
        .unwrap()
}

/// The conformance suite against the contract fake, the domain found by walking up the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsmadeeasy_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into(), SECRET.into()],
    };
    conformance::records(&subject).await;
    // The checks below need more calls than are left of one rate-limit window.
    api.state().requests_left = 1000;
    conformance::auth_failure(
        &adapter(&api.url, "wrong-secret"),
        &fqdn,
        &None,
        "api_secret",
        &["wrong-secret".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET), &api.upstream(), &fqdn, &None).await;
}

/// Values are sent quoted, and an exhausted rate limit is a temporary failure.
#[tokio::test]
async fn dnsmadeeasy_quotes_values_and_respects_the_rate_limit() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&api.url, SECRET);
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "ours".into(),
        ttl: 120,
        raw: None,
    };
    p.present(&record).await.unwrap();
    assert_eq!(api.state().records[0].value, "\"ours\"");
    assert_eq!(api.state().records[0].name, "_acme-challenge");
    api.state().requests_left = 0;
    let err = p.cleanup(&record).await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("rate limit"), "{err}");
    api.state().requests_left = 10;
    p.cleanup(&record).await.unwrap();
    assert!(api.state().records.is_empty());
}

/// The installer's settings reach the adapter; DNSMADEEASY_SANDBOX picks the sandbox.
#[tokio::test]
async fn dnsmadeeasy_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let secret = fake_api::temp_secret(dir.path(), "dme.secret", SECRET);
    let (warnings, provider) = fake_api::installer(
        "dnsmadeeasy",
        &format!(
            "DNSMADEEASY_API_KEY = \"{KEY}\", DNSMADEEASY_API_SECRET_FILE = \"{secret}\", DNSMADEEASY_SANDBOX = \"true\", DNSMADEEASY_TTL = \"120\""
        ),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "DNSMADEEASY_TTL has no effect");
    assert!(matches!(provider, Provider::DnsMadeEasy(_)));
    assert!(provider.describe().contains("api.sandbox.dnsmadeeasy.com"), "{}", provider.describe());
    let err = fake_api::installer("dnsmadeeasy", &format!("DNSMADEEASY_API_KEY = \"{KEY}\"")).unwrap_err();
    assert!(err.contains("api_secret"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsmadeeasy_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key = fake_api::secret_file(&stack, "dme.key", KEY);
    let secret = fake_api::secret_file(&stack, "dme.secret", SECRET);
    let table = format!(
        "provider = \"dnsmadeeasy\"\napi_url = \"{}/V2.0\"\napi_key_file = \"{}\"\napi_secret_file = \"{}\"",
        api.url,
        key.display(),
        secret.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY, SECRET]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.starts_with("POST ")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("DELETE ")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
