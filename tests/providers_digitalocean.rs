//! The DigitalOcean adapter against a contract fake of the DigitalOcean API v2, built from
//! its API reference (Domains and Domain Records): `GET /v2/domains/{name}`, `GET
//! /v2/domains/{domain}/records?type=&name=&page=&per_page=` (name is the full record name;
//! answers carry names relative to the domain, `meta.total` and `links`), `POST
//! .../records` with `{"type", "name", "data", "ttl"}` answering 201 `{"domain_record"}` (TTL
//! at least 30, else 422), `DELETE .../records/{id}` answering 204, `Authorization: Bearer`,
//! and errors as `{"id", "message"}`. When given a BIND, the fake applies every change to it
//! through RFC 2136, so Pebble validates a real issuance through this adapter.

mod conformance;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_digitalocean::DigitalOcean;
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

const TOKEN: &str = "dop_v1_f4ke7oken0123";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain: String,
    /// Relative to the domain, `@` at the apex.
    name: String,
    data: String,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
    /// Every request: method and target.
    seen: Vec<String>,
    bind: Option<Rfc2136>,
}

struct FakeDigitalOcean {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDigitalOcean {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn query(target: &str) -> Vec<(String, String)> {
    let Some((_, q)) = target.split_once('?') else { return Vec::new() };
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), decode(v))).collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
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
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error(id: &str, message: &str) -> Value {
    json!({"id": id, "message": message})
}

fn full_name(record: &Record) -> String {
    if record.name == "@" {
        format!("{}.", record.domain)
    } else {
        format!("{}.{}.", record.name, record.domain)
    }
}

fn record_json(r: &Record) -> Value {
    json!({"id": r.id, "type": "TXT", "name": r.name, "data": r.data, "priority": null, "port": null, "ttl": 30, "weight": null, "flags": null, "tag": null})
}

/// Routes one request; returns the status, the body and the BIND change to apply.
fn route(
    state: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Option<(bool, TxtRecord)>) {
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return (401, error("Unauthorized", "Unable to authenticate you"), None);
    }
    let path = target.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["v2", "domains", name]) => match state.domains.iter().find(|d| d == name) {
            Some(d) => (200, json!({"domain": {"name": d, "ttl": 1800, "zone_file": ""}}), None),
            None => (404, error("not_found", "The resource you were accessing could not be found."), None),
        },
        ("GET", ["v2", "domains", domain, "records"]) => {
            if !state.domains.iter().any(|d| d == domain) {
                return (
                    404,
                    error("not_found", "The resource you were accessing could not be found."),
                    None,
                );
            }
            let q = query(target);
            let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let per_page: usize = param("per_page").and_then(|v| v.parse().ok()).unwrap_or(20).min(200);
            let page: usize = param("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let matching: Vec<&Record> = state
                .records
                .iter()
                .filter(|r| r.domain == *domain)
                .filter(|_| param("type").is_none_or(|t| t == "TXT"))
                .filter(|r| param("name").is_none_or(|n| full_name(r).trim_end_matches('.') == n))
                .collect();
            let items: Vec<Value> =
                matching.iter().skip((page - 1) * per_page).take(per_page).map(|r| record_json(r)).collect();
            (200, json!({"domain_records": items, "links": {}, "meta": {"total": matching.len()}}), None)
        }
        ("POST", ["v2", "domains", domain, "records"]) => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            if request["type"] != "TXT" || !request["name"].is_string() || !request["data"].is_string() {
                return (422, error("unprocessable_entity", "type, name and data are required"), None);
            }
            if request["ttl"].as_u64().is_some_and(|t| t < 30) {
                return (422, error("unprocessable_entity", "Ttl must be at least 30."), None);
            }
            if !state.domains.iter().any(|d| d == domain) {
                return (
                    404,
                    error("not_found", "The resource you were accessing could not be found."),
                    None,
                );
            }
            state.next_id += 1;
            let record = Record {
                id: state.next_id,
                domain: domain.to_string(),
                name: request["name"].as_str().unwrap().to_string(),
                data: request["data"].as_str().unwrap().to_string(),
            };
            let change = txt(&record);
            state.records.push(record.clone());
            (201, json!({"domain_record": record_json(&record)}), Some((true, change)))
        }
        ("DELETE", ["v2", "domains", domain, "records", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.records.iter().position(|r| r.id == id && r.domain == *domain) {
                Some(i) => {
                    let record = state.records.remove(i);
                    (204, Value::Null, Some((false, txt(&record))))
                }
                None => {
                    (404, error("not_found", "The resource you were accessing could not be found."), None)
                }
            }
        }
        _ => (404, error("not_found", "The resource you were accessing could not be found."), None),
    }
}

