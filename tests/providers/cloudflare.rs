//! The Cloudflare adapter against a contract fake of the Cloudflare API v4, built from
//! Cloudflare's API documentation: the endpoints the adapter uses (`GET /zones?name=`,
//! `GET`/`POST /zones/{zone_id}/dns_records`, `DELETE /zones/{zone_id}/dns_records/{id}`),
//! the `{"success", "errors", "messages", "result"}` envelope, both authentication schemes
//! (`Authorization: Bearer` tokens with their permissions, `X-Auth-Email` + `X-Auth-Key`), one
//! record per TXT value, and the documented error codes (81058 identical record, 81044 no
//! such record, 10000/9103 authentication, 7003 unknown zone). It serves no DNS and runs on
//! plain HTTP on loopback (`api_url` points at it); it records every request, so the tests
//! check what the adapter sends as well as what it makes of the answers.
//!
//! Also: `wildcert issue` through Pebble (`STACK_ALWAYS_VALID=1`) with this adapter.

use crate::conformance;
use crate::support;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord};
use wildcert_dns_cloudflare::{Cloudflare, CloudflareAuth, CloudflareSettings};

const TOKEN: &str = "cf-dns-t0ken-4a1b";
const ZONE_TOKEN: &str = "cf-zone-t0ken-9c2d";
const EMAIL: &str = "ops@example.com";
const GLOBAL_KEY: &str = "cf-gl0bal-key-77e3";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path below `/client/v4`, without the query.
    path: String,
    /// Query parameters, percent-decoded.
    query: Vec<(String, String)>,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// `GET /zones?name=X`: X.
    fn zone_lookup(&self) -> Option<&str> {
        (self.method == "GET" && self.path == "/zones").then(|| self.param("name").unwrap_or_default())
    }
}

/// What a set of credentials may do, as an API token's permissions say.
#[derive(Debug, Clone, Copy)]
struct Permissions {
    /// Zone:Zone:Read: the zone list shows the zones.
    zone_read: bool,
    /// Zone:DNS:Edit: records may be listed, created and deleted.
    dns_edit: bool,
}

#[derive(Debug, Clone)]
struct Zone {
    id: String,
    name: String,
}

#[derive(Debug, Clone)]
struct Record {
    id: String,
    zone_id: String,
    name: String,
    content: String,
    ttl: u64,
}

/// An answer given instead of the regular one, for the next request.
#[derive(Debug, Clone)]
struct Scripted {
    status: u16,
    retry_after: Option<&'static str>,
    body: String,
}

#[derive(Default)]
struct State {
    zones: Vec<Zone>,
    records: Vec<Record>,
    tokens: Vec<(String, Permissions)>,
    global_key: Option<(String, String)>,
    scripted: VecDeque<Scripted>,
    seen: Vec<Seen>,
    next_id: u64,
}

impl State {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:032x}", 0x9f00_0000_u64 + self.next_id)
    }
}

