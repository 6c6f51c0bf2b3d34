//! The Akamai Edge DNS adapter against a contract fake of the Edge DNS Zone Management API
//! (config-dns v2), built from its documentation:
//! <https://techdocs.akamai.com/edge-dns/reference/edge-dns-api> (record sets) and
//! <https://techdocs.akamai.com/developer/docs/authenticate-with-edgegrid> (EdgeGrid).
//!
//! The fake checks every request's `Authorization: EG1-HMAC-SHA256 client_token=..;
//! access_token=..;timestamp=..;nonce=..;signature=..` the way Akamai does: known tokens, a
//! timestamp within a minute of now, a nonce never seen before, and the signature recomputed
//! from the method, scheme, `Host`, path and query, the POST body's hash and the header
//! itself under the signing key derived from the client secret; otherwise 401 with a
//! problem detail (`{"type", "title", "status", "detail", "instance"}`). `GET
//! zones/{zone}` answers the zone or 404; `zones/{zone}/names/{name}/types/TXT` answers
//! `GET` (the set `{"name", "type", "ttl", "rdata"}` or 404), `POST` (201, or 409 when the
//! set exists), `PUT` (200, or 404 when it does not) and `DELETE` (204). When given a BIND,
//! the fake applies each TXT change to it through RFC 2136, so Pebble validates a real
//! issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{Secret, txt_text};
use wildcert_dns_edgedns::EdgeDns;
use wildcert_dns_edgedns::edgegrid::{Credentials, MAX_BODY};
use wildcert_dns_rfc2136::Rfc2136;

const CLIENT_TOKEN: &str = "akab-c113nt70k3n-4qtari252bfxxbsl";
const CLIENT_SECRET: &str = "C113nt53KR3TN6N90yVuAgICxIRwsObLi0E67/N8eRN=";
const ACCESS_TOKEN: &str = "akab-acc35t0k3n-odujqunph3w7hzp7";

#[derive(Default)]
struct State {
    zones: Vec<String>,
    /// (zone, name) -> record set.
    sets: BTreeMap<(String, String), Value>,
    nonces: HashSet<String>,
}

fn problem(status: u16, title: &str, detail: &str, request: &HttpRequest) -> Reply {
    Reply::json(
        status,
        json!({"type": format!("https://problems.luna.akamaiapis.net/config-dns/{}", title.to_ascii_lowercase().replace(' ', "-")), "title": title, "status": status, "detail": detail, "instance": request.path()}),
    )
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// Akamai's check of an EdgeGrid signature.
fn authenticate(state: &mut State, request: &HttpRequest) -> Result<(), &'static str> {
    let value = request.header("authorization").ok_or("missing Authorization header")?;
    let fields = value.strip_prefix("EG1-HMAC-SHA256 ").ok_or("unknown signing algorithm")?;
    let field = |name: &str| fields.split(';').find_map(|p| p.strip_prefix(&format!("{name}=")));
    if field("client_token") != Some(CLIENT_TOKEN) || field("access_token") != Some(ACCESS_TOKEN) {
        return Err("Invalid client token or access token");
    }
    let timestamp = field("timestamp").ok_or("missing timestamp")?;
    let format = time::macros::format_description!("[year][month][day]T[hour]:[minute]:[second]+0000");
    let at =
        time::PrimitiveDateTime::parse(timestamp, &format).map_err(|_| "malformed timestamp")?.assume_utc();
    if (time::OffsetDateTime::now_utc() - at).abs() > time::Duration::minutes(1) {
        return Err("Timestamp is out of the allowed window");
    }
    let nonce = field("nonce").ok_or("missing nonce")?;
    if !state.nonces.insert(nonce.to_string()) {
        return Err("Nonce has been used before");
    }
    let unsigned = value.split("signature=").next().unwrap();
    let content_hash = if request.method == "POST" && !request.body.is_empty() {
        let body = &request.body.as_bytes()[..request.body.len().min(MAX_BODY)];
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref())
    } else {
        String::new()
    };
    let data = [
        request.method.as_str(),
        "http",
        &request.header("host").unwrap_or_default().to_ascii_lowercase(),
        request.target.as_str(),
        "",
        &content_hash,
        unsigned,
    ]
    .join("\t");
    let key = b64(&hmac(CLIENT_SECRET.as_bytes(), timestamp.as_bytes()));
    if field("signature") != Some(b64(&hmac(key.as_bytes(), data.as_bytes())).as_str()) {
        return Err("The signature does not match");
    }
    Ok(())
}

