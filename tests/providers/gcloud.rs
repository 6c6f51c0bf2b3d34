//! The Google Cloud DNS adapter against a contract fake of the Cloud DNS API v1 and Google's
//! token services, built from their public documentation: the REST reference of
//! `managedZones.list` (`GET /dns/v1/projects/{project}/managedZones?dnsName=&pageToken=`,
//! answering `managedZones` with `name`, `dnsName`, `visibility` and a `nextPageToken`),
//! `managedZones.get`, `resourceRecordSets.list` (`.../rrsets?name=&type=`), `changes.create`
//! (`POST .../changes` with `additions` and `deletions` of whole record sets; a deletion
//! that does not match the set exactly fails with 412 `conditionNotMet`, an addition of an
//! existing set with 409 `alreadyExists`; the answer is a Change with `status` `pending`)
//! and `changes.get` (`done` later); errors as `{"error": {"code", "message", "errors"}}`;
//! "Using OAuth 2.0 for Server to Server Applications" (an RS256 JWT with `iss`, `scope`,
//! `aud`, `iat`, `exp`, posted as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
//! refused with 400 `invalid_grant`); and the Compute Engine metadata server
//! (`/computeMetadata/v1/instance/service-accounts/default/token` and `/project/project-id`,
//! only with `Metadata-Flavor: Google`). When given a BIND, the fake applies every change
//! to it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, FakeApi, Reply, query_pairs};
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord};
use wildcert_dns_gcloud::{Gcloud, GcloudSettings};
use wildcert_dns_rfc2136::Rfc2136;

const PROJECT: &str = "gradient-dns";
const ACCESS: &str = "ya29.key-token-f4ke0123";
const METADATA_ACCESS: &str = "ya29.instance-token-f4ke4567";
const EMAIL: &str = "wildcert@gradient-dns.iam.gserviceaccount.com";

#[derive(Debug, Clone, PartialEq)]
struct RrSet {
    zone: String,
    name: String,
    ttl: u64,
    rrdatas: Vec<String>,
}

struct Zone {
    name: &'static str,
    dns_name: &'static str,
    visibility: &'static str,
}

#[derive(Default)]
struct State {
    zones: Vec<Zone>,
    sets: Vec<RrSet>,
    changes: u64,
    /// Every request: method and target.
    seen: Vec<String>,
    /// Header lines of every request, lower case.
    headers: Vec<Vec<(String, String)>>,
    token_requests: u32,
    /// The service account's public key, to check the assertions signed with it.
    public: Vec<u8>,
    /// The fake's own URL (the token endpoint's audience).
    url: String,
}

fn query(target: &str) -> Vec<(String, String)> {
    let Some((_, q)) = target.split_once('?') else { return Vec::new() };
    query_pairs(q)
}

fn google_error(code: u16, reason: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "errors": [{"domain": "global", "reason": reason, "message": message}]}})
}

fn set_json(s: &RrSet) -> Value {
    json!({"kind": "dns#resourceRecordSet", "name": s.name, "type": "TXT", "ttl": s.ttl, "rrdatas": s.rrdatas})
}

fn zone_json(z: &Zone) -> Value {
    json!({"kind": "dns#managedZone", "name": z.name, "dnsName": z.dns_name, "id": "4811", "visibility": z.visibility, "nameServers": ["ns-cloud-a1.googledomains.com."]})
}

/// The token endpoint: checks the assertion's signature against the service account's
/// public key and its claims.
fn token(state: &mut State, public: &[u8], url: &str, body: &str) -> (u16, Value) {
    state.token_requests += 1;
    let fields = query_pairs(body);
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    if field("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return (400, json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}));
    }
    let assertion = field("assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let verified = parts.len() == 3
        && b64.decode(parts[2]).is_ok_and(|sig| {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
                .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
                .is_ok()
        });
    if !verified {
        return (400, json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}));
    }
    let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let fresh = claims["iat"].as_u64().is_some_and(|t| t.abs_diff(now) < 60)
        && claims["exp"].as_u64().is_some_and(|t| t > now && t <= now + 3600 + 60);
    if claims["iss"] != EMAIL
        || claims["aud"] != format!("{url}/token")
        || claims["scope"] != "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
        || !fresh
    {
        return (400, json!({"error": "invalid_grant", "error_description": "Invalid JWT: claims"}));
    }
    (200, json!({"access_token": ACCESS, "expires_in": 3599, "token_type": "Bearer"}))
}

type Change = Option<(bool, TxtRecord)>;

