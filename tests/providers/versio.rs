//! The Versio adapter against a contract fake of the Versio API v1, built from its API
//! documentation (<https://www.versio.nl/RESTapidoc/>: Domains, "Get domain" with
//! `show_dns_records` and "Update domain") and lego's client of it: HTTP basic
//! authentication; `GET /api/v1/domains/{domain}?show_dns_records=true` answers
//! `{"domainInfo": {"domain", "dns_records": [{"type", "name", "value", "prio", "ttl"}]}}`
//! (404 for a domain not in the account); `POST /api/v1/domains/{domain}/update` with
//! `{"dns_records": [...]}` replaces the whole list; errors as `{"error": {"code",
//! "message"}}`. When given a BIND, the fake applies every TXT change of an update to it
//! through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord, txt_text};
use wildcert_dns_versio::Versio;

const USER: &str = "ops@gradient.example.com";
const PASSWORD: &str = "v3rs1o-Pa55word!";

#[derive(Default)]
struct State {
    /// Each domain's record list, as the API keeps it.
    domains: Vec<(String, Vec<Value>)>,
    updates: u32,
}

fn error(code: u16, message: &str) -> (Reply, Vec<Change>) {
    (Reply::json(code, json!({"error": {"code": code, "message": message}})), Vec::new())
}

/// The TXT (name, text) pairs of a record list.
fn txts(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|r| r["type"] == "TXT")
        .map(|r| {
            let name = r["name"].as_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
            (format!("{name}."), txt_text(r["value"].as_str().unwrap_or_default()))
        })
        .collect()
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")));
    if request.header("authorization") != Some(expected.as_str()) {
        return error(401, "Unauthorized");
    }
    let path = request.path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["api", "v1", "domains", d]) => match state.domains.iter().find(|(name, _)| name == d) {
            Some((name, records)) => {
                let records = if request.target.contains("show_dns_records=true") {
                    records.clone()
                } else {
                    Vec::new()
                };
                (
                    Reply::json(
                        200,
                        json!({"domainInfo": {"domain": name, "status": "OK", "dns_records": records}}),
                    ),
                    Vec::new(),
                )
            }
            None => error(404, "ObjectDoesNotExist|Domain not found"),
        },
        ("POST", ["api", "v1", "domains", d, "update"]) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let Some(new) = body["dns_records"].as_array().cloned() else {
                return error(400, "dns_records is required");
            };
            let Some((_, records)) = state.domains.iter_mut().find(|(name, _)| name == d) else {
                return error(404, "ObjectDoesNotExist|Domain not found");
            };
            let (before, after) = (txts(records), txts(&new));
            let mut changes: Vec<Change> = before
                .iter()
                .filter(|t| !after.contains(t))
                .map(|(fqdn, value)| Change::remove(fqdn.clone(), value.clone()))
                .collect();
            changes.extend(
                after
                    .iter()
                    .filter(|t| !before.contains(t))
                    .map(|(fqdn, value)| Change::add(fqdn.clone(), value.clone())),
            );
            *records = new;
            state.updates += 1;
            (Reply::json(200, json!({"domainInfo": {"domain": d, "status": "OK"}})), changes)
        }
        _ => error(404, "Not found"),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .domains
        .iter()
        .flat_map(|(_, records)| txts(records))
        .filter(|(fqdn, _)| fqdn.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

/// Records of the domain that are not ours and must survive every update untouched.
fn others() -> Vec<Value> {
    vec![
        json!({"type": "A", "name": "www.example.com", "value": "192.0.2.10", "prio": 0, "ttl": 3600, "custom_note": "keep"}),
        json!({"type": "MX", "name": "example.com", "value": "mail.example.com", "prio": 10, "ttl": 3600}),
        json!({"type": "TXT", "name": "_acme-challenge.example.com", "value": "\"someone-else\"", "prio": 0, "ttl": 300}),
    ]
}

async fn fake(domains: &[(&str, Vec<Value>)], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state =
        State { domains: domains.iter().map(|(d, r)| (d.to_string(), r.clone())).collect(), updates: 0 };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, password: &str) -> Versio {
    Versio::new(&format!("{url}/api/v1"), USER, &Secret::new(password), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, the domain found by walking up the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versio_conformance() {
    let api = fake(&[("example.com", others())], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, PASSWORD),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![PASSWORD.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().domains[0].1, others(), "other records changed");
    conformance::auth_failure(
        &adapter(&api.url, "wrong-password"),
        &fqdn,
        &None,
        "password",
        &["wrong-password".into(), PASSWORD.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, PASSWORD), &api.upstream(), &fqdn, &None).await;
}

/// Another value at the same name, and every other record with its unknown fields, survive
/// a present and a cleanup; values are written quoted.
#[tokio::test]
async fn versio_keeps_every_other_record() {
    let api = fake(&[("example.com", others())], None).await;
    let p = adapter(&api.url, PASSWORD);
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "ours".into(),
        ttl: 300,
        raw: None,
    };
    p.present(&record).await.unwrap();
    {
        let state = api.state();
        let ours = state.domains[0].1.iter().find(|r| r["value"] == "\"ours\"").expect("written quoted");
        assert_eq!(ours["name"], "_acme-challenge.example.com");
    }
    p.cleanup(&record).await.unwrap();
    p.cleanup(&record).await.unwrap();
    let state = api.state();
    assert_eq!(state.domains[0].1, others());
    assert_eq!(state.updates, 2, "an absent value costs no update");
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn versio_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let password = fake_api::temp_secret(dir.path(), "versio.password", PASSWORD);
    let (warnings, provider) = fake_api::installer(
        "versio",
        &format!("VERSIO_USERNAME = \"{USER}\", VERSIO_PASSWORD_FILE = \"{password}\", VERSIO_ENDPOINT = \"https://www.versio.nl/testapi/v1\", VERSIO_SEQUENCE_INTERVAL = \"60\""),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "VERSIO_SEQUENCE_INTERVAL has no effect");
    assert!(matches!(provider, Provider::Versio(_)));
    assert!(provider.describe().contains("versio.nl/testapi/v1"));
    let err = fake_api::installer("versio", &format!("VERSIO_PASSWORD_FILE = \"{password}\"")).unwrap_err();
    assert!(err.contains("VERSIO_USERNAME"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versio_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&[("example.com", others())], Some(fake_api::bind_mirror(&stack))).await;
    let password = fake_api::secret_file(&stack, "versio.password", PASSWORD);
    let table = format!(
        "provider = \"versio\"\napi_url = \"{}/api/v1\"\nusername = \"{USER}\"\npassword_file = \"{}\"",
        api.url,
        password.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD]);
    let state = api.state();
    assert_eq!(state.domains[0].1, others());
    assert_eq!(state.updates, 4, "two presents and two cleanups");
}
