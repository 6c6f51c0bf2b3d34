//! What an operator sees and relies on: log lines journald can read, notifications that
//! arrive (a failed renewal with its cause, a supplied certificate close to expiry), a stop
//! signal that ends a multi-certificate `issue` cleanly, plain HTTP refused off loopback,
//! and live files a web server's group can read whatever the umask.

mod bundle_support;
mod support;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bundle_support::{Alg, LeafSpec, Pki};
use support::{Stack, stderr, stdout};

fn wildcert(config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wildcert"));
    cmd.arg("--config").arg(config).args(args).env_remove("WILDCERT_LOG").env_remove("JOURNAL_STREAM");
    cmd
}

/// A config without a CA: one supplied certificate (`source = "files"`) in `dir`.
fn files_config(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"[storage]
local_dir = "{dir}/live"
state_dir = "{dir}/state"

[[certificate]]
name = "legacy"
domains = ["*.gradient.example.com", "gradient.example.com"]
source = "files"
key_file = "{dir}/legacy.key"
bundle_file = "{dir}/legacy.crt"
{extra}"#,
        dir = dir.display()
    );
    let path = dir.join("wildcert.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes a supplied pair that expires in `days` days.
fn supplied_pair(dir: &Path, days: i64) {
    let spec = LeafSpec {
        not_before: bundle_support::now() - time::Duration::days(80),
        not_after: bundle_support::now() + time::Duration::days(days),
        ..LeafSpec::default()
    };
    let pki = Pki::with_leaf(1, Alg::EcP256, &spec);
    std::fs::write(dir.join("legacy.key"), pki.key_pem()).unwrap();
    std::fs::set_permissions(dir.join("legacy.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(dir.join("legacy.crt"), pki.bundle()).unwrap();
}

#[test]
fn text_logs_to_a_pipe_carry_no_escape_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // The supplied files are missing: `renew` logs an error naming the certificate.
    let config = files_config(dir.path(), "");
    let out = wildcert(&config, &["-v", "renew"]).output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("cannot read the supplied certificate file"), "{err}");
    assert!(err.contains("legacy"), "the certificate is named: {err}");
    assert!(!out.stderr.contains(&0x1b), "no ANSI escape in piped logs: {err:?}");
    assert!(!err.lines().any(|l| l.starts_with('<')), "no priority prefix outside systemd: {err}");
}

#[test]
fn journal_stream_lines_start_with_a_priority() {
    let dir = tempfile::tempdir().unwrap();
    // A supplied pair close to expiry: imported (info), then warned about (warn).
    supplied_pair(dir.path(), 3);
    let config = files_config(dir.path(), "");
    let log_path = dir.path().join("journal.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let meta = log.metadata().unwrap();
    let out = wildcert(&config, &["-v", "renew"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(log)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    let text = std::fs::read_to_string(&log_path).unwrap();
    for line in text.lines() {
        let prio = line.strip_prefix('<').and_then(|r| r.split_once('>')).map(|(n, _)| n);
        assert!(matches!(prio, Some("3" | "4" | "6" | "7")), "line without a priority: {line:?}");
        assert!(!line.contains('\u{1b}'), "{line:?}");
    }
    assert!(
        text.lines().any(|l| l.starts_with("<6>") && l.contains("imported the changed supplied certificate")),
        "info at priority 6:\n{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("<4>") && l.contains("expires soon") && l.contains("legacy")),
        "warning at priority 4, naming the certificate:\n{text}"
    );

    // A JOURNAL_STREAM inherited by a process whose stderr went elsewhere is not ours.
    let out = wildcert(&config, &["renew"]).env("JOURNAL_STREAM", "1:1").output().unwrap();
    assert!(!stderr(&out).lines().any(|l| l.starts_with('<')), "{}", stderr(&out));
}

/// A webhook receiver on loopback: answers 200 to every POST and keeps the bodies.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&data).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            let target = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                            if let Ok(json) = serde_json::from_str(body) {
                                kept.lock().unwrap().push((target, json));
                            }
                            let _ = stream.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                            );
                            break;
                        }
                    }
                }
            }
        });
        Receiver { port, bodies }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn bodies(&self) -> Vec<(String, serde_json::Value)> {
        self.bodies.lock().unwrap().clone()
    }
}

