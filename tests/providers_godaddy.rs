//! The GoDaddy adapter against a contract fake of the GoDaddy Domains API v1, built from its
//! API reference: `GET /v1/domains/{domain}`, `GET`/`PUT`/`DELETE
//! /v1/domains/{domain}/records/TXT/{name}` (PUT replaces every TXT record of the name with
//! the given `[{"data", "ttl"}]`, TTL at least 600, else 422; DELETE removes them, 404 when
//! there are none), `Authorization: sso-key KEY:SECRET`, and errors as `{"code", "message"}`.
//! When given a BIND, the fake applies every change to it through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

mod conformance;
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_godaddy::GoDaddy;
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

const KEY: &str = "gd-k3y-5aa1";
const SECRET: &str = "gd-s3cret-77b2";

#[derive(Default)]
struct State {
    domains: Vec<String>,
    /// (domain, relative name) -> TXT values.
    txt: BTreeMap<(String, String), Vec<String>>,
    seen: Vec<String>,
    bind: Option<Rfc2136>,
}

struct FakeGoDaddy {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGoDaddy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

fn fqdn(domain: &str, name: &str) -> String {
    if name == "@" { format!("{domain}.") } else { format!("{name}.{domain}.") }
}

/// Routes one request; returns status, body, and the values added and removed at a name.
fn route(
    state: &mut State,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Vec<(bool, String, String)>) {
    if auth != Some(&format!("sso-key {KEY}:{SECRET}")) {
        return (401, error("UNABLE_TO_AUTHENTICATE", "Unable to authenticate the request"), Vec::new());
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = |d: &str| state.domains.iter().any(|x| x == d);
    match (method, parts.as_slice()) {
        ("GET", ["v1", "domains", d]) if known(d) => {
            (200, json!({"domain": d, "status": "ACTIVE"}), Vec::new())
        }
        ("GET", ["v1", "domains", _]) => (
            404,
            error("NOT_FOUND", "The given domain is not registered, or does not have a zone file"),
            Vec::new(),
        ),
        (_, ["v1", "domains", d, "records", "TXT", _]) if !known(d) => (
            404,
            error("NOT_FOUND", "The given domain is not registered, or does not have a zone file"),
            Vec::new(),
        ),
        ("GET", ["v1", "domains", d, "records", "TXT", name]) => {
            let values = state.txt.get(&(d.to_string(), name.to_string())).cloned().unwrap_or_default();
            let items: Vec<Value> =
                values.iter().map(|v| json!({"data": v, "name": name, "ttl": 600, "type": "TXT"})).collect();
            (200, Value::Array(items), Vec::new())
        }
        ("PUT", ["v1", "domains", d, "records", "TXT", name]) => {
            let Ok(Value::Array(items)) = serde_json::from_str::<Value>(body) else {
                return (422, error("INVALID_BODY", "Request body doesn't fulfill schema"), Vec::new());
            };
            if items.iter().any(|i| !i["data"].is_string() || i["ttl"].as_u64().is_some_and(|t| t < 600)) {
                return (
                    422,
                    error("INVALID_BODY", "Request body doesn't fulfill schema, see details in `fields`"),
                    Vec::new(),
                );
            }
            let new: Vec<String> = items.iter().map(|i| i["data"].as_str().unwrap().to_string()).collect();
            let key = (d.to_string(), name.to_string());
            let old = state.txt.get(&key).cloned().unwrap_or_default();
            let at = fqdn(d, name);
            let mut changes: Vec<(bool, String, String)> =
                old.iter().filter(|v| !new.contains(v)).map(|v| (false, at.clone(), v.clone())).collect();
            changes.extend(new.iter().filter(|v| !old.contains(v)).map(|v| (true, at.clone(), v.clone())));
            state.txt.insert(key, new);
            (200, Value::Null, changes)
        }
        ("DELETE", ["v1", "domains", d, "records", "TXT", name]) => match state
            .txt
            .remove(&(d.to_string(), name.to_string()))
        {
            Some(old) if !old.is_empty() => {
                let at = fqdn(d, name);
                (204, Value::Null, old.into_iter().map(|v| (false, at.clone(), v)).collect())
            }
            _ => (404, error("NOT_FOUND", "No records matching the type and name were found"), Vec::new()),
        },
        _ => (404, error("NOT_FOUND", "Not found"), Vec::new()),
    }
}

impl FakeGoDaddy {
    async fn start(domains: &[&str], bind: Option<Rfc2136>) -> FakeGoDaddy {
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
                    let path = request.target.split('?').next().unwrap_or_default().to_string();
                    let (status, body, changes, bind) = {
                        let mut state = shared.lock().unwrap();
                        state.seen.push(format!("{} {path}", request.method));
                        let (status, body, changes) =
                            route(&mut state, &request.method, &path, auth.as_deref(), &request.body);
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
                    let body = if body.is_null() { String::new() } else { body.to_string() };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        FakeGoDaddy { url, state, task }
    }

    fn reader(&self) -> conformance::Reader {
        let state = self.state.clone();
        Box::new(move |name: String| {
            let values: Vec<String> = state
                .lock()
                .unwrap()
                .txt
                .iter()
                .filter(|((d, n), _)| fqdn(d, n).eq_ignore_ascii_case(&name))
                .flat_map(|(_, v)| v.clone())
                .collect();
            Box::pin(async move { values })
        })
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn adapter(url: &str, secret: &str) -> GoDaddy {
    GoDaddy::new(url, &Secret::new(KEY), &Secret::new(secret), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, with a value someone else wrote at the
/// name that must survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn godaddy_conformance() {
    let api = FakeGoDaddy::start(&["example.com"], None).await;
    api.state.lock().unwrap().txt.insert(
        ("example.com".into(), "_acme-challenge.gradient".into()),
        vec!["someone-elses-value".into()],
    );
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(),
        secrets: vec![KEY.into(), SECRET.into()],
    };
    conformance::records(&subject).await;
    assert_eq!((api.reader())(fqdn.clone()).await, ["someone-elses-value"]);
    let seen = api.seen();
    assert!(
        seen.iter().any(|s| s == "PUT /v1/domains/example.com/records/TXT/_acme-challenge.gradient"),
        "{seen:#?}"
    );
    conformance::auth_failure(
        &adapter(&api.url, "gd-wrong-99"),
        &fqdn,
        &None,
        "api_secret",
        &["gd-wrong-99".into(), SECRET.into(), KEY.into()],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").to_string();
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET), &upstream, &fqdn, &None).await;
}

/// The last value goes with a DELETE of the name's TXT records.
#[tokio::test]
async fn godaddy_last_value_is_deleted() {
    let api = FakeGoDaddy::start(&["example.com"], None).await;
    let p = adapter(&api.url, SECRET);
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "only".into(),
        ttl: 60,
        raw: None,
    };
    p.present(&record).await.unwrap();
    p.cleanup(&record).await.unwrap();
    let seen = api.seen();
    assert!(
        seen.contains(&"DELETE /v1/domains/example.com/records/TXT/_acme-challenge".to_string()),
        "{seen:#?}"
    );
    assert!(api.state.lock().unwrap().txt.is_empty());
}

/// The installer's settings reach the adapter.
#[test]
fn godaddy_installer_settings() {
    let text = r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.installer]
provider = "godaddy"
settings = { GODADDY_API_KEY = "k", GODADDY_API_SECRET_FILE = "/etc/wildcert/gd.secret", GODADDY_TTL = "600" }
"#;
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("GODADDY_TTL has no effect")), "{:?}", config.warnings);
    assert!(
        config.warnings.iter().any(|w| w.contains("prefer GODADDY_API_KEY_FILE")),
        "{:?}",
        config.warnings
    );
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace(", GODADDY_API_SECRET_FILE = \"/etc/wildcert/gd.secret\"", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("api_secret"), "{err}");
    assert!(matches!(config.dns["installer"].config, wildcert::dns::provider::ProviderConfig::GoDaddy(_)));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn godaddy_issue_through_pebble_validating_bind() {
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
    let api = FakeGoDaddy::start(&["gradient.example.com"], Some(bind)).await;
    let write = |name: &str, value: &str| {
        let path = stack.dir().join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        path
    };
    let (key_file, secret_file) = (write("gd.key", KEY), write("gd.secret", SECRET));
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"godaddy\"\napi_url = \"{1}\"\napi_key_file = \"{2}\"\napi_secret_file = \"{3}\"\n\n",
        stack.get("DNS_SERVER"),
        api.url,
        key_file.display(),
        secret_file.display()
    );
    let config = stack.write_config("godaddy.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    for secret in [KEY, SECRET] {
        assert!(!stderr.contains(secret) && !stdout.contains(secret));
    }
    let seen = api.seen();
    assert!(seen.iter().filter(|s| s.starts_with("PUT ")).count() >= 2, "{seen:#?}");
    assert!(api.state.lock().unwrap().txt.values().all(|v| v.is_empty()));
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
