//! The Joker.com adapter against contract fakes of its two APIs, built from their
//! documentation.
//!
//! DMAPI (<https://joker.com/faq/books/reseller-documentation-en/page/account-and-handling>,
//! <https://joker.com/faq/books/reseller-documentation-en/page/modify-zonedata>, and the
//! commonalities of all requests): form POSTs to `/request/<name>` answered with header lines
//! (`Status-Code` 0 on success, `Status-Text`, `Error`, `Auth-Sid`), a blank line and a body;
//! `login` takes `username` + `password` or `api-key` and answers an `Auth-Sid` (refused
//! credentials: HTTP 401 with `Status-Code: 2200`); every other request needs a live
//! `auth-sid` (else HTTP 401, `Status-Text: Authentication error`); `dns-zone-get domain=`
//! answers the zone text (`<label> <type> <pri> <target> <ttl> ...`, one record per line;
//! an unknown zone: `Status-Code: 2303`), `dns-zone-put domain= zone=` replaces it whole
//! (TTL at least 60). The fake checks each written line's shape.
//!
//! SVC (<https://joker.com/faq/content/6/496/en/let_s-encrypt-support.html>): a form POST of
//! `username`, `password`, `zone`, `label`, `type=TXT` and `value` (repeated for several
//! values; empty removes them) replaces the label's TXT values; the answer starts with `OK`,
//! refused credentials get HTTP 401.
//!
//! When given a BIND, the fakes apply each TXT change to it through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, query_pairs};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, txt_text};
use wildcert_dns_joker::{Joker, Login};
use wildcert_dns_rfc2136::Rfc2136;

const API_KEY: &str = "jk-dmapi-5b2f9c1e7a";
const USERNAME: &str = "admin@example.com";
const PASSWORD: &str = "jk-Pa55-0d93b7";
const SVC_USER: &str = "dyndns-7731";
const SVC_PASSWORD: &str = "svc-Pa55-61fe02";

#[derive(Default)]
struct State {
    /// zone -> its text.
    zones: BTreeMap<String, String>,
    /// Live session IDs.
    sessions: BTreeSet<String>,
    next_session: u64,
    /// SVC: (zone, label) -> TXT values.
    svc: BTreeMap<(String, String), Vec<String>>,
}

fn dmapi_reply(status: u16, headers: &str, body: &str) -> Reply {
    Reply::text(status, "text/plain", format!("Tracking-Id: t-1\n{headers}\n\n{body}"))
}

fn auth_error() -> Reply {
    dmapi_reply(401, "Status-Code: 2200\nStatus-Text: Authentication error\nResult: NACK", "")
}

/// The TXT records of a zone text as (fqdn, value).
fn txt_records(zone: &str, text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let fields = fields(line);
            (fields.len() >= 4 && fields[1].eq_ignore_ascii_case("TXT")).then(|| {
                let fqdn =
                    if fields[0] == "@" { format!("{zone}.") } else { format!("{}.{zone}.", fields[0]) };
                (fqdn.to_ascii_lowercase(), txt_text(&fields[3]))
            })
        })
        .collect()
}

/// Whitespace-separated fields, a quoted field kept whole.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c.is_whitespace() && !quoted {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The shape the documentation gives each line: label, type, numeric pri, target, ttl (at
/// least 60 but for NAPTR).
fn line_is_valid(line: &str) -> bool {
    let f = fields(line);
    f.len() >= 5
        && f[2].parse::<u32>().is_ok()
        && f[4].parse::<u32>().is_ok_and(|ttl| ttl >= 60 || f[1] == "NAPTR")
        && (f[1] != "TXT" || (f[3].starts_with('"') && f[3].ends_with('"') && f[3].len() >= 2))
}

