//! The IIJ DNS Platform Service adapter against a contract fake of the DPF API v1, built from
//! IIJ's API manual (<https://manual.iij.jp/dpf/dpfapi/>) and the Go client lego uses
//! (<https://github.com/mimuret/golang-iij-dpf>: `pkg/api`, `pkg/apis/dpf/v1/core`,
//! `pkg/apis/dpf/v1/zones`; lego's `providers/dns/iijdpf` for the order of calls).
//!
//! What the fake holds to, as documented: every call carries `Authorization: Bearer
//! <token>`, and a refused token is `400 {"request_id", "error_type": "ParameterError",
//! "error_message", "error_details": [{"code": "invalid", "attribute": "access_token"}]}`;
//! lists (`GET /zones`, `GET /zones/{id}/records`) take `_keywords_<field>[]` search
//! keywords (partial matches), `offset` and `limit`, and answer `{"request_id", "results"}`;
//! `POST /zones/{id}/records` (`name`, `ttl`, `rrtype`, `rdata: [{"value"}]`,
//! `description`), `PATCH /zones/{id}/records/{rid}` (`ttl`, `rdata`, `description` only),
//! `DELETE /zones/{id}/records/{rid}` and the zone's apply `PATCH /zones/{id}/changes`
//! (`description`) answer `202 {"request_id", "jobs_url"}` and run as jobs read with `GET
//! /jobs/{request_id}` (`status` `RUNNING`, then `SUCCESSFUL` or `FAILED`). Record changes
//! only edit the zone's draft (record `state` 1 to be added, 3 to be updated, 2 to be
//! deleted); like a real DPF zone, the fake publishes the draft when the apply job
//! completes, and only then mirrors the TXT changes into the test BIND over RFC 2136, so
//! Pebble validates a real issuance through this adapter only if the adapter applied the
//! zone and waited for it.

use crate::conformance;
use crate::support;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_iijdpf::IijDpf;

const TOKEN: &str = "dpf-t0ken-9c2e71ab";

struct Zone {
    id: String,
    service_code: String,
    name: String,
    /// The draft: every record with its `state`.
    draft: Vec<Value>,
    /// What the name servers serve: the draft as of the last completed apply.
    published: Vec<Value>,
}

struct Job {
    polls: u32,
    /// For an apply: the zone and the records it publishes.
    publish: Option<(usize, Vec<Value>)>,
}

#[derive(Default)]
struct State {
    zones: Vec<Zone>,
    jobs: HashMap<String, Job>,
    next: u64,
    applies: u32,
    /// Make every job fail (for the error test).
    fail_jobs: bool,
}

fn error(status: u16, kind: &str, message: &str, details: Value) -> Reply {
    Reply::json(
        status,
        json!({"request_id": "E0000000000000000000000000000000", "error_type": kind, "error_message": message, "error_details": details}),
    )
}

fn invalid(attribute: &str) -> Reply {
    error(
        400,
        "ParameterError",
        "There are invalid parameters.",
        json!([{"code": "invalid", "attribute": attribute}]),
    )
}

fn not_found() -> Reply {
    error(404, "NotFound", "Specified resource not found.", json!([]))
}

/// Starts a job and answers 202 with its request id.
fn accepted(state: &mut State, base: &str, publish: Option<(usize, Vec<Value>)>) -> Reply {
    state.next += 1;
    let id = format!("{:032X}", 0xD0F0_0000u64 + state.next);
    state.jobs.insert(id.clone(), Job { polls: 0, publish });
    Reply::json(202, json!({"request_id": id, "jobs_url": format!("{base}/jobs/{id}")}))
}

/// The TXT values per name of a record list.
fn txt_values(records: &[Value]) -> BTreeSet<(String, String)> {
    records
        .iter()
        .filter(|r| r["rrtype"] == "TXT")
        .flat_map(|r| {
            let name = r["name"].as_str().unwrap_or_default().to_ascii_lowercase();
            r["rdata"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |d| (name.clone(), txt_text(d["value"].as_str().unwrap_or_default())))
        })
        .collect()
}