/// Routes one Cloud DNS API request.
fn dns(
    state: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Vec<Change>) {
    if auth != Some(&format!("Bearer {ACCESS}")) && auth != Some(&format!("Bearer {METADATA_ACCESS}")) {
        let e = google_error(401, "authError", "Request had invalid authentication credentials.");
        return (401, e, Vec::new());
    }
    let path = target.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let q = query(target);
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let not_found = |what: &str| {
        (
            404,
            google_error(404, "notFound", &format!("The '{what}' resource named was not found.")),
            Vec::new(),
        )
    };
    let ["dns", "v1", "projects", project, "managedZones", rest @ ..] = parts.as_slice() else {
        return not_found("path");
    };
    if *project != PROJECT {
        return (403, google_error(403, "forbidden", "Forbidden"), Vec::new());
    }
    match (method, rest) {
        ("GET", []) => {
            // One zone per page, so that paging is exercised.
            let matching: Vec<&Zone> =
                state.zones.iter().filter(|z| param("dnsName").is_none_or(|d| d == z.dns_name)).collect();
            let page: usize = param("pageToken")
                .and_then(|t| t.strip_prefix("p").map(str::to_string))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let items: Vec<Value> = matching.iter().skip(page).take(1).map(|z| zone_json(z)).collect();
            let mut answer = json!({"kind": "dns#managedZonesListResponse", "managedZones": items});
            if page + 1 < matching.len() {
                answer["nextPageToken"] = json!(format!("p{}", page + 1));
            }
            (200, answer, Vec::new())
        }
        ("GET", [zone]) => match state.zones.iter().find(|z| z.name == *zone) {
            Some(z) => (200, zone_json(z), Vec::new()),
            None => not_found("managedZone"),
        },
        ("GET", [zone, "rrsets"]) => {
            if !state.zones.iter().any(|z| z.name == *zone) {
                return not_found("managedZone");
            }
            let items: Vec<Value> = state
                .sets
                .iter()
                .filter(|s| s.zone == *zone && param("name").is_none_or(|n| n == s.name))
                .filter(|_| param("type").is_none_or(|t| t == "TXT"))
                .map(set_json)
                .collect();
            (200, json!({"kind": "dns#resourceRecordSetsListResponse", "rrsets": items}), Vec::new())
        }
        ("POST", [zone, "changes"]) => {
            let Some(z) = state.zones.iter().find(|z| z.name == *zone) else {
                return not_found("managedZone");
            };
            let dns_name = z.dns_name.to_string();
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let read = |v: &Value| -> Vec<RrSet> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|s| RrSet {
                                zone: zone.to_string(),
                                name: s["name"].as_str().unwrap_or_default().to_string(),
                                ttl: s["ttl"].as_u64().unwrap_or(0),
                                rrdatas: s["rrdatas"]
                                    .as_array()
                                    .map(|d| {
                                        d.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()
                                    })
                                    .unwrap_or_default(),
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (additions, deletions) = (read(&request["additions"]), read(&request["deletions"]));
            if additions.is_empty() && deletions.is_empty() {
                return (
                    400,
                    google_error(
                        400,
                        "required",
                        "The 'entity.change' parameter is required but was missing.",
                    ),
                    Vec::new(),
                );
            }
            let mut sets = state.sets.clone();
            let before: Vec<String> = sets
                .iter()
                .filter(|s| s.zone == *zone)
                .flat_map(|s| s.rrdatas.iter().map(|d| format!("{}|{d}", s.name)))
                .collect();
            for (i, d) in deletions.iter().enumerate() {
                match sets.iter().position(|s| s == d) {
                    Some(at) => {
                        sets.remove(at);
                    }
                    None => {
                        let message = format!("Precondition not met for 'entity.change.deletions[{i}]'");
                        return (412, google_error(412, "conditionNotMet", &message), Vec::new());
                    }
                }
            }
            for (i, a) in additions.iter().enumerate() {
                if !a.name.ends_with(&dns_name) || a.rrdatas.is_empty() {
                    return (
                        400,
                        google_error(
                            400,
                            "invalid",
                            &format!("Invalid value for 'entity.change.additions[{i}].name'"),
                        ),
                        Vec::new(),
                    );
                }
                if sets.iter().any(|s| s.zone == a.zone && s.name == a.name) {
                    let message = format!(
                        "The resource 'entity.change.additions[{i}]' named '{} (TXT)' already exists",
                        a.name
                    );
                    return (409, google_error(409, "alreadyExists", &message), Vec::new());
                }
                sets.push(a.clone());
            }
            let after: Vec<String> = sets
                .iter()
                .filter(|s| s.zone == *zone)
                .flat_map(|s| s.rrdatas.iter().map(|d| format!("{}|{d}", s.name)))
                .collect();
            state.sets = sets;
            state.changes += 1;
            let txt = |entry: &str| {
                let (name, data) = entry.split_once('|').unwrap();
                TxtRecord {
                    fqdn: name.into(),
                    zone: Some(dns_name.clone()),
                    value: data.trim_matches('"').into(),
                    ttl: 60,
                    raw: None,
                }
            };
            let mut applied: Vec<Change> =
                after.iter().filter(|e| !before.contains(e)).map(|e| Some((true, txt(e)))).collect();
            applied.extend(before.iter().filter(|e| !after.contains(e)).map(|e| Some((false, txt(e)))));
            let answer = json!({"kind": "dns#change", "id": state.changes.to_string(), "status": "pending", "startTime": "2026-12-03T04:00:00.000Z", "additions": request["additions"], "deletions": request["deletions"]});
            (200, answer, applied)
        }
        ("GET", [_zone, "changes", id]) => {
            if id.parse::<u64>().is_ok_and(|n| n >= 1 && n <= state.changes) {
                (200, json!({"kind": "dns#change", "id": id, "status": "done"}), Vec::new())
            } else {
                not_found("change")
            }
        }
        _ => not_found("path"),
    }
}

/// Routes one request: the OAuth token endpoint, the metadata server, or Cloud DNS.
fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let header = |name: &str| request.header(name).map(str::to_string);
    state.seen.push(format!("{} {}", request.method, request.target));
    state.headers.push(request.headers.clone());
    let (public, base) = (state.public.clone(), state.url.clone());
    let (status, body, changes) = if request.target == "/token" && request.method == "POST" {
        let (s, b) = token(state, &public, &base, &request.body);
        (s, b, Vec::new())
    } else if let Some(rest) = request.target.strip_prefix("/computeMetadata/v1/") {
        if header("metadata-flavor").as_deref() != Some("Google") {
            (403, json!("Missing Metadata-Flavor:Google header."), Vec::new())
        } else if rest == "instance/service-accounts/default/token" {
            (
                200,
                json!({"access_token": METADATA_ACCESS, "expires_in": 3599, "token_type": "Bearer"}),
                Vec::new(),
            )
        } else if rest == "project/project-id" {
            (200, Value::String(PROJECT.into()), Vec::new())
        } else {
            (404, json!("not found"), Vec::new())
        }
    } else {
        dns(state, &request.method, &request.target, header("authorization").as_deref(), &request.body)
    };
    let changes = changes.into_iter().flatten().map(|(add, record)| fake_api::Change {
        add,
        fqdn: record.fqdn,
        value: record.value,
    });
    // The metadata server's project-id is plain text.
    match body {
        Value::String(text) => Reply::text(status, "text/plain", text).with(changes),
        other => Reply::json(status, other).with(changes),
    }
}

