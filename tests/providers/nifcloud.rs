//! The NIFCLOUD DNS adapter against a contract fake of the NIFCLOUD DNS API
//! (`2012-12-12N2013-12-16`, Route53's 2012-12-12 shapes), built from its documentation
//! (<https://docs.nifcloud.com/cp/api/dns/>) and lego's `nifcloud` provider: every request
//! carries `Date` (RFC 1123, GMT, within 15 minutes) and `X-Nifty-Authorization: NIFTY3-HTTPS
//! NiftyAccessKeyId=<key>,Algorithm=HmacSHA1,Signature=<base64 HMAC-SHA1 of the Date value>`,
//! else 401 with `<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message>
//! </Error><RequestId/></ErrorResponse>`; the hosted zone's ID is its name (`GET
//! /hostedzone/{zone}`, 404 `NoSuchHostedZone`); `GET .../rrset?name=&type=` lists
//! `ResourceRecordSets`; `POST .../rrset` (`text/xml`) takes a `ChangeBatch` of `CREATE` /
//! `DELETE` changes, each value its own record (`InvalidChangeBatch` for a duplicate or a
//! missing one), answering `ChangeInfo` (`Id`, `Status` PENDING); `GET /change/{id}` reports
//! INSYNC once applied. When given a BIND, the fake applies each TXT change to it through
//! RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use base64::Engine;
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::Secret;
use wildcert_dns_nifcloud::Nifcloud;
use wildcert_dns_rfc2136::Rfc2136;

const KEY: &str = "NIFCLOUDACCESSKEYID01";
const SECRET: &str = "nifcloud-secret-access-key-0123456789";
const PREFIX: &str = "/2012-12-12N2013-12-16";

#[derive(Default)]
struct State {
    zones: Vec<String>,
    /// (zone, name as sent: fqdn without dot or "@", value)
    records: Vec<(String, String, String)>,
    /// Changes not yet reported INSYNC.
    pending: Vec<String>,
    next: u64,
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::text(
        status,
        "text/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"
        ),
    )
}

fn xml(body: String) -> Reply {
    Reply::text(200, "text/xml", format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{body}"))
}

/// The text of the first `<tag>` in `text`.
fn tag<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(&text[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn authenticate(request: &HttpRequest) -> Option<Reply> {
    let Some(date) = request.header("date") else {
        return Some(error(401, "AuthFailure", "The Date header is required."));
    };
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let fresh = time::PrimitiveDateTime::parse(date, &format)
        .is_ok_and(|t| (t.assume_utc() - time::OffsetDateTime::now_utc()).whole_minutes().abs() <= 15);
    if !fresh {
        return Some(error(401, "RequestExpired", "The Date is not within 15 minutes of the server's time."));
    }
    let value = request.header("x-nifty-authorization").unwrap_or_default();
    let Some(rest) = value.strip_prefix("NIFTY3-HTTPS ") else {
        return Some(error(401, "AuthFailure", "The authorization scheme is not NIFTY3-HTTPS."));
    };
    let field = |name: &str| rest.split(',').find_map(|p| p.strip_prefix(&format!("{name}=")));
    if field("NiftyAccessKeyId") != Some(KEY) {
        return Some(error(401, "AuthFailure.AccessKeyId", "The access key ID is invalid."));
    }
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, SECRET.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, date.as_bytes()).as_ref());
    if field("Algorithm") != Some("HmacSHA1") || field("Signature") != Some(expected.as_str()) {
        return Some(error(401, "SignatureDoesNotMatch", "The signature does not match."));
    }
    None
}

fn fqdn(zone: &str, name: &str) -> String {
    if name == "@" { format!("{zone}.") } else { format!("{name}.") }
}

fn change_info(state: &mut State) -> String {
    state.next += 1;
    let id = format!("C{:06}", state.next);
    state.pending.push(id.clone());
    format!(
        "<ChangeResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2012-12-12/\"><ChangeInfo><Id>/change/{id}</Id><Status>PENDING</Status><SubmittedAt>2026-12-03T08:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"
    )
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if let Some(refusal) = authenticate(request) {
        return refusal;
    }
    let Some(path) = request.path().strip_prefix(PREFIX) else {
        return error(404, "NoSuchVersion", "The API version is not supported.");
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["hostedzone", zone]) => {
            if !state.zones.iter().any(|z| z == zone) {
                return error(404, "NoSuchHostedZone", "The hosted zone does not exist.");
            }
            xml(format!(
                "<GetHostedZoneResponse><HostedZone><Id>/hostedzone/{zone}</Id><Name>{zone}.</Name><CallerReference>x</CallerReference><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone><DelegationSet><NameServers><NameServer>ns1.nifcloud.com</NameServer></NameServers></DelegationSet></GetHostedZoneResponse>"
            ))
        }
        ("GET", ["hostedzone", zone, "rrset"]) => {
            if !state.zones.iter().any(|z| z == zone) {
                return error(404, "NoSuchHostedZone", "The hosted zone does not exist.");
            }
            let name = request.param("name").unwrap_or_default();
            let values: Vec<String> = state
                .records
                .iter()
                .filter(|(z, n, _)| z == zone && *n == name)
                .map(|(_, _, v)| {
                    format!("<ResourceRecord><Value>{}</Value></ResourceRecord>", v.replace('&', "&amp;"))
                })
                .collect();
            let mut sets = format!(
                "<ResourceRecordSet><Name>{zone}.</Name><Type>NS</Type><TTL>86400</TTL><ResourceRecords><ResourceRecord><Value>ns1.nifcloud.com.</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"
            );
            if !values.is_empty() {
                sets.push_str(&format!(
                    "<ResourceRecordSet><Name>{name}</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords>{}</ResourceRecords></ResourceRecordSet>",
                    values.join("")
                ));
            }
            xml(format!(
                "<ListResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2012-12-12/\"><ResourceRecordSets>{sets}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListResourceRecordSetsResponse>"
            ))
        }
        ("POST", ["hostedzone", zone, "rrset"]) => {
            let zone = zone.to_string();
            if !state.zones.contains(&zone) {
                return error(404, "NoSuchHostedZone", "The hosted zone does not exist.");
            }
            if !request.header("content-type").is_some_and(|c| c.starts_with("text/xml")) {
                return error(400, "InvalidInput", "The body must be text/xml.");
            }
            let body = &request.body;
            let (Some(action), Some(name), Some(rtype), Some(value)) =
                (tag(body, "Action"), tag(body, "Name"), tag(body, "Type"), tag(body, "Value"))
            else {
                return error(400, "InvalidInput", "The change batch is incomplete.");
            };
            let (name, value) = (name.to_string(), unescape(value));
            if rtype != "TXT" || tag(body, "TTL").and_then(|t| t.parse::<u32>().ok()).is_none() {
                return error(400, "InvalidInput", "Type TXT and a TTL are required.");
            }
            let at = state.records.iter().position(|(z, n, v)| *z == zone && *n == name && *v == value);
            let change = match (action, at) {
                ("CREATE", None) => {
                    state.records.push((zone.clone(), name.clone(), value.clone()));
                    Change::add(fqdn(&zone, &name), value)
                }
                ("DELETE", Some(i)) => {
                    state.records.remove(i);
                    Change::remove(fqdn(&zone, &name), value)
                }
                ("CREATE", Some(_)) => return error(400, "InvalidChangeBatch", "The record already exists."),
                _ => return error(400, "InvalidChangeBatch", "The record to delete does not exist."),
            };
            xml(change_info(state)).with([change])
        }
        ("GET", ["change", id]) => {
            // Applied by the time it is asked about: reported INSYNC, and no longer pending.
            let id = id.to_string();
            state.pending.retain(|p| *p != id);
            xml(format!(
                "<GetChangeResponse><ChangeInfo><Id>/change/{id}</Id><Status>INSYNC</Status><SubmittedAt>2026-12-03T08:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>"
            ))
        }
        _ => error(404, "NotFound", "No such resource."),
    }
}

