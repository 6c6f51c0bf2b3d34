//! The Lightsail adapter against a contract fake of Amazon Lightsail's JSON API, built from
//! the Lightsail API Reference (`GetDomain` answering `domain.domainEntries[]` with `id`,
//! `name`, `target`, `type`; `CreateDomainEntry` and `DeleteDomainEntry` taking
//! `domainName` and a `domainEntry`, answering an `operation`; a missing domain or entry is
//! 400 `NotFoundException`), called as the AWS JSON 1.1 protocol (`POST /`, `Content-Type:
//! application/x-amz-json-1.1`, `X-Amz-Target: Lightsail_20161128.<Action>`), and from AWS's
//! "Signature Version 4 signing process": the fake recomputes every request's signature
//! from its canonical request (method, path, query, the signed headers, the body's
//! SHA-256) with the key's secret and refuses a mismatch with 403
//! `InvalidSignatureException`, an unknown key with 400 `UnrecognizedClientException`.
//! When given a BIND, the fake applies every change to it through RFC 2136, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, FakeApi, Reply};
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_lightsail::{Lightsail, LightsailSettings};
use wildcert_dns_rfc2136::Rfc2136;

const KEY_ID: &str = "AKIAWILDCERTF4KE";
const SECRET_KEY: &str = "wJalrXUtnFEMIK7MDENGbPxRfiCYf4keSecret";

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    domain: String,
    name: String,
    target: String,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    entries: Vec<Entry>,
    next_id: u64,
    /// Every request's X-Amz-Target action.
    seen: Vec<String>,
    /// Every request's Authorization header.
    authorizations: Vec<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes()).as_ref().to_vec()
}

fn aws_error(kind: &str, message: &str) -> Value {
    json!({"__type": kind, "message": message})
}

/// Checks a request's SigV4 signature the way AWS documents it. `Err` is the AWS answer.
fn verify(request: &HttpRequest) -> Result<(), (u16, Value)> {
    let header =
        |name: &str| request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_string());
    let auth = header("authorization").unwrap_or_default();
    let refuse = |m: &str| Err((403, aws_error("IncompleteSignatureException", m)));
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else { return refuse("Authorization header") };
    let fields: Vec<(&str, &str)> = rest.split(", ").filter_map(|f| f.split_once('=')).collect();
    let field =
        |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()).unwrap_or_default();
    let (credential, signed, signature) = (field("Credential"), field("SignedHeaders"), field("Signature"));
    let scope: Vec<&str> = credential.split('/').collect();
    let Some(amz_date) = header("x-amz-date") else { return refuse("X-Amz-Date is missing") };
    if scope.len() != 5 || scope[2] != "us-east-1" || scope[3] != "lightsail" || scope[4] != "aws4_request" {
        return refuse("Credential scope");
    }
    if !amz_date.starts_with(scope[1]) || amz_date.len() != 16 {
        return refuse("X-Amz-Date does not match the credential scope");
    }
    if scope[0] != KEY_ID {
        return Err((
            400,
            aws_error(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
        ));
    }
    let names: Vec<&str> = signed.split(';').collect();
    for required in ["host", "x-amz-date", "x-amz-target", "content-type"] {
        if !names.contains(&required) {
            return refuse(&format!("{required} is not signed"));
        }
    }
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let canonical_headers: String =
        names.iter().map(|n| format!("{n}:{}\n", header(n).unwrap_or_default())).collect();
    let canonical = format!(
        "{}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{}",
        request.method,
        hex(digest::digest(&digest::SHA256, request.body.as_bytes()).as_ref())
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        scope[1..].join("/"),
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mut key = mac(format!("AWS4{SECRET_KEY}").as_bytes(), scope[1]);
    for part in &scope[2..] {
        key = mac(&key, part);
    }
    if hex(&mac(&key, &to_sign)) != signature {
        return Err((
            403,
            aws_error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            ),
        ));
    }
    Ok(())
}

type Change = Option<(bool, TxtRecord)>;