#[test]
fn webhook_warns_about_a_supplied_certificate_close_to_expiry() {
    let dir = tempfile::tempdir().unwrap();
    supplied_pair(dir.path(), 3);
    let receiver = Receiver::start();
    let url_file = dir.path().join("slack.url");
    std::fs::write(&url_file, receiver.url("/services/T0/B0/SECRETTOKEN")).unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = files_config(
        dir.path(),
        &format!(
            "\n[notify]\nwarn_before = \"14d\"\n\n[[notify.webhook]]\nurl = \"{}\"\n\n[[notify.webhook]]\nurl_file = \"{}\"\nformat = \"slack\"\n",
            receiver.url("/json"),
            url_file.display()
        ),
    );
    let out = wildcert(&config, &["renew"]).output().unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let bodies = receiver.bodies();
    let json = bodies
        .iter()
        .find(|(t, _)| t == "/json")
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| panic!("no JSON notification; got {bodies:?}; log:\n{}", stderr(&out)));
    assert_eq!(json["event"], "expires_soon");
    assert_eq!(json["certificate"], "legacy");
    assert!(json["not_after"].as_str().is_some_and(|t| t.ends_with('Z')), "{json}");
    assert!(
        json["message"].as_str().unwrap().contains("in 2 day(s)")
            || json["message"].as_str().unwrap().contains("in 3 day(s)"),
        "{json}"
    );
    let slack =
        bodies.iter().find(|(t, _)| t.starts_with("/services/")).map(|(_, b)| b.clone()).expect("slack body");
    assert!(slack["text"].as_str().unwrap().contains("certificate legacy expires"), "{slack}");
    assert_eq!(slack.as_object().unwrap().len(), 1);
    assert!(!stderr(&out).contains("SECRETTOKEN"), "the URL's secret stays out of the log: {}", stderr(&out));

    // At most once a day: a second run sends nothing new.
    let again = wildcert(&config, &["renew"]).output().unwrap();
    assert!(again.status.success());
    assert_eq!(receiver.bodies().len(), 2, "no repeat within a day");

    // A pair far from expiry is not warned about.
    let fresh = tempfile::tempdir().unwrap();
    supplied_pair(fresh.path(), 60);
    let config = files_config(
        fresh.path(),
        &format!("\n[notify]\n[[notify.webhook]]\nurl = \"{}\"\n", receiver.url("/fresh")),
    );
    let out = wildcert(&config, &["renew"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!receiver.bodies().iter().any(|(t, _)| t == "/fresh"));
}

