//! The httpreq adapter against a small HTTP receiver on loopback that records each request
//! and answers with a scripted status: lego's JSON bodies (default and RAW), basic
//! authentication, status mapping (401 → Auth, 5xx → Temporary), timeouts, and secrets kept
//! out of every error.

use crate::conformance;
use crate::support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, RawChallenge, Secret, TxtRecord};
use wildcert_dns_httpreq::{Httpreq, HttpreqSettings, Mode};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// How the receiver answers.
#[derive(Clone)]
enum Reply {
    Status(u16, &'static str),
    /// Reads the request, then never answers.
    Silent,
}

struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receiver(reply: Reply) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let log = log.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                let Some(request) = read_request(&mut socket).await else { return };
                log.lock().unwrap().push(request);
                match reply {
                    Reply::Status(status, body) => {
                        let response = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nRetry-After: 30\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                    }
                    Reply::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    Receiver { url, seen, task }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Seen> {
    let request = support::read_http_request(socket).await?;
    Some(Seen { method: request.method, path: request.target, headers: request.headers, body: request.body })
}

fn settings(endpoint: &str) -> HttpreqSettings {
    HttpreqSettings {
        endpoint: endpoint.to_string(),
        mode: Mode::Default,
        username: None,
        password: None,
        timeout: Duration::from_secs(5),
        ca_certificates: None,
    }
}

fn record(fqdn: &str, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: None, value: value.into(), ttl: 60, raw: None }
}

#[tokio::test]
async fn httpreq_posts_lego_json_with_basic_auth() {
    let hook = receiver(Reply::Status(200, "ok")).await;
    let adapter = Httpreq::new(HttpreqSettings {
        username: Some("acme".into()),
        password: Some(Secret::new("pa55-w0rd")),
        ..settings(&format!("{}/dns/", hook.url))
    })
    .unwrap();
    adapter.present(&record("_acme-challenge.example.com.", "value-1")).await.unwrap();
    adapter.cleanup(&record("_acme-challenge.example.com", "value-1")).await.unwrap();
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/dns/present"));
    assert_eq!((seen[1].method.as_str(), seen[1].path.as_str()), ("POST", "/dns/cleanup"));
    for request in &seen {
        assert_eq!(
            request.json(),
            serde_json::json!({"fqdn": "_acme-challenge.example.com.", "value": "value-1"})
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        // base64("acme:pa55-w0rd")
        assert_eq!(request.header("authorization"), Some("Basic YWNtZTpwYTU1LXcwcmQ="));
    }
}

#[tokio::test]
async fn httpreq_raw_mode_sends_domain_token_and_key_authorization() {
    let hook = receiver(Reply::Status(204, "")).await;
    let adapter = Httpreq::new(HttpreqSettings { mode: Mode::Raw, ..settings(&hook.url) }).unwrap();
    let raw = TxtRecord {
        raw: Some(RawChallenge {
            domain: "example.com".into(),
            token: "tok-1".into(),
            key_authorization: Secret::new("tok-1.thumb"),
        }),
        ..record("_acme-challenge.example.com.", "digest")
    };
    adapter.present(&raw).await.unwrap();
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen[0].path, "/present");
    assert_eq!(
        seen[0].json(),
        serde_json::json!({"domain": "example.com", "token": "tok-1", "keyAuth": "tok-1.thumb"})
    );
    assert!(seen[0].header("authorization").is_none());

    let err = adapter.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err}");
}

#[tokio::test]
async fn httpreq_401_is_an_auth_error_without_the_password() {
    // A receiver that echoes what it got must not smuggle the password into our message.
    let hook = receiver(Reply::Status(401, "wrong password pa55-w0rd for user acme")).await;
    let adapter = Httpreq::new(HttpreqSettings {
        username: Some("acme".into()),
        password: Some(Secret::new("pa55-w0rd")),
        ..settings(&hook.url)
    })
    .unwrap();
    let err = adapter.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("401") && text.contains("username and password"), "{text}");
    assert!(!text.contains("pa55-w0rd") && !text.contains("YWNtZTpwYTU1"), "{text}");
}

#[tokio::test]
async fn httpreq_statuses_map_to_error_kinds() {
    let busy = receiver(Reply::Status(503, "maintenance")).await;
    let err =
        Httpreq::new(settings(&busy.url)).unwrap().present(&record("_acme-challenge.a.example.", "v")).await;
    match err.unwrap_err() {
        ProviderError::Temporary { retry_after, detail, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(30)));
            assert!(detail.contains("maintenance"), "{detail}");
        }
        other => panic!("{other}"),
    }

    let missing = receiver(Reply::Status(404, "no route")).await;
    let err = Httpreq::new(settings(&missing.url))
        .unwrap()
        .cleanup(&record("_acme-challenge.a.example.", "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("no /cleanup"), "{err}");

    let refused = receiver(Reply::Status(422, "zone is locked")).await;
    let err = Httpreq::new(settings(&refused.url))
        .unwrap()
        .present(&record("_acme-challenge.a.example.", "v"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { .. }) && err.to_string().contains("zone is locked"),
        "{err}"
    );
}

#[tokio::test]
async fn httpreq_silent_endpoint_times_out() {
    let hook = receiver(Reply::Silent).await;
    let adapter =
        Httpreq::new(HttpreqSettings { timeout: Duration::from_millis(500), ..settings(&hook.url) }).unwrap();
    let started = std::time::Instant::now();
    let err = adapter.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("no complete answer within"), "{err}");
}