/// The fake API; stopped on drop.
struct FakeCloudflare {
    /// `http://127.0.0.1:PORT/client/v4`, the value for `api_url`.
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCloudflare {
    /// A fake that accepts `TOKEN` (Zone:Read and DNS:Edit), `ZONE_TOKEN` (Zone:Read only),
    /// and the global key `GLOBAL_KEY` of `EMAIL`.
    async fn start() -> FakeCloudflare {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/client/v4", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            tokens: vec![
                (TOKEN.into(), Permissions { zone_read: true, dns_edit: true }),
                (ZONE_TOKEN.into(), Permissions { zone_read: true, dns_edit: false }),
            ],
            global_key: Some((EMAIL.into(), GLOBAL_KEY.into())),
            ..Default::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else { return };
                    let (status, retry_after, body) = {
                        let mut state = shared.lock().unwrap();
                        state.seen.push(request.clone());
                        answer(&mut state, &request)
                    };
                    let extra = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
                    let response = format!(
                        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                        reason(status),
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        FakeCloudflare { url, state, task }
    }

    fn add_zone(&self, name: &str) -> String {
        let mut state = self.state.lock().unwrap();
        let id = state.id();
        state.zones.push(Zone { id: id.clone(), name: name.into() });
        id
    }

    /// A TXT record someone else created, with `content` as they wrote it.
    fn add_record(&self, zone_id: &str, name: &str, content: &str) {
        let mut state = self.state.lock().unwrap();
        let id = state.id();
        let record =
            Record { id, zone_id: zone_id.into(), name: name.into(), content: content.into(), ttl: 1 };
        state.records.push(record);
    }

    /// The TXT texts at `name` in `zone_id` (quotes removed), sorted.
    fn texts(&self, zone_id: &str, name: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let mut texts: Vec<String> = state
            .records
            .iter()
            .filter(|r| r.zone_id == zone_id && r.name == name)
            .map(|r| r.content.trim_matches('"').to_string())
            .collect();
        texts.sort();
        texts
    }

    fn script(&self, status: u16, retry_after: Option<&'static str>, body: Value) {
        self.state.lock().unwrap().scripted.push_back(Scripted {
            status,
            retry_after,
            body: body.to_string(),
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn forget_seen(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}

fn envelope(result: Value) -> Value {
    json!({"success": true, "errors": [], "messages": [], "result": result})
}

fn list(items: Vec<Value>) -> Value {
    let count = items.len();
    let mut body = envelope(Value::Array(items));
    body["result_info"] =
        json!({"page": 1, "per_page": 100, "count": count, "total_count": count, "total_pages": 1});
    body
}

fn failure(code: u64, message: &str) -> Value {
    json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Service Unavailable",
    }
}

fn record_json(r: &Record, zone_name: &str) -> Value {
    json!({
        "id": r.id, "zone_id": r.zone_id, "zone_name": zone_name, "name": r.name, "type": "TXT",
        "content": r.content, "proxiable": false, "proxied": false, "ttl": r.ttl, "settings": {},
        "meta": {}, "comment": null, "tags": [],
        "created_on": "2025-01-01T00:00:00.000000Z", "modified_on": "2025-01-01T00:00:00.000000Z"
    })
}

/// The API's answer to one request: status, `Retry-After`, body.
fn answer(state: &mut State, request: &Seen) -> (u16, Option<&'static str>, String) {
    if let Some(s) = state.scripted.pop_front() {
        return (s.status, s.retry_after, s.body);
    }
    let (status, body) = route(state, request);
    (status, None, body.to_string())
}

fn route(state: &mut State, request: &Seen) -> (u16, Value) {
    const ALL: Permissions = Permissions { zone_read: true, dns_edit: true };
    let permissions = if let Some(auth) = request.header("authorization") {
        let token = auth.strip_prefix("Bearer ").unwrap_or_default();
        match state.tokens.iter().find(|(t, _)| t == token) {
            Some((_, p)) => *p,
            None => return (403, failure(10000, "Authentication error")),
        }
    } else {
        let given = (request.header("x-auth-email"), request.header("x-auth-key"));
        match &state.global_key {
            Some((email, key)) if given == (Some(email.as_str()), Some(key.as_str())) => ALL,
            _ => return (403, failure(9103, "Unknown X-Auth-Key or X-Auth-Email")),
        }
    };
    let denied = || (403, failure(10000, "Authentication error"));
    let parts: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["zones"]) => {
            // Credentials see the zones they have permission for; without Zone:Read, none.
            let name = request.param("name").unwrap_or_default();
            let zones = state
                .zones
                .iter()
                .filter(|z| permissions.zone_read && z.name == name)
                .map(|z| json!({"id": z.id, "name": z.name, "status": "active", "paused": false, "type": "full"}))
                .collect();
            (200, list(zones))
        }
        (method, ["zones", zone_id, "dns_records", rest @ ..]) => {
            let Some(zone) = state.zones.iter().find(|z| z.id == *zone_id).cloned() else {
                let message = format!(
                    "Could not route to /zones/{zone_id}/dns_records, perhaps your object identifier is invalid?"
                );
                return (404, failure(7003, &message));
            };
            if !permissions.dns_edit {
                return denied();
            }
            match (method, rest) {
                ("GET", []) => {
                    let wanted_type = request.param("type").unwrap_or("TXT");
                    let wanted_name = request.param("name");
                    let records = state
                        .records
                        .iter()
                        .filter(|r| r.zone_id == zone.id && wanted_type == "TXT")
                        .filter(|r| wanted_name.is_none_or(|n| n.eq_ignore_ascii_case(&r.name)))
                        .map(|r| record_json(r, &zone.name))
                        .collect();
                    (200, list(records))
                }
                ("POST", []) => {
                    let body = request.json();
                    let name = body["name"].as_str().unwrap_or_default().to_string();
                    let content = body["content"].as_str().unwrap_or_default().to_string();
                    if body["type"] != "TXT"
                        || !(name == zone.name || name.ends_with(&format!(".{}", zone.name)))
                    {
                        return (400, failure(1004, "DNS Validation Error"));
                    }
                    if state
                        .records
                        .iter()
                        .any(|r| r.zone_id == zone.id && r.name == name && r.content == content)
                    {
                        return (400, failure(81058, "An identical record already exists."));
                    }
                    let id = state.id();
                    let ttl = body["ttl"].as_u64().unwrap_or(1);
                    let record = Record { id, zone_id: zone.id.clone(), name, content, ttl };
                    let shown = record_json(&record, &zone.name);
                    state.records.push(record);
                    (200, envelope(shown))
                }
                ("DELETE", [record_id]) => {
                    let before = state.records.len();
                    state.records.retain(|r| !(r.zone_id == zone.id && r.id == *record_id));
                    if state.records.len() == before {
                        return (404, failure(81044, "Record does not exist."));
                    }
                    (200, envelope(json!({"id": record_id})))
                }
                _ => (404, failure(7000, "No route for that URI")),
            }
        }
        _ => (404, failure(7000, "No route for that URI")),
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Seen> {
    let request = support::read_http_request(socket).await?;
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let path = path.strip_prefix("/client/v4").unwrap_or(path).to_string();
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Seen { method: request.method, path, query, headers: request.headers, body: request.body })
}

fn settings(api_url: &str, auth: CloudflareAuth) -> CloudflareSettings {
    CloudflareSettings { api_url: api_url.into(), auth, zone_id: None, timeout: Duration::from_secs(5) }
}

fn token() -> CloudflareAuth {
    CloudflareAuth::Token { dns: Secret::new(TOKEN), zone: None }
}

fn record(fqdn: &str, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: None, value: value.into(), ttl: 60, raw: None }
}

/// The apex's and the wildcard's values share `_acme-challenge.<domain>` with each other and
/// with someone else's value; cleanup deletes only the record it is asked about.
#[tokio::test]
async fn cloudflare_contract_apex_and_wildcard_coexist() {
    let api = FakeCloudflare::start().await;
    let zone = api.add_zone("example.com");
    let name = "_acme-challenge.example.com";
    api.add_record(&zone, name, "\"someone-elses-value\"");
    let adapter = Cloudflare::new(settings(&api.url, token())).unwrap();

    let apex = record("_acme-challenge.example.com.", "apex-value-AAAA");
    let wildcard = record("_acme-challenge.Example.com", "wildcard-value-BBBB");
    adapter.present(&apex).await.unwrap();
    adapter.present(&wildcard).await.unwrap();
    assert_eq!(api.texts(&zone, name), ["apex-value-AAAA", "someone-elses-value", "wildcard-value-BBBB"]);

    let seen = api.seen();
    let posts: Vec<&Seen> = seen.iter().filter(|s| s.method == "POST").collect();
    assert_eq!(posts.len(), 2, "{seen:#?}");
    for post in &posts {
        assert_eq!(post.path, format!("/zones/{zone}/dns_records"));
        assert_eq!(post.header("content-type"), Some("application/json"));
        assert_eq!(post.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert!(post.header("x-auth-key").is_none());
    }
    assert_eq!(
        posts[0].json(),
        json!({"type": "TXT", "name": name, "content": "\"apex-value-AAAA\"", "ttl": 120})
    );
    // The zone is found by walking up the name: `_acme-challenge...` is no zone name.
    let lookups: Vec<&str> = seen.iter().filter_map(Seen::zone_lookup).collect();
    assert_eq!(lookups, ["example.com", "example.com"], "{seen:#?}");

    // Our value again: Cloudflare answers 81058, which is success.
    api.forget_seen();
    adapter.present(&apex).await.unwrap();
    let seen = api.seen();
    let post = seen.iter().find(|s| s.method == "POST").unwrap();
    assert_eq!(post.path, format!("/zones/{zone}/dns_records"));
    assert_eq!(api.texts(&zone, name), ["apex-value-AAAA", "someone-elses-value", "wildcard-value-BBBB"]);

    api.forget_seen();
    adapter.cleanup(&apex).await.unwrap();
    assert_eq!(api.texts(&zone, name), ["someone-elses-value", "wildcard-value-BBBB"]);
    let seen = api.seen();
    let listing = seen.iter().find(|s| s.method == "GET" && s.path.ends_with("/dns_records")).unwrap();
    assert_eq!((listing.param("type"), listing.param("name")), (Some("TXT"), Some(name)));
    assert_eq!(seen.iter().filter(|s| s.method == "DELETE").count(), 1, "{seen:#?}");

    adapter.cleanup(&apex).await.unwrap(); // absent is fine
    adapter.cleanup(&wildcard).await.unwrap();
    assert_eq!(api.texts(&zone, name), ["someone-elses-value"]);
}

/// The conformance suite against the contract fake: records, a refused token, and 429/503
/// from a proxy in front of the fake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_conformance() {
    let api = FakeCloudflare::start().await;
    let zone_id = api.add_zone("conformance.example");
    let fqdn = "_acme-challenge.conformance.example.".to_string();
    let zone = Some("conformance.example.".to_string());
    let state = api.state.clone();
    let read: conformance::Reader = Box::new(move |name: String| {
        let name = name.trim_end_matches('.').to_string();
        let texts: Vec<String> = state
            .lock()
            .unwrap()
            .records
            .iter()
            .filter(|r| r.zone_id == zone_id && r.name == name)
            .map(|r| r.content.trim_matches('"').to_string())
            .collect();
        Box::pin(async move { texts })
    });
    let subject = conformance::Subject {
        provider: Cloudflare::new(settings(&api.url, token())).unwrap(),
        fqdn: fqdn.clone(),
        zone: zone.clone(),
        read,
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    let wrong = Cloudflare::new(settings(
        &api.url,
        CloudflareAuth::Token { dns: Secret::new("not-a-t0ken-5x"), zone: None },
    ))
    .unwrap();
    conformance::auth_failure(&wrong, &fqdn, &zone, "api_token", &["not-a-t0ken-5x".into(), TOKEN.into()])
        .await;
    let upstream = api.url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    let path =
        api.url.trim_start_matches("http://").split_once('/').map(|(_, p)| p.to_string()).unwrap_or_default();
    let through = |url: &str| Cloudflare::new(settings(&format!("{url}/{path}"), token())).unwrap();
    conformance::busy_is_retried(through, &upstream, &fqdn, &zone).await;
}

/// Concurrent presents and cleanups on one name lose nothing and remove only their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_contract_concurrent_values_at_one_name() {
    let api = FakeCloudflare::start().await;
    let zone = api.add_zone("example.com");
    let adapter =
        Cloudflare::new(CloudflareSettings { zone_id: Some(zone.clone()), ..settings(&api.url, token()) })
            .unwrap();
    let name = "_acme-challenge.example.com";
    let values: Vec<String> = (0..6).map(|i| format!("concurrent-{i}")).collect();
    let run = |values: &[String], present: bool| {
        values
            .iter()
            .map(|v| {
                let (adapter, r) = (adapter.clone(), record(name, v));
                tokio::spawn(async move {
                    if present { adapter.present(&r).await } else { adapter.cleanup(&r).await }
                })
            })
            .collect::<Vec<_>>()
    };
    for task in run(&values, true) {
        task.await.unwrap().unwrap();
    }
    assert_eq!(api.texts(&zone, name), values);
    for task in run(&values[..3], false) {
        task.await.unwrap().unwrap();
    }
    assert_eq!(api.texts(&zone, name), values[3..]);
    // A configured zone_id needs no lookup.
    assert!(api.seen().iter().all(|s| s.zone_lookup().is_none()));
}

/// Cloudflare may hand TXT content back quoted or not; cleanup compares the text.
#[tokio::test]
async fn cloudflare_contract_cleanup_compares_unquoted_text() {
    let api = FakeCloudflare::start().await;
    let zone = api.add_zone("example.com");
    let name = "_acme-challenge.example.com";
    api.add_record(&zone, name, "left-by-an-earlier-run");
    api.add_record(&zone, name, "\"left-by-an-earlier-run-2\"");
    api.add_record(&zone, "_acme-challenge.www.example.com", "left-by-an-earlier-run");
    let adapter = Cloudflare::new(settings(&api.url, token())).unwrap();
    adapter.cleanup(&record(name, "left-by-an-earlier-run")).await.unwrap();
    assert_eq!(api.texts(&zone, name), ["left-by-an-earlier-run-2"]);
    assert_eq!(api.texts(&zone, "_acme-challenge.www.example.com"), ["left-by-an-earlier-run"]);
}

/// The longest zone wins when walking up; the discovered zone is asked first; a name no zone
/// covers is `ZoneNotFound` naming what was tried.
#[tokio::test]
async fn cloudflare_contract_zone_lookup_walks_up() {
    let api = FakeCloudflare::start().await;
    let parent = api.add_zone("example.com");
    let sub = api.add_zone("sub.example.com");
    let adapter = Cloudflare::new(settings(&api.url, token())).unwrap();

    let deep = record("_acme-challenge.www.sub.example.com.", "deep-value");
    adapter.present(&deep).await.unwrap();
    assert_eq!(api.texts(&sub, "_acme-challenge.www.sub.example.com"), ["deep-value"]);
    assert!(api.texts(&parent, "_acme-challenge.www.sub.example.com").is_empty());
    let lookups: Vec<String> = api.seen().iter().filter_map(Seen::zone_lookup).map(String::from).collect();
    assert_eq!(lookups, ["www.sub.example.com", "sub.example.com"]);

    api.forget_seen();
    let hinted = TxtRecord {
        zone: Some("sub.example.com.".into()),
        ..record("_acme-challenge.www.sub.example.com.", "deep-value")
    };
    adapter.cleanup(&hinted).await.unwrap();
    let lookups: Vec<String> = api.seen().iter().filter_map(Seen::zone_lookup).map(String::from).collect();
    assert_eq!(lookups, ["sub.example.com"], "the discovered zone is asked first");
    assert!(api.texts(&sub, "_acme-challenge.www.sub.example.com").is_empty());

    api.forget_seen();
    let err = adapter.present(&record("_acme-challenge.nowhere.example.net.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("nowhere.example.net.") && text.contains("example.net."), "{text}");
    assert!(text.contains("Zone:Zone:Read") && text.contains("zone_id"), "{text}");
    let lookups: Vec<String> = api.seen().iter().filter_map(Seen::zone_lookup).map(String::from).collect();
    assert_eq!(lookups, ["nowhere.example.net", "example.net"], "no lookup of a top-level domain");

    // A configured zone_id Cloudflare does not know.
    let wrong = Cloudflare::new(CloudflareSettings {
        zone_id: Some("0123456789abcdef0123456789abcdef".into()),
        ..settings(&api.url, token())
    })
    .unwrap();
    let err = wrong.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    assert!(err.to_string().contains("check zone_id"), "{err}");
}

/// The legacy global key goes in `X-Auth-Email` and `X-Auth-Key`, never as a bearer token.
#[tokio::test]
async fn cloudflare_contract_global_key_headers() {
    let api = FakeCloudflare::start().await;
    let zone = api.add_zone("example.com");
    let auth = CloudflareAuth::GlobalKey { email: EMAIL.into(), key: Secret::new(GLOBAL_KEY) };
    let adapter = Cloudflare::new(settings(&api.url, auth)).unwrap();
    let r = record("_acme-challenge.example.com.", "global-key-value");
    adapter.present(&r).await.unwrap();
    adapter.cleanup(&r).await.unwrap();
    assert!(api.texts(&zone, "_acme-challenge.example.com").is_empty());
    let seen = api.seen();
    assert_eq!(seen.len(), 5, "lookup, create, lookup, list, delete: {seen:#?}");
    for request in &seen {
        assert_eq!(request.header("x-auth-email"), Some(EMAIL));
        assert_eq!(request.header("x-auth-key"), Some(GLOBAL_KEY));
        assert!(request.header("authorization").is_none(), "{request:?}");
    }
}

/// With a separate zone token, zone lookups carry it and record calls the DNS token.
#[tokio::test]
async fn cloudflare_contract_zone_token_only_finds_the_zone() {
    let api = FakeCloudflare::start().await;
    let zone = api.add_zone("example.com");
    // The DNS token of this account may edit records but not list zones.
    api.state.lock().unwrap().tokens[0].1.zone_read = false;
    let alone = Cloudflare::new(settings(&api.url, token())).unwrap();
    let err = alone.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");

    api.forget_seen();
    let split = CloudflareAuth::Token { dns: Secret::new(TOKEN), zone: Some(Secret::new(ZONE_TOKEN)) };
    let adapter = Cloudflare::new(settings(&api.url, split)).unwrap();
    adapter.present(&record("_acme-challenge.example.com.", "split-tokens")).await.unwrap();
    assert_eq!(api.texts(&zone, "_acme-challenge.example.com"), ["split-tokens"]);
    for request in api.seen() {
        let expected = if request.zone_lookup().is_some() { ZONE_TOKEN } else { TOKEN };
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {expected}").as_str()),
            "{request:?}"
        );
    }
}

/// 403 is an authentication error that says which permission to check and never shows a
/// credential, even when the answer echoes one.
#[tokio::test]
async fn cloudflare_contract_403_is_auth_without_secrets() {
    let api = FakeCloudflare::start().await;
    api.add_zone("example.com");
    let r = record("_acme-challenge.example.com.", "v");
    let secret_free = |err: &ProviderError, secret: &str| {
        let text = format!("{err} {err:?}");
        assert!(!text.contains(secret), "{text}");
        text
    };

    // A token without Zone:DNS:Edit: the zone is found, the record is refused.
    api.state.lock().unwrap().tokens[0].1.dns_edit = false;
    let adapter = Cloudflare::new(settings(&api.url, token())).unwrap();
    let err = adapter.present(&r).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    let text = secret_free(&err, TOKEN);
    assert!(text.contains("403") && text.contains("Authentication error (code 10000)"), "{text}");
    assert!(text.contains("Zone:DNS:Edit"), "{text}");
    assert!(!err.is_transient());

    // A token Cloudflare does not know, with an answer that repeats it.
    let unknown = CloudflareAuth::Token { dns: Secret::new("cf-revoked-t0ken"), zone: None };
    api.script(403, None, failure(10000, "Authentication error for Bearer cf-revoked-t0ken"));
    let err = Cloudflare::new(settings(&api.url, unknown)).unwrap().present(&r).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    assert!(secret_free(&err, "cf-revoked-t0ken").contains("[redacted]"), "{err}");

    // A wrong global key: 9103.
    let wrong = CloudflareAuth::GlobalKey { email: EMAIL.into(), key: Secret::new("cf-wr0ng-key") };
    let err = Cloudflare::new(settings(&api.url, wrong)).unwrap().cleanup(&r).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    let text = secret_free(&err, "cf-wr0ng-key");
    assert!(text.contains("code 9103") && text.contains("Global API Key"), "{text}");
}

/// 429 and 5xx: a short `Retry-After` is waited for within the call, a long one ends it as
/// `Temporary` carrying the delay; other refusals are `Rejected` with Cloudflare's message.
#[tokio::test]
async fn cloudflare_contract_rate_limit_and_rejections() {
    let api = FakeCloudflare::start().await;
    let zone = api.add_zone("example.com");
    let adapter =
        Cloudflare::new(CloudflareSettings { zone_id: Some(zone.clone()), ..settings(&api.url, token()) })
            .unwrap();
    let r = record("_acme-challenge.example.com.", "rate-limited");
    let busy = || failure(971, "Please wait and consider throttling your request speed");

    api.script(429, Some("30"), busy());
    let started = Instant::now();
    match adapter.present(&r).await.unwrap_err() {
        err @ ProviderError::Temporary { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(30)));
            assert!(err.is_transient() && err.to_string().contains("429"), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "a long Retry-After is not slept through");
    assert_eq!(api.seen().len(), 1);
    assert!(api.texts(&zone, "_acme-challenge.example.com").is_empty());

    api.forget_seen();
    api.script(429, Some("1"), busy());
    let started = Instant::now();
    adapter.present(&r).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "the short Retry-After is honoured");
    assert_eq!(api.seen().len(), 2);
    assert_eq!(api.texts(&zone, "_acme-challenge.example.com"), ["rate-limited"]);

    api.forget_seen();
    for _ in 0..3 {
        api.script(503, Some("0"), json!({"success": false, "errors": [], "result": null}));
    }
    let err = adapter.cleanup(&r).await.unwrap_err();
    assert!(matches!(err, ProviderError::Temporary { .. }) && err.is_transient(), "{err}");
    assert_eq!(api.seen().len(), 3, "three attempts");

    api.script(
        400,
        None,
        json!({"success": false, "errors": [{"code": 1004, "message": "DNS Validation Error",
            "error_chain": [{"code": 9021, "message": "Invalid TTL. Must be between 60 and 86400, or 1 for Automatic."}]}],
            "messages": [], "result": null}),
    );
    let err = adapter.present(&record("_acme-challenge.example.com.", "other")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("DNS Validation Error (code 1004): Invalid TTL"), "{err}");
}

#[tokio::test]
async fn cloudflare_unreachable_api() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let adapter = Cloudflare::new(settings(&format!("http://127.0.0.1:{port}/client/v4"), token())).unwrap();
    let err = adapter.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }) && err.is_transient(), "{err}");
    assert!(!err.to_string().contains(TOKEN));
}

