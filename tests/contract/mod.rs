//! What every contract fake of a third-party DNS API needs, so that a provider's test file
//! holds only what its documentation says: an HTTP/1.1 server on loopback that hands each
//! request to the fake's routing function, applies the record changes the fake reports to
//! the test BIND over RFC 2136 (so Pebble validates a real issuance through the adapter),
//! and remembers what it was asked; query and form decoding; and the issuance through the
//! built binary that every adapter's test runs once.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};

use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

use super::conformance;
use super::support::{self, HttpRequest, Stack};

/// The answer a fake gives.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// A JSON answer; `Value::Null` gives an empty body.
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        Reply { status, content_type: "application/json", headers: Vec::new(), body }
    }

    pub fn text(status: u16, content_type: &'static str, body: impl Into<String>) -> Reply {
        Reply { status, content_type, headers: Vec::new(), body: body.into() }
    }
}

/// A record change the fake made in its own store, to mirror into BIND.
#[derive(Debug, Clone)]
pub enum Change {
    /// Add `value` to the TXT set at the full name (trailing dot).
    Add { fqdn: String, value: String },
    /// Remove exactly `value` from the TXT set at the full name.
    Remove { fqdn: String, value: String },
}

/// How a fake answers: its state, one request, and the changes to mirror.
pub type Route<S> = fn(&mut S, &HttpRequest) -> (Reply, Vec<Change>);

/// A contract fake on a free loopback port; stopped when dropped.
pub struct Fake<S> {
    pub url: String,
    pub state: Arc<Mutex<S>>,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<S> Drop for Fake<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S: Send + 'static> Fake<S> {
    /// Serves `route` over `state`; with `bind`, every change is applied to it before the
    /// answer goes out, as the real provider's name servers would serve it.
    pub async fn start(state: S, bind: Option<Rfc2136>, route: Route<S>) -> Fake<S> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(state));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (shared, log) = (state.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let (shared, log, bind) = (shared.clone(), log.clone(), bind.clone());
                tokio::spawn(async move {
                    let Some(request) = support::read_http_request(&mut socket).await else { return };
                    log.lock().unwrap().push(format!("{} {}", request.method, request.target));
                    let (reply, changes) = route(&mut shared.lock().unwrap(), &request);
                    if let Some(bind) = bind {
                        for change in changes {
                            let applied = match &change {
                                Change::Add { fqdn, value } => bind.present(&txt(fqdn, value)).await,
                                Change::Remove { fqdn, value } => bind.cleanup(&txt(fqdn, value)).await,
                            };
                            applied.unwrap_or_else(|e| panic!("the fake applies {change:?} to BIND: {e}"));
                        }
                    }
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                        reply.status,
                        reply.content_type,
                        reply.body.len()
                    );
                    for (name, value) in &reply.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    let _ = socket.write_all(format!("{head}\r\n{}", reply.body).as_bytes()).await;
                });
            }
        });
        Fake { url, state, seen, task }
    }

    /// `METHOD target` of every request so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// A conformance reader over the fake's store: `values(state, fqdn)` gives the TXT
    /// values at a full name (trailing dot, any case).
    pub fn reader(&self, values: fn(&S, &str) -> Vec<String>) -> conformance::Reader {
        let state = self.state.clone();
        Box::new(move |name: String| {
            let found = values(&state.lock().unwrap(), &name.to_ascii_lowercase());
            Box::pin(async move { found })
        })
    }

    /// `host:port` of the fake, for `conformance::busy_is_retried`.
    pub fn upstream(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }
}

fn txt(fqdn: &str, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: None, value: value.into(), ttl: 60, raw: None }
}

/// `k=v&...` pairs of a query string or form body, percent- and plus-decoded.
pub fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The query parameters of a request target.
pub fn query(target: &str) -> Vec<(String, String)> {
    target.split_once('?').map(|(_, q)| pairs(q)).unwrap_or_default()
}

/// The request's path, without the query.
pub fn path(request: &HttpRequest) -> &str {
    request.target.split('?').next().unwrap_or_default()
}

/// The first value of parameter `key`.
pub fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A request header (names are lower case).
pub fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
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

/// The RFC 2136 client a fake mirrors its changes into: the stack's BIND and its zone
/// `gradient.example.com`, with the key wildcert's own tests use.
pub fn bind(stack: &Stack) -> Rfc2136 {
    let secret = std::fs::read_to_string(stack.get("TSIG_SECRET_FILE")).unwrap();
    Rfc2136::new(Rfc2136Settings {
        server: format!("127.0.0.1:{}", stack.get("DNS_PORT")),
        key_name: stack.get("TSIG_KEY").to_string(),
        algorithm: "hmac-sha256".into(),
        secret: Secret::new(secret.trim()),
        zone: Some("gradient.example.com.".into()),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

/// Starts the stack these tests need: Pebble and BIND, no S3.
pub fn stack() -> Stack {
    tokio::task::block_in_place(|| Stack::up_with(&[("STACK_S3", "0")]))
}

/// A private file in the stack's directory, e.g. an API key.
pub fn secret_file(stack: &Stack, name: &str, content: &str) -> std::path::PathBuf {
    let path = stack.dir().join(name);
    std::fs::write(&path, format!("{content}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

/// `wildcert issue` with the stack's configuration, its `[dns.office]` table replaced by
/// `dns_table` (the lines after the table header): asserts that the certificate was issued
/// through Pebble validating BIND, that no TXT is left in BIND, and that none of `secrets`
/// appears in the output. Returns stdout and stderr.
pub fn issue(stack: &Stack, file: &str, dns_table: &str, secrets: &[&str]) -> (String, String) {
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\n{dns_table}\n\n",
        stack.get("DNS_SERVER"),
    );
    let config = stack.write_config(file, &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    for secret in secrets {
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "a secret was printed:\n{stdout}\n{stderr}"
        );
    }
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
    (stdout, stderr)
}

/// Parses a configuration with a `[dns.installer]` table of lego settings and builds the
/// adapter from it: what an operator coming from the installer writes. Returns the
/// configuration's warnings and the built adapter.
pub fn installer(
    provider: &str,
    settings: &str,
) -> Result<(Vec<String>, wildcert::dns::provider::Provider), String> {
    let text = format!(
        "[acme]\ndirectory = \"https://127.0.0.1:14000/dir\"\n\n[storage]\nlocal_dir = \"/tmp/live\"\nstate_dir = \"/tmp/state\"\n\n[dns.installer]\nprovider = \"{provider}\"\nsettings = {{ {settings} }}\n"
    );
    let config = wildcert::config::Config::parse(std::path::Path::new("wildcert.toml"), &text)
        .map_err(|e| e.to_string())?;
    let built = wildcert::dns::provider::Provider::from_section(&config.dns["installer"], &mut Vec::new())
        .map_err(|e| e.to_string())?;
    Ok((config.warnings.clone(), built))
}

/// A private file for `installer` settings.
pub fn temp_secret(dir: &std::path::Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{content}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path.display().to_string()
}
