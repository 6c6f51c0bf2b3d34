//! The NS1 adapter against a contract fake of the NS1 REST API v1, built from its reference:
//! `GET /v1/zones/{zone}`, `GET`/`PUT`/`POST`/`DELETE /v1/zones/{zone}/{domain}/TXT` (a
//! record `{"zone", "domain", "type", "ttl", "answers": [{"answer": ["text"]}]}`; PUT
//! creates it, 400 "record already exists" when it does; POST updates it, 404 when it does
//! not; DELETE removes it), the `X-NSONE-Key` header, and errors as `{"message"}`. When given
//! a BIND, the fake applies every change to it through RFC 2136, so Pebble validates a real
//! issuance through this adapter.

mod conformance;
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_ns1::Ns1;
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

const KEY: &str = "ns1-api-k3y-abc";

#[derive(Default)]
struct State {
    zones: Vec<String>,
    /// domain -> TXT answers.
    records: BTreeMap<String, Vec<String>>,
    seen: Vec<String>,
    bind: Option<Rfc2136>,
}

struct FakeNs1 {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeNs1 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn message(text: &str) -> Value {
    json!({"message": text})
}

fn answers(body: &Value) -> Option<Vec<String>> {
    body["answers"]
        .as_array()?
        .iter()
        .map(|a| {
            a["answer"].as_array().map(|parts| parts.iter().filter_map(|p| p.as_str()).collect::<String>())
        })
        .collect()
}

fn route(
    state: &mut State,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, Value, Vec<(bool, String, String)>) {
    if key != Some(KEY) {
        return (401, message("Unauthorized"), Vec::new());
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        (_, ["v1", "zones", z, ..]) if !state.zones.iter().any(|x| x == z) => {
            (404, message("zone not found"), Vec::new())
        }
        ("GET", ["v1", "zones", z]) => (200, json!({"zone": z, "ttl": 3600, "records": []}), Vec::new()),
        (_, ["v1", "zones", z, d, "TXT"]) if !(d == z || d.ends_with(&format!(".{z}"))) => {
            (400, message("invalid: FQDN must be within the zone"), Vec::new())
        }
        ("GET", ["v1", "zones", z, d, "TXT"]) => match state.records.get(*d) {
            Some(values) => {
                let answers: Vec<Value> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json!({"answer": [v], "id": format!("a{i}")}))
                    .collect();
                (
                    200,
                    json!({"zone": z, "domain": d, "type": "TXT", "ttl": 60, "answers": answers}),
                    Vec::new(),
                )
            }
            None => (404, message("record not found"), Vec::new()),
        },
        ("PUT" | "POST", ["v1", "zones", _, d, "TXT"]) => {
            let exists = state.records.contains_key(*d);
            if method == "PUT" && exists {
                return (400, message("record already exists"), Vec::new());
            }
            if method == "POST" && !exists {
                return (404, message("record not found"), Vec::new());
            }
            let Some(new) = answers(&serde_json::from_str(body).unwrap_or(Value::Null)) else {
                return (400, message("invalid: answers"), Vec::new());
            };
            let old = state.records.get(*d).cloned().unwrap_or_default();
            let at = format!("{d}.");
            let mut changes: Vec<(bool, String, String)> =
                old.iter().filter(|v| !new.contains(v)).map(|v| (false, at.clone(), v.clone())).collect();
            changes.extend(new.iter().filter(|v| !old.contains(v)).map(|v| (true, at.clone(), v.clone())));
            state.records.insert(d.to_string(), new);
            (200, json!({"domain": d, "type": "TXT"}), changes)
        }
        ("DELETE", ["v1", "zones", _, d, "TXT"]) => match state.records.remove(*d) {
            Some(old) => (200, json!({}), old.into_iter().map(|v| (false, format!("{d}."), v)).collect()),
            None => (404, message("record not found"), Vec::new()),
        },
        _ => (404, message("not found"), Vec::new()),
    }
}

