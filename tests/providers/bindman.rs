//! The Bindman-DNS adapter against a contract fake of the Bindman webhook API, built from its
//! source and documentation (<https://github.com/labbsr0x/bindman-dns-webhook>, the manager
//! <https://github.com/labbsr0x/bindman-dns-bind9>) and lego's client of it
//! (<https://github.com/go-acme/lego/tree/master/providers/dns/bindman>): `POST /records` with
//! `{"name", "value", "type"}` stores the one record of that name and type (answer 204),
//! `DELETE /records/{name}/{type}` removes it (404 with `{"message", "code", "details"}` when
//! there is none), bad input gets 400 in the same shape. The webhook has no credentials, so
//! there is no refused-credentials check. The real manager removes records after a delay
//! (10 minutes by default); the fake removes them at once. When given a BIND, the fake applies
//! each change to it through RFC 2136, so Pebble validates a real issuance through this
//! adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, decode};
use wildcert::config::Config;
use wildcert_dns_api::DnsProvider;
use wildcert_dns_bindman::Bindman;
use wildcert_dns_rfc2136::Rfc2136;

#[derive(Default)]
struct State {
    /// (name, type) -> value.
    records: BTreeMap<(String, String), String>,
}

fn error(code: u16, message: &str) -> Reply {
    Reply::json(code, json!({"message": message, "code": code, "details": null}))
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["records"]) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let (Some(name), Some(value), Some(kind)) =
                (body["name"].as_str(), body["value"].as_str(), body["type"].as_str())
            else {
                return error(400, "Not possible to parse the AddDNSRecord body payload");
            };
            if name.trim().is_empty() || value.trim().is_empty() || kind.trim().is_empty() {
                return error(400, "Invalid DNS Record: empty name, value or type");
            }
            let mut changes = Vec::new();
            let old = state.records.insert((name.to_string(), kind.to_string()), value.to_string());
            if kind == "TXT" {
                if let Some(old) = old {
                    changes.push(Change::remove(name, old));
                }
                changes.push(Change::add(name, value));
            }
            Reply::text(204, "application/json", "").with(changes)
        }
        ("DELETE", ["records", name, kind]) => {
            let (name, kind) = (decode(name), decode(kind));
            match state.records.remove(&(name.clone(), kind.clone())) {
                Some(value) => {
                    let changes = if kind == "TXT" { vec![Change::remove(&name, value)] } else { Vec::new() };
                    Reply::text(204, "application/json", "").with(changes)
                }
                None => error(404, &format!("No record found with name '{name}' and type '{kind}'")),
            }
        }
        _ => Reply::text(405, "text/plain", "405 method not allowed"),
    }
}

async fn fake(bind: Option<Rfc2136>) -> FakeApi<State> {
    FakeApi::start(State::default(), bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|((n, kind), _)| kind == "TXT" && n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

fn adapter(url: &str) -> Bindman {
    Bindman::new(url, Duration::from_secs(5)).unwrap()
}

const NAME: &str = "_acme-challenge.gradient.example.com.";

/// One record per name: a second challenge at the same name is refused with the reason, the
/// first stays; cleanup removes only while our value is the one there; other names and
/// record types are untouched; busy answers are retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindman_holds_one_value_and_says_so() {
    let api = fake(None).await;
    api.state().records.insert(("gradient.example.com.".into(), "A".into()), "198.51.100.4".into());
    let p = adapter(&api.url);
    let read = api.reader(values);
    let (_, log) = conformance::one_value_per_name(
        &p,
        &read,
        NAME,
        Some("_acme-challenge.www.example.com."),
        "one TXT record per name",
    )
    .await;
    assert!(!log.is_empty());
    assert_eq!(api.state().records.len(), 1, "the A record must survive");
    assert!(
        api.seen().iter().any(|s| s == "DELETE /records/_acme-challenge.gradient.example.com./TXT"),
        "{:?}",
        api.seen()
    );
    conformance::busy_is_retried(|url: &str| adapter(url), &api.upstream(), NAME, &None).await;
    // Bindman's own refusal comes back with its message.
    let err = p.present(&conformance::record(NAME, &None, " ")).await.unwrap_err();
    assert!(err.to_string().contains("Invalid DNS Record"), "{err}");
}

/// The installer's settings reach the adapter.
#[test]
fn bindman_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "bindman"
settings = { BINDMAN_MANAGER_ADDRESS = "http://bindman.internal:7070", BINDMAN_HTTP_TIMEOUT = "60", BINDMAN_POLLING_INTERVAL = "5" }
allow_http = true
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "BINDMAN_POLLING_INTERVAL has no effect");
    let wildcert::dns::provider::ProviderConfig::Bindman(cfg) = &config.dns["installer"].config else {
        panic!("not bindman")
    };
    assert_eq!(cfg.manager_address.as_deref(), Some("http://bindman.internal:7070"));
    assert_eq!(cfg.timeout, Duration::from_secs(60));
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("BINDMAN_MANAGER_ADDRESS = \"http://bindman.internal:7070\", ", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("manager_address"), "{err}");
    // Plain HTTP to another host needs saying so.
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("allow_http = true\n", ""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("dns.installer.manager_address") && err.contains("allow_http"), "{err}");
}

/// `wildcert issue` of a wildcard certificate (one challenge: one value) through the fake:
/// it writes to BIND over RFC 2136, Pebble validates by asking BIND, and no TXT is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindman_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(Some(fake_api::bind_mirror(&stack))).await;
    let text = stack.config_text();
    let wildcard_only =
        text.replace("\"*.gradient.example.com\", \"gradient.example.com\"", "\"*.gradient.example.com\"");
    assert_ne!(text, wildcard_only, "the stack's certificate names changed");
    stack.write_config("wildcert.toml", &wildcard_only);
    let table = format!("provider = \"bindman\"\nmanager_address = \"{}\"", api.url);
    fake_api::issue_through(&stack, &table, &[]);
    assert!(api.state().records.is_empty(), "removed");
}
