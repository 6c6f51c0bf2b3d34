//! The Azure DNS adapter against a contract fake of Azure Resource Manager's DNS APIs and
//! the token services, built from Microsoft's public REST reference: "Record Sets - Get /
//! Create Or Update / Delete" of `Microsoft.Network/dnsZones` (api-version 2018-05-01,
//! `properties.TTL` and `properties.TXTRecords[].value[]`) and of
//! `Microsoft.Network/privateDnsZones` (api-version 2020-06-01, `properties.ttl` and
//! `txtRecords`), "Zones - Get", each answer carrying an `etag`; `If-Match` with a stale etag
//! or `If-None-Match: *` on an existing set fail with 412 `PreconditionFailed`; a missing set
//! is 404 `NotFound`; errors as `{"error": {"code", "message"}}`; the Microsoft identity
//! platform's client-credentials flow (`POST /{tenant}/oauth2/v2.0/token` with `client_id`,
//! `client_secret`, `scope=https://management.azure.com/.default`, refused with 401
//! `invalid_client`); and the Instance Metadata Service's managed identity token (`GET
//! /metadata/identity/oauth2/token?api-version=2018-02-01&resource=`, only with `Metadata:
//! true`, `expires_in` as a string). When given a BIND, the fake applies every change to it
//! through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, FakeApi, Reply, decode, query_pairs};
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_azure::{AuthMethod, AzureDns, AzureSettings, Environment};
use wildcert_dns_rfc2136::Rfc2136;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "0b1f9a8e-app";
const CLIENT_SECRET: &str = "Zq8~f4kecl1entsecret";
const ACCESS: &str = "eyJ0eXAi.app-token.f4ke";
const MSI_ACCESS: &str = "eyJ0eXAi.msi-token.f4ke";
const SUBSCRIPTION: &str = "sub-1234";
const GROUP: &str = "dns-rg";

/// One record set: (kind, zone, relative name) -> etag, TTL, values.
type Key = (String, String, String);

#[derive(Debug, Clone)]
struct Set {
    etag: u64,
    ttl: u64,
    values: Vec<String>,
}

#[derive(Default)]
struct State {
    /// (kind, zone).
    zones: Vec<(String, String)>,
    sets: BTreeMap<Key, Set>,
    next_etag: u64,
    seen: Vec<String>,
    headers: Vec<Vec<(String, String)>>,
    token_requests: u32,
    /// Before the next write, someone else adds a value to the set (a new etag).
    interfere: bool,
}

fn arm_error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn fqdn(zone: &str, rel: &str) -> String {
    if rel == "@" { format!("{zone}.") } else { format!("{rel}.{zone}.") }
}

type Change = (bool, TxtRecord);

fn set_json(kind: &str, zone: &str, rel: &str, set: &Set) -> Value {
    let records: Vec<Value> = set.values.iter().map(|v| json!({"value": [v]})).collect();
    let private = kind == "privateDnsZones";
    let properties = if private {
        json!({"ttl": set.ttl, "fqdn": fqdn(zone, rel), "isAutoRegistered": false, "txtRecords": records})
    } else {
        json!({"TTL": set.ttl, "fqdn": fqdn(zone, rel), "provisioningState": "Succeeded", "TXTRecords": records})
    };
    json!({
        "id": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Network/{kind}/{zone}/TXT/{rel}"),
        "name": rel,
        "type": format!("Microsoft.Network/{kind}/TXT"),
        "etag": format!("etag-{}", set.etag),
        "properties": properties,
    })
}

