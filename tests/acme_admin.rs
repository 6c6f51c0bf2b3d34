//! `wildcert revoke` and `wildcert account rollover` against a real Pebble CA (DNS-01
//! through a real BIND).

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{Stack, stderr, stdout};

fn stack() -> Stack {
    Stack::up_with(&[("STACK_S3", "0")])
}

/// What Pebble's management API says about the certificate with this (hex) serial.
fn pebble_cert_status(stack: &Stack, serial: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "--cacert", stack.get("PEBBLE_TLS_CA")])
        .arg(format!("{}/cert-status-by-serial/{serial}", stack.get("PEBBLE_MGMT")))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn live_serial(stack: &Stack) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(stack.live_dir().join("gradient/cert.pem"))
        .output()
        .expect("run openssl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.trim().trim_start_matches("serial=").to_ascii_lowercase()
}

#[test]
fn revoke_tells_the_ca_and_the_next_renew_replaces_the_certificate() {
    let stack = stack();
    let out = stack.wildcert(&["issue"]);
    assert!(out.status.success(), "issue failed:\n{}\n{}", stdout(&out), stderr(&out));
    let serial = live_serial(&stack);
    let before = pebble_cert_status(&stack, &serial);
    assert!(before.contains("Valid"), "{before}");

    // Not due: renew leaves it alone.
    let out = stack.wildcert(&["renew"]);
    assert!(stdout(&out).contains("gradient: not due"), "{}", stdout(&out));

    let out = stack.wildcert(&["revoke", "--cert", "gradient", "--reason", "keyCompromise"]);
    assert!(out.status.success(), "revoke failed:\n{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("revoked serial {serial}")), "{}", stdout(&out));
    let after = pebble_cert_status(&stack, &serial);
    assert!(after.contains("Revoked"), "Pebble's status after revoke: {after}");

    let status = stack.wildcert(&["status"]);
    assert!(stdout(&status).contains("revoked"), "{}", stdout(&status));

    let out = stack.wildcert(&["renew"]);
    assert!(out.status.success(), "renew failed:\n{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("gradient: renewed"), "{}", stdout(&out));
    let renewed = live_serial(&stack);
    assert_ne!(renewed, serial, "a new certificate is in use");
    assert!(pebble_cert_status(&stack, &renewed).contains("Valid"));

    // Revoking twice is refused by the CA, with a message that says so.
    let out = stack.wildcert(&["revoke", "--cert", "gradient"]);
    assert!(out.status.success(), "the new one can be revoked too: {}", stderr(&out));
    let again = stack.wildcert(&["revoke", "--cert", "gradient"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("revoked"), "{}", stderr(&again));
}

#[test]
fn account_rollover_replaces_the_key_and_the_old_key_is_refused() {
    let stack = stack();
    let out = stack.wildcert(&["issue"]);
    assert!(out.status.success(), "issue failed:\n{}\n{}", stdout(&out), stderr(&out));
    let accounts = stack.dir().join("state/accounts");
    let account = std::fs::read_dir(&accounts).unwrap().next().unwrap().unwrap().path().join("account.json");
    let old = std::fs::read(&account).unwrap();

    let out = stack.wildcert(&["account", "rollover"]);
    assert!(out.status.success(), "rollover failed:\n{}\n{}", stdout(&out), stderr(&out));
    let new = std::fs::read(&account).unwrap();
    assert_ne!(old, new, "new credentials stored");
    let id = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap()["id"].clone();
    assert_eq!(id(&old), id(&new), "same account");
    assert_eq!(std::fs::metadata(&account).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!account.with_extension("json.old").exists(), "the backup is gone after success");

    // The new key orders.
    let out = stack.wildcert(&["issue", "--force"]);
    assert!(out.status.success(), "issue with the new key failed:\n{}\n{}", stdout(&out), stderr(&out));

    // The old key is refused: put it back in place and order again.
    std::fs::write(&account, &old).unwrap();
    let out = stack.wildcert(&["issue", "--force"]);
    assert!(!out.status.success(), "the old key still orders:\n{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.to_ascii_lowercase().contains("the ca at"), "{err}");
}

#[test]
fn revoke_with_the_certificate_key_needs_no_account() {
    let stack = stack();
    let out = stack.wildcert(&["issue"]);
    assert!(out.status.success(), "issue failed:\n{}\n{}", stdout(&out), stderr(&out));
    let serial = live_serial(&stack);
    // The account is gone (a lost state directory): the certificate's key still revokes.
    let accounts = stack.dir().join("state/accounts");
    std::fs::remove_dir_all(&accounts).unwrap();

    let out =
        stack.wildcert(&["revoke", "--cert", "gradient", "--with-cert-key", "--reason", "keyCompromise"]);
    assert!(out.status.success(), "revoke failed:\n{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("revoked serial {serial}")), "{}", stdout(&out));
    assert!(pebble_cert_status(&stack, &serial).contains("Revoked"));
    assert!(!accounts.exists(), "no account was registered for it");

    let again = stack.wildcert(&["revoke", "--cert", "gradient", "--with-cert-key"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("revoked"), "{}", stderr(&again));
}

#[test]
fn the_service_replaces_a_revoked_certificate_at_its_next_check() {
    let stack = stack();
    let text = stack.config_text() + "\n[daemon]\ncheck_interval = \"2s\"\n";
    let config = stack.write_config("daemon.toml", &text);
    let mut daemon = support::Daemon::start(&config, stack.dir().join("daemon.log"));
    daemon.wait_for("new certificate stored", 1, std::time::Duration::from_secs(30));
    let serial = live_serial(&stack);

    let out = stack.wildcert_with(&config, &["revoke", "--cert", "gradient"]);
    assert!(out.status.success(), "revoke failed:\n{}\n{}", stdout(&out), stderr(&out));
    daemon.wait_for("new certificate stored", 2, std::time::Duration::from_secs(30));
    assert_ne!(live_serial(&stack), serial);
    assert!(pebble_cert_status(&stack, &serial).contains("Revoked"));
    daemon.stop();
}
