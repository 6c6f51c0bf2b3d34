//! The Alibaba Cloud DNS adapter against a contract fake of the Alidns RPC API (version
//! 2015-01-09), built from its documentation:
//! - requests and signatures, <https://www.alibabacloud.com/help/doc-detail/163279.htm>:
//!   common parameters `Format`, `Version`, `AccessKeyId`, `SignatureMethod=HMAC-SHA1`,
//!   `SignatureVersion=1.0`, `SignatureNonce` (each used once), `Timestamp` (UTC, within 15
//!   minutes), `SecurityToken` for STS keys; `Signature` = base64 HMAC-SHA1 under
//!   `secret&` of `POST&%2F&<encoded sorted query>`;
//! - the DNS actions, <https://www.alibabacloud.com/help/en/dns/api-alidns-2015-01-09-dir-parsing-records>:
//!   `DescribeDomains` (`PageNumber`, `PageSize`; `{"TotalCount", "Domains": {"Domain":
//!   [{"DomainId", "DomainName", "PunyCode"}]}}`), `DescribeDomainRecords` (`DomainName`,
//!   `RRKeyWord` fuzzy, `TypeKeyWord`; `{"TotalCount", "DomainRecords": {"Record": [{"RecordId",
//!   "RR", "Type", "Value", "TTL"}]}}`), `AddDomainRecord` (`DomainName`, `RR`, `Type`, `Value`,
//!   `TTL` at least 600; `DomainRecordDuplicate` for an existing one) and `DeleteDomainRecord`
//!   (`RecordId`);
//! - errors: `{"RequestId", "HostId", "Code", "Message", "Recommend"}` with HTTP 404
//!   `InvalidAccessKeyId.NotFound`, 400 `SignatureDoesNotMatch`, `SignatureNonceUsed`,
//!   `InvalidTimeStamp.Expired`, 403 `InvalidSecurityToken.MismatchWithAccessKey`;
//! - the ECS metadata server, <https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata>:
//!   `PUT /latest/api/token` (hardened mode) and `GET
//!   /latest/meta-data/ram/security-credentials/<role>` answering STS credentials.
//!
//! When given a BIND, the fake applies each TXT change to it through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, query_pairs};
use wildcert::config::Config;
use wildcert_dns_alidns::Alidns;
use wildcert_dns_api::{DnsProvider, Secret};
use wildcert_dns_rfc2136::Rfc2136;

const KEY_ID: &str = "LTAI5tAliKeyId0123456789";
const SECRET: &str = "aLiSeCrEt-0123456789abcdefABCDEF";
const ROLE: &str = "wildcert-dns";
const STS_ID: &str = "STS.NUgYrLnoC37mZZCNnAbez2KqZ";
const STS_SECRET: &str = "StsSecret-9fe8d7c6b5a4";
const STS_TOKEN: &str = "CAISsts-security-token-0a1b2c3d4e5f";
const SESSION: &str = "ecs-session-token-77aa";

#[derive(Debug, Clone)]
struct Record {
    id: String,
    domain: String,
    rr: String,
    value: String,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next: u64,
    nonces: HashSet<String>,
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"RequestId": "6E1E8DA7-0000-4000-8000-000000000001", "HostId": "alidns.aliyuncs.com", "Code": code, "Message": message, "Recommend": "https://api.aliyun.com/troubleshoot"}),
    )
}

