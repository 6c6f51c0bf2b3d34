//! Never hammer the CA: `wildcert run` and `renew` against Pebble + BIND (+ S3) in the
//! situations that used to make it order in a loop or ignore the CA — a `renew_before`
//! longer than the lifetime, a stored certificate that outlives every new one, a bucket
//! that refuses writes, a CA answering 429 with Retry-After, and the ARI `replaces` field
//! refused by the CA. Orders are counted at the CA side of a proxy, or by the daemon's
//! "order created" lines.

mod support;

use std::time::{Duration, Instant};

use rcgen::KeyPair;
use support::{Daemon, ScriptServer, Stack, stderr, stdout};
use wildcert::bundle::CheckedPair;
use wildcert::config::Config;
use wildcert::store::{Origin, Storage};

/// The stack's configuration with lines added to the certificate and tables appended.
fn config_with(stack: &Stack, file: &str, cert_lines: &str, tables: &str) -> std::path::PathBuf {
    let mut text = stack.config_text();
    text = text.replace("key_type = \"ec256\"", &format!("key_type = \"ec256\"\n{cert_lines}"));
    text.push_str(tables);
    stack.write_config(file, &text)
}

/// A certificate for the stack's names from a throw-away CA, issued 80 days ago and valid
/// for 10 more: due (2/3 of its 90 days are gone), yet it outlives anything a stack with
/// short lifetimes issues.
fn old_due_pair() -> CheckedPair {
    let names = ["*.gradient.example.com", "gradient.example.com"];
    support::pairs::checked_pair("wildcert test", &names, KeyPair::generate().unwrap(), 80, 10)
}

/// Stores `pair` in the stack's bucket and local directory, as an earlier run would have.
fn store(config: &std::path::Path, pair: &CheckedPair) {
    let config = Config::load(config).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(Storage::new(&config).save("gradient", pair, Origin::Acme))
        .unwrap();
}

