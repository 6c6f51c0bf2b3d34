//! The netcup adapter against a contract fake of the netcup CCP DNS API, built from its
//! documentation (the CCP API's endpoint description and its wiki's notes on JSON requests,
//! <https://ccp.netcup.net/run/webservice/servers/endpoint.php>) and lego's client of it:
//! every action is a POST of `{"action", "param"}` to `endpoint.php?JSON`; `login` with
//! `customernumber`, `apikey`, `apipassword` answers `responsedata.apisessionid`; the other
//! actions carry `customernumber`, `apikey`, `apisessionid`; `infoDnsZone` and
//! `infoDnsRecords` take `domainname` (records with string `id`s, `hostname` relative to
//! the zone, `@` at the apex, `type`, `priority`, `destination`, `deleterecord`, `state`);
//! `updateDnsRecords` takes `dnsrecordset.dnsrecords`: a record without `id` is added, one
//! with `id` and `deleterecord: true` removed, records not named stay; `logout` ends the
//! session. Every answer is HTTP 200 with `status` "success" or "error", `statuscode`,
//! `shortmessage`, `longmessage`. When given a BIND, the fake applies every change to it
//! through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_netcup::Netcup;

const CUSTOMER: &str = "123456";
const KEY: &str = "n3tcupApiKey0123456789abcdef";
const PASSWORD: &str = "n3tcupApiPassw0rd-xyz";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    zone: String,
    /// Relative to the zone, `@` at the apex.
    hostname: String,
    destination: String,
}

#[derive(Default)]
struct State {
    zones: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
    sessions: Vec<String>,
    logins: u32,
    logouts: u32,
}

fn answer(
    action: &str,
    status: &str,
    code: i64,
    short: &str,
    long: &str,
    data: Value,
) -> (Reply, Vec<Change>) {
    let mut body = json!({"serverrequestid": "srv-1", "clientrequestid": "", "action": action, "status": status,
                          "statuscode": code, "shortmessage": short, "longmessage": long});
    if !data.is_null() {
        body["responsedata"] = data;
    }
    (Reply::json(200, body), Vec::new())
}

fn fqdn(r: &Record) -> String {
    if r.hostname == "@" { format!("{}.", r.zone) } else { format!("{}.{}.", r.hostname, r.zone) }
}

fn record_json(r: &Record) -> Value {
    json!({"id": r.id.to_string(), "hostname": r.hostname, "type": "TXT", "priority": "0",
           "destination": r.destination, "deleterecord": false, "state": "yes"})
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    if request.method != "POST" || !request.target.ends_with("/endpoint.php?JSON") {
        return (Reply::text(404, "text/html", "Not Found"), Vec::new());
    }
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let action = body["action"].as_str().unwrap_or_default().to_string();
    let p = &body["param"];
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    if action == "login" {
        if s("customernumber") != CUSTOMER || s("apikey") != KEY || s("apipassword") != PASSWORD {
            return answer(
                &action,
                "error",
                4013,
                "Validation Error.",
                "The login was not successful.",
                Value::Null,
            );
        }
        state.logins += 1;
        let id = format!("session-{}-{}", state.logins, "Zm9vYmFy");
        state.sessions.push(id.clone());
        return answer(
            &action,
            "success",
            2000,
            "Login successful",
            "Session has been created successful.",
            json!({"apisessionid": id}),
        );
    }
    if s("customernumber") != CUSTOMER || s("apikey") != KEY || !state.sessions.contains(&s("apisessionid")) {
        return answer(&action, "error", 4001, "The session id is not in a valid format.", "", Value::Null);
    }
    if action == "logout" {
        let id = s("apisessionid");
        state.sessions.retain(|x| *x != id);
        state.logouts += 1;
        return answer(
            &action,
            "success",
            2000,
            "Logout successful",
            "Session has been terminated successful.",
            Value::Null,
        );
    }
    let zone = s("domainname");
    if !state.zones.contains(&zone) {
        return answer(
            &action,
            "error",
            5029,
            "Can not get DNS zone.",
            "The domain does not exist or has no DNS zone.",
            Value::Null,
        );
    }
    match action.as_str() {
        "infoDnsZone" => answer(
            &action,
            "success",
            2000,
            "DNS zone found",
            "",
            json!({"name": zone, "ttl": "86400", "serial": "2026120301", "refresh": "28800", "retry": "7200", "expire": "1209600", "dnssecstatus": false}),
        ),
        "infoDnsRecords" => {
            let items: Vec<Value> =
                state.records.iter().filter(|r| r.zone == zone).map(record_json).collect();
            answer(&action, "success", 2000, "DNS records found", "", json!({"dnsrecords": items}))
        }
        "updateDnsRecords" => {
            let Some(list) = p["dnsrecordset"]["dnsrecords"].as_array() else {
                return answer(
                    &action,
                    "error",
                    4013,
                    "Validation Error.",
                    "dnsrecordset is missing",
                    Value::Null,
                );
            };
            let mut changes = Vec::new();
            for item in list {
                let id: Option<u64> = item["id"].as_str().and_then(|i| i.parse().ok());
                if item["deleterecord"] == true {
                    let Some(i) = state.records.iter().position(|r| Some(r.id) == id && r.zone == zone)
                    else {
                        return answer(&action, "error", 5028, "Record not found.", "", Value::Null);
                    };
                    let r = state.records.remove(i);
                    changes.push(Change::remove(fqdn(&r), r.destination));
                } else if id.is_none() {
                    if item["type"] != "TXT"
                        || !item["destination"].is_string()
                        || !item["hostname"].is_string()
                    {
                        return answer(
                            &action,
                            "error",
                            4013,
                            "Validation Error.",
                            "hostname, type and destination are required",
                            Value::Null,
                        );
                    }
                    state.next_id += 1;
                    let r = Record {
                        id: state.next_id,
                        zone: zone.clone(),
                        hostname: item["hostname"].as_str().unwrap().into(),
                        destination: item["destination"].as_str().unwrap().into(),
                    };
                    changes.push(Change::add(fqdn(&r), r.destination.clone()));
                    state.records.push(r);
                }
            }
            let items: Vec<Value> =
                state.records.iter().filter(|r| r.zone == zone).map(record_json).collect();
            let (reply, _) = answer(
                &action,
                "success",
                2000,
                "DNS records successful updated",
                "",
                json!({"dnsrecords": items}),
            );
            (reply, changes)
        }
        _ => answer(&action, "error", 4013, "Validation Error.", "unknown action", Value::Null),
    }
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| fqdn(r).eq_ignore_ascii_case(name))
        .map(|r| r.destination.clone())
        .collect()
}

