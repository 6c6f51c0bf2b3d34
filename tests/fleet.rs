//! Fleet safety against Pebble + BIND + the S3 server: one renewal per certificate across
//! hosts sharing a bucket, crash-safe orders, lock takeover, timer and service on one host.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Daemon, Stack, stderr, stdout};

/// A configuration for "host" `host`: its own local and state directories, the shared bucket.
fn host_config(stack: &Stack, host: &str, extra: &str) -> PathBuf {
    let dir = stack.dir().join(host);
    std::fs::create_dir_all(&dir).unwrap();
    let text = stack
        .config_text()
        .replace(
            &format!("local_dir = \"{}\"", stack.dir().join("live").display()),
            &format!("local_dir = \"{}\"", dir.join("live").display()),
        )
        .replace(
            &format!("state_dir = \"{}\"", stack.dir().join("state").display()),
            &format!("state_dir = \"{}\"", dir.join("state").display()),
        )
        .replace(
            "key_type = \"ec256\"",
            &format!(
                "key_type = \"ec256\"\ndeploy_hook = \"echo $WILDCERT_NAME >> {}\"",
                dir.join("hook.log").display()
            ),
        );
    let path = dir.join("wildcert.toml");
    std::fs::write(&path, format!("{text}{extra}")).unwrap();
    path
}

