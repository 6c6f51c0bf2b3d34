//! The Tencent Cloud DNSPod adapter against a contract fake of the DNSPod API 3.0 (version
//! 2021-03-23), built from its documentation:
//! - signature v3, <https://www.tencentcloud.com/document/api/1157/49993>: `Authorization:
//!   TC3-HMAC-SHA256 Credential=<SecretId>/<date>/dnspod/tc3_request, SignedHeaders=...,
//!   Signature=<hex>` over the canonical request of the signed headers and the body's
//!   SHA-256, with `X-TC-Action`, `X-TC-Timestamp` (within 5 minutes), `X-TC-Version` and,
//!   for temporary keys, `X-TC-Token`;
//! - the actions, <https://cloud.tencent.com/document/product/1427/56153>:
//!   `DescribeDomainList` (`Offset`, `Limit`; `DomainCountInfo.AllTotal`, `DomainList[]` with
//!   `DomainId`, `Name`, `Punycode`), `DescribeRecordList` (`Domain`, `Subdomain`,
//!   `RecordType`; `RecordCountInfo.TotalCount`, `RecordList[]` with `RecordId`, `Name`,
//!   `Type`, `Value`, `Line`, `TTL`; `ResourceNotFound.NoDataOfRecord` when there are none),
//!   `CreateRecord` (`Domain`, `SubDomain`, `RecordType`, `RecordLine`, `Value`, `TTL` at
//!   least 600 on the free plan; answers `RecordId`) and `DeleteRecord` (`Domain`, `RecordId`);
//! - every answer is HTTP 200 with `{"Response": {"RequestId", ...}}`, errors as
//!   `"Error": {"Code", "Message"}` (`AuthFailure.SecretIdNotFound`,
//!   `AuthFailure.SignatureFailure`, `AuthFailure.SignatureExpire`, `AuthFailure.TokenFailure`).
//!
//! When given a BIND, the fake applies each TXT change to it through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret};
use wildcert_dns_rfc2136::Rfc2136;
use wildcert_dns_tencentcloud::TencentCloud;

const ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3wildcert";
const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3secretkey";
const TOKEN: &str = "tc-session-token-4d2f";

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain: String,
    name: String,
    value: String,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next: u64,
    /// Whether a session token must come with the key (temporary keys).
    temporary: bool,
}

fn answer(response: Value) -> Reply {
    let mut response = response;
    response["RequestId"] = json!("ab4f1426-ea15-4a8e-8e6e-0ad5a1f8a9b1");
    Reply::json(200, json!({ "Response": response }))
}

fn error(code: &str, message: &str) -> Reply {
    answer(json!({"Error": {"Code": code, "Message": message}}))
}

fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// Verifies the TC3-HMAC-SHA256 signature as the API does.
fn authenticate(state: &State, request: &HttpRequest) -> Option<Reply> {
    let Some(value) = request.header("authorization") else {
        return Some(error("AuthFailure.SignatureFailure", "The request does not carry a signature."));
    };
    let Some(rest) = value.strip_prefix("TC3-HMAC-SHA256 ") else {
        return Some(error("AuthFailure.InvalidAuthorization", "Unknown signing method."));
    };
    let field = |name: &str| rest.split(", ").find_map(|p| p.strip_prefix(&format!("{name}=")));
    let credential = field("Credential").unwrap_or_default();
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 4 || parts[0] != ID {
        return Some(error("AuthFailure.SecretIdNotFound", "The SecretId is not found."));
    }
    let timestamp: i64 = request.header("x-tc-timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    let now = time::OffsetDateTime::now_utc();
    if (now.unix_timestamp() - timestamp).abs() > 300 {
        return Some(error("AuthFailure.SignatureExpire", "The signature expired."));
    }
    let date = time::OffsetDateTime::from_unix_timestamp(timestamp).unwrap().date().to_string();
    if parts[1] != date || parts[2] != "dnspod" || parts[3] != "tc3_request" {
        return Some(error("AuthFailure.SignatureFailure", "The credential scope does not match."));
    }
    if state.temporary && request.header("x-tc-token") != Some(TOKEN) {
        return Some(error("AuthFailure.TokenFailure", "The token is invalid."));
    }
    let signed = field("SignedHeaders").unwrap_or_default();
    let headers: String = signed
        .split(';')
        .map(|h| format!("{h}:{}\n", request.header(h).unwrap_or_default().trim().to_ascii_lowercase()))
        .collect();
    let canonical = format!("POST\n/\n\n{headers}\n{signed}\n{}", sha256_hex(request.body.as_bytes()));
    let scope = format!("{date}/dnspod/tc3_request");
    let to_sign = format!("TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
    let k = hmac(format!("TC3{KEY}").as_bytes(), date.as_bytes());
    let k = hmac(&k, b"dnspod");
    let k = hmac(&k, b"tc3_request");
    let expected: String = hmac(&k, to_sign.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    if !signed.split(';').any(|h| h == "host") || field("Signature") != Some(expected.as_str()) {
        return Some(error(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated.",
        ));
    }
    None
}

fn fqdn(r: &Record) -> String {
    if r.name == "@" { format!("{}.", r.domain) } else { format!("{}.{}.", r.name, r.domain) }
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.method != "POST" || request.path() != "/" {
        return Reply::json(404, json!({}));
    }
    if let Some(refusal) = authenticate(state, request) {
        return refusal;
    }
    if request.header("x-tc-version") != Some("2021-03-23") {
        return error("InvalidParameter", "X-TC-Version is not a version of this API.");
    }
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let page = |items: Vec<Value>| {
        let offset = body["Offset"].as_u64().unwrap_or(0) as usize;
        let limit = body["Limit"].as_u64().unwrap_or(20).clamp(1, 3000) as usize;
        items.into_iter().skip(offset).take(limit).collect::<Vec<Value>>()
    };
    let known = |d: &Value| d.as_str().is_some_and(|d| state.domains.iter().any(|x| x == d));
    match request.header("x-tc-action").unwrap_or_default() {
        "DescribeDomainList" => {
            let all: Vec<Value> = state
                .domains
                .iter()
                .enumerate()
                .map(|(i, d)| json!({"DomainId": 1000 + i, "Name": d, "Punycode": d, "Status": "ENABLE", "DNSStatus": ""}))
                .collect();
            let total = all.len();
            answer(
                json!({"DomainCountInfo": {"AllTotal": total, "DomainTotal": total}, "DomainList": page(all)}),
            )
        }
        "DescribeRecordList" => {
            if !known(&body["Domain"]) {
                return error("ResourceNotFound.NoDataOfDomain", "The domain does not exist.");
            }
            let domain = body["Domain"].as_str().unwrap();
            let mut all: Vec<Value> = vec![
                json!({"RecordId": 1, "Name": "@", "Type": "NS", "Value": "f1g1ns1.dnspod.net.", "Line": "默认", "TTL": 86400}),
            ];
            all.extend(state.records.iter().filter(|r| r.domain == domain).map(|r| {
                json!({"RecordId": r.id, "Name": r.name, "Type": "TXT", "Value": r.value, "Line": "默认", "TTL": 600, "Status": "ENABLE"})
            }));
            all.retain(|r| {
                body["Subdomain"].as_str().is_none_or(|s| r["Name"] == s)
                    && body["RecordType"].as_str().is_none_or(|t| r["Type"] == t)
            });
            if all.is_empty() {
                return error("ResourceNotFound.NoDataOfRecord", "The record list is empty.");
            }
            let total = all.len();
            answer(
                json!({"RecordCountInfo": {"TotalCount": total, "ListCount": total, "SubdomainCount": total}, "RecordList": page(all)}),
            )
        }
        "CreateRecord" => {
            if !known(&body["Domain"]) {
                return error("InvalidParameterValue.DomainNotExists", "The domain does not exist.");
            }
            if body["RecordType"] != "TXT" || body["RecordLine"] != "默认" || !body["Value"].is_string() {
                return error("InvalidParameter", "RecordType, RecordLine and Value are required.");
            }
            if body["TTL"].as_u64().is_some_and(|t| t < 600) {
                return error("InvalidParameter.InvalidTTL", "The TTL is below the plan's minimum.");
            }
            let r = Record {
                id: {
                    state.next += 1;
                    1_000_000 + state.next
                },
                domain: body["Domain"].as_str().unwrap().into(),
                name: body["SubDomain"].as_str().unwrap_or("@").into(),
                value: body["Value"].as_str().unwrap().into(),
            };
            if state.records.iter().any(|x| x.domain == r.domain && x.name == r.name && x.value == r.value) {
                return error("InvalidParameter.DomainRecordExist", "The record already exists.");
            }
            let change = Change::add(fqdn(&r), r.value.clone());
            let id = r.id;
            state.records.push(r);
            answer(json!({"RecordId": id})).with([change])
        }
        "DeleteRecord" => {
            let id = body["RecordId"].as_u64().unwrap_or(0);
            let Some(at) =
                state.records.iter().position(|r| r.id == id && body["Domain"] == r.domain.as_str())
            else {
                return error("InvalidParameter.RecordIdInvalid", "The record ID is invalid.");
            };
            let r = state.records.remove(at);
            answer(json!({})).with([Change::remove(fqdn(&r), r.value)])
        }
        _ => error("InvalidAction", "The action does not exist."),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state.records.iter().filter(|r| fqdn(r).eq_ignore_ascii_case(name)).map(|r| r.value.clone()).collect()
}

fn adapter(url: &str, id: &str, key: &str) -> TencentCloud {
    TencentCloud::new(url, &Secret::new(id), &Secret::new(key), None, None, Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, refusals and retries; temporary keys
/// send their token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencentcloud_conformance() {
    let api = fake(&["example.org", "example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, ID, KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    assert!(api.state().records.is_empty());
    conformance::auth_failure(
        &adapter(&api.url, ID, "wrong-key"),
        &fqdn,
        &None,
        "secret_key",
        &["wrong-key".into(), KEY.into()],
    )
    .await;
    conformance::auth_failure(
        &adapter(&api.url, "AKIDunknown", KEY),
        &fqdn,
        &None,
        "secret_id",
        &[KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, ID, KEY), &api.upstream(), &fqdn, &None).await;

    api.state().temporary = true;
    let record = conformance::record("_acme-challenge.example.org.", &None, "temporary-key-value");
    let err = adapter(&api.url, ID, KEY).present(&record).await.unwrap_err();
    assert!(err.to_string().contains("session_token"), "{err}");
    let temporary = TencentCloud::new(
        &api.url,
        &Secret::new(ID),
        &Secret::new(KEY),
        Some(&Secret::new(TOKEN)),
        Some("ap-guangzhou"),
        Duration::from_secs(5),
    )
    .unwrap();
    temporary.present(&record).await.unwrap();
    assert_eq!(values(&api.state(), "_acme-challenge.example.org."), ["temporary-key-value"]);
    temporary.cleanup(&record).await.unwrap();
    assert!(api.state().records.is_empty());
}

/// The installer's settings (lego's names) reach the adapter; `dnspod` is routed here.
#[test]
fn tencentcloud_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "tencentcloud"
settings = { TENCENTCLOUD_SECRET_ID_FILE = "/etc/wildcert/tc.id", TENCENTCLOUD_SECRET_KEY_FILE = "/etc/wildcert/tc.key", TENCENTCLOUD_REGION = "ap-guangzhou", TENCENTCLOUD_TTL = "600" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "TENCENTCLOUD_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::TencentCloud(cfg) = &config.dns["installer"].config else {
        panic!("not tencentcloud")
    };
    assert_eq!(cfg.region.as_deref(), Some("ap-guangzhou"));
    assert!(cfg.secret_id.is_some() && cfg.secret_key.is_some());
    let status = wildcert::config::provider_codes::status("dnspod");
    assert_eq!(status.word(), "routed");
    assert_eq!(status.builtin().map(|b| b.code), Some("tencentcloud"));
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencentcloud_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let id_file = fake_api::secret_file(&stack, "tencentcloud.id", ID);
    let key_file = fake_api::secret_file(&stack, "tencentcloud.key", KEY);
    let table = format!(
        "provider = \"tencentcloud\"\napi_url = \"{}\"\nsecret_id_file = \"{}\"\nsecret_key_file = \"{}\"",
        api.url,
        id_file.display(),
        key_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY]);
    assert!(api.state().records.is_empty());
}
