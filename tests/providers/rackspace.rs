//! The Rackspace Cloud DNS adapter against a contract fake of Rackspace's identity service
//! v2.0 and Cloud DNS API v1.0, built from their documentation:
//! - <https://docs.rackspace.com/docs/cloud-identity/v2/api-reference/token-operations>:
//!   `POST /v2.0/tokens` with `{"auth": {"RAX-KSKEY:apiKeyCredentials": {"username", "apiKey"}}}`
//!   answers `{"access": {"token": {"id", "expires", "tenant"}, "serviceCatalog": [{"name":
//!   "cloudDNS", "type": "rax:dns", "endpoints": [{"publicURL", "tenantId"}]}]}}`; a wrong key
//!   is a 401 `{"unauthorized": {"code", "message"}}`;
//! - <https://docs.rackspace.com/docs/cloud-dns/v1/api-reference/>: `X-Auth-Token` on every
//!   call; `GET /domains?name=`, `GET /domains/{id}/records?type=&name=`, `POST
//!   /domains/{id}/records` with `{"records": [{"name", "type", "data", "ttl"}]}` (TTL at least
//!   300, else 400 with `validationErrors`), `DELETE /domains/{id}/records/{recordId}`; changes
//!   answer 202 with an asynchronous job (`{"status", "jobId", "callbackUrl"}`) read at
//!   `GET /status/{jobId}?showDetails=true` until `COMPLETED` or `ERROR`; rate limits answer
//!   413 "Over Limit" with `Retry-After`.
//!
//! Every job reports `RUNNING` once before `COMPLETED`, so the adapter must poll. When given a
//! BIND, the fake applies each TXT change to it through RFC 2136, so Pebble validates a real
//! issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use support::openstack_fake::{self, Tokens};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_rackspace::{Rackspace, RackspaceConfig};
use wildcert_dns_rfc2136::Rfc2136;

const KEY: &str = "rax-api-k3y-8f2c11";
const ACCOUNT: &str = "123456";
const TOKEN_PREFIX: &str = "AAD-rax-fake-token-";

#[derive(Default)]
struct State {
    url: String,
    tokens: Tokens,
    next: u64,
    /// (id, name).
    domains: Vec<(u64, String)>,
    records: Vec<Rec>,
    /// Job id to the polls left before it completes.
    jobs: HashMap<String, u32>,
    /// The next this many DNS calls answer 413.
    over_limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    id: String,
    domain: u64,
    name: String,
    kind: String,
    data: String,
    ttl: u64,
}

fn dns_error(status: u16, message: &str, details: &str) -> Reply {
    Reply::json(status, json!({"code": status, "message": message, "details": details}))
}

