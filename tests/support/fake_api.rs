//! What every contract fake of a DNS provider's HTTP API shares, so that a provider's test
//! file is mostly its routes: the HTTP server loop on a free loopback port, request helpers
//! (headers, query parameters), the record of requests seen, a BIND mirror that applies each
//! change a route reports over RFC 2136 (so Pebble validates through the fake), and the one
//! real issuance every adapter runs through its fake.
//!
//! A fake is `FakeApi::start(state, bind, route)`: `route` gets the fake's state and one
//! request and returns a [`Reply`] carrying the TXT values it added or removed.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

use super::{HttpRequest, Stack};

/// Reads the values the provider's server holds at a name (the conformance suite's reader).
pub type Reader = Box<dyn Fn(String) -> Pin<Box<dyn Future<Output = Vec<String>> + Send>> + Send + Sync>;

impl HttpRequest {
    /// A header's value (names compare in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The path's segments: `/v2/domains/x` gives `["v2", "domains", "x"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path().trim_start_matches('/').split('/').collect()
    }

    /// The query's parameters, percent-decoded (`+` is a space).
    pub fn query(&self) -> Vec<(String, String)> {
        let Some((_, q)) = self.target.split_once('?') else { return Vec::new() };
        query_pairs(q)
    }

    /// One query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        param(&self.query(), name).map(str::to_string)
    }
}

/// The first value of `name` among decoded pairs (a query, or a form body).
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `a=1&b=two+words` as decoded pairs: query strings and form bodies.
pub fn query_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Percent-decoding, `+` as a space.
pub fn decode(text: &str) -> String {
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

/// A TXT value a route added (`add`) or removed at `fqdn` (trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub add: bool,
    pub fqdn: String,
    pub value: String,
}

impl Change {
    pub fn add(fqdn: impl Into<String>, value: impl Into<String>) -> Change {
        Change { add: true, fqdn: fqdn.into(), value: value.into() }
    }

    pub fn remove(fqdn: impl Into<String>, value: impl Into<String>) -> Change {
        Change { add: false, fqdn: fqdn.into(), value: value.into() }
    }
}

/// The changes that turn the values `before` into `after` at `fqdn`: each record only in
/// `before` removed, each only in `after` added; `text` gives a record's TXT value.
pub fn diff<T: PartialEq>(fqdn: &str, before: &[T], after: &[T], text: impl Fn(&T) -> String) -> Vec<Change> {
    let mut out: Vec<Change> =
        before.iter().filter(|r| !after.contains(r)).map(|r| Change::remove(fqdn, text(r))).collect();
    out.extend(after.iter().filter(|r| !before.contains(r)).map(|r| Change::add(fqdn, text(r))));
    out
}

/// One answer of a fake, and the DNS changes behind it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub changes: Vec<Change>,
    /// Further headers, e.g. `Set-Cookie`.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// A JSON answer; `null` is sent as an empty body.
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        Reply { status, content_type: "application/json", body, changes: Vec::new(), headers: Vec::new() }
    }

    /// An answer of another type (XML, plain text).
    pub fn text(status: u16, content_type: &'static str, body: impl Into<String>) -> Reply {
        Reply { status, content_type, body: body.into(), changes: Vec::new(), headers: Vec::new() }
    }

    /// With this header as well.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// With these DNS changes, applied to the BIND mirror before the answer is sent.
    pub fn with(mut self, changes: impl IntoIterator<Item = Change>) -> Reply {
        self.changes.extend(changes);
        self
    }
}

/// A route written as `(reply, changes)` (the changes listed beside the answer rather than
/// carried by it), for [`FakeApi::start`].
pub fn with_changes<S: 'static>(
    route: fn(&mut S, &HttpRequest) -> (Reply, Vec<Change>),
) -> impl Fn(&mut S, &HttpRequest) -> Reply + Send + Sync + 'static {
    move |state, request| {
        let (reply, changes) = route(state, request);
        reply.with(changes)
    }
}

type Route<S> = dyn Fn(&mut S, &HttpRequest) -> Reply + Send + Sync;

