//! The MyDNS.JP adapter against a contract fake of its DirectEdit endpoint, built from its
//! documentation (<https://www.mydns.jp/>, DirectEdit for certbot's manual hooks) and lego's
//! client of it (<https://github.com/go-acme/lego/tree/master/providers/dns/mydnsjp>): `POST
//! /directedit.html` with HTTP basic authentication (master ID and password; anything else is
//! answered 401) and a form body `CERTBOT_DOMAIN=<domain>&CERTBOT_VALIDATION=<value>&EDIT_CMD=
//! REGIST|DELETE`; `REGIST` adds the value at `_acme-challenge.<domain>`, `DELETE` removes
//! that value. The documentation gives no error body; the fake answers a domain the master ID
//! does not hold with 400 and a short text. When given a BIND, the fake applies each change to
//! it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, query_pairs};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_mydnsjp::MyDnsJp;
use wildcert_dns_rfc2136::Rfc2136;

const MASTER_ID: &str = "mydns123456";
const PASSWORD: &str = "mdj-Pa55-7f3e1c";

#[derive(Default)]
struct State {
    /// The master ID's domains.
    domains: Vec<String>,
    /// `_acme-challenge.<domain>` -> its values.
    values: BTreeMap<String, Vec<String>>,
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.path() != "/directedit.html" {
        return Reply::text(404, "text/html", "<html>404 Not Found</html>");
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{MASTER_ID}:{PASSWORD}"))
    );
    if request.header("authorization") != Some(expected.as_str()) {
        return Reply::text(401, "text/html", "<html>401 Authorization Required</html>")
            .header("WWW-Authenticate", "Basic realm=\"MyDNS.JP\"");
    }
    if request.method != "POST" {
        return Reply::text(405, "text/html", "<html>405</html>");
    }
    let form: BTreeMap<String, String> = query_pairs(&request.body).into_iter().collect();
    let (Some(domain), Some(value), Some(command)) =
        (form.get("CERTBOT_DOMAIN"), form.get("CERTBOT_VALIDATION"), form.get("EDIT_CMD"))
    else {
        return Reply::text(400, "text/plain", "ERROR: parameters missing");
    };
    let domain = domain.to_ascii_lowercase();
    if !state.domains.iter().any(|d| domain == *d || domain.ends_with(&format!(".{d}"))) {
        return Reply::text(400, "text/plain", format!("ERROR: {domain} is not a domain of this master ID"));
    }
    let name = format!("_acme-challenge.{domain}");
    let fqdn = format!("{name}.");
    let values = state.values.entry(name).or_default();
    let mut changes = Vec::new();
    match command.as_str() {
        "REGIST" => {
            if !values.contains(value) {
                values.push(value.clone());
                changes.push(Change::add(&fqdn, value));
            }
        }
        "DELETE" => {
            if let Some(at) = values.iter().position(|v| v == value) {
                values.remove(at);
                changes.push(Change::remove(&fqdn, value));
            }
        }
        _ => return Reply::text(400, "text/plain", "ERROR: EDIT_CMD must be REGIST or DELETE"),
    }
    Reply::text(200, "text/html", "<html>OK.</html>").with(changes)
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
        .flat_map(|(_, v)| v.clone())
        .collect()
}

fn base(api: &FakeApi<State>) -> String {
    format!("{}/directedit.html", api.url)
}

fn adapter(url: &str, password: &str) -> MyDnsJp {
    MyDnsJp::new(url, MASTER_ID, &Secret::new(password), Duration::from_secs(5)).unwrap()
}

const NAME: &str = "_acme-challenge.gradient.example.jp.";

/// The conformance suite against the contract fake; refused credentials, busy answers, and
/// names DirectEdit cannot write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mydnsjp_conformance() {
    let api = fake(&["example.jp"], None).await;
    api.state()
        .values
        .insert("_acme-challenge.gradient.example.jp".into(), vec!["someone-elses-value".into()]);
    let subject = conformance::Subject {
        provider: adapter(&base(&api), PASSWORD),
        fqdn: NAME.to_string(),
        zone: None,
        read: api.reader(values),
        secrets: vec![PASSWORD.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(values(&api.state(), NAME), ["someone-elses-value"], "another value changed");
    assert!(api.seen().iter().all(|s| s == "POST /directedit.html"), "{:?}", api.seen());
    conformance::auth_failure(
        &adapter(&base(&api), "wrong-password"),
        NAME,
        &None,
        "password",
        &["wrong-password".into(), PASSWORD.into()],
    )
    .await;
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/directedit.html"), PASSWORD),
        &api.upstream(),
        NAME,
        &None,
    )
    .await;
    let p = adapter(&base(&api), PASSWORD);
    let err = p.present(&conformance::record("gradient.example.jp.", &None, "v")).await.unwrap_err();
    assert!(err.to_string().contains("only _acme-challenge"), "{err}");
    let err = p.present(&conformance::record("_acme-challenge.example.org.", &None, "v")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { .. }) && err.to_string().contains("not a domain"),
        "{err}"
    );
}

/// The installer's settings reach the adapter.
#[test]
fn mydnsjp_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "mydnsjp"
settings = { MYDNSJP_MASTER_ID = "mydns123456", MYDNSJP_PASSWORD_FILE = "/etc/wildcert/mydnsjp.password", MYDNSJP_POLLING_INTERVAL = "2" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "MYDNSJP_POLLING_INTERVAL has no effect");
    let wildcert::dns::provider::ProviderConfig::MyDnsJp(cfg) = &config.dns["installer"].config else {
        panic!("not mydnsjp")
    };
    assert_eq!(cfg.master_id.as_deref(), Some("mydns123456"));
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("MYDNSJP_MASTER_ID = \"mydns123456\", ", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("master_id"), "{err}");
}

/// `wildcert issue` (wildcard and apex: two values at one name) through the fake: it writes to
/// BIND over RFC 2136, Pebble validates by asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mydnsjp_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let password_file = fake_api::secret_file(&stack, "mydnsjp.password", PASSWORD);
    let table = format!(
        "provider = \"mydnsjp\"\napi_url = \"{}\"\nmaster_id = \"{MASTER_ID}\"\npassword_file = \"{}\"",
        base(&api),
        password_file.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD]);
    assert!(api.state().values.values().all(Vec::is_empty));
    assert_eq!(api.seen().iter().filter(|s| *s == "POST /directedit.html").count(), 4);
}
