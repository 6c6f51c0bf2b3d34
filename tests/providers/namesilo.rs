//! The NameSilo adapter against a contract fake of the NameSilo API, built from its API
//! reference (<https://www.namesilo.com/api-reference>: `dnsListRecords`, `dnsAddRecord`,
//! `dnsDeleteRecord`) and the reply samples of the nrdcg/namesilo client lego uses: every
//! operation is `GET /api/{operation}?version=1&type=xml&key=...`; the answer is HTTP 200
//! with `<namesilo><request>...</request><reply><code>...</code><detail>...</detail>...
//! </reply></namesilo>`, code 300 for success, 110 for an invalid key, 200 for a domain that
//! is not the account's; `dnsListRecords` lists the whole domain with full host names;
//! `dnsAddRecord` takes the host relative to the domain and answers the new `record_id`;
//! TTLs outside [3600, 2592000] are refused (the range lego's documentation gives). When
//! given a BIND, the fake applies every change to it through RFC 2136, so Pebble validates a
//! real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::time::Duration;

use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply, param};
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_namesilo::NameSilo;

const KEY: &str = "0a1b2c3d4e5f6a7b8c9d0e1f";

#[derive(Debug, Clone)]
struct Record {
    id: String,
    domain: String,
    /// Full name without the final dot, as NameSilo lists it.
    host: String,
    value: String,
    ttl: u32,
}