fn job(state: &mut State, verb: &str) -> Reply {
    state.next += 1;
    let id = format!("job-{}", state.next);
    state.jobs.insert(id.clone(), 1);
    let callback = format!("{}/dns/v1.0/{ACCOUNT}/status/{id}", state.url);
    Reply::json(
        202,
        json!({"request": "{}", "status": "RUNNING", "verb": verb, "jobId": id, "callbackUrl": callback, "requestUrl": "x"}),
    )
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let segments: Vec<String> = request.segments().iter().map(|s| s.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    if segments == ["identity", "v2.0", "tokens"] && request.method == "POST" {
        let credentials = &body["auth"]["RAX-KSKEY:apiKeyCredentials"];
        if credentials["username"] != "ops" || credentials["apiKey"] != KEY {
            return openstack_fake::identity_v2_refusal("Username or api key is invalid.");
        }
        let token = state.tokens.issue(TOKEN_PREFIX);
        return Reply::json(
            200,
            json!({"access": {
                "token": {"id": token, "expires": "2026-12-04T08:00:00.000Z", "tenant": {"id": ACCOUNT, "name": ACCOUNT}, "RAX-AUTH:authenticatedBy": ["APIKEY"]},
                "serviceCatalog": [
                    {"name": "cloudServersOpenStack", "type": "compute", "endpoints": [{"region": "DFW", "publicURL": "http://127.0.0.1:9/v2/123456", "tenantId": ACCOUNT}]},
                    {"name": "cloudDNS", "type": "rax:dns", "endpoints": [{"publicURL": format!("{}/dns/v1.0/{ACCOUNT}", state.url), "tenantId": ACCOUNT}]}
                ],
                "user": {"id": "u1", "name": "ops", "roles": [{"name": "identity:default"}]}
            }}),
        );
    }
    if segments.get(..3) != Some(&["dns", "v1.0", ACCOUNT][..]) {
        return dns_error(404, "Not Found", "no such resource");
    }
    if !state.tokens.accepts(request) {
        return dns_error(401, "Unauthorized", "the token is missing, invalid or expired");
    }
    if state.over_limit > 0 {
        state.over_limit -= 1;
        return Reply::json(413, json!({"overLimit": {"code": 413, "message": "OverLimit Retry...", "retryAfter": "2026-12-03T08:00:01Z"}}))
            .header("Retry-After", "1");
    }
    match (request.method.as_str(), &segments[3..]) {
        ("GET", ["domains"]) => {
            let name = request.param("name").unwrap_or_default();
            let domains: Vec<Value> = state
                .domains
                .iter()
                .filter(|(_, d)| d.contains(&name))
                .map(|(id, d)| json!({"name": d, "id": id, "accountId": 123456, "emailAddress": "ops@example.com"}))
                .collect();
            Reply::json(200, json!({"domains": domains, "totalEntries": domains.len()}))
        }
        ("GET", ["domains", id, "records"]) => {
            let (kind, name) = (request.param("type"), request.param("name"));
            let records: Vec<Value> = state
                .records
                .iter()
                .filter(|r| r.domain.to_string() == *id)
                .filter(|r| kind.as_deref().is_none_or(|k| k == r.kind))
                .filter(|r| name.as_deref().is_none_or(|n| n == r.name))
                .map(|r| json!({"name": r.name, "id": r.id, "type": r.kind, "data": r.data, "ttl": r.ttl}))
                .collect();
            Reply::json(200, json!({"records": records, "totalEntries": records.len()}))
        }
        ("POST", ["domains", id, "records"]) => {
            let Some((domain, zone)) = state.domains.iter().find(|(d, _)| d.to_string() == *id).cloned()
            else {
                return dns_error(404, "Not Found", "Object not Found.");
            };
            let mut changes = Vec::new();
            for r in body["records"].as_array().cloned().unwrap_or_default() {
                let name = r["name"].as_str().unwrap_or_default().to_string();
                if r["ttl"].as_u64().is_some_and(|t| t < 300) {
                    return Reply::json(
                        400,
                        json!({"validationErrors": {"messages": ["TTL must be at least 300"]}, "code": 400, "message": "Validation error"}),
                    );
                }
                if !(name == zone || name.ends_with(&format!(".{zone}"))) || name.ends_with('.') {
                    return Reply::json(
                        400,
                        json!({"validationErrors": {"messages": ["Record is not in the domain"]}, "code": 400, "message": "Validation error"}),
                    );
                }
                state.next += 1;
                let data = r["data"].as_str().unwrap_or_default().to_string();
                changes.push(Change::add(format!("{name}."), data.clone()));
                state.records.push(Rec {
                    id: format!("TXT-{}", state.next),
                    domain,
                    name,
                    kind: r["type"].as_str().unwrap_or_default().to_string(),
                    data,
                    ttl: r["ttl"].as_u64().unwrap_or(3600),
                });
            }
            job(state, "POST").with(changes)
        }
        ("DELETE", ["domains", id, "records", record]) => {
            let Some(at) = state.records.iter().position(|r| r.domain.to_string() == *id && r.id == *record)
            else {
                return dns_error(404, "Not Found", "Object not Found.");
            };
            let gone = state.records.remove(at);
            let change = Change::remove(format!("{}.", gone.name), gone.data.clone());
            job(state, "DELETE").with([change])
        }
        ("GET", ["status", id]) => {
            let Some(left) = state.jobs.get_mut(*id) else {
                return dns_error(404, "Not Found", "no such job");
            };
            let status = if *left == 0 { "COMPLETED" } else { "RUNNING" };
            *left = left.saturating_sub(1);
            Reply::json(
                200,
                json!({"status": status, "jobId": id, "verb": "POST", "request": "{}", "response": {}}),
            )
        }
        _ => dns_error(404, "Not Found", "no such resource"),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().enumerate().map(|(i, d)| (2_725_233 + i as u64, d.to_string())).collect(),
        ..Default::default()
    };
    let api = FakeApi::start(state, bind, route).await;
    api.state().url = api.url.clone();
    api
}

fn others() -> Vec<Rec> {
    let rec = |id: &str, name: &str, kind: &str, data: &str| Rec {
        id: id.into(),
        domain: 2_725_234,
        name: name.into(),
        kind: kind.into(),
        data: data.into(),
        ttl: 300,
    };
    vec![
        rec("A-1", "example.com", "A", "198.51.100.4"),
        rec("TXT-o2", "_acme-challenge.www.example.com", "TXT", "someone-elses-value"),
    ]
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| r.kind == "TXT" && format!("{}.", r.name).eq_ignore_ascii_case(name))
        .map(|r| r.data.clone())
        .collect()
}

