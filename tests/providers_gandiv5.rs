//! The Gandi LiveDNS adapter against a contract fake of the LiveDNS API v5, built from its
//! reference: `GET /domains/{fqdn}`, `GET`/`PUT`/`DELETE /domains/{fqdn}/records/{name}/TXT`
//! (`{"rrset_name", "rrset_type", "rrset_ttl", "rrset_values"}`; PUT replaces the set with
//! `{"rrset_ttl", "rrset_values"}` and answers 201 `{"message": "DNS Record Created"}`, TTL
//! at least 300; DELETE answers 204; an absent set is 404), `Authorization: Bearer` for
//! personal access tokens and `Authorization: Apikey` for API keys, and errors as `{"code",
//! "message", "object", "cause"}`. TXT values come back quoted. When given a BIND, the fake
//! applies every change to it through RFC 2136, so Pebble validates a real issuance through
//! this adapter.

mod conformance;
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord, txt_text};
use wildcert_dns_gandiv5::{Gandi, GandiAuth};
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

const TOKEN: &str = "gandi-pat-1f2e3d";
const API_KEY: &str = "gandi-apikey-9z8y";

#[derive(Default)]
struct State {
    domains: Vec<String>,
    /// (domain, name) -> quoted values.
    sets: BTreeMap<(String, String), Vec<String>>,
    seen: Vec<String>,
    bind: Option<Rfc2136>,
}

