//! The Duck DNS adapter against a contract fake of the Duck DNS API, built from its
//! specification (<https://www.duckdns.org/spec.jsp>): `GET
//! /update?domains={a,b}&token={token}&txt={value}[&clear=true][&verbose=true]` answering
//! `OK` (verbose: with the addresses and `UPDATED`/`NOCHANGE`) or `KO` (a wrong token or a
//! domain of another account), always HTTP 200 and plain text; one TXT value per domain,
//! served at the domain and every name below it. When given a BIND, the fake serves each
//! domain's value there (at `_acme-challenge.<domain>.<suffix>`) through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret};
use wildcert_dns_duckdns::DuckDns;
use wildcert_dns_rfc2136::Rfc2136;

const TOKEN: &str = "a7c4d0ad-114e-40ef-ba1d-d217904a50f2";

#[derive(Default)]
struct State {
    /// Duck DNS domain -> its TXT value.
    domains: BTreeMap<String, Option<String>>,
    /// What stands in for `duckdns.org` in the names the fake serves.
    suffix: String,
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.path() != "/update" {
        return Reply::text(404, "text/html", "<html>404</html>");
    }
    let ko = Reply::text(200, "text/plain", "KO");
    if request.param("token").as_deref() != Some(TOKEN) {
        return ko;
    }
    let names: Vec<String> = request
        .param("domains")
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().trim_end_matches(".duckdns.org").to_string())
        .collect();
    if names.iter().any(|d| !state.domains.contains_key(d)) {
        return ko;
    }
    let clear = request.param("clear").as_deref() == Some("true");
    let txt = request.param("txt").unwrap_or_default();
    let mut changes = Vec::new();
    for name in names {
        let at = format!("_acme-challenge.{name}.{}.", state.suffix);
        let slot = state.domains.get_mut(&name).unwrap();
        if let Some(old) = slot.take() {
            changes.push(Change::remove(&at, old));
        }
        if !clear {
            changes.push(Change::add(&at, &txt));
            *slot = Some(txt.clone());
        }
    }
    let verbose = request.param("verbose").as_deref() == Some("true");
    Reply::text(200, "text/plain", if verbose { "OK\n198.51.100.4\n\nUPDATED" } else { "OK" }).with(changes)
}

async fn fake(domains: &[&str], suffix: &str, bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().map(|d| (d.to_string(), None)).collect(),
        suffix: suffix.to_string(),
    };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .domains
        .iter()
        .filter(|(d, _)| format!("_acme-challenge.{d}.{}.", state.suffix).eq_ignore_ascii_case(name))
        .filter_map(|(_, v)| v.clone())
        .collect()
}

fn adapter(url: &str, token: &str) -> DuckDns {
    DuckDns::new(url, &Secret::new(token), None, Duration::from_secs(5)).unwrap()
}

const NAME: &str = "_acme-challenge.gradient.duckdns.org.";

/// One value per domain: a second challenge at the same name is refused with the reason,
/// the first stays; cleanup clears only what this process wrote. No token in any log line
/// or error (it travels in the query string).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdns_holds_one_value_and_says_so() {
    let api = fake(&["gradient"], "duckdns.org", None).await;
    let p = adapter(&api.url, TOKEN);
    let read = api.reader(values);
    let (text, log) =
        conformance::one_value_per_name(&p, &read, NAME, None, "one TXT value per domain").await;
    assert!(!text.contains(TOKEN));
    assert!(!log.is_empty() && !log.contains(TOKEN), "{log}");
    assert!(api.seen().iter().any(|s| s.contains("clear=true")));
    conformance::auth_failure(
        &adapter(&api.url, "not-the-token"),
        NAME,
        &None,
        "token",
        &["not-the-token".into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, TOKEN), &api.upstream(), NAME, &None).await;
    // A name outside duckdns.org needs the domain setting.
    let err = p.present(&conformance::record("_acme-challenge.example.com.", &None, "v")).await.unwrap_err();
    assert!(err.to_string().contains("set domain"), "{err}");
}

/// The installer's settings reach the adapter.
#[test]
fn duckdns_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "duckdns"
settings = { DUCKDNS_TOKEN_FILE = "/etc/wildcert/duckdns.token", DUCKDNS_SEQUENCE_INTERVAL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "DUCKDNS_SEQUENCE_INTERVAL has no effect");
    assert!(matches!(config.dns["installer"].config, wildcert::dns::provider::ProviderConfig::DuckDns(_)));
    let err =
        Config::parse(std::path::Path::new("w.toml"), &text.replace("DUCKDNS_TOKEN_FILE", "DUCK_TOKEN"))
            .unwrap_err()
            .to_string();
    assert!(err.contains("DUCKDNS_TOKEN"), "{err}");
}

/// `wildcert issue` of a wildcard certificate (one challenge: one value) through the fake:
/// it serves the value from BIND, Pebble validates, and the value is cleared afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdns_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient"], "example.com", Some(fake_api::bind_mirror(&stack))).await;
    let text = stack.config_text();
    let wildcard_only =
        text.replace("\"*.gradient.example.com\", \"gradient.example.com\"", "\"*.gradient.example.com\"");
    assert_ne!(text, wildcard_only, "the stack's certificate names changed");
    stack.write_config("wildcert.toml", &wildcard_only);
    let token_file = fake_api::secret_file(&stack, "duckdns.token", TOKEN);
    let table = format!(
        "provider = \"duckdns\"\napi_url = \"{}\"\ntoken_file = \"{}\"\ndomain = \"gradient\"",
        api.url,
        token_file.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN]);
    assert_eq!(api.state().domains["gradient"], None, "cleared");
    assert_eq!(api.seen().iter().filter(|s| s.contains("clear=true")).count(), 1);
}