/// The installer's settings, as operators bring them, drive the adapter unchanged.
#[tokio::test]
async fn cloudflare_contract_installer_settings() {
    let api = FakeCloudflare::start().await;
    let zone = api.add_zone("installer.example.com");
    let text = format!(
        r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.installer]
provider = "cloudflare"
api_url = "{}"
settings = {{ CF_DNS_API_TOKEN = "{TOKEN}", CLOUDFLARE_PROPAGATION_TIMEOUT = "120" }}

[[certificate]]
name = "installer"
domains = ["*.installer.example.com", "installer.example.com"]
dns = "installer"
"#,
        api.url
    );
    let config = Config::parse(Path::new("wildcert.toml"), &text).unwrap();
    let mut warnings = Vec::new();
    let provider = Provider::from_section(&config.dns["installer"], &mut warnings).unwrap();
    assert!(matches!(provider, Provider::Cloudflare(_)));
    let warned = format!("{:?} {warnings:?}", config.warnings);
    assert!(!warned.contains(TOKEN), "{warned}");
    let name = "_acme-challenge.installer.example.com";
    provider.present(&record(name, "from-installer-settings")).await.unwrap();
    assert_eq!(api.texts(&zone, name), ["from-installer-settings"]);
    assert!(api.seen().iter().all(|s| s.header("authorization") == Some(format!("Bearer {TOKEN}").as_str())));
    provider.cleanup(&record(name, "from-installer-settings")).await.unwrap();
    assert!(api.texts(&zone, name).is_empty());
}

