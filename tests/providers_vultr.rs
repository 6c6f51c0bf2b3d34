//! The Vultr adapter against a contract fake of the Vultr API v2 DNS endpoints, built from
//! its API reference: `GET /v2/domains` and `GET /v2/domains/{domain}/records` (cursor paging:
//! `per_page`, `cursor`, `meta.links.next`), `POST /v2/domains/{domain}/records` with
//! `{"name", "type", "data", "ttl"}` answering 201 `{"record"}` (TXT `data` quoted), `DELETE
//! /v2/domains/{domain}/records/{id}` answering 204, `Authorization: Bearer`, and errors as
//! `{"error", "status"}`. The fake pages every two items (the real API up to 500) so that
//! the adapter's cursor handling is exercised. When given a BIND, it applies every change to
//! it through RFC 2136, so Pebble validates a real issuance through this adapter.

mod conformance;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord, txt_text};
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};
use wildcert_dns_vultr::Vultr;

const KEY: &str = "VULTRK3Y0123456789ABC";
/// Items per page the fake serves, whatever `per_page` asks.
const PAGE: usize = 2;

#[derive(Debug, Clone)]
struct Record {
    id: String,
    domain: String,
    /// Relative to the domain; empty at the apex.
    name: String,
    data: String,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
    seen: Vec<String>,
    bind: Option<Rfc2136>,
}

struct FakeVultr {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVultr {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: u16, message: &str) -> Value {
    json!({"error": message, "status": status})
}

fn fqdn(r: &Record) -> String {
    if r.name.is_empty() { format!("{}.", r.domain) } else { format!("{}.{}.", r.name, r.domain) }
}

/// One page of `items` from `cursor` (an offset here; opaque to clients).
fn page(items: Vec<Value>, cursor: Option<&str>) -> (Vec<Value>, Value) {
    let start: usize = cursor.and_then(|c| c.strip_prefix("off-")).and_then(|c| c.parse().ok()).unwrap_or(0);
    let total = items.len();
    let chunk: Vec<Value> = items.into_iter().skip(start).take(PAGE).collect();
    let next = if start + PAGE < total { format!("off-{}", start + PAGE) } else { String::new() };
    (chunk, json!({"total": total, "links": {"next": next, "prev": ""}}))
}

fn route(
    state: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Option<(bool, TxtRecord)>) {
    if auth != Some(&format!("Bearer {KEY}")) {
        return (401, error(401, "Invalid API token."), None);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let cursor = query.split('&').find_map(|kv| kv.strip_prefix("cursor="));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["v2", "domains"]) => {
            let items = state.domains.iter().map(|d| json!({"domain": d, "date_created": "2024-01-01T00:00:00+00:00", "dns_sec": "disabled"})).collect();
            let (chunk, meta) = page(items, cursor);
            (200, json!({"domains": chunk, "meta": meta}), None)
        }
        (_, ["v2", "domains", d, "records", ..]) if !state.domains.iter().any(|x| x == d) => {
            (404, error(404, "Domain not found"), None)
        }
        ("GET", ["v2", "domains", d, "records"]) => {
            let items = state
                .records
                .iter()
                .filter(|r| r.domain == *d)
                .map(|r| json!({"id": r.id, "type": "TXT", "name": r.name, "data": r.data, "priority": -1, "ttl": 120}))
                .collect();
            let (chunk, meta) = page(items, cursor);
            (200, json!({"records": chunk, "meta": meta}), None)
        }
        ("POST", ["v2", "domains", d, "records"]) => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let (Some(name), Some(data)) = (request["name"].as_str(), request["data"].as_str()) else {
                return (400, error(400, "Invalid record: name and data are required"), None);
            };
            if request["type"] != "TXT" {
                return (400, error(400, "Invalid record type"), None);
            }
            state.next_id += 1;
            let record = Record {
                id: format!("cb676a46-66fd-4dfb-b839-{:012}", state.next_id),
                domain: d.to_string(),
                name: name.to_string(),
                data: data.to_string(),
            };
            state.records.push(record.clone());
            let change =
                TxtRecord { fqdn: fqdn(&record), zone: None, value: txt_text(data), ttl: 60, raw: None };
            (
                201,
                json!({"record": {"id": record.id, "type": "TXT", "name": name, "data": data, "priority": 0, "ttl": request["ttl"]}}),
                Some((true, change)),
            )
        }
        ("DELETE", ["v2", "domains", d, "records", id]) => match state
            .records
            .iter()
            .position(|r| r.id == *id && r.domain == *d)
        {
            Some(i) => {
                let r = state.records.remove(i);
                let change =
                    TxtRecord { fqdn: fqdn(&r), zone: None, value: txt_text(&r.data), ttl: 60, raw: None };
                (204, Value::Null, Some((false, change)))
            }
            None => (404, error(404, "Record not found"), None),
        },
        _ => (404, error(404, "Not found"), None),
    }
}

