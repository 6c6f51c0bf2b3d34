//! The INWX adapter against a contract fake of the INWX DomRobot JSON-RPC API, built from its
//! documentation (<https://www.inwx.com/en/help/apidoc>): `POST /jsonrpc/` with `{"method",
//! "params"}` answering `{"code", "msg", "resData"}` (1000 success, 2002 command use error
//! without a session, 2200 authentication error, 2303 object does not exist, 2005 a value out
//! of range); `account.login` (`user`, `pass`) sets the `domrobot` session cookie and answers
//! `resData.tfa` (`"0"`, or `"GOOGLE-AUTH"` when the session must be unlocked with
//! `account.unlock` and a six-digit `tan`); `nameserver.info` (`domain`, `name`, `type`)
//! lists `resData.record` `[{"id", "name", "type", "content", "ttl", "prio"}]`;
//! `nameserver.createRecord` (`domain`, `name`, `type`, `content`, `ttl` from 300) answers
//! `resData.id`; `nameserver.deleteRecord` (`id`). When given a BIND, the fake applies each
//! TXT change to it through RFC 2136, so Pebble validates a real issuance through this
//! adapter.

use crate::conformance;
use crate::support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_inwx::Inwx;
use wildcert_dns_rfc2136::Rfc2136;

const USER: &str = "gradient-ops";
const PASSWORD: &str = "inwx-pa55w0rd-7f3";
/// The base32 shared secret (RFC 6238's test key).
const SHARED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain: String,
    name: String,
    content: String,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
    two_factor: bool,
    /// Session cookies and whether each is unlocked.
    sessions: Vec<(String, bool)>,
    logins: u32,
}

fn answer(code: u64, msg: &str, data: Value) -> Reply {
    Reply::json(200, json!({"code": code, "msg": msg, "resData": data}))
}

fn tan_now(skew: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 + skew * 30;
    let key = wildcert_dns_inwx::totp::base32(SHARED).unwrap();
    wildcert_dns_inwx::totp::totp(&key, now as u64, 6)
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.path() != "/jsonrpc/" {
        return Reply::text(404, "text/html", "not found");
    }
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let params = &body["params"];
    let cookie = request
        .header("cookie")
        .and_then(|c| c.split(';').map(str::trim).find(|c| c.starts_with("domrobot=")));
    let session = cookie.and_then(|c| state.sessions.iter().position(|(s, _)| s == c));
    match body["method"].as_str().unwrap_or_default() {
        "account.login" => {
            if params["user"] != USER || params["pass"] != PASSWORD {
                return answer(2200, "Authentication error", Value::Null);
            }
            state.logins += 1;
            let cookie = format!("domrobot=s{:08}", state.logins);
            state.sessions.push((cookie.clone(), !state.two_factor));
            let tfa = if state.two_factor { "GOOGLE-AUTH" } else { "0" };
            answer(
                1000,
                "Command completed successfully",
                json!({"customerId": 1, "accountId": 1, "tfa": tfa}),
            )
            .header("Set-Cookie", format!("{cookie}; path=/; HttpOnly"))
        }
        "account.unlock" => {
            let Some(i) = session else { return answer(2002, "Command use error", Value::Null) };
            let tan = params["tan"].as_str().unwrap_or_default();
            if ![-1, 0, 1].iter().any(|skew| tan_now(*skew) == tan) {
                return answer(2200, "Authentication error", Value::Null);
            }
            state.sessions[i].1 = true;
            answer(1000, "Command completed successfully", Value::Null)
        }
        method => {
            if !session.is_some_and(|i| state.sessions[i].1) {
                return answer(2002, "Command use error", Value::Null);
            }
            let domain = params["domain"].as_str().unwrap_or_default().to_string();
            match method {
                "nameserver.info" => {
                    if !state.domains.contains(&domain) {
                        return answer(2303, "Object does not exist", Value::Null);
                    }
                    let records: Vec<Value> = state
                        .records
                        .iter()
                        .filter(|r| r.domain == domain)
                        .filter(|r| params["name"].as_str().is_none_or(|n| n == r.name))
                        .map(|r| json!({"id": r.id, "name": r.name, "type": "TXT", "content": r.content, "ttl": 300, "prio": 0}))
                        .collect();
                    answer(
                        1000,
                        "Command completed successfully",
                        json!({"roId": 9, "domain": domain, "type": "MASTER", "count": records.len(), "record": records}),
                    )
                }
                "nameserver.createRecord" => {
                    if !state.domains.contains(&domain) {
                        return answer(2303, "Object does not exist", Value::Null);
                    }
                    let name = params["name"].as_str().unwrap_or_default().to_string();
                    if params["type"] != "TXT" || !(name == domain || name.ends_with(&format!(".{domain}"))) {
                        return answer(2005, "Parameter value syntax error", Value::Null);
                    }
                    if params["ttl"].as_u64().is_none_or(|t| t < 300) {
                        return answer(2004, "Parameter value range error", Value::Null);
                    }
                    state.next_id += 1;
                    let content = params["content"].as_str().unwrap_or_default().to_string();
                    state.records.push(Record {
                        id: state.next_id,
                        domain,
                        name: name.clone(),
                        content: content.clone(),
                    });
                    answer(1000, "Command completed successfully", json!({"id": state.next_id}))
                        .with([Change::add(format!("{name}."), content)])
                }
                "nameserver.deleteRecord" => {
                    let id = params["id"].as_u64().unwrap_or(0);
                    match state.records.iter().position(|r| r.id == id) {
                        Some(i) => {
                            let r = state.records.remove(i);
                            answer(1000, "Command completed successfully", Value::Null)
                                .with([Change::remove(format!("{}.", r.name), r.content)])
                        }
                        None => answer(2303, "Object does not exist", Value::Null),
                    }
                }
                _ => answer(2000, "Unknown command", Value::Null),
            }
        }
    }
}