async fn fake(zones: Vec<Zone>, public: Vec<u8>, bind: Option<Rfc2136>) -> FakeApi<State> {
    let api = FakeApi::start(State { zones, public, ..Default::default() }, bind, route).await;
    api.state().url = api.url.clone();
    api
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .sets
        .iter()
        .filter(|s| s.name.eq_ignore_ascii_case(name))
        .flat_map(|s| s.rrdatas.iter().map(|d| d.trim_matches('"').to_string()))
        .collect()
}

/// A service account key file for a fresh RSA key, and the key's public half.
fn service_account() -> (String, Vec<u8>, String) {
    let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = pair.as_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<String> =
        b64.as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    let file = json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "8d3f0c1e",
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "1093",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string();
    (file, pair.public_key().as_ref().to_vec(), lines[3].clone())
}

fn zones(dns_name: &'static str) -> Vec<Zone> {
    vec![
        Zone { name: "other", dns_name: "other.org.", visibility: "public" },
        Zone { name: "gradient-internal", dns_name, visibility: "private" },
        Zone { name: "gradient-public", dns_name, visibility: "public" },
    ]
}

fn settings(url: &str, key: Option<&str>) -> GcloudSettings {
    GcloudSettings {
        project: None,
        service_account: key.map(Secret::new),
        allow_private_zone: false,
        zone_id: None,
        api_url: format!("{url}/dns/v1"),
        token_url: Some(format!("{url}/token")),
        metadata_url: format!("{url}/computeMetadata/v1"),
        timeout: Duration::from_secs(5),
    }
}

