//! The ClouDNS adapter against a contract fake of the ClouDNS HTTP API, built from its API
//! documentation (<https://www.cloudns.net/api-help/>: "Get zone information", "List
//! records", "Add record", "Delete record"): every method at `/dns/{method}.json`, its
//! parameters by POST or GET; `auth-id` or `sub-auth-id` with `auth-password`; answers with
//! HTTP 200 and `{"status": "Failed", "statusDescription": ...}` for refused credentials,
//! an unknown zone (`Missing domain-name`) or a bad `record-id`; a listing as an object keyed
//! by record ID (`[]` when empty) paged by `rows-per-page` (10, 20, 30, 50 or 100) and
//! `page`; `ttl` only from the documented list. When given a BIND, the fake applies every
//! change to it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Map, Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, param};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_cloudns::{ClouDns, TTLS, User};

const AUTH_ID: &str = "4321";
const SUB_AUTH_ID: &str = "987";
const PASSWORD: &str = "cl0udns-pa55-word";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    zone: String,
    /// Relative to the zone, empty at the apex.
    host: String,
    value: String,
    ttl: u32,
}

#[derive(Default)]
struct State {
    zones: Vec<(String, &'static str)>,
    records: Vec<Record>,
    next_id: u64,
    /// The sub-user may only see these zones.
    sub_zones: Vec<String>,
    /// A request carried the password in its URL.
    password_in_url: bool,
}

fn full_name(r: &Record) -> String {
    if r.host.is_empty() { format!("{}.", r.zone) } else { format!("{}.{}.", r.host, r.zone) }
}

fn failed(description: &str) -> (Reply, Vec<Change>) {
    (Reply::json(200, json!({"status": "Failed", "statusDescription": description})), Vec::new())
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    if request.target.contains(PASSWORD) {
        state.password_in_url = true;
    }
    let mut params = request.query();
    if request.method == "POST" {
        params.extend(fake_api::query_pairs(&request.body));
    }
    let p = |k: &str| param(&params, k).map(str::to_string);
    let main = p("auth-id").as_deref() == Some(AUTH_ID);
    let sub = p("sub-auth-id").as_deref() == Some(SUB_AUTH_ID);
    if !(main || sub) || p("auth-password").as_deref() != Some(PASSWORD) {
        return if p("sub-auth-id").is_some() {
            failed("Invalid authentication, incorrect sub-auth-id, sub-auth-user or auth-password.")
        } else {
            failed("Invalid authentication, incorrect auth-id or auth-password.")
        };
    }
    let Some(method) =
        request.path().strip_prefix("/dns/").and_then(|m| m.strip_suffix(".json")).map(str::to_string)
    else {
        return (Reply::text(404, "text/html", "Not Found"), Vec::new());
    };
    let domain = p("domain-name").unwrap_or_default();
    let visible =
        state.zones.iter().find(|(z, _)| *z == domain && (main || state.sub_zones.contains(z))).cloned();
    let Some((zone, kind)) = visible else { return failed("Missing domain-name") };
    match method.as_str() {
        "get-zone-info" => (
            Reply::json(200, json!({"name": zone, "type": kind, "zone": "domain", "status": "1"})),
            Vec::new(),
        ),
        "records" => {
            let per_page: usize = match p("rows-per-page") {
                None => usize::MAX,
                Some(n) => match n.parse() {
                    Ok(n @ (10 | 20 | 30 | 50 | 100)) => n,
                    _ => return failed("Invalid rows-per-page param."),
                },
            };
            let page: usize = p("page").and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
            let host = p("host");
            // An unknown type is ignored, as documented.
            let rtype = p("type").filter(|t| t.eq_ignore_ascii_case("TXT") || t.eq_ignore_ascii_case("A"));
            let matching: Vec<&Record> = state
                .records
                .iter()
                .filter(|r| r.zone == zone)
                .filter(|r| host.as_ref().is_none_or(|h| *h == r.host))
                .filter(|_| rtype.as_ref().is_none_or(|t| t.eq_ignore_ascii_case("TXT")))
                .collect();
            let items: Map<String, Value> = matching
                .iter()
                .skip((page - 1).saturating_mul(per_page))
                .take(per_page)
                .map(|r| {
                    (
                        r.id.to_string(),
                        json!({"id": r.id.to_string(), "type": "TXT", "host": r.host, "record": r.value,
                               "dynamicurl_status": 0, "failover": "0", "ttl": r.ttl.to_string(), "status": 1}),
                    )
                })
                .collect();
            let body = if items.is_empty() { json!([]) } else { Value::Object(items) };
            (Reply::json(200, body), Vec::new())
        }
        "add-record" => {
            if p("record-type").as_deref() != Some("TXT") {
                return failed("Invalid record-type param.");
            }
            let (Some(host), Some(value)) = (p("host"), p("record")) else {
                return failed("Missing host or record param.");
            };
            let Some(ttl) = p("ttl").and_then(|t| t.parse::<u32>().ok()).filter(|t| TTLS.contains(t)) else {
                return failed("Invalid TTL. Choose from the list of the values we support.");
            };
            state.next_id += 1;
            let record = Record { id: state.next_id, zone: zone.clone(), host, value, ttl };
            let change = Change::add(full_name(&record), record.value.clone());
            state.records.push(record);
            (
                Reply::json(
                    200,
                    json!({"status": "Success", "statusDescription": "The record was added successfully.",
                           "data": {"id": state.next_id}}),
                ),
                vec![change],
            )
        }
        "delete-record" => {
            let id: u64 = p("record-id").and_then(|i| i.parse().ok()).unwrap_or(0);
            let Some(i) = state.records.iter().position(|r| r.id == id && r.zone == zone) else {
                return failed("Invalid record-id param.");
            };
            let record = state.records.remove(i);
            (
                Reply::json(
                    200,
                    json!({"status": "Success", "statusDescription": "The record was deleted successfully."}),
                ),
                vec![Change::remove(full_name(&record), record.value)],
            )
        }
        _ => failed("Invalid method."),
    }
}

fn values(state: &State, fqdn: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| full_name(r).eq_ignore_ascii_case(fqdn))
        .map(|r| r.value.clone())
        .collect()
}

