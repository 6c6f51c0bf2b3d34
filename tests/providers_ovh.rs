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

mod conformance;
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord, txt_text};
use wildcert_dns_ovh::{Ovh, OvhAuth};
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

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
    /// Changes waiting for `refresh`: (add, fqdn, value).
    pending: Vec<(bool, String, String)>,
    next_id: u64,
    seen: Vec<String>,
    tokens_issued: u32,
    bind: Option<Rfc2136>,
}

struct FakeOvh {
    /// The API's base URL (`.../1.0`).
    url: String,
    /// The OAuth2 token URL.
    token_url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOvh {
    fn drop(&mut self) {
        self.task.abort();
    }
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
            state.pending.push((true, fqdn(&r), r.target.clone()));
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
                    state.pending.push((false, fqdn(&r), r.target));
                    (200, Value::Null)
                }
                None => (404, missing()),
            }
        }
        ("POST", ["domain", "zone", _, "refresh"]) => (200, Value::Null),
        _ => (404, missing()),
    }
}

impl FakeOvh {
    async fn start(zones: &[&str], bind: Option<Rfc2136>) -> FakeOvh {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            zones: zones.iter().map(|d| d.to_string()).collect(),
            bind,
            ..Default::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Some(request) = support::read_http_request(&mut socket).await else { return };
                    let refresh = request.method == "POST" && request.target.ends_with("/refresh");
                    let (status, body, changes, bind) = {
                        let mut state = shared.lock().unwrap();
                        state.seen.push(format!("{} {}", request.method, request.target));
                        let (status, body) = route(&mut state, &request);
                        let changes = if refresh && status == 200 {
                            std::mem::take(&mut state.pending)
                        } else {
                            Vec::new()
                        };
                        (status, body, changes, state.bind.clone())
                    };
                    if let Some(bind) = bind {
                        for (add, name, value) in changes {
                            let record = TxtRecord { fqdn: name, zone: None, value, ttl: 60, raw: None };
                            let applied =
                                if add { bind.present(&record).await } else { bind.cleanup(&record).await };
                            applied.expect("the fake applies the change to BIND");
                        }
                    }
                    let body = body.to_string();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        FakeOvh {
            url: format!("http://{addr}/1.0"),
            token_url: format!("http://{addr}/auth/oauth2/token"),
            state,
            task,
        }
    }

    fn reader(&self) -> conformance::Reader {
        let state = self.state.clone();
        Box::new(move |name: String| {
            let values: Vec<String> = state
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| fqdn(r).eq_ignore_ascii_case(&name))
                .map(|r| r.target.clone())
                .collect();
            Box::pin(async move { values })
        })
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
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
    let api = FakeOvh::start(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, signed(AS)),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(),
        secrets: vec![AS.into(), CK.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| *s == "GET /1.0/auth/time").count(), 1, "{seen:#?}");
    assert!(seen.iter().any(|s| s == "POST /1.0/domain/zone/example.com/refresh"), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, signed("wrong-secret-x")),
        &fqdn,
        &None,
        "application_secret",
        &["wrong-secret-x".into(), AS.into(), CK.into()],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/1.0"), signed(AS)),
        &upstream,
        &fqdn,
        &None,
    )
    .await;
}

/// The conformance suite with an OAuth2 service account: one token for all calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovh_conformance_oauth2() {
    let api = FakeOvh::start(&["example.com"], None).await;
    let oauth = |secret: &str| OvhAuth::OAuth2 {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        token_url: api.token_url.clone(),
    };
    let fqdn = "_acme-challenge.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, oauth(CLIENT_SECRET)),
        fqdn: fqdn.clone(),
        zone: Some("example.com.".into()),
        read: api.reader(),
        secrets: vec![CLIENT_SECRET.into(), ACCESS_TOKEN.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state.lock().unwrap().tokens_issued, 1, "the token is cached");
    let wrong = adapter(&api.url, oauth("wrong-client-secret"));
    let err = wrong
        .present(&TxtRecord { fqdn: fqdn.clone(), zone: None, value: "v".into(), ttl: 60, raw: None })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("client_secret") && !err.contains("wrong-client-secret"), "{err}");
}

#[test]
fn ovh_installer_settings() {
    let text = r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.installer]
provider = "ovh"
settings = { OVH_ENDPOINT = "ovh-ca", OVH_APPLICATION_KEY = "ak", OVH_APPLICATION_SECRET_FILE = "/etc/wildcert/ovh.as", OVH_CONSUMER_KEY_FILE = "/etc/wildcert/ovh.ck", OVH_TTL = "60" }
"#;
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("OVH_TTL has no effect")), "{:?}", config.warnings);
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
    let stack = tokio::task::block_in_place(|| support::Stack::up_with(&[("STACK_S3", "0")]));
    let tsig = std::fs::read_to_string(stack.get("TSIG_SECRET_FILE")).unwrap();
    let bind = Rfc2136::new(Rfc2136Settings {
        server: format!("127.0.0.1:{}", stack.get("DNS_PORT")),
        key_name: stack.get("TSIG_KEY").to_string(),
        algorithm: "hmac-sha256".into(),
        secret: Secret::new(tsig.trim()),
        zone: Some("gradient.example.com.".into()),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let api = FakeOvh::start(&["gradient.example.com"], Some(bind)).await;
    let write = |name: &str, value: &str| {
        let path = stack.dir().join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        path
    };
    let (as_file, ck_file) = (write("ovh.as", AS), write("ovh.ck", CK));
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"ovh\"\napi_url = \"{1}\"\napplication_key = \"{AK}\"\napplication_secret_file = \"{2}\"\nconsumer_key_file = \"{3}\"\n\n",
        stack.get("DNS_SERVER"),
        api.url,
        as_file.display(),
        ck_file.display()
    );
    let config = stack.write_config("ovh.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    for secret in [AS, CK] {
        assert!(!stderr.contains(secret) && !stdout.contains(secret));
    }
    assert!(api.state.lock().unwrap().records.is_empty());
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