fn values_of(set: &Value) -> Vec<String> {
    set["rdata"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).map(txt_text).collect())
        .unwrap_or_default()
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if let Err(why) = authenticate(state, request) {
        return Reply::json(
            401,
            json!({"type": "https://problems.luna.akamaiapis.net/-/pep-authn/deny", "title": "Not authorized", "status": 401, "detail": why, "instance": "https://akab-host.luna.akamaiapis.net/config-dns/v2/"}),
        );
    }
    let segments = request.segments();
    let known = |zone: &str| state.zones.iter().any(|z| z == zone);
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["config-dns", "v2", "zones", zone]) if known(zone) => Reply::json(
            200,
            json!({"zone": zone, "type": "PRIMARY", "signAndServe": false, "activationState": "ACTIVE"}),
        ),
        (_, ["config-dns", "v2", "zones", zone, ..]) if !known(zone) => {
            problem(404, "Not Found", &format!("Zone {zone} does not exist"), request)
        }
        (method, ["config-dns", "v2", "zones", zone, "names", name, "types", "TXT"]) => {
            let key = (zone.to_string(), name.to_string());
            let (zone, name) = (zone.to_string(), name.to_string());
            let existing = state.sets.get(&key).cloned();
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let valid = body["name"] == name.as_str()
                && body["type"] == "TXT"
                && body["ttl"].as_u64().is_some()
                && body["rdata"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(Value::is_string));
            if !(name == zone || name.ends_with(&format!(".{zone}"))) {
                return problem(400, "Bad Request", "Record name is not within the zone", request);
            }
            let fqdn = format!("{name}.");
            match (method, existing) {
                ("GET", Some(set)) => Reply::json(200, set),
                ("GET", None) | ("PUT", None) | ("DELETE", None) => {
                    problem(404, "Not Found", &format!("Recordset {name} TXT does not exist"), request)
                }
                ("POST", Some(_)) => problem(409, "Conflict", "Record set already exists", request),
                ("POST" | "PUT", _) if !valid => {
                    problem(400, "Bad Request", "name, type, ttl and rdata are required", request)
                }
                ("POST", None) => {
                    let changes: Vec<Change> =
                        values_of(&body).into_iter().map(|v| Change::add(&fqdn, v)).collect();
                    state.sets.insert(key, body.clone());
                    Reply::json(201, body).with(changes)
                }
                ("PUT", Some(old)) => {
                    let (before, after) = (values_of(&old), values_of(&body));
                    let mut changes: Vec<Change> = before
                        .iter()
                        .filter(|v| !after.contains(v))
                        .map(|v| Change::remove(&fqdn, v))
                        .collect();
                    changes
                        .extend(after.iter().filter(|v| !before.contains(v)).map(|v| Change::add(&fqdn, v)));
                    state.sets.insert(key, body.clone());
                    Reply::json(200, body).with(changes)
                }
                ("DELETE", Some(old)) => {
                    state.sets.remove(&key);
                    Reply::json(204, Value::Null)
                        .with(values_of(&old).into_iter().map(|v| Change::remove(&fqdn, v)))
                }
                _ => problem(405, "Method Not Allowed", "method not allowed", request),
            }
        }
        _ => problem(404, "Not Found", "no such resource", request),
    }
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { zones: zones.iter().map(|z| z.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    state.sets.iter().filter(|((_, n), _)| *n == name).flat_map(|(_, set)| values_of(set)).collect()
}

fn credentials(secret: &str) -> Credentials {
    Credentials {
        client_token: Secret::new(CLIENT_TOKEN),
        client_secret: Secret::new(secret),
        access_token: Secret::new(ACCESS_TOKEN),
    }
}

fn adapter(url: &str, secret: &str) -> EdgeDns {
    EdgeDns::new(url, credentials(secret), MAX_BODY, None, Duration::from_secs(5)).unwrap()
}

const OTHERS: &str = "_acme-challenge.gradient.example.com";

/// The conformance suite against the contract fake; the other value at the name comes back
/// exactly as it was, and a record set elsewhere is never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edgedns_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    let theirs = json!({"name": OTHERS, "type": "TXT", "ttl": 300, "rdata": ["\"someone-elses\" \"value\""]});
    let elsewhere =
        json!({"name": "www.example.com", "type": "TXT", "ttl": 3600, "rdata": ["\"v=spf1 -all\""]});
    api.state().sets.insert(("example.com".into(), OTHERS.into()), theirs.clone());
    api.state().sets.insert(("example.com".into(), "www.example.com".into()), elsewhere.clone());
    let fqdn = format!("{OTHERS}.");
    let subject = conformance::Subject {
        provider: adapter(&api.url, CLIENT_SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![CLIENT_SECRET.into(), CLIENT_TOKEN.into(), ACCESS_TOKEN.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().sets[&("example.com".to_string(), OTHERS.to_string())], theirs);
    assert_eq!(api.state().sets[&("example.com".to_string(), "www.example.com".to_string())], elsewhere);
    let seen = api.seen();
    assert!(seen.iter().any(|s| s.starts_with("PUT /config-dns/v2/zones/example.com/names/")), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&api.url, "d3JvbmctY2xpZW50LXNlY3JldA=="),
        &fqdn,
        &None,
        "client_secret",
        &["d3JvbmctY2xpZW50LXNlY3JldA==".into(), CLIENT_SECRET.into(), ACCESS_TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, CLIENT_SECRET), &api.upstream(), &fqdn, &None)
        .await;
    // The last value at a name deletes the record set (no empty set is left behind).
    let fresh = conformance::record("_acme-challenge.new.example.org.", &None, "only-value");
    let p = adapter(&api.url, CLIENT_SECRET);
    wildcert_dns_api::DnsProvider::present(&p, &fresh).await.unwrap();
    assert_eq!(values(&api.state(), &fresh.fqdn), ["only-value"]);
    wildcert_dns_api::DnsProvider::cleanup(&p, &fresh).await.unwrap();
    assert!(!api.state().sets.keys().any(|(_, n)| n == "_acme-challenge.new.example.org"));
    assert!(api.seen().iter().any(|s| s.starts_with("DELETE ")), "{:#?}", api.seen());
}

/// The account switch key goes on every request (and is signed with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edgedns_account_switch_key() {
    let api = fake(&["example.com"], None).await;
    let p = EdgeDns::new(
        &api.url,
        credentials(CLIENT_SECRET),
        MAX_BODY,
        Some("1-5C0YLB:1-8BYUX"),
        Duration::from_secs(5),
    )
    .unwrap();
    let r = conformance::record("_acme-challenge.example.com.", &None, "switched");
    wildcert_dns_api::DnsProvider::present(&p, &r).await.unwrap();
    let seen = api.seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s.ends_with("?accountSwitchKey=1-5C0YLB%3A1-8BYUX")),
        "{seen:#?}"
    );
}