/// RFC 3986 percent-encoding, written here independently of the adapter.
fn pct(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Checks the signature as the API does; the refusal it would answer otherwise.
fn authenticate(
    state: &mut State,
    request: &HttpRequest,
    params: &BTreeMap<String, String>,
) -> Option<Reply> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    let secret = match get("AccessKeyId") {
        KEY_ID => SECRET,
        STS_ID => {
            if get("SecurityToken") != STS_TOKEN {
                return Some(error(
                    403,
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    "The security token does not match the access key.",
                ));
            }
            STS_SECRET
        }
        _ => return Some(error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")),
    };
    if get("SignatureMethod") != "HMAC-SHA1" || get("SignatureVersion") != "1.0" || get("Format") != "JSON" {
        return Some(error(
            400,
            "MissingParameter",
            "SignatureMethod, SignatureVersion and Format are required.",
        ));
    }
    let when = time::OffsetDateTime::parse(get("Timestamp"), &time::format_description::well_known::Rfc3339);
    if when.is_err() || (when.unwrap() - time::OffsetDateTime::now_utc()).whole_minutes().abs() > 15 {
        return Some(error(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    if !state.nonces.insert(get("SignatureNonce").to_string()) || get("SignatureNonce").is_empty() {
        return Some(error(400, "SignatureNonceUsed", "Specified signature nonce was used already."));
    }
    let canonical: Vec<String> = params
        .iter()
        .filter(|(k, _)| *k != "Signature")
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    let to_sign = format!("{}&%2F&{}", request.method, pct(&canonical.join("&")));
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        format!("{secret}&").as_bytes(),
    );
    let expected = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, to_sign.as_bytes()).as_ref());
    if get("Signature") != expected {
        return Some(error(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        ));
    }
    None
}

fn fqdn(r: &Record) -> String {
    if r.rr == "@" { format!("{}.", r.domain) } else { format!("{}.{}.", r.rr, r.domain) }
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.method != "POST" || request.path() != "/" {
        return error(404, "InvalidAction.NotFound", "Specified api is not found.");
    }
    let params: BTreeMap<String, String> = query_pairs(&request.body).into_iter().collect();
    if let Some(refusal) = authenticate(state, request, &params) {
        return refusal;
    }
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let number = |k: &str, default: usize| get(k).parse::<usize>().unwrap_or(default).max(1);
    if get("Version") != "2015-01-09" {
        return error(400, "InvalidVersion", "Specified parameter Version is not valid.");
    }
    match get("Action").as_str() {
        "DescribeDomains" => {
            let (page, size) = (number("PageNumber", 1), number("PageSize", 20).min(100));
            let items: Vec<Value> = state
                .domains
                .iter()
                .enumerate()
                .skip((page - 1) * size)
                .take(size)
                .map(|(i, d)| json!({"DomainId": format!("d-{i}"), "DomainName": d, "PunyCode": d, "AliDomain": false}))
                .collect();
            Reply::json(
                200,
                json!({"RequestId": "r", "TotalCount": state.domains.len(), "PageNumber": page, "PageSize": size, "Domains": {"Domain": items}}),
            )
        }
        "DescribeDomainRecords" => {
            let domain = get("DomainName");
            if !state.domains.contains(&domain) {
                return error(400, "InvalidDomainName.NoExist", "The specified domain name does not exist.");
            }
            let (page, size) = (number("PageNumber", 1), number("PageSize", 20).min(500));
            let (rr, rtype) = (get("RRKeyWord"), get("TypeKeyWord"));
            let mut items: Vec<Value> = vec![
                json!({"RecordId": "9000", "DomainName": domain, "RR": "@", "Type": "A", "Value": "198.51.100.7", "TTL": 600, "Status": "ENABLE"}),
            ];
            items.extend(state.records.iter().filter(|r| r.domain == domain).map(|r| {
                json!({"RecordId": r.id, "DomainName": r.domain, "RR": r.rr, "Type": "TXT", "Value": r.value, "TTL": 600, "Status": "ENABLE", "Locked": false})
            }));
            items.retain(|i| {
                i["RR"].as_str().unwrap().contains(rr.as_str())
                    && (rtype.is_empty() || i["Type"] == rtype.as_str())
            });
            let total = items.len();
            let items: Vec<Value> = items.into_iter().skip((page - 1) * size).take(size).collect();
            Reply::json(
                200,
                json!({"RequestId": "r", "TotalCount": total, "PageNumber": page, "PageSize": size, "DomainRecords": {"Record": items}}),
            )
        }
        "AddDomainRecord" => {
            let domain = get("DomainName");
            if !state.domains.contains(&domain) {
                return error(400, "InvalidDomainName.NoExist", "The specified domain name does not exist.");
            }
            if get("Type") != "TXT" || get("RR").is_empty() || get("Value").is_empty() {
                return error(400, "MissingParameter", "RR, Type and Value are required.");
            }
            if get("TTL").parse::<u32>().is_ok_and(|t| t < 600) {
                return error(400, "DomainForbiddenTTL", "The TTL is below the minimum of this edition.");
            }
            let (rr, value) = (get("RR"), get("Value"));
            if state.records.iter().any(|r| r.domain == domain && r.rr == rr && r.value == value) {
                return error(400, "DomainRecordDuplicate", "The DNS record already exists.");
            }
            state.next += 1;
            let r = Record { id: format!("{}", 100_000 + state.next), domain, rr, value };
            let change = Change::add(fqdn(&r), r.value.clone());
            let id = r.id.clone();
            state.records.push(r);
            Reply::json(200, json!({"RequestId": "r", "RecordId": id})).with([change])
        }
        "DeleteDomainRecord" => {
            let id = get("RecordId");
            let Some(at) = state.records.iter().position(|r| r.id == id) else {
                return error(400, "DomainRecordNotBelongToUser", "The DNS record does not belong to you.");
            };
            let r = state.records.remove(at);
            Reply::json(200, json!({"RequestId": "r", "RecordId": id}))
                .with([Change::remove(fqdn(&r), r.value)])
        }
        _ => error(404, "InvalidAction.NotFound", "Specified api is not found."),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, route).await
}

/// The ECS metadata server in hardened mode: a session token first, then the role's STS
/// credentials.
async fn metadata() -> FakeApi<u32> {
    FakeApi::start(0u32, None, |served: &mut u32, request: &HttpRequest| {
        match (request.method.as_str(), request.path()) {
            ("PUT", "/latest/api/token") if request.header("x-aliyun-ecs-metadata-token-ttl-seconds").is_some() => {
                Reply::text(200, "text/plain", SESSION)
            }
            ("GET", path) if request.header("x-aliyun-ecs-metadata-token") != Some(SESSION) => {
                let _ = path;
                Reply::text(401, "text/plain", "Unauthorized")
            }
            ("GET", path) if path == format!("/latest/meta-data/ram/security-credentials/{ROLE}") => {
                *served += 1;
                Reply::json(
                    200,
                    json!({"AccessKeyId": STS_ID, "AccessKeySecret": STS_SECRET, "SecurityToken": STS_TOKEN, "Expiration": "2099-01-01T00:00:00Z", "LastUpdated": "2026-01-01T00:00:00Z", "Code": "Success"}),
                )
            }
            _ => Reply::text(404, "text/html", "Not Found"),
        }
    })
    .await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| fqdn(r).eq_ignore_ascii_case(name)).map(|r| r.value.clone()).collect()
}