fn setup_bucket(stack: &Stack) {
    let out = stack.wildcert(&["bucket", "setup"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn status_json(stack: &Stack, config: &std::path::Path) -> serde_json::Value {
    let out = stack.wildcert_with(config, &["status", "--json"]);
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// Lets the daemon run until `total` has passed since `started`.
fn run_until(started: Instant, total: Duration) {
    if let Some(left) = total.checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
}

fn messages_starting(daemon: &Daemon, prefix: &str) -> Vec<serde_json::Value> {
    daemon
        .events()
        .into_iter()
        .filter(|e| e["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .collect()
}

#[test]
fn renew_before_longer_than_the_lifetime_orders_once() {
    // One-hour certificates with renew_before = 2h: every new certificate would be due the
    // moment it is stored (this used to give 73 orders in 20 s).
    let stack = Stack::up_with(&[("STACK_S3", "0"), ("STACK_CERT_VALIDITY", "3600")]);
    // Rounds every 5 s: each plans the certificate again.
    let config =
        config_with(&stack, "daemon.toml", "renew_before = \"2h\"", "\n[daemon]\ncheck_interval = \"5s\"\n");
    let started = Instant::now();
    let daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    daemon.wait_for("new certificate stored", 1, Duration::from_secs(30));
    run_until(started, Duration::from_secs(20));
    assert_eq!(daemon.count("order created"), 1, "orders in 20 s");
    assert!(
        !messages_starting(&daemon, "renew_before is at least the certificate's lifetime").is_empty(),
        "the ignored setting is named in a warning"
    );
    // Not a failure: the lifetime rule (half-life) plans the next renewal in about 30 min.
    let status = status_json(&stack, &config);
    let cert = &status["certificates"][0];
    assert_eq!(cert["failures"], 0, "{status}");
    let next = time::OffsetDateTime::parse(
        cert["next_action_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ahead = next - time::OffsetDateTime::now_utc();
    assert!(ahead > time::Duration::minutes(20) && ahead < time::Duration::minutes(31), "{status}");
}

#[test]
fn a_stored_certificate_that_outlives_new_ones_is_not_reordered_in_a_loop() {
    // A switch to a shorter lifetime (a `shortlived` profile): the bucket keeps the due,
    // longer-lived certificate, so the one in use is still due right after each success.
    let stack = Stack::up_with(&[("STACK_CERT_VALIDITY", "3600")]);
    setup_bucket(&stack);
    let config = config_with(&stack, "daemon.toml", "", "\n[daemon]\ncheck_interval = \"1m\"\n");
    store(&config, &old_due_pair());
    let started = Instant::now();
    let daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    daemon.wait_for("order created", 1, Duration::from_secs(30));
    run_until(started, Duration::from_secs(20));
    assert_eq!(daemon.count("order created"), 1, "orders in 20 s");
    let still_due = messages_starting(&daemon, "renewed, but the certificate in use");
    assert_eq!(still_due.len(), 1, "{:?}", daemon.events());
    let status = status_json(&stack, &config);
    assert_eq!(status["certificates"][0]["failures"], 1, "still due after success is a failure: {status}");
    assert_eq!(status["certificates"][0]["orders_recent"], 1, "{status}");
}

#[test]
fn a_bucket_that_refuses_writes_does_not_revert_reorder_or_rerun_the_hook() {
    let stack = Stack::up();
    setup_bucket(&stack);
    let plain = config_with(&stack, "plain.toml", "", "");
    let old = old_due_pair();
    store(&plain, &old);
    let refused = stack.dir().join("refused.log");
    let proxy = ScriptServer::start(
        &stack,
        "s3_full_proxy.py",
        &[stack.get("S3_ENDPOINT"), refused.to_str().unwrap()],
    );
    let hook_log = stack.dir().join("hook.log");
    let text = std::fs::read_to_string(&plain)
        .unwrap()
        .replace(stack.get("S3_ENDPOINT"), &format!("http://127.0.0.1:{}", proxy.port))
        .replace(
            "key_type = \"ec256\"",
            &format!("key_type = \"ec256\"\ndeploy_hook = \"echo deployed >> {}\"", hook_log.display()),
        );
    // Rounds every 2 s: each one flushes the queue (refused again) and compares with the bucket.
    let config = stack.write_config("full.toml", &format!("{text}\n[daemon]\ncheck_interval = \"2s\"\n"));
    let daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    daemon.wait_for("deploy hook finished", 1, Duration::from_secs(40));
    let new_cert = std::fs::read(stack.live_dir().join("gradient/cert.pem")).unwrap();
    assert_ne!(new_cert, old.cert_pem.as_bytes(), "the new certificate is installed");
    std::thread::sleep(Duration::from_secs(10));

    assert!(std::fs::read_to_string(&refused).unwrap().lines().count() >= 2, "the bucket refused the writes");
    assert_eq!(daemon.count("order created"), 1, "no re-order");
    assert_eq!(daemon.count("installed the certificate stored in the bucket"), 0, "no revert");
    assert_eq!(std::fs::read(stack.live_dir().join("gradient/cert.pem")).unwrap(), new_cert, "no revert");
    assert_eq!(std::fs::read_to_string(&hook_log).unwrap().lines().count(), 1, "the hook ran once");
    let status = status_json(&stack, &config);
    assert_eq!(status["certificates"][0]["pending_upload"], true, "{status}");
}

/// The ACME proxy (`tests/support/acme_proxy.py`) in front of the stack's Pebble, with its
/// rules and its log of newOrder requests.
struct AcmeProxy {
    server: ScriptServer,
    rules: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl AcmeProxy {
    fn start(stack: &Stack, rules: serde_json::Value) -> AcmeProxy {
        let dir = stack.dir();
        let (rules_file, log) = (dir.join("rules.json"), dir.join("new-orders.log"));
        std::fs::write(&rules_file, rules.to_string()).unwrap();
        let server = ScriptServer::start(
            stack,
            "acme_proxy.py",
            &[
                stack.get("ACME_DIRECTORY"),
                stack.get("PEBBLE_TLS_CA"),
                dir.join("pebble.crt").to_str().unwrap(),
                dir.join("pebble.key").to_str().unwrap(),
                rules_file.to_str().unwrap(),
                log.to_str().unwrap(),
            ],
        );
        AcmeProxy { server, rules: rules_file, log }
    }

    fn set_rules(&self, rules: serde_json::Value) {
        std::fs::write(&self.rules, rules.to_string()).unwrap();
    }

    fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.server.port)
    }

    /// newOrder requests so far: (unix time, sent `replaces`, answered status).
    fn new_orders(&self) -> Vec<(f64, bool, u64)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["at"].as_f64().unwrap(), !v["replaces"].is_null(), v["status"].as_u64().unwrap())
            })
            .collect()
    }
}

#[test]
fn a_rate_limited_ca_is_not_asked_again_before_its_retry_after_and_a_huge_one_is_capped() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let proxy = AcmeProxy::start(
        &stack,
        serde_json::json!({"new_order": [
            {"times": 1, "status": 429, "type": "rateLimited", "detail": "too many new orders", "retry_after": "4"},
            {"times": 1, "status": 429, "type": "rateLimited", "detail": "too many new orders",
             "retry_after": "99999999999999999999"},
        ]}),
    );
    let text = stack.config_text().replace(stack.get("ACME_DIRECTORY"), &proxy.directory());
    // Backoff alone would retry after 1 s, then 2 s; retry_max caps the huge Retry-After.
    let config = stack.write_config(
        "limited.toml",
        &format!("{text}\n[daemon]\nretry_min = \"1s\"\nretry_max = \"6s\"\ncheck_interval = \"1m\"\n"),
    );
    let mut daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    daemon.wait_for("new certificate stored", 1, Duration::from_secs(40));
    assert!(daemon.is_running(), "a huge Retry-After does not crash it");
    let orders = proxy.new_orders();
    let statuses: Vec<u64> = orders.iter().map(|o| o.2).collect();
    assert_eq!(statuses, [429, 429, 201], "{orders:?}");
    let (first_gap, second_gap) = (orders[1].0 - orders[0].0, orders[2].0 - orders[1].0);
    assert!(first_gap >= 3.9, "asked again {first_gap:.2} s after a Retry-After of 4 s");
    assert!(
        (5.9..12.0).contains(&second_gap),
        "a huge Retry-After capped at retry_max (6 s): {second_gap:.2} s"
    );
    let failure = daemon.events().into_iter().find(|e| e["message"] == "renewal failed").unwrap();
    assert!(failure["error"].as_str().unwrap().contains("too many new orders"), "{failure}");
    assert!(failure["retry_after"].as_str().is_some(), "the CA's Retry-After is logged: {failure}");
}

#[test]
fn replaces_is_dropped_once_on_already_replaced_and_never_retried_on_a_rate_limit() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    // The CA's renewal window is already over: every stored certificate is due (ARI).
    let window = serde_json::json!({"start_in": -20, "end_in": -10, "retry_after": 3600});
    let proxy = AcmeProxy::start(&stack, serde_json::json!({"window": window}));
    let text = stack.config_text().replace(stack.get("ACME_DIRECTORY"), &proxy.directory());
    let config = stack.write_config("ari.toml", &text);
    let out = stack.wildcert_with(&config, &["issue"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(proxy.new_orders().len(), 1);
    assert!(!proxy.new_orders()[0].1, "nothing to replace yet");

    proxy.set_rules(serde_json::json!({"window": window, "new_order": [
        {"when": "replaces", "times": 1, "status": 409, "type": "alreadyReplaced",
         "detail": "the certificate in `replaces` was already replaced"},
    ]}));
    let out = stack.wildcert_with(&config, &["renew"]);
    assert!(stdout(&out).contains("gradient: renewed"), "{}\n{}", stdout(&out), stderr(&out));
    let orders = proxy.new_orders();
    let seen: Vec<(bool, u64)> = orders.iter().skip(1).map(|o| (o.1, o.2)).collect();
    assert_eq!(seen, [(true, 409), (false, 201)], "exactly one retry, without replaces");

    proxy.set_rules(serde_json::json!({"window": window, "new_order": [
        {"when": "replaces", "times": 1, "status": 429, "type": "rateLimited",
         "detail": "too many certificates", "retry_after": "60"},
    ]}));
    let out = stack.wildcert_with(&config, &["renew"]);
    assert!(!out.status.success(), "{}\n{}\n{:?}", stdout(&out), stderr(&out), proxy.new_orders());
    assert!(stderr(&out).contains("too many certificates"), "{}", stderr(&out));
    let orders = proxy.new_orders();
    let seen: Vec<(bool, u64)> = orders.iter().skip(3).map(|o| (o.1, o.2)).collect();
    assert_eq!(seen, [(true, 429)], "a rate limit on a `replaces` order is not retried");
}

#[test]
fn the_ceiling_stops_a_certificate_that_keeps_coming_due() {
    // 6-second certificates come due every 3 s; two orders per minute are allowed.
    let stack = Stack::up_with(&[("STACK_S3", "0"), ("STACK_CERT_VALIDITY", "6")]);
    let port = support::free_port();
    let config = config_with(
        &stack,
        "daemon.toml",
        "",
        &format!(
            "\n[daemon]\nmax_orders = 2\norders_window = \"1m\"\ncheck_interval = \"1m\"\nmetrics_listen = \"127.0.0.1:{port}\"\n"
        ),
    );
    let started = Instant::now();
    let daemon = Daemon::start(&config, stack.dir().join("daemon.log"));
    let deadline = started + Duration::from_secs(40);
    while messages_starting(&daemon, "order ceiling reached").is_empty() {
        assert!(Instant::now() < deadline, "the ceiling never tripped: {:?}", daemon.events());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(daemon.count("order created"), 2);
    let tripped = &messages_starting(&daemon, "order ceiling reached")[0];
    assert_eq!(tripped["level"], "ERROR", "{tripped}");
    assert!(tripped["orders_resume"].as_str().is_some() && tripped["window"] == "1m", "{tripped}");
    let (_, metrics) = support::http_get(port, "/metrics");
    assert!(metrics.contains("wildcert_order_ceiling_trips_total{cert=\"gradient\"} 1"), "{metrics}");
    assert!(metrics.contains("wildcert_orders_recent{cert=\"gradient\"} 2"), "{metrics}");
    let status = status_json(&stack, &config);
    assert!(status["certificates"][0]["orders_blocked_until"].as_str().is_some(), "{status}");
    // The state file keeps the history across restarts.
    let state = std::fs::read_to_string(stack.dir().join("state/status/gradient.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["orders"].as_array().unwrap().len(), 2, "{state}");
}

/// An HTTP endpoint that answers every request with 503 and the largest Retry-After there is.
fn overloaded_endpoint() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 503 Busy\r\nRetry-After: 18446744073709551615\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
            );
        }
    });
    port
}

#[test]
fn a_huge_retry_after_from_a_dns_api_is_capped_instead_of_crashing() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let port = overloaded_endpoint();
    let text = stack.config_text().replace("dns = \"office\"", "dns = \"hook\"");
    let config = stack.write_config(
        "hook.toml",
        &format!(
            "{text}\n[dns.hook]\nprovider = \"httpreq\"\nendpoint = \"http://127.0.0.1:{port}\"\n\n[propagation]\nresolvers = [\"{}\"]\n\n[daemon]\nretry_max = \"10m\"\n",
            stack.get("DNS_SERVER")
        ),
    );
    let out = stack.wildcert_with(&config, &["renew"]);
    assert_eq!(out.status.code(), Some(4), "a temporary failure, not a panic:\n{}", stderr(&out));
    let status = status_json(&stack, &config);
    let next = time::OffsetDateTime::parse(
        status["certificates"][0]["next_action_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ahead = next - time::OffsetDateTime::now_utc();
    assert!(
        ahead > time::Duration::minutes(9) && ahead <= time::Duration::minutes(10),
        "capped at retry_max: {status}"
    );
}

#[test]
fn a_failed_validation_says_what_the_ca_saw_and_waits_an_hour() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    // A DNS "provider" that writes nothing, and no propagation check: the CA finds no TXT record.
    let text = stack.config_text().replace("dns = \"office\"", "dns = \"nothing\"");
    let config = stack.write_config(
        "nothing.toml",
        &format!("{text}\n[dns.nothing]\nprovider = \"exec\"\nprogram = \"/bin/true\"\n\n[propagation]\ncheck = false\n"),
    );
    let out = stack.wildcert_with(&config, &["renew"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let status = status_json(&stack, &config);
    let cert = &status["certificates"][0];
    assert_eq!(cert["failure_kind"], "validation", "{status}");
    let error = cert["last_error"].as_str().unwrap();
    assert!(error.contains("could not validate") && error.contains("TXT"), "what the CA saw: {error}");
    let next = time::OffsetDateTime::parse(
        cert["next_action_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ahead = next - time::OffsetDateTime::now_utc();
    // 1 h, spread by ±20%; the ordinary schedule would retry after a minute.
    assert!(ahead > time::Duration::minutes(47) && ahead < time::Duration::minutes(73), "{status}");
}

#[test]
fn the_ceiling_is_shared_by_the_hosts_of_a_bucket() {
    // 6-second certificates, one order per minute for the whole fleet.
    let stack = Stack::up_with(&[("STACK_CERT_VALIDITY", "6")]);
    setup_bucket(&stack);
    let limit = "\n[daemon]\nmax_orders = 1\norders_window = \"1m\"\n";
    let a = config_with(&stack, "a.toml", "", limit);
    let out = stack.wildcert_with(&a, &["issue"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Another host: its own state and live directories, the same bucket.
    let text = std::fs::read_to_string(&a)
        .unwrap()
        .replace(
            &format!("{}/state\"", stack.dir().display()),
            &format!("{}/state-b\"", stack.dir().display()),
        )
        .replace(
            &format!("{}/live\"", stack.dir().display()),
            &format!("{}/live-b\"", stack.dir().display()),
        );
    assert!(text.contains("state-b") && text.contains("live-b"), "{text}");
    let b = stack.write_config("b.toml", &text);
    std::thread::sleep(Duration::from_secs(4)); // past half of the 6-second lifetime: due
    let out = stack.wildcert_with(&b, &["renew"]);
    assert_eq!(out.status.code(), Some(4), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("order ceiling reached: 1 new orders within the last 1m"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("order created"), "{}", stderr(&out));
}
