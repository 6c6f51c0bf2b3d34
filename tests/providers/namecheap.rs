//! The Namecheap adapter against a contract fake of the Namecheap XML API, built from its
//! documentation (<https://www.namecheap.com/support/api/intro/>, methods
//! `namecheap.domains.dns.getHosts` and `namecheap.domains.dns.setHosts`): the global
//! parameters `ApiUser`, `ApiKey`, `UserName`, `ClientIp`, `Command` (query or form body);
//! `getHosts` with `SLD`/`TLD` answering `<DomainDNSGetHostsResult Domain EmailType
//! IsUsingOurDNS>` with `<host HostId Name Type Address MXPref TTL/>`; `setHosts` replacing
//! every host record of the domain with `HostNameN`, `RecordTypeN`, `AddressN`, `MXPrefN`,
//! `TTLN` (TTL 60 to 60000) and `EmailType`, answering `<DomainDNSSetHostsResult
//! IsSuccess="true"/>`; errors as `<ApiResponse Status="ERROR"><Errors><Error Number>`
//! (1011102 a wrong key, 1011150 a client address that is not whitelisted, 2019166 an unknown
//! domain), always with HTTP 200. When given a BIND, the fake applies the TXT changes of each
//! `setHosts` to it through RFC 2136, so Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, Secret, TxtRecord};
use wildcert_dns_namecheap::{ClientIp, Namecheap};
use wildcert_dns_rfc2136::Rfc2136;

const USER: &str = "gradient-ops";
const KEY: &str = "nc0ffee0123456789abcdef";
const IP: &str = "192.0.2.10";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Host {
    name: String,
    rtype: String,
    address: String,
    mx_pref: String,
    ttl: String,
}

fn host(name: &str, rtype: &str, address: &str, mx_pref: &str, ttl: &str) -> Host {
    Host {
        name: name.into(),
        rtype: rtype.into(),
        address: address.into(),
        mx_pref: mx_pref.into(),
        ttl: ttl.into(),
    }
}

#[derive(Debug, Clone, Default)]
struct Domain {
    email_type: String,
    hosts: Vec<Host>,
}

#[derive(Default)]
struct State {
    /// `example.com` -> its records.
    domains: BTreeMap<String, Domain>,
    /// Commands received, in order.
    commands: Vec<String>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn answer(command: &str, inner: &str) -> Reply {
    Reply::text(
        200,
        "text/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<ApiResponse Status=\"OK\" xmlns=\"http://api.namecheap.com/xml.response\">\r\n  <Errors />\r\n  <Warnings />\r\n  <RequestedCommand>{command}</RequestedCommand>\r\n  <CommandResponse Type=\"{command}\">{inner}</CommandResponse>\r\n  <Server>PHX01SBAPIEXT05</Server>\r\n  <GMTTimeDifference>--4:00</GMTTimeDifference>\r\n  <ExecutionTime>0.011</ExecutionTime>\r\n</ApiResponse>"
        ),
    )
}

fn error(number: &str, text: &str) -> Reply {
    Reply::text(
        200,
        "text/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<ApiResponse Status=\"ERROR\" xmlns=\"http://api.namecheap.com/xml.response\">\r\n  <Errors>\r\n    <Error Number=\"{number}\">{}</Error>\r\n  </Errors>\r\n  <Warnings />\r\n  <RequestedCommand />\r\n  <Server>PHX01SBAPIEXT05</Server>\r\n  <GMTTimeDifference>--4:00</GMTTimeDifference>\r\n  <ExecutionTime>0</ExecutionTime>\r\n</ApiResponse>",
            escape(text)
        ),
    )
}

fn fqdn(domain: &str, name: &str) -> String {
    if name == "@" { format!("{domain}.") } else { format!("{name}.{domain}.") }
}

