//! The Selectel adapter against a contract fake of Selectel's Keystone and DNS hosting API
//! v2, built from their documentation:
//! - <https://docs.selectel.ru/control-panel-actions/account/api-keys/>: a project token for a
//!   service user, `POST /identity/v3/auth/tokens` with the password method, the user named
//!   within the account's domain (the account ID) and `{"project": {"id"}}` as scope; 201 with
//!   `X-Subject-Token`; refused credentials are a 401 `{"error": {"code", "title", "message"}}`;
//! - <https://docs.selectel.ru/api/dns/>: `X-Auth-Token` on every call (else 401);
//!   `GET /domains/v2/zones?filter=` (a substring match), `GET /zones/{id}/rrset?name=&rrset_types=TXT`
//!   answering `{"count", "next_offset", "result"}`; `POST /zones/{id}/rrset` with
//!   `{"name", "type", "ttl", "records": [{"content", "disabled"}]}` (TTL 60 to 604800, TXT
//!   content quoted), `PATCH` and `DELETE /zones/{id}/rrset/{id}` answering 204; errors as
//!   `{"error", "description"}`.
//!
//! The legacy DNS API v1 (lego's `selectel`) is not faked: Selectel deprecated it
//! (<https://docs.selectel.ru/api/dns-legacy>). When given a BIND, the fake applies each TXT
//! change to it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use support::openstack_fake::{self, Tokens};
use wildcert::config::Config;
use wildcert_dns_api::{Secret, txt_text};
use wildcert_dns_rfc2136::Rfc2136;
use wildcert_dns_selectel::{Selectel, SelectelConfig};

const PASSWORD: &str = "sel-pa55-0c7b2a";
const ACCOUNT: &str = "123456";
const PROJECT: &str = "p-0f1e";
const TOKEN_PREFIX: &str = "gAAAAAB-selectel-token-";

#[derive(Default)]
struct State {
    tokens: Tokens,
    next: u64,
    /// (id, name).
    zones: Vec<(String, String)>,
    sets: Vec<Set>,
}

#[derive(Debug, Clone, PartialEq)]
struct Set {
    id: String,
    zone_id: String,
    name: String,
    kind: String,
    ttl: u64,
    /// (content, disabled).
    records: Vec<(String, bool)>,
}

impl Set {
    fn json(&self) -> Value {
        let records: Vec<Value> =
            self.records.iter().map(|(c, d)| json!({"content": c, "disabled": d})).collect();
        json!({"id": self.id, "zone": self.zone_id, "name": self.name, "type": self.kind, "ttl": self.ttl, "records": records})
    }
}

fn dns_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(status, json!({"error": error, "description": description}))
}

fn records(body: &Value) -> Option<Vec<(String, bool)>> {
    body["records"]
        .as_array()?
        .iter()
        .map(|r| Some((r["content"].as_str()?.to_string(), r["disabled"].as_bool().unwrap_or(false))))
        .collect()
}

fn quoted(records: &[(String, bool)]) -> bool {
    !records.is_empty() && records.iter().all(|(c, _)| openstack_fake::quoted(c))
}