fn txt(e: &Entry) -> TxtRecord {
    TxtRecord {
        fqdn: format!("{}.", e.name),
        zone: Some(format!("{}.", e.domain)),
        value: e.target.trim_matches('"').to_string(),
        ttl: 60,
        raw: None,
    }
}

fn operation(kind: &str, domain: &str) -> Value {
    json!({"operation": {"id": "op-1", "resourceName": domain, "resourceType": "Domain", "operationType": kind, "status": "Succeeded", "isTerminal": true, "location": {"availabilityZone": "all", "regionName": "global"}}})
}

/// Answers one request: status, JSON body and the change to mirror.
fn answer(state: &mut State, request: &HttpRequest) -> (u16, Value, Change) {
    let header = |name: &str| request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let action = header("x-amz-target").unwrap_or_default();
    state.seen.push(action.clone());
    state.authorizations.push(header("authorization").unwrap_or_default());
    if request.method != "POST"
        || request.target != "/"
        || header("content-type").as_deref() != Some("application/x-amz-json-1.1")
    {
        return (
            400,
            aws_error("SerializationException", "Start of structure or map found where not expected."),
            None,
        );
    }
    if let Err((status, body)) = verify(request) {
        return (status, body, None);
    }
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let domain = body["domainName"].as_str().unwrap_or_default().to_string();
    if !state.domains.contains(&domain) {
        return (400, aws_error("NotFoundException", &format!("Domain {domain} does not exist")), None);
    }
    let entry = &body["domainEntry"];
    match action.strip_prefix("Lightsail_20161128.").unwrap_or_default() {
        "GetDomain" => {
            let entries: Vec<Value> = state
                .entries
                .iter()
                .filter(|e| e.domain == domain)
                .map(|e| json!({"id": e.id, "name": e.name, "target": e.target, "isAlias": false, "type": "TXT", "options": {}}))
                .collect();
            (
                200,
                json!({"domain": {"name": domain, "arn": format!("arn:aws:lightsail:global:1:Domain/{domain}"), "resourceType": "Domain", "location": {"availabilityZone": "all", "regionName": "global"}, "domainEntries": entries}}),
                None,
            )
        }
        "CreateDomainEntry" => {
            let (Some(name), Some(target)) = (entry["name"].as_str(), entry["target"].as_str()) else {
                return (
                    400,
                    aws_error("InvalidInputException", "domainEntry.name and target are required"),
                    None,
                );
            };
            if entry["type"] != "TXT" || !(name == domain || name.ends_with(&format!(".{domain}"))) {
                return (
                    400,
                    aws_error("InvalidInputException", "The domain entry is not valid for this domain."),
                    None,
                );
            }
            if state.entries.iter().any(|e| e.name == name && e.target == target) {
                return (400, aws_error("InvalidInputException", "The domain entry already exists."), None);
            }
            state.next_id += 1;
            let e = Entry {
                id: format!("-{}", state.next_id),
                domain: domain.clone(),
                name: name.into(),
                target: target.into(),
            };
            let change = Some((true, txt(&e)));
            state.entries.push(e);
            (200, operation("CreateDomainEntry", &domain), change)
        }
        "DeleteDomainEntry" => {
            let found = state.entries.iter().position(|e| {
                e.domain == domain
                    && entry["id"].as_str().is_none_or(|id| id == e.id)
                    && entry["name"].as_str() == Some(&e.name)
                    && entry["target"].as_str() == Some(&e.target)
            });
            match found {
                Some(i) => {
                    let e = state.entries.remove(i);
                    (200, operation("DeleteDomainEntry", &domain), Some((false, txt(&e))))
                }
                None => (400, aws_error("NotFoundException", "The domain entry does not exist."), None),
            }
        }
        _ => (400, aws_error("UnknownOperationException", "unknown operation"), None),
    }
}

/// Serves [`answer`] the way the Lightsail API does: JSON 1.1 with a request id.
fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let (status, body, change) = answer(state, request);
    Reply::text(status, "application/x-amz-json-1.1", body.to_string())
        .header("x-amzn-RequestId", "1")
        .with(change.map(|(add, record)| fake_api::Change { add, fqdn: record.fqdn, value: record.value }))
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .entries
        .iter()
        .filter(|e| format!("{}.", e.name).eq_ignore_ascii_case(name))
        .map(|e| e.target.trim_matches('"').to_string())
        .collect()
}

