//! `wildcert bucket check` / `setup` with the restricted user of the platform's policy
//! (`s3:ListBucket` on the bucket, `s3:*` on its objects), enforced by a policy proxy in front
//! of the S3 server (`tests/support/s3_policy_proxy.py`) that refuses bucket-level calls for
//! the restricted keys with S3's AccessDenied.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use support::{ScriptServer, Stack, stderr, stdout};

fn show(out: &Output) -> String {
    format!("exit {:?}\n{}\n{}", out.status.code(), stdout(out), stderr(out))
}

/// The stack's configuration pointed at the policy proxy, signing with `key`.
fn config_for(stack: &Stack, proxy: &ScriptServer, key: &str) -> PathBuf {
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let text = stack
        .config_text()
        .replace(stack.get("S3_ENDPOINT"), &endpoint)
        .replace("access_key_id = \"demo\"", &format!("access_key_id = \"{key}\""));
    assert!(text.contains(&format!("access_key_id = \"{key}\"")), "{text}");
    stack.write_config(&format!("{key}.toml"), &text)
}

fn refusals(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn the_restricted_user_passes_the_check_and_the_owner_gets_the_bucket_level_steps() {
    let stack = Stack::up();
    let out = stack.wildcert(&["bucket", "setup"]);
    assert!(out.status.success(), "owner setup: {}", show(&out));
    let log = stack.dir().join("policy-refusals.log");
    let proxy =
        ScriptServer::start(&stack, "s3_policy_proxy.py", &[stack.get("S3_ENDPOINT"), log.to_str().unwrap()]);
    let restricted = config_for(&stack, &proxy, "restricted");

    // Auto-detected: the bucket refuses GetBucketCors / GetBucketVersioning.
    let out = stack.wildcert_with(&restricted, &["bucket", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = stdout(&out);
    eprintln!("{text}");
    assert!(!text.contains("FAIL"), "{text}");
    for expected in [
        "ok    list under team-demo/",
        "ok    write and read back team-demo/wildcert-probe-",
        "ok    conditional writes (If-None-Match, If-Match) are honoured",
        "ok    delete team-demo/wildcert-probe-",
        "owner CORS for https://console.paperspace.com: reading the rules (GetBucketCors) is denied",
        "owner versioning: reading it (GetBucketVersioning) is denied",
        &format!(
            "aws s3api get-bucket-cors --bucket gradient-artifacts --endpoint-url http://127.0.0.1:{}",
            proxy.port
        ),
        "aws s3api put-bucket-cors --bucket gradient-artifacts",
        "aws s3api get-bucket-versioning --bucket gradient-artifacts",
        "wildcert bucket setup --owner",
        "\"Resource\": \"arn:aws:s3:::gradient-artifacts/*\"",
        "bucket check passed for these (restricted) credentials",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    let seen = refusals(&log);
    assert!(seen.contains(&"restricted s3:GetBucketCors".to_string()), "{seen:?}");
    assert!(seen.contains(&"restricted s3:GetBucketVersioning".to_string()), "{seen:?}");

    // --restricted does not even try the bucket-level calls.
    let before = refusals(&log).len();
    let out = stack.wildcert_with(&restricted, &["bucket", "check", "--restricted"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        stdout(&out).contains("owner CORS for https://console.paperspace.com: checked by the bucket owner")
    );
    assert_eq!(refusals(&log).len(), before, "{:?}", refusals(&log));

    // The restricted user renews and stores certificates.
    let out = stack.wildcert_with(&restricted, &["issue"]);
    assert!(out.status.success(), "issue with the restricted keys: {}", show(&out));
    assert!(stdout(&out).contains("gradient: issued"), "{}", show(&out));

    // A missing object right is a real failure, named precisely.
    let noput = config_for(&stack, &proxy, "restricted-noput");
    let out = stack.wildcert_with(&noput, &["bucket", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stdout(&out);
    eprintln!("{text}");
    let fails: Vec<&str> = text.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(fails.len(), 1, "{text}");
    assert!(
        fails[0].contains("write team-demo/wildcert-probe-")
            && fails[0].contains("AccessDenied (HTTP 403)")
            && fails[0].contains("must allow s3:PutObject on arn:aws:s3:::gradient-artifacts/*"),
        "{text}"
    );

    // Setup with the restricted keys is refused with the way forward; with the owner's keys
    // from the AWS chain it passes.
    let out = stack.wildcert_with(&restricted, &["bucket", "setup"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("wildcert bucket setup --owner") && stderr(&out).contains("AccessDenied"),
        "{}",
        show(&out)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(&restricted)
        .args(["bucket", "setup", "--owner"])
        .env("AWS_ACCESS_KEY_ID", "owner")
        .env("AWS_SECRET_ACCESS_KEY", "owner-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(stdout(&out).contains("already set up"), "{}", show(&out));
}