fn dmapi_route(state: &mut State, request: &HttpRequest) -> Reply {
    let form: Vec<(String, String)> = query_pairs(&request.body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(name) = request.path().strip_prefix("/request/") else {
        return Reply::text(404, "text/html", "<html>404</html>");
    };
    if name == "login" {
        let ok = get("api-key").as_deref() == Some(API_KEY)
            || (get("username").as_deref() == Some(USERNAME) && get("password").as_deref() == Some(PASSWORD));
        if !ok {
            return dmapi_reply(
                401,
                "Status-Code: 2200\nStatus-Text: Authentication error\nResult: NACK\nError: Invalid credentials",
                "",
            );
        }
        state.next_session += 1;
        let sid = format!("sid-{}-7e1d", state.next_session);
        state.sessions.insert(sid.clone());
        return dmapi_reply(
            200,
            &format!(
                "Status-Code: 0\nStatus-Text: Command completed successfully\nResult: ACK\nAuth-Sid: {sid}"
            ),
            "com\nnet\norg\n",
        );
    }
    if !get("auth-sid").is_some_and(|sid| state.sessions.contains(&sid)) {
        return auth_error();
    }
    let zone = get("domain").unwrap_or_default().to_ascii_lowercase();
    let ok = "Status-Code: 0\nStatus-Text: Command completed successfully\nResult: ACK";
    let missing = || {
        dmapi_reply(
            200,
            "Status-Code: 2303\nStatus-Text: Object does not exist\nResult: NACK\nError: Zone not found",
            "",
        )
    };
    match name {
        "dns-zone-get" => match state.zones.get(&zone) {
            Some(text) => dmapi_reply(200, ok, text),
            None => missing(),
        },
        "dns-zone-put" => {
            let Some(old) = state.zones.get(&zone).cloned() else { return missing() };
            let new = get("zone").unwrap_or_default();
            if let Some(bad) = new.lines().find(|l| !l.trim().is_empty() && !line_is_valid(l)) {
                return dmapi_reply(
                    200,
                    &format!(
                        "Status-Code: 2005\nStatus-Text: Syntax error\nResult: NACK\nError: invalid record: {bad}"
                    ),
                    "",
                );
            }
            let (before, after) = (txt_records(&zone, &old), txt_records(&zone, &new));
            let mut changes: Vec<Change> =
                before.difference(&after).map(|(fqdn, value)| Change::remove(fqdn, value)).collect();
            changes.extend(after.difference(&before).map(|(fqdn, value)| Change::add(fqdn, value)));
            state.zones.insert(zone, format!("{}\n", new.trim_end()));
            dmapi_reply(200, &format!("{ok}\nProc-Id: 1"), "").with(changes)
        }
        "logout" => {
            state.sessions.remove(&get("auth-sid").unwrap_or_default());
            dmapi_reply(200, ok, "")
        }
        _ => dmapi_reply(200, "Status-Code: 2000\nStatus-Text: Unknown request\nResult: NACK", ""),
    }
}

fn svc_route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.path() != "/nic/replace" {
        return Reply::text(404, "text/html", "<html>404</html>");
    }
    let form: Vec<(String, String)> = query_pairs(&request.body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("username").as_deref() != Some(SVC_USER) || get("password").as_deref() != Some(SVC_PASSWORD) {
        return Reply::text(401, "text/plain", "Authentication failed");
    }
    let (Some(zone), Some(label), Some("TXT")) = (get("zone"), get("label"), get("type").as_deref()) else {
        return Reply::text(400, "text/plain", "Missing parameters");
    };
    if !state.zones.contains_key(&zone) {
        return Reply::text(400, "text/plain", "Zone not found");
    }
    let values: Vec<String> =
        form.iter().filter(|(k, v)| k == "value" && !v.is_empty()).map(|(_, v)| v.clone()).collect();
    let fqdn = if label == "@" { format!("{zone}.") } else { format!("{label}.{zone}.") };
    let old = state.svc.insert((zone, label), values.clone()).unwrap_or_default();
    let mut changes: Vec<Change> =
        old.iter().filter(|v| !values.contains(v)).map(|v| Change::remove(&fqdn, v)).collect();
    changes.extend(values.iter().filter(|v| !old.contains(v)).map(|v| Change::add(&fqdn, v)));
    Reply::text(200, "text/plain", "OK: 1 inserted, 0 deleted").with(changes)
}

const OTHERS: &str = "@ A 0 198.51.100.4 86400\nwww CNAME 0 @ 86400\n@ MX 10 mail.example.com. 86400\n@ TXT 0 \"v=spf1 include:_spf.example.com ~all\" 3600\n_acme-challenge.gradient TXT 0 \"someone-elses-value\" 300\n";

async fn dmapi_fake(zones: &[(&str, &str)], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones.iter().map(|(z, text)| (z.to_string(), text.to_string())).collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, dmapi_route).await
}

