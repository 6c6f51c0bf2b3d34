//! The ConoHa adapter against a contract fake of ConoHa's identity service v2.0 and DNS
//! service API v1, built from their documentation:
//! - <https://doc.conoha.jp/api-vps2/identity-post_tokens-v2/>: `POST /v2.0/tokens` with
//!   `{"auth": {"passwordCredentials": {"username", "password"}, "tenantId"}}` answers
//!   `{"access": {"token": {"id", "issued_at", "expires", "tenant"}, "serviceCatalog"}}`; wrong
//!   credentials are a 401 `{"unauthorized": {"message", "code"}}`;
//! - <https://doc.conoha.jp/api-vps2/paas-dns-list-records-in-a-domain-v2/> and
//!   <https://www.conoha.jp/docs/paas-dns-create-record.php>: `X-Auth-Token` on every call;
//!   `GET /v1/domains` (every domain, names with a final dot), `GET /v1/domains/{id}/records`,
//!   `POST /v1/domains/{id}/records` with `{"name", "type", "data", "ttl"}` (TTL 60 to
//!   2147483647, the name with its final dot), `DELETE /v1/domains/{id}/records/{id}`;
//!   errors as `{"code", "type", "message"}`.
//!
//! When given a BIND, the fake applies each TXT change to it through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use support::openstack_fake::{self, Tokens};
use wildcert::config::Config;
use wildcert_dns_api::Secret;
use wildcert_dns_conoha::{Conoha, ConohaConfig};
use wildcert_dns_rfc2136::Rfc2136;

const PASSWORD: &str = "conoha-pa55-5d8e0f";
const TENANT: &str = "487727e3921d44e3bfe7ebb337bf085e";
const TOKEN_PREFIX: &str = "f3e9a8-conoha-fake-token-";

#[derive(Default)]
struct State {
    tokens: Tokens,
    next: u64,
    /// (id, name with the final dot).
    domains: Vec<(String, String)>,
    records: Vec<Rec>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    id: String,
    domain: String,
    name: String,
    kind: String,
    data: String,
    ttl: u64,
}

impl Rec {
    fn json(&self) -> Value {
        json!({"id": self.id, "domain_id": self.domain, "name": self.name, "type": self.kind, "data": self.data, "ttl": self.ttl, "priority": null, "gslb_region": null, "gslb_weight": null, "gslb_check": null})
    }
}

fn dns_error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(status, json!({"code": status, "type": kind, "message": message}))
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let segments: Vec<String> = request.segments().iter().map(|s| s.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    if segments == ["identity", "v2.0", "tokens"] && request.method == "POST" {
        let auth = &body["auth"];
        let ok = auth["passwordCredentials"] == json!({"username": "gncu12345678", "password": PASSWORD})
            && auth["tenantId"] == TENANT;
        if !ok {
            return openstack_fake::identity_v2_refusal("Invalid user / password");
        }
        let token = state.tokens.issue(TOKEN_PREFIX);
        return Reply::json(
            200,
            json!({"access": {
                "token": {"id": token, "issued_at": "2026-12-03T08:00:00.000000", "expires": "2026-12-04T08:00:00Z", "tenant": {"id": TENANT, "name": "gnct12345678"}},
                "serviceCatalog": [{"type": "dns", "name": "DNS Service", "endpoints": [{"region": "tyo1", "publicURL": "https://dns-service.tyo1.conoha.io"}]}],
                "user": {"username": "gncu12345678", "id": "u1"}
            }}),
        );
    }
    if segments.get(..2) != Some(&["dns", "v1"][..]) {
        return dns_error(404, "not_found", "Not Found");
    }
    if !state.tokens.accepts(request) {
        return dns_error(401, "access_denied", "Access Denied");
    }
    match (request.method.as_str(), &segments[2..]) {
        ("GET", ["domains"]) => {
            let domains: Vec<Value> = state
                .domains
                .iter()
                .map(|(id, name)| json!({"id": id, "name": name, "ttl": 3600, "serial": 1, "email": "ops@example.com", "gslb": 0}))
                .collect();
            Reply::json(200, json!({ "domains": domains }))
        }
        ("GET", ["domains", id, "records"]) => {
            let records: Vec<Value> =
                state.records.iter().filter(|r| r.domain == *id).map(Rec::json).collect();
            Reply::json(200, json!({ "records": records }))
        }
        ("POST", ["domains", id, "records"]) => {
            let Some((domain, zone)) = state.domains.iter().find(|(d, _)| d == id).cloned() else {
                return dns_error(404, "domain_not_found", "Domain not found");
            };
            let name = body["name"].as_str().unwrap_or_default().to_string();
            if !(name == zone || name.ends_with(&format!(".{zone}"))) {
                return dns_error(400, "invalid_object", "name must be within the domain and end with a dot");
            }
            if body["ttl"].as_u64().is_some_and(|t| t < 60) {
                return dns_error(400, "invalid_object", "ttl must be between 60 and 2147483647");
            }
            state.next += 1;
            let rec = Rec {
                id: format!("rec-{}", state.next),
                domain,
                name: name.clone(),
                kind: body["type"].as_str().unwrap_or_default().to_string(),
                data: body["data"].as_str().unwrap_or_default().to_string(),
                ttl: body["ttl"].as_u64().unwrap_or(3600),
            };
            state.records.push(rec.clone());
            Reply::json(200, rec.json()).with([Change::add(name, rec.data.clone())])
        }
        ("DELETE", ["domains", id, "records", record]) => {
            let Some(at) = state.records.iter().position(|r| r.domain == *id && r.id == *record) else {
                return dns_error(404, "record_not_found", "Record not found");
            };
            let gone = state.records.remove(at);
            Reply::json(200, Value::Null).with([Change::remove(gone.name.clone(), gone.data.clone())])
        }
        _ => dns_error(404, "not_found", "Not Found"),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().enumerate().map(|(i, d)| (format!("dom-{i}"), format!("{d}."))).collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, route).await
}