/// Routes one Resource Manager request.
fn arm(
    state: &mut State,
    method: &str,
    target: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &str,
) -> (u16, Value, Vec<Change>) {
    let auth = header("authorization");
    if auth != Some(format!("Bearer {ACCESS}")) && auth != Some(format!("Bearer {MSI_ACCESS}")) {
        return (401, arm_error("InvalidAuthenticationToken", "The access token is invalid."), Vec::new());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let version = query_pairs(query).into_iter().find(|(k, _)| k == "api-version").map(|(_, v)| v);
    let parts: Vec<String> = path.trim_start_matches('/').split('/').map(decode).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let [
        "subscriptions",
        sub,
        "resourceGroups",
        group,
        "providers",
        "Microsoft.Network",
        kind,
        zone,
        rest @ ..,
    ] = parts.as_slice()
    else {
        return (404, arm_error("NotFound", "path"), Vec::new());
    };
    let expected = if *kind == "privateDnsZones" { "2020-06-01" } else { "2018-05-01" };
    if version.as_deref() != Some(expected) {
        return (400, arm_error("InvalidApiVersionParameter", "The api-version is invalid."), Vec::new());
    }
    if *sub != SUBSCRIPTION || *group != GROUP {
        return (404, arm_error("ResourceGroupNotFound", "Resource group could not be found."), Vec::new());
    }
    let zone_known = state.zones.iter().any(|(k, z)| k == kind && z == zone);
    if !zone_known {
        return (
            404,
            arm_error("ResourceNotFound", &format!("The Resource '{kind}/{zone}' was not found.")),
            Vec::new(),
        );
    }
    let (kind, zone) = (kind.to_string(), zone.to_string());
    match (method, rest) {
        ("GET", []) => (
            200,
            json!({"name": zone, "type": format!("Microsoft.Network/{kind}"), "location": "global", "etag": "z1", "properties": {}}),
            Vec::new(),
        ),
        (_, ["TXT", rel]) => {
            let key: Key = (kind.clone(), zone.clone(), rel.to_string());
            if method != "GET" && std::mem::take(&mut state.interfere) {
                state.next_etag += 1;
                let etag = state.next_etag;
                let set = state.sets.entry(key.clone()).or_insert(Set { etag, ttl: 60, values: Vec::new() });
                set.etag = etag;
                set.values.push("theirs".into());
            }
            let current = state.sets.get(&key).cloned();
            let if_match = header("if-match");
            let stale = if_match
                .as_ref()
                .is_some_and(|e| current.as_ref().is_none_or(|c| *e != format!("etag-{}", c.etag)));
            let taken = header("if-none-match").as_deref() == Some("*") && current.is_some();
            let precondition = || {
                (
                    412,
                    arm_error(
                        "PreconditionFailed",
                        "The condition specified using HTTP conditional header(s) is not met.",
                    ),
                    Vec::new(),
                )
            };
            let txt = |value: &str| TxtRecord {
                fqdn: fqdn(&zone, rel),
                zone: Some(format!("{zone}.")),
                value: value.into(),
                ttl: 60,
                raw: None,
            };
            match method {
                "GET" => match &current {
                    Some(set) => (200, set_json(&kind, &zone, rel, set), Vec::new()),
                    None => (
                        404,
                        arm_error(
                            "NotFound",
                            &format!(
                                "The resource record '{rel}' does not exist in resource group '{GROUP}' of subscription '{SUBSCRIPTION}'."
                            ),
                        ),
                        Vec::new(),
                    ),
                },
                "PUT" => {
                    if stale || taken {
                        return precondition();
                    }
                    let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                    let (ttl_key, records_key) =
                        if kind == "privateDnsZones" { ("ttl", "txtRecords") } else { ("TTL", "TXTRecords") };
                    let Some(records) = request["properties"][records_key].as_array() else {
                        return (
                            400,
                            arm_error("BadRequest", &format!("properties.{records_key} is required")),
                            Vec::new(),
                        );
                    };
                    let values: Vec<String> = records
                        .iter()
                        .map(|r| {
                            r["value"]
                                .as_array()
                                .map(|p| p.iter().filter_map(Value::as_str).collect::<String>())
                                .unwrap_or_default()
                        })
                        .collect();
                    let ttl = request["properties"][ttl_key].as_u64().unwrap_or(3600);
                    let before = current.as_ref().map(|c| c.values.clone()).unwrap_or_default();
                    let mut changes: Vec<Change> =
                        values.iter().filter(|v| !before.contains(v)).map(|v| (true, txt(v))).collect();
                    changes.extend(before.iter().filter(|v| !values.contains(v)).map(|v| (false, txt(v))));
                    state.next_etag += 1;
                    let set = Set { etag: state.next_etag, ttl, values };
                    let answer = set_json(&kind, &zone, rel, &set);
                    state.sets.insert(key, set);
                    (if current.is_some() { 200 } else { 201 }, answer, changes)
                }
                "DELETE" => {
                    if stale {
                        return precondition();
                    }
                    match state.sets.remove(&key) {
                        Some(set) => (200, Value::Null, set.values.iter().map(|v| (false, txt(v))).collect()),
                        None => (204, Value::Null, Vec::new()),
                    }
                }
                _ => (405, arm_error("MethodNotAllowed", "method"), Vec::new()),
            }
        }
        _ => (404, arm_error("NotFound", "path"), Vec::new()),
    }
}

/// Routes one request: the identity platform's token endpoint, the metadata service's
/// managed identity token, or Resource Manager.
fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let header = |name: &str| request.header(name).map(str::to_string);
    state.seen.push(format!("{} {}", request.method, request.target));
    state.headers.push(request.headers.clone());
    let (status, body, changes) = if request.target == format!("/{TENANT}/oauth2/v2.0/token") {
        state.token_requests += 1;
        let fields = query_pairs(&request.body);
        let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        if field("grant_type") != "client_credentials"
            || field("scope") != "https://management.azure.com/.default"
        {
            (
                400,
                json!({"error": "invalid_request", "error_description": "AADSTS900144: bad request"}),
                Vec::new(),
            )
        } else if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
            (
                401,
                json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}),
                Vec::new(),
            )
        } else {
            (
                200,
                json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": ACCESS}),
                Vec::new(),
            )
        }
    } else if request.target.starts_with("/metadata/identity/oauth2/token?") {
        let q = query_pairs(request.target.split_once('?').unwrap().1);
        let has = |k: &str, v: &str| q.iter().any(|(n, x)| n == k && x == v);
        if header("metadata").as_deref() != Some("true") {
            (
                400,
                json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
                Vec::new(),
            )
        } else if !has("api-version", "2018-02-01") || !has("resource", "https://management.azure.com/") {
            (400, json!({"error": "invalid_request", "error_description": "bad query"}), Vec::new())
        } else {
            (
                200,
                json!({"access_token": MSI_ACCESS, "expires_in": "86399", "expires_on": "1764800000", "resource": "https://management.azure.com/", "token_type": "Bearer"}),
                Vec::new(),
            )
        }
    } else {
        arm(state, &request.method, &request.target, &header, &request.body)
    };
    Reply::json(status, body).with(changes.into_iter().map(|(add, record)| fake_api::Change {
        add,
        fqdn: record.fqdn,
        value: record.value,
    }))
}