fn txt_at(domain: &str, hosts: &[Host]) -> Vec<(String, String)> {
    hosts
        .iter()
        .filter(|h| h.rtype == "TXT")
        .map(|h| (fqdn(domain, &h.name.to_ascii_lowercase()), h.address.clone()))
        .collect()
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if request.path() == "/getip" {
        return Reply::text(200, "text/plain", IP);
    }
    if request.path() != "/xml.response" {
        return Reply::text(404, "text/html", "<html>Not Found</html>");
    }
    let mut params = request.query();
    if request.header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")) {
        params.extend(fake_api::query_pairs(&request.body));
    }
    let param = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    if param("ApiUser").as_deref() != Some(USER) || param("UserName").as_deref() != Some(USER) {
        return error("1011101", "Parameter APIUser is invalid");
    }
    if param("ApiKey").as_deref() != Some(KEY) {
        return error("1011102", "API Key is invalid or API access has not been enabled");
    }
    if param("ClientIp").as_deref() != Some(IP) {
        return error("1011150", &format!("Invalid request IP: {}", param("ClientIp").unwrap_or_default()));
    }
    let command = param("Command").unwrap_or_default();
    state.commands.push(command.clone());
    let domain = format!("{}.{}", param("SLD").unwrap_or_default(), param("TLD").unwrap_or_default());
    let Some(zone) = state.domains.get_mut(&domain) else {
        return error("2019166", "Domain not found");
    };
    match command.as_str() {
        "namecheap.domains.dns.getHosts" => {
            let hosts: String = zone
                .hosts
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    format!(
                        "<host HostId=\"{}\" Name=\"{}\" Type=\"{}\" Address=\"{}\" MXPref=\"{}\" TTL=\"{}\" AssociatedAppTitle=\"\" FriendlyName=\"\" IsActive=\"true\" IsDDNSEnabled=\"false\" />",
                        100 + i,
                        escape(&h.name),
                        escape(&h.rtype),
                        escape(&h.address),
                        escape(&h.mx_pref),
                        escape(&h.ttl)
                    )
                })
                .collect();
            answer(
                &command,
                &format!(
                    "<DomainDNSGetHostsResult Domain=\"{domain}\" EmailType=\"{}\" IsUsingOurDNS=\"true\">{hosts}</DomainDNSGetHostsResult>",
                    zone.email_type
                ),
            )
        }
        "namecheap.domains.dns.setHosts" => {
            let mut hosts = Vec::new();
            for n in 1.. {
                let Some(name) = param(&format!("HostName{n}")) else { break };
                let (Some(rtype), Some(address)) =
                    (param(&format!("RecordType{n}")), param(&format!("Address{n}")))
                else {
                    return error("2010324", &format!("RecordType{n} and Address{n} are required"));
                };
                let ttl = param(&format!("TTL{n}")).unwrap_or_else(|| "1800".into());
                if ttl.parse::<u32>().map_or(true, |t| !(60..=60000).contains(&t)) {
                    return error("2010324", &format!("TTL{n} must be between 60 and 60000"));
                }
                let mx_pref = param(&format!("MXPref{n}")).unwrap_or_else(|| "10".into());
                hosts.push(Host { name, rtype, address, mx_pref, ttl });
            }
            let before = txt_at(&domain, &zone.hosts);
            let after = txt_at(&domain, &hosts);
            let mut changes: Vec<Change> =
                before.iter().filter(|v| !after.contains(v)).map(|(n, v)| Change::remove(n, v)).collect();
            changes.extend(after.iter().filter(|v| !before.contains(v)).map(|(n, v)| Change::add(n, v)));
            zone.hosts = hosts;
            zone.email_type = param("EmailType").unwrap_or_default();
            answer(&command, &format!("<DomainDNSSetHostsResult Domain=\"{domain}\" IsSuccess=\"true\" />"))
                .with(changes)
        }
        _ => error("1010104", "Parameter Command is missing or unknown"),
    }
}

/// The records someone else keeps in `example.com`, every type the write must carry back.
fn others() -> Vec<Host> {
    vec![
        host("@", "A", "198.51.100.4", "10", "1800"),
        host("@", "MX", "mail.example.com.", "5", "3600"),
        host("@", "MX", "backup-mail.example.com.", "20", "3600"),
        host("@", "TXT", "v=spf1 include:_spf.example.com ~all", "10", "1799"),
        host("www", "CNAME", "example.com.", "10", "300"),
        host("notes", "TXT", "a&b <\"quoted\">", "10", "60"),
        host("@", "CAA", "0 issue \"letsencrypt.org\"", "10", "1800"),
        host("_acme-challenge.gradient", "TXT", "someone-elses-value", "10", "60"),
    ]
}

async fn fake(domains: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state = State {
        domains: domains
            .iter()
            .map(|d| (d.to_string(), Domain { email_type: "MX".into(), hosts: Vec::new() }))
            .collect(),
        ..Default::default()
    };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .domains
        .iter()
        .flat_map(|(d, zone)| txt_at(d, &zone.hosts))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

fn base(api: &FakeApi<State>) -> String {
    format!("{}/xml.response", api.url)
}

fn adapter(url: &str, key: &str) -> Namecheap {
    let ip = ClientIp::Fixed(IP.parse().unwrap());
    Namecheap::new(url, USER, &Secret::new(key), ip, Duration::from_secs(5)).unwrap()
}

/// The conformance suite against the contract fake: every other record of the domain, of
/// every type, survives each write exactly (MX preferences, TTLs, escaping, email type).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namecheap_conformance_keeps_every_other_record() {
    let api = fake(&["example.com"], None).await;
    api.state().domains.get_mut("example.com").unwrap().hosts = others();
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let subject = conformance::Subject {
        provider: adapter(&base(&api), KEY),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![KEY.into()],
    };
    conformance::records(&subject).await;
    {
        let state = api.state();
        let zone = &state.domains["example.com"];
        assert_eq!(zone.hosts, others(), "a write lost or changed another record");
        assert_eq!(zone.email_type, "MX", "the email type (and with it the MX records) must be kept");
        assert!(state.commands.iter().any(|c| c == "namecheap.domains.dns.setHosts"));
    }
    conformance::auth_failure(
        &adapter(&base(&api), "wrong-key-42"),
        &fqdn,
        &None,
        "api_key",
        &["wrong-key-42".into(), KEY.into()],
    )
    .await;
    conformance::busy_is_retried(
        |url: &str| adapter(&format!("{url}/xml.response"), KEY),
        &api.upstream(),
        &fqdn,
        &None,
    )
    .await;
}

