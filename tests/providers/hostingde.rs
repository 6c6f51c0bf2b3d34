//! The hosting.de adapter against a contract fake of the hosting.de DNS API v1, built from
//! its documentation (<https://www.hosting.de/api/#dns>): every call is `POST
//! /api/dns/v1/json/{method}` with `authToken` in the JSON body and answers the envelope
//! `{"errors", "metadata", "response", "status", "warnings"}` (HTTP 200 also for errors,
//! `status: "error"` with `[{"code", "contextObject", "contextPath", "details", "text",
//! "value"}]`); `zonesFind` with `filter {"field": "zoneName", "value"}`, `limit`, `page`
//! answering `{"data": [{"zoneConfig", "records"}], "page", "totalPages", ...}`; `zoneUpdate`
//! with the whole `zoneConfig` plus `recordsToAdd` (`name`, `type`, `content`, `ttl`) and
//! `recordsToDelete` (`name`, `type`, `content`), answering the updated zone. When given a
//! BIND, the fake applies each TXT change to it through RFC 2136, so Pebble validates a real
//! issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{Secret, txt_text};
use wildcert_dns_hostingde::HostingDe;
use wildcert_dns_rfc2136::Rfc2136;

const KEY: &str = "hd-api-k3y-5f1c9e";

#[derive(Default)]
struct State {
    /// (zoneConfig, records).
    zones: Vec<(Value, Vec<Value>)>,
    next_id: u64,
}

fn envelope(status: &str, response: Value, errors: Value) -> Reply {
    Reply::json(
        200,
        json!({"errors": errors, "metadata": {"clientTransactionId": "", "serverTransactionId": "s-1"}, "response": response, "status": status, "warnings": []}),
    )
}

fn error(code: u32, text: &str) -> Reply {
    envelope(
        "error",
        Value::Null,
        json!([{"code": code, "contextObject": "", "contextPath": "", "details": [], "text": text, "value": ""}]),
    )
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    if body["authToken"].as_str() != Some(KEY) {
        return error(10109, "Authentication failed: the authToken is invalid");
    }
    match request.path() {
        "/api/dns/v1/json/zonesFind" => {
            let wanted = body["filter"]["value"].as_str().unwrap_or_default();
            let limit = body["limit"].as_u64().unwrap_or(25).max(1) as usize;
            let page = body["page"].as_u64().unwrap_or(1).max(1) as usize;
            let matching: Vec<Value> = state
                .zones
                .iter()
                .filter(|(config, _)| body["filter"]["field"] == "zoneName" && config["name"] == wanted)
                .map(|(config, records)| json!({"zoneConfig": config, "records": records}))
                .collect();
            let pages = matching.len().div_ceil(limit).max(1);
            let data: Vec<Value> = matching.into_iter().skip((page - 1) * limit).take(limit).collect();
            envelope(
                "success",
                json!({"data": data, "limit": limit, "page": page, "totalEntries": data.len(), "totalPages": pages, "type": "FindZonesResult"}),
                json!([]),
            )
        }
        "/api/dns/v1/json/zoneUpdate" => {
            let id = body["zoneConfig"]["id"].clone();
            let Some(index) = state.zones.iter().position(|(c, _)| c["id"] == id) else {
                return error(10100, "Zone config not found");
            };
            let zone_name = state.zones[index].0["name"].as_str().unwrap_or_default().to_string();
            let mut changes = Vec::new();
            for r in body["recordsToDelete"].as_array().cloned().unwrap_or_default() {
                let records = &mut state.zones[index].1;
                let Some(at) = records.iter().position(|x| {
                    x["name"] == r["name"] && x["type"] == r["type"] && x["content"] == r["content"]
                }) else {
                    return error(10202, "Record to delete does not exist");
                };
                let gone = records.remove(at);
                if gone["type"] == "TXT" {
                    changes.push(Change::remove(
                        format!("{}.", gone["name"].as_str().unwrap()),
                        txt_text(gone["content"].as_str().unwrap()),
                    ));
                }
            }
            for r in body["recordsToAdd"].as_array().cloned().unwrap_or_default() {
                let name = r["name"].as_str().unwrap_or_default();
                if !(name == zone_name || name.ends_with(&format!(".{zone_name}"))) {
                    return error(10203, "Record name is not within the zone");
                }
                if r["ttl"].as_u64().is_none_or(|t| t < 60) {
                    return error(10204, "TTL must be at least 60");
                }
                state.next_id += 1;
                let content = r["content"].as_str().unwrap_or_default().to_string();
                if r["type"] == "TXT" {
                    changes.push(Change::add(format!("{name}."), txt_text(&content)));
                }
                state.zones[index].1.push(json!({"id": format!("r{}", state.next_id), "zoneId": id, "name": name, "type": r["type"], "content": content, "ttl": r["ttl"], "priority": null}));
            }
            let (config, records) = &state.zones[index];
            envelope("success", json!({"zoneConfig": config, "records": records}), json!([])).with(changes)
        }
        _ => Reply::json(
            404,
            json!({"errors": [{"code": 404, "text": "method not found"}], "status": "error"}),
        ),
    }
}

fn others(zone: &str) -> Vec<Value> {
    vec![
        json!({"id": "o1", "name": zone, "type": "A", "content": "198.51.100.4", "ttl": 3600, "priority": null}),
        json!({"id": "o2", "name": zone, "type": "MX", "content": "mail.example.com", "ttl": 3600, "priority": 10}),
        json!({"id": "o3", "name": format!("_acme-challenge.gradient.{zone}"), "type": "TXT", "content": "\"someone-elses-value\"", "ttl": 60, "priority": null}),
    ]
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let config = json!({"id": format!("zc{i}"), "name": z, "type": "NATIVE", "soaValues": {"refresh": 86400, "ttl": 3600}, "dnsSecMode": "off", "templateValues": null});
                (config, Vec::new())
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
        .flat_map(|(_, records)| records.iter())
        .filter(|r| {
            r["type"] == "TXT" && format!("{}.", r["name"].as_str().unwrap()).eq_ignore_ascii_case(name)
        })
        .map(|r| txt_text(r["content"].as_str().unwrap()))
        .collect()
}

fn base(api: &FakeApi<State>) -> String {
    format!("{}/api/dns/v1/json", api.url)
}

fn adapter(url: &str, key: &str) -> HostingDe {
    HostingDe::new(url, &Secret::new(key), None, Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake; the zone's other records survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostingde_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    api.state().zones[1].1 = others("example.com");
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&base(&api), KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().zones[1].1, others("example.com"), "another record changed");
    let seen = api.seen();
    assert!(seen.iter().any(|s| s == "POST /api/dns/v1/json/zoneUpdate"), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&base(&api), "wrong-key"),
        &fqdn,
        &None,
        "api_key",
        &["wrong-key".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/api/dns/v1/json"), KEY),
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// The installer's settings reach the adapter.
#[test]
fn hostingde_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "hostingde"
settings = { HOSTINGDE_API_KEY_FILE = "/etc/wildcert/hostingde.key", HOSTINGDE_ZONE_NAME = "example.com", HOSTINGDE_TTL = "120" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "HOSTINGDE_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::HostingDe(cfg) = &config.dns["installer"].config else {
        panic!("not hostingde")
    };
    assert_eq!(cfg.zone_name.as_deref(), Some("example.com"));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostingde_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key_file = fake_api::secret_file(&stack, "hostingde.key", KEY);
    let table = format!(
        "provider = \"hostingde\"\napi_url = \"{}\"\napi_key_file = \"{}\"",
        base(&api),
        key_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY]);
    assert!(api.state().zones[0].1.is_empty());
}
