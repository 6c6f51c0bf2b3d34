//! The Open Telekom Cloud adapter against a contract fake of its IAM (Keystone v3) and DNS
//! (v2) APIs, built from their documentation:
//! - <https://docs.otc.t-systems.com/identity-access-management/api-ref/apis/token_management/obtaining_a_user_token.html>:
//!   `POST /v3/auth/tokens` with the password method for a user named within the tenant's
//!   domain and a scope of `{"project": {"name"}}`; 201 with `X-Subject-Token` and a catalog;
//!   wrong credentials are a 401 `{"error": {"code", "message", "title"}}`;
//! - <https://docs.otc.t-systems.com/domain-name-service/api-ref/>: `X-Auth-Token` on every
//!   call; `GET /v2/zones?type=public|private&name=`, `GET /v2/zones/{id}/recordsets?name=&type=`,
//!   `POST /v2/zones/{id}/recordsets` (TTL 300 to 2147483647, TXT values quoted),
//!   `PUT`/`DELETE /v2/zones/{id}/recordsets/{id}`, 202 with the record set; errors as
//!   `{"code": "DNS.xxxx", "message"}` (the API gateway's as `APIGW.xxxx`).
//!
//! A private zone of the same name sits beside the public one, so a search without
//! `type=public` writes into the wrong zone. When given a BIND, the fake applies each TXT
//! change to it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, FakeApi, Reply};
use support::openstack_fake::{self, RecordSet, Refusal, Tokens};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_otc::{Otc, OtcConfig};
use wildcert_dns_rfc2136::Rfc2136;

const PASSWORD: &str = "otc-pa55-4e1d9b";
const DOMAIN: &str = "OTC-EU-DE-00000000001000000001";
const TOKEN_PREFIX: &str = "MIIZ-otc-fake-token-";

