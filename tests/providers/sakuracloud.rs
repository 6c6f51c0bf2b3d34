//! The Sakura Cloud adapter against a contract fake of the Sakura Cloud IaaS API 1.1's DNS
//! common service items, built from its documentation
//! (<https://manual.sakura.ad.jp/cloud-api/1.1/commonserviceitem/>,
//! <https://manual.sakura.ad.jp/cloud-api/1.1/>, <https://docs.dnscontrol.org/provider/sakuracloud>):
//! HTTP basic authentication with the access token and secret (else 401 with
//! `{"is_fatal": true, "serial", "status": "401 Unauthorized", "error_code": "unauthorized",
//! "error_msg"}`); `GET /commonserviceitem?<JSON>` with `{"Filter": {"Provider.Class":
//! "dns"}, "From", "Count"}` lists `CommonServiceItems` (`ID`, `Name`, `Status.Zone`,
//! `Settings.DNS.ResourceRecordSets`, `SettingsHash`) with `Total`; `GET
//! /commonserviceitem/{id}` answers one `CommonServiceItem`; `PUT /commonserviceitem/{id}`
//! with `{"CommonServiceItem": {"Settings": {"DNS": {"ResourceRecordSets": [...]}},
//! "SettingsHash"}}` replaces the whole record list, refused with 409 when the hash is not
//! the current one. When given a BIND, the fake applies each TXT change to it through
//! RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, decode};
use wildcert::config::Config;
use wildcert_dns_api::{Secret, txt_text};
use wildcert_dns_rfc2136::Rfc2136;
use wildcert_dns_sakuracloud::SakuraCloud;

const TOKEN: &str = "9f8e7d6c-sakura-access-token";
const SECRET: &str = "SakuraSecret0123456789abcdefghij";

struct Zone {
    id: String,
    name: String,
    records: Vec<Value>,
    /// Changes with every write: the `SettingsHash`.
    version: u64,
}

#[derive(Default)]
struct State {
    zones: Vec<Zone>,
    /// Writes refused with 409 because their hash was stale.
    conflicts: u32,
    /// Another host's value, written into the zone right after the next read of a zone
    /// item: the reader's write then carries a stale hash.
    interfere: Option<String>,
}

fn error(status: u16, text: &str, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"is_fatal": true, "serial": "0f1e2d3c4b5a", "status": text, "error_code": code, "error_msg": message}),
    )
}

fn item(zone: &Zone) -> Value {
    json!({
        "Index": 0, "ID": zone.id, "Name": zone.name, "Description": "",
        "Settings": {"DNS": {"ResourceRecordSets": zone.records}},
        "SettingsHash": format!("hash-{}", zone.version),
        "Status": {"Zone": zone.name, "NS": ["ns1.gslb1.sakura.ne.jp", "ns2.gslb1.sakura.ne.jp"]},
        "ServiceClass": "cloud/dns", "Availability": "available",
        "Provider": {"ID": 9002001, "Class": "dns", "Name": "gslb1.sakura.ne.jp", "ServiceClass": "cloud/dns"},
    })
}

/// The TXT values (as text) at each name, to diff a write against the zone before it.
fn txt_set(zone: &str, records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|r| r["Type"] == "TXT")
        .map(|r| {
            let name = r["Name"].as_str().unwrap_or_default();
            let fqdn = if name == "@" { format!("{zone}.") } else { format!("{name}.{zone}.") };
            (fqdn, txt_text(r["RData"].as_str().unwrap_or_default()))
        })
        .collect()
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN}:{SECRET}")));
    if request.header("authorization") != Some(expected.as_str()) {
        return error(401, "401 Unauthorized", "unauthorized", "認証に失敗しました。");
    }
    let parts = request.segments();
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["commonserviceitem"]) => {
            let query: Value = request
                .target
                .split_once('?')
                .and_then(|(_, q)| serde_json::from_str(&decode(q)).ok())
                .unwrap_or(json!({}));
            let from = query["From"].as_u64().unwrap_or(0) as usize;
            let count = query["Count"].as_u64().unwrap_or(20) as usize;
            let dns_only = query["Filter"]["Provider.Class"] == "dns";
            let all: Vec<Value> = state.zones.iter().filter(|_| dns_only).map(item).collect();
            let total = all.len();
            let page: Vec<Value> = all.into_iter().skip(from).take(count).collect();
            Reply::json(
                200,
                json!({"From": from, "Count": page.len(), "Total": total, "CommonServiceItems": page, "is_ok": true}),
            )
        }
        ("GET", ["commonserviceitem", id]) => {
            let other = state.interfere.take();
            let Some(zone) = state.zones.iter_mut().find(|z| z.id == *id) else {
                return error(404, "404 Not Found", "not_found", "対象が見つかりません。");
            };
            let reply = Reply::json(200, json!({"CommonServiceItem": item(zone), "is_ok": true}));
            if let Some(value) = other {
                zone.records
                    .push(json!({"Name": "_acme-challenge", "Type": "TXT", "RData": value, "TTL": 60}));
                zone.version += 1;
            }
            reply
        }
        ("PUT", ["commonserviceitem", id]) => {
            let Some(zone) = state.zones.iter_mut().find(|z| z.id == *id) else {
                return error(404, "404 Not Found", "not_found", "対象が見つかりません。");
            };
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let hash = &body["CommonServiceItem"]["SettingsHash"];
            if !hash.is_null() && *hash != format!("hash-{}", zone.version) {
                state.conflicts += 1;
                return error(409, "409 Conflict", "conflict", "設定が他の操作により変更されています。");
            }
            let Some(records) = body["CommonServiceItem"]["Settings"]["DNS"]["ResourceRecordSets"].as_array()
            else {
                return error(400, "400 Bad Request", "bad_request", "ResourceRecordSets is required.");
            };
            if records.iter().any(|r| r["Type"] == "TXT" && r["TTL"].as_u64().is_some_and(|t| t < 10)) {
                return error(400, "400 Bad Request", "bad_request", "TTL must be at least 10.");
            }
            let before = txt_set(&zone.name, &zone.records);
            let after = txt_set(&zone.name, records);
            let mut changes: Vec<Change> = before
                .iter()
                .filter(|x| !after.contains(x))
                .map(|(n, v)| Change::remove(n.clone(), v.clone()))
                .collect();
            changes.extend(
                after.iter().filter(|x| !before.contains(x)).map(|(n, v)| Change::add(n.clone(), v.clone())),
            );
            zone.records = records.clone();
            zone.version += 1;
            Reply::json(200, json!({"CommonServiceItem": item(zone), "Success": true, "is_ok": true}))
                .with(changes)
        }
        _ => error(404, "404 Not Found", "not_found", "対象が見つかりません。"),
    }
}

