//! No secret reaches a log, even at trace level, and files holding one are private.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{Stack, stderr};

#[test]
fn trace_logs_carry_no_secret_and_secret_files_are_private() {
    let stack = Stack::up();
    assert!(stack.wildcert(&["bucket", "setup"]).status.success());
    let out = stack.wildcert(&["-vv", "issue"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(log.lines().count() > 100, "trace logging is on");

    let tsig = std::fs::read_to_string(stack.get("TSIG_SECRET_FILE")).unwrap();
    let s3 = std::fs::read_to_string(stack.dir().join("s3.secret")).unwrap();
    let mut secrets = vec![("TSIG secret", tsig.trim().to_string()), ("S3 secret", s3.trim().to_string())];
    // Every base64 line of the certificate's private key.
    let key = std::fs::read_to_string(stack.live_dir().join("gradient/privkey.pem")).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----") && l.len() > 20) {
        secrets.push(("certificate key", line[4..line.len() - 4].to_string()));
    }
    // The ACME account key.
    let accounts = stack.dir().join("state/accounts");
    let account_file =
        std::fs::read_dir(&accounts).unwrap().next().unwrap().unwrap().path().join("account.json");
    let account: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&account_file).unwrap()).unwrap();
    let account_key = account["key_pkcs8"].as_str().unwrap();
    secrets.push(("account key", account_key[account_key.len() / 2..].to_string()));

    for (what, secret) in &secrets {
        assert!(!secret.is_empty());
        assert!(!log.contains(secret.as_str()), "the {what} appears in the trace log");
    }

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&account_file), 0o600, "account credentials");
    assert_eq!(mode(&stack.live_dir().join("gradient/privkey.pem")), 0o600, "certificate key");
    assert_eq!(mode(&stack.dir().join("state/accounts")) & 0o077, 0, "accounts directory");
}
