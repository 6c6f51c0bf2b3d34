//! `provider = "manual"` end to end: `wildcert issue` prints the records, a person (here the
//! test, with nsupdate) creates them in BIND, wildcert waits until BIND serves them, Pebble
//! validates, and the records to delete are printed. `run` and `renew` refuse the
//! certificate before they start.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Stack;

/// The stack's configuration with its `[dns.office]` table replaced by `section`.
fn with_dns(text: &str, section: &str) -> String {
    let start = text.find("[dns.office]").expect("the stack's config has [dns.office]");
    let end = text.find("[[certificate]]").expect("the stack's config has a certificate");
    format!("{}{section}\n{}", &text[..start], &text[end..])
}

fn manual_config(stack: &Stack) -> std::path::PathBuf {
    let section = format!(
        "[propagation]\nresolvers = [\"{0}\"]\nnameservers = [\"{0}\"]\n\n[dns.office]\nprovider = \"manual\"\ndeadline = \"2m\"\n",
        stack.get("DNS_SERVER")
    );
    stack.write_config("manual.toml", &with_dns(&stack.config_text(), &section))
}

/// One record block as printed: (name, value, TTL line present).
fn parse_block(lines: &[String]) -> Option<(String, String)> {
    let field = |key: &str| {
        lines.iter().find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().trim_matches('"').to_string()))
    };
    Some((field("name:")?, field("value:")?))
}

#[test]
fn manual_issue_waits_for_the_records_a_person_creates() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let config = manual_config(&stack);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(&config)
        .arg("issue")
        .env_remove("WILDCERT_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wildcert issue");
    let stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });

    let started = Instant::now();
    let mut stdout_text = String::new();
    let mut created = Vec::new();
    let mut deleted = Vec::new();
    let mut block: Option<(bool, Vec<String>)> = None;
    let flush = |block: &mut Option<(bool, Vec<String>)>,
                 created: &mut Vec<(String, String)>,
                 deleted: &mut Vec<(String, String)>| {
        if let Some((create, lines)) = block.take() {
            let record = parse_block(&lines).expect("a record block names name and value");
            if create {
                assert!(lines.iter().any(|l| l.trim() == "TTL:   60"), "{lines:?}");
                if !created.is_empty() {
                    // A slow person: wildcert keeps waiting, and says so.
                    std::thread::sleep(Duration::from_secs(11));
                }
                // The person creates the record, keeping the other value at that name.
                stack.nsupdate_admin(&format!("update add {} 60 IN TXT \"{}\"", record.0, record.1));
                created.push(record);
            } else {
                deleted.push(record);
            }
        }
    };
    for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
        assert!(started.elapsed() < Duration::from_secs(120), "issue takes too long:\n{stdout_text}");
        stdout_text.push_str(&line);
        stdout_text.push('\n');
        if line.starts_with("Create this DNS record") {
            flush(&mut block, &mut created, &mut deleted);
            assert!(line.contains("wildcert waits up to 2 min"), "{line}");
            block = Some((true, Vec::new()));
        } else if line.starts_with("Delete this DNS record") {
            flush(&mut block, &mut created, &mut deleted);
            block = Some((false, Vec::new()));
        } else if line.trim().is_empty() {
            flush(&mut block, &mut created, &mut deleted);
        } else if let Some((_, lines)) = &mut block {
            lines.push(line);
        }
    }
    flush(&mut block, &mut created, &mut deleted);
    let status = child.wait().unwrap();
    let stderr_text = stderr_reader.join().unwrap();
    assert!(status.success(), "issue failed:\n{stdout_text}\n{stderr_text}");
    assert!(stdout_text.contains("gradient: issued"), "{stdout_text}");
    assert!(stderr_text.contains("still waiting for the challenge records"), "{stderr_text}");
    assert!(stack.live_dir().join("gradient/fullchain.pem").exists());

    // The apex and the wildcard share one name: two values, both created, both to delete,
    // and the instructions to delete come after the certificate was ordered.
    assert_eq!(created.len(), 2, "{stdout_text}");
    assert!(created.iter().all(|(name, _)| name == "_acme-challenge.gradient.example.com."), "{created:?}");
    let (mut want, mut got) = (created.clone(), deleted.clone());
    want.sort();
    got.sort();
    assert_eq!(got, want, "{stdout_text}");
    assert!(
        stdout_text.rfind("Delete this DNS record").unwrap()
            > stdout_text.rfind("Create this DNS record").unwrap()
    );
    // Still there: wildcert wrote nothing, so it deleted nothing either.
    assert_eq!(stack.dig_txt("_acme-challenge.gradient.example.com").len(), 2);
}

/// The unattended commands refuse a manual certificate at start, as a configuration error;
/// `dns check` skips its probe record.
#[test]
fn manual_is_refused_by_run_and_renew_and_skipped_by_dns_check() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let config = manual_config(&stack);
    for command in ["run", "renew"] {
        let started = Instant::now();
        let out = stack.wildcert_with(&config, &[command]);
        let stderr = support::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(20), "{command} should refuse at once");
        assert!(stderr.contains(&format!("{}: certificate \"gradient\".dns", config.display())), "{stderr}");
        assert!(stderr.contains(&format!("`wildcert {command}` runs unattended")), "{stderr}");
        assert!(stderr.contains("`wildcert issue gradient`"), "{stderr}");
    }
    assert!(!stack.live_dir().join("gradient/fullchain.pem").exists());

    // `dns check` checks the zone and its servers but asks nobody to type a probe record.
    let started = Instant::now();
    let out = stack.wildcert_with(&config, &["dns", "check"]);
    let stdout = support::stdout(&out);
    assert!(stdout.contains("probe TXT skipped: a person creates this adapter's records"), "{stdout}");
    assert!(!stdout.contains("Create this DNS record"), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(30));
}