async fn fake(domains: &[&str], two_factor: bool, bind: Option<Rfc2136>) -> FakeApi<State> {
    let state =
        State { domains: domains.iter().map(|d| d.to_string()).collect(), two_factor, ..Default::default() };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| format!("{}.", r.name).eq_ignore_ascii_case(name))
        .map(|r| r.content.clone())
        .collect()
}

fn base(api: &FakeApi<State>) -> String {
    format!("{}/jsonrpc/", api.url)
}

fn adapter(url: &str, password: &str, shared: Option<&str>) -> Inwx {
    let shared = shared.map(Secret::new);
    Inwx::new(url, USER, &Secret::new(password), shared.as_ref(), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake with two-factor authentication: one
/// login and one unlock for all calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inwx_conformance_with_two_factor() {
    let api = fake(&["example.com"], true, None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&base(&api), PASSWORD, Some(SHARED)),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![PASSWORD.into(), SHARED.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().logins, 1, "one session for every call");
    assert!(api.state().sessions[0].1, "the session was unlocked");
    conformance::auth_failure(
        &adapter(&base(&api), "wrong-pa55", Some(SHARED)),
        &fqdn,
        &None,
        "password",
        &["wrong-pa55".into(), PASSWORD.into(), SHARED.into()],
    )
    .await;
    // A wrong shared secret fails the unlock, naming the setting.
    let err = adapter(&base(&api), PASSWORD, Some("MFRGGZDFMZTWQ2LK"))
        .present(&conformance::record(&fqdn, &None, "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("shared_secret"), "{err}");
    // Without the shared secret, the message says it is needed.
    let err = adapter(&base(&api), PASSWORD, None)
        .present(&conformance::record(&fqdn, &None, "v"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("two-factor") && err.to_string().contains("INWX_SHARED_SECRET"),
        "{err}"
    );
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/jsonrpc/"), PASSWORD, Some(SHARED)),
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// An ended session is replaced by a new login, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inwx_logs_in_again_when_the_session_ends() {
    let api = fake(&["example.com"], false, None).await;
    let p = adapter(&base(&api), PASSWORD, None);
    let record = conformance::record("_acme-challenge.example.com.", &None, "v1");
    p.present(&record).await.unwrap();
    api.state().sessions.clear();
    p.cleanup(&record).await.unwrap();
    assert_eq!(api.state().logins, 2);
    assert!(api.state().records.is_empty());
}

/// The installer's settings reach the adapter.
#[test]
fn inwx_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "inwx"
settings = { INWX_USERNAME = "gradient-ops", INWX_PASSWORD_FILE = "/etc/wildcert/inwx.password", INWX_SHARED_SECRET_FILE = "/etc/wildcert/inwx.2fa", INWX_SANDBOX = "true", INWX_TTL = "300" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "INWX_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Inwx(cfg) = &config.dns["installer"].config else {
        panic!("not inwx")
    };
    assert_eq!(cfg.api_url(), wildcert_dns_inwx::SANDBOX_API_URL);
    assert!(cfg.shared_secret.is_some());
}

/// `wildcert issue` through the fake with two-factor authentication: it writes to BIND over
/// RFC 2136, Pebble validates by asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inwx_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], true, Some(fake_api::bind_mirror(&stack))).await;
    let password_file = fake_api::secret_file(&stack, "inwx.password", PASSWORD);
    let shared_file = fake_api::secret_file(&stack, "inwx.2fa", SHARED);
    let table = format!(
        "provider = \"inwx\"\napi_url = \"{}\"\nusername = \"{USER}\"\npassword_file = \"{}\"\nshared_secret_file = \"{}\"",
        base(&api),
        password_file.display(),
        shared_file.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD, SHARED]);
    assert!(api.state().records.is_empty());
}
