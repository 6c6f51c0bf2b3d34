//! The GoDaddy adapter against a contract fake of the GoDaddy Domains API v1, built from its
//! API reference: `GET /v1/domains/{domain}`, `GET`/`PUT`/`DELETE
//! /v1/domains/{domain}/records/TXT/{name}` (PUT replaces every TXT record of the name with
//! the given `[{"data", "ttl"}]`, TTL at least 600, else 422; DELETE removes them, 404 when
//! there are none), `Authorization: sso-key KEY:SECRET`, and errors as `{"code", "message"}`.
//! When given a BIND, the fake applies every change to it through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret};
use wildcert_dns_godaddy::GoDaddy;
use wildcert_dns_rfc2136::Rfc2136;

const KEY: &str = "gd-k3y-5aa1";
const SECRET: &str = "gd-s3cret-77b2";

#[derive(Default)]
struct State {
    domains: Vec<String>,
    /// (domain, relative name) -> TXT values.
    txt: BTreeMap<(String, String), Vec<String>>,
}

fn error(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

fn fqdn(domain: &str, name: &str) -> String {
    if name == "@" { format!("{domain}.") } else { format!("{name}.{domain}.") }
}

/// Routes one request; returns status, body, and the values added and removed at a name.
fn route(
    state: &mut State,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Vec<(bool, String, String)>) {
    if auth != Some(&format!("sso-key {KEY}:{SECRET}")) {
        return (401, error("UNABLE_TO_AUTHENTICATE", "Unable to authenticate the request"), Vec::new());
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = |d: &str| state.domains.iter().any(|x| x == d);
    match (method, parts.as_slice()) {
        ("GET", ["v1", "domains", d]) if known(d) => {
            (200, json!({"domain": d, "status": "ACTIVE"}), Vec::new())
        }
        ("GET", ["v1", "domains", _]) => (
            404,
            error("NOT_FOUND", "The given domain is not registered, or does not have a zone file"),
            Vec::new(),
        ),
        (_, ["v1", "domains", d, "records", "TXT", _]) if !known(d) => (
            404,
            error("NOT_FOUND", "The given domain is not registered, or does not have a zone file"),
            Vec::new(),
        ),
        ("GET", ["v1", "domains", d, "records", "TXT", name]) => {
            let values = state.txt.get(&(d.to_string(), name.to_string())).cloned().unwrap_or_default();
            let items: Vec<Value> =
                values.iter().map(|v| json!({"data": v, "name": name, "ttl": 600, "type": "TXT"})).collect();
            (200, Value::Array(items), Vec::new())
        }
        ("PUT", ["v1", "domains", d, "records", "TXT", name]) => {
            let Ok(Value::Array(items)) = serde_json::from_str::<Value>(body) else {
                return (422, error("INVALID_BODY", "Request body doesn't fulfill schema"), Vec::new());
            };
            if items.iter().any(|i| !i["data"].is_string() || i["ttl"].as_u64().is_some_and(|t| t < 600)) {
                return (
                    422,
                    error("INVALID_BODY", "Request body doesn't fulfill schema, see details in `fields`"),
                    Vec::new(),
                );
            }
            let new: Vec<String> = items.iter().map(|i| i["data"].as_str().unwrap().to_string()).collect();
            let key = (d.to_string(), name.to_string());
            let old = state.txt.get(&key).cloned().unwrap_or_default();
            let at = fqdn(d, name);
            let mut changes: Vec<(bool, String, String)> =
                old.iter().filter(|v| !new.contains(v)).map(|v| (false, at.clone(), v.clone())).collect();
            changes.extend(new.iter().filter(|v| !old.contains(v)).map(|v| (true, at.clone(), v.clone())));
            state.txt.insert(key, new);
            (200, Value::Null, changes)
        }
        ("DELETE", ["v1", "domains", d, "records", "TXT", name]) => match state
            .txt
            .remove(&(d.to_string(), name.to_string()))
        {
            Some(old) if !old.is_empty() => {
                let at = fqdn(d, name);
                (204, Value::Null, old.into_iter().map(|v| (false, at.clone(), v)).collect())
            }
            _ => (404, error("NOT_FOUND", "No records matching the type and name were found"), Vec::new()),
        },
        _ => (404, error("NOT_FOUND", "Not found"), Vec::new()),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, |state: &mut State, request: &support::HttpRequest| {
        let (status, body, changes) =
            route(state, &request.method, request.path(), request.header("authorization"), &request.body);
        Reply::json(status, body).with(changes.into_iter().map(|(add, fqdn, value)| Change {
            add,
            fqdn,
            value,
        }))
    })
    .await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .txt
        .iter()
        .filter(|((d, n), _)| fqdn(d, n).eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.clone())
        .collect()
}

fn adapter(url: &str, secret: &str) -> GoDaddy {
    GoDaddy::new(url, &Secret::new(KEY), &Secret::new(secret), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, with a value someone else wrote at the
/// name that must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn godaddy_conformance() {
    let api = fake(&["example.com"], None).await;
    api.state().txt.insert(
        ("example.com".into(), "_acme-challenge.gradient".into()),
        vec!["someone-elses-value".into()],
    );
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into(), SECRET.into()],
    };
    conformance::records(&subject).await;
    assert_eq!((api.reader(values))(fqdn.clone()).await, ["someone-elses-value"]);
    let seen = api.seen();
    assert!(
        seen.iter().any(|s| s == "PUT /v1/domains/example.com/records/TXT/_acme-challenge.gradient"),
        "{seen:#?}"
    );
    conformance::auth_failure(
        &adapter(&api.url, "gd-wrong-99"),
        &fqdn,
        &None,
        "api_secret",
        &["gd-wrong-99".into(), SECRET.into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET), &api.upstream(), &fqdn, &None).await;
}

/// The last value goes with a DELETE of the name's TXT records.
#[tokio::test]
async fn godaddy_last_value_is_deleted() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&api.url, SECRET);
    let record = conformance::record("_acme-challenge.example.com.", &Some("example.com.".into()), "only");
    p.present(&record).await.unwrap();
    p.cleanup(&record).await.unwrap();
    let seen = api.seen();
    assert!(
        seen.contains(&"DELETE /v1/domains/example.com/records/TXT/_acme-challenge".to_string()),
        "{seen:#?}"
    );
    assert!(api.state().txt.is_empty());
}

