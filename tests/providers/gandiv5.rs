//! The Gandi LiveDNS adapter against a contract fake of the LiveDNS API v5, built from its
//! reference: `GET /domains/{fqdn}`, `GET`/`PUT`/`DELETE /domains/{fqdn}/records/{name}/TXT`
//! (`{"rrset_name", "rrset_type", "rrset_ttl", "rrset_values"}`; PUT replaces the set with
//! `{"rrset_ttl", "rrset_values"}` and answers 201 `{"message": "DNS Record Created"}`, TTL
//! at least 300; DELETE answers 204; an absent set is 404), `Authorization: Bearer` for
//! personal access tokens and `Authorization: Apikey` for API keys, and errors as `{"code",
//! "message", "object", "cause"}`. TXT values come back quoted. When given a BIND, the fake
//! applies every change to it through RFC 2136, so Pebble validates a real issuance through
//! this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, txt_text};
use wildcert_dns_gandiv5::{Gandi, GandiAuth};
use wildcert_dns_rfc2136::Rfc2136;

const TOKEN: &str = "gandi-pat-1f2e3d";
const API_KEY: &str = "gandi-apikey-9z8y";

#[derive(Default)]
struct State {
    domains: Vec<String>,
    /// (domain, name) -> quoted values.
    sets: BTreeMap<(String, String), Vec<String>>,
}

fn error(code: u16, object: &str, message: &str) -> Value {
    json!({"code": code, "message": message, "object": object, "cause": object})
}

fn fqdn(domain: &str, name: &str) -> String {
    if name == "@" { format!("{domain}.") } else { format!("{name}.{domain}.") }
}