fn with_bucket() -> Stack {
    let stack = Stack::up();
    let out = stack.wildcert(&["bucket", "setup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stack
}

fn orders_created(logs: &[&Path]) -> usize {
    logs.iter()
        .map(|l| {
            std::fs::read_to_string(l)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("\"order created\""))
                .count()
        })
        .sum()
}

fn serial(live: &Path) -> Option<String> {
    let pem = std::fs::read(live.join("gradient/cert.pem")).ok()?;
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    Some(p.parse_x509().ok()?.raw_serial_as_string())
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_daemons_on_one_bucket_place_exactly_one_order() {
    let stack = with_bucket();
    let daemon_tables = "\n[daemon]\ncheck_interval = \"1m\"\nlock_ttl = \"8s\"\n";
    let hosts = ["host-a", "host-b", "host-c"];
    let daemons: Vec<Daemon> = hosts
        .iter()
        .map(|h| {
            let config = host_config(&stack, h, daemon_tables);
            Daemon::start_with_env(
                &config,
                stack.dir().join(h).join("daemon.log"),
                &[("WILDCERT_HOSTNAME", h)],
            )
        })
        .collect();
    for h in hosts {
        let dir = stack.dir().join(h);
        wait_until(&format!("{h} to have the certificate and run its hook"), Duration::from_secs(30), || {
            serial(&dir.join("live")).is_some()
                && std::fs::read_to_string(dir.join("hook.log")).is_ok_and(|t| t.lines().count() == 1)
        });
    }
    let serials: Vec<String> =
        hosts.iter().map(|h| serial(&stack.dir().join(h).join("live")).unwrap()).collect();
    assert!(serials.iter().all(|s| *s == serials[0]), "all hosts serve the same certificate: {serials:?}");
    let logs: Vec<PathBuf> = daemons.iter().map(|d| d.log.clone()).collect();
    let refs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    assert_eq!(orders_created(&refs), 1, "exactly one ACME order across the fleet");
    let status = stack.wildcert_with(&stack.dir().join("host-a/wildcert.toml"), &["status"]);
    assert!(stdout(&status).contains("expires:"), "{}", stdout(&status));
}

/// Starts `wildcert issue` paused at `failpoint`, waits for it there, and kills it (-9).
fn kill_at(stack: &Stack, config: &Path, failpoint: &str) {
    let log = stack.dir().join(format!("crash-{failpoint}.log"));
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "issue", "--force"])
        .env("WILDCERT_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until(&format!("failpoint {failpoint}"), Duration::from_secs(30), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("failpoint reached")
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn killed_at_each_step_the_restart_cleans_up_and_renews_once() {
    let stack = with_bucket();
    let config = stack.config_path();
    for failpoint in ["txt-written", "challenges-ready", "finalized", "uploading"] {
        kill_at(&stack, &config, failpoint);
        if matches!(failpoint, "txt-written" | "challenges-ready") {
            assert!(
                !stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(),
                "the kill left records ({failpoint})"
            );
        }
        let out = stack.wildcert(&["--log-format", "json", "issue", "--force"]);
        assert!(out.status.success(), "restart after {failpoint}: {}", stderr(&out));
        let log = stderr(&out);
        assert!(
            stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(),
            "TXT left after {failpoint}"
        );
        // The order the killed run opened is resumed, not replaced by a new one.
        assert!(log.contains("resuming the order a stopped run left"), "after {failpoint}: {log}");
        assert!(!log.contains("\"order created\""), "a second order after {failpoint}: {log}");
        // current.json points at a complete version: another host pulls and checks it.
        let out_dir = stack.dir().join(format!("pull-{failpoint}"));
        let pull = stack.wildcert(&["pull", "--cert", "gradient", "--out", out_dir.to_str().unwrap()]);
        assert!(pull.status.success(), "{}", stderr(&pull));
        assert_eq!(
            std::fs::read(out_dir.join("fullchain.pem")).unwrap(),
            std::fs::read(stack.live_dir().join("gradient/fullchain.pem")).unwrap()
        );
        assert!(
            !stack.dir().join("state/orders/gradient.json").exists(),
            "order journal removed after {failpoint}"
        );
    }
}

#[test]
fn when_the_holder_dies_another_host_takes_the_lock_over_after_expiry() {
    let stack = with_bucket();
    let tables = "\n[daemon]\ncheck_interval = \"1m\"\nlock_ttl = \"4s\"\n";
    let a = host_config(&stack, "host-a", tables);
    let b = host_config(&stack, "host-b", tables);
    // host-a takes the lock, writes the challenge records, and dies there.
    let log_a = stack.dir().join("host-a/daemon.log");
    let mut dying = Daemon::start_with_env(
        &a,
        log_a.clone(),
        &[("WILDCERT_HOSTNAME", "host-a"), ("WILDCERT_FAILPOINT", "txt-written")],
    );
    dying.wait_for("failpoint reached; pausing until killed", 1, Duration::from_secs(20));
    assert!(!stack.dig_txt("_acme-challenge.gradient.example.com").is_empty());
    dying.child.kill().unwrap();
    dying.child.wait().unwrap();
    let died = Instant::now();

    let survivor =
        Daemon::start_with_env(&b, stack.dir().join("host-b/daemon.log"), &[("WILDCERT_HOSTNAME", "host-b")]);
    survivor.wait_for("new certificate stored", 1, Duration::from_secs(30));
    assert!(died.elapsed() >= Duration::from_secs(3), "took the lock before it expired");
    assert_eq!(survivor.count("taking over an expired renewal lock"), 1);
    assert!(survivor.count("removed challenge records a stopped holder of the renewal lock left") >= 1);
    assert!(
        stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(),
        "host-a's records were removed by host-b"
    );
    assert!(serial(&stack.dir().join("host-b/live")).is_some());
}

#[test]
fn timer_and_service_on_one_host_renew_once() {
    let stack = with_bucket();
    let config = host_config(&stack, "host-a", "\n[daemon]\ncheck_interval = \"1m\"\n");
    let daemon = Daemon::start(&config, stack.dir().join("host-a/daemon.log"));
    let renew_log = stack.dir().join("host-a/renew.log");
    let renew = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "renew"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&renew_log).unwrap())
        .output()
        .unwrap();
    assert!(renew.status.success(), "{}", std::fs::read_to_string(&renew_log).unwrap());
    let stored =
        |p: &Path| std::fs::read_to_string(p).unwrap_or_default().contains("\"new certificate stored\"");
    wait_until("one of them to store the certificate", Duration::from_secs(20), || {
        stored(&daemon.log) || stored(&renew_log)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(orders_created(&[daemon.log.as_path(), renew_log.as_path()]), 1);
    assert!(stored(&daemon.log) != stored(&renew_log), "exactly one of them stored a certificate");
}

#[test]
fn a_new_host_gets_the_stored_certificate_without_a_new_order() {
    let stack = with_bucket();
    let first = host_config(&stack, "host-a", "");
    let out = stack.wildcert_with(&first, &["issue"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = host_config(&stack, "host-b", "");
    let out = stack.wildcert_with(&second, &["--log-format", "json", "issue"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing to do"), "{}", stdout(&out));
    assert!(!stderr(&out).contains("\"order created\""), "no second order");
    assert_eq!(serial(&stack.dir().join("host-b/live")), serial(&stack.dir().join("host-a/live")));
    let hook = std::fs::read_to_string(stack.dir().join("host-b/hook.log")).unwrap();
    assert_eq!(hook.lines().count(), 1, "host-b ran its deploy hook for the installed certificate");
}