impl FakeVultr {
    async fn start(domains: &[&str], bind: Option<Rfc2136>) -> FakeVultr {
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
        FakeVultr { url, state, task }
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
                .map(|r| txt_text(&r.data))
                .collect();
            Box::pin(async move { values })
        })
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn adapter(url: &str, key: &str) -> Vultr {
    Vultr::new(url, &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake; the account has more domains than one
/// page holds, and the zone is the longest listed suffix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vultr_conformance() {
    let api =
        FakeVultr::start(&["example.org", "example.com", "gradient.example.com", "other.net"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(seen.iter().any(|s| s.contains("/v2/domains?per_page=500&cursor=off-2")), "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("POST /v2/domains/gradient.example.com/records")), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, "WRONGKEY"),
        &fqdn,
        &None,
        "api_key",
        &["WRONGKEY".into(), KEY.into()],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").to_string();
    conformance::busy_is_retried(|url: &str| adapter(url, KEY), &upstream, &fqdn, &None).await;
}

/// TXT data goes quoted, names relative to the domain; records past the first page are found
/// for cleanup.
#[tokio::test]
async fn vultr_quotes_data_and_pages_records() {
    let api = FakeVultr::start(&["example.com"], None).await;
    let p = adapter(&api.url, KEY);
    let records: Vec<TxtRecord> = (0..5)
        .map(|i| TxtRecord {
            fqdn: "_acme-challenge.example.com.".into(),
            zone: Some("example.com.".into()),
            value: format!("value-{i}"),
            ttl: 60,
            raw: None,
        })
        .collect();
    for r in &records {
        p.present(r).await.unwrap();
    }
    {
        let state = api.state.lock().unwrap();
        assert_eq!(state.records[0].data, "\"value-0\"");
        assert_eq!(state.records[0].name, "_acme-challenge");
    }
    p.cleanup(&records[4]).await.unwrap();
    let left: Vec<String> = api.state.lock().unwrap().records.iter().map(|r| txt_text(&r.data)).collect();
    assert_eq!(left, ["value-0", "value-1", "value-2", "value-3"]);
}

#[test]
fn vultr_installer_settings() {
    let text = r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.installer]
provider = "vultr"
settings = { VULTR_API_KEY_FILE = "/etc/wildcert/vultr.key", VULTR_TTL = "300", VULTR_HTTP_TIMEOUT = "20" }
"#;
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("VULTR_TTL has no effect")), "{:?}", config.warnings);
    let wildcert::dns::provider::ProviderConfig::Vultr(cfg) = &config.dns["installer"].config else {
        panic!()
    };
    assert_eq!(cfg.timeout, Duration::from_secs(20));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vultr_issue_through_pebble_validating_bind() {
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
    let api = FakeVultr::start(&["gradient.example.com"], Some(bind)).await;
    let key_file = stack.dir().join("vultr.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"vultr\"\napi_url = \"{1}\"\napi_key_file = \"{2}\"\n\n",
        stack.get("DNS_SERVER"),
        api.url,
        key_file.display()
    );
    let config = stack.write_config("vultr.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert!(!stderr.contains(KEY) && !stdout.contains(KEY));
    assert!(api.state.lock().unwrap().records.is_empty());
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
