//! The Aurora DNS adapter against a contract fake of the Aurora DNS API, built from the
//! API's documented clients: Apache Libcloud's AuroraDNS driver
//! (<https://libcloud.readthedocs.io/en/stable/dns/drivers/auroradns.html>) and
//! <https://github.com/nrdcg/auroradns>, which lego uses.
//!
//! Every request must carry `X-AuroraDNS-Date: yyyyMMddTHHmmssZ` (within five minutes of
//! now) and `Authorization: AuroraDNSv1 base64(key ":" base64(HMAC-SHA256(secret, METHOD
//! path date)))`, else 401 `{"error": "AuthenticationRequiredError", "errormsg"}`. `GET
//! /zones` lists `[{"id", "name"}]`; `GET /zones/{id}/records` lists `[{"id", "type",
//! "name" (relative, empty at the apex), "content", "ttl"}]`; `POST /zones/{id}/records`
//! creates one record (a name carrying the zone, which Aurora stores but never serves, is
//! refused here); `DELETE /zones/{id}/records/{record}` answers 204 or 404
//! `RecordNotFoundError`. When given a BIND, the fake applies every change to it through
//! RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::Secret;
use wildcert_dns_auroradns::AuroraDns;
use wildcert_dns_rfc2136::Rfc2136;

const KEY: &str = "AuR0ra-ApI-kEy-7f3e";
const SECRET: &str = "aurora-s3cret-9b1d5c0e";

#[derive(Default)]
struct State {
    /// (id, name)
    zones: Vec<(String, String)>,
    /// (zone id, record)
    records: Vec<(String, Value)>,
    next: u64,
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"error": code, "errormsg": message}))
}

fn authenticate(request: &HttpRequest) -> Result<(), &'static str> {
    let date = request.header("x-auroradns-date").ok_or("missing X-AuroraDNS-Date")?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(date, &format).map_err(|_| "malformed date")?.assume_utc();
    if (time::OffsetDateTime::now_utc() - at).abs() > time::Duration::minutes(5) {
        return Err("request date too far from now");
    }
    let token =
        request.header("authorization").and_then(|a| a.strip_prefix("AuroraDNSv1 ")).ok_or("no token")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(token).map_err(|_| "malformed token")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "malformed token")?;
    let (key, signature) = decoded.split_once(':').ok_or("malformed token")?;
    if key != KEY {
        return Err("unknown API key");
    }
    let message = format!("{}{}{date}", request.method, request.path());
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes()),
        message.as_bytes(),
    );
    if signature != base64::engine::general_purpose::STANDARD.encode(mac.as_ref()) {
        return Err("invalid signature");
    }
    Ok(())
}