fn dmapi_values(state: &State, name: &str) -> Vec<String> {
    state
        .zones
        .iter()
        .flat_map(|(zone, text)| txt_records(zone, text))
        .filter(|(fqdn, _)| fqdn.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

fn svc_values(state: &State, name: &str) -> Vec<String> {
    state
        .svc
        .iter()
        .filter(|((zone, label), _)| format!("{label}.{zone}.").eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.clone())
        .collect()
}

fn dmapi(url: &str, key: &str) -> Joker {
    Joker::dmapi(&format!("{url}/request"), Login::ApiKey(Secret::new(key)), None, Duration::from_secs(5))
        .unwrap()
}

fn svc(url: &str, password: &str) -> Joker {
    Joker::svc(&format!("{url}/nic/replace"), SVC_USER, &Secret::new(password), None, Duration::from_secs(5))
        .unwrap()
}

const NAME: &str = "_acme-challenge.gradient.example.com.";

/// DMAPI: the conformance suite against the contract fake, every other line of the zone
/// sent back as read; refused credentials; busy answers; a lapsed session renewed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joker_dmapi_conformance() {
    let api = dmapi_fake(&[("example.org", ""), ("example.com", OTHERS)], None).await;
    let subject = conformance::Subject {
        provider: dmapi(&api.url, API_KEY),
        fqdn: NAME.to_string(),
        zone: None,
        read: api.reader(dmapi_values),
        secrets: vec![API_KEY.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().zones["example.com"], OTHERS, "another line changed");
    let seen = api.seen();
    assert!(seen.iter().any(|s| s == "POST /request/dns-zone-put"), "{seen:#?}");
    // One login serves every request while the session lives.
    assert_eq!(seen.iter().filter(|s| *s == "POST /request/login").count(), 1, "{seen:#?}");

    // A lapsed session is renewed once, transparently.
    api.state().sessions.clear();
    let r = conformance::record(NAME, &None, "after-expiry");
    subject.provider.present(&r).await.unwrap();
    subject.provider.cleanup(&r).await.unwrap();
    assert_eq!(api.seen().iter().filter(|s| *s == "POST /request/login").count(), 2);
    assert_eq!(api.state().zones["example.com"], OTHERS);

    // User name and password log in as well.
    let by_password = Joker::dmapi(
        &format!("{}/request", api.url),
        Login::Password { username: USERNAME.into(), password: Secret::new(PASSWORD) },
        Some("Example.com."),
        Duration::from_secs(5),
    )
    .unwrap();
    by_password.present(&r).await.unwrap();
    assert_eq!(dmapi_values(&api.state(), NAME), ["after-expiry", "someone-elses-value"]);
    by_password.cleanup(&r).await.unwrap();

    conformance::auth_failure(
        &dmapi(&api.url, "wrong-key"),
        NAME,
        &None,
        "api_key",
        &["wrong-key".into(), API_KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| dmapi(url, API_KEY), &api.upstream(), NAME, &None).await;
    let err = subject
        .provider
        .present(&conformance::record("_acme-challenge.example.net.", &None, "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }) && err.to_string().contains("2303"), "{err}");
}

/// SVC: the conformance suite against the contract fake (the label's values sent whole, so
/// the apex's and the wildcard's coexist); refused credentials; busy answers; the zone must be
/// known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joker_svc_conformance() {
    let state =
        State { zones: [("example.com".to_string(), OTHERS.to_string())].into(), ..Default::default() };
    let api = FakeApi::start(state, None, svc_route).await;
    let zone = Some("example.com.".to_string());
    let subject = conformance::Subject {
        provider: svc(&api.url, SVC_PASSWORD),
        fqdn: NAME.to_string(),
        zone: zone.clone(),
        read: api.reader(svc_values),
        secrets: vec![SVC_PASSWORD.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(seen.iter().all(|s| s == "POST /nic/replace"), "{seen:#?}");
    conformance::auth_failure(
        &svc(&api.url, "wrong-password"),
        NAME,
        &zone,
        "password",
        &["wrong-password".into(), SVC_PASSWORD.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| svc(url, SVC_PASSWORD), &api.upstream(), NAME, &zone).await;
    let err = subject.provider.present(&conformance::record(NAME, &None, "v")).await.unwrap_err();
    assert!(err.to_string().contains("set zone"), "{err}");
}

/// The installer's settings reach the adapter, in both modes.
#[test]
fn joker_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "joker"
settings = { JOKER_API_KEY_FILE = "/etc/wildcert/joker.key", JOKER_TTL = "120" }

[dns.svc]
provider = "joker"
settings = { JOKER_API_MODE = "SVC", JOKER_USERNAME = "dyndns-7731", JOKER_PASSWORD_FILE = "/etc/wildcert/joker.password" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "JOKER_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Joker(cfg) = &config.dns["svc"].config else {
        panic!("not joker")
    };
    assert_eq!(cfg.api_mode.as_deref(), Some("SVC"));
    assert_eq!(cfg.username.as_deref(), Some("dyndns-7731"));
    // SVC takes no DMAPI key.
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("JOKER_USERNAME = \"dyndns-7731\"", "JOKER_API_KEY = \"k\""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("api_key"), "{err}");
}

/// `wildcert issue` through the DMAPI fake: it writes to BIND over RFC 2136, Pebble validates
/// by asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joker_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let zone = "@ A 0 127.0.0.1 86400\n";
    let api = dmapi_fake(&[("gradient.example.com", zone)], Some(fake_api::bind_mirror(&stack))).await;
    let key_file = fake_api::secret_file(&stack, "joker.key", API_KEY);
    let table = format!(
        "provider = \"joker\"\napi_url = \"{}/request\"\napi_key_file = \"{}\"",
        api.url,
        key_file.display()
    );
    fake_api::issue_through(&stack, &table, &[API_KEY]);
    assert_eq!(api.state().zones["gradient.example.com"], zone);
}
