//! The OpenStack Designate adapter against a contract fake of Keystone v3 and the Designate
//! DNS API v2, built from their documentation:
//! - <https://docs.openstack.org/api-ref/identity/v3/#password-authentication-with-scoped-authorization>
//!   and <https://docs.openstack.org/api-ref/identity/v3/#authenticating-with-an-application-credential>:
//!   `POST /v3/auth/tokens` with `{"auth": {"identity": {"methods": [...], ...}, "scope"}}`
//!   answers 201, the token in `X-Subject-Token` and `{"token": {"issued_at", "expires_at",
//!   "catalog": [{"type", "endpoints": [{"interface", "region", "region_id", "url"}]}]}}`;
//!   refused credentials are a 401 `{"error": {"code", "title", "message"}}`;
//! - <https://docs.openstack.org/api-ref/dns/dns-api-v2-index.html>: every call carries
//!   `X-Auth-Token` (else 401); `GET /v2/zones?name=`, `GET /v2/zones/{id}/recordsets?name=&type=`,
//!   `POST /v2/zones/{id}/recordsets` (409 `duplicate_recordset` when it exists),
//!   `PUT`/`DELETE /v2/zones/{id}/recordsets/{id}`, answering 202 with the record set; errors
//!   as `{"code", "type", "message", "request_id"}`.
//!
//! The catalog lists the DNS endpoint of RegionOne (the fake), of RegionTwo (a closed port)
//! and an internal one, so picking the wrong endpoint fails. When given a BIND, the fake
//! applies each TXT change to it through RFC 2136, so Pebble validates a real issuance
//! through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, FakeApi, Reply};
use support::openstack_fake::{self, RecordSet, Refusal, Tokens};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_designate::{Designate, DesignateConfig};
use wildcert_dns_rfc2136::Rfc2136;

const PASSWORD: &str = "os-pa55w0rd-91c2e7";
const APP_ID: &str = "ac-3f8e21";
const APP_SECRET: &str = "ac-s3cret-77d0a4";
/// Every token the fake issues starts with this, so that the suite can look for tokens in
/// logs.
const TOKEN_PREFIX: &str = "gAAAAAB-fake-token-";

#[derive(Default)]
struct State {
    url: String,
    tokens: Tokens,
    next: u64,
    /// (id, name).
    zones: Vec<(String, String)>,
    sets: Vec<RecordSet>,
}

/// A record set as Designate answers it.
fn set_json(set: &RecordSet, status: &str) -> Value {
    set.json(status, json!({"action": "NONE", "version": 1}))
}

fn designate_error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(status, json!({"code": status, "type": kind, "message": message, "request_id": "req-0b1c"}))
}

/// The identity the request's body proves, if any: Keystone's checks of the password and
/// application-credential methods.
fn authenticated(body: &Value) -> Option<&'static str> {
    let identity = &body["auth"]["identity"];
    let domains = [json!({"name": "Default"}), json!({"id": "default"})];
    let scopes = [
        json!({"project": {"name": "dns-project", "domain": {"id": "default"}}}),
        json!({"project": {"id": "p-4711"}}),
    ];
    if openstack_fake::keystone_password(body, "ops", &domains, PASSWORD, &scopes) {
        return Some("password");
    }
    if identity["methods"] == json!(["application_credential"]) {
        let credential = &identity["application_credential"];
        return (credential["id"] == APP_ID && credential["secret"] == APP_SECRET)
            .then_some("application_credential");
    }
    None
}