fn adapter(url: &str, id: &str, secret: &str) -> Alidns {
    Alidns::with_keys(url, &Secret::new(id), &Secret::new(secret), None, Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, with fixed keys; the retry and refusal
/// checks; the apex record of the domain survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alidns_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, KEY_ID, SECRET),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![SECRET.into()],
    };
    conformance::records(&subject).await;
    assert!(api.state().records.is_empty());
    // A wrong secret fails the signature, an unknown key is not found: both name the keys.
    conformance::auth_failure(
        &adapter(&api.url, KEY_ID, "wrong-secret"),
        &fqdn,
        &None,
        "secret_key",
        &["wrong-secret".into(), SECRET.into()],
    )
    .await;
    conformance::auth_failure(
        &adapter(&api.url, "LTAIunknown", SECRET),
        &fqdn,
        &None,
        "access_key",
        &[SECRET.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, KEY_ID, SECRET), &api.upstream(), &fqdn, &None)
        .await;
}

/// With `ram_role`, the STS credentials come from the metadata server (hardened mode), are
/// reused while valid, and sign with their security token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alidns_ram_role_from_metadata() {
    let api = fake(&["example.com"], None).await;
    let meta = metadata().await;
    let p = Alidns::with_role(&api.url, ROLE, &meta.url, Duration::from_secs(5)).unwrap();
    let record =
        conformance::record("_acme-challenge.example.com.", &Some("example.com.".into()), "role-value");
    p.present(&record).await.unwrap();
    assert_eq!(values(&api.state(), "_acme-challenge.example.com."), ["role-value"]);
    p.cleanup(&record).await.unwrap();
    assert!(api.state().records.is_empty());
    assert_eq!(*meta.state(), 1, "the STS credentials were fetched once and reused");
    let err = Alidns::with_role(&api.url, "no-such-role", &meta.url, Duration::from_secs(5))
        .unwrap()
        .present(&record)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ram_role"), "{err}");
}

/// The installer's settings reach the adapter; `ram_role` and fixed keys exclude each other.
#[test]
fn alidns_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "alidns"
settings = { ALICLOUD_ACCESS_KEY_FILE = "/etc/wildcert/ali.id", ALICLOUD_SECRET_KEY_FILE = "/etc/wildcert/ali.secret", ALICLOUD_SECURITY_TOKEN = "tok", ALICLOUD_REGION_ID = "cn-shanghai", ALICLOUD_TTL = "600" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "ALICLOUD_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Alidns(cfg) = &config.dns["installer"].config else {
        panic!("not alidns")
    };
    assert_eq!(cfg.region_id.as_deref(), Some("cn-shanghai"));
    assert_eq!(cfg.base_url(), "https://alidns.cn-shanghai.aliyuncs.com");
    assert!(cfg.security_token.is_some());

    let role = fake_api::config_with(
        "[dns.installer]\nprovider = \"alidns\"\nsettings = { ALICLOUD_RAM_ROLE = \"lego\" }\n",
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &role).unwrap();
    let wildcert::dns::provider::ProviderConfig::Alidns(cfg) = &config.dns["installer"].config else {
        panic!("not alidns")
    };
    assert_eq!(cfg.ram_role.as_deref(), Some("lego"));

    let both = fake_api::config_with(
        "[dns.installer]\nprovider = \"alidns\"\nsettings = { ALICLOUD_RAM_ROLE = \"lego\", ALICLOUD_ACCESS_KEY = \"a\", ALICLOUD_SECRET_KEY = \"b\" }\n",
    );
    let err = Config::parse(std::path::Path::new("wildcert.toml"), &both).unwrap_err();
    assert!(format!("{err:#}").contains("ram_role"), "{err:#}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alidns_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let id_file = fake_api::secret_file(&stack, "alidns.id", KEY_ID);
    let secret_file = fake_api::secret_file(&stack, "alidns.secret", SECRET);
    let table = format!(
        "provider = \"alidns\"\napi_url = \"{}\"\naccess_key_file = \"{}\"\nsecret_key_file = \"{}\"",
        api.url,
        id_file.display(),
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[SECRET]);
    assert!(api.state().records.is_empty());
}