fn diff(name: &str, before: &[(String, bool)], after: &[(String, bool)]) -> Vec<Change> {
    fake_api::diff(name, before, after, |(c, _)| txt_text(c))
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let segments: Vec<String> = request.segments().iter().map(|s| s.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    if segments == ["identity", "v3", "auth", "tokens"] && request.method == "POST" {
        let domain = json!({"name": ACCOUNT});
        let scope = json!({"project": {"id": PROJECT}});
        if !openstack_fake::keystone_password(&body, "dns-svc", &[domain], PASSWORD, &[scope]) {
            return openstack_fake::keystone_refusal("The request you have made requires authentication.");
        }
        let token = state.tokens.issue(TOKEN_PREFIX);
        return openstack_fake::keystone_token(
            token,
            json!({"methods": ["password"], "issued_at": "2026-12-03T08:00:00Z", "expires_at": "2026-12-04T08:00:00Z", "project": {"id": PROJECT}, "catalog": []}),
        );
    }
    if segments.get(..2) != Some(&["domains", "v2"][..]) {
        return dns_error(404, "not_found", "no such path");
    }
    if !state.tokens.accepts(request) {
        return dns_error(401, "unauthorized", "invalid or missing X-Auth-Token");
    }
    match (request.method.as_str(), &segments[2..]) {
        ("GET", ["zones"]) => {
            let filter = request.param("filter").unwrap_or_default();
            let result: Vec<Value> = state
                .zones
                .iter()
                .filter(|(_, name)| name.contains(&filter))
                .map(|(id, name)| json!({"id": id, "name": name, "project_id": PROJECT, "disabled": false}))
                .collect();
            Reply::json(200, json!({"count": result.len(), "next_offset": 0, "result": result}))
        }
        ("GET", ["zones", zone, "rrset"]) => {
            let (name, kinds) = (request.param("name"), request.param("rrset_types"));
            let result: Vec<Value> = state
                .sets
                .iter()
                .filter(|s| s.zone_id == *zone)
                .filter(|s| name.as_deref().is_none_or(|n| n == s.name))
                .filter(|s| kinds.as_deref().is_none_or(|k| k.split(',').any(|k| k == s.kind)))
                .map(Set::json)
                .collect();
            Reply::json(200, json!({"count": result.len(), "next_offset": 0, "result": result}))
        }
        ("POST", ["zones", zone, "rrset"]) => {
            let Some((_, zone_name)) = state.zones.iter().find(|(id, _)| id == zone).cloned() else {
                return dns_error(404, "zone_not_found", "zone not found");
            };
            let name = body["name"].as_str().unwrap_or_default().to_string();
            let Some(records) = records(&body).filter(|r| quoted(r)) else {
                return dns_error(422, "bad_request", "records: TXT content must be quoted");
            };
            if !(name == zone_name || name.ends_with(&format!(".{zone_name}"))) || body["type"] != "TXT" {
                return dns_error(422, "bad_request", "name is not within the zone");
            }
            if body["ttl"].as_u64().is_none_or(|t| !(60..=604_800).contains(&t)) {
                return dns_error(422, "bad_request", "ttl: must be between 60 and 604800");
            }
            if state.sets.iter().any(|s| s.zone_id == *zone && s.name == name && s.kind == "TXT") {
                return dns_error(409, "rrset_already_exists", "rrset already exists");
            }
            state.next += 1;
            let set = Set {
                id: format!("rr-{}", state.next),
                zone_id: zone.to_string(),
                name: name.clone(),
                kind: "TXT".into(),
                ttl: body["ttl"].as_u64().unwrap(),
                records: records.clone(),
            };
            state.sets.push(set.clone());
            Reply::json(201, set.json()).with(diff(&name, &[], &records))
        }
        ("PATCH", ["zones", zone, "rrset", id]) => {
            let Some(set) = state.sets.iter_mut().find(|s| s.zone_id == *zone && s.id == *id) else {
                return dns_error(404, "rrset_not_found", "rrset not found");
            };
            let Some(records) = records(&body).filter(|r| quoted(r)) else {
                return dns_error(422, "bad_request", "records: TXT content must be quoted");
            };
            let before = std::mem::replace(&mut set.records, records.clone());
            let name = set.name.clone();
            Reply::json(204, Value::Null).with(diff(&name, &before, &records))
        }
        ("DELETE", ["zones", zone, "rrset", id]) => {
            let Some(at) = state.sets.iter().position(|s| s.zone_id == *zone && s.id == *id) else {
                return dns_error(404, "rrset_not_found", "rrset not found");
            };
            let gone = state.sets.remove(at);
            Reply::json(204, Value::Null).with(diff(&gone.name, &gone.records, &[]))
        }
        _ => dns_error(404, "not_found", "no such path"),
    }
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones.iter().enumerate().map(|(i, z)| (format!("zone-{i}"), format!("{z}."))).collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, route).await
}