async fn fake(zones: &[(&str, &str)], bind: Option<Rfc2136>) -> FakeApi<State> {
    let zones = zones.iter().map(|(k, z)| (k.to_string(), z.to_string())).collect();
    FakeApi::start(State { zones, ..Default::default() }, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .sets
        .iter()
        .filter(|((_, zone, rel), _)| fqdn(zone, rel).eq_ignore_ascii_case(name))
        .flat_map(|(_, set)| set.values.clone())
        .collect()
}

fn settings(url: &str, secret: Option<&str>) -> AzureSettings {
    AzureSettings {
        client_id: Some(CLIENT_ID.into()),
        client_secret: secret.map(Secret::new),
        tenant_id: Some(TENANT.into()),
        subscription_id: SUBSCRIPTION.into(),
        resource_group: GROUP.into(),
        zone_name: None,
        private_zone: false,
        environment: Environment::Public,
        auth_method: AuthMethod::Default,
        msi_timeout: Duration::from_secs(2),
        api_url: Some(url.into()),
        token_url: Some(format!("{url}/{TENANT}/oauth2/v2.0/token")),
        metadata_url: format!("{url}/metadata/identity/oauth2/token"),
        timeout: Duration::from_secs(5),
    }
}

/// The conformance suite with a client secret against a public zone: the zone is found by
/// name, writes carry the etag they read, and the token is fetched once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_conformance() {
    let api = fake(&[("dnsZones", "example.com")], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: AzureDns::new(settings(&api.url, Some(CLIENT_SECRET))).unwrap(),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![CLIENT_SECRET.into(), ACCESS.into()],
    };
    conformance::records(&subject).await;
    {
        let state = api.state();
        assert_eq!(state.token_requests, 1, "the token is cached");
        let path = format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Network/dnsZones/example.com/TXT/_acme-challenge.gradient?api-version=2018-05-01"
        );
        assert!(state.seen.contains(&format!("PUT {path}")), "{:#?}", state.seen);
        assert!(state.seen.contains(&format!("DELETE {path}")), "{:#?}", state.seen);
        // The second value's write was conditional on the etag of the set it read.
        let conditional = state
            .seen
            .iter()
            .zip(&state.headers)
            .filter(|(s, _)| s.starts_with("PUT "))
            .filter(|(_, h)| h.iter().any(|(n, v)| n == "if-match" && v.starts_with("etag-")))
            .count();
        assert!(conditional >= 1, "{:#?}", state.seen);
    }
    conformance::auth_failure(
        &AzureDns::new(settings(&api.url, Some("Zq8~wrong"))).unwrap(),
        &fqdn,
        &None,
        "client_secret",
        &["Zq8~wrong".into(), CLIENT_SECRET.into()],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").to_string();
    let url = api.url.clone();
    conformance::busy_is_retried(
        |proxy: &str| {
            let mut s = settings(&url, Some(CLIENT_SECRET));
            s.api_url = Some(proxy.into());
            AzureDns::new(s).unwrap()
        },
        &upstream,
        &fqdn,
        &None,
    )
    .await;
}