fn others() -> Vec<Rec> {
    let rec = |id: &str, name: &str, kind: &str, data: &str| Rec {
        id: id.into(),
        domain: "dom-1".into(),
        name: name.into(),
        kind: kind.into(),
        data: data.into(),
        ttl: 3600,
    };
    vec![
        rec("o1", "example.com.", "A", "198.51.100.4"),
        rec("o2", "_acme-challenge.www.example.com.", "TXT", "someone-elses-value"),
    ]
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| r.kind == "TXT" && r.name.eq_ignore_ascii_case(name))
        .map(|r| r.data.clone())
        .collect()
}

fn settings(url: &str) -> ConohaConfig {
    ConohaConfig {
        tenant_id: TENANT.into(),
        username: "gncu12345678".into(),
        password: None,
        region: "tyo1".into(),
        identity_url: Some(format!("{url}/identity/v2.0")),
        api_url: Some(format!("{url}/dns/v1")),
        timeout: Duration::from_secs(5),
    }
}

fn adapter(url: &str, password: &str) -> Conoha {
    Conoha::new(&settings(url), Secret::new(password)).unwrap()
}

fn secrets() -> Vec<String> {
    vec![PASSWORD.into(), TOKEN_PREFIX.into()]
}

/// The conformance suite against the contract fake: the domain's other records survive and
/// one token serves every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conoha_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    api.state().records = others();
    let fqdn = "_acme-challenge.www.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, PASSWORD),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: secrets(),
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().records, others(), "another record changed");
    let seen = api.seen();
    assert_eq!(api.count("POST /identity/v2.0/tokens"), 1, "{seen:#?}");
    conformance::auth_failure(&adapter(&api.url, "wrong-password"), &fqdn, &None, "password", &secrets())
        .await;
    conformance::busy_is_retried(|url: &str| adapter(url, PASSWORD), &api.upstream(), &fqdn, &None).await;
}

/// The installer's settings reach the adapter; a region that is no host name label is
/// refused.
#[test]
fn conoha_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "conoha"
settings = { CONOHA_TENANT_ID = "487727e3921d44e3bfe7ebb337bf085e", CONOHA_API_USERNAME = "gncu12345678", CONOHA_API_PASSWORD_FILE = "/etc/wildcert/conoha.password", CONOHA_REGION = "sin1", CONOHA_TTL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "CONOHA_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Conoha(cfg) = &config.dns["installer"].config else {
        panic!("not conoha")
    };
    assert_eq!((cfg.tenant_id.as_str(), cfg.region.as_str()), (TENANT, "sin1"));

    let text = fake_api::config_with(
        "[dns.installer]\nprovider = \"conoha\"\ntenant_id = \"t\"\nusername = \"u\"\npassword_file = \"/p\"\nregion = \"evil.example/\"\n",
    );
    let err = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap_err().to_string();
    assert!(err.contains("region"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conoha_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let password_file = fake_api::secret_file(&stack, "conoha.password", PASSWORD);
    let table = format!(
        "provider = \"conoha\"\nidentity_url = \"{0}/identity/v2.0\"\napi_url = \"{0}/dns/v1\"\ntenant_id = \"{TENANT}\"\nusername = \"gncu12345678\"\npassword_file = \"{1}\"",
        api.url,
        password_file.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD, TOKEN_PREFIX]);
    assert!(api.state().records.is_empty());
}