fn others() -> Vec<Value> {
    vec![
        json!({"Name": "@", "Type": "A", "RData": "198.51.100.8", "TTL": 3600}),
        json!({"Name": "@", "Type": "MX", "RData": "10 mail.example.com.", "TTL": 3600}),
        json!({"Name": "_acme-challenge.gradient", "Type": "TXT", "RData": "someone-elses-value", "TTL": 60}),
    ]
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones
            .iter()
            .enumerate()
            .map(|(i, z)| Zone {
                id: format!("11310000{i:04}"),
                name: z.to_string(),
                records: Vec::new(),
                version: 1,
            })
            .collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .zones
        .iter()
        .flat_map(|z| txt_set(&z.name, &z.records))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

fn adapter(url: &str, secret: &str) -> SakuraCloud {
    SakuraCloud::new(url, &Secret::new(TOKEN), &Secret::new(secret), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake; every other record of the zone is sent
/// back exactly as read; refusals and retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sakuracloud_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    api.state().zones[1].records = others();
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![SECRET.into(), TOKEN.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().zones[1].records, others(), "another record changed");
    conformance::auth_failure(
        &adapter(&api.url, "wrong-secret"),
        &fqdn,
        &None,
        "access_token_secret",
        &["wrong-secret".into(), SECRET.into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET), &api.upstream(), &fqdn, &None).await;
}

/// Another host writes the zone between our read and our write: the stale write is refused
/// by its `SettingsHash` and redone on a fresh read, so both values stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sakuracloud_concurrent_writer_is_not_overwritten() {
    let api = fake(&["example.com"], None).await;
    api.state().interfere = Some("other-host-value".into());
    let record = conformance::record("_acme-challenge.example.com.", &None, "our-value");
    wildcert_dns_api::DnsProvider::present(&adapter(&api.url, SECRET), &record).await.unwrap();
    let mut values = values(&api.state(), "_acme-challenge.example.com.");
    values.sort();
    assert_eq!(values, ["other-host-value", "our-value"]);
    assert_eq!(api.state().conflicts, 1, "the stale write was not refused");
}

/// The installer's settings (lego's names) reach the adapter.
#[test]
fn sakuracloud_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "sakuracloud"
settings = { SAKURACLOUD_ACCESS_TOKEN_FILE = "/etc/wildcert/sakura.token", SAKURACLOUD_ACCESS_TOKEN_SECRET_FILE = "/etc/wildcert/sakura.secret", SAKURACLOUD_HTTP_TIMEOUT = "20", SAKURACLOUD_TTL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "SAKURACLOUD_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::SakuraCloud(cfg) = &config.dns["installer"].config else {
        panic!("not sakuracloud")
    };
    assert_eq!(cfg.timeout, Duration::from_secs(20));
    assert!(cfg.access_token.is_some() && cfg.access_token_secret.is_some());
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sakuracloud_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let token_file = fake_api::secret_file(&stack, "sakura.token", TOKEN);
    let secret_file = fake_api::secret_file(&stack, "sakura.secret", SECRET);
    let table = format!(
        "provider = \"sakuracloud\"\napi_url = \"{}\"\naccess_token_file = \"{}\"\naccess_token_secret_file = \"{}\"",
        api.url,
        token_file.display(),
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[SECRET, TOKEN]);
    assert!(api.state().zones[0].records.is_empty());
}