/// `wildcert issue` with the Cloudflare adapter. The fake serves no DNS, so Pebble runs with
/// `PEBBLE_VA_ALWAYS_VALID` (`STACK_ALWAYS_VALID=1`) and the propagation check is off: this
/// proves the order flow drives the adapter (both values created, then exactly those deleted,
/// another value at the name untouched), not that a CA could see the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_issue_with_always_valid_pebble() {
    let api = FakeCloudflare::start().await;
    let zone = api.add_zone("example.com");
    let name = "_acme-challenge.gradient.example.com";
    api.add_record(&zone, name, "\"someone-elses-value\"");
    let stack = support::Stack::up_with(&[("STACK_S3", "0"), ("STACK_ALWAYS_VALID", "1")]);
    let token_file = stack.dir().join("cloudflare.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\ncheck = false\n\n[dns.office]\nprovider = \"cloudflare\"\napi_url = \"{}\"\napi_token_file = \"{}\"\n\n",
        api.url,
        token_file.display()
    );
    let config =
        stack.write_config("cloudflare.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert_eq!(stderr.matches("writing challenge TXT record").count(), 2, "{stderr}");
    assert!(stderr.contains("cloudflare ("), "{stderr}");
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN));

    let seen = api.seen();
    let mut created: Vec<String> = seen
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| {
            let body = s.json();
            assert_eq!(body["name"], name, "{body}");
            body["content"].as_str().unwrap().to_string()
        })
        .collect();
    created.sort();
    created.dedup();
    assert_eq!(created.len(), 2, "the apex's and the wildcard's values: {seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.method == "DELETE").count(), 2, "{seen:#?}");
    assert_eq!(api.texts(&zone, name), ["someone-elses-value"], "only our values were removed");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