/// The installer's settings reach the adapter, the `.edgerc` form included.
#[test]
fn edgedns_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "edgedns"
settings = { AKAMAI_HOST = "akab-h05tnam3wl42son7nktnlnnx-kbob3i3v.luna.akamaiapis.net", AKAMAI_CLIENT_TOKEN_FILE = "/etc/wildcert/ct", AKAMAI_CLIENT_SECRET_FILE = "/etc/wildcert/cs", AKAMAI_ACCESS_TOKEN_FILE = "/etc/wildcert/at", AKAMAI_TTL = "120" }

[dns.edgerc]
provider = "fastdns"
settings = { AKAMAI_EDGERC = "/etc/wildcert/edgerc", AKAMAI_EDGERC_SECTION = "dns", AKAMAI_ACCOUNT_SWITCH_KEY = "1-ABC" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "AKAMAI_TTL has no effect");
    assert!(
        config.warnings.iter().any(|w| w.contains("\"fastdns\" is now \"edgedns\"")),
        "{:?}",
        config.warnings
    );
    let wildcert::dns::provider::ProviderConfig::EdgeDns(cfg) = &config.dns["installer"].config else {
        panic!("not edgedns")
    };
    assert_eq!(cfg.host.as_deref(), Some("akab-h05tnam3wl42son7nktnlnnx-kbob3i3v.luna.akamaiapis.net"));
    assert!(cfg.client_secret.is_some() && cfg.edgerc.is_none());
    let wildcert::dns::provider::ProviderConfig::EdgeDns(cfg) = &config.dns["edgerc"].config else {
        panic!("not edgedns")
    };
    assert_eq!(cfg.edgerc.as_deref(), Some(std::path::Path::new("/etc/wildcert/edgerc")));
    assert_eq!(cfg.edgerc_section, "dns");
    assert_eq!(cfg.account_switch_key.as_deref(), Some("1-ABC"));
    // Neither the four credentials nor an .edgerc file: refused, naming what is missing.
    let text = fake_api::config_with(
        "[dns.office]\nprovider = \"edgedns\"\nsettings = { AKAMAI_HOST = \"akab-x.luna.akamaiapis.net\" }\n",
    );
    let err = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap_err().to_string();
    assert!(err.contains("client_token") && err.contains("AKAMAI_EDGERC"), "{err}");
}

/// `wildcert issue` through the fake with the credentials in an `.edgerc` file: it writes
/// to BIND over RFC 2136, Pebble validates by asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edgedns_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let edgerc = fake_api::secret_file(
        &stack,
        "edgerc",
        &format!(
            "[default]\nhost = akab-unused.luna.akamaiapis.net\nclient_token = wrong\nclient_secret = wrong\naccess_token = wrong\n\n[dns]\nhost = akab-h05tnam3wl42son7nktnlnnx-kbob3i3v.luna.akamaiapis.net\nclient_secret = {CLIENT_SECRET}\naccess_token = {ACCESS_TOKEN}\nclient_token = {CLIENT_TOKEN}\nmax-body = 131072\n"
        ),
    );
    let table = format!(
        "provider = \"edgedns\"\napi_url = \"{}\"\nedgerc = \"{}\"\nedgerc_section = \"dns\"",
        api.url,
        edgerc.display()
    );
    fake_api::issue_through(&stack, &table, &[CLIENT_SECRET, ACCESS_TOKEN, CLIENT_TOKEN]);
    assert!(api.state().sets.is_empty(), "{:?}", api.state().sets);
}
