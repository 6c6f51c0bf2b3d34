//! The exec adapter running real scripts: lego's argument contract (default and RAW), the
//! environment passing through, failures quoting stderr without secrets, the timeout killing
//! the whole process group, and a script that updates the stack's BIND with nsupdate.

use crate::conformance;
use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::Stack;
use wildcert::config::Config;
use wildcert::dns::provider::Provider;
use wildcert_dns_api::{DnsProvider, ProviderError, RawChallenge, Secret, TxtRecord};
use wildcert_dns_exec::{Exec, ExecSettings, Mode};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn exec(program: &Path, mode: Mode, timeout: Duration) -> Exec {
    Exec::new(ExecSettings { program: program.to_owned(), mode, timeout }).unwrap()
}

fn record(fqdn: &str, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: None, value: value.into(), ttl: 60, raw: None }
}

fn raw_record() -> TxtRecord {
    TxtRecord {
        raw: Some(RawChallenge {
            domain: "example.com".into(),
            token: "tok-123".into(),
            key_authorization: Secret::new("tok-123.thumbprint-SECRET"),
        }),
        ..record("_acme-challenge.example.com.", "digest")
    }
}

#[tokio::test]
async fn exec_passes_fqdn_value_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let program = script(
        dir.path(),
        "hook.sh",
        &format!("echo \"$# $* env=$CARGO_MANIFEST_DIR\" >> {}\necho 'chatter on stdout'\n", log.display()),
    );
    let adapter = exec(&program, Mode::Default, Duration::from_secs(10));
    adapter.present(&record("_acme-challenge.example.com.", "value-1")).await.unwrap();
    adapter.cleanup(&record("_acme-challenge.example.com", "value-1")).await.unwrap();
    let calls = std::fs::read_to_string(&log).unwrap();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    assert_eq!(
        calls,
        format!(
            "3 present _acme-challenge.example.com. value-1 env={manifest}\n3 cleanup _acme-challenge.example.com. value-1 env={manifest}\n"
        )
    );
}

#[tokio::test]
async fn exec_raw_mode_passes_domain_token_and_key_authorization() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    let program = script(dir.path(), "hook.sh", &format!("echo \"$# $*\" >> {}\n", log.display()));
    let adapter = exec(&program, Mode::Raw, Duration::from_secs(10));
    adapter.present(&raw_record()).await.unwrap();
    adapter.cleanup(&raw_record()).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "5 present -- example.com tok-123 tok-123.thumbprint-SECRET\n5 cleanup -- example.com tok-123 tok-123.thumbprint-SECRET\n"
    );

    // Without an ACME challenge behind the record, RAW mode has nothing to pass.
    let err = adapter.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Config { .. }), "{err}");
    assert!(err.to_string().contains("mode RAW needs the ACME challenge"), "{err}");
}

#[tokio::test]
async fn exec_failure_quotes_stderr_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(
        dir.path(),
        "fail.sh",
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo \"noise $i\" >&2; done\necho \"api said: invalid token for $5\" >&2\nexit 3\n",
    );
    let adapter = exec(&program, Mode::Raw, Duration::from_secs(10));
    let err = adapter.present(&raw_record()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(text.contains("exited with status 3"), "{text}");
    assert!(text.contains("present -- example.com"), "{text}");
    assert!(text.contains("api said: invalid token for [redacted]"), "{text}");
    assert!(text.contains("noise 10") && !text.contains("noise 2 "), "only the last lines: {text}");
    assert!(!text.contains("thumbprint-SECRET"), "{text}");
}

#[tokio::test]
async fn exec_exit_75_is_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), "busy.sh", "echo 'rate limited, try later' >&2\nexit 75\n");
    let adapter = exec(&program, Mode::Default, Duration::from_secs(10));
    let err = adapter.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Temporary { .. }), "{err}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("rate limited, try later"), "{err}");
}

/// A hung script is killed after the timeout with everything it started.
#[tokio::test]
async fn exec_timeout_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let program = script(
        dir.path(),
        "hang.sh",
        &format!("sleep 300 &\necho $! > {}\necho 'waiting for the API' >&2\nwait\n", pid_file.display()),
    );
    let adapter = exec(&program, Mode::Default, Duration::from_millis(800));
    let started = Instant::now();
    let err = adapter.present(&record("_acme-challenge.example.com.", "v")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("waiting for the API"), "{err}");

    let child: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(child) {
        assert!(Instant::now() < deadline, "the script's child {child} survived the timeout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Running (not a zombie waiting to be reaped).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// An nsupdate script in lego's exec contract, against the stack's BIND.
fn nsupdate_script(dir: &Path, stack: &Stack) -> PathBuf {
    script(
        dir,
        "bind-hook.sh",
        &format!(
            r#"set -eu
action=$1 fqdn=$2 value=$3
case "$action" in
  present) change="update add $fqdn 60 IN TXT \"$value\"" ;;
  cleanup) change="update delete $fqdn IN TXT \"$value\"" ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
secret=$(cat {secret})
printf 'server 127.0.0.1 {port}\n%s\nsend\n' "$change" | nsupdate -y "hmac-sha256:{key}:$secret"
"#,
            secret = stack.get("TSIG_SECRET_FILE"),
            port = stack.get("DNS_PORT"),
            key = stack.get("TSIG_KEY"),
        ),
    )
}