async fn fake(zones: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        next_id: 4_000_000,
        ..Default::default()
    };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, password: &str) -> Netcup {
    Netcup::new(
        &format!("{url}/endpoint.php"),
        CUSTOMER,
        &Secret::new(KEY),
        &Secret::new(password),
        Duration::from_secs(5),
    )
    .unwrap()
}

/// The conformance suite against the contract fake, the zone found by walking up the name;
/// every session that was opened is closed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcup_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, PASSWORD),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into(), PASSWORD.into(), "Zm9vYmFy".into()],
    };
    conformance::records(&subject).await;
    {
        let state = api.state();
        assert!(
            state.logins > 0 && state.sessions.is_empty(),
            "{} logins, sessions left open: {:?}",
            state.logins,
            state.sessions
        );
    }
    conformance::auth_failure(
        &adapter(&api.url, "wrong-password"),
        &fqdn,
        &None,
        "api_password",
        &["wrong-password".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, PASSWORD), &api.upstream(), &fqdn, &None).await;
}

/// A name outside the customer's zones is `ZoneNotFound`, and the session is still closed.
#[tokio::test]
async fn netcup_unknown_zone_still_logs_out() {
    let api = fake(&["example.com"], None).await;
    let record = conformance::record("_acme-challenge.example.org.", &None, "v");
    let err = adapter(&api.url, PASSWORD).present(&record).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    let state = api.state();
    assert_eq!((state.logins, state.logouts), (1, 1));
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn netcup_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_api::temp_secret(dir.path(), "netcup.key", KEY);
    let password = fake_api::temp_secret(dir.path(), "netcup.password", PASSWORD);
    let (warnings, provider) = fake_api::installer(
        "netcup",
        &format!("NETCUP_CUSTOMER_NUMBER = \"{CUSTOMER}\", NETCUP_API_KEY_FILE = \"{key}\", NETCUP_API_PASSWORD_FILE = \"{password}\", NETCUP_TTL = \"300\", NETCUP_PROPAGATION_TIMEOUT = \"1800\""),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "NETCUP_TTL has no effect");
    assert!(matches!(provider, Provider::Netcup(_)));
    assert!(provider.describe().contains("ccp.netcup.net"));
    let err = fake_api::installer(
        "netcup",
        &format!("NETCUP_API_KEY_FILE = \"{key}\", NETCUP_API_PASSWORD_FILE = \"{password}\""),
    )
    .unwrap_err();
    assert!(err.contains("NETCUP_CUSTOMER_NUMBER"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcup_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key = fake_api::secret_file(&stack, "netcup.key", KEY);
    let password = fake_api::secret_file(&stack, "netcup.password", PASSWORD);
    let table = format!(
        "provider = \"netcup\"\napi_url = \"{}/endpoint.php\"\ncustomer_number = {CUSTOMER}\napi_key_file = \"{}\"\napi_password_file = \"{}\"",
        api.url,
        key.display(),
        password.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY, PASSWORD]);
    let state = api.state();
    assert!(state.records.is_empty());
    assert!(state.sessions.is_empty(), "sessions left open");
}