/// The conformance suite with a service account key: the project comes from the key file,
/// the private zone with the same name is passed over (on another page of the listing), and
/// the token is fetched once and reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcloud_conformance() {
    let (key, public, key_line) = service_account();
    let api = fake(zones("example.com."), public, None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: Gcloud::new(settings(&api.url, Some(&key))).unwrap(),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![ACCESS.into(), key_line.clone()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert_eq!(api.state().token_requests, 1, "the token is cached: {seen:#?}");
    assert!(seen.iter().any(|s| s.contains("managedZones?dnsName=example.com.&pageToken=p1")), "{seen:#?}");
    assert!(seen.iter().all(|s| !s.contains("gradient-internal")), "the private zone was used: {seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("GET /dns/v1/projects/gradient-dns/managedZones/gradient-public/changes/")), "{seen:#?}");

    let (other_key, _, other_line) = service_account();
    conformance::auth_failure(
        &Gcloud::new(settings(&api.url, Some(&other_key))).unwrap(),
        &fqdn,
        &None,
        "service_account",
        &[other_line, key_line],
    )
    .await;
    let upstream = api.url.trim_start_matches("http://").to_string();
    let url = api.url.clone();
    conformance::busy_is_retried(
        |proxy: &str| {
            let mut s = settings(&url, Some(&key));
            s.api_url = format!("{proxy}/dns/v1");
            Gcloud::new(s).unwrap()
        },
        &upstream,
        &fqdn,
        &None,
    )
    .await;
}

/// Without a key file the metadata server gives the token and the project; a name only a
/// private zone holds is refused until allow_private_zone is set; zone_id skips the lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcloud_metadata_server_private_zone_and_zone_id() {
    let private = vec![Zone { name: "internal", dns_name: "corp.example.", visibility: "private" }];
    let api = fake(private, Vec::new(), None).await;
    let record = TxtRecord {
        fqdn: "_acme-challenge.corp.example.".into(),
        zone: None,
        value: "metadata-value".into(),
        ttl: 0,
        raw: None,
    };
    let err = Gcloud::new(settings(&api.url, None)).unwrap().present(&record).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    assert!(err.to_string().contains("allow_private_zone"), "{err}");
    let mut allowed = settings(&api.url, None);
    allowed.allow_private_zone = true;
    let p = Gcloud::new(allowed).unwrap();
    p.present(&record).await.unwrap();
    {
        let state = api.state();
        assert_eq!(state.sets.len(), 1);
        assert_eq!(state.sets[0].ttl, 1, "TTL 0 is raised to the minimum");
        assert_eq!(state.sets[0].rrdatas, ["\"metadata-value\""]);
        assert!(state.seen.iter().any(|s| s == "GET /computeMetadata/v1/project/project-id"));
        for (seen, headers) in state.seen.iter().zip(&state.headers) {
            if seen.contains("/computeMetadata/") {
                assert!(headers.iter().any(|(n, v)| n == "metadata-flavor" && v == "Google"), "{seen}");
            }
        }
    }
    p.cleanup(&record).await.unwrap();
    assert!(api.state().sets.is_empty());

    let mut by_id = settings(&api.url, None);
    by_id.zone_id = Some("internal".into());
    by_id.project = Some(PROJECT.into());
    let before = api.seen().len();
    Gcloud::new(by_id).unwrap().present(&record).await.unwrap();
    let seen = api.seen()[before..].to_vec();
    assert!(seen.iter().all(|s| !s.contains("dnsName=") && !s.contains("project-id")), "{seen:#?}");
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn gcloud_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_api::temp_secret(dir.path(), "gcloud.json", &service_account().0);
    let text = fake_api::config_with(&format!(
        r#"[dns.installer]
provider = "gcloud"
settings = {{ GCE_SERVICE_ACCOUNT_FILE = "{key}", GCE_PROJECT = "other-project", GCE_ALLOW_PRIVATE_ZONE = "true", GCE_TTL = "120", GCE_PROPAGATION_TIMEOUT = "180" }}
"#
    ));
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "GCE_TTL has no effect");
    let provider = Provider::from_section(&config.dns["installer"], &mut Vec::new()).unwrap();
    assert!(matches!(provider, Provider::Gcloud(_)));
    assert!(format!("{provider:?}").contains("other-project"), "{provider:?}");
    assert!(!format!("{provider:?}").contains("PRIVATE KEY"));
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("GCE_PROJECT", "GCE_PROJECT_ID"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("GCE_PROJECT"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcloud_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let bind = fake_api::bind_mirror(&stack);
    let (key, public, key_line) = service_account();
    let api = fake(zones("gradient.example.com."), public, Some(bind)).await;
    let key_file = fake_api::secret_file(&stack, "gcloud.json", &key);
    let table = format!(
        "provider = \"gcloud\"\napi_url = \"{0}/dns/v1\"\ntoken_url = \"{0}/token\"\nservice_account_file = \"{1}\"",
        api.url,
        key_file.display()
    );
    fake_api::issue_through(&stack, &table, &[ACCESS, key_line.as_str()]);
    let seen = api.seen();
    assert!(seen.iter().filter(|s| s.ends_with("/changes")).count() >= 2, "{seen:#?}");
    assert!(api.state().sets.is_empty(), "no record set left");
}
