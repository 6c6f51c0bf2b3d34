//! The DNSimple adapter against a contract fake of the DNSimple API v2, built from its
//! reference: `GET /v2/whoami` (`{"data": {"user", "account"}}`), `GET
//! /v2/{account}/zones/{zone}`, `GET /v2/{account}/zones/{zone}/records?name=&type=&page=&per_page=`
//! (`{"data": [...], "pagination": {"current_page", "per_page", "total_entries",
//! "total_pages"}}`, `name` exact and relative, empty at the apex), `POST .../records` with
//! `{"name", "type", "content", "ttl"}` answering 201 `{"data"}` (TTL at least 60, else
//! 400), `DELETE .../records/{id}` answering 204, `Authorization: Bearer`, and errors as
//! `{"message"}`. When given a BIND, the fake applies every change to it through RFC 2136,
//! so Pebble validates a real issuance through this adapter.

mod conformance;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_dnsimple::Dnsimple;
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

const TOKEN: &str = "dnsimple-acc0unt-t0ken";
const ACCOUNT: u64 = 1385;

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    zone: String,
    name: String,
    content: String,
}

#[derive(Default)]
struct State {
    zones: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
    seen: Vec<String>,
    bind: Option<Rfc2136>,
}

struct FakeDnsimple {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDnsimple {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn message(text: &str) -> Value {
    json!({"message": text})
}

fn fqdn(r: &Record) -> String {
    if r.name.is_empty() { format!("{}.", r.zone) } else { format!("{}.{}.", r.name, r.zone) }
}

fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_record(r: &Record) -> Value {
    json!({"id": r.id, "zone_id": r.zone, "parent_id": null, "name": r.name, "content": r.content, "ttl": 60, "priority": null, "type": "TXT", "regions": ["global"], "system_record": false})
}

fn route(
    state: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Option<(bool, TxtRecord)>) {
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return (401, message("Authentication failed"), None);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(&format!("{k}="))).map(decode);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let account = ACCOUNT.to_string();
    match (method, parts.as_slice()) {
        ("GET", ["v2", "whoami"]) => (
            200,
            json!({"data": {"user": null, "account": {"id": ACCOUNT, "email": "ops@example.com"}}}),
            None,
        ),
        (_, ["v2", a, ..]) if *a != account => (404, message("Account not found"), None),
        (_, ["v2", _, "zones", z, ..]) if !state.zones.iter().any(|x| x == z) => {
            (404, message(&format!("Zone `{z}` not found")), None)
        }
        ("GET", ["v2", _, "zones", z]) => {
            (200, json!({"data": {"id": 1, "account_id": ACCOUNT, "name": z, "reverse": false}}), None)
        }
        ("GET", ["v2", _, "zones", z, "records"]) => {
            let per_page: usize = param("per_page").and_then(|v| v.parse().ok()).unwrap_or(30).min(100);
            let page: usize = param("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let matching: Vec<Value> = state
                .records
                .iter()
                .filter(|r| r.zone == *z)
                .filter(|r| param("name").is_none_or(|n| r.name == n))
                .filter(|_| param("type").is_none_or(|t| t == "TXT"))
                .map(json_record)
                .collect();
            let total = matching.len();
            let data: Vec<Value> = matching.into_iter().skip((page - 1) * per_page).take(per_page).collect();
            let pages = total.div_ceil(per_page).max(1);
            (
                200,
                json!({"data": data, "pagination": {"current_page": page, "per_page": per_page, "total_entries": total, "total_pages": pages}}),
                None,
            )
        }
        ("POST", ["v2", _, "zones", z, "records"]) => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let (Some(name), Some(content)) = (request["name"].as_str(), request["content"].as_str()) else {
                return (400, message("Validation failed"), None);
            };
            if request["type"] != "TXT" || request["ttl"].as_u64().is_some_and(|t| t < 60) {
                return (400, message("Validation failed: TTL must be at least 60"), None);
            }
            state.next_id += 1;
            let record =
                Record { id: state.next_id, zone: z.to_string(), name: name.into(), content: content.into() };
            state.records.push(record.clone());
            let change = TxtRecord {
                fqdn: fqdn(&record),
                zone: None,
                value: record.content.clone(),
                ttl: 60,
                raw: None,
            };
            (201, json!({"data": json_record(&record)}), Some((true, change)))
        }
        ("DELETE", ["v2", _, "zones", z, "records", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.records.iter().position(|r| r.id == id && r.zone == *z) {
                Some(i) => {
                    let r = state.records.remove(i);
                    let change = TxtRecord {
                        fqdn: fqdn(&r),
                        zone: None,
                        value: r.content.clone(),
                        ttl: 60,
                        raw: None,
                    };
                    (204, Value::Null, Some((false, change)))
                }
                None => (404, message("Record not found"), None),
            }
        }
        _ => (404, message("Not found"), None),
    }
}

impl FakeDnsimple {
    async fn start(zones: &[&str], bind: Option<Rfc2136>) -> FakeDnsimple {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
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
                    let auth =
                        request.headers.iter().find(|(n, _)| n == "authorization").map(|(_, v)| v.clone());
                    let (status, body, change, bind) = {
                        let mut state = shared.lock().unwrap();
                        state.seen.push(format!("{} {}", request.method, request.target));
                        let (status, body, change) = route(
                            &mut state,
                            &request.method,
                            &request.target,
                            auth.as_deref(),
                            &request.body,
                        );
                        (status, body, change, state.bind.clone())
                    };
                    if let (Some((add, record)), Some(bind)) = (change, bind) {
                        let applied =
                            if add { bind.present(&record).await } else { bind.cleanup(&record).await };
                        applied.expect("the fake applies the change to BIND");
                    }
                    let body = if body.is_null() { String::new() } else { body.to_string() };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        FakeDnsimple { url, state, task }
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
                .map(|r| r.content.clone())
                .collect();
            Box::pin(async move { values })
        })
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn adapter(url: &str, token: &str) -> Dnsimple {
    Dnsimple::new(url, &Secret::new(token), None, Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsimple_conformance() {
    let api = FakeDnsimple::start(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, TOKEN),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(),
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert_eq!(
        seen.iter().filter(|s| *s == "GET /v2/whoami").count(),
        1,
        "the account is asked once: {seen:#?}"
    );
    assert!(seen.iter().any(|s| s.starts_with("POST /v2/1385/zones/example.com/records")), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, "not-the-t0ken"),
        &fqdn,
        &None,
        "oauth_token",
        &["not-the-t0ken".into(), TOKEN.into()],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").to_string();
    conformance::busy_is_retried(|url: &str| adapter(url, TOKEN), &upstream, &fqdn, &None).await;
}

/// More records at the name than one page holds: cleanup still finds ours.
#[tokio::test]
async fn dnsimple_pages_through_records() {
    let api = FakeDnsimple::start(&["example.com"], None).await;
    {
        let mut state = api.state.lock().unwrap();
        for i in 0..150 {
            state.next_id += 1;
            let id = state.next_id;
            state.records.push(Record {
                id,
                zone: "example.com".into(),
                name: "_acme-challenge".into(),
                content: format!("other-{i}"),
            });
        }
    }
    let p = adapter(&api.url, TOKEN);
    let ours = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "ours".into(),
        ttl: 30,
        raw: None,
    };
    p.present(&ours).await.unwrap();
    p.present(&ours).await.unwrap();
    assert_eq!(api.state.lock().unwrap().records.iter().filter(|r| r.content == "ours").count(), 1);
    p.cleanup(&ours).await.unwrap();
    let state = api.state.lock().unwrap();
    assert_eq!(state.records.len(), 150);
    assert!(state.seen.iter().any(|s| s.contains("page=2")), "{:#?}", state.seen);
}

#[test]
fn dnsimple_installer_settings() {
    let text = r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.installer]
provider = "dnsimple"
settings = { DNSIMPLE_OAUTH_TOKEN_FILE = "/etc/wildcert/dnsimple.token", DNSIMPLE_BASE_URL = "https://api.sandbox.dnsimple.com", DNSIMPLE_TTL = "60" }
"#;
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    assert!(
        config.warnings.iter().any(|w| w.contains("DNSIMPLE_TTL has no effect")),
        "{:?}",
        config.warnings
    );
    let wildcert::dns::provider::ProviderConfig::Dnsimple(cfg) = &config.dns["installer"].config else {
        panic!()
    };
    assert_eq!(cfg.api_url, "https://api.sandbox.dnsimple.com");
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("[dns.installer]", "[dns.installer]\naccount_id = \"acme\""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("account_id"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsimple_issue_through_pebble_validating_bind() {
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
    let api = FakeDnsimple::start(&["gradient.example.com"], Some(bind)).await;
    let token_file = stack.dir().join("dnsimple.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"dnsimple\"\napi_url = \"{1}\"\noauth_token_file = \"{2}\"\n\n",
        stack.get("DNS_SERVER"),
        api.url,
        token_file.display()
    );
    let config = stack.write_config("dnsimple.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN));
    assert!(api.state.lock().unwrap().records.is_empty());
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