/// A fake HTTP API on a free loopback port, stopped when dropped.
pub struct FakeApi<S> {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<S>>,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<S> Drop for FakeApi<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S: Send + 'static> FakeApi<S> {
    /// Serves `route` over `state`; with a `bind`, every change a reply carries is applied
    /// to it (and must succeed) before the answer goes out.
    pub async fn start(
        state: S,
        bind: Option<Rfc2136>,
        route: impl Fn(&mut S, &HttpRequest) -> Reply + Send + Sync + 'static,
    ) -> FakeApi<S> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(state));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let route: Arc<Route<S>> = Arc::new(route);
        let (shared, log) = (state.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let (shared, log, route, bind) = (shared.clone(), log.clone(), route.clone(), bind.clone());
                tokio::spawn(async move {
                    let Some(request) = super::read_http_request(&mut socket).await else { return };
                    log.lock().unwrap().push(format!("{} {}", request.method, request.target));
                    let reply = {
                        let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
                        route(&mut state, &request)
                    };
                    if let Some(bind) = bind {
                        for change in &reply.changes {
                            let record = TxtRecord {
                                fqdn: change.fqdn.clone(),
                                zone: None,
                                value: change.value.clone(),
                                ttl: 60,
                                raw: None,
                            };
                            let applied = if change.add {
                                bind.present(&record).await
                            } else {
                                bind.cleanup(&record).await
                            };
                            applied.expect("the fake applies the change to BIND");
                        }
                    }
                    let headers: String =
                        reply.headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
                    let response = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: {}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                        reply.status,
                        reply.content_type,
                        reply.body.len(),
                        reply.body
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        FakeApi { url, state, seen, task }
    }

    /// The fake's state, to arrange or inspect.
    pub fn state(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request so far: `METHOD target` (path and query).
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests so far start with `prefix` (`METHOD /path...`).
    pub fn count(&self, prefix: &str) -> usize {
        self.seen().iter().filter(|s| s.starts_with(prefix)).count()
    }

    /// `127.0.0.1:PORT`, for a proxy in front of the fake.
    pub fn upstream(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// A conformance reader over the fake's state: `values(state, fqdn)` lists the TXT
    /// values at a name (trailing dot, any case).
    pub fn reader(&self, values: fn(&S, &str) -> Vec<String>) -> Reader {
        let state = self.state.clone();
        Box::new(move |name: String| {
            let found = values(&state.lock().unwrap_or_else(PoisonError::into_inner), &name);
            Box::pin(async move { found })
        })
    }
}

/// The `[acme]` and `[storage]` tables a configuration needs before its `[dns.*]` table, for
/// tests that only parse it.
pub fn config_with(dns_tables: &str) -> String {
    format!(
        "[acme]\ndirectory = \"https://127.0.0.1:14000/dir\"\n\n[storage]\nlocal_dir = \"/tmp/live\"\nstate_dir = \"/tmp/state\"\n\n{dns_tables}"
    )
}

/// The stack's BIND as the fakes' mirror: RFC 2136 with the stack's TSIG key, into
/// `gradient.example.com`.
pub fn bind_mirror(stack: &Stack) -> Rfc2136 {
    let tsig = std::fs::read_to_string(stack.get("TSIG_SECRET_FILE")).unwrap();
    Rfc2136::new(Rfc2136Settings {
        server: format!("127.0.0.1:{}", stack.get("DNS_PORT")),
        key_name: stack.get("TSIG_KEY").to_string(),
        algorithm: "hmac-sha256".into(),
        secret: Secret::new(tsig.trim()),
        zone: Some("gradient.example.com.".into()),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

/// Writes a secret file (mode 0600) in the stack's directory.
pub fn secret_file(stack: &Stack, name: &str, value: &str) -> PathBuf {
    let path = stack.dir().join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

/// Runs `wildcert issue` with the stack's configuration, its `[dns.office]` table replaced
/// by `dns_table` (the provider's settings, pointed at its fake) and propagation checked at
/// the stack's BIND; asserts that the certificate was issued, that no secret was printed and
/// that no TXT value is left in BIND.
pub fn issue_through(stack: &Stack, dns_table: &str, secrets: &[&str]) -> std::process::Output {
    let config = issuance_config(stack, dns_table);
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    assert_issued(stack, out, secrets)
}

/// The stack's configuration with its `[dns.office]` table replaced by `dns_table` and
/// propagation checked at the stack's BIND, written as `provider.toml`; for a test that runs
/// `wildcert issue` its own way (e.g. with credentials in the environment).
pub fn issuance_config(stack: &Stack, dns_table: &str) -> PathBuf {
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\n{dns_table}\n\n",
        stack.get("DNS_SERVER"),
    );
    stack.write_config("provider.toml", &format!("{}{section}{}", &text[..start], &text[end..]))
}

/// Asserts what [`issue_through`] does of a finished `wildcert issue`: the certificate was
/// issued, no secret was printed and no TXT value is left in BIND.
pub fn assert_issued(stack: &Stack, out: std::process::Output, secrets: &[&str]) -> std::process::Output {
    let (stdout, stderr) = (super::stdout(&out), super::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    for secret in secrets {
        assert!(!stderr.contains(secret) && !stdout.contains(secret), "a secret was printed");
    }
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "no TXT left in BIND");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
    out
}

/// Starts the stack (no S3 server) for an issuance through a fake.
pub fn issuance_stack() -> Stack {
    tokio::task::block_in_place(|| Stack::up_with(&[("STACK_S3", "0")]))
}

/// Parses a configuration whose `[dns.installer]` table carries lego settings, as an
/// operator coming from the installer writes it, and builds the adapter from it. Returns
/// the configuration's warnings and the adapter, or the error as the operator would read it.
pub fn installer(
    provider: &str,
    settings: &str,
) -> Result<(Vec<String>, wildcert::dns::provider::Provider), String> {
    let text =
        config_with(&format!("[dns.installer]\nprovider = \"{provider}\"\nsettings = {{ {settings} }}\n"));
    let config = wildcert::config::Config::parse(std::path::Path::new("wildcert.toml"), &text)
        .map_err(|e| e.to_string())?;
    let built = wildcert::dns::provider::Provider::from_section(&config.dns["installer"], &mut Vec::new())
        .map_err(|e| e.to_string())?;
    Ok((config.warnings.clone(), built))
}

/// Asserts that a configuration's warnings include one containing `text` (e.g.
/// `"X_TTL has no effect"`), listing them all otherwise.
#[track_caller]
pub fn assert_warned(warnings: &[String], text: &str) {
    assert!(warnings.iter().any(|w| w.contains(text)), "{warnings:?}");
}

/// A private file (mode 0600) in `dir` for [`installer`] settings; returns its path.
pub fn temp_secret(dir: &std::path::Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{content}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path.display().to_string()
}
