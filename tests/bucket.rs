//! `wildcert bucket {policy, check, setup}` against moto (started by `scripts/stack`).

mod support;

use std::net::TcpListener;
use std::process::{Command, Output};

use aws_sdk_s3::types::CorsRule;
use support::{Stack, stderr, stdout};
use wildcert::config::Config;
use wildcert::store::S3Store;

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

fn show(out: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), stdout(out), stderr(out))
}

/// The policy from the platform's pre-installation steps, for `bucket`.
fn documented_policy(bucket: &str) -> serde_json::Value {
    serde_json::from_str(&format!(
        r#"{{
    "Version": "2012-10-17",
    "Statement": [
        {{ "Sid": "AllowGeneratedUrls", "Effect": "Allow", "Action": "sts:GetFederationToken", "Resource": "*" }},
        {{ "Sid": "AllowListBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::{bucket}" }},
        {{ "Sid": "AllowBucketAccess", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::{bucket}/*" }}
    ]
}}"#
    ))
    .unwrap()
}

#[test]
fn bucket_policy_needs_no_config_when_given_a_bucket() {
    let out = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .args([
            "--config",
            "/nonexistent/wildcert.toml",
            "bucket",
            "policy",
            "--bucket",
            "my-gradient-bucket",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("prints JSON");
    assert_eq!(printed, documented_policy("my-gradient-bucket"));

    let out = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .args(["--config", "/nonexistent/wildcert.toml", "bucket", "policy"])
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("--bucket"), "{}", show(&out));

    let out = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .args(["--config", "/nonexistent/wildcert.toml", "bucket", "policy", "--bucket", "Not_A_Bucket"])
        .output()
        .unwrap();
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("not a valid bucket name"), "{}", show(&out));
}

#[test]
fn bucket_policy_defaults_to_the_configured_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wildcert.toml");
    std::fs::write(&path, "[storage]\nbucket = \"gradient-artifacts\"\nprefix = \"team-demo\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(&path)
        .args(["bucket", "policy"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(printed, documented_policy("gradient-artifacts"));
}

async fn store(stack: &Stack) -> S3Store {
    let config = Config::load(&stack.config_path()).unwrap();
    S3Store::connect(&config.storage).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_flags_missing_cors_and_setup_fixes_it_once() {
    let stack = Stack::up();
    let s3 = store(&stack).await;

    // No bucket yet.
    let out = stack.wildcert(&["bucket", "check"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        stdout(&out).contains("does not exist") && stdout(&out).contains("wildcert bucket setup"),
        "{}",
        show(&out)
    );

    // A bucket made by hand, with someone else's CORS rule but not the console's.
    s3.create_bucket().await.unwrap();
    let other = CorsRule::builder()
        .allowed_methods("GET")
        .allowed_origins("https://grafana.example.com")
        .build()
        .unwrap();
    s3.put_cors_rules(vec![other.clone()]).await.unwrap();
    let out = stack.wildcert(&["bucket", "check"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let text = stdout(&out);
    let fail: Vec<&str> = text.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(fail.len(), 1, "{text}");
    assert!(fail[0].contains("CORS") && fail[0].contains("https://console.paperspace.com"), "{text}");
    assert!(fail[0].contains("wildcert bucket setup"), "{text}");
    assert!(text.contains("conditional writes"), "{text}");
    assert!(text.contains("versioning is not enabled"), "{text}");

    let out = stack.wildcert(&["bucket", "setup"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        stdout(&out).contains("added the CORS rule") && stdout(&out).contains("kept the 1 rule"),
        "{}",
        show(&out)
    );
    let rules = s3.cors_rules().await.unwrap();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[0].allowed_origins(), other.allowed_origins(), "the existing rule is kept");
    let ours = &rules[1];
    assert_eq!(ours.allowed_methods(), ["GET", "PUT"]);
    assert_eq!(ours.allowed_headers(), ["*"]);
    assert_eq!(ours.allowed_origins(), ["https://console.paperspace.com"]);
    assert_eq!(ours.max_age_seconds(), Some(3000));

    let out = stack.wildcert(&["bucket", "check"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(!stdout(&out).contains("FAIL"), "{}", show(&out));

    let out = stack.wildcert(&["bucket", "setup"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(stdout(&out).contains("already set up"), "{}", show(&out));
    assert_eq!(s3.cors_rules().await.unwrap().len(), 2, "a second setup changes nothing");

    // The probe object is cleaned up.
    assert!(stack.wildcert(&["bucket", "check"]).status.success());
    let leftovers = wildcert::store::CertStore::list(&s3, "").await.unwrap();
    assert!(leftovers.iter().all(|k| !k.contains("wildcert-probe")), "{leftovers:?}");
}

#[test]
fn setup_creates_a_missing_bucket_with_the_console_rule() {
    let stack = Stack::up();
    let out = stack.wildcert(&["bucket", "setup"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(stdout(&out).contains("created bucket gradient-artifacts"), "{}", show(&out));
    assert!(
        stdout(&out).contains("added the CORS rule for https://console.paperspace.com"),
        "{}",
        show(&out)
    );
    let out = stack.wildcert(&["bucket", "check"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
}

#[test]
fn check_against_an_unreachable_endpoint_is_a_temporary_failure() {
    let stack = Stack::up();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let path =
        stack.write_config("down.toml", &stack.config_text().replace(stack.get("S3_ENDPOINT"), &endpoint));
    let out = stack.wildcert_with(&path, &["bucket", "check"]);
    assert_eq!(code(&out), 4, "{}", show(&out));
    assert!(stdout(&out).contains(&endpoint) && stdout(&out).contains("cannot reach"), "{}", show(&out));
    assert!(!format!("{}{}", stdout(&out), stderr(&out)).contains("demo-secret"));

    let out = stack.wildcert_with(&path, &["bucket", "setup"]);
    assert_eq!(code(&out), 4, "{}", show(&out));
    assert!(stderr(&out).contains(&endpoint), "{}", show(&out));
}
