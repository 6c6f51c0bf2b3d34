//! The acme-dns adapter against a contract fake of the acme-dns server, built from its
//! documented API (<https://github.com/joohoi/acme-dns#api>): `POST /register` (optional
//! `{"allowfrom": [...]}`) answering 201 `{"username", "password", "fulldomain",
//! "subdomain", "allowfrom"}`; `POST /update` with `X-Api-User` and `X-Api-Key` and
//! `{"subdomain", "txt"}` (exactly 43 characters, else 400 `{"error": "bad_txt"}`; wrong
//! credentials or another account's subdomain 401 `{"error": "forbidden"}`) answering 200
//! `{"txt"}`; the server keeps the two latest values of a subdomain. When given a BIND, the
//! fake serves each subdomain's values there through RFC 2136, so Pebble validates a real
//! issuance through the CNAME the operator creates.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_acmedns::AcmeDns;
use wildcert_dns_api::{DnsProvider, ProviderError, TxtRecord};
use wildcert_dns_rfc2136::Rfc2136;

/// The zone the fake acme-dns serves (inside the test BIND's zone).
const ZONE: &str = "acme.gradient.example.com";

#[derive(Default)]
struct State {
    /// username -> (password, subdomain).
    accounts: BTreeMap<String, (String, String)>,
    /// subdomain -> the latest values, oldest first (at most two).
    txt: BTreeMap<String, Vec<String>>,
    registered: u32,
}

fn forbidden() -> Reply {
    Reply::json(401, json!({"error": "forbidden"}))
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    match (request.method.as_str(), request.path()) {
        ("POST", "/register") => {
            state.registered += 1;
            let n = state.registered;
            let (username, password) = (
                format!("c36f50e8-0000-44f0-83fe-{n:012}"),
                format!("htB9mR9DYgcu9bX_afHF62erXaH2TS7bg9KW{n:04}"),
            );
            let subdomain = format!("8e5700ea-a4bf-41c7-8a77-{n:012}");
            let allowfrom = serde_json::from_str::<Value>(&request.body).ok().map(|b| b["allowfrom"].clone());
            state.accounts.insert(username.clone(), (password.clone(), subdomain.clone()));
            Reply::json(
                201,
                json!({"username": username, "password": password, "fulldomain": format!("{subdomain}.{ZONE}"), "subdomain": subdomain, "allowfrom": allowfrom.filter(|a| a.is_array()).unwrap_or(json!([]))}),
            )
        }
        ("POST", "/update") => {
            let user = request.header("x-api-user").unwrap_or_default();
            let Some((password, subdomain)) = state.accounts.get(user).cloned() else { return forbidden() };
            if request.header("x-api-key") != Some(password.as_str()) {
                return forbidden();
            }
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            if body["subdomain"].as_str() != Some(subdomain.as_str()) {
                return forbidden();
            }
            let Some(txt) = body["txt"].as_str().filter(|t| t.len() == 43) else {
                return Reply::json(400, json!({"error": "bad_txt"}));
            };
            let fqdn = format!("{subdomain}.{ZONE}.");
            let values = state.txt.entry(subdomain).or_default();
            let mut changes = vec![Change::add(&fqdn, txt)];
            values.push(txt.to_string());
            if values.len() > 2 {
                changes.push(Change::remove(&fqdn, values.remove(0)));
            }
            Reply::json(200, json!({"txt": txt})).with(changes)
        }
        _ => Reply::json(404, json!({"error": "not found"})),
    }
}

async fn fake(bind: Option<Rfc2136>) -> FakeApi<State> {
    FakeApi::start(State::default(), bind, route).await
}

/// A value of the length acme-dns insists on (a base64url SHA-256 digest).
fn value(tag: char) -> String {
    format!("{}", tag).repeat(43)
}

fn record(fqdn: &str, zone: Option<&str>, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: zone.map(Into::into), value: value.into(), ttl: 60, raw: None }
}

/// First use registers once, keeps the account 0600 and asks for the CNAME; once the name
/// is delegated, the apex's and the wildcard's values both stand; cleanup is a no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acmedns_registers_once_then_updates() {
    let api = fake(None).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("state/acme-dns.json");
    let p =
        AcmeDns::new(&api.url, storage.clone(), vec!["192.0.2.0/24".into()], Duration::from_secs(5)).unwrap();
    let captured = conformance::Captured::default();
    let undelegated = record("_acme-challenge.example.com.", Some("example.com."), &value('a'));
    let err = conformance::traced(&captured, p.present(&undelegated)).await.unwrap_err().to_string();
    assert!(err.contains("_acme-challenge.example.com. CNAME 8e5700ea-"), "{err}");
    assert!(err.contains(ZONE), "{err}");
    assert_eq!(std::fs::metadata(&storage).unwrap().permissions().mode() & 0o777, 0o600);
    let accounts = wildcert_dns_acmedns::load(&storage).unwrap();
    let account = accounts["example.com"].clone();
    assert_eq!(account.allowfrom, ["192.0.2.0/24"]);
    // Still not delegated: the same account, no second registration.
    assert!(p.present(&undelegated).await.is_err());
    assert_eq!(api.state().registered, 1);

    // wildcert hands over the CNAME's target once it exists.
    let target = format!("{}.", account.fulldomain);
    for tag in ['a', 'w', 'x'] {
        let r = record(&target, Some(&format!("{ZONE}.")), &value(tag));
        conformance::traced(&captured, p.present(&r)).await.unwrap();
        conformance::traced(&captured, p.cleanup(&r)).await.unwrap();
    }
    assert_eq!(api.state().txt[&account.subdomain], [value('w'), value('x')], "the two latest values");
    assert_eq!(api.state().registered, 1);
    let log = captured.text();
    assert!(log.contains("create the CNAME") && !log.contains(&account.password), "{log}");
    assert!(!err.contains(&account.password));
}