fn token(state: &mut State, method: &str) -> Reply {
    let token = state.tokens.issue(TOKEN_PREFIX);
    let url = &state.url;
    openstack_fake::keystone_token(
        token,
        json!({
            "methods": [method],
            "issued_at": "2026-12-03T08:00:00.000000Z",
            "expires_at": "2026-12-03T09:00:00.000000Z",
            "project": {"id": "p-4711", "name": "dns-project", "domain": {"id": "default", "name": "Default"}},
            "catalog": [
                {"type": "identity", "name": "keystone", "endpoints": [{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{url}/identity")}]},
                {"type": "dns", "name": "designate", "endpoints": [
                    {"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo", "url": "http://127.0.0.1:9"},
                    {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": "http://127.0.0.1:9"},
                    {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{url}/dns/")}
                ]}
            ]
        }),
    )
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let segments: Vec<String> = request.segments().iter().map(|s| s.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    if segments == ["identity", "v3", "auth", "tokens"] && request.method == "POST" {
        return match authenticated(&body) {
            Some(method) => token(state, method),
            None => openstack_fake::keystone_refusal("The request you have made requires authentication."),
        };
    }
    if segments.first() != Some(&"dns") || segments.get(1) != Some(&"v2") {
        return designate_error(404, "not_found", "The resource could not be found.");
    }
    if !state.tokens.accepts(request) {
        return designate_error(401, "unauthorized", "Authentication required");
    }
    match (request.method.as_str(), &segments[2..]) {
        ("GET", ["zones"]) => {
            let wanted = request.param("name");
            let zones: Vec<Value> = state
                .zones
                .iter()
                .filter(|(_, name)| wanted.as_deref().is_none_or(|w| w == name))
                .map(|(id, name)| json!({"id": id, "name": name, "type": "PRIMARY", "status": "ACTIVE", "ttl": 3600}))
                .collect();
            let count = zones.len();
            Reply::json(
                200,
                json!({"zones": zones, "links": {"self": "x"}, "metadata": {"total_count": count}}),
            )
        }
        ("GET", ["zones", zone, "recordsets"]) => {
            let sets: Vec<Value> = openstack_fake::listed(&state.sets, zone, request)
                .into_iter()
                .map(|s| set_json(s, "ACTIVE"))
                .collect();
            Reply::json(200, openstack_fake::listing(sets))
        }
        ("POST", ["zones", zone, "recordsets"]) => {
            let Some((_, zone_name)) = state.zones.iter().find(|(id, _)| id == zone).cloned() else {
                return designate_error(404, "zone_not_found", "Could not find Zone");
            };
            let name = body["name"].as_str().unwrap_or_default().to_string();
            let records = openstack_fake::records_in(&body);
            if !name.ends_with('.') || !(name == zone_name || name.ends_with(&format!(".{zone_name}"))) {
                return designate_error(400, "invalid_object", "RecordSet name is not within the zone");
            }
            if body["type"] != "TXT" || records.is_empty() {
                return designate_error(400, "invalid_object", "type and records are required");
            }
            if records.iter().any(|r| !openstack_fake::quoted(r)) {
                return designate_error(400, "invalid_object", "TXT record is missing double quotes");
            }
            if openstack_fake::has_txt(&state.sets, zone, &name) {
                return designate_error(409, "duplicate_recordset", "Duplicate RecordSet");
            }
            state.next += 1;
            let id = format!("rs-{}", state.next);
            let ttl = body["ttl"].as_u64().unwrap_or(3600);
            let (set, changes) = openstack_fake::create(&mut state.sets, zone, id, &name, records, ttl);
            Reply::json(202, set_json(&set, "PENDING")).with(changes)
        }
        ("PUT", ["zones", zone, "recordsets", id]) => {
            match openstack_fake::replace(&mut state.sets, zone, id, &body) {
                Ok((set, changes)) => Reply::json(202, set_json(&set, "PENDING")).with(changes),
                Err(Refusal::NotFound) => {
                    designate_error(404, "recordset_not_found", "Could not find RecordSet")
                }
                Err(Refusal::Invalid) => {
                    designate_error(400, "invalid_object", "records must be quoted and not empty")
                }
            }
        }
        ("DELETE", ["zones", zone, "recordsets", id]) => {
            match openstack_fake::remove(&mut state.sets, zone, id) {
                Some((gone, changes)) => Reply::json(202, set_json(&gone, "PENDING")).with(changes),
                None => designate_error(404, "recordset_not_found", "Could not find RecordSet"),
            }
        }
        _ => designate_error(404, "not_found", "The resource could not be found."),
    }
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones.iter().enumerate().map(|(i, z)| (format!("z-{i}"), format!("{z}."))).collect(),
        ..Default::default()
    };
    let api = FakeApi::start(state, bind, route).await;
    api.state().url = api.url.clone();
    api
}

fn others() -> Vec<RecordSet> {
    let set = |id: &str, name: &str, kind: &str, records: &[&str]| RecordSet {
        id: id.into(),
        zone_id: "z-1".into(),
        name: name.into(),
        kind: kind.into(),
        records: records.iter().map(|r| r.to_string()).collect(),
        ttl: 3600,
    };
    vec![
        set("o1", "example.com.", "A", &["198.51.100.4"]),
        set("o2", "_acme-challenge.gradient.example.com.", "CNAME", &["elsewhere.example.net."]),
        set("o3", "other.example.com.", "TXT", &["\"v=spf1 -all\""]),
    ]
}

fn values(state: &State, name: &str) -> Vec<String> {
    openstack_fake::txt_values(&state.sets, name)
}

fn settings(auth_url: &str) -> DesignateConfig {
    DesignateConfig {
        auth_url: auth_url.into(),
        username: Some("ops".into()),
        user_id: None,
        password: None,
        user_domain_name: Some("Default".into()),
        user_domain_id: None,
        project_name: Some("dns-project".into()),
        project_id: None,
        project_domain_name: None,
        project_domain_id: None,
        domain_name: None,
        application_credential_id: None,
        application_credential_name: None,
        application_credential_secret: None,
        region_name: Some("RegionOne".into()),
        interface: "public".into(),
        zone_name: None,
        api_url: None,
        timeout: Duration::from_secs(5),
    }
}

fn adapter(url: &str, password: &str) -> Designate {
    Designate::new(&settings(&format!("{url}/identity")), Secret::new(password)).unwrap()
}

fn secrets() -> Vec<String> {
    vec![PASSWORD.into(), APP_SECRET.into(), TOKEN_PREFIX.into()]
}

fn record(fqdn: &str, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: None, value: value.into(), ttl: 60, raw: None }
}

/// The conformance suite against the contract fake: the zone's other record sets survive,
/// one token serves every call, the catalog's RegionOne public endpoint is the one used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn designate_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
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
    assert_eq!(api.state().sets, others(), "another record set changed");
    let seen = api.seen();
    assert_eq!(api.count("POST /identity/v3/auth/tokens"), 1, "the token is reused: {seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("PUT /dns/v2/zones/z-1/recordsets/")), "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("DELETE /dns/v2/zones/z-1/recordsets/")), "{seen:#?}");
    conformance::auth_failure(&adapter(&api.url, "wrong-password"), &fqdn, &None, "password", &secrets())
        .await;
    conformance::busy_is_retried(
        |url: &str| {
            let mut config = settings(&format!("{url}/identity/v3/"));
            config.api_url = Some(format!("{url}/dns"));
            Designate::new(&config, Secret::new(PASSWORD)).unwrap()
        },
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// An application credential works, a token the API stops accepting is replaced once, a
/// region the catalog lacks is named, and a record set another writer created between our
/// read and our write is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn designate_application_credential_token_refresh_and_regions() {
    let api = fake(&["example.com"], None).await;
    let mut config = settings(&format!("{}/identity", api.url));
    config.username = None;
    config.application_credential_id = Some(APP_ID.into());
    config.application_credential_secret =
        Some(wildcert_dns_api::spec::SecretSource::Inline(Secret::new(APP_SECRET)));
    let p = Designate::new(&config, Secret::new(APP_SECRET)).unwrap();
    let r = record("_acme-challenge.example.com.", "app-credential-value");
    p.present(&r).await.unwrap();
    assert_eq!(values(&api.state(), "_acme-challenge.example.com."), ["app-credential-value"]);
    // Revoke every token: the next call gets a 401, logs in again and goes through.
    api.state().tokens.revoke_all();
    p.cleanup(&r).await.unwrap();
    assert!(values(&api.state(), "_acme-challenge.example.com.").is_empty());
    assert_eq!(api.count("POST /identity/v3/auth/tokens"), 2);

    // Wrong application credential: refused, naming the setting.
    let wrong = Designate::new(&config, Secret::new("not-the-secret")).unwrap();
    let err = wrong.present(&r).await.unwrap_err();
    assert!(err.to_string().contains("application_credential_secret"), "{err}");

    // A region the catalog does not list.
    let mut elsewhere = settings(&format!("{}/identity", api.url));
    elsewhere.region_name = Some("RegionNine".into());
    let err = Designate::new(&elsewhere, Secret::new(PASSWORD)).unwrap().present(&r).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("RegionNine") && text.contains("RegionOne") && text.contains("RegionTwo"),
        "{text}"
    );

    // zone_name given: no zone search by suffix.
    let mut zoned = settings(&format!("{}/identity", api.url));
    zoned.zone_name = Some("example.com".into());
    let p = Designate::new(&zoned, Secret::new(PASSWORD)).unwrap();
    p.present(&record("_acme-challenge.a.b.example.com.", "zoned")).await.unwrap();
    assert_eq!(values(&api.state(), "_acme-challenge.a.b.example.com."), ["zoned"]);
    let zone_searches: Vec<String> =
        api.seen().into_iter().filter(|s| s.starts_with("GET /dns/v2/zones?")).collect();
    assert!(zone_searches.last().unwrap().ends_with("name=example.com."), "{zone_searches:?}");
}

/// The installer's settings reach the adapter.
#[test]
fn designate_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "designate"
settings = { OS_AUTH_URL = "https://keystone.example:5000/v3", OS_USERNAME = "ops", OS_PASSWORD_FILE = "/etc/wildcert/os.password", OS_TENANT_NAME = "dns-project", OS_REGION_NAME = "RegionOne", OS_USER_DOMAIN_NAME = "Corp", DESIGNATE_TTL = "30" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "DESIGNATE_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Designate(cfg) = &config.dns["installer"].config else {
        panic!("not designate")
    };
    assert_eq!(cfg.project_name.as_deref(), Some("dns-project"));
    assert_eq!(cfg.region_name.as_deref(), Some("RegionOne"));
    assert_eq!(cfg.user_domain_name.as_deref(), Some("Corp"));
    assert!(cfg.password.is_some());

    // A password without a project cannot give Designate a scoped token.
    let text = fake_api::config_with(
        "[dns.installer]\nprovider = \"designate\"\nsettings = { OS_AUTH_URL = \"https://keystone.example:5000\", OS_USERNAME = \"ops\", OS_PASSWORD_FILE = \"/etc/wildcert/os.password\" }\n",
    );
    let err = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap_err().to_string();
    assert!(err.contains("project_name"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn designate_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let password_file = fake_api::secret_file(&stack, "os.password", PASSWORD);
    let table = format!(
        "provider = \"designate\"\nauth_url = \"{}/identity/v3\"\nusername = \"ops\"\npassword_file = \"{}\"\nproject_name = \"dns-project\"\nregion_name = \"RegionOne\"",
        api.url,
        password_file.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD, TOKEN_PREFIX]);
    assert!(api.state().sets.is_empty());
}