/// The installer's settings reach the adapter.
#[test]
fn godaddy_installer_settings() {
    let text = &fake_api::config_with(
        r#"[dns.installer]
provider = "godaddy"
settings = { GODADDY_API_KEY = "k", GODADDY_API_SECRET_FILE = "/etc/wildcert/gd.secret", GODADDY_TTL = "600" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    fake_api::assert_warned(&config.warnings, "GODADDY_TTL has no effect");
    fake_api::assert_warned(&config.warnings, "prefer GODADDY_API_KEY_FILE");
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace(", GODADDY_API_SECRET_FILE = \"/etc/wildcert/gd.secret\"", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("api_secret"), "{err}");
    assert!(matches!(config.dns["installer"].config, wildcert::dns::provider::ProviderConfig::GoDaddy(_)));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn godaddy_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key_file = fake_api::secret_file(&stack, "gd.key", KEY);
    let secret_file = fake_api::secret_file(&stack, "gd.secret", SECRET);
    let table = format!(
        "provider = \"godaddy\"\napi_url = \"{}\"\napi_key_file = \"{}\"\napi_secret_file = \"{}\"",
        api.url,
        key_file.display(),
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY, SECRET]);
    let seen = api.seen();
    assert!(seen.iter().filter(|s| s.starts_with("PUT ")).count() >= 2, "{seen:#?}");
    assert!(api.state().txt.values().all(|v| v.is_empty()));
}