#[test]
fn webhook_gets_a_renewal_failure_with_its_cause() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let receiver = Receiver::start();
    // The DNS provider points at a port where nothing listens.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let text = stack
        .config_text()
        .replace(
            &format!("nameserver = \"{}\"", stack.get("DNS_SERVER")),
            &format!("nameserver = \"{dead_addr}\"\ntimeout = \"2s\""),
        )
        .replace(
            "[dns.office]",
            &format!(
                "[propagation]\nresolvers = [\"{}\"]\n\n[notify]\ncommand = \"echo $WILDCERT_EVENT $WILDCERT_NAME $WILDCERT_ATTEMPTS > {}/command.out\"\n\n[[notify.webhook]]\nurl = \"{}\"\n\n[dns.office]",
                stack.get("DNS_SERVER"),
                stack.dir().display(),
                receiver.url("/hook")
            ),
        );
    let config = stack.write_config("dead-ns-notify.toml", &text);
    let out = stack.wildcert_with(&config, &["issue"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let bodies = receiver.bodies();
    let (_, body) = bodies
        .iter()
        .find(|(_, b)| b["event"] == "renewal_failed")
        .unwrap_or_else(|| panic!("no failure notification; got {bodies:?}; log:\n{}", stderr(&out)));
    assert_eq!(body["certificate"], "gradient");
    assert_eq!(body["attempts"], 1);
    assert!(body["cause"].as_str().unwrap().contains(&dead_addr), "the cause names the dead server: {body}");
    assert!(body["next_attempt"].as_str().is_some(), "{body}");
    assert!(body["host"].as_str().is_some_and(|h| !h.is_empty()), "{body}");
    let command = std::fs::read_to_string(stack.dir().join("command.out")).expect("the notify command ran");
    assert_eq!(command.trim(), "renewal_failed gradient 1");
}

#[test]
fn sigterm_during_issue_of_three_certificates_stops_cleanly() {
    stop_during("issue");
}

#[test]
fn sigterm_during_renew_of_three_certificates_stops_cleanly() {
    stop_during("renew");
}

/// Runs `command` over three due certificates, holds the first order with its TXT records
/// written, sends SIGTERM and checks what is left.
fn stop_during(command: &str) {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let text = format!(
        "{}\n[[certificate]]\nname = \"second\"\ndomains = [\"a.gradient.example.com\"]\ndns = \"office\"\n\n[[certificate]]\nname = \"third\"\ndomains = [\"b.gradient.example.com\"]\ndns = \"office\"\n",
        stack.config_text()
    );
    let config = stack.write_config("three.toml", &text);
    let log_path = stack.dir().join("issue.log");
    let mut child = wildcert(&config, &[command])
        .env("WILDCERT_FAILPOINT", "txt-written")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    // The first order holds at the failpoint with its TXT records in the zone.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log_path).unwrap().contains("failpoint reached") {
        assert!(
            Instant::now() < deadline,
            "never reached the failpoint:\n{}",
            std::fs::read_to_string(&log_path).unwrap()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited early:\n{}",
            std::fs::read_to_string(&log_path).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "TXT records are in the zone");

    let started = Instant::now();
    assert!(Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(status.code(), Some(143), "exit status of a SIGTERM stop:\n{log}");
    for name in [
        "_acme-challenge.gradient.example.com",
        "_acme-challenge.a.gradient.example.com",
        "_acme-challenge.b.gradient.example.com",
    ] {
        assert!(stack.dig_txt(name).is_empty(), "{name} still has TXT records:\n{log}");
    }
    assert_eq!(log.matches("failpoint reached").count(), 1, "one order started:\n{log}");
    assert!(
        !log.contains("cert=second") && !log.contains("cert=third"),
        "no further certificate started:\n{log}"
    );
    assert!(!out.contains("second") && !out.contains("third"), "{out}");
    assert!(!stack.live_dir().join("second").exists() && !stack.live_dir().join("third").exists());
    eprintln!("{command}: stopped {took:?} after SIGTERM");
}

#[test]
fn plain_http_refused_at_load_unless_loopback_or_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let base = files_config(dir.path(), "");
    let storage = |endpoint: &str, extra: &str| {
        let text = std::fs::read_to_string(&base).unwrap().replace(
            "[storage]\n",
            &format!("[storage]\nbucket = \"b\"\nendpoint = \"{endpoint}\"\n{extra}"),
        );
        let path = dir.path().join("http.toml");
        std::fs::write(&path, text).unwrap();
        wildcert(&path, &["config", "check"]).output().unwrap()
    };
    let out = storage("http://minio.example:9000", "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("http.toml") && err.contains("storage.endpoint"), "names file and field: {err}");
    assert!(err.contains("allow_http = true") && err.contains("https://"), "says how to fix it: {err}");
    let out = storage("http://127.0.0.1:9000", "");
    assert_eq!(out.status.code(), Some(0), "loopback is fine: {}{}", stdout(&out), stderr(&out));
    let out = storage("http://minio.example:9000", "allow_http = true\n");
    assert_eq!(out.status.code(), Some(0), "allowed: {}{}", stdout(&out), stderr(&out));

    // A webhook URL from a file is checked when it is read, without echoing its secret.
    let url_file = dir.path().join("hook.url");
    std::fs::write(&url_file, "http://alerts.example/hook/SECRETTOKEN").unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = files_config(
        dir.path(),
        &format!("\n[notify]\n[[notify.webhook]]\nurl_file = \"{}\"\n", url_file.display()),
    );
    let out = wildcert(&config, &["renew"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("notify.webhook[0].url") && !stderr(&out).contains("SECRETTOKEN"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn live_group_makes_files_group_readable_under_umask_0077() {
    let dir = tempfile::tempdir().unwrap();
    supplied_pair(dir.path(), 60);
    let gid = 1; // `daemon`, present on every Debian system
    let config = files_config(dir.path(), "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[storage]\n", "[storage]\nlive_group = \"daemon\"\n");
    std::fs::write(&config, text).unwrap();
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "umask 0077 && exec {} --config {} import --cert legacy --key {} --bundle {} --no-trust",
            env!("CARGO_BIN_EXE_wildcert"),
            config.display(),
            dir.path().join("legacy.key").display(),
            dir.path().join("legacy.crt").display()
        ))
        .env_remove("WILDCERT_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let live = dir.path().join("live").join("legacy");
    let version = std::fs::canonicalize(&live).unwrap();
    for file in ["privkey.pem", "fullchain.pem", "cert.pem", "chain.pem"] {
        let meta = std::fs::metadata(live.join(file)).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640, "{file}");
        assert_eq!(meta.gid(), gid, "{file}");
    }
    for d in [version.clone(), version.parent().unwrap().to_path_buf(), dir.path().join("live/.archive")] {
        let meta = std::fs::metadata(&d).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o750, "{}", d.display());
        assert_eq!(meta.gid(), gid, "{}", d.display());
    }

    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("live_group = \"daemon\"", "live_group = \"no-such-group-wc\"");
    std::fs::write(&config, text).unwrap();
    let out = wildcert(&config, &["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("storage.live_group") && stderr(&out).contains("no-such-group-wc"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn watchdog_is_pinged_while_waiting_and_not_by_a_stuck_round() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let config = stack.config_path();
    // WATCHDOG_USEC of 1 s: a ping every 500 ms while alive.
    let watchdog = [("WATCHDOG_USEC", "1000000")];
    let pings =
        |daemon: &support::Daemon| daemon.notifications().iter().filter(|m| m.contains("WATCHDOG=1")).count();

    // A round held at a failpoint (an order that makes no progress) stops the pings.
    let stuck_env = [watchdog[0], ("WILDCERT_FAILPOINT", "txt-written")];
    let mut stuck = support::Daemon::start_with_env(&config, stack.dir().join("stuck.log"), &stuck_env);
    stuck.wait_for("failpoint reached; pausing until killed", 1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1200));
    let _ = pings(&stuck);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(pings(&stuck), 0, "no watchdog ping while the round is stuck");
    assert!(stuck.is_running());
    let (status, _) = stuck.stop();
    assert!(status.success());

    // A round that finishes, then the wait until the next one: pinged on schedule.
    let daemon = support::Daemon::start_with_env(&config, stack.dir().join("daemon.log"), &watchdog);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &String| m.contains("STATUS=next renewal")) {
        assert!(Instant::now() < deadline, "the first round never finished: {seen:?}");
        seen.extend(daemon.notifications());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let during_wait = pings(&daemon);
    assert!(during_wait >= 3, "{during_wait} pings in 2 s of waiting");
}

#[test]
fn the_service_notifies_a_renewal_only_when_asked() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let receiver = Receiver::start();
    let text = format!(
        "{}\n[notify]\non_renewed = true\n\n[[notify.webhook]]\nurl = \"{}\"\n",
        stack.config_text(),
        receiver.url("/renewed")
    );
    let config = stack.write_config("renewed.toml", &text);
    let mut daemon = support::Daemon::start(&config, stack.dir().join("daemon.log"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.bodies().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no notification; log:\n{}",
            std::fs::read_to_string(&daemon.log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = daemon.stop();
    assert!(status.success());
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0].1["event"], "renewed");
    assert_eq!(bodies[0].1["certificate"], "gradient");
    assert!(bodies[0].1["message"].as_str().unwrap().contains("valid until"), "{bodies:?}");

    // Without on_renewed, a renewal is the normal case and stays quiet.
    let quiet = stack.write_config("quiet.toml", &text.replace("on_renewed = true", "on_renewed = false"));
    let out = stack.wildcert_with(&quiet, &["issue", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(receiver.bodies().len(), 1, "no notification for a renewal by default");
}