impl FakeNs1 {
    async fn start(zones: &[&str], bind: Option<Rfc2136>) -> FakeNs1 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
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
                    let key =
                        request.headers.iter().find(|(n, _)| n == "x-nsone-key").map(|(_, v)| v.clone());
                    let path = request.target.split('?').next().unwrap_or_default().to_string();
                    let (status, body, changes, bind) = {
                        let mut state = shared.lock().unwrap();
                        state.seen.push(format!("{} {path}", request.method));
                        let (status, body, changes) =
                            route(&mut state, &request.method, &path, key.as_deref(), &request.body);
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
        FakeNs1 { url, state, task }
    }

    fn reader(&self) -> conformance::Reader {
        let state = self.state.clone();
        Box::new(move |name: String| {
            let domain = name.trim_end_matches('.').to_ascii_lowercase();
            let values = state.lock().unwrap().records.get(&domain).cloned().unwrap_or_default();
            Box::pin(async move { values })
        })
    }

    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn adapter(url: &str, key: &str) -> Ns1 {
    Ns1::new(url, &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, with an answer someone else wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ns1_conformance() {
    let api = FakeNs1::start(&["example.com"], None).await;
    api.state
        .lock()
        .unwrap()
        .records
        .insert("_acme-challenge.gradient.example.com".into(), vec!["someone-elses-value".into()]);
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    assert_eq!((api.reader())(fqdn.clone()).await, ["someone-elses-value"]);
    let seen = api.seen();
    assert!(
        seen.iter().any(|s| s == "POST /v1/zones/example.com/_acme-challenge.gradient.example.com/TXT"),
        "{seen:#?}"
    );
    conformance::auth_failure(
        &adapter(&api.url, "wrong-key"),
        &fqdn,
        &None,
        "api_key",
        &["wrong-key".into(), KEY.into()],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    conformance::busy_is_retried(|url: &str| adapter(&format!("{url}/v1"), KEY), &upstream, &fqdn, &None)
        .await;
}

/// A new name is created with PUT and its last answer goes with DELETE.
#[tokio::test]
async fn ns1_creates_and_deletes_the_record() {
    let api = FakeNs1::start(&["example.com"], None).await;
    let p = adapter(&api.url, KEY);
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: Some("example.com.".into()),
        value: "v".into(),
        ttl: 60,
        raw: None,
    };
    p.present(&record).await.unwrap();
    p.cleanup(&record).await.unwrap();
    let seen = api.seen();
    assert!(
        seen.contains(&"PUT /v1/zones/example.com/_acme-challenge.example.com/TXT".to_string()),
        "{seen:#?}"
    );
    assert!(
        seen.contains(&"DELETE /v1/zones/example.com/_acme-challenge.example.com/TXT".to_string()),
        "{seen:#?}"
    );
    assert!(api.state.lock().unwrap().records.is_empty());
}

#[test]
fn ns1_installer_settings() {
    let text = r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.installer]
provider = "ns1"
settings = { NS1_API_KEY_FILE = "/etc/wildcert/ns1.key", NS1_TTL = "60" }
"#;
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("NS1_TTL has no effect")), "{:?}", config.warnings);
    assert!(matches!(config.dns["installer"].config, wildcert::dns::provider::ProviderConfig::Ns1(_)));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ns1_issue_through_pebble_validating_bind() {
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
    let api = FakeNs1::start(&["gradient.example.com"], Some(bind)).await;
    let key_file = stack.dir().join("ns1.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"ns1\"\napi_url = \"{1}\"\napi_key_file = \"{2}\"\n\n",
        stack.get("DNS_SERVER"),
        api.url,
        key_file.display()
    );
    let config = stack.write_config("ns1.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert!(!stderr.contains(KEY) && !stdout.contains(KEY));
    assert!(api.state.lock().unwrap().records.is_empty());
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