fn route(
    state: &mut State,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Vec<(bool, String, String)>) {
    if auth != Some(&format!("Bearer {TOKEN}")) && auth != Some(&format!("Apikey {API_KEY}")) {
        return (
            401,
            error(
                401,
                "HTTPUnauthorized",
                "The server could not verify that you authorized to access the document you requested.",
            ),
            Vec::new(),
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || error(404, "HTTPNotFound", "The resource could not be found.");
    match (method, parts.as_slice()) {
        (_, ["domains", d, ..]) if !state.domains.iter().any(|x| x == d) => (404, not_found(), Vec::new()),
        ("GET", ["domains", d]) => (200, json!({"fqdn": d, "automatic_snapshots": true}), Vec::new()),
        ("GET", ["domains", d, "records", name, "TXT"]) => {
            match state.sets.get(&(d.to_string(), name.to_string())) {
                Some(values) => (
                    200,
                    json!({"rrset_name": name, "rrset_type": "TXT", "rrset_ttl": 300, "rrset_values": values}),
                    Vec::new(),
                ),
                None => (404, not_found(), Vec::new()),
            }
        }
        ("PUT", ["domains", d, "records", name, "TXT"]) => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let Some(items) = request["rrset_values"].as_array() else {
                return (400, error(400, "HTTPBadRequest", "rrset_values is required"), Vec::new());
            };
            if request["rrset_ttl"].as_u64().is_some_and(|t| t < 300) {
                return (400, error(400, "HTTPBadRequest", "rrset_ttl: must be at least 300"), Vec::new());
            }
            // LiveDNS stores TXT values quoted, whichever way they were sent.
            let new: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str())
                .map(|v| if v.starts_with('"') { v.to_string() } else { format!("\"{v}\"") })
                .collect();
            let key = (d.to_string(), name.to_string());
            let old = state.sets.get(&key).cloned().unwrap_or_default();
            let at = fqdn(d, name);
            let mut changes: Vec<(bool, String, String)> =
                old.iter().filter(|v| !new.contains(v)).map(|v| (false, at.clone(), txt_text(v))).collect();
            changes.extend(new.iter().filter(|v| !old.contains(v)).map(|v| (true, at.clone(), txt_text(v))));
            state.sets.insert(key, new);
            (201, json!({"message": "DNS Record Created"}), changes)
        }
        ("DELETE", ["domains", d, "records", name, "TXT"]) => {
            match state.sets.remove(&(d.to_string(), name.to_string())) {
                Some(old) => {
                    let at = fqdn(d, name);
                    (204, Value::Null, old.iter().map(|v| (false, at.clone(), txt_text(v))).collect())
                }
                None => (404, not_found(), Vec::new()),
            }
        }
        _ => (404, not_found(), Vec::new()),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, |state: &mut State, request: &support::HttpRequest| {
        let Some(path) = request.path().strip_prefix("/v5/livedns") else {
            return Reply::json(404, Value::Null);
        };
        let (status, body, changes) =
            route(state, &request.method, path, request.header("authorization"), &request.body);
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
    format!("{}/v5/livedns", api.url)
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .sets
        .iter()
        .filter(|((d, n), _)| fqdn(d, n).eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().map(|v| txt_text(v)))
        .collect()
}

fn adapter(url: &str, auth: GandiAuth) -> Gandi {
    Gandi::new(url, &auth, Duration::from_secs(5)).unwrap()
}

fn token() -> GandiAuth {
    GandiAuth::Token(Secret::new(TOKEN))
}

/// The conformance suite against the contract fake, with a value someone else wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gandiv5_conformance() {
    let api = fake(&["example.com"], None).await;
    api.state().sets.insert(
        ("example.com".into(), "_acme-challenge.gradient".into()),
        vec!["\"someone-elses-value\"".into()],
    );
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&base(&api), token()),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    assert_eq!((api.reader(values))(fqdn.clone()).await, ["someone-elses-value"]);
    let seen = api.seen();
    assert!(
        seen.iter().any(|s| s == "PUT /v5/livedns/domains/example.com/records/_acme-challenge.gradient/TXT"),
        "{seen:#?}"
    );
    let wrong = adapter(&base(&api), GandiAuth::Token(Secret::new("expired-pat")));
    conformance::auth_failure(
        &wrong,
        &fqdn,
        &None,
        "personal_access_token",
        &["expired-pat".into(), TOKEN.into()],
    )
    .await;
    let wrong = adapter(&base(&api), GandiAuth::ApiKey(Secret::new("old-key")));
    conformance::auth_failure(&wrong, &fqdn, &None, "api_key", &["old-key".into(), API_KEY.into()]).await;
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/v5/livedns"), token()),
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// The API key works too; the last value goes with a DELETE of the set.
#[tokio::test]
async fn gandiv5_api_key_and_last_value_deleted() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&base(&api), GandiAuth::ApiKey(Secret::new(API_KEY)));
    let record = conformance::record("_acme-challenge.example.com.", &Some("example.com.".into()), "v");
    p.present(&record).await.unwrap();
    assert_eq!(api.state().sets.values().next().unwrap(), &["\"v\""]);
    p.cleanup(&record).await.unwrap();
    assert!(
        api.seen()
            .contains(&"DELETE /v5/livedns/domains/example.com/records/_acme-challenge/TXT".to_string())
    );
    assert!(api.state().sets.is_empty());
}

#[test]
fn gandiv5_installer_settings() {
    let text = &fake_api::config_with(
        r#"[dns.installer]
provider = "gandiv5"
settings = { GANDIV5_API_KEY_FILE = "/etc/wildcert/gandi.key", GANDIV5_TTL = "300" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    fake_api::assert_warned(&config.warnings, "GANDIV5_TTL has no effect");
    let both = text.replace("GANDIV5_TTL = \"300\"", "GANDIV5_PERSONAL_ACCESS_TOKEN_FILE = \"/t\"");
    let err = Config::parse(std::path::Path::new("w.toml"), &both).unwrap_err().to_string();
    assert!(err.contains("not both"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gandiv5_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let token_file = fake_api::secret_file(&stack, "gandi.token", TOKEN);
    let table = format!(
        "provider = \"gandiv5\"\napi_url = \"{}\"\npersonal_access_token_file = \"{}\"",
        base(&api),
        token_file.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN]);
    assert!(api.state().sets.is_empty());
}