/// The keyword values of `field` in a query (`_keywords_<field>[]`).
fn keywords(request: &HttpRequest, field: &str) -> Vec<String> {
    let key = format!("_keywords_{field}[]");
    request.query().into_iter().filter(|(k, _)| *k == key).map(|(_, v)| v).collect()
}

/// Partial match of every given keyword, as DPF's search does.
fn matches(item: &Value, field: &str, wanted: &[String]) -> bool {
    wanted.iter().all(|w| {
        item[field].as_str().is_some_and(|v| v.to_ascii_lowercase().contains(&w.to_ascii_lowercase()))
    })
}

fn page(request: &HttpRequest, items: Vec<Value>) -> Reply {
    let offset: usize = request.param("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let limit: usize = request.param("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    if !(1..=10000).contains(&limit) {
        return invalid("limit");
    }
    let results: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    Reply::json(200, json!({"request_id": "R0000000000000000000000000000001", "results": results}))
}

fn check_rdata(rdata: &Value) -> bool {
    rdata.as_array().is_some_and(|list| {
        !list.is_empty()
            && list.iter().all(|d| {
                d.as_object().is_some_and(|o| o.len() == 1)
                    && d["value"]
                        .as_str()
                        .is_some_and(|v| v.len() >= 2 && v.starts_with('"') && v.ends_with('"'))
            })
    })
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return invalid("access_token");
    }
    let base = "http://dpf.test/dpf/v1";
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let segments: Vec<String> = request.segments().iter().map(|s| s.to_string()).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["dpf", "v1", "zones"]) => {
            let (codes, names) = (keywords(request, "service_code"), keywords(request, "name"));
            let items = state
                .zones
                .iter()
                .map(|z| json!({"id": z.id, "common_config_id": 1, "service_code": z.service_code, "state": 1, "favorite": 0, "name": z.name, "network": "", "description": "", "zone_proxy_enabled": 0}))
                .filter(|z| matches(z, "service_code", &codes) && matches(z, "name", &names))
                .collect();
            page(request, items)
        }
        ("GET", ["dpf", "v1", "zones", id, "records"]) => {
            let Some(zone) = state.zones.iter().find(|z| z.id == *id) else { return not_found() };
            let (names, types) = (keywords(request, "name"), keywords(request, "rrtype"));
            let items = zone
                .draft
                .iter()
                .filter(|r| matches(r, "name", &names) && types.iter().all(|t| r["rrtype"] == t.as_str()))
                .cloned()
                .collect();
            page(request, items)
        }
        ("POST", ["dpf", "v1", "zones", id, "records"]) => {
            let Some(index) = state.zones.iter().position(|z| z.id == *id) else { return not_found() };
            let zone = &state.zones[index];
            let name = body["name"].as_str().unwrap_or_default().to_string();
            if !name.ends_with('.')
                || !(name == format!("{}.", zone.name) || name.ends_with(&format!(".{}.", zone.name)))
            {
                return invalid("name");
            }
            if body["rrtype"] != "TXT" {
                return invalid("rrtype");
            }
            if body["ttl"].as_u64().is_none_or(|t| !(30..=2_147_483_647).contains(&t)) {
                return invalid("ttl");
            }
            if !check_rdata(&body["rdata"]) {
                return invalid("rdata");
            }
            if zone.draft.iter().any(|r| r["name"] == name.as_str() && r["rrtype"] == "TXT") {
                return error(
                    400,
                    "ParameterError",
                    "There are invalid parameters.",
                    json!([{"code": "duplicate", "attribute": "name"}]),
                );
            }
            state.next += 1;
            let record = json!({"id": format!("r{}", state.next), "name": name, "ttl": body["ttl"], "rrtype": "TXT", "rdata": body["rdata"], "state": 1, "description": body["description"].as_str().unwrap_or_default(), "operator": "api"});
            state.zones[index].draft.push(record);
            accepted(state, base, None)
        }
        ("PATCH", ["dpf", "v1", "zones", id, "records", rid]) => {
            let Some(index) = state.zones.iter().position(|z| z.id == *id) else { return not_found() };
            let Some(record) = state.zones[index].draft.iter_mut().find(|r| r["id"] == *rid) else {
                return not_found();
            };
            if let Some(extra) = body
                .as_object()
                .and_then(|o| o.keys().find(|k| !["ttl", "rdata", "description"].contains(&k.as_str())))
            {
                return invalid(&extra.clone());
            }
            if body.get("rdata").is_some_and(|r| !check_rdata(r)) {
                return invalid("rdata");
            }
            if record["state"] == 2 {
                return invalid("state");
            }
            for key in ["ttl", "rdata", "description"] {
                if let Some(v) = body.get(key) {
                    record[key] = v.clone();
                }
            }
            if record["state"] == 0 {
                record["state"] = json!(3);
            }
            accepted(state, base, None)
        }
        ("DELETE", ["dpf", "v1", "zones", id, "records", rid]) => {
            let Some(index) = state.zones.iter().position(|z| z.id == *id) else { return not_found() };
            let draft = &mut state.zones[index].draft;
            let Some(at) = draft.iter().position(|r| r["id"] == *rid) else { return not_found() };
            if draft[at]["state"] == 1 {
                draft.remove(at);
            } else {
                draft[at]["state"] = json!(2);
            }
            accepted(state, base, None)
        }
        ("PATCH", ["dpf", "v1", "zones", id, "changes"]) => {
            let Some(index) = state.zones.iter().position(|z| z.id == *id) else { return not_found() };
            if body.as_object().is_none_or(|o| o.keys().any(|k| k != "description")) {
                return invalid("description");
            }
            let zone = &mut state.zones[index];
            zone.draft.retain(|r| r["state"] != 2);
            for r in &mut zone.draft {
                r["state"] = json!(0);
            }
            let snapshot = zone.draft.clone();
            state.applies += 1;
            accepted(state, base, Some((index, snapshot)))
        }
        ("GET", ["dpf", "v1", "jobs", id]) => {
            let fail = state.fail_jobs;
            let Some(job) = state.jobs.get_mut(*id) else { return not_found() };
            job.polls += 1;
            let resources = format!("{base}/jobs/{id}");
            if job.polls == 1 {
                return Reply::json(
                    200,
                    json!({"request_id": id, "status": "RUNNING", "resources_url": resources}),
                );
            }
            if fail {
                return Reply::json(
                    200,
                    json!({"request_id": id, "status": "FAILED", "resources_url": resources, "error_type": "ParameterError", "error_message": "zone is locked by another operation"}),
                );
            }
            let mut changes = Vec::new();
            if let Some((index, snapshot)) = job.publish.take() {
                let zone = &mut state.zones[index];
                let (before, after) = (txt_values(&zone.published), txt_values(&snapshot));
                changes.extend(after.difference(&before).map(|(n, v)| Change::add(n.clone(), v.clone())));
                changes.extend(before.difference(&after).map(|(n, v)| Change::remove(n.clone(), v.clone())));
                zone.published = snapshot;
            }
            Reply::json(200, json!({"request_id": id, "status": "SUCCESSFUL", "resources_url": resources}))
                .with(changes)
        }
        _ => not_found(),
    }
}

