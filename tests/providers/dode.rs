//! The Domain Offensive (do.de) adapter against a contract fake of its Let's Encrypt API,
//! built from its documentation (<https://www.do.de/wiki/freie-ssl-tls-zertifikate-ueber-acme/>,
//! <https://www.do.de/wiki/LetsEncrypt_-_Entwickler>) and lego's client of it
//! (<https://github.com/go-acme/lego/tree/master/providers/dns/dode>): `GET
//! /api/letsencrypt?token=<token>&domain=<_acme-challenge name>&value=<value>` sets the
//! name's TXT value (modelled as its only value: a second replaces the first),
//! `&action=delete` removes it; only `_acme-challenge` names of the token's account are
//! accepted; the answer is JSON `{"success": true}` or `{"success": false, "error": "..."}`
//! (HTTP 200 either way; the error text is not documented and is modelled). When
//! given a BIND, the fake applies each change to it through RFC 2136, so Pebble validates a
//! real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_dode::Dode;
use wildcert_dns_rfc2136::Rfc2136;

const TOKEN: &str = "FmD408PdqT1E269gUK57";

#[derive(Default)]
struct State {
    /// The account's domains.
    domains: Vec<String>,
    /// `_acme-challenge` name -> its one value.
    values: BTreeMap<String, String>,
}

fn failed(error: &str) -> Reply {
    Reply::json(200, json!({"success": false, "error": error}))
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.path() != "/api/letsencrypt" {
        return Reply::text(404, "text/html", "<html>Not Found</html>");
    }
    if request.param("token").as_deref() != Some(TOKEN) {
        return failed("Invalid token");
    }
    let name = request.param("domain").unwrap_or_default().to_ascii_lowercase();
    let Some(rest) = name.strip_prefix("_acme-challenge.") else {
        return failed("Only _acme-challenge records can be changed");
    };
    if !state.domains.iter().any(|d| rest == d || rest.ends_with(&format!(".{d}"))) {
        return failed("Domain not found in your account");
    }
    let fqdn = format!("{name}.");
    let mut changes = Vec::new();
    if request.param("action").as_deref() == Some("delete") {
        if let Some(old) = state.values.remove(&name) {
            changes.push(Change::remove(&fqdn, old));
        }
    } else {
        let Some(value) = request.param("value").filter(|v| !v.is_empty()) else {
            return failed("Missing value");
        };
        if let Some(old) = state.values.insert(name.clone(), value.clone()) {
            changes.push(Change::remove(&fqdn, old));
        }
        changes.push(Change::add(&fqdn, value));
    }
    Reply::json(200, json!({"success": true})).with(changes)
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .values
        .iter()
        .filter(|(n, _)| format!("{n}.").eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

fn base(api: &FakeApi<State>) -> String {
    format!("{}/api", api.url)
}

fn adapter(url: &str, token: &str) -> Dode {
    Dode::new(url, &Secret::new(token), Duration::from_secs(5)).unwrap()
}

const NAME: &str = "_acme-challenge.gradient.example.com.";

/// One value per name: a second challenge at the same name is refused with the reason, the
/// first stays; cleanup deletes only while our value is the one there. A wrong token is an
/// `Auth` error naming `token`; busy answers are retried. No token in any log line or error
/// (it travels in the query string).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dode_holds_one_value_and_says_so() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&base(&api), TOKEN);
    let read = api.reader(values);
    let (_, log) = conformance::one_value_per_name(
        &p,
        &read,
        NAME,
        Some("_acme-challenge.www.example.com."),
        "one TXT value per name",
    )
    .await;
    assert!(api.state().values.is_empty());
    assert!(!log.is_empty() && !log.contains(TOKEN), "{log}");
    assert!(api.seen().iter().any(|s| s.contains("action=delete")));
    // A name the API cannot write is refused before any call.
    let err = p.present(&conformance::record("gradient.example.com.", &None, "v")).await.unwrap_err();
    assert!(err.to_string().contains("only _acme-challenge names"), "{err}");
    conformance::auth_failure(
        &adapter(&base(&api), "not-the-token"),
        NAME,
        &None,
        "token",
        &["not-the-token".into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/api"), TOKEN),
        &api.upstream(),
        NAME,
        &None,
    )
    .await;
    // A zone of another account: the API's refusal comes back as a rejection.
    let err = p.present(&conformance::record("_acme-challenge.example.org.", &None, "v")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { .. }) && err.to_string().contains("Domain not found"),
        "{err}"
    );
}

/// The installer's settings reach the adapter.
#[test]
fn dode_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "dode"
settings = { DODE_TOKEN_FILE = "/etc/wildcert/dode.token", DODE_HTTP_TIMEOUT = "20", DODE_SEQUENCE_INTERVAL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "DODE_SEQUENCE_INTERVAL has no effect");
    let wildcert::dns::provider::ProviderConfig::Dode(cfg) = &config.dns["installer"].config else {
        panic!("not dode")
    };
    assert_eq!(cfg.timeout, Duration::from_secs(20));
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("DODE_TOKEN_FILE", "DODE_KEY"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("DODE_TOKEN"), "{err}");
}

/// `wildcert issue` of a wildcard certificate (one challenge: one value) through the fake:
/// it writes to BIND over RFC 2136, Pebble validates by asking BIND, and no TXT is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dode_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let text = stack.config_text();
    let wildcard_only =
        text.replace("\"*.gradient.example.com\", \"gradient.example.com\"", "\"*.gradient.example.com\"");
    assert_ne!(text, wildcard_only, "the stack's certificate names changed");
    stack.write_config("wildcert.toml", &wildcard_only);
    let token_file = fake_api::secret_file(&stack, "dode.token", TOKEN);
    let table = format!(
        "provider = \"dode\"\napi_url = \"{}\"\ntoken_file = \"{}\"",
        base(&api),
        token_file.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN]);
    assert!(api.state().values.is_empty(), "deleted");
    assert_eq!(api.seen().iter().filter(|s| s.contains("action=delete")).count(), 1);
}
