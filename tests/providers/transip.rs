//! The TransIP adapter against a contract fake of the TransIP REST API v6, built from its
//! documentation (<https://api.transip.nl/rest/docs.html>: Authentication; Domains > DNS).
//!
//! `POST /v6/auth` takes `{"login", "nonce", "read_only", "expiration_time", "label",
//! "global_key"}` and a `Signature` header, the base64 RSA (PKCS#1 v1.5, SHA-512) signature
//! of the body by the account's key, checked here against the key pair's public half; a
//! reused nonce or a bad signature gets 401 `{"error"}`, a good login 201 `{"token"}`. Every
//! other call needs `Authorization: Bearer <token>` (401 otherwise). `GET
//! /v6/domains/{domain}` answers the domain or 404; `GET /v6/domains/{domain}/dns` lists
//! `{"dnsEntries": [{"name", "expire", "type", "content"}]}` (names relative, `@` at the
//! apex); `POST` adds the body's `dnsEntry` (201); `DELETE` removes the entry equal to the
//! body's `dnsEntry` (204, or 404). When given a BIND, the fake applies every change to it
//! through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret};
use wildcert_dns_rfc2136::Rfc2136;
use wildcert_dns_transip::Transip;

const LOGIN: &str = "gradient-ops";

struct State {
    /// PKCS#1 DER of the key pair's public key.
    public_key: Vec<u8>,
    nonces: HashSet<String>,
    tokens: HashSet<String>,
    domains: Vec<String>,
    /// (domain, entry)
    entries: Vec<(String, Value)>,
    next: u64,
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({"error": message}))
}

fn login(state: &mut State, request: &HttpRequest) -> Reply {
    let signature = request
        .header("signature")
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .unwrap_or_default();
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA512,
        &state.public_key,
    );
    if key.verify(request.body.as_bytes(), &signature).is_err() {
        return error(401, "Signature is invalid");
    }
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    if body["login"] != LOGIN {
        return error(401, "Login is invalid");
    }
    let nonce = body["nonce"].as_str().unwrap_or_default();
    if nonce.is_empty() || nonce.len() > 32 || !state.nonces.insert(nonce.to_string()) {
        return error(401, "Nonce is invalid or has been used before");
    }
    if !body["label"].is_string() || !body["expiration_time"].is_string() || body["read_only"] != false {
        return error(400, "label, expiration_time and read_only are required");
    }
    state.next += 1;
    let token = format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhcGkudHJhbnNpcC5ubCIsImp0aSI6I{}.c2ln",
        state.next
    );
    state.tokens.insert(token.clone());
    Reply::json(201, json!({"token": token}))
}

fn fqdn(domain: &str, entry: &Value) -> String {
    match entry["name"].as_str().unwrap_or_default() {
        "@" => format!("{domain}."),
        name => format!("{name}.{domain}."),
    }
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.method == "POST" && request.path() == "/v6/auth" {
        return login(state, request);
    }
    let bearer = request.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
    if !state.tokens.contains(bearer) {
        return error(401, "Your access token has been revoked.");
    }
    let segments = request.segments();
    let known = |d: &str| state.domains.iter().any(|x| x == d);
    match (request.method.as_str(), segments.as_slice()) {
        (_, ["v6", "domains", domain, ..]) if !known(domain) => {
            error(404, &format!("Domain with name '{domain}' not found"))
        }
        ("GET", ["v6", "domains", domain]) => Reply::json(
            200,
            json!({"domain": {"name": domain, "authCode": "kJqfuOXNOYQKqh/jO4bYSn54YDqgAt1ksCe+ZG4Ud8nC8a8ut7S9EDE=", "isTransferLocked": false}}),
        ),
        ("GET", ["v6", "domains", domain, "dns"]) => Reply::json(
            200,
            json!({"dnsEntries": state.entries.iter().filter(|(d, _)| d == domain).map(|(_, e)| e.clone()).collect::<Vec<_>>()}),
        ),
        (method @ ("POST" | "DELETE"), ["v6", "domains", domain, "dns"]) => {
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let entry = &body["dnsEntry"];
            let valid = entry["name"].as_str().is_some_and(|n| !n.is_empty() && !n.ends_with('.'))
                && entry["expire"].as_u64().is_some_and(|e| e >= 60)
                && entry["type"].is_string()
                && entry["content"].is_string();
            if !valid {
                return error(406, "dnsEntry needs name (relative), expire (at least 60), type and content");
            }
            let domain = domain.to_string();
            if method == "POST" {
                let change = Change::add(fqdn(&domain, entry), entry["content"].as_str().unwrap());
                state.entries.push((domain, entry.clone()));
                return Reply::json(201, Value::Null).with([change]);
            }
            let Some(at) = state.entries.iter().position(|(d, e)| *d == domain && e == entry) else {
                return error(404, "Dns entry not found");
            };
            let (_, gone) = state.entries.remove(at);
            Reply::json(204, Value::Null)
                .with([Change::remove(fqdn(&domain, &gone), gone["content"].as_str().unwrap())])
        }
        _ => error(404, "Not found"),
    }
}