fn others() -> Vec<Set> {
    vec![
        Set {
            id: "o1".into(),
            zone_id: "zone-1".into(),
            name: "example.com.".into(),
            kind: "A".into(),
            ttl: 3600,
            records: vec![("198.51.100.4".into(), false)],
        },
        Set {
            id: "o2".into(),
            zone_id: "zone-1".into(),
            name: "_acme-challenge.www.example.com.".into(),
            kind: "TXT".into(),
            ttl: 300,
            records: vec![("\"someone-elses-value\"".into(), false), ("\"a-disabled-value\"".into(), true)],
        },
    ]
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .sets
        .iter()
        .filter(|s| s.kind == "TXT" && s.name.eq_ignore_ascii_case(name))
        .flat_map(|s| s.records.iter().map(|(c, _)| txt_text(c)))
        .collect()
}

fn settings(url: &str) -> SelectelConfig {
    SelectelConfig {
        username: "dns-svc".into(),
        password: None,
        account_id: ACCOUNT.into(),
        project_id: PROJECT.into(),
        api_url: format!("{url}/domains/v2"),
        auth_url: format!("{url}/identity/v3/"),
        timeout: Duration::from_secs(5),
    }
}

fn adapter(url: &str, password: &str) -> Selectel {
    Selectel::new(&settings(url), Secret::new(password)).unwrap()
}

fn secrets() -> Vec<String> {
    vec![PASSWORD.into(), TOKEN_PREFIX.into()]
}

/// The conformance suite against the contract fake: the other records (another value and a
/// disabled one at the very name included) survive as they were, the zone is the exact match
/// of a substring filter, one token serves every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectelv2_conformance() {
    let api = fake(&["www.example.com.other", "example.com"], None).await;
    api.state().sets = others();
    let fqdn = "_acme-challenge.www.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, PASSWORD),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: secrets(),
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().sets, others(), "another record changed");
    let seen = api.seen();
    assert_eq!(api.count("POST /identity/v3/auth/tokens"), 1, "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("PATCH /domains/v2/zones/zone-1/rrset/o2")), "{seen:#?}");
    conformance::auth_failure(&adapter(&api.url, "wrong-password"), &fqdn, &None, "password", &secrets())
        .await;
    conformance::busy_is_retried(|url: &str| adapter(url, PASSWORD), &api.upstream(), &fqdn, &None).await;
}

/// The installer's settings reach the adapter; Selectel's legacy code and Vscale's load as
/// this adapter with a warning, and the legacy API key is refused as no setting of it.
#[test]
fn selectelv2_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "selectelv2"
settings = { SELECTELV2_USERNAME = "dns-svc", SELECTELV2_PASSWORD_FILE = "/etc/wildcert/selectel.password", SELECTELV2_ACCOUNT_ID = "123456", SELECTELV2_PROJECT_ID = "p-0f1e", SELECTELV2_TTL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "SELECTELV2_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Selectel(cfg) = &config.dns["installer"].config else {
        panic!("not selectelv2")
    };
    assert_eq!((cfg.account_id.as_str(), cfg.project_id.as_str()), (ACCOUNT, PROJECT));
    assert_eq!(cfg.api_url, "https://api.selectel.ru/domains/v2");

    let text = fake_api::config_with(
        "[dns.installer]\nprovider = \"vscale\"\nusername = \"dns-svc\"\npassword_file = \"/etc/wildcert/selectel.password\"\naccount_id = \"123456\"\nproject_id = \"p-0f1e\"\n",
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("is now \"selectelv2\"")), "{:?}", config.warnings);

    let text = fake_api::config_with(
        "[dns.installer]\nprovider = \"selectel\"\nsettings = { SELECTEL_API_TOKEN = \"legacy\" }\n",
    );
    let err = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap_err().to_string();
    assert!(err.contains("SELECTEL_API_TOKEN") && err.contains("SELECTELV2_USERNAME"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectelv2_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let password_file = fake_api::secret_file(&stack, "selectel.password", PASSWORD);
    let table = format!(
        "provider = \"selectelv2\"\napi_url = \"{0}/domains/v2\"\nauth_url = \"{0}/identity/v3\"\nusername = \"dns-svc\"\npassword_file = \"{1}\"\naccount_id = \"{ACCOUNT}\"\nproject_id = \"{PROJECT}\"",
        api.url,
        password_file.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD, TOKEN_PREFIX]);
    assert!(api.state().sets.is_empty());
}
