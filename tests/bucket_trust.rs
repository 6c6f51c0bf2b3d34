//! The bucket is untrusted input, against Pebble + BIND + the S3 server: each write an
//! attacker with bucket access could make (a journal entry naming someone else's record, a
//! pair that fails the checks, metadata that claims a later expiry, a version name that
//! leaves its folder, an unreadable `current.json`) is refused with a log line, and nothing is
//! deleted, installed or stopped. And on one host, the renew timer leaves the records of the
//! service's order in flight alone.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rcgen::{KeyPair, SignatureAlgorithm};
use support::{Daemon, Stack, orders_created, stderr, stdout, wait_until};
use wildcert::bundle::CheckedPair;
use wildcert::config::Config;
use wildcert::store::{CertFiles, CertStore, Layout, Origin, Overwrite, PutCondition, Storage};

const APEX_SPF: &str = "v=spf1 include:_spf.example.com ~all";
/// Shaped like a key authorization digest (43 base64url characters).
const DIGEST_A: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const DIGEST_B: &str = "Xq3bN0aTmvZ7y2Jd8R5cW1eKfHgLsUoPiQrYtE4wA6M";

/// A configuration for "host" `host` sharing the bucket (see `Stack::host_config`).
fn host_config(stack: &Stack, host: &str, extra_cert_keys: &str, extra: &str) -> PathBuf {
    stack.host_config(host, None, extra_cert_keys, extra)
}

fn with_bucket() -> Stack {
    Stack::with_bucket()
}

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(config)
        .arg("--log-format")
        .arg("json")
        .args(args)
        .env_remove("WILDCERT_LOG")
        .output()
        .expect("run wildcert")
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}\n{}", stdout(out), stderr(out));
}

fn serial(live: &Path) -> Option<String> {
    let pem = std::fs::read(live.join("gradient/cert.pem")).ok()?;
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    Some(p.parse_x509().ok()?.raw_serial_as_string().replace(':', "").to_ascii_lowercase())
}

fn not_after(live: &Path) -> Option<i64> {
    let pem = std::fs::read(live.join("gradient/cert.pem")).ok()?;
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    Some(p.parse_x509().ok()?.validity().not_after.timestamp())
}

fn hook_runs(stack: &Stack, host: &str) -> usize {
    std::fs::read_to_string(stack.dir().join(host).join("hook.log")).map_or(0, |t| t.lines().count())
}

/// The bucket as an attacker with write access sees it: keys under the team prefix.
async fn bucket(config: &Path) -> (Storage, Layout<wildcert::store::Backend>) {
    let storage = Storage::new(&Config::load(config).unwrap());
    let layout = storage.layout().await.unwrap().expect("a bucket is configured").clone();
    (storage, layout)
}

/// A key and chain for `names` from a throw-away root and intermediate, key of `alg`.
fn pair_for(names: &[&str], alg: &'static SignatureAlgorithm) -> CheckedPair {
    support::pairs::checked_pair("hostile", names, KeyPair::generate_for(alg).unwrap(), 1, 300)
}