/// A key pair as TransIP hands it out (PKCS#8 PEM) and its public half (PKCS#1 DER).
fn key_pair(dir: &Path) -> (PathBuf, Vec<u8>) {
    let pem = dir.join("transip.key");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pem.to_str().unwrap()]);
    std::fs::set_permissions(&pem, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let public = run(&["rsa", "-in", pem.to_str().unwrap(), "-RSAPublicKey_out", "-outform", "DER"]);
    (pem, public)
}

async fn fake(public_key: Vec<u8>, domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        public_key,
        nonces: HashSet::new(),
        tokens: HashSet::new(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        entries: Vec::new(),
        next: 0,
    };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .entries
        .iter()
        .filter(|(d, e)| e["type"] == "TXT" && fqdn(d, e).eq_ignore_ascii_case(name))
        .map(|(_, e)| e["content"].as_str().unwrap().to_string())
        .collect()
}

fn adapter(url: &str, pem: &Secret) -> Transip {
    Transip::new(&format!("{url}/v6"), LOGIN, pem, Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake: other entries survive, one login serves
/// many calls, and a revoked token is replaced once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transip_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let (pem_path, public) = key_pair(dir.path());
    let pem = Secret::new(std::fs::read_to_string(&pem_path).unwrap());
    let api = fake(public, &["example.org", "example.com"], None).await;
    let others = vec![
        (
            "example.com".to_string(),
            json!({"name": "_acme-challenge.gradient", "expire": 300, "type": "TXT", "content": "someone-elses-value"}),
        ),
        (
            "example.com".to_string(),
            json!({"name": "@", "expire": 86400, "type": "A", "content": "198.51.100.4"}),
        ),
    ];
    api.state().entries = others.clone();
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let key_line = pem.expose().lines().nth(5).unwrap().to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, &pem),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![key_line.clone()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().entries, others, "another entry changed");
    let logins = api.seen().iter().filter(|s| *s == "POST /v6/auth").count();
    assert_eq!(logins, 1, "one token serves every call");
    api.state().tokens.clear();
    let r = conformance::record(&fqdn, &None, "after-revocation");
    subject.provider.present(&r).await.unwrap();
    subject.provider.cleanup(&r).await.unwrap();
    assert_eq!(api.seen().iter().filter(|s| *s == "POST /v6/auth").count(), 2);

    // Another account's key: refused, naming the settings.
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let (other_pem, _) = key_pair(&other_dir);
    let other = Secret::new(std::fs::read_to_string(&other_pem).unwrap());
    conformance::auth_failure(
        &adapter(&api.url, &other),
        &fqdn,
        &None,
        "private_key_path",
        std::slice::from_ref(&key_line),
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, &pem), &api.upstream(), &fqdn, &None).await;
}

/// The installer's settings reach the adapter.
#[test]
fn transip_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "transip"
settings = { TRANSIP_ACCOUNT_NAME = "gradient-ops", TRANSIP_PRIVATE_KEY_PATH = "/etc/wildcert/transip.key", TRANSIP_TTL = "60" }
"#,
    );
    let config = Config::parse(Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "TRANSIP_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Transip(cfg) = &config.dns["installer"].config else {
        panic!("not transip")
    };
    assert_eq!(cfg.account_name, "gradient-ops");
    assert_eq!(cfg.private_key_path, Path::new("/etc/wildcert/transip.key"));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transip_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let (pem_path, public) = key_pair(stack.dir());
    let api = fake(public, &["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let pem = std::fs::read_to_string(&pem_path).unwrap();
    let table = format!(
        "provider = \"transip\"\napi_url = \"{}/v6\"\naccount_name = \"{LOGIN}\"\nprivate_key_path = \"{}\"",
        api.url,
        pem_path.display()
    );
    fake_api::issue_through(&stack, &table, &[pem.lines().nth(5).unwrap()]);
    assert!(api.state().entries.is_empty());
}