#[tokio::test]
async fn httpreq_unreachable_endpoint() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let adapter = Httpreq::new(settings(&format!("http://127.0.0.1:{port}"))).unwrap();
    let err = adapter.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err}");
}

/// The installer's settings, with the password from a file (lego's `_FILE` form).
#[tokio::test]
async fn httpreq_installer_settings() {
    let hook = receiver(Reply::Status(200, "")).await;
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("hook.pw");
    std::fs::write(&password_file, "pa55-w0rd\n").unwrap();
    std::fs::set_permissions(&password_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.hook]
provider = "httpreq"
settings = {{ HTTPREQ_ENDPOINT = "{}", HTTPREQ_USERNAME = "acme", HTTPREQ_PASSWORD_FILE = "{}", HTTPREQ_HTTP_TIMEOUT = "10" }}
"#,
        hook.url,
        password_file.display()
    );
    let config = Config::parse(Path::new("wildcert.toml"), &text).unwrap();
    let provider = Provider::from_section(&config.dns["hook"], &mut Vec::new()).unwrap();
    assert!(matches!(provider, Provider::Httpreq(_)));
    provider.present(&record("_acme-challenge.example.com.", "v")).await.unwrap();
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen[0].header("authorization"), Some("Basic YWNtZTpwYTU1LXcwcmQ="));
}

/// `wildcert issue` with the httpreq adapter. The receiver only records, it serves no DNS, so
/// Pebble runs with `PEBBLE_VA_ALWAYS_VALID` (`STACK_ALWAYS_VALID=1`) and the propagation
/// check is off: this proves what the order flow sends to the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpreq_issue_with_always_valid_pebble() {
    let hook = receiver(Reply::Status(200, "")).await;
    let stack = support::Stack::up_with(&[("STACK_S3", "0"), ("STACK_ALWAYS_VALID", "1")]);
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\ncheck = false\n\n[dns.office]\nprovider = \"httpreq\"\nendpoint = \"{}/acme\"\n\n",
        hook.url
    );
    let config = stack.write_config("httpreq.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");

    let seen = hook.seen.lock().unwrap().clone();
    let calls = |path: &str| -> Vec<serde_json::Value> {
        let mut v: Vec<_> = seen.iter().filter(|s| s.path == path).map(Seen::json).collect();
        v.sort_by_key(|j| j["value"].as_str().unwrap_or_default().to_string());
        v
    };
    let (present, cleanup) = (calls("/acme/present"), calls("/acme/cleanup"));
    // The apex and the wildcard: two values at the one shared name, each removed again.
    assert_eq!(present.len(), 2, "{seen:#?}");
    assert_eq!(present, cleanup, "cleanup removes exactly what was presented");
    assert!(present.iter().all(|j| j["fqdn"] == "_acme-challenge.gradient.example.com."), "{present:?}");
    assert_ne!(present[0]["value"], present[1]["value"]);
}

/// A hook in lego's httpreq contract that keeps the values it was given (per name), behind
/// basic authentication: what the conformance suite reads back.
async fn stateful_hook(
    user: &'static str,
    password: &'static str,
) -> (String, conformance::Reader, tokio::task::JoinHandle<()>) {
    use std::collections::BTreeMap;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let values: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    let state = values.clone();
    let expected = format!("Basic {}", base64_basic(user, password));
    let task = tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (state, expected) = (state.clone(), expected.clone());
            tokio::spawn(async move {
                let Some(request) = support::read_http_request(&mut socket).await else { return };
                let authorized = request.headers.iter().any(|(n, v)| n == "authorization" && *v == expected);
                let status = if !authorized {
                    401
                } else {
                    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
                    let fqdn = body["fqdn"].as_str().unwrap().to_string();
                    let value = body["value"].as_str().unwrap().to_string();
                    let mut state = state.lock().unwrap();
                    let at = state.entry(fqdn).or_default();
                    match request.target.as_str() {
                        "/present" if !at.contains(&value) => at.push(value),
                        "/cleanup" => at.retain(|v| *v != value),
                        _ => {}
                    }
                    200
                };
                let response =
                    format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    let read: conformance::Reader = Box::new(move |name: String| {
        let found = values.lock().unwrap().get(&name).cloned().unwrap_or_default();
        Box::pin(async move { found })
    });
    (url, read, task)
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// The conformance suite against a value-keeping hook: records, a refused password, and
/// 429/503 from a proxy in front of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpreq_conformance() {
    let (url, read, task) = stateful_hook("hook", "hook-pw-zz7").await;
    let with = |endpoint: &str, password: &str| {
        Httpreq::new(HttpreqSettings {
            username: Some("hook".into()),
            password: Some(Secret::new(password)),
            ..settings(endpoint)
        })
        .unwrap()
    };
    let fqdn = "_acme-challenge.conformance.example.".to_string();
    let zone = Some("conformance.example.".to_string());
    let subject = conformance::Subject {
        provider: with(&url, "hook-pw-zz7"),
        fqdn: fqdn.clone(),
        zone: zone.clone(),
        read,
        secrets: vec!["hook-pw-zz7".into()],
    };
    conformance::records(&subject).await;
    let wrong = with(&url, "wrong-pw-q4");
    conformance::auth_failure(
        &wrong,
        &fqdn,
        &zone,
        "password",
        &["wrong-pw-q4".into(), "hook-pw-zz7".into()],
    )
    .await;
    let upstream = url.trim_start_matches("http://").to_string();
    conformance::busy_is_retried(|proxy: &str| with(proxy, "hook-pw-zz7"), &upstream, &fqdn, &zone).await;
    task.abort();
}