async fn fake(zones: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state =
        State { zones: zones.iter().map(|z| (z.to_string(), "master")).collect(), ..Default::default() };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, user: User, password: &str) -> ClouDns {
    ClouDns::new(&format!("{url}/dns"), user, &Secret::new(password), Duration::from_secs(5)).unwrap()
}

fn main_user() -> User {
    User::Main(AUTH_ID.into())
}

/// The conformance suite against the contract fake, the zone found by walking up the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudns_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, main_user(), PASSWORD),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![PASSWORD.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(seen.iter().all(|s| s.starts_with("POST /dns/")), "{seen:#?}");
    assert!(!api.state().password_in_url, "the password travelled in a URL");
    conformance::auth_failure(
        &adapter(&api.url, main_user(), "wrong-pa55"),
        &fqdn,
        &None,
        "auth_password",
        &["wrong-pa55".into(), PASSWORD.into()],
    )
    .await;
    conformance::busy_is_retried(
        |url: &str| adapter(url, main_user(), PASSWORD),
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// A sub-user sees only its zones; listings are read page by page, other values at the
/// name stay, and TTLs are raised to one ClouDNS accepts.
#[tokio::test]
async fn cloudns_sub_user_pages_and_ttls() {
    let api = fake(&["example.com", "other.org"], None).await;
    {
        let mut state = api.state();
        state.sub_zones = vec!["example.com".into()];
        for i in 0..150 {
            state.records.push(Record {
                id: 10_000 + i,
                zone: "example.com".into(),
                host: "_acme-challenge".into(),
                value: format!("someone-else-{i}"),
                ttl: 60,
            });
        }
    }
    let p = adapter(&api.url, User::Sub(SUB_AUTH_ID.into()), PASSWORD);
    let mut record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "ours".into(),
        ttl: 120,
        raw: None,
    };
    p.present(&record).await.unwrap();
    // Present again: found on the second page, not added twice.
    p.present(&record).await.unwrap();
    {
        let state = api.state();
        let ours: Vec<&Record> = state.records.iter().filter(|r| r.value == "ours").collect();
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].ttl, 300, "120 s is raised to the next accepted TTL");
    }
    assert!(api.seen().len() >= 4);
    p.cleanup(&record).await.unwrap();
    assert_eq!(api.state().records.len(), 150, "only our value was removed");

    // A zone the sub-user may not see is not found.
    record.fqdn = "_acme-challenge.other.org.".into();
    record.zone = Some("other.org.".into());
    let err = p.present(&record).await.unwrap_err();
    assert!(matches!(err, wildcert_dns_api::ProviderError::ZoneNotFound { .. }), "{err}");
}

/// A slave zone cannot take records: the error says so instead of writing elsewhere.
#[tokio::test]
async fn cloudns_refuses_a_slave_zone() {
    let api = fake(&[], None).await;
    api.state().zones.push(("example.net".into(), "slave"));
    let record = conformance::record("_acme-challenge.example.net.", &None, "v");
    let err = adapter(&api.url, main_user(), PASSWORD).present(&record).await.unwrap_err();
    assert!(err.to_string().contains("slave"), "{err}");
    assert!(api.state().records.is_empty());
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn cloudns_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let password = fake_api::temp_secret(dir.path(), "cloudns.password", PASSWORD);
    let (warnings, provider) = fake_api::installer(
        "cloudns",
        &format!(
            "CLOUDNS_AUTH_ID = \"{AUTH_ID}\", CLOUDNS_AUTH_PASSWORD_FILE = \"{password}\", CLOUDNS_TTL = \"60\", CLOUDNS_HTTP_TIMEOUT = \"10\""
        ),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "CLOUDNS_TTL has no effect");
    assert!(matches!(provider, Provider::ClouDns(_)));
    assert!(provider.describe().contains("api.cloudns.net"));
    let err =
        fake_api::installer("cloudns", &format!("CLOUDNS_AUTH_PASSWORD_FILE = \"{password}\"")).unwrap_err();
    assert!(err.contains("CLOUDNS_AUTH_ID") && err.contains("CLOUDNS_SUB_AUTH_ID"), "{err}");
    let err = fake_api::installer(
        "cloudns",
        &format!("CLOUDNS_AUTH_ID = \"admin\", CLOUDNS_AUTH_PASSWORD_FILE = \"{password}\""),
    )
    .unwrap_err();
    assert!(err.contains("not an API user ID"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudns_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let password = fake_api::secret_file(&stack, "cloudns.password", PASSWORD);
    let table = format!(
        "provider = \"cloudns\"\napi_url = \"{}/dns\"\nauth_id = {AUTH_ID}\nauth_password_file = \"{}\"",
        api.url,
        password.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.contains("/add-record.json")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.contains("/delete-record.json")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
