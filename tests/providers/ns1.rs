//! The NS1 adapter against a contract fake of the NS1 REST API v1, built from its reference:
//! `GET /v1/zones/{zone}`, `GET`/`PUT`/`POST`/`DELETE /v1/zones/{zone}/{domain}/TXT` (a
//! record `{"zone", "domain", "type", "ttl", "answers": [{"answer": ["text"]}]}`; PUT
//! creates it, 400 "record already exists" when it does; POST updates it, 404 when it does
//! not; DELETE removes it), the `X-NSONE-Key` header, and errors as `{"message"}`. When given
//! a BIND, the fake applies every change to it through RFC 2136, so Pebble validates a real
//! issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret};
use wildcert_dns_ns1::Ns1;
use wildcert_dns_rfc2136::Rfc2136;

const KEY: &str = "ns1-api-k3y-abc";

#[derive(Default)]
struct State {
    zones: Vec<String>,
    /// domain -> TXT answers.
    records: BTreeMap<String, Vec<String>>,
}

fn message(text: &str) -> Value {
    json!({"message": text})
}

fn answers(body: &Value) -> Option<Vec<String>> {
    body["answers"]
        .as_array()?
        .iter()
        .map(|a| {
            a["answer"].as_array().map(|parts| parts.iter().filter_map(|p| p.as_str()).collect::<String>())
        })
        .collect()
}

fn route(
    state: &mut State,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, Value, Vec<(bool, String, String)>) {
    if key != Some(KEY) {
        return (401, message("Unauthorized"), Vec::new());
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (_, ["v1", "zones", z, ..]) if !state.zones.iter().any(|x| x == z) => {
            (404, message("zone not found"), Vec::new())
        }
        ("GET", ["v1", "zones", z]) => (200, json!({"zone": z, "ttl": 3600, "records": []}), Vec::new()),
        (_, ["v1", "zones", z, d, "TXT"]) if !(d == z || d.ends_with(&format!(".{z}"))) => {
            (400, message("invalid: FQDN must be within the zone"), Vec::new())
        }
        ("GET", ["v1", "zones", z, d, "TXT"]) => match state.records.get(*d) {
            Some(values) => {
                let answers: Vec<Value> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json!({"answer": [v], "id": format!("a{i}")}))
                    .collect();
                (
                    200,
                    json!({"zone": z, "domain": d, "type": "TXT", "ttl": 60, "answers": answers}),
                    Vec::new(),
                )
            }
            None => (404, message("record not found"), Vec::new()),
        },
        ("PUT" | "POST", ["v1", "zones", _, d, "TXT"]) => {
            let exists = state.records.contains_key(*d);
            if method == "PUT" && exists {
                return (400, message("record already exists"), Vec::new());
            }
            if method == "POST" && !exists {
                return (404, message("record not found"), Vec::new());
            }
            let Some(new) = answers(&serde_json::from_str(body).unwrap_or(Value::Null)) else {
                return (400, message("invalid: answers"), Vec::new());
            };
            let old = state.records.get(*d).cloned().unwrap_or_default();
            let at = format!("{d}.");
            let mut changes: Vec<(bool, String, String)> =
                old.iter().filter(|v| !new.contains(v)).map(|v| (false, at.clone(), v.clone())).collect();
            changes.extend(new.iter().filter(|v| !old.contains(v)).map(|v| (true, at.clone(), v.clone())));
            state.records.insert(d.to_string(), new);
            (200, json!({"domain": d, "type": "TXT"}), changes)
        }
        ("DELETE", ["v1", "zones", _, d, "TXT"]) => match state.records.remove(*d) {
            Some(old) => (200, json!({}), old.into_iter().map(|v| (false, format!("{d}."), v)).collect()),
            None => (404, message("record not found"), Vec::new()),
        },
        _ => (404, message("not found"), Vec::new()),
    }
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { zones: zones.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, |state: &mut State, request: &support::HttpRequest| {
        let (status, body, changes) =
            route(state, &request.method, request.path(), request.header("x-nsone-key"), &request.body);
        Reply::json(status, body).with(changes.into_iter().map(|(add, fqdn, value)| Change {
            add,
            fqdn,
            value,
        }))
    })
    .await
}

/// The API's base URL on the fake.
fn base(api: &FakeApi<State>) -> String {
    format!("{}/v1", api.url)
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.get(&name.trim_end_matches('.').to_ascii_lowercase()).cloned().unwrap_or_default()
}

fn adapter(url: &str, key: &str) -> Ns1 {
    Ns1::new(url, &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, with an answer someone else wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ns1_conformance() {
    let api = fake(&["example.com"], None).await;
    api.state()
        .records
        .insert("_acme-challenge.gradient.example.com".into(), vec!["someone-elses-value".into()]);
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&base(&api), KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    assert_eq!((api.reader(values))(fqdn.clone()).await, ["someone-elses-value"]);
    let seen = api.seen();
    assert!(
        seen.iter().any(|s| s == "POST /v1/zones/example.com/_acme-challenge.gradient.example.com/TXT"),
        "{seen:#?}"
    );
    conformance::auth_failure(
        &adapter(&base(&api), "wrong-key"),
        &fqdn,
        &None,
        "api_key",
        &["wrong-key".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/v1"), KEY),
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// A new name is created with PUT and its last answer goes with DELETE.
#[tokio::test]
async fn ns1_creates_and_deletes_the_record() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&base(&api), KEY);
    let record = conformance::record("_acme-challenge.example.com.", &Some("example.com.".into()), "v");
    p.present(&record).await.unwrap();
    p.cleanup(&record).await.unwrap();
    let seen = api.seen();
    assert!(
        seen.contains(&"PUT /v1/zones/example.com/_acme-challenge.example.com/TXT".to_string()),
        "{seen:#?}"
    );
    assert!(
        seen.contains(&"DELETE /v1/zones/example.com/_acme-challenge.example.com/TXT".to_string()),
        "{seen:#?}"
    );
    assert!(api.state().records.is_empty());
}

#[test]
fn ns1_installer_settings() {
    let text = &fake_api::config_with(
        r#"[dns.installer]
provider = "ns1"
settings = { NS1_API_KEY_FILE = "/etc/wildcert/ns1.key", NS1_TTL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    fake_api::assert_warned(&config.warnings, "NS1_TTL has no effect");
    assert!(matches!(config.dns["installer"].config, wildcert::dns::provider::ProviderConfig::Ns1(_)));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ns1_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key_file = fake_api::secret_file(&stack, "ns1.key", KEY);
    let table = format!(
        "provider = \"ns1\"\napi_url = \"{}\"\napi_key_file = \"{}\"",
        base(&api),
        key_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY]);
    assert!(api.state().records.is_empty());
}