fn fqdn(state: &State, zone_id: &str, record: &Value) -> String {
    let zone = &state.zones.iter().find(|(id, _)| id == zone_id).unwrap().1;
    match record["name"].as_str().unwrap_or_default() {
        "" => format!("{zone}."),
        name => format!("{name}.{zone}."),
    }
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if let Err(why) = authenticate(request) {
        return error(401, "AuthenticationRequiredError", why);
    }
    let segments = request.segments();
    let known = |id: &str| state.zones.iter().any(|(z, _)| z == id);
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["zones"]) => Reply::json(
            200,
            Value::Array(state.zones.iter().map(|(id, name)| json!({"id": id, "name": name, "servers": ["ns001.auroradns.eu"], "account_id": "acc-1"})).collect()),
        ),
        (_, ["zones", id, ..]) if !known(id) => error(404, "DomainNotFoundError", "zone not found"),
        ("GET", ["zones", id, "records"]) => Reply::json(
            200,
            Value::Array(state.records.iter().filter(|(z, _)| z == id).map(|(_, r)| r.clone()).collect()),
        ),
        ("POST", ["zones", id, "records"]) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let zone = state.zones.iter().find(|(z, _)| z == id).unwrap().1.clone();
            let name = body["name"].as_str().unwrap_or_default();
            if body["type"] != "TXT" || body["content"].as_str().is_none_or(str::is_empty) {
                return error(400, "InvalidRecordError", "type and content are required");
            }
            if name.ends_with('.') || name == zone || name.ends_with(&format!(".{zone}")) {
                return error(400, "InvalidRecordError", "the name must be relative to the zone");
            }
            state.next += 1;
            let record = json!({"id": format!("5e1f0a2b-0000-4000-8000-{:012}", state.next), "type": "TXT", "name": name, "content": body["content"], "ttl": body["ttl"].as_u64().unwrap_or(3600), "prio": 0, "disabled": false});
            let change = Change::add(fqdn(state, id, &record), body["content"].as_str().unwrap());
            state.records.push((id.to_string(), record.clone()));
            Reply::json(201, record).with([change])
        }
        ("DELETE", ["zones", id, "records", rid]) => {
            let Some(at) = state.records.iter().position(|(z, r)| z == id && r["id"] == *rid) else {
                return error(404, "RecordNotFoundError", "record not found");
            };
            let (_, record) = state.records.remove(at);
            let change = Change::remove(fqdn(state, id, &record), record["content"].as_str().unwrap());
            Reply::json(204, Value::Null).with([change])
        }
        _ => error(404, "NotFoundError", "no such resource"),
    }
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones
            .iter()
            .enumerate()
            .map(|(i, z)| (format!("0c2b8e4a-0000-4000-9000-{i:012}"), z.to_string()))
            .collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|(z, r)| fqdn(state, z, r).eq_ignore_ascii_case(name))
        .map(|(_, r)| r["content"].as_str().unwrap().to_string())
        .collect()
}

fn adapter(url: &str, secret: &str) -> AuroraDns {
    AuroraDns::new(url, &Secret::new(KEY), &Secret::new(secret), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake; other records survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auroradns_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    let zone = api.state().zones[1].0.clone();
    let others = vec![
        (
            zone.clone(),
            json!({"id": "o-1", "type": "TXT", "name": "_acme-challenge.gradient", "content": "someone-elses-value", "ttl": 300}),
        ),
        (zone.clone(), json!({"id": "o-2", "type": "A", "name": "", "content": "198.51.100.4", "ttl": 3600})),
    ];
    api.state().records = others.clone();
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into(), SECRET.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().records, others, "another record changed");
    conformance::auth_failure(
        &adapter(&api.url, "wrong-secret-value"),
        &fqdn,
        &None,
        "secret",
        &["wrong-secret-value".into(), SECRET.into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET), &api.upstream(), &fqdn, &None).await;
    // A value at the zone's apex is written with an empty name.
    let apex = conformance::record("example.org.", &None, "apex-value");
    wildcert_dns_api::DnsProvider::present(&subject.provider, &apex).await.unwrap();
    assert_eq!(values(&api.state(), "example.org."), ["apex-value"]);
    wildcert_dns_api::DnsProvider::cleanup(&subject.provider, &apex).await.unwrap();
    assert!(values(&api.state(), "example.org.").is_empty());
}

/// The installer's settings reach the adapter.
#[test]
fn auroradns_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "auroradns"
settings = { AURORA_API_KEY_FILE = "/etc/wildcert/aurora.key", AURORA_SECRET_FILE = "/etc/wildcert/aurora.secret", AURORA_ENDPOINT = "https://api.auroradns.eu/", AURORA_TTL = "300" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "AURORA_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::AuroraDns(cfg) = &config.dns["installer"].config else {
        panic!("not auroradns")
    };
    assert_eq!(cfg.api_url, "https://api.auroradns.eu/");
    assert!(cfg.api_key.is_some() && cfg.secret.is_some());
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auroradns_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key_file = fake_api::secret_file(&stack, "aurora.key", KEY);
    let secret_file = fake_api::secret_file(&stack, "aurora.secret", SECRET);
    let table = format!(
        "provider = \"auroradns\"\napi_url = \"{}\"\napi_key_file = \"{}\"\nsecret_file = \"{}\"",
        api.url,
        key_file.display(),
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY, SECRET]);
    assert!(api.state().records.is_empty());
}