async fn fake(zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { zones: zones.iter().map(|z| z.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|(z, n, _)| fqdn(z, n).eq_ignore_ascii_case(name))
        .map(|(_, _, v)| v.clone())
        .collect()
}

fn adapter(url: &str, secret: &str) -> Nifcloud {
    Nifcloud::new(url, &Secret::new(KEY), &Secret::new(secret), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake; each change is polled until INSYNC;
/// refusals and retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nifcloud_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![SECRET.into(), KEY.into()],
    };
    conformance::records(&subject).await;
    assert!(api.state().records.is_empty());
    assert!(api.state().pending.is_empty(), "a change was not awaited");
    assert!(api.seen().iter().any(|s| s.starts_with(&format!("GET {PREFIX}/change/"))));
    conformance::auth_failure(
        &adapter(&api.url, "wrong-secret"),
        &fqdn,
        &None,
        "secret_key",
        &["wrong-secret".into(), SECRET.into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET), &api.upstream(), &fqdn, &None).await;
}

/// The installer's settings (lego's names) reach the adapter.
#[test]
fn nifcloud_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "nifcloud"
settings = { NIFCLOUD_ACCESS_KEY_ID_FILE = "/etc/wildcert/nifcloud.key", NIFCLOUD_SECRET_ACCESS_KEY_FILE = "/etc/wildcert/nifcloud.secret", NIFCLOUD_DNS_ENDPOINT = "https://dns.api.nifcloud.com", NIFCLOUD_TTL = "60" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "NIFCLOUD_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Nifcloud(cfg) = &config.dns["installer"].config else {
        panic!("not nifcloud")
    };
    assert_eq!(cfg.api_url, "https://dns.api.nifcloud.com");
    assert!(cfg.access_key.is_some() && cfg.secret_key.is_some());
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nifcloud_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key_file = fake_api::secret_file(&stack, "nifcloud.key", KEY);
    let secret_file = fake_api::secret_file(&stack, "nifcloud.secret", SECRET);
    let table = format!(
        "provider = \"nifcloud\"\napi_url = \"{}\"\naccess_key_file = \"{}\"\nsecret_key_file = \"{}\"",
        api.url,
        key_file.display(),
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[SECRET]);
    assert!(api.state().records.is_empty());
}