/// The conformance suite for a lego exec script that writes to BIND with nsupdate.
/// Credentials and busy answers belong to the script, not the adapter: exit status 75 as a
/// transient failure is `exec_exit_75_is_temporary`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_conformance() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let dir = tempfile::tempdir().unwrap();
    let program = nsupdate_script(dir.path(), &stack);
    let subject = conformance::Subject {
        provider: exec(&program, Mode::Default, Duration::from_secs(30)),
        fqdn: "_acme-challenge.conformance.gradient.example.com.".into(),
        zone: Some("gradient.example.com.".into()),
        read: conformance::dig_reader(stack.get("DNS_PORT").parse().unwrap()),
        secrets: vec![std::fs::read_to_string(stack.get("TSIG_SECRET_FILE")).unwrap().trim().to_string()],
    };
    conformance::records(&subject).await;
}

#[tokio::test]
async fn exec_script_updates_bind() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let dir = tempfile::tempdir().unwrap();
    let program = nsupdate_script(dir.path(), &stack);
    // The installer's settings, as operators bring them.
    let text = format!(
        r#"
[acme]
directory = "https://127.0.0.1:14000/dir"

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.script]
provider = "exec"
settings = {{ EXEC_PATH = "{}", EXEC_PROPAGATION_TIMEOUT = "60" }}
"#,
        program.display()
    );
    let config = Config::parse(Path::new("wildcert.toml"), &text).unwrap();
    assert!(config.warnings.iter().any(|w| w.contains("EXEC_PROPAGATION_TIMEOUT has no effect")));
    let provider = Provider::from_section(&config.dns["script"], &mut Vec::new()).unwrap();
    assert!(matches!(provider, Provider::Exec(_)));

    let name = "_acme-challenge.gradient.example.com.";
    let apex = record(name, "apex-value");
    let wildcard = record(name, "wildcard-value");
    provider.present(&apex).await.unwrap();
    provider.present(&wildcard).await.unwrap();
    let mut seen = stack.dig_txt(name);
    seen.sort();
    assert_eq!(seen, ["apex-value", "wildcard-value"]);
    provider.cleanup(&apex).await.unwrap();
    assert_eq!(stack.dig_txt(name), ["wildcard-value"]);
    provider.cleanup(&wildcard).await.unwrap();
    assert!(stack.dig_txt(name).is_empty());

    // A name outside the server's zones: nsupdate fails, and its stderr says why.
    let err = provider.present(&record("_acme-challenge.elsewhere.example.org.", "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("stderr"), "{err}");
}

/// The stack's configuration with its `[dns.office]` table replaced by `section` (which may
/// add other tables before it, such as `[propagation]`).
fn with_dns(text: &str, section: &str) -> String {
    let start = text.find("[dns.office]").expect("the stack's config has [dns.office]");
    let end = text.find("[[certificate]]").expect("the stack's config has a certificate");
    format!("{}{section}\n{}", &text[..start], &text[end..])
}

/// `wildcert issue` with the exec adapter: the script writes through nsupdate, Pebble
/// validates by asking the stack's resolver, which asks BIND. wildcert itself finds the
/// zone by asking BIND directly (the adapter names no DNS server): asking the resolver
/// before the record exists would leave a negative answer in its cache for the CA to find.
#[test]
fn exec_issue_through_pebble_validating_bind() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let dir = tempfile::tempdir().unwrap();
    let program = nsupdate_script(dir.path(), &stack);
    let section = format!(
        r#"[propagation]
resolvers = ["{0}"]
nameservers = ["{0}"]

[dns.office]
provider = "exec"
program = "{1}"
timeout = "30s"
"#,
        stack.get("DNS_SERVER"),
        program.display()
    );
    let config = stack.write_config("exec.toml", &with_dns(&stack.config_text(), &section));
    let out = stack.wildcert_with(&config, &["issue"]);
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "issue failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("gradient: issued"), "{stdout}");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "the script cleaned up");
}

/// lego's RAW mode end to end: the script gets `present -- DOMAIN TOKEN KEY_AUTH` from the
/// real ACME order and computes the TXT value itself; Pebble validates what it wrote.
#[test]
fn exec_raw_mode_issue_through_pebble_validating_bind() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let dir = tempfile::tempdir().unwrap();
    let program = script(
        dir.path(),
        "raw-hook.sh",
        &format!(
            r#"set -eu
action=$1
[ "$2" = "--" ] || {{ echo "expected RAW arguments" >&2; exit 2; }}
domain=$3 keyauth=$5
value=$(printf %s "$keyauth" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
case "$action" in
  present) change="update add _acme-challenge.$domain. 60 IN TXT \"$value\"" ;;
  cleanup) change="update delete _acme-challenge.$domain. IN TXT \"$value\"" ;;
esac
printf 'server 127.0.0.1 {port}\n%s\nsend\n' "$change" | nsupdate -y "hmac-sha256:{key}:$(cat {secret})"
"#,
            secret = stack.get("TSIG_SECRET_FILE"),
            port = stack.get("DNS_PORT"),
            key = stack.get("TSIG_KEY"),
        ),
    );
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"exec\"\nprogram = \"{1}\"\nmode = \"RAW\"\n",
        stack.get("DNS_SERVER"),
        program.display()
    );
    let config = stack.write_config("exec-raw.toml", &with_dns(&stack.config_text(), &section));
    let out = stack.wildcert_with(&config, &["issue"]);
    assert!(out.status.success(), "issue failed:\n{}\n{}", support::stdout(&out), support::stderr(&out));
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(), "the script cleaned up");
}
