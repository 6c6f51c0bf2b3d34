//! `wildcert run` and `wildcert renew` against Pebble + BIND: renewal cycles with short-lived
//! certificates, backoff while the CA is down, signals, sd_notify and metrics.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::{Daemon, Stack, free_port, http_get, stderr, stdout};

fn config_with(stack: &Stack, extra_cert_lines: &str, extra_tables: &str) -> std::path::PathBuf {
    let mut text = stack.config_text();
    text = text.replace("key_type = \"ec256\"", &format!("key_type = \"ec256\"\n{extra_cert_lines}"));
    text.push_str(extra_tables);
    stack.write_config("daemon.toml", &text)
}

#[test]
fn whole_cycle_issues_renews_and_runs_the_hook() {
    // 24-second certificates: renewed at half-life, about 12 s after issuance, leaving 12 s
    // before the next renewal for the checks below.
    let stack = Stack::up_with(&[("STACK_CERT_VALIDITY", "24")]);
    let setup = stack.wildcert(&["bucket", "setup"]);
    assert!(setup.status.success(), "{}", stderr(&setup));
    let hook_log = stack.dir().join("hook.log");
    let port = free_port();
    let config = config_with(
        &stack,
        &format!(
            "deploy_hook = \"echo \\\"$WILDCERT_NAME|$WILDCERT_FULLCHAIN|$WILDCERT_KEY|$WILDCERT_CERT|$WILDCERT_CHAIN\\\" >> {}\"",
            hook_log.display()
        ),
        &format!("\n[daemon]\nmetrics_listen = \"127.0.0.1:{port}\"\ncheck_interval = \"1m\"\n"),
    );
    let mut daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    daemon.wait_for("new certificate stored", 1, Duration::from_secs(20));
    let first = std::fs::read(stack.live_dir().join("gradient/cert.pem")).unwrap();
    daemon.wait_for("new certificate stored", 2, Duration::from_secs(30));
    daemon.wait_for("deploy hook finished", 2, Duration::from_secs(5));
    let second = std::fs::read(stack.live_dir().join("gradient/cert.pem")).unwrap();
    assert_ne!(first, second, "the renewal replaced the certificate");

    let hook = std::fs::read_to_string(&hook_log).unwrap();
    let runs: Vec<&str> = hook.lines().collect();
    assert_eq!(runs.len(), 2, "{hook}");
    let live = stack.live_dir().join("gradient");
    let expected = format!(
        "gradient|{}|{}|{}|{}",
        live.join("fullchain.pem").display(),
        live.join("privkey.pem").display(),
        live.join("cert.pem").display(),
        live.join("chain.pem").display()
    );
    assert_eq!(runs[1], expected);

    // The renewed certificate is the bucket's current version: another host pulls the same bytes.
    let pulled = stack.dir().join("pulled");
    let pull = stack.wildcert(&["pull", "--cert", "gradient", "--out", pulled.to_str().unwrap()]);
    assert!(pull.status.success(), "{}", stderr(&pull));
    assert_eq!(
        std::fs::read(pulled.join("fullchain.pem")).unwrap(),
        std::fs::read(live.join("fullchain.pem")).unwrap()
    );

    let notes = daemon.notifications().join("\n");
    assert!(notes.contains("READY=1"), "{notes}");
    assert!(notes.contains("STATUS=next renewal: gradient at "), "{notes}");

    let (code, metrics) = http_get(port, "/metrics");
    assert_eq!(code, 200);
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in:\n{metrics}"))
    };
    assert!(value("wildcert_renewals_total{cert=\"gradient\"}") >= 2.0);
    assert_eq!(value("wildcert_renewal_consecutive_failures{cert=\"gradient\"}"), 0.0);
    assert!(value("wildcert_certificate_not_after_seconds{cert=\"gradient\"}") > 1.7e9);
    assert!(value("wildcert_order_duration_seconds_count") >= 2.0);
    let (health, _) = http_get(port, "/healthz");
    assert_eq!(health, 200);

    let (status, took) = daemon.stop();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    assert!(daemon.notifications().join("\n").contains("STOPPING=1"));
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty());
}

