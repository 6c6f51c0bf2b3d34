//! The Zone.ee adapter against a contract fake of the ZoneID API v2, built from its API
//! documentation (<https://api.zone.eu/v2>, DNS TXT records) and lego's client of it: HTTP
//! basic authentication with the ZoneID user name and an API key; `GET /v2/dns/{zone}/txt`
//! answers every TXT record of the zone (`id`, `name` as a full name, `destination`,
//! `delete`, `modify`, `resource_url`), 404 for a zone that is not the user's; `POST
//! /v2/dns/{zone}/txt` with `{"name", "destination"}` answers 201 with a list holding the
//! new record; `DELETE /v2/dns/{zone}/txt/{id}` answers 204. When given a BIND, the fake
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
use wildcert_dns_zoneee::Zoneee;

const USER: &str = "gradient-ops";
const KEY: &str = "z0neEeApiKey5d7f9a1b3c";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    zone: String,
    name: String,
    destination: String,
}

#[derive(Default)]
struct State {
    zones: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
}

fn record_json(r: &Record) -> Value {
    json!({"id": r.id.to_string(), "name": r.name, "destination": r.destination, "delete": true, "modify": true,
           "resource_url": format!("https://api.zone.eu/v2/dns/{}/txt/{}", r.zone, r.id)})
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{KEY}")));
    if request.header("authorization") != Some(expected.as_str()) {
        return (Reply::json(401, json!({"message": "Unauthorized"})), Vec::new());
    }
    let path = request.path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = |z: &str| state.zones.iter().any(|x| x == z);
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["v2", "dns", z, "txt"]) if known(z) => {
            let items: Vec<Value> = state.records.iter().filter(|r| r.zone == *z).map(record_json).collect();
            (Reply::json(200, Value::Array(items)), Vec::new())
        }
        ("POST", ["v2", "dns", z, "txt"]) if known(z) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let (Some(name), Some(destination)) = (body["name"].as_str(), body["destination"].as_str())
            else {
                return (
                    Reply::json(422, json!({"message": "name and destination are required"})),
                    Vec::new(),
                );
            };
            if !(name == *z || name.ends_with(&format!(".{z}"))) {
                return (Reply::json(422, json!({"message": "name is not in the zone"})), Vec::new());
            }
            state.next_id += 1;
            let r = Record {
                id: state.next_id,
                zone: z.to_string(),
                name: name.into(),
                destination: destination.into(),
            };
            let change = Change::add(format!("{name}."), r.destination.clone());
            let reply = Reply::json(201, json!([record_json(&r)]));
            state.records.push(r);
            (reply, vec![change])
        }
        ("DELETE", ["v2", "dns", z, "txt", id]) if known(z) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.records.iter().position(|r| r.id == id && r.zone == *z) {
                Some(i) => {
                    let r = state.records.remove(i);
                    (
                        Reply::json(204, Value::Null),
                        vec![Change::remove(format!("{}.", r.name), r.destination)],
                    )
                }
                None => (Reply::json(404, json!({"message": "Not found"})), Vec::new()),
            }
        }
        _ => (Reply::json(404, json!({"message": "Not found"})), Vec::new()),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| format!("{}.", r.name).eq_ignore_ascii_case(name))
        .map(|r| r.destination.clone())
        .collect()
}

async fn fake(zones: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state =
        State { zones: zones.iter().map(|z| z.to_string()).collect(), next_id: 500, ..Default::default() };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, key: &str) -> Zoneee {
    Zoneee::new(&format!("{url}/v2/dns"), USER, &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, the zone found by walking up the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zoneee_conformance() {
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

/// Other values at the name stay, and a new adapter (after a restart) cleans up by value.
#[tokio::test]
async fn zoneee_keeps_other_values_and_cleans_up_after_restart() {
    let api = fake(&["example.com"], None).await;
    api.state().records.push(Record {
        id: 1,
        zone: "example.com".into(),
        name: "_acme-challenge.example.com".into(),
        destination: "someone-else".into(),
    });
    let record = conformance::record("_acme-challenge.example.com.", &Some("example.com.".into()), "ours");
    adapter(&api.url, KEY).present(&record).await.unwrap();
    adapter(&api.url, KEY).present(&record).await.unwrap();
    assert_eq!(api.state().records.len(), 2);
    adapter(&api.url, KEY).cleanup(&record).await.unwrap();
    let state = api.state();
    assert_eq!(state.records.len(), 1);
    assert_eq!(state.records[0].destination, "someone-else");
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn zoneee_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_api::temp_secret(dir.path(), "zoneee.key", KEY);
    let (warnings, provider) = fake_api::installer(
        "zoneee",
        &format!("ZONEEE_API_USER = \"{USER}\", ZONEEE_API_KEY_FILE = \"{key}\", ZONEEE_ENDPOINT = \"https://api.zone.eu/v2/dns\", ZONEEE_TTL = \"300\""),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "ZONEEE_TTL has no effect");
    assert!(matches!(provider, Provider::Zoneee(_)));
    assert!(provider.describe().contains("api.zone.eu/v2/dns"));
    let err = fake_api::installer("zoneee", &format!("ZONEEE_API_KEY_FILE = \"{key}\"")).unwrap_err();
    assert!(err.contains("ZONEEE_API_USER"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zoneee_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key = fake_api::secret_file(&stack, "zoneee.key", KEY);
    let table = format!(
        "provider = \"zoneee\"\napi_url = \"{}/v2/dns\"\napi_user = \"{USER}\"\napi_key_file = \"{}\"",
        api.url,
        key.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.starts_with("POST ")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("DELETE ")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