fn adapter(url: &str, secret: &str) -> Lightsail {
    Lightsail::new(LightsailSettings {
        zone: None,
        region: "us-east-1".into(),
        access_key_id: Some(KEY_ID.into()),
        secret_access_key: Some(Secret::new(secret)),
        session_token: None,
        profile: None,
        api_url: Some(url.into()),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

/// The conformance suite with static keys; every request the fake accepted carried a
/// signature it recomputed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightsail_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, SECRET_KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![SECRET_KEY.into()],
    };
    conformance::records(&subject).await;
    let seen = api.state().seen.clone();
    assert!(seen.iter().any(|s| s == "Lightsail_20161128.CreateDomainEntry"), "{seen:#?}");
    assert!(seen.iter().any(|s| s == "Lightsail_20161128.DeleteDomainEntry"), "{seen:#?}");
    let auths = api.state().authorizations.clone();
    assert!(
        auths.iter().all(|a| a.starts_with(&format!("AWS4-HMAC-SHA256 Credential={KEY_ID}/"))),
        "{auths:#?}"
    );
    conformance::auth_failure(
        &adapter(&api.url, "wJalrXUtnFEMIwrongSecret"),
        &fqdn,
        &None,
        "secret_access_key",
        &["wJalrXUtnFEMIwrongSecret".into(), SECRET_KEY.into()],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").to_string();
    conformance::busy_is_retried(|url: &str| adapter(url, SECRET_KEY), &upstream, &fqdn, &None).await;
}

/// The installer's settings reach the adapter; AWS_REGION does not move Lightsail's DNS
/// API away from us-east-1.
#[tokio::test]
async fn lightsail_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let secret = fake_api::temp_secret(dir.path(), "aws.secret", SECRET_KEY);
    let text = fake_api::config_with(&format!(
        r#"[dns.installer]
provider = "lightsail"
settings = {{ AWS_ACCESS_KEY_ID = "{KEY_ID}", AWS_SECRET_ACCESS_KEY_FILE = "{secret}", DNS_ZONE = "example.com", AWS_REGION = "eu-west-1", LIGHTSAIL_PROPAGATION_TIMEOUT = "60" }}
"#
    ));
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "AWS_REGION has no effect");
    let provider = Provider::from_section(&config.dns["installer"], &mut Vec::new()).unwrap();
    assert!(matches!(provider, Provider::Lightsail(_)));
    assert_eq!(provider.describe(), "lightsail (https://lightsail.us-east-1.amazonaws.com)");
    assert!(!format!("{provider:?}").contains(SECRET_KEY));
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("AWS_ACCESS_KEY_ID = \"AKIAWILDCERTF4KE\", ", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("access_key_id"), "{err}");
}

/// `wildcert issue` through the fake with no keys in the configuration: the credentials come
/// from the AWS chain (here the environment), the fake checks every signature, writes to
/// BIND over RFC 2136, Pebble validates by asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightsail_issue_with_the_credential_chain() {
    let stack = fake_api::issuance_stack();
    let bind = fake_api::bind_mirror(&stack);
    let api = fake(&["gradient.example.com"], Some(bind)).await;
    let config =
        fake_api::issuance_config(&stack, &format!("provider = \"lightsail\"\napi_url = \"{}\"", api.url));
    let missing = stack.dir().join("no-such-aws-file");
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wildcert"))
            .arg("--config")
            .arg(&config)
            .arg("issue")
            .env_remove("WILDCERT_LOG")
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_CONFIG_FILE", &missing)
            .env("AWS_SHARED_CREDENTIALS_FILE", &missing)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    });
    fake_api::assert_issued(&stack, out, &[SECRET_KEY]);
    let seen = api.state().seen.clone();
    assert_eq!(seen.iter().filter(|s| s.ends_with(".CreateDomainEntry")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.ends_with(".DeleteDomainEntry")).count(), 2, "{seen:#?}");
    assert!(api.state().entries.is_empty());
}