/// A managed identity (IMDS, `Metadata: true`) writes into a private zone named by
/// zone_name, with the private API's version and field names; a set changed by someone else
/// between read and write (stale etag) is read again, keeping their value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_managed_identity_private_zone() {
    let api = fake(&[("privateDnsZones", "corp.example")], None).await;
    let mut s = settings(&api.url, None);
    s.client_id = None;
    s.auth_method = AuthMethod::Msi;
    s.private_zone = true;
    s.zone_name = Some("corp.example.".into());
    let p = AzureDns::new(s).unwrap();
    let record = |value: &str| TxtRecord {
        fqdn: "_acme-challenge.corp.example.".into(),
        zone: None,
        value: value.into(),
        ttl: 0,
        raw: None,
    };
    p.present(&record("ours")).await.unwrap();
    let key: Key = ("privateDnsZones".into(), "corp.example".into(), "_acme-challenge".into());
    {
        let mut state = api.state();
        let set = state.sets.get(&key).unwrap();
        assert_eq!((set.ttl, set.values.clone()), (1, vec!["ours".to_string()]), "TTL raised to 1");
        // Someone else adds a value between our read and our write: the etag changes.
        state.interfere = true;
        assert!(state.seen.iter().all(|s| !s.contains("TXT") || s.contains("api-version=2020-06-01")));
        assert!(
            state.seen.iter().all(|s| !s.ends_with("/privateDnsZones/corp.example?api-version=2020-06-01")),
            "zone_name skips the lookup"
        );
        for (seen, headers) in state.seen.iter().zip(&state.headers) {
            if seen.starts_with("GET /metadata/") {
                assert!(headers.iter().any(|(n, v)| n == "metadata" && v == "true"), "{seen}");
            }
        }
    }
    p.cleanup(&record("ours")).await.unwrap();
    assert_eq!(api.state().sets.get(&key).unwrap().values, ["theirs"]);
    let seen = api.seen();
    // The deletion of the set as read failed on its etag; the set was read again and
    // written without our value.
    assert_eq!(seen.iter().filter(|s| s.starts_with("DELETE ")).count(), 1, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("PUT ")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("GET /metadata/")).count(), 1, "{seen:#?}");
}