fn txt(record: &Record) -> TxtRecord {
    TxtRecord {
        fqdn: full_name(record),
        zone: Some(format!("{}.", record.domain)),
        value: record.data.clone(),
        ttl: 60,
        raw: None,
    }
}

impl FakeDigitalOcean {
    async fn start(domains: &[&str], bind: Option<Rfc2136>) -> FakeDigitalOcean {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            domains: domains.iter().map(|d| d.to_string()).collect(),
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
        FakeDigitalOcean { url, state, task }
    }

    fn reader(&self) -> conformance::Reader {
        let state = self.state.clone();
        Box::new(move |name: String| {
            let values: Vec<String> = state
                .lock()
                .unwrap()
                .records
                .iter()
                .filter(|r| full_name(r).eq_ignore_ascii_case(&name))
                .map(|r| r.data.clone())
                .collect();
            Box::pin(async move { values })
        })
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn adapter(url: &str, token: &str) -> DigitalOcean {
    DigitalOcean::new(url, &Secret::new(token), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digitalocean_conformance() {
    let api = FakeDigitalOcean::start(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, TOKEN),
        fqdn: fqdn.clone(),
        // No discovered zone: the adapter walks up the name through GET /v2/domains/{name}.
        zone: None,
        read: api.reader(),
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(seen.iter().any(|s| s == "GET /v2/domains/_acme-challenge.gradient.example.com"), "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("POST /v2/domains/example.com/records")), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, "dop_v1_wrong"),
        &fqdn,
        &None,
        "auth_token",
        &["dop_v1_wrong".into(), TOKEN.into()],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").to_string();
    conformance::busy_is_retried(|url: &str| adapter(url, TOKEN), &upstream, &fqdn, &None).await;
}

/// The record's name is sent relative to the domain, and the TTL raised to the minimum.
#[tokio::test]
async fn digitalocean_creates_relative_names_with_minimum_ttl() {
    let api = FakeDigitalOcean::start(&["example.com"], None).await;
    let p = adapter(&api.url, TOKEN);
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "v1".into(),
        ttl: 5,
        raw: None,
    };
    p.present(&record).await.unwrap();
    let state = api.state.lock().unwrap();
    assert_eq!(state.records[0].name, "_acme-challenge");
    // The fake refuses TTLs under 30 with 422, so the create succeeding shows the raise.
    assert_eq!(state.records.len(), 1);
    // The discovered zone is checked first, and it is the domain: one lookup.
    let lookups: Vec<&String> = state.seen.iter().filter(|s| !s.contains("/records")).collect();
    assert_eq!(lookups, ["GET /v2/domains/example.com"]);
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn digitalocean_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("do.token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.installer]
provider = "digitalocean"
settings = {{ DO_AUTH_TOKEN_FILE = "{}", DO_API_URL = "http://127.0.0.1:9", DO_TTL = "30", DO_HTTP_TIMEOUT = "10" }}
"#,
        token.display()
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("DO_TTL has no effect")), "{:?}", config.warnings);
    let provider = Provider::from_section(&config.dns["installer"], &mut Vec::new()).unwrap();
    assert!(matches!(provider, Provider::DigitalOcean(_)));
    assert!(provider.describe().contains("127.0.0.1:9"));
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("DO_AUTH_TOKEN_FILE", "DO_TOKEN"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("DO_AUTH_TOKEN"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digitalocean_issue_through_pebble_validating_bind() {
    let stack = tokio::task::block_in_place(|| support::Stack::up_with(&[("STACK_S3", "0")]));
    let secret = std::fs::read_to_string(stack.get("TSIG_SECRET_FILE")).unwrap();
    let bind = Rfc2136::new(Rfc2136Settings {
        server: format!("127.0.0.1:{}", stack.get("DNS_PORT")),
        key_name: stack.get("TSIG_KEY").to_string(),
        algorithm: "hmac-sha256".into(),
        secret: Secret::new(secret.trim()),
        zone: None,
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let api = FakeDigitalOcean::start(&["gradient.example.com"], Some(bind)).await;
    let token_file = stack.dir().join("digitalocean.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"digitalocean\"\napi_url = \"{1}\"\nauth_token_file = \"{2}\"\n\n",
        stack.get("DNS_SERVER"),
        api.url,
        token_file.display()
    );
    let config =
        stack.write_config("digitalocean.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN));
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.starts_with("POST ")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("DELETE ")).count(), 2, "{seen:#?}");
    assert!(api.state.lock().unwrap().records.is_empty());
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