/// Forwards connections on `listener` to `target` (one thread per direction).
fn forward(listener: TcpListener, target: u16) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
            for (mut from, mut to) in
                [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
            {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

#[test]
fn attempts_back_off_while_the_ca_is_down_and_succeed_once_it_is_back() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let pebble_port: u16 =
        stack.get("ACME_DIRECTORY").rsplit(':').next().unwrap().trim_end_matches("/dir").parse().unwrap();
    // The CA is "down": nothing listens on the port the configuration names.
    let port = free_port();
    let mut text =
        stack.config_text().replace(stack.get("ACME_DIRECTORY"), &format!("https://127.0.0.1:{port}/dir"));
    text.push_str("\n[daemon]\nretry_min = \"1s\"\nretry_max = \"8s\"\ncheck_interval = \"1m\"\n");
    let config = stack.write_config("down.toml", &text);
    let daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    daemon.wait_for("renewal failed", 4, Duration::from_secs(30));

    let failures: Vec<f64> = daemon
        .events()
        .iter()
        .filter(|e| e["message"] == "renewal failed")
        .map(|e| {
            let t = time::OffsetDateTime::parse(
                e["timestamp"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            t.unix_timestamp_nanos() as f64 / 1e9
        })
        .collect();
    let gaps: Vec<f64> = failures.windows(2).map(|w| w[1] - w[0]).collect();
    // Planned: 1 s, 2 s, 4 s (each ±20%), plus the time an attempt takes.
    for (gap, planned) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(*gap >= planned * 0.8 - 0.05 && *gap <= planned * 1.2 + 1.0, "gaps {gaps:?}");
    }
    let failure = daemon.events().into_iter().find(|e| e["message"] == "renewal failed").unwrap();
    assert!(failure["error"].as_str().unwrap().contains("cannot reach the CA"), "{failure}");
    let status = stack.wildcert_with(&config, &["status"]);
    assert!(stdout(&status).contains("FAILING"), "{}", stdout(&status));

    // The CA comes back on the same address.
    forward(TcpListener::bind(("127.0.0.1", port)).unwrap(), pebble_port);
    daemon.wait_for("new certificate stored", 1, Duration::from_secs(20));
    let status = stack.wildcert_with(&config, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(json["certificates"][0]["failures"], 0, "{json}");
    assert!(json["certificates"][0]["last_error"].is_null());
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one_running() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let config = config_with(&stack, "", "\n[daemon]\ncheck_interval = \"1m\"\n");
    let mut daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    daemon.wait_for("new certificate stored", 1, Duration::from_secs(20));
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace("[acme]", "[acme\nbroken")).unwrap();
    daemon.signal("HUP");
    daemon.wait_for(
        "the new configuration is broken; still running with the old one",
        1,
        Duration::from_secs(10),
    );
    assert!(daemon.is_running());
    std::fs::write(&config, &good).unwrap();
    daemon.signal("HUP");
    daemon.wait_for("configuration reloaded", 1, Duration::from_secs(10));
    assert!(daemon.is_running());
    let (status, _) = daemon.stop();
    assert!(status.success());
}

#[test]
fn sigterm_in_the_middle_of_an_order_leaves_no_txt_record() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    // A second "authoritative server" that never answers keeps the order waiting for
    // propagation, with the TXT records already written.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = config_with(
        &stack,
        "",
        &format!(
            "\n[propagation]\nnameservers = [\"{}\", \"{}\"]\ntimeout = \"60s\"\n",
            stack.get("DNS_SERVER"),
            silent.local_addr().unwrap()
        ),
    );
    let mut daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while stack.dig_txt("_acme-challenge.gradient.example.com").len() < 2 {
        assert!(Instant::now() < deadline, "the challenge records never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, took) = daemon.stop();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "TXT left behind");
    assert!(!stack.dir().join("state/journal/gradient.json").exists());
}

#[test]
fn renew_for_a_timer_does_nothing_when_not_due_and_renews_when_due() {
    let stack = Stack::up_with(&[("STACK_S3", "0"), ("STACK_CERT_VALIDITY", "6")]);
    let out = stack.wildcert(&["renew"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("gradient: renewed"),
        "nothing stored yet: renewed at once: {}",
        stdout(&out)
    );
    let out = stack.wildcert(&["renew"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("gradient: not due"), "{}", stdout(&out));
    std::thread::sleep(Duration::from_secs(3)); // half of the 6-second lifetime
    let out = stack.wildcert(&["renew"]);
    assert!(stdout(&out).contains("gradient: renewed"), "{}", stdout(&out));
}

/// The test-only ARI endpoint (`tests/support/ari_endpoint.py`) in front of Pebble.
struct AriEndpoint {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl AriEndpoint {
    fn start(stack: &Stack, start_in: i64, end_in: i64) -> AriEndpoint {
        let dir = stack.dir();
        std::fs::write(
            dir.join("window.json"),
            format!("{{\"start_in\": {start_in}, \"end_in\": {end_in}, \"retry_after\": 60}}"),
        )
        .unwrap();
        let port_file = dir.join("ari.port");
        let log = dir.join("ari.log");
        let child = std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/ari_endpoint.py"))
            .arg(&port_file)
            .arg(stack.get("ACME_DIRECTORY"))
            .arg(stack.get("PEBBLE_TLS_CA"))
            .arg(dir.join("pebble.crt"))
            .arg(dir.join("pebble.key"))
            .arg(dir.join("window.json"))
            .arg(&log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p.trim().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "the ARI endpoint did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        AriEndpoint { child, port, log }
    }
}

impl Drop for AriEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ari_window_from_the_ca_drives_renewal() {
    // 90-day certificates: the lifetime rule alone would not renew for two months.
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let ari = AriEndpoint::start(&stack, 1, 2);
    let text = stack
        .config_text()
        .replace(stack.get("ACME_DIRECTORY"), &format!("https://127.0.0.1:{}/dir", ari.port));
    let config = stack.write_config("ari.toml", &text);

    let out = stack.wildcert_with(&config, &["issue"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = stack.wildcert_with(&config, &["renew"]);
    assert!(stdout(&out).contains("not due"), "{}", stdout(&out));
    assert!(stdout(&out).contains("renewal window (ARI)"), "the CA's window is the plan: {}", stdout(&out));
    let asked = std::fs::read_to_string(&ari.log).unwrap();
    let status: serde_json::Value =
        serde_json::from_str(&stdout(&stack.wildcert_with(&config, &["status", "--json"]))).unwrap();
    let serial = status["certificates"][0]["serial"].as_str().unwrap().to_string();
    assert_eq!(asked.lines().count(), 1, "{asked}");

    std::thread::sleep(Duration::from_millis(2500));
    let out = stack.wildcert_with(&config, &["renew"]);
    assert!(stdout(&out).contains("gradient: renewed"), "{}\n{}", stdout(&out), stderr(&out));
    let status: serde_json::Value =
        serde_json::from_str(&stdout(&stack.wildcert_with(&config, &["status", "--json"]))).unwrap();
    assert_ne!(status["certificates"][0]["serial"].as_str().unwrap(), serial);
    // The window was cached until its Retry-After: no second question for the old certificate.
    assert_eq!(std::fs::read_to_string(&ari.log).unwrap().lines().count(), 1);
}