#[derive(Default)]
struct State {
    domains: Vec<String>,
    records: Vec<Record>,
    next_id: u64,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn reply(operation: &str, code: u32, detail: &str, inner: &str) -> (Reply, Vec<Change>) {
    let body = format!(
        "<?xml version=\"1.0\"?>\n<namesilo><request><operation>{operation}</operation><ip>127.0.0.1</ip></request>\
         <reply><code>{code}</code><detail>{}</detail>{inner}</reply></namesilo>",
        escape(detail)
    );
    (Reply::text(200, "text/xml", body), Vec::new())
}

fn route(state: &mut State, request: &HttpRequest) -> (Reply, Vec<Change>) {
    let params = request.query();
    let p = |k: &str| param(&params, k).map(str::to_string);
    let operation = request.path().trim_start_matches("/api/").to_string();
    if request.method != "GET" {
        return (Reply::text(405, "text/html", "Method Not Allowed"), Vec::new());
    }
    if p("version").as_deref() != Some("1") {
        return reply(&operation, 103, "Invalid API version", "");
    }
    if p("type").as_deref() != Some("xml") {
        return reply(&operation, 105, "Invalid API type", "");
    }
    match p("key") {
        None => return reply(&operation, 109, "No API key provided", ""),
        Some(k) if k != KEY => return reply(&operation, 110, "Invalid API Key", ""),
        _ => {}
    }
    let domain = p("domain").unwrap_or_default();
    if !state.domains.contains(&domain) {
        return reply(&operation, 200, "Domain is not active, or does not belong to this user", "");
    }
    match operation.as_str() {
        "dnsListRecords" => {
            let items: String = state
                .records
                .iter()
                .filter(|r| r.domain == domain)
                .map(|r| {
                    format!(
                        "<resource_record><record_id>{}</record_id><type>TXT</type><host>{}</host><value>{}</value><ttl>{}</ttl><distance>0</distance></resource_record>",
                        r.id,
                        r.host,
                        escape(&r.value),
                        r.ttl
                    )
                })
                .collect();
            // Every domain also has an A record at the apex.
            let a = format!(
                "<resource_record><record_id>aa11</record_id><type>A</type><host>{domain}</host><value>192.0.2.1</value><ttl>7207</ttl><distance>0</distance></resource_record>"
            );
            reply(&operation, 300, "success", &format!("{a}{items}"))
        }
        "dnsAddRecord" => {
            if p("rrtype").as_deref() != Some("TXT") {
                return reply(&operation, 280, "DNS modification error: invalid rrtype", "");
            }
            let (Some(host), Some(value)) = (p("rrhost"), p("rrvalue")) else {
                return reply(&operation, 108, "Invalid number of parameters", "");
            };
            let ttl: u32 = p("rrttl").and_then(|t| t.parse().ok()).unwrap_or(7207);
            if !(3600..=2_592_000).contains(&ttl) {
                return reply(&operation, 280, "DNS modification error: invalid TTL", "");
            }
            state.next_id += 1;
            let full = if host.is_empty() { domain.clone() } else { format!("{host}.{domain}") };
            let record = Record { id: format!("{:x}f00d", state.next_id), domain, host: full, value, ttl };
            let change = Change::add(format!("{}.", record.host), record.value.clone());
            let inner = format!("<record_id>{}</record_id>", record.id);
            state.records.push(record);
            let (reply, _) = reply(&operation, 300, "success", &inner);
            (reply, vec![change])
        }
        "dnsDeleteRecord" => {
            let rrid = p("rrid").unwrap_or_default();
            let Some(i) = state.records.iter().position(|r| r.id == rrid && r.domain == domain) else {
                return reply(&operation, 280, "DNS modification error: invalid rrid", "");
            };
            let record = state.records.remove(i);
            let (reply, _) = reply(&operation, 300, "success", "");
            (reply, vec![Change::remove(format!("{}.", record.host), record.value)])
        }
        _ => reply(&operation, 107, "Invalid operation", ""),
    }
}

fn values(state: &State, fqdn: &str) -> Vec<String> {
    state
        .records
        .iter()
        .filter(|r| format!("{}.", r.host).eq_ignore_ascii_case(fqdn))
        .map(|r| r.value.clone())
        .collect()
}

async fn fake(domains: &[&str], bind: Option<wildcert_dns_rfc2136::Rfc2136>) -> FakeApi<State> {
    let state = State { domains: domains.iter().map(|d| d.to_string()).collect(), ..Default::default() };
    FakeApi::start(state, bind, fake_api::with_changes(route)).await
}

fn adapter(url: &str, key: &str) -> NameSilo {
    NameSilo::new(&format!("{url}/api"), &Secret::new(key), Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake, the domain found by walking up the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namesilo_conformance() {
    let api = fake(&["example.com"], None).await;
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    let seen = api.seen();
    assert!(
        seen.iter().any(|s| s.starts_with("GET /api/dnsListRecords?") && s.contains("domain=example.com"))
    );
    conformance::auth_failure(
        &adapter(&api.url, "wrong-key-0000"),
        &fqdn,
        &None,
        "api_key",
        &["wrong-key-0000".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, KEY), &api.upstream(), &fqdn, &None).await;
}

/// The host is sent relative to the domain, the TTL raised to NameSilo's hour, and other
/// values at the name stay.
#[tokio::test]
async fn namesilo_relative_hosts_and_minimum_ttl() {
    let api = fake(&["example.com"], None).await;
    api.state().records.push(Record {
        id: "0ther".into(),
        domain: "example.com".into(),
        host: "_acme-challenge.example.com".into(),
        value: "someone-else".into(),
        ttl: 3600,
    });
    let p = adapter(&api.url, KEY);
    let record = conformance::record("_acme-challenge.example.com.", &Some("example.com.".into()), "ours");
    p.present(&record).await.unwrap();
    {
        let seen = api.seen();
        let add = seen.iter().find(|s| s.contains("dnsAddRecord")).unwrap();
        assert!(add.contains("rrhost=_acme-challenge&") && add.contains("rrttl=3600"), "{add}");
    }
    p.cleanup(&record).await.unwrap();
    let state = api.state();
    assert_eq!(state.records.len(), 1);
    assert_eq!(state.records[0].value, "someone-else");
}

/// A name in no domain of the account is `ZoneNotFound` naming NameSilo's reason.
#[tokio::test]
async fn namesilo_unknown_domain() {
    let api = fake(&["example.com"], None).await;
    let record = conformance::record("_acme-challenge.example.org.", &None, "v");
    let err = adapter(&api.url, KEY).present(&record).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    assert!(err.to_string().contains("does not belong to this user"), "{err}");
}

/// The installer's settings reach the adapter.
#[tokio::test]
async fn namesilo_installer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key = fake_api::temp_secret(dir.path(), "namesilo.key", KEY);
    let (warnings, provider) = fake_api::installer(
        "namesilo",
        &format!("NAMESILO_API_KEY_FILE = \"{key}\", NAMESILO_TTL = \"3600\", NAMESILO_PROPAGATION_TIMEOUT = \"1800\""),
    )
    .unwrap();
    fake_api::assert_warned(&warnings, "NAMESILO_TTL has no effect");
    assert!(matches!(provider, Provider::NameSilo(_)));
    assert!(provider.describe().contains("www.namesilo.com"));
    let err = fake_api::installer("namesilo", "NAMESILO_TTL = \"3600\"").unwrap_err();
    assert!(err.contains("api_key"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namesilo_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    // The registered domain is example.com; the stack's zone is below it.
    let api = fake(&["example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let key = fake_api::secret_file(&stack, "namesilo.key", KEY);
    let table = format!(
        "provider = \"namesilo\"\napi_url = \"{}/api\"\napi_key_file = \"{}\"",
        api.url,
        key.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY]);
    let seen = api.seen();
    assert_eq!(seen.iter().filter(|s| s.contains("/dnsAddRecord?")).count(), 2, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.contains("/dnsDeleteRecord?")).count(), 2, "{seen:#?}");
    assert!(api.state().records.is_empty());
}