#[derive(Default)]
struct State {
    url: String,
    tokens: Tokens,
    next: u64,
    /// (id, name, type).
    zones: Vec<(String, String, &'static str)>,
    sets: Vec<RecordSet>,
}

/// A record set as OTC's DNS answers it.
fn set_json(set: &RecordSet, status: &str) -> Value {
    set.json(status, json!({"default": false}))
}

fn dns_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let segments: Vec<String> = request.segments().iter().map(|s| s.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    if segments == ["iam", "v3", "auth", "tokens"] && request.method == "POST" {
        let domain = json!({"name": DOMAIN});
        let scope = json!({"project": {"name": "eu-de"}});
        if !openstack_fake::keystone_password(&body, "dns-user", &[domain], PASSWORD, &[scope]) {
            return openstack_fake::keystone_refusal("The username or password is wrong.");
        }
        let token = state.tokens.issue(TOKEN_PREFIX);
        return openstack_fake::keystone_token(
            token,
            json!({
                "methods": ["password"],
                "issued_at": "2026-12-03T08:00:00.000000Z",
                "expires_at": "2026-12-04T08:00:00.000000Z",
                "project": {"name": "eu-de", "id": "0b3c", "domain": {"name": DOMAIN, "id": "d1"}},
                "catalog": [
                    {"type": "dns", "id": "c1", "name": "dns", "endpoints": [{"id": "e1", "interface": "public", "region": "eu-de", "region_id": "eu-de", "url": format!("{}/dns", state.url)}]},
                    {"type": "compute", "id": "c2", "name": "nova", "endpoints": [{"id": "e2", "interface": "public", "region": "eu-de", "region_id": "eu-de", "url": "http://127.0.0.1:9"}]}
                ]
            }),
        );
    }
    if segments.first() != Some(&"dns") || segments.get(1) != Some(&"v2") {
        return dns_error(
            404,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment",
        );
    }
    if !state.tokens.accepts(request) {
        return dns_error(
            401,
            "APIGW.0301",
            "Incorrect IAM authentication information: verify aksk signature fail",
        );
    }
    match (request.method.as_str(), &segments[2..]) {
        ("GET", ["zones"]) => {
            let (name, kind) = (request.param("name"), request.param("type"));
            let zones: Vec<Value> = state
                .zones
                .iter()
                .filter(|(_, n, _)| name.as_deref().is_none_or(|w| w == n))
                // The documented default is public zones.
                .filter(|(_, _, t)| kind.as_deref().unwrap_or("public") == *t)
                .map(|(id, name, t)| json!({"id": id, "name": name, "zone_type": t, "status": "ACTIVE", "ttl": 300}))
                .collect();
            let count = zones.len();
            Reply::json(
                200,
                json!({"links": {"self": "x"}, "zones": zones, "metadata": {"total_count": count}}),
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
            let Some((_, zone_name, _)) = state.zones.iter().find(|(id, _, _)| id == zone).cloned() else {
                return dns_error(404, "DNS.0101", "The zone does not exist.");
            };
            let name = body["name"].as_str().unwrap_or_default().to_string();
            let records = openstack_fake::records_in(&body);
            if !(name == zone_name || name.ends_with(&format!(".{zone_name}"))) {
                return dns_error(400, "DNS.0305", "The record set name is not within the zone.");
            }
            if body["ttl"].as_u64().is_some_and(|t| t < 300) {
                return dns_error(400, "DNS.0307", "Invalid TTL: the value ranges from 300 to 2147483647.");
            }
            if body["type"] != "TXT" || records.iter().any(|r| !openstack_fake::quoted(r)) {
                return dns_error(400, "DNS.0308", "Invalid record value.");
            }
            if openstack_fake::has_txt(&state.sets, zone, &name) {
                return dns_error(409, "DNS.0312", "The record set already exists.");
            }
            state.next += 1;
            let id = format!("ff8080825b8fc86c{:016x}", state.next);
            let ttl = body["ttl"].as_u64().unwrap_or(300);
            let (set, changes) = openstack_fake::create(&mut state.sets, zone, id, &name, records, ttl);
            Reply::json(202, set_json(&set, "PENDING_CREATE")).with(changes)
        }
        ("PUT", ["zones", zone, "recordsets", id]) => {
            match openstack_fake::replace(&mut state.sets, zone, id, &body) {
                Ok((set, changes)) => Reply::json(202, set_json(&set, "PENDING_UPDATE")).with(changes),
                Err(Refusal::NotFound) => dns_error(404, "DNS.0304", "The record set does not exist."),
                Err(Refusal::Invalid) => dns_error(400, "DNS.0308", "Invalid record value."),
            }
        }
        ("DELETE", ["zones", zone, "recordsets", id]) => {
            match openstack_fake::remove(&mut state.sets, zone, id) {
                Some((gone, changes)) => Reply::json(202, set_json(&gone, "PENDING_DELETE")).with(changes),
                None => dns_error(404, "DNS.0304", "The record set does not exist."),
            }
        }
        _ => dns_error(
            404,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment",
        ),
    }
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let mut list = Vec::new();
    for (i, z) in zones.iter().enumerate() {
        list.push((format!("ff80808{i}private"), format!("{z}."), "private"));
        list.push((format!("ff80808{i}public"), format!("{z}."), "public"));
    }
    let state = State { zones: list, ..Default::default() };
    let api = FakeApi::start(state, bind, route).await;
    api.state().url = api.url.clone();
    api
}

fn others() -> Vec<RecordSet> {
    vec![
        RecordSet {
            id: "o1".into(),
            zone_id: "ff808081public".into(),
            name: "example.com.".into(),
            kind: "A".into(),
            records: vec!["198.51.100.4".into()],
            ttl: 300,
        },
        RecordSet {
            id: "o2".into(),
            zone_id: "ff808081public".into(),
            name: "_acme-challenge.www.example.com.".into(),
            kind: "TXT".into(),
            records: vec!["\"someone-elses-value\"".into()],
            ttl: 300,
        },
    ]
}

fn values(state: &State, name: &str) -> Vec<String> {
    openstack_fake::txt_values(&state.sets, name)
}

fn settings(identity_endpoint: &str) -> OtcConfig {
    OtcConfig {
        domain_name: DOMAIN.into(),
        user_name: "dns-user".into(),
        password: None,
        project_name: "eu-de".into(),
        identity_endpoint: identity_endpoint.into(),
        private_zone: false,
        zone_name: None,
        api_url: None,
        timeout: Duration::from_secs(5),
    }
}

fn adapter(url: &str, password: &str) -> Otc {
    Otc::new(&settings(&format!("{url}/iam/v3")), Secret::new(password)).unwrap()
}

fn secrets() -> Vec<String> {
    vec![PASSWORD.into(), TOKEN_PREFIX.into()]
}

/// The conformance suite against the contract fake: the zone's other record sets (another
/// TXT value at the very name included) survive, the public zone is the one written, one
/// token serves every call, and the TTL is raised to the API's floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otc_conformance() {
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
    assert_eq!(api.count("POST /iam/v3/auth/tokens"), 1, "{seen:#?}");
    assert!(
        seen.iter().all(|s| !s.contains("/zones/ff808081private")),
        "wrote to the private zone: {seen:#?}"
    );
    assert!(
        seen.iter().any(|s| s.starts_with("GET /dns/v2/zones?name=example.com.&type=public")),
        "{seen:#?}"
    );

    // A fresh name: the record set is created with TTL 300, then deleted.
    let fresh = "_acme-challenge.fresh.example.com.";
    let p = adapter(&api.url, PASSWORD);
    let r = TxtRecord { fqdn: fresh.into(), zone: None, value: "ttl-floor".into(), ttl: 60, raw: None };
    p.present(&r).await.unwrap();
    assert_eq!(api.state().sets.iter().find(|s| s.name == fresh).map(|s| s.ttl), Some(300));
    p.cleanup(&r).await.unwrap();
    assert!(values(&api.state(), fresh).is_empty());

    conformance::auth_failure(&adapter(&api.url, "wrong-password"), &fqdn, &None, "password", &secrets())
        .await;
    conformance::busy_is_retried(
        |url: &str| {
            let mut config = settings(&format!("{url}/iam/v3/auth/tokens"));
            config.api_url = Some(format!("{url}/dns"));
            Otc::new(&config, Secret::new(PASSWORD)).unwrap()
        },
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// The installer's settings reach the adapter.
#[test]
fn otc_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "otc"
settings = { OTC_DOMAIN_NAME = "OTC-EU-DE-00000000001000000001", OTC_USER_NAME = "dns-user", OTC_PASSWORD_FILE = "/etc/wildcert/otc.password", OTC_PROJECT_NAME = "eu-de", OTC_IDENTITY_ENDPOINT = "https://iam.eu-de.otc.t-systems.com:443/v3/auth/tokens", OTC_PRIVATE_ZONE = "false", OTC_TTL = "300" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "OTC_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Otc(cfg) = &config.dns["installer"].config else {
        panic!("not otc")
    };
    assert_eq!(cfg.domain_name, DOMAIN);
    assert_eq!(cfg.project_name, "eu-de");
    assert!(!cfg.private_zone);
    assert!(cfg.password.is_some());
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otc_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let password_file = fake_api::secret_file(&stack, "otc.password", PASSWORD);
    let table = format!(
        "provider = \"otc\"\nidentity_endpoint = \"{}/iam/v3/auth/tokens\"\ndomain_name = \"{DOMAIN}\"\nuser_name = \"dns-user\"\npassword_file = \"{}\"\nproject_name = \"eu-de\"",
        api.url,
        password_file.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD, TOKEN_PREFIX]);
    assert!(api.state().sets.is_empty());
}
