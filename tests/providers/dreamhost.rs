//! The DreamHost adapter against a contract fake of the DreamHost API, built from its
//! documentation (help.dreamhost.com: "Application programming interface overview",
//! "Connecting to the DreamHost API" and the DNS API commands): one URL taking `key`, `cmd`,
//! `format` and the command's parameters by GET or POST; `dns-list_records` answers every
//! record of the account (`zone`, `record` as a full name, `type`, `value`, `editable`);
//! `dns-add_record` and `dns-remove_record` take `record`, `type`, `value`; answers are
//! `{"result": "success", "data": ...}` or `{"result": "error", "data": "<code>"}` with codes
//! such as `invalid_api_key`, `no_such_zone`, `no_such_value` and, for the rate limit,
//! `slow_down_bucko`. When given a BIND, the fake applies every change to it through
//! RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, param};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_dreamhost::DreamHost;

const KEY: &str = "6SHU5P2HLDAYECUM";

#[derive(Debug, Clone)]
struct Record {
    zone: String,
    /// Full name, no final dot.
    record: String,
    value: String,
}

#[derive(Default)]
struct State {
    zones: Vec<String>,
    records: Vec<Record>,
    key_in_url: bool,
    /// Commands left before the rate limit answers `slow_down_bucko`.
    calls_left: u32,
}

fn result(ok: bool, data: Value) -> (Reply, Vec<Change>) {
    (Reply::json(200, json!({"result": if ok { "success" } else { "error" }, "data": data})), Vec::new())
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    if request.target.contains(KEY) {
        state.key_in_url = true;
    }
    let mut params = request.query();
    if request.method == "POST" {
        params.extend(fake_api::query_pairs(&request.body));
    }
    let p = |k: &str| param(&params, k).unwrap_or_default().to_string();
    match param(&params, "key") {
        None => return result(false, json!("no_key")),
        Some(k) if k != KEY => return result(false, json!("invalid_api_key")),
        _ => {}
    }
    if p("format") != "json" {
        return (Reply::text(200, "text/plain", "error\tformat"), Vec::new());
    }
    if state.calls_left == 0 {
        return result(false, json!("slow_down_bucko\tdns-* commands: 30 per 10 minutes"));
    }
    state.calls_left -= 1;
    match p("cmd").as_str() {
        "dns-list_records" => {
            let mut items: Vec<Value> = state
                .records
                .iter()
                .map(|r| json!({"account_id": "1", "zone": r.zone, "record": r.record, "type": "TXT", "value": r.value, "comment": "", "editable": "1"}))
                .collect();
            items.push(json!({"account_id": "1", "zone": "example.com", "record": "example.com", "type": "A", "value": "192.0.2.1", "comment": "", "editable": "0"}));
            result(true, Value::Array(items))
        }
        "dns-add_record" | "dns-remove_record" => {
            let (name, rtype, value) = (p("record"), p("type"), p("value"));
            if name.is_empty() {
                return result(false, json!("no_record"));
            }
            if rtype != "TXT" {
                return result(false, json!("invalid_type"));
            }
            let Some(zone) =
                state.zones.iter().find(|z| name == **z || name.ends_with(&format!(".{z}"))).cloned()
            else {
                return result(false, json!("no_such_zone"));
            };
            let at = state.records.iter().position(|r| r.record == name && r.value == value);
            if p("cmd") == "dns-add_record" {
                if at.is_some() {
                    return result(false, json!("record_already_exists_not_editable"));
                }
                state.records.push(Record { zone, record: name.clone(), value: value.clone() });
                let (reply, _) = result(true, json!("record_added"));
                (reply, vec![Change::add(format!("{name}."), value)])
            } else {
                let Some(i) = at else {
                    let known = state.records.iter().any(|r| r.record == name);
                    return result(false, json!(if known { "no_such_value" } else { "no_such_record" }));
                };
                state.records.remove(i);
                let (reply, _) = result(true, json!("record_removed"));
                (reply, vec![Change::remove(format!("{name}."), value)])
            }
        }
        _ => result(false, json!("no_cmd")),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| format!("{}.", r.record).eq_ignore_ascii_case(name))
        .map(|r| r.value.clone())
        .collect()
}

async fn fake(zones: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        calls_left: 10_000,
        ..Default::default()
    };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, key: &str) -> DreamHost {
    DreamHost::new(url, &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake; the key never travels in a URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dreamhost_conformance() {
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
    assert!(!api.state().key_in_url, "the key travelled in a URL");
    conformance::auth_failure(
        &adapter(&api.url, "WRONGKEY0000"),
        &fqdn,
        &None,
        "api_key",
        &["WRONGKEY0000".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, KEY), &api.upstream(), &fqdn, &None).await;
}

/// A name in no hosted zone is `ZoneNotFound`, and DreamHost's rate limit is temporary.
#[tokio::test]
async fn dreamhost_unknown_zone_and_rate_limit() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&api.url, KEY);
    let err = p.present(&conformance::record("_acme-challenge.example.org.", &None, "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    api.state().calls_left = 0;
    let record = conformance::record("_acme-challenge.example.com.", &None, "v");
    let err = p.present(&record).await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("rate limit"), "{err}");
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn dreamhost_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_api::temp_secret(dir.path(), "dreamhost.key", KEY);
    let (warnings, provider) = fake_api::installer(
        "dreamhost",
        &format!("DREAMHOST_API_KEY_FILE = \"{key}\", DREAMHOST_PROPAGATION_TIMEOUT = \"3600\""),
    )
    .unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("DREAMHOST_PROPAGATION_TIMEOUT has no effect")),
        "{warnings:?}"
    );
    assert!(matches!(provider, Provider::DreamHost(_)));
    assert!(provider.describe().contains("api.dreamhost.com"));
    let err = fake_api::installer("dreamhost", "DREAMHOST_TTL = \"300\"").unwrap_err();
    assert!(err.contains("api_key"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dreamhost_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key = fake_api::secret_file(&stack, "dreamhost.key", KEY);
    let table =
        format!("provider = \"dreamhost\"\napi_url = \"{}\"\napi_key_file = \"{}\"", api.url, key.display());
    fake_api::issue_through(&stack, &table, &[KEY]);
    let state = api.state();
    assert!(state.records.is_empty());
    assert!(!state.key_in_url);
}
