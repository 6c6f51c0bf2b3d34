//! The OVH adapter against a contract fake of the OVH API 1.0, built from its reference and
//! its documented request signing: `GET /1.0/auth/time` (the server's clock, which the fake
//! runs 1000 s ahead), `X-Ovh-Application`, `X-Ovh-Consumer`, `X-Ovh-Timestamp` and
//! `X-Ovh-Signature` = `$1$` + SHA-1 of `AS+CK+METHOD+URL+BODY+TIMESTAMP` (checked; a wrong
//! signature is 400 `INVALID_SIGNATURE`, an unknown consumer key 403 `INVALID_CREDENTIAL`),
//! OAuth2 client credentials (`POST /auth/oauth2/token`, then `Authorization: Bearer`),
//! `GET /1.0/domain/zone/{zone}`, `GET /1.0/domain/zone/{zone}/record?fieldType=&subDomain=`
//! (IDs), `GET`/`DELETE /1.0/domain/zone/{zone}/record/{id}`, `POST
//! /1.0/domain/zone/{zone}/record` and `POST /1.0/domain/zone/{zone}/refresh`, which is when
//! changes reach the name servers. When given a BIND, the fake applies changes to it through
//! RFC 2136 at refresh, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord, txt_text};
use wildcert_dns_ovh::{Ovh, OvhAuth};
use wildcert_dns_rfc2136::Rfc2136;

const AK: &str = "7kbG7Bk7S9Nt7ZSV";
const AS: &str = "EXAMPLEaskEXAMPLEsecret";
const CK: &str = "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1";
const CLIENT_ID: &str = "EU.0123456789abcdef";
const CLIENT_SECRET: &str = "ovh-client-s3cret";
const ACCESS_TOKEN: &str = "ovh-access-t0ken";
/// How far the fake's clock runs ahead of ours.
const SKEW: i64 = 1000;

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    zone: String,
    sub: String,
    target: String,
}

#[derive(Default)]
struct State {
    zones: Vec<String>,
    records: Vec<Record>,
    /// Changes waiting for `refresh`.
    pending: Vec<Change>,
    next_id: u64,
    tokens_issued: u32,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn sha1_hex(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn error(http: &str, code: &str, message: &str) -> Value {
    json!({"errorCode": code, "httpCode": http, "message": message})
}

fn fqdn(r: &Record) -> String {
    if r.sub.is_empty() { format!("{}.", r.zone) } else { format!("{}.{}.", r.sub, r.zone) }
}

/// Whether the request is authenticated, by signature or by token; else the refusal.
fn authenticate(request: &support::HttpRequest) -> Result<(), (u16, Value)> {
    let header = |n: &str| request.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if let Some(auth) = header("authorization") {
        return if auth == format!("Bearer {ACCESS_TOKEN}") {
            Ok(())
        } else {
            Err((401, error("401 Unauthorized", "INVALID_CREDENTIAL", "This credential is not valid")))
        };
    }
    if header("x-ovh-application") != Some(AK) {
        return Err((403, error("403 Forbidden", "INVALID_KEY", "This application key is invalid")));
    }
    if header("x-ovh-consumer") != Some(CK) {
        return Err((403, error("403 Forbidden", "INVALID_CREDENTIAL", "This credential is not valid")));
    }
    let ts = header("x-ovh-timestamp").unwrap_or_default();
    if ts.parse::<i64>().map_or(true, |t| (t - (now() + SKEW)).abs() > 30) {
        return Err((400, error("400 Bad Request", "QUERY_TIME_OUT", "Query out of time")));
    }
    let url = format!("http://{}{}", header("host").unwrap_or_default(), request.target);
    let expected =
        format!("$1${}", sha1_hex(&format!("{AS}+{CK}+{}+{url}+{}+{ts}", request.method, request.body)));
    if header("x-ovh-signature") != Some(expected.as_str()) {
        return Err((400, error("400 Bad Request", "INVALID_SIGNATURE", "Invalid signature")));
    }
    Ok(())
}

fn route(state: &mut State, request: &support::HttpRequest) -> (u16, Value) {
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(|v| v.replace("%2E", ".").replace("%2D", "-").replace("%5F", "_"))
    };
    if path == "/auth/oauth2/token" {
        let ok = request.body.contains("grant_type=client_credentials")
            && request.body.contains(&format!("client_id={}", CLIENT_ID))
            && request.body.contains(&format!("client_secret={}", CLIENT_SECRET));
        if !ok {
            return (
                400,
                json!({"error": "invalid_client", "error_description": "client authentication failed"}),
            );
        }
        state.tokens_issued += 1;
        return (
            200,
            json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600, "scope": "all"}),
        );
    }
    let Some(path) = path.strip_prefix("/1.0") else { return (404, error("404 Not Found", "", "Not found")) };
    if path == "/auth/time" {
        return (200, json!(now() + SKEW));
    }
    if let Err(refusal) = authenticate(request) {
        return refusal;
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let missing = || error("404 Not Found", "", "This service does not exist");
    match (request.method.as_str(), parts.as_slice()) {
        (_, ["domain", "zone", z, ..]) if !state.zones.iter().any(|x| x == z) => (404, missing()),
        ("GET", ["domain", "zone", z]) => {
            (200, json!({"name": z, "dnssecSupported": true, "hasDnsAnycast": false}))
        }
        ("GET", ["domain", "zone", z, "record"]) => {
            let ids: Vec<u64> = state
                .records
                .iter()
                .filter(|r| r.zone == *z)
                .filter(|_| param("fieldType").is_none_or(|t| t == "TXT"))
                .filter(|r| param("subDomain").is_none_or(|s| r.sub == s))
                .map(|r| r.id)
                .collect();
            (200, json!(ids))
        }
        ("GET", ["domain", "zone", z, "record", id]) => {
            match state.records.iter().find(|r| r.id.to_string() == *id && r.zone == *z) {
                Some(r) => (
                    200,
                    json!({"id": r.id, "zone": r.zone, "subDomain": r.sub, "fieldType": "TXT", "target": format!("\"{}\"", r.target), "ttl": 60}),
                ),
                None => (404, missing()),
            }
        }
        ("POST", ["domain", "zone", z, "record"]) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            if body["fieldType"] != "TXT" || !body["target"].is_string() {
                return (400, error("400 Bad Request", "", "Invalid record"));
            }
            state.next_id += 1;
            let r = Record {
                id: state.next_id,
                zone: z.to_string(),
                sub: body["subDomain"].as_str().unwrap_or_default().into(),
                target: txt_text(body["target"].as_str().unwrap()),
            };
            state.pending.push(Change::add(fqdn(&r), &r.target));
            state.records.push(r.clone());
            (
                200,
                json!({"id": r.id, "zone": r.zone, "subDomain": r.sub, "fieldType": "TXT", "target": r.target, "ttl": body["ttl"]}),
            )
        }
        ("DELETE", ["domain", "zone", z, "record", id]) => {
            match state.records.iter().position(|r| r.id.to_string() == *id && r.zone == *z) {
                Some(i) => {
                    let r = state.records.remove(i);
                    state.pending.push(Change::remove(fqdn(&r), r.target));
                    (200, Value::Null)
                }
                None => (404, missing()),
            }
        }
        ("POST", ["domain", "zone", _, "refresh"]) => (200, Value::Null),
        _ => (404, missing()),
    }
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { zones: zones.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, |state: &mut State, request: &support::HttpRequest| {
        let (status, body) = route(state, request);
        let refresh = request.method == "POST" && request.path().ends_with("/refresh");
        let changes = if refresh && status == 200 { std::mem::take(&mut state.pending) } else { Vec::new() };
        // OVH answers with JSON `null` where there is nothing to say.
        Reply::text(status, "application/json", body.to_string()).with(changes)
    })
    .await
}