/// The installer's settings reach the adapter, under lego's current code and under its
/// deprecated `azure` code (with a warning).
#[tokio::test]
async fn azure_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let secret = fake_api::temp_secret(dir.path(), "azure.secret", CLIENT_SECRET);
    let text = fake_api::config_with(&format!(
        r#"[dns.installer]
provider = "azure"
settings = {{ AZURE_CLIENT_ID = "{CLIENT_ID}", AZURE_CLIENT_SECRET_FILE = "{secret}", AZURE_TENANT_ID = "{TENANT}", AZURE_SUBSCRIPTION_ID = "{SUBSCRIPTION}", AZURE_RESOURCE_GROUP = "{GROUP}", AZURE_ENVIRONMENT = "usgovernment", AZURE_PRIVATE_ZONE = "false", AZURE_TTL = "60" }}
"#
    ));
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    assert!(
        config.warnings.iter().any(|w| w.contains("\"azure\"") && w.contains("provider = \"azuredns\"")),
        "{:?}",
        config.warnings
    );
    fake_api::assert_warned(&config.warnings, "AZURE_TTL has no effect");
    let provider = Provider::from_section(&config.dns["installer"], &mut Vec::new()).unwrap();
    assert!(matches!(provider, Provider::AzureDns(_)));
    assert!(provider.describe().contains("management.usgovcloudapi.net"), "{}", provider.describe());
    let current =
        Config::parse(std::path::Path::new("w.toml"), &text.replace("\"azure\"", "\"azuredns\"")).unwrap();
    assert!(current.warnings.iter().all(|w| !w.contains("served by")), "{:?}", current.warnings);
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace("AZURE_RESOURCE_GROUP = \"dns-rg\", ", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("resource_group"), "{err}");
    // lego's AZURE_AUTH_METHOD: msi is a managed identity; methods not built in are refused.
    let msi = text.replace("AZURE_TTL", "AZURE_AUTH_METHOD = \"msi\", AZURE_MSI_TIMEOUT = \"5\", AZURE_X");
    let msi = msi.replace("AZURE_X = \"60\"", "AZURE_POLLING_INTERVAL = \"2\"");
    let config = Config::parse(std::path::Path::new("w.toml"), &msi).unwrap();
    fake_api::assert_warned(&config.warnings, "client_secret has no effect");
    assert!(Provider::from_section(&config.dns["installer"], &mut Vec::new()).is_ok());
    let err = Config::parse(std::path::Path::new("w.toml"), &msi.replace("\"msi\"", "\"cli\""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("auth_method") && err.contains("`cli` is not built in"), "{err}");
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("AZURE_TENANT_ID", "AZURE_TENANT"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("AZURE_TENANT"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let bind = fake_api::bind_mirror(&stack);
    let api = fake(&[("dnsZones", "gradient.example.com")], Some(bind)).await;
    let secret_file = fake_api::secret_file(&stack, "azure.secret", CLIENT_SECRET);
    let table = format!(
        "provider = \"azuredns\"\napi_url = \"{0}\"\ntoken_url = \"{0}/{TENANT}/oauth2/v2.0/token\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{1}\"\ntenant_id = \"{TENANT}\"\nsubscription_id = \"{SUBSCRIPTION}\"\nresource_group = \"{GROUP}\"",
        api.url,
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[CLIENT_SECRET, ACCESS]);
    let seen = api.seen();
    assert!(seen.iter().filter(|s| s.starts_with("PUT ")).count() >= 2, "{seen:#?}");
    assert!(api.state().sets.is_empty(), "no record set left");
}