/// Refused stored credentials are an authentication error that names the stored account,
/// never the password; busy answers are retried, and a server that stays busy is transient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acmedns_auth_failure_and_retries() {
    let api = fake(None).await;
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("acme-dns.json");
    let p = AcmeDns::new(&api.url, storage.clone(), vec![], Duration::from_secs(5)).unwrap();
    let _ = p.present(&record("_acme-challenge.example.com.", Some("example.com."), &value('a'))).await;
    let mut accounts = wildcert_dns_acmedns::load(&storage).unwrap();
    let account = accounts["example.com"].clone();
    let target = format!("{}.", account.fulldomain);

    let through = |url: &str| AcmeDns::new(url, storage.clone(), vec![], Duration::from_secs(5)).unwrap();
    for status in [429u16, 503] {
        let proxy = conformance::FaultProxy::start(api.upstream(), 2, status).await;
        through(&proxy.url).present(&record(&target, None, &value('b'))).await.unwrap();
        let stuck = conformance::FaultProxy::start(api.upstream(), u32::MAX, status).await;
        let err = through(&stuck.url).present(&record(&target, None, &value('b'))).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
    }

    accounts.get_mut("example.com").unwrap().password = "stolen-or-stale-password-0000000000".into();
    wildcert_dns_acmedns::save(&storage, &accounts).unwrap();
    conformance::auth_failure(
        &p,
        &target,
        &None,
        "acme-dns account of example.com",
        &["stolen-or-stale-password-0000000000".into(), account.password.clone()],
    )
    .await;
    let err = p.present(&record(&target, None, &value('c'))).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("remove its entry"),
        "{err}"
    );
}

/// The installer's settings reach the adapter.
#[test]
fn acmedns_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "acme-dns"
settings = { ACME_DNS_API_BASE = "https://auth.acme-dns.io", ACME_DNS_STORAGE_PATH = "/var/lib/wildcert/acme-dns.json", ACME_DNS_ALLOWLIST = "192.0.2.0/24, 2001:db8::/32" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    let wildcert::dns::provider::ProviderConfig::AcmeDns(cfg) = &config.dns["installer"].config else {
        panic!("not acme-dns")
    };
    assert_eq!(cfg.allowlist.0, ["192.0.2.0/24", "2001:db8::/32"]);
    assert_eq!(cfg.api_url.as_deref(), Some("https://auth.acme-dns.io"));
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("192.0.2.0/24", "office"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("allowlist"), "{err}");
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("ACME_DNS_API_BASE = \"https://auth.acme-dns.io\", ", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("api_url") && err.contains("ACME_DNS_API_BASE"), "{err}");
}

/// `wildcert issue` through the fake: the first run registers and names the CNAME to
/// create; once it exists, Pebble validates through it at the acme-dns values in BIND.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acmedns_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(Some(fake_api::bind_mirror(&stack))).await;
    let storage = stack.dir().join("state/acme-dns.json");
    let table = format!(
        "provider = \"acme-dns\"\napi_url = \"{}\"\nstorage_path = \"{}\"",
        api.url,
        storage.display()
    );
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\n{table}\n\n",
        stack.get("DNS_SERVER")
    );
    let config = stack.write_config("acme-dns.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let first = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let said = format!("{}{}", support::stdout(&first), support::stderr(&first));
    assert!(!first.status.success(), "{said}");
    assert!(said.contains("_acme-challenge.gradient.example.com. CNAME"), "{said}");
    let account = wildcert_dns_acmedns::load(&storage).unwrap()["gradient.example.com"].clone();
    assert!(!said.contains(&account.password));

    stack.nsupdate_admin(&format!(
        "update add _acme-challenge.gradient.example.com. 60 CNAME {}.",
        account.fulldomain
    ));
    let second = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue", "--force"]));
    let (stdout, stderr) = (support::stdout(&second), support::stderr(&second));
    assert!(second.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert!(!stdout.contains(&account.password) && !stderr.contains(&account.password));
    assert_eq!(api.state().registered, 1);
    assert_eq!(api.state().txt[&account.subdomain].len(), 2, "apex and wildcard values");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}