/// Challenges for two names of one domain, presented at once, both land: writes to one
/// domain are serialized, each reading what the other wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namecheap_serializes_writes_per_domain() {
    let api = fake(&["example.com"], None).await;
    let p = adapter(&base(&api), KEY);
    let records: Vec<TxtRecord> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            conformance::record(&format!("_acme-challenge.{n}.example.com."), &None, &format!("value-{n}"))
        })
        .collect();
    for result in futures_util::future::join_all(records.iter().map(|r| p.present(r))).await {
        result.unwrap();
    }
    for r in &records {
        assert_eq!((api.reader(values))(r.fqdn.clone()).await, std::slice::from_ref(&r.value));
    }
    // Short TTLs are raised to Namecheap's minimum (the fake refuses less than 60).
    let short = TxtRecord { ttl: 10, ..conformance::record("_acme-challenge.example.com.", &None, "short") };
    p.present(&short).await.unwrap();
    assert!(api.state().domains["example.com"].hosts.iter().any(|h| h.address == "short" && h.ttl == "60"));
}

/// A client address that is not whitelisted is an authentication error naming client_ip;
/// `client_ip = "auto"` asks the configured URL once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namecheap_client_ip() {
    let api = fake(&["example.com"], None).await;
    let wrong_ip = Namecheap::new(
        &base(&api),
        USER,
        &Secret::new(KEY),
        ClientIp::Fixed("203.0.113.9".parse().unwrap()),
        Duration::from_secs(5),
    )
    .unwrap();
    let record = conformance::record("_acme-challenge.example.com.", &None, "v");
    let err = wrong_ip.present(&record).await.unwrap_err();
    assert!(matches!(err, wildcert_dns_api::ProviderError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("client_ip") && err.to_string().contains("1011150"), "{err}");
    let auto = Namecheap::new(
        &base(&api),
        USER,
        &Secret::new(KEY),
        ClientIp::Lookup(format!("{}/getip", api.url)),
        Duration::from_secs(5),
    )
    .unwrap();
    auto.present(&record).await.unwrap();
    auto.cleanup(&record).await.unwrap();
    assert_eq!(api.seen().iter().filter(|s| s.starts_with("GET /getip")).count(), 1, "asked once");
    // An unknown domain is reported as such.
    let err = adapter(&base(&api), KEY)
        .present(&conformance::record("_acme-challenge.example.org.", &None, "v"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("2019166"), "{err}");
}

/// The installer's settings reach the adapter; the client address must be explicit.
#[test]
fn namecheap_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "namecheap"
settings = { NAMECHEAP_API_USER = "gradient-ops", NAMECHEAP_API_KEY_FILE = "/etc/wildcert/namecheap.key", NAMECHEAP_CLIENT_IP = "192.0.2.10", NAMECHEAP_SANDBOX = "true", NAMECHEAP_TTL = "120" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "NAMECHEAP_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::Namecheap(cfg) = &config.dns["installer"].config else {
        panic!("not namecheap")
    };
    assert_eq!(cfg.api_url(), wildcert_dns_namecheap::SANDBOX_API_URL);
    let err = Config::parse(
        std::path::Path::new("w.toml"),
        &text.replace(", NAMECHEAP_CLIENT_IP = \"192.0.2.10\"", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("client_ip") && err.contains("auto"), "{err}");
    let err = Config::parse(std::path::Path::new("w.toml"), &text.replace("192.0.2.10", "my-office"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an IP address"), "{err}");
}

/// `wildcert issue` through the fake: it writes to BIND over RFC 2136, Pebble validates by
/// asking BIND, and no TXT is left afterwards; the domain's other records are intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namecheap_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&["example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let kept = vec![
        host("@", "MX", "mail.example.com.", "5", "3600"),
        host("www", "A", "198.51.100.4", "10", "300"),
    ];
    api.state().domains.get_mut("example.com").unwrap().hosts = kept.clone();
    let key_file = fake_api::secret_file(&stack, "namecheap.key", KEY);
    let table = format!(
        "provider = \"namecheap\"\napi_url = \"{}\"\napi_user = \"{USER}\"\napi_key_file = \"{}\"\nclient_ip = \"{IP}\"",
        base(&api),
        key_file.display()
    );
    fake_api::issue_through(&stack, &table, &[KEY]);
    assert_eq!(api.state().domains["example.com"].hosts, kept);
}
