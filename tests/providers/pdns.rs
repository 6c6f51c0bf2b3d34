//! The PowerDNS adapter against a real PowerDNS Authoritative server (Debian `pdns-server` +
//! `pdns-backend-sqlite3`, schema loaded with `sqlite3`), started per test on free loopback
//! ports with its own sqlite database, the HTTP API on and a fresh API key. `dig` proves the
//! server really serves what the adapter wrote, and Pebble validates an order against it.

use crate::conformance;
use crate::support;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord};
use wildcert_dns_pdns::{Pdns, PdnsSettings};

const SCHEMA: &str = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql";
const ZONE: &str = "pdns.example.org.";

/// A running `pdns_server`, killed on drop.
struct PowerDns {
    child: Child,
    dir: tempfile::TempDir,
    dns_port: u16,
    api_url: String,
    api_key: String,
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for both TCP and UDP right now.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn need(program: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found && Path::new(SCHEMA).exists(),
        "{program} or {SCHEMA} missing: apt-get install -y pdns-server pdns-backend-sqlite3 sqlite3 bind9-dnsutils curl"
    );
}

impl PowerDns {
    fn start() -> PowerDns {
        for program in ["pdns_server", "sqlite3", "dig", "curl"] {
            need(program);
        }
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new().prefix("wildcert-pdns-").tempdir().unwrap();
            let db = dir.path().join("pdns.sqlite3");
            let status = Command::new("sh")
                .arg("-c")
                .arg(format!("sqlite3 '{}' < '{SCHEMA}'", db.display()))
                .status()
                .unwrap();
            assert!(status.success(), "loading the PowerDNS schema failed");
            std::fs::write(dir.path().join("pdns.conf"), "").unwrap();
            let (dns_port, web_port) = (free_port(), free_port());
            let api_key = format!("test-key-{}-{dns_port}", std::process::id());
            let log = std::fs::File::create(dir.path().join("pdns.log")).unwrap();
            let child = Command::new("pdns_server")
                .arg(format!("--config-dir={}", dir.path().display()))
                .arg(format!("--socket-dir={}", dir.path().display()))
                .args(["--daemon=no", "--guardian=no", "--disable-syslog", "--write-pid=no", "--loglevel=4"])
                .args(["--security-poll-suffix=", "--local-address=127.0.0.1"])
                .arg(format!("--local-port={dns_port}"))
                .arg("--launch=gsqlite3")
                .arg(format!("--gsqlite3-database={}", db.display()))
                .args(["--api=yes", "--webserver=yes", "--webserver-address=127.0.0.1"])
                .arg("--webserver-allow-from=127.0.0.0/8")
                .arg(format!("--webserver-port={web_port}"))
                .arg(format!("--api-key={api_key}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start pdns_server");
            let mut server =
                PowerDns { child, dir, dns_port, api_url: format!("http://127.0.0.1:{web_port}"), api_key };
            if server.wait_ready() {
                return server;
            }
            last_log = std::fs::read_to_string(server.dir.path().join("pdns.log")).unwrap_or_default();
        }
        panic!("pdns_server did not start:\n{last_log}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if self.api("GET", "", None).0 == 200 {
                // The API answers before the DNS side is ready; create the zone and wait
                // until it is served.
                let (status, body) = self.api(
                    "POST",
                    "/zones",
                    Some(&format!(
                        r#"{{"name": "{ZONE}", "kind": "Native", "nameservers": ["ns1.{ZONE}"]}}"#
                    )),
                );
                assert_eq!(status, 201, "creating {ZONE}: {body}");
                while Instant::now() < deadline {
                    if !self.dig("SOA", ZONE).is_empty() {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Calls the API with curl: (status, body).
    fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut command = Command::new("curl");
        command
            .args(["-s", "-m", "5", "-w", "\n%{http_code}", "-X", method])
            .arg("-H")
            .arg(format!("X-API-Key: {}", self.api_key))
            .args(["-H", "Content-Type: application/json"]);
        if let Some(body) = body {
            command.args(["--data", body]);
        }
        let out = command.arg(format!("{}/api/v1/servers/localhost{path}", self.api_url)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.trim().parse().unwrap_or(0), body.to_string())
    }

    /// What the server answers for `name`, as dig prints it (TXT values unquoted, sorted).
    fn dig(&self, rtype: &str, name: &str) -> Vec<String> {
        let out = Command::new("dig")
            .args([
                "+short",
                "+time=2",
                "+tries=1",
                "-p",
                &self.dns_port.to_string(),
                "@127.0.0.1",
                rtype,
                name,
            ])
            .output()
            .unwrap();
        let mut values: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().trim_matches('"').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        values.sort();
        values
    }

    fn txt(&self, name: &str) -> Vec<String> {
        self.dig("TXT", name)
    }

    fn settings(&self) -> PdnsSettings {
        PdnsSettings {
            api_url: self.api_url.clone(),
            api_key: Secret::new(&self.api_key),
            server_id: "localhost".into(),
            zone: None,
            timeout: Duration::from_secs(5),
            ca_certificates: None,
        }
    }

    fn adapter(&self) -> Pdns {
        Pdns::new(self.settings()).unwrap()
    }

    fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

fn record(fqdn: &str, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: None, value: value.into(), ttl: 60, raw: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdns_present_and_cleanup_against_a_real_server() {
    let server = PowerDns::start();
    let adapter = server.adapter();
    let name = format!("_acme-challenge.{ZONE}");

    // A value someone else put there, with its own TTL: it must survive everything we do.
    let (status, body) = server.api(
        "PATCH",
        &format!("/zones/{ZONE}"),
        Some(&format!(
            r#"{{"rrsets": [{{"name": "{name}", "type": "TXT", "ttl": 300, "changetype": "REPLACE", "records": [{{"content": "\"someone-elses-value\"", "disabled": false}}]}}]}}"#
        )),
    );
    assert_eq!(status, 204, "{body}");
    assert_eq!(server.txt(&name), ["someone-elses-value"]);

    // apex and wildcard values coexisting at _acme-challenge.<domain>
    let apex = record(&name, "apex-value-AAAA");
    let wildcard = TxtRecord { zone: Some(ZONE.into()), ..record(&name, "wildcard-value-BBBB") };
    adapter.present(&apex).await.unwrap();
    adapter.present(&wildcard).await.unwrap();
    adapter.present(&wildcard).await.unwrap(); // again: no duplicate
    assert_eq!(server.txt(&name), ["apex-value-AAAA", "someone-elses-value", "wildcard-value-BBBB"]);

    // cleanup removes only ours
    adapter.cleanup(&apex).await.unwrap();
    assert_eq!(server.txt(&name), ["someone-elses-value", "wildcard-value-BBBB"]);
    adapter.cleanup(&apex).await.unwrap(); // absent is fine
    adapter.cleanup(&wildcard).await.unwrap();
    assert_eq!(server.txt(&name), ["someone-elses-value"]);
    // The last value goes with a DELETE of the RRset.
    adapter.cleanup(&record(&name, "someone-elses-value")).await.unwrap();
    assert!(server.txt(&name).is_empty());
    let (_, zone) = server.api("GET", &format!("/zones/{ZONE}"), None);
    assert!(!zone.contains("_acme-challenge"), "{zone}");

    // The zone is found without being configured or discovered, for a name deep inside it.
    let deep = record(&format!("_acme-challenge.www.sub.{ZONE}"), "deep-value");
    adapter.present(&deep).await.unwrap();
    assert_eq!(server.txt(&deep.fqdn), ["deep-value"]);
    adapter.cleanup(&deep).await.unwrap();
    assert!(server.txt(&deep.fqdn).is_empty());

    // Concurrent present/cleanup on one name within one process lose nothing.
    let values: Vec<String> = (0..6).map(|i| format!("concurrent-{i}")).collect();
    let tasks: Vec<_> = values
        .iter()
        .map(|v| {
            let adapter = adapter.clone();
            let r = record(&name, v);
            tokio::spawn(async move { adapter.present(&r).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.txt(&name), values);
    let tasks: Vec<_> = values
        .iter()
        .take(3)
        .map(|v| {
            let adapter = adapter.clone();
            let r = record(&name, v);
            tokio::spawn(async move { adapter.cleanup(&r).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.txt(&name), values[3..]);
}

/// The conformance suite against a real PowerDNS: records, refused key, and 429/503 from a
/// proxy in front of the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdns_conformance() {
    let server = PowerDns::start();
    let zone = Some(ZONE.to_string());
    let fqdn = format!("_acme-challenge.conformance.{ZONE}");
    let subject = conformance::Subject {
        provider: server.adapter(),
        fqdn: fqdn.clone(),
        zone: zone.clone(),
        read: conformance::dig_reader(server.dns_port),
        secrets: vec![server.api_key.clone()],
    };
    conformance::records(&subject).await;
    let wrong =
        Pdns::new(PdnsSettings { api_key: Secret::new("wrong-key-zz9"), ..server.settings() }).unwrap();
    conformance::auth_failure(
        &wrong,
        &fqdn,
        &zone,
        "api_key",
        &["wrong-key-zz9".into(), server.api_key.clone()],
    )
    .await;
    let upstream = server.api_url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let through = |url: &str| Pdns::new(PdnsSettings { api_url: url.into(), ..server.settings() }).unwrap();
    conformance::busy_is_retried(through, &upstream, &fqdn, &zone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdns_errors_name_the_problem_without_the_key() {
    let server = PowerDns::start();

    let wrong = Pdns::new(PdnsSettings { api_key: Secret::new("not-the-key"), ..server.settings() }).unwrap();
    let err = wrong.present(&record(&format!("_acme-challenge.{ZONE}"), "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("api_key"), "{err}");
    assert!(!format!("{err} {err:?}").contains("not-the-key"), "{err}");

    let adapter = server.adapter();
    let err = adapter.present(&record("_acme-challenge.example.net.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    assert!(err.to_string().contains("_acme-challenge.example.net"), "{err}");

    let pinned =
        Pdns::new(PdnsSettings { zone: Some("other.example.org".into()), ..server.settings() }).unwrap();
    let err = pinned.present(&record("_acme-challenge.other.example.org.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    assert!(err.to_string().contains("no zone other.example.org."), "{err}");

    let err = Pdns::new(PdnsSettings { server_id: "no-such-server".into(), ..server.settings() })
        .unwrap()
        .present(&record(&format!("_acme-challenge.{ZONE}"), "v"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err}");
    assert!(err.to_string().contains("check server_id"), "{err}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down =
        Pdns::new(PdnsSettings { api_url: format!("http://127.0.0.1:{port}"), ..server.settings() }).unwrap();
    let err = down.present(&record(&format!("_acme-challenge.{ZONE}"), "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err}");
}

/// The installer's settings, as operators bring them, with the key in a file (`_FILE`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdns_installer_settings() {
    let server = PowerDns::start();
    let key_file = server.dir().join("api.key");
    std::fs::write(&key_file, format!("{}\n", server.api_key)).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.powerdns]
provider = "pdns"
settings = {{ PDNS_API_URL = "{}", PDNS_API_KEY_FILE = "{}", PDNS_TTL = "120" }}
"#,
        server.api_url,
        key_file.display()
    );
    let config = Config::parse(Path::new("wildcert.toml"), &text).unwrap();
    support::fake_api::assert_warned(&config.warnings, "PDNS_TTL has no effect");
    let provider = Provider::from_section(&config.dns["powerdns"], &mut Vec::new()).unwrap();
    assert!(matches!(provider, Provider::Pdns(_)));
    let name = format!("_acme-challenge.{ZONE}");
    provider.present(&record(&name, "from-installer-settings")).await.unwrap();
    assert_eq!(server.txt(&name), ["from-installer-settings"]);
    provider.cleanup(&record(&name, "from-installer-settings")).await.unwrap();
    assert!(server.txt(&name).is_empty());
}

/// `wildcert issue` with the pdns adapter: Pebble validates by asking the stack's resolver,
/// which forwards the PowerDNS zone to this test's PowerDNS (`STACK_FORWARD`). wildcert finds
/// the zone and checks propagation by asking PowerDNS directly.
#[test]
fn pdns_issue_through_pebble() {
    let server = PowerDns::start();
    let forward = format!("{}=127.0.0.1:{}", ZONE.trim_end_matches('.'), server.dns_port);
    let stack = support::Stack::up_with(&[("STACK_S3", "0"), ("STACK_FORWARD", &forward)]);
    let key_file = server.dir().join("api.key");
    std::fs::write(&key_file, &server.api_key).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = stack.config_text();
    let start = text.find("[dns.office]").unwrap();
    let end = text.find("[[certificate]]").unwrap();
    let pdns = format!("127.0.0.1:{}", server.dns_port);
    let section = format!(
        r#"[propagation]
resolvers = ["{pdns}"]
nameservers = ["{pdns}"]

[dns.office]
provider = "pdns"
api_url = "{}"
api_key_file = "{}"

"#,
        server.api_url,
        key_file.display()
    );
    let apex = ZONE.trim_end_matches('.');
    let certificate = text[end..].replace("gradient.example.com", apex);
    let config = stack.write_config("pdns.toml", &format!("{}{section}{certificate}", &text[..start]));
    let out = stack.wildcert_with(&config, &["issue"]);
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    let names = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(stack.live_dir().join("gradient/cert.pem"))
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&names.stdout);
    assert!(names.contains(&format!("DNS:*.{apex}")) && names.contains(&format!("DNS:{apex}")), "{names}");
    assert!(server.txt(&format!("_acme-challenge.{ZONE}")).is_empty(), "cleaned up");
}