/// The current `current.json` as JSON, and its key.
async fn current_json(layout: &Layout<wildcert::store::Backend>) -> (serde_json::Value, String) {
    let key = "certificates/gradient/current.json".to_string();
    let obj = layout.store().get(&key).await.unwrap().expect("current.json");
    (serde_json::from_slice(&obj.bytes).unwrap(), key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_entries_for_records_wildcert_did_not_write_are_refused() {
    let stack = with_bucket();
    let config = host_config(&stack, "host-a", "", "");
    // Records that exist for other reasons: the zone's SPF record, and a digest-shaped value
    // in another zone. And one genuine leftover of an earlier order.
    stack.nsupdate_admin(&format!(
        "update add gradient.example.com. 300 TXT \"{APEX_SPF}\"\n\
         update add _acme-challenge.gradient.example.com. 60 TXT \"{DIGEST_B}\""
    ));
    stack
        .nsupdate_admin(&format!("update add _acme-challenge.delegated.example.net. 300 TXT \"{DIGEST_A}\""));
    assert_eq!(stack.dig_txt("gradient.example.com"), [APEX_SPF]);
    let hostile = serde_json::json!([
        {"dns": "office", "fqdn": "gradient.example.com.", "zone": "gradient.example.com.", "value": APEX_SPF},
        {"dns": "office", "fqdn": "gradient.example.com.", "zone": "gradient.example.com.", "value": DIGEST_A},
        {"dns": "office", "fqdn": "_acme-challenge.delegated.example.net.", "value": DIGEST_A},
        // Claims to be the CNAME target of a configured name, which has no CNAME.
        {"dns": "office", "fqdn": "_acme-challenge.delegated.example.net.",
         "requested": "_acme-challenge.gradient.example.com.", "value": DIGEST_A},
        {"dns": "office", "fqdn": "_acme-challenge.gradient.example.com.", "zone": "gradient.example.com.", "value": DIGEST_B},
    ]);
    let (storage, _) = bucket(&config).await;
    storage.put_note("journal/gradient.json", Some(serde_json::to_vec(&hostile).unwrap())).await.unwrap();
    // The same SPF entry in this host's own journal file.
    let local_journal = stack.dir().join("host-a/state/journal/gradient.json");
    std::fs::create_dir_all(local_journal.parent().unwrap()).unwrap();
    std::fs::write(&local_journal, serde_json::to_vec(&serde_json::json!([hostile[0].clone()])).unwrap())
        .unwrap();

    let out = run(&config, &["issue"]);
    ok(&out, "issue");
    let log = stderr(&out);
    let refusals: Vec<&str> =
        log.lines().filter(|l| l.contains("refusing a challenge journal entry")).collect();
    assert_eq!(refusals.len(), 5, "four bucket entries and one local entry refused:\n{log}");
    assert!(refusals.iter().any(|l| l.contains("key authorization digest") && l.contains("v=spf1")), "{log}");
    assert!(refusals.iter().any(|l| l.contains("not the _acme-challenge name")), "{log}");
    assert!(
        refusals.iter().any(|l| l.contains("resolves to _acme-challenge.gradient.example.com. now")),
        "{log}"
    );
    assert!(log.contains("removed a challenge TXT record left by an earlier run"), "{log}");

    assert_eq!(stack.dig_txt("gradient.example.com"), [APEX_SPF], "the SPF record is still there");
    assert_eq!(
        stack.dig_txt("_acme-challenge.delegated.example.net"),
        [DIGEST_A],
        "the other zone's record stays"
    );
    assert!(
        stack.dig_txt("_acme-challenge.gradient.example.com").is_empty(),
        "the genuine leftover is removed"
    );
    assert!(serial(&stack.dir().join("host-a/live")).is_some(), "the order went on");
    // The refused entries stay noted (for an operator), the removed one is gone.
    let left: Vec<serde_json::Value> =
        serde_json::from_slice(&storage.get_note("journal/gradient.json").await.unwrap().unwrap()).unwrap();
    assert_eq!(left.len(), 4, "{left:?}");
    assert!(left.iter().all(|e| e["value"] != DIGEST_B));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_pair_that_fails_the_checks_is_neither_installed_nor_deployed() {
    let stack = with_bucket();
    let a = host_config(&stack, "host-a", "", "");
    let b = host_config(&stack, "host-b", "", "");
    ok(&run(&a, &["issue"]), "issue on host-a");
    ok(&run(&b, &["issue"]), "issue on host-b (installs host-a's)");
    let good = serial(&stack.dir().join("host-b/live")).unwrap();
    assert_eq!(hook_runs(&stack, "host-b"), 1);
    let (_, layout) = bucket(&a).await;

    let names = ["*.gradient.example.com", "gradient.example.com"];
    let wrong_names = pair_for(&["*.evil.example.org"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let wrong_key_type = pair_for(&names, &rcgen::PKCS_ECDSA_P384_SHA384);
    let stranger = pair_for(&names, &rcgen::PKCS_ECDSA_P256_SHA256);
    let other = pair_for(&names, &rcgen::PKCS_ECDSA_P256_SHA256);
    let mismatched =
        CertFiles { privkey: CertFiles::from_pair(&stranger).privkey, ..CertFiles::from_pair(&other) };
    let cases = [
        ("names", CertFiles::from_pair(&wrong_names), wrong_names.info.clone(), "does not cover"),
        ("key type", CertFiles::from_pair(&wrong_key_type), wrong_key_type.info.clone(), "ec384 key"),
        ("key", mismatched, other.info.clone(), "bundle checks"),
    ];
    for (what, files, info, reason) in cases {
        // A complete, correctly summed version made current, as a bucket writer can.
        layout.save("gradient", &files, &info, Origin::Files, Overwrite::Always).await.unwrap();
        let out = run(&b, &["renew"]);
        ok(&out, &format!("renew with a wrong {what} in the bucket"));
        let log = stderr(&out);
        assert!(
            log.contains("not installing the certificate stored in the bucket; the local one stays"),
            "{what}: {log}"
        );
        assert!(log.contains(reason), "{what}: the reason is named: {log}");
        assert_eq!(serial(&stack.dir().join("host-b/live")).as_deref(), Some(good.as_str()), "{what}");
        assert_eq!(hook_runs(&stack, "host-b"), 1, "no deploy hook for a refused pair ({what})");

        let out_dir = stack.dir().join(format!("pulled-{}", what.replace(' ', "-")));
        let out = run(&b, &["pull", "--cert", "gradient", "--out", out_dir.to_str().unwrap()]);
        assert!(!out.status.success(), "pull of a wrong {what} succeeded");
        assert!(stderr(&out).contains("refused"), "{what}: {}", stderr(&out));
        assert!(!out_dir.exists(), "nothing written by pull ({what})");
    }
}

/// Another host's replacement that expires in the same second as this host's certificate (two
/// orders finished within one second, as a replacement ordered right after a revocation can
/// be) is installed: the fleet converges on the bucket's pair instead of each host keeping
/// its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_pair_expiring_in_the_same_second_as_the_local_one_is_installed() {
    let stack = with_bucket();
    let a = host_config(&stack, "host-a", "", "");
    ok(&run(&a, &["issue"]), "issue on host-a");
    let live = stack.dir().join("host-a/live");
    let local = wildcert::bundle::leaf_info(&std::fs::read(live.join("gradient/cert.pem")).unwrap()).unwrap();
    let names = ["*.gradient.example.com", "gradient.example.com"];
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let replacement =
        support::pairs::checked_pair_valid("other host", &names, key, local.not_before, local.not_after);
    assert_eq!(replacement.info.not_after, local.not_after);
    assert_ne!(replacement.info.serial, local.serial);
    let (_, layout) = bucket(&a).await;
    let files = CertFiles::from_pair(&replacement);
    layout.save("gradient", &files, &replacement.info, Origin::Acme, Overwrite::Always).await.unwrap();

    let out = run(&a, &["renew"]);
    ok(&out, "renew on host-a");
    assert!(stderr(&out).contains("installed the certificate stored in the bucket"), "{}", stderr(&out));
    assert_eq!(serial(&live).as_deref(), Some(replacement.info.serial.as_str()));
    assert_eq!(hook_runs(&stack, "host-a"), 2, "the deploy hook ran for the installed pair");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_not_after_in_the_metadata_does_not_stop_renewals() {
    // 24-second certificates: due at 2/3 of the lifetime, 16 s after issuance.
    let stack = Stack::up_with(&[("STACK_CERT_VALIDITY", "24")]);
    let out = stack.wildcert(&["bucket", "setup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = host_config(&stack, "host-a", "", "");
    ok(&run(&config, &["issue"]), "issue");
    // By the wall clock, which plans and certificates follow.
    let issued = time::OffsetDateTime::now_utc();
    let first = serial(&stack.dir().join("host-a/live")).unwrap();
    let (_, layout) = bucket(&config).await;
    // The writer claims the stored certificate lasts until 2099, in current.json and in a
    // meta.json whose sum matches.
    let (mut current, current_key) = current_json(&layout).await;
    let version = current["version"].as_str().unwrap().to_string();
    let meta_key = format!("certificates/gradient/{version}/meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&layout.store().get(&meta_key).await.unwrap().unwrap().bytes).unwrap();
    meta["not_after"] = "2099-01-01T00:00:00Z".into();
    let meta_bytes = serde_json::to_vec(&meta).unwrap();
    layout.store().put(&meta_key, meta_bytes.clone(), PutCondition::Any).await.unwrap();
    current["not_after"] = "2099-01-01T00:00:00Z".into();
    current["meta_sha256"] = wildcert::store::sha256_hex(&meta_bytes).into();
    layout.store().put(&current_key, serde_json::to_vec(&current).unwrap(), PutCondition::Any).await.unwrap();

    wait_until("the certificate to be due", Duration::from_secs(60), || {
        time::OffsetDateTime::now_utc() - issued >= time::Duration::seconds(18)
    });
    let out = run(&config, &["renew"]);
    ok(&out, "renew");
    assert!(
        stdout(&out).contains("renewed"),
        "planned from the stored leaf: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let renewed = serial(&stack.dir().join("host-a/live")).unwrap();
    assert_ne!(renewed, first);
    let (current, _) = current_json(&layout).await;
    assert_eq!(
        current["serial"].as_str(),
        Some(renewed.as_str()),
        "the renewed certificate is current, not kept out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_name_that_leaves_its_folder_is_never_followed() {
    let stack = with_bucket();
    let a = host_config(&stack, "host-a", "", "");
    ok(&run(&a, &["issue"]), "issue");
    let (_, layout) = bucket(&a).await;
    let (mut current, current_key) = current_json(&layout).await;
    current["version"] = "../../locks".into();
    layout.store().put(&current_key, serde_json::to_vec(&current).unwrap(), PutCondition::Any).await.unwrap();

    let b = host_config(&stack, "host-b", "", "");
    let out_dir = stack.dir().join("pulled");
    let out = run(&b, &["pull", "--cert", "gradient", "--out", out_dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let log = stderr(&out);
    assert!(log.contains("current.json is unusable") && log.contains("../../locks"), "{log}");
    assert!(!out_dir.exists());
    // Host-a keeps serving and planning from its own copy.
    let out = run(&a, &["renew"]);
    ok(&out, "renew on host-a");
    assert!(stdout(&out).contains("not due"), "{}", stdout(&out));
    assert!(stderr(&out).contains("current.json is unusable"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_current_json_is_replaced_by_the_next_writer_not_a_fleet_wide_stop() {
    let stack = with_bucket();
    let a = host_config(&stack, "host-a", "", "");
    ok(&run(&a, &["issue"]), "issue");
    let served = serial(&stack.dir().join("host-a/live")).unwrap();
    let (_, layout) = bucket(&a).await;
    let key = "certificates/gradient/current.json";
    layout.store().put(key, b"{\"format\": 1, \"vers".to_vec(), PutCondition::Any).await.unwrap();

    // A host that has a certificate keeps it and plans from it.
    let out = run(&a, &["renew"]);
    ok(&out, "renew on host-a");
    assert!(stdout(&out).contains("not due"), "{}", stdout(&out));
    assert!(stderr(&out).contains("current.json is unusable"), "{}", stderr(&out));
    assert_eq!(serial(&stack.dir().join("host-a/live")), Some(served.clone()));
    // A new host gets a certificate and replaces the corrupt pointer.
    let b = host_config(&stack, "host-b", "", "");
    let out = run(&b, &["issue"]);
    ok(&out, "issue on host-b");
    assert!(stderr(&out).contains("replacing exactly the copy read"), "{}", stderr(&out));
    let (current, _) = current_json(&layout).await;
    let b_serial = serial(&stack.dir().join("host-b/live")).unwrap();
    assert_eq!(current["serial"].as_str(), Some(b_serial.as_str()));
    // And host-a reads the repaired pointer again: it installs host-b's certificate unless its
    // own expires later (Pebble can stamp both with the same expiry second: then the bucket's
    // wins), either way without an error.
    let a_not_after = not_after(&stack.dir().join("host-a/live")).unwrap();
    let b_not_after = not_after(&stack.dir().join("host-b/live")).unwrap();
    let out = run(&a, &["renew"]);
    ok(&out, "renew on host-a");
    assert!(!stderr(&out).contains("current.json is unusable"), "{}", stderr(&out));
    let expected = if b_not_after >= a_not_after { b_serial } else { served };
    assert_eq!(serial(&stack.dir().join("host-a/live")), Some(expected));
}

#[test]
fn the_timer_leaves_the_records_of_the_services_order_in_flight_alone() {
    let stack = with_bucket();
    let config = host_config(&stack, "host-a", "", "\n[daemon]\ncheck_interval = \"1m\"\n");
    let release = stack.dir().join("host-a/release");
    let daemon = Daemon::start_with_env(
        &config,
        stack.dir().join("host-a/daemon.log"),
        &[("WILDCERT_FAILPOINT", "txt-written"), ("WILDCERT_FAILPOINT_RELEASE", release.to_str().unwrap())],
    );
    daemon.wait_for("failpoint reached; pausing until released", 1, Duration::from_secs(30));
    let in_flight = stack.dig_txt("_acme-challenge.gradient.example.com");
    assert_eq!(in_flight.len(), 2, "the wildcard's and the apex's values: {in_flight:?}");

    // The timer's run starts beside it: its startup cleanup must not touch those records.
    let renew_log = stack.dir().join("host-a/renew.log");
    let renew = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "renew"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&renew_log).unwrap())
        .output()
        .unwrap();
    let renew_text = std::fs::read_to_string(&renew_log).unwrap();
    assert!(renew.status.success(), "{renew_text}");
    assert!(
        renew_text.contains(
            "another wildcert process is working on this certificate; leaving its challenge records alone"
        ),
        "{renew_text}"
    );
    assert!(!renew_text.contains("removed a challenge TXT record"), "{renew_text}");
    let mut now = stack.dig_txt("_acme-challenge.gradient.example.com");
    let mut before = in_flight.clone();
    now.sort();
    before.sort();
    assert_eq!(now, before, "no record removed under the order in flight");

    std::fs::write(&release, b"").unwrap();
    daemon.wait_for("new certificate stored", 1, Duration::from_secs(30));
    assert_eq!(orders_created(&[daemon.log.as_path(), renew_log.as_path()]), 1);
    wait_until("the order's records to be removed", Duration::from_secs(10), || {
        stack.dig_txt("_acme-challenge.gradient.example.com").is_empty()
    });
    assert!(serial(&stack.dir().join("host-a/live")).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegated_leftover_is_removed_only_where_the_cname_points_now() {
    let stack = with_bucket();
    let config = host_config(&stack, "host-a", "", "");
    stack.nsupdate_admin(
        "zone gradient.example.com\nupdate add _acme-challenge.gradient.example.com. 60 CNAME _acme-challenge.delegated.example.net.",
    );
    stack.nsupdate_admin(&format!("update add other.delegated.example.net. 300 TXT \"{DIGEST_A}\""));

    // An order killed once its records are written at the CNAME target.
    let log = stack.dir().join("killed.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "issue"])
        .env("WILDCERT_FAILPOINT", "txt-written")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until("the failpoint", Duration::from_secs(30), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("failpoint reached")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(stack.dig_txt("_acme-challenge.delegated.example.net").len(), 2, "the kill left both values");
    let journal = std::fs::read_to_string(stack.dir().join("host-a/state/journal/gradient.json")).unwrap();
    assert!(
        journal.contains("\"requested\": \"_acme-challenge.gradient.example.com.\""),
        "the journal notes the name the target stands for: {journal}"
    );
    // A forged entry: a configured name, but a target it does not point to.
    let forged = serde_json::json!([{
        "dns": "office", "fqdn": "other.delegated.example.net.", "zone": "delegated.example.net.",
        "requested": "_acme-challenge.gradient.example.com.", "value": DIGEST_A,
    }]);
    let (storage, _) = bucket(&config).await;
    storage.put_note("journal/gradient.json", Some(serde_json::to_vec(&forged).unwrap())).await.unwrap();

    let out = run(&config, &["issue"]);
    ok(&out, "issue after the kill");
    let log = stderr(&out);
    assert_eq!(
        log.lines().filter(|l| l.contains("removed a challenge TXT record left by an earlier run")).count(),
        2,
        "both leftovers at the CNAME target removed: {log}"
    );
    assert!(
        log.lines().any(|l| l.contains("refusing a challenge journal entry")
            && l.contains("resolves to _acme-challenge.delegated.example.net. now")),
        "{log}"
    );
    assert_eq!(
        stack.dig_txt("other.delegated.example.net"),
        [DIGEST_A],
        "the record the forged entry named stays"
    );
    assert!(stack.dig_txt("_acme-challenge.delegated.example.net").is_empty());
    assert!(serial(&stack.dir().join("host-a/live")).is_some());
}
