//! `wildcert issue` against a real Pebble CA that validates DNS-01 through a real BIND.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use support::{Stack, stderr, stdout};
use x509_parser::pem::Pem;
use x509_parser::prelude::*;

fn stack() -> Stack {
    Stack::up_with(&[("STACK_S3", "0")])
}

fn pems(path: &std::path::Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    Pem::iter_from_buffer(&bytes).map(|p| p.unwrap().contents).collect()
}

#[test]
fn issues_wildcard_and_apex_that_chain_to_pebbles_root() {
    let stack = stack();
    let out = stack.wildcert(&["issue"]);
    assert!(out.status.success(), "issue failed:\n{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("gradient: issued"), "{}", stdout(&out));

    let live = stack.live_dir().join("gradient");
    let chain = pems(&live.join("fullchain.pem"));
    assert!(chain.len() >= 2, "full chain has the leaf and at least one intermediate");
    let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();
    let names: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert!(names.iter().any(|n| n.contains("*.gradient.example.com")), "{names:?}");
    assert!(names.iter().any(|n| n == "DNSName(gradient.example.com)"), "{names:?}");

    // Each certificate is signed by the next, and the last by Pebble's root.
    let root = pems(std::path::Path::new(stack.get("PEBBLE_ROOT")));
    let (_, root) = X509Certificate::from_der(&root[0]).unwrap();
    let parsed: Vec<X509Certificate> =
        chain.iter().map(|d| X509Certificate::from_der(d).unwrap().1).collect();
    for pair in parsed.windows(2) {
        pair[0].verify_signature(Some(pair[1].public_key())).expect("chain in order");
    }
    parsed.last().unwrap().verify_signature(Some(root.public_key())).expect("chain reaches Pebble's root");

    let mode = std::fs::metadata(live.join("privkey.pem")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key must be 0600");
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "TXT records were cleaned up");
    let journal = stack.dir().join("state/journal/gradient.json");
    assert!(!journal.exists(), "nothing left in the challenge journal");

    // What was issued passes the same checks an operator's bundle gets, trust included.
    let verify = stack.wildcert(&[
        "verify",
        "--key",
        live.join("privkey.pem").to_str().unwrap(),
        "--bundle",
        live.join("fullchain.pem").to_str().unwrap(),
        "--roots",
        stack.get("PEBBLE_ROOT"),
    ]);
    assert!(verify.status.success(), "verify rejected the issued pair:\n{}", stdout(&verify));

    // Not due: a second run does not order again.
    let serial_before = std::fs::read(live.join("cert.pem")).unwrap();
    let again = stack.wildcert(&["issue"]);
    assert!(again.status.success());
    assert!(stdout(&again).contains("nothing to do"), "{}", stdout(&again));
    assert_eq!(std::fs::read(live.join("cert.pem")).unwrap(), serial_before);
    // It names the same renewal time `status` shows (one schedule for every command).
    let status = stdout(&stack.wildcert(&["status"]));
    let next =
        status.lines().find_map(|l| l.trim().strip_prefix("next:")).expect("status shows the next action");
    let next_time = next.trim().split(": ").next().unwrap();
    assert!(
        stdout(&again).contains(&format!("renewal due {next_time}")),
        "issue: {}\nstatus: {status}",
        stdout(&again)
    );

    // --force does, and keeps the same paths (the symlink switches atomically).
    let forced = stack.wildcert(&["issue", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(std::fs::read(live.join("cert.pem")).unwrap(), serial_before);
}

#[test]
fn wrong_tsig_secret_names_key_and_server_and_writes_nothing() {
    let stack = stack();
    let bad = stack.dir().join("wrong.secret");
    std::fs::write(&bad, "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw==\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = stack.config_text().replace(stack.get("TSIG_SECRET_FILE"), bad.to_str().unwrap());
    let config = stack.write_config("bad-tsig.toml", &text);
    let out = stack.wildcert_with(&config, &["issue"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("wildcert."), "names the TSIG key: {err}");
    assert!(err.contains(stack.get("DNS_SERVER")), "names the server: {err}");
    assert!(!err.contains("d3Jvbmctc2VjcmV0"), "never shows the secret: {err}");
    assert!(!stack.live_dir().join("gradient").exists(), "nothing written");
}

#[test]
fn unreachable_name_server_fails_within_the_deadline() {
    let stack = stack();
    // A port where nothing listens: updates time out.
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
            &format!("[propagation]\nresolvers = [\"{}\"]\n\n[dns.office]", stack.get("DNS_SERVER")),
        );
    let config = stack.write_config("dead-ns.toml", &text);
    let started = Instant::now();
    let out = stack.wildcert_with(&config, &["issue"]);
    let took = started.elapsed();
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(4), "a temporary failure: {}", stderr(&out));
    assert!(stderr(&out).contains(&dead_addr), "names the server: {}", stderr(&out));
    assert!(took < Duration::from_secs(20), "gave up in {took:?}");
}

#[test]
fn unreachable_or_untrusted_ca_is_explained() {
    let stack = stack();
    // Untrusted: drop the CA file that makes Pebble's HTTPS certificate trusted.
    let text = stack.config_text();
    let untrusted: String =
        text.lines().filter(|l| !l.starts_with("ca_certificates")).collect::<Vec<_>>().join("\n");
    let config = stack.write_config("untrusted.toml", &untrusted);
    let out = stack.wildcert_with(&config, &["issue"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not trusted"), "{}", stderr(&out));
    assert!(stderr(&out).contains("ca_certificates"), "says how to fix: {}", stderr(&out));

    // Unreachable: a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = text.replace(stack.get("ACME_DIRECTORY"), &format!("https://127.0.0.1:{port}/dir"));
    let config = stack.write_config("unreachable.toml", &unreachable);
    let out = stack.wildcert_with(&config, &["issue"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot reach the CA"), "{}", stderr(&out));
    assert!(!stack.live_dir().join("gradient").exists());
}

#[test]
fn malformed_config_names_line_and_key() {
    let stack = stack();
    let text = stack.config_text().replace("key_type = \"ec256\"", "key_tpye = \"ec256\"");
    let line = text.lines().position(|l| l.starts_with("key_tpye")).unwrap() + 1;
    let config = stack.write_config("typo.toml", &text);
    let out = stack.wildcert_with(&config, &["issue"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("typo.toml:{line}:")), "line {line}: {err}");
    assert!(err.contains("key_tpye"), "{err}");
}