/// The zone's records other than ours: an A, an MX and another party's TXT value at the
/// challenge name.
fn others(zone: &str) -> Vec<Value> {
    vec![
        json!({"id": "o1", "name": format!("{zone}."), "ttl": 3600, "rrtype": "A", "rdata": [{"value": "198.51.100.4"}], "state": 0, "description": "web", "operator": "admin"}),
        json!({"id": "o2", "name": format!("{zone}."), "ttl": 3600, "rrtype": "MX", "rdata": [{"value": "10 mail.example.com."}], "state": 0, "description": "", "operator": "admin"}),
        json!({"id": "o3", "name": format!("_acme-challenge.gradient.{zone}."), "ttl": 300, "rrtype": "TXT", "rdata": [{"value": "\"someone-elses-value\""}], "state": 0, "description": "kept", "operator": "admin"}),
    ]
}

async fn fake(zones: &[(&str, &str)], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State {
        zones: zones
            .iter()
            .enumerate()
            .map(|(i, (name, code))| Zone {
                id: format!("m{}", 1000 + i),
                service_code: code.to_string(),
                name: name.to_string(),
                draft: Vec::new(),
                published: Vec::new(),
            })
            .collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, route).await
}

/// The published TXT values at a name.
fn values(state: &State, name: &str) -> Vec<String> {
    state
        .zones
        .iter()
        .flat_map(|z| txt_values(&z.published))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

fn base(api: &FakeApi<State>) -> String {
    format!("{}/dpf/v1", api.url)
}

fn adapter(url: &str, token: &str, service_code: Option<&str>) -> IijDpf {
    IijDpf::new(url, &Secret::new(token), service_code, Duration::from_secs(5), Duration::from_secs(10))
        .unwrap()
}

/// The conformance suite against the contract fake, finding the zone by name among zones
/// whose names match the search partially; the zone's other records, the other party's
/// value in our record set included, are published again exactly as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iijdpf_conformance() {
    let api = fake(
        &[("example.org", "dpm0000001"), ("example.com", "dpm0000002"), ("sub.example.com", "dpm0000003")],
        None,
    )
    .await;
    {
        let mut state = api.state();
        state.zones[1].draft = others("example.com");
        state.zones[1].published = others("example.com");
    }
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&base(&api), TOKEN, None),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    {
        let state = api.state();
        assert_eq!(state.zones[1].draft, others("example.com"), "another record changed");
        assert_eq!(state.zones[1].published, others("example.com"), "another record changed");
        assert!(state.zones[2].draft.is_empty() && state.zones[0].draft.is_empty());
    }
    let seen = api.seen();
    assert!(seen.iter().any(|s| s.starts_with("PATCH /dpf/v1/zones/m1001/changes")), "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("GET /dpf/v1/jobs/")), "{seen:#?}");
    conformance::auth_failure(
        &adapter(&base(&api), "wrong-token", None),
        &fqdn,
        &None,
        "api_token",
        &["wrong-token".into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/dpf/v1"), TOKEN, None),
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// With a DPM service code the zone is the one carrying it; a code the token does not see,
/// or a zone that does not hold the name, is a clear `ZoneNotFound` naming the setting; a
/// failed job is a rejection carrying DPF's error, and nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iijdpf_service_code_and_failed_jobs() {
    let api = fake(&[("example.com", "dpm0000002"), ("example.net", "dpm0000020")], None).await;
    let record = |value: &str| TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: None,
        value: value.into(),
        ttl: 60,
        raw: None,
    };
    let p = adapter(&base(&api), TOKEN, Some("dpm0000002"));
    p.present(&record("by-code")).await.unwrap();
    assert_eq!(values(&api.state(), "_acme-challenge.example.com."), vec!["by-code".to_string()]);
    p.cleanup(&record("by-code")).await.unwrap();
    assert!(api.state().zones[0].published.is_empty());

    let err = adapter(&base(&api), TOKEN, Some("dpm0000")).present(&record("x")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::ZoneNotFound { .. }) && err.to_string().contains("service_code"),
        "{err}"
    );
    let err = adapter(&base(&api), TOKEN, Some("dpm0000020")).present(&record("x")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::ZoneNotFound { .. }) && err.to_string().contains("example.net"),
        "{err}"
    );

    api.state().fail_jobs = true;
    let err = p.present(&record("failing")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("zone is locked by another operation"), "{err}");
    assert!(!err.to_string().contains(TOKEN));
    assert!(api.state().zones[0].published.is_empty());
    assert_eq!(api.state().applies, 2, "a failed record job must not be followed by an apply");
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn iijdpf_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let token = fake_api::temp_secret(dir.path(), "dpf.token", TOKEN);
    let (warnings, provider) = fake_api::installer(
        "iijdpf",
        &format!("IIJ_DPF_API_TOKEN_FILE = \"{token}\", IIJ_DPF_DPM_SERVICE_CODE = \"dpm0000002\", IIJ_DPF_API_ENDPOINT = \"https://dpf.example.net/dpf/v1\", IIJ_DPF_TTL = \"300\", IIJ_DPF_POLLING_INTERVAL = \"5\""),
    )
    .unwrap();
    assert!(warnings.iter().any(|w| w.contains("IIJ_DPF_TTL has no effect")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("IIJ_DPF_POLLING_INTERVAL has no effect")), "{warnings:?}");
    assert!(matches!(provider, Provider::IijDpf(_)));
    assert!(provider.describe().contains("https://dpf.example.net/dpf/v1"), "{}", provider.describe());
    let err = fake_api::installer("iijdpf", "IIJ_DPF_DPM_SERVICE_CODE = \"dpm0000002\"").unwrap_err();
    assert!(err.contains("api_token"), "{err}");
    // The routed older code takes the same settings.
    let (warnings, provider) =
        fake_api::installer("iij", &format!("IIJ_DPF_API_TOKEN_FILE = \"{token}\"")).unwrap();
    assert!(matches!(provider, Provider::IijDpf(_)));
    assert!(warnings.iter().any(|w| w.contains("iijdpf")), "{warnings:?}");
}