/// The API's base URL (`.../1.0`).
fn base(api: &FakeApi<State>) -> String {
    format!("{}/1.0", api.url)
}

/// The OAuth2 token URL.
fn token_url(api: &FakeApi<State>) -> String {
    format!("{}/auth/oauth2/token", api.url)
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| fqdn(r).eq_ignore_ascii_case(name)).map(|r| r.target.clone()).collect()
}

fn signed(secret: &str) -> OvhAuth {
    OvhAuth::Signed {
        application_key: AK.into(),
        application_secret: Secret::new(secret),
        consumer_key: Secret::new(CK),
    }
}

fn adapter(url: &str, auth: OvhAuth) -> Ovh {
    Ovh::new(url, auth, Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake with signed requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovh_conformance_signed() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&base(&api), signed(AS)),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![AS.into(), CK.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| *s == "GET /1.0/auth/time").count(), 1, "{seen:#?}");
    assert!(seen.iter().any(|s| s == "POST /1.0/domain/zone/example.com/refresh"), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&base(&api), signed("wrong-secret-x")),
        &fqdn,
        &None,
        "application_secret",
        &["wrong-secret-x".into(), AS.into(), CK.into()],
    )
    .await;
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/1.0"), signed(AS)),
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// The conformance suite with an OAuth2 service account: one token for all calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovh_conformance_oauth2() {
    let api = fake(&["example.com"], None).await;
    let oauth = |secret: &str| OvhAuth::OAuth2 {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        token_url: token_url(&api),
    };
    let fqdn = "_acme-challenge.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&base(&api), oauth(CLIENT_SECRET)),
        fqdn: fqdn.clone(),
        zone: Some("example.com.".into()),
        read: api.reader(values),
        secrets: vec![CLIENT_SECRET.into(), ACCESS_TOKEN.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().tokens_issued, 1, "the token is cached");
    let wrong = adapter(&base(&api), oauth("wrong-client-secret"));
    let err = wrong
        .present(&TxtRecord { fqdn: fqdn.clone(), zone: None, value: "v".into(), ttl: 60, raw: None })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("client_secret") && !err.contains("wrong-client-secret"), "{err}");
}

#[test]
fn ovh_installer_settings() {
    let text = &fake_api::config_with(
        r#"[dns.installer]
provider = "ovh"
settings = { OVH_ENDPOINT = "ovh-ca", OVH_APPLICATION_KEY = "ak", OVH_APPLICATION_SECRET_FILE = "/etc/wildcert/ovh.as", OVH_CONSUMER_KEY_FILE = "/etc/wildcert/ovh.ck", OVH_TTL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    fake_api::assert_warned(&config.warnings, "OVH_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Ovh(cfg) = &config.dns["installer"].config else { panic!() };
    assert_eq!(cfg.endpoint, "ovh-ca");
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("ovh-ca", "ovh-mars"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an OVH endpoint"), "{err}");
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace(", OVH_CONSUMER_KEY_FILE = \"/etc/wildcert/ovh.ck\"", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("consumer_key"), "{err}");
}

/// `wildcert issue` through the fake: changes reach BIND at refresh, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovh_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let as_file = fake_api::secret_file(&stack, "ovh.as", AS);
    let ck_file = fake_api::secret_file(&stack, "ovh.ck", CK);
    let table = format!(
        "provider = \"ovh\"\napi_url = \"{}\"\napplication_key = \"{AK}\"\napplication_secret_file = \"{}\"\nconsumer_key_file = \"{}\"",
        base(&api),
        as_file.display(),
        ck_file.display()
    );
    fake_api::issue_through(&stack, &table, &[AS, CK]);
    assert!(api.state().records.is_empty());
}