fn settings(url: &str) -> RackspaceConfig {
    RackspaceConfig {
        username: "ops".into(),
        api_key: None,
        identity_url: format!("{url}/identity/v2.0"),
        api_url: None,
        timeout: Duration::from_secs(5),
    }
}

fn adapter(url: &str, key: &str) -> Rackspace {
    Rackspace::new(&settings(url), Secret::new(key)).unwrap()
}

fn secrets() -> Vec<String> {
    vec![KEY.into(), TOKEN_PREFIX.into()]
}

/// The conformance suite against the contract fake: the domain's other records survive, the
/// endpoint comes from the catalog, jobs are polled, one token serves every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rackspace_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    api.state().records = others();
    let fqdn = "_acme-challenge.www.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: secrets(),
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().records, others(), "another record changed");
    let seen = api.seen();
    assert_eq!(api.count("POST /identity/v2.0/tokens"), 1, "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("GET /dns/v1.0/123456/status/")), "{seen:#?}");
    conformance::auth_failure(&adapter(&api.url, "wrong-key"), &fqdn, &None, "api_key", &secrets()).await;
    conformance::busy_is_retried(
        |url: &str| {
            let mut config = settings(url);
            config.api_url = Some(format!("{url}/dns/v1.0/{ACCOUNT}"));
            Rackspace::new(&config, Secret::new(KEY)).unwrap()
        },
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// Rate limits (413 with Retry-After) are temporary; a revoked token is replaced once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rackspace_rate_limit_and_token_refresh() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&api.url, KEY);
    let r = conformance::record("_acme-challenge.example.com.", &None, "v1");
    api.state().over_limit = 1;
    let err = p.present(&r).await.unwrap_err();
    match &err {
        ProviderError::Temporary { retry_after, .. } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(1)))
        }
        other => panic!("{other}"),
    }
    p.present(&r).await.unwrap();
    assert_eq!(api.state().records.iter().map(|r| r.ttl).collect::<Vec<_>>(), [300]);
    api.state().tokens.revoke_all();
    p.cleanup(&r).await.unwrap();
    assert!(api.state().records.is_empty());
    assert_eq!(api.count("POST /identity/v2.0/tokens"), 2);
}

/// The installer's settings reach the adapter.
#[test]
fn rackspace_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "rackspace"
settings = { RACKSPACE_USER = "ops", RACKSPACE_API_KEY_FILE = "/etc/wildcert/rackspace.key", RACKSPACE_TTL = "300" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "RACKSPACE_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Rackspace(cfg) = &config.dns["installer"].config else {
        panic!("not rackspace")
    };
    assert_eq!(cfg.username, "ops");
    assert_eq!(cfg.identity_url, "https://identity.api.rackspacecloud.com/v2.0");
    assert!(cfg.api_key.is_some());
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rackspace_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key_file = fake_api::secret_file(&stack, "rackspace.key", KEY);
    let table = format!(
        "provider = \"rackspace\"\nidentity_url = \"{}/identity/v2.0\"\nusername = \"ops\"\napi_key_file = \"{}\"",
        api.url,
        key_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY, TOKEN_PREFIX]);
    assert!(api.state().records.is_empty());
}
