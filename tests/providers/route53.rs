//! The Route53 adapter against moto's Route53-compatible API on loopback (a contract test:
//! moto serves no DNS and applies changes at once, so what is checked is the API
//! conversation: RRset union, removal of only our value, zone lookup, INSYNC wait), against a
//! scripted fake endpoint for throttling, and against a fake that applies Route53's batch rules
//! strictly (moto does not), for two writers racing on one name.
#![cfg(feature = "route53")]

use crate::conformance;
use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::Stack;
use tokio::io::AsyncWriteExt;
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, TxtRecord};
use wildcert_dns_route53::sdk::config::{BehaviorVersion, Credentials, Region};
use wildcert_dns_route53::sdk::{Client, types::RrType};
use wildcert_dns_route53::{Route53, Route53Settings};

fn settings(endpoint: &str) -> Route53Settings {
    Route53Settings {
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some(wildcert_dns_api::Secret::new("moto-does-not-check")),
        endpoint: Some(endpoint.to_string()),
        change_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

fn sdk(endpoint: &str) -> Client {
    let config = wildcert_dns_route53::sdk::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

async fn create_zone(client: &Client, name: &str) -> String {
    let out = client
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("wildcert-test-{name}-{}", std::process::id()))
        .send()
        .await
        .expect("create hosted zone");
    out.hosted_zone().expect("hosted zone").id().trim_start_matches("/hostedzone/").to_string()
}

/// TXT values at `name` (unquoted), sorted.
async fn txt_values(client: &Client, zone_id: &str, name: &str) -> Vec<String> {
    let out =
        client.list_resource_record_sets().hosted_zone_id(zone_id).send().await.expect("list record sets");
    let mut values: Vec<String> = out
        .resource_record_sets()
        .iter()
        .filter(|rr| {
            rr.r#type() == &RrType::Txt && rr.name().trim_end_matches('.') == name.trim_end_matches('.')
        })
        .flat_map(|rr| rr.resource_records().iter().map(|r| r.value().trim_matches('"').to_string()))
        .collect();
    values.sort();
    values
}

fn record(fqdn: &str, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: None, value: value.into(), ttl: 60, raw: None }
}

/// The conformance suite against moto: records, and 429/503 from a proxy in front of it.
/// moto checks no signatures, so refused credentials cannot be shown here (the bucket tests
/// prove SigV4 refusals against s3s-fs; the SDK maps them the same way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_conformance() {
    let stack = Stack::up();
    let endpoint = stack.get("S3_ENDPOINT").to_string();
    let client = sdk(&endpoint);
    let zone_id = create_zone(&client, "conformance.example.org.").await;
    let fqdn = "_acme-challenge.conformance.example.org.".to_string();
    let zone = Some("conformance.example.org.".to_string());
    let read: conformance::Reader = Box::new(move |name: String| {
        let (client, zone_id) = (client.clone(), zone_id.clone());
        Box::pin(async move { txt_values(&client, &zone_id, &name).await })
    });
    let subject = conformance::Subject {
        provider: Route53::new(settings(&endpoint)).unwrap(),
        fqdn: fqdn.clone(),
        zone: zone.clone(),
        read,
        secrets: vec!["moto-does-not-check".into()],
    };
    conformance::records(&subject).await;
    let upstream = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let through = |url: &str| Route53::new(Route53Settings { max_attempts: 3, ..settings(url) }).unwrap();
    conformance::busy_is_retried(through, &upstream, &fqdn, &zone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_contract_moto() {
    let stack = Stack::up();
    let endpoint = stack.get("S3_ENDPOINT").to_string();
    let client = sdk(&endpoint);
    let zone_id = create_zone(&client, "route53.example.org.").await;
    let sub_zone_id = create_zone(&client, "sub.route53.example.org.").await;
    let adapter = Route53::new(settings(&endpoint)).unwrap();
    let name = "_acme-challenge.route53.example.org.";

    // Someone else's value at the same name must survive everything we do.
    let foreign = record(name, "someone-elses-value");
    adapter.present(&foreign).await.unwrap();

    // apex and wildcard values coexisting at _acme-challenge.<domain>
    let apex = record(name, "apex-value-AAAA");
    let wildcard = record(name, "wildcard-value-BBBB");
    adapter.present(&apex).await.unwrap();
    adapter.present(&wildcard).await.unwrap();
    adapter.present(&wildcard).await.unwrap(); // again: no duplicate
    assert_eq!(
        txt_values(&client, &zone_id, name).await,
        ["apex-value-AAAA", "someone-elses-value", "wildcard-value-BBBB"]
    );

    // cleanup removes only ours
    adapter.cleanup(&apex).await.unwrap();
    assert_eq!(txt_values(&client, &zone_id, name).await, ["someone-elses-value", "wildcard-value-BBBB"]);
    adapter.cleanup(&apex).await.unwrap(); // absent is fine
    adapter.cleanup(&wildcard).await.unwrap();
    assert_eq!(txt_values(&client, &zone_id, name).await, ["someone-elses-value"]);
    // The last value goes with a DELETE of the RRset.
    adapter.cleanup(&foreign).await.unwrap();
    assert!(txt_values(&client, &zone_id, name).await.is_empty());
    adapter.cleanup(&foreign).await.unwrap();

    // The longest matching zone wins.
    let deep = record("_acme-challenge.www.sub.route53.example.org.", "deep-value");
    adapter.present(&deep).await.unwrap();
    assert_eq!(txt_values(&client, &sub_zone_id, &deep.fqdn).await, ["deep-value"]);
    assert!(txt_values(&client, &zone_id, &deep.fqdn).await.is_empty());
    adapter.cleanup(&deep).await.unwrap();

    // Concurrent present/cleanup on one name within one process lose nothing.
    let values: Vec<String> = (0..6).map(|i| format!("concurrent-{i}")).collect();
    let tasks: Vec<_> = values
        .iter()
        .map(|v| {
            let adapter = adapter.clone();
            let r = record(name, v);
            tokio::spawn(async move { adapter.present(&r).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(txt_values(&client, &zone_id, name).await, values);
    let tasks: Vec<_> = values
        .iter()
        .take(3)
        .map(|v| {
            let adapter = adapter.clone();
            let r = record(name, v);
            tokio::spawn(async move { adapter.cleanup(&r).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(txt_values(&client, &zone_id, name).await, values[3..]);

    // A configured hosted zone skips the lookup.
    let pinned =
        Route53::new(Route53Settings { hosted_zone_id: Some(zone_id.clone()), ..settings(&endpoint) })
            .unwrap();
    let r = record("_acme-challenge.pinned.route53.example.org.", "pinned-value");
    pinned.present(&r).await.unwrap();
    assert_eq!(txt_values(&client, &zone_id, &r.fqdn).await, ["pinned-value"]);
    pinned.cleanup(&r).await.unwrap();

    // A name no hosted zone covers.
    let missing = record("_acme-challenge.nowhere.example.net.", "v");
    let err = adapter.present(&missing).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("_acme-challenge.nowhere.example.net"), "{text}");
    assert!(text.contains("route53.example.org."), "the zones seen are listed: {text}");
    assert!(!text.contains("moto-does-not-check"), "{text}");

    // A configured hosted zone that does not exist.
    let wrong =
        Route53::new(Route53Settings { hosted_zone_id: Some("ZNOSUCHZONE1".into()), ..settings(&endpoint) })
            .unwrap();
    let err = wrong.present(&record(name, "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
}

/// The installer's settings, as operators bring them, drive the adapter unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_contract_moto_installer_settings() {
    let stack = Stack::up();
    let endpoint = stack.get("S3_ENDPOINT").to_string();
    let client = sdk(&endpoint);
    let zone_id = create_zone(&client, "installer.example.com.").await;
    let text = format!(
        r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.aws]
provider = "route53"
endpoint = "{endpoint}"
settings = {{ AWS_ACCESS_KEY_ID = "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI", AWS_REGION = "us-east-1", AWS_HOSTED_ZONE_ID = "{zone_id}" }}

[[certificate]]
name = "installer"
domains = ["*.installer.example.com", "installer.example.com"]
"#
    );
    let config = Config::parse(Path::new("wildcert.toml"), &text).unwrap();
    let mut warnings = Vec::new();
    let provider = Provider::from_section(&config.dns["aws"], &mut warnings).unwrap();
    assert!(matches!(provider, Provider::Route53(_)));
    let name = "_acme-challenge.installer.example.com.";
    provider.present(&record(name, "from-installer-settings")).await.unwrap();
    assert_eq!(txt_values(&client, &zone_id, name).await, ["from-installer-settings"]);
    provider.cleanup(&record(name, "from-installer-settings")).await.unwrap();
    assert!(txt_values(&client, &zone_id, name).await.is_empty());
}

/// Route53 answers bursts with `Throttling` and overlapping changes with
/// `PriorRequestNotComplete`; both are retried with backoff, and a PENDING change is polled
/// until INSYNC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_retries_throttling_and_waits_for_insync() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let server = {
        let calls = calls.clone();
        let log = log.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let request = read_request(&mut socket).await;
                let first_line = request.lines().next().unwrap_or_default().to_string();
                log.lock().unwrap().push(first_line.clone());
                let (status, body) = fake_route53(n, &first_line);
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
            }
        })
    };
    let adapter = Route53::new(Route53Settings {
        hosted_zone_id: Some("ZFAKE".into()),
        max_attempts: 4,
        ..settings(&endpoint)
    })
    .unwrap();
    adapter.present(&record("_acme-challenge.fake.example.", "v")).await.unwrap();
    let log = log.lock().unwrap().clone();
    server.abort();
    // list (throttled), list, change (prior request), change (PENDING), get-change (INSYNC)
    assert_eq!(log.len(), 5, "{log:#?}");
    assert!(log[0].contains("/rrset") && log[1].contains("/rrset"), "{log:#?}");
    assert!(log[2].starts_with("POST") && log[3].starts_with("POST"), "{log:#?}");
    assert!(log[4].contains("/change/C1"), "{log:#?}");
}

const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

fn fake_route53(n: usize, first_line: &str) -> (&'static str, String) {
    let error = |code: &str| {
        format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>slow down</Message></Error><RequestId>r{n}</RequestId></ErrorResponse>"
        )
    };
    let info = |status: &str| {
        format!(
            "<ChangeInfo><Id>/change/C1</Id><Status>{status}</Status><SubmittedAt>2025-01-01T00:00:00Z</SubmittedAt></ChangeInfo>"
        )
    };
    match n {
        0 => ("400 Bad Request", error("Throttling")),
        1 => (
            "200 OK",
            format!(
                "<?xml version=\"1.0\"?>\n<ListResourceRecordSetsResponse xmlns=\"{XMLNS}\"><ResourceRecordSets></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>10</MaxItems></ListResourceRecordSetsResponse>"
            ),
        ),
        2 => ("400 Bad Request", error("PriorRequestNotComplete")),
        3 => (
            "200 OK",
            format!(
                "<?xml version=\"1.0\"?>\n<ChangeResourceRecordSetsResponse xmlns=\"{XMLNS}\">{}</ChangeResourceRecordSetsResponse>",
                info("PENDING")
            ),
        ),
        _ if first_line.contains("/change/") => (
            "200 OK",
            format!(
                "<?xml version=\"1.0\"?>\n<GetChangeResponse xmlns=\"{XMLNS}\">{}</GetChangeResponse>",
                info("INSYNC")
            ),
        ),
        _ => ("500 Internal Server Error", error("InternalError")),
    }
}

/// Reads one HTTP/1.1 request (head and a Content-Length body) as text.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    support::read_http_request(socket).await.map(|r| r.raw).unwrap_or_default()
}

/// `wildcert issue` with the Route53 adapter against moto. moto serves no DNS, so Pebble
/// runs with `PEBBLE_VA_ALWAYS_VALID` (`STACK_ALWAYS_VALID=1`) and the propagation check is
/// off: this proves the order flow drives the adapter (present, then cleanup leaving nothing),
/// not that a CA could see the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_issue_with_always_valid_pebble() {
    let stack = Stack::up_with(&[("STACK_ALWAYS_VALID", "1")]);
    let endpoint = stack.get("S3_ENDPOINT").to_string();
    let client = sdk(&endpoint);
    let zone_id = create_zone(&client, "gradient.example.com.").await;
    // No bucket in this test: keep the certificates local.
    let text: String = stack
        .config_text()
        .lines()
        .filter(|l| !l.starts_with("bucket = ") && !l.starts_with("endpoint = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let section = format!(
        r#"[propagation]
check = false

[dns.office]
provider = "route53"
endpoint = "{endpoint}"
access_key_id = "AKIDEXAMPLE"
secret_access_key_file = "{}"

"#,
        stack.dir().join("s3.secret").display()
    );
    let config = stack.write_config("route53.toml", &format!("{}{section}{}", &text[..start], &text[end..]));
    let out = tokio::task::block_in_place(|| stack.wildcert_with(&config, &["issue"]));
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert_eq!(stderr.matches("writing challenge TXT record").count(), 2, "{stderr}");
    assert!(stderr.contains("route53 ("), "{stderr}");
    assert!(stderr.contains("challenge TXT records removed"), "{stderr}");
    assert!(txt_values(&client, &zone_id, "_acme-challenge.gradient.example.com.").await.is_empty());
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
}

/// One hosted zone's TXT RRsets with Route53's batch semantics, as far as the adapter relies
/// on them: a batch applies all or nothing, a DELETE must repeat the set exactly as it is, a
/// CREATE must not find one. moto accepts a DELETE of any set that once existed, so it cannot
/// show what happens when two writers race; this fake can (a contract test of those rules).
#[derive(Default)]
struct StrictZone {
    /// name → (TTL, values as sent, XML-escaped)
    sets: std::collections::BTreeMap<String, (String, Vec<String>)>,
    refused: usize,
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    text.split(open).skip(1).filter_map(|part| part.split(close).next()).collect()
}

impl StrictZone {
    fn answer(&mut self, method: &str, body: &str) -> (&'static str, String) {
        if method == "GET" {
            let sets: String = self
                .sets
                .iter()
                .map(|(name, (ttl, values))| {
                    let records: String =
                        values.iter().map(|v| format!("<ResourceRecord><Value>{v}</Value></ResourceRecord>")).collect();
                    format!(
                        "<ResourceRecordSet><Name>{name}</Name><Type>TXT</Type><TTL>{ttl}</TTL><ResourceRecords>{records}</ResourceRecords></ResourceRecordSet>"
                    )
                })
                .collect();
            return (
                "200 OK",
                format!(
                    "<?xml version=\"1.0\"?>\n<ListResourceRecordSetsResponse xmlns=\"{XMLNS}\"><ResourceRecordSets>{sets}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>300</MaxItems></ListResourceRecordSetsResponse>"
                ),
            );
        }
        let mut next = self.sets.clone();
        for change in between(body, "<Change>", "</Change>") {
            let action = between(change, "<Action>", "</Action>")[0];
            let name = between(change, "<Name>", "</Name>")[0].to_string();
            let ttl = between(change, "<TTL>", "</TTL>").first().map(|t| t.to_string()).unwrap_or_default();
            let values: Vec<String> =
                between(change, "<Value>", "</Value>").iter().map(|v| v.to_string()).collect();
            let ok = match action {
                "DELETE" => {
                    next.get(&name) == Some(&(ttl.clone(), values.clone())) && next.remove(&name).is_some()
                }
                "CREATE" => next.insert(name.clone(), (ttl, values)).is_none(),
                "UPSERT" => {
                    next.insert(name.clone(), (ttl, values));
                    true
                }
                _ => false,
            };
            if !ok {
                self.refused += 1;
                let error = format!(
                    "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>{action} of {name} does not match</Message></Error><RequestId>r</RequestId></ErrorResponse>"
                );
                return ("400 Bad Request", error);
            }
        }
        self.sets = next;
        (
            "200 OK",
            format!(
                "<?xml version=\"1.0\"?>\n<ChangeResourceRecordSetsResponse xmlns=\"{XMLNS}\"><ChangeInfo><Id>/change/C1</Id><Status>INSYNC</Status><SubmittedAt>2025-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"
            ),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_two_writers_on_one_name_lose_no_value() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let zone = Arc::new(std::sync::Mutex::new(StrictZone::default()));
    // The first two reads wait for each other, so that both writers read the same set and
    // the race happens however the machine schedules them (a sleep was not enough on a
    // loaded machine).
    let first_reads = Arc::new(tokio::sync::Barrier::new(2));
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = {
        let zone = zone.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let zone = zone.clone();
                let (first_reads, reads) = (first_reads.clone(), reads.clone());
                tokio::spawn(async move {
                    let Some(request) = support::read_http_request(&mut socket).await else { return };
                    if request.method == "GET" && reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2
                    {
                        let _ = tokio::time::timeout(Duration::from_secs(10), first_reads.wait()).await;
                    }
                    let (status, body) = zone.lock().unwrap().answer(&request.method, &request.body);
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        })
    };
    // Two adapters that share nothing (two processes, two hosts) write one name at once.
    let settings = Route53Settings { hosted_zone_id: Some("ZSTRICT".into()), ..settings(&endpoint) };
    let first = Route53::new(settings.clone()).unwrap();
    let second = Route53::new(settings).unwrap();
    let name = "_acme-challenge.shared.example.";
    let values = |who: &str| (0..3).map(|i| format!("{who}-{i}")).collect::<Vec<_>>();
    let writer = |adapter: Route53, who: &'static str| {
        tokio::spawn(async move {
            for v in values(who) {
                adapter.present(&record(name, &v)).await.unwrap();
            }
        })
    };
    let (a, b) = tokio::join!(writer(first.clone(), "first"), writer(second.clone(), "second"));
    a.unwrap();
    b.unwrap();
    let stored = |zone: &Arc<std::sync::Mutex<StrictZone>>| {
        let zone = zone.lock().unwrap();
        let mut v: Vec<String> = zone
            .sets
            .get(name)
            .map(|(_, values)| {
                values.iter().map(|v| v.replace("&quot;", "").trim_matches('"').to_string()).collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut all = [values("first"), values("second")].concat();
    all.sort();
    assert_eq!(stored(&zone), all, "no value lost");
    assert!(zone.lock().unwrap().refused > 0, "the writers did race (a batch was refused and retried)");

    let cleaner = |adapter: Route53, who: &'static str| {
        tokio::spawn(async move {
            for v in values(who) {
                adapter.cleanup(&record(name, &v)).await.unwrap();
            }
        })
    };
    let (a, _) = tokio::join!(cleaner(first, "first"), async {});
    a.unwrap();
    assert_eq!(stored(&zone), values("second"), "only the first writer's values removed");
    server.abort();
}