struct FakeGandi {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGandi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(code: u16, object: &str, message: &str) -> Value {
    json!({"code": code, "message": message, "object": object, "cause": object})
}

fn fqdn(domain: &str, name: &str) -> String {
    if name == "@" { format!("{domain}.") } else { format!("{name}.{domain}.") }
}

fn route(
    state: &mut State,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Vec<(bool, String, String)>) {
    if auth != Some(&format!("Bearer {TOKEN}")) && auth != Some(&format!("Apikey {API_KEY}")) {
        return (
            401,
            error(
                401,
                "HTTPUnauthorized",
                "The server could not verify that you authorized to access the document you requested.",
            ),
            Vec::new(),
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || error(404, "HTTPNotFound", "The resource could not be found.");
    match (method, parts.as_slice()) {
        (_, ["domains", d, ..]) if !state.domains.iter().any(|x| x == d) => (404, not_found(), Vec::new()),
        ("GET", ["domains", d]) => (200, json!({"fqdn": d, "automatic_snapshots": true}), Vec::new()),
        ("GET", ["domains", d, "records", name, "TXT"]) => {
            match state.sets.get(&(d.to_string(), name.to_string())) {
                Some(values) => (
                    200,
                    json!({"rrset_name": name, "rrset_type": "TXT", "rrset_ttl": 300, "rrset_values": values}),
                    Vec::new(),
                ),
                None => (404, not_found(), Vec::new()),
            }
        }
        ("PUT", ["domains", d, "records", name, "TXT"]) => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let Some(items) = request["rrset_values"].as_array() else {
                return (400, error(400, "HTTPBadRequest", "rrset_values is required"), Vec::new());
            };
            if request["rrset_ttl"].as_u64().is_some_and(|t| t < 300) {
                return (400, error(400, "HTTPBadRequest", "rrset_ttl: must be at least 300"), Vec::new());
            }
            // LiveDNS stores TXT values quoted, whichever way they were sent.
            let new: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str())
                .map(|v| if v.starts_with('"') { v.to_string() } else { format!("\"{v}\"") })
                .collect();
            let key = (d.to_string(), name.to_string());
            let old = state.sets.get(&key).cloned().unwrap_or_default();
            let at = fqdn(d, name);
            let mut changes: Vec<(bool, String, String)> =
                old.iter().filter(|v| !new.contains(v)).map(|v| (false, at.clone(), txt_text(v))).collect();
            changes.extend(new.iter().filter(|v| !old.contains(v)).map(|v| (true, at.clone(), txt_text(v))));
            state.sets.insert(key, new);
            (201, json!({"message": "DNS Record Created"}), changes)
        }
        ("DELETE", ["domains", d, "records", name, "TXT"]) => {
            match state.sets.remove(&(d.to_string(), name.to_string())) {
                Some(old) => {
                    let at = fqdn(d, name);
                    (204, Value::Null, old.iter().map(|v| (false, at.clone(), txt_text(v))).collect())
                }
                None => (404, not_found(), Vec::new()),
            }
        }
        _ => (404, not_found(), Vec::new()),
    }
}

impl FakeGandi {
    async fn start(domains: &[&str], bind: Option<Rfc2136>) -> FakeGandi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v5/livedns", listener.local_addr().unwrap());
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
                    let path = request.target.split('?').next().unwrap_or_default();
                    let Some(path) = path.strip_prefix("/v5/livedns") else {
                        let _ = socket
                            .write_all(b"HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                        return;
                    };
                    let (status, body, changes, bind) = {
                        let mut state = shared.lock().unwrap();
                        state.seen.push(format!("{} {path}", request.method));
                        let (status, body, changes) =
                            route(&mut state, &request.method, path, auth.as_deref(), &request.body);
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
        FakeGandi { url, state, task }
    }

    fn reader(&self) -> conformance::Reader {
        let state = self.state.clone();
        Box::new(move |name: String| {
            let values: Vec<String> = state
                .lock()
                .unwrap()
                .sets
                .iter()
                .filter(|((d, n), _)| fqdn(d, n).eq_ignore_ascii_case(&name))
                .flat_map(|(_, v)| v.iter().map(|v| txt_text(v)))
                .collect();
            Box::pin(async move { values })
        })
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn adapter(url: &str, auth: GandiAuth) -> Gandi {
    Gandi::new(url, &auth, Duration::from_secs(5)).unwrap()
}

fn token() -> GandiAuth {
    GandiAuth::Token(Secret::new(TOKEN))
}

/// The conformance suite against the contract fake, with a value someone else wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gandiv5_conformance() {
    let api = FakeGandi::start(&["example.com"], None).await;
    api.state.lock().unwrap().sets.insert(
        ("example.com".into(), "_acme-challenge.gradient".into()),
        vec!["\"someone-elses-value\"".into()],
    );
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, token()),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(),
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    assert_eq!((api.reader())(fqdn.clone()).await, ["someone-elses-value"]);
    let seen = api.seen();
    assert!(
        seen.iter().any(|s| s == "PUT /domains/example.com/records/_acme-challenge.gradient/TXT"),
        "{seen:#?}"
    );
    let wrong = adapter(&api.url, GandiAuth::Token(Secret::new("expired-pat")));
    conformance::auth_failure(
        &wrong,
        &fqdn,
        &None,
        "personal_access_token",
        &["expired-pat".into(), TOKEN.into()],
    )
    .await;
    let wrong = adapter(&api.url, GandiAuth::ApiKey(Secret::new("old-key")));
    conformance::auth_failure(&wrong, &fqdn, &None, "api_key", &["old-key".into(), API_KEY.into()]).await;
    let upstream = api.url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/v5/livedns"), token()),
        &upstream,
        &fqdn,
        &None,
    )
    .await;
}

/// The API key works too; the last value goes with a DELETE of the set.
#[tokio::test]
async fn gandiv5_api_key_and_last_value_deleted() {
    let api = FakeGandi::start(&["example.com"], None).await;
    let p = adapter(&api.url, GandiAuth::ApiKey(Secret::new(API_KEY)));
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "v".into(),
        ttl: 60,
        raw: None,
    };
    p.present(&record).await.unwrap();
    assert_eq!(api.state.lock().unwrap().sets.values().next().unwrap(), &["\"v\""]);
    p.cleanup(&record).await.unwrap();
    assert!(api.seen().contains(&"DELETE /domains/example.com/records/_acme-challenge/TXT".to_string()));
    assert!(api.state.lock().unwrap().sets.is_empty());
}

#[test]
fn gandiv5_installer_settings() {
    let text = r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.installer]
provider = "gandiv5"
settings = { GANDIV5_API_KEY_FILE = "/etc/wildcert/gandi.key", GANDIV5_TTL = "300" }
"#;
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("GANDIV5_TTL has no effect")), "{:?}", config.warnings);
    let both = text.replace("GANDIV5_TTL = \"300\"", "GANDIV5_PERSONAL_ACCESS_TOKEN_FILE = \"/t\"");
    let err = Config::parse(std::path::Path::new("w.toml"), &both).unwrap_err().to_string();
    assert!(err.contains("not both"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gandiv5_issue_through_pebble_validating_bind() {
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
    let api = FakeGandi::start(&["gradient.example.com"], Some(bind)).await;
    let token_file = stack.dir().join("gandi.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"gandiv5\"\napi_url = \"{1}\"\npersonal_access_token_file = \"{2}\"\n\n",
        stack.get("DNS_SERVER"),
        api.url,
        token_file.display()
    );
    let config = stack.write_config("gandi.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN));
    assert!(api.state.lock().unwrap().sets.is_empty());
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
