//! The Linode adapter against a contract fake of the Linode API v4 DNS Manager endpoints,
//! built from its reference: `GET /v4/domains` and `GET /v4/domains/{id}/records` (paged:
//! `page`, `page_size` 25..500, answers `{"data", "page", "pages", "results"}`), `POST
//! /v4/domains/{id}/records` with `{"type", "name", "target", "ttl_sec"}` answering 200 with
//! the record, `DELETE /v4/domains/{id}/records/{record_id}` answering 200 `{}`,
//! `Authorization: Bearer`, and errors as `{"errors": [{"reason", "field"}]}`. The fake pages
//! every 25 items (the smallest page size) so that paging is exercised. When given a BIND,
//! it applies every change to it through RFC 2136, so Pebble validates a real issuance
//! through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{Secret, TxtRecord};
use wildcert_dns_linode::Linode;
use wildcert_dns_rfc2136::Rfc2136;

const TOKEN: &str = "linode-pat-0a1b2c3d";
const PAGE: usize = 25;

#[derive(Debug, Clone)]
struct Record {
    id: u64,
    domain_id: u64,
    name: String,
    rtype: String,
    target: String,
}

#[derive(Default)]
struct State {
    /// (id, name)
    domains: Vec<(u64, String)>,
    records: Vec<Record>,
    next_id: u64,
}

fn errors(reason: &str) -> Value {
    json!({"errors": [{"reason": reason}]})
}

impl State {
    fn fqdn(&self, r: &Record) -> String {
        let domain = &self.domains.iter().find(|(id, _)| *id == r.domain_id).unwrap().1;
        if r.name.is_empty() { format!("{domain}.") } else { format!("{}.{domain}.", r.name) }
    }
}

fn paged(items: Vec<Value>, query: &str) -> Value {
    let page: usize = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let pages = total.div_ceil(PAGE).max(1);
    let data: Vec<Value> = items.into_iter().skip((page - 1) * PAGE).take(PAGE).collect();
    json!({"data": data, "page": page, "pages": pages, "results": total})
}

fn route(
    state: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value, Option<(bool, TxtRecord)>) {
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return (401, errors("Invalid Token"), None);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["v4", "domains"]) => {
            let items = state
                .domains
                .iter()
                .map(|(id, d)| json!({"id": id, "domain": d, "type": "master", "status": "active"}))
                .collect();
            (200, paged(items, query), None)
        }
        (_, ["v4", "domains", id, "records", ..])
            if !state.domains.iter().any(|(d, _)| d.to_string() == *id) =>
        {
            (404, errors("Not found"), None)
        }
        ("GET", ["v4", "domains", id, "records"]) => {
            let id: u64 = id.parse().unwrap();
            let items = state
                .records
                .iter()
                .filter(|r| r.domain_id == id)
                .map(|r| json!({"id": r.id, "type": r.rtype, "name": r.name, "target": r.target, "ttl_sec": 300}))
                .collect();
            (200, paged(items, query), None)
        }
        ("POST", ["v4", "domains", id, "records"]) => {
            let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            let (Some(rtype), Some(target)) = (request["type"].as_str(), request["target"].as_str()) else {
                return (400, errors("type and target are required"), None);
            };
            state.next_id += 1;
            let record = Record {
                id: state.next_id,
                domain_id: id.parse().unwrap(),
                name: request["name"].as_str().unwrap_or_default().to_string(),
                rtype: rtype.to_string(),
                target: target.to_string(),
            };
            state.records.push(record.clone());
            let change = TxtRecord {
                fqdn: state.fqdn(&record),
                zone: None,
                value: record.target.clone(),
                ttl: 60,
                raw: None,
            };
            (
                200,
                json!({"id": record.id, "type": rtype, "name": record.name, "target": target, "ttl_sec": request["ttl_sec"]}),
                Some((true, change)),
            )
        }
        ("DELETE", ["v4", "domains", id, "records", rid]) => {
            let (id, rid): (u64, u64) = (id.parse().unwrap(), rid.parse().unwrap_or(0));
            match state.records.iter().position(|r| r.id == rid && r.domain_id == id) {
                Some(i) => {
                    let change = {
                        let r = &state.records[i];
                        TxtRecord {
                            fqdn: state.fqdn(r),
                            zone: None,
                            value: r.target.clone(),
                            ttl: 60,
                            raw: None,
                        }
                    };
                    state.records.remove(i);
                    (200, json!({}), Some((false, change)))
                }
                None => (404, errors("Not found"), None),
            }
        }
        _ => (404, errors("Not found"), None),
    }
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains.iter().enumerate().map(|(i, d)| (1000 + i as u64, d.to_string())).collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, |state: &mut State, request: &support::HttpRequest| {
        let (status, body, change) =
            route(state, &request.method, &request.target, request.header("authorization"), &request.body);
        let change = change.map(|(add, r)| Change { add, fqdn: r.fqdn, value: r.value });
        Reply::json(status, body).with(change)
    })
    .await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| r.rtype == "TXT" && state.fqdn(r).eq_ignore_ascii_case(name))
        .map(|r| r.target.clone())
        .collect()
}

fn adapter(url: &str, token: &str) -> Linode {
    Linode::new(url, &Secret::new(token), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, with other records in the domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linode_conformance() {
    let api = fake(&["example.com", "gradient.example.com"], None).await;
    {
        let mut state = api.state();
        for i in 0..30 {
            state.next_id += 1;
            let id = state.next_id;
            state.records.push(Record {
                id,
                domain_id: 1001,
                name: format!("host{i}"),
                rtype: "A".into(),
                target: "192.0.2.1".into(),
            });
        }
    }
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, TOKEN),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![TOKEN.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(seen.iter().any(|s| s.starts_with("POST /v4/domains/1001/records")), "{seen:#?}");
    assert!(seen.iter().any(|s| s.starts_with("GET /v4/domains/1001/records?page=2")), "{seen:#?}");
    assert_eq!(api.state().records.len(), 30, "other records are untouched");
    conformance::auth_failure(
        &adapter(&api.url, "wrong-pat-9"),
        &fqdn,
        &None,
        "token",
        &["wrong-pat-9".into(), TOKEN.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, TOKEN), &api.upstream(), &fqdn, &None).await;
}

/// The installer's `linode` code reaches this adapter with a warning.
#[test]
fn linode_code_is_served_by_linodev4() {
    let text = &fake_api::config_with(
        r#"[dns.installer]
provider = "linode"
settings = { LINODE_TOKEN_FILE = "/etc/wildcert/linode.token", LINODE_API_KEY = "v3-key" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), text).unwrap();
    assert!(matches!(config.dns["installer"].config, wildcert::dns::provider::ProviderConfig::Linode(_)));
    let warnings = config.warnings.join("\n");
    assert!(warnings.contains("\"linode\" is served by the Linode (v4 API) adapter"), "{warnings}");
    assert!(warnings.contains("LINODE_API_KEY has no effect"), "{warnings}");
    assert!(!warnings.contains("v3-key"), "{warnings}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linode_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let secret_file = fake_api::secret_file(&stack, "linode.token", TOKEN);
    let table = format!(
        "provider = \"linodev4\"\napi_url = \"{}\"\ntoken_file = \"{}\"",
        api.url,
        secret_file.display()
    );
    fake_api::issue_through(&stack, &table, &[TOKEN]);
    assert!(api.state().records.is_empty());
}