/// `wildcert issue` through the fake: TXT values reach BIND only when the adapter applied
/// the zone and waited for the job, Pebble validates by asking BIND, and no TXT is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iijdpf_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&[("gradient.example.com", "dpm0000123")], Some(fake_api::bind_mirror(&stack))).await;
    let token_file = fake_api::secret_file(&stack, "dpf.token", TOKEN);
    let table = format!(
        "provider = \"iijdpf\"\napi_url = \"{}\"\napi_token_file = \"{}\"\nservice_code = \"dpm0000123\"",
        base(&api),
        token_file.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN]);
    let state = api.state();
    assert!(state.zones[0].draft.is_empty() && state.zones[0].published.is_empty());
    assert!(state.applies >= 2, "{}", state.applies);
}

/// The zone search is paged: with more partial matches than one page holds, the zone on a
/// later page is found, and only it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iijdpf_finds_the_zone_on_a_later_page() {
    let mut zones: Vec<(String, String)> =
        (0..130).map(|i| (format!("z{i:03}.example.com"), format!("dpm9{i:06}"))).collect();
    zones.push(("example.com".into(), "dpm0000002".into()));
    let zones: Vec<(&str, &str)> = zones.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let api = fake(&zones, None).await;
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: None,
        value: "paged".into(),
        ttl: 60,
        raw: None,
    };
    adapter(&base(&api), TOKEN, None).present(&record).await.unwrap();
    {
        let state = api.state();
        assert_eq!(values(&state, "_acme-challenge.example.com."), vec!["paged".to_string()]);
        assert_eq!(state.zones[130].published.len(), 1);
        assert!(state.zones[..130].iter().all(|z| z.draft.is_empty()));
    }
    let seen = api.seen();
    assert!(
        seen.iter().any(|s| s.starts_with("GET /dpf/v1/zones?") && s.contains("offset=100")),
        "{seen:#?}"
    );
    adapter(&base(&api), TOKEN, None).cleanup(&record).await.unwrap();
    assert!(api.state().zones[130].published.is_empty());
}

/// A TXT record set whose deletion waits in the zone's unapplied changes is not edited (an
/// apply would publish someone else's pending work half-done): the error says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iijdpf_refuses_a_record_set_pending_deletion() {
    let api = fake(&[("example.com", "dpm0000002")], None).await;
    let mut pending = others("example.com")[2].clone();
    pending["name"] = json!("_acme-challenge.example.com.");
    pending["state"] = json!(2);
    api.state().zones[0].draft = vec![pending.clone()];
    let record = TxtRecord {
        fqdn: "_acme-challenge.example.com.".into(),
        zone: None,
        value: "v".into(),
        ttl: 60,
        raw: None,
    };
    let err = adapter(&base(&api), TOKEN, Some("dpm0000002")).present(&record).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("apply or cancel"), "{err}");
    let state = api.state();
    assert_eq!(state.zones[0].draft, vec![pending]);
    assert_eq!(state.applies, 0);
}
