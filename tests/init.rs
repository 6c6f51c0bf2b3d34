//! `wildcert init`, run as the built binary: from the sample installer Terraform in
//! `config/`, from a Terraform file that supplies its own certificate (made at test time),
//! and interactively with answers on stdin. Every result must pass `config check`, keep each
//! secret in its own 0600 file, and print no secret.

mod bundle_support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bundle_support::{Alg, Pki};

const SAMPLE_TF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gradient-installer.tf");
const SAMPLE_VARS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gradient-installer.tfvars");
/// The secrets of the sample's tfvars file.
const SAMPLE_SECRETS: &[&str] = &[
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "ZXhhbXBsZS10c2lnLXNlY3JldC1mb3Itd2lsZGNlcnQ=",
    "example-cluster-apikey-0123456789",
];

fn wildcert(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .current_dir(dir)
        .args(args)
        .env_remove("WILDCERT_CONFIG")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wildcert");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The `*_file` paths the configuration names.
fn secret_files(config: &str) -> Vec<PathBuf> {
    config
        .lines()
        .flat_map(|l| l.split(['{', ',', '}']))
        .filter_map(|part| {
            let (key, value) = part.split_once('=')?;
            let key = key.trim();
            (key.ends_with("_file") || key.ends_with("_FILE"))
                .then(|| PathBuf::from(value.trim().trim_matches('"')))
        })
        .filter(|p| !p.ends_with("gradient.crt"))
        .collect()
}

fn assert_clean(out: &Output, config: &str, secrets: &[&str]) {
    let printed = text(out);
    for secret in secrets {
        assert!(!printed.contains(secret), "a secret was printed:\n{printed}");
        assert!(!config.contains(secret), "a secret is in the configuration:\n{config}");
    }
}

#[test]
fn from_terraform_sample_writes_checked_config_with_private_secret_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("etc/wildcert.toml");
    let out = out_path.to_str().unwrap();
    let args = [
        "init",
        "--from-terraform",
        SAMPLE_TF,
        "--var-file",
        SAMPLE_VARS,
        "--team",
        "team-example",
        "--out",
        out,
    ];
    let run = wildcert(dir.path(), &args, None);
    assert!(run.status.success(), "{}", text(&run));
    let config = std::fs::read_to_string(&out_path).unwrap();
    assert_clean(&run, &config, SAMPLE_SECRETS);
    for line in [
        "provider = \"rfc2136\"",
        "domains = [\"*.gradient.example.com\", \"gradient.example.com\"]",
        "bucket = \"gradient-artifacts\"",
        "prefix = \"team-example\"",
        "access_key_id = \"AKIAIOSFODNN7EXAMPLE\"",
        "contact = [\"mailto:admin@gradient.example.com\"]",
    ] {
        assert!(config.contains(line), "{line} missing:\n{config}");
    }
    assert!(config.contains("RFC2136_TSIG_SECRET_FILE = "), "{config}");
    assert!(config.contains("RFC2136_NAMESERVER = \"10.0.0.53\""), "{config}");
    let files = secret_files(&config);
    assert_eq!(files.len(), 2, "{files:?}\n{config}");
    let mut contents = Vec::new();
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
        contents.push(std::fs::read_to_string(file).unwrap().trim().to_string());
    }
    contents.sort();
    let mut expected = vec![SAMPLE_SECRETS[0].to_string(), SAMPLE_SECRETS[1].to_string()];
    expected.sort();
    assert_eq!(contents, expected);
    assert_eq!(mode(&out_path), 0o640);
    let printed = text(&run);
    assert!(printed.contains("== wildcert config check"), "{printed}");
    assert!(printed.contains("OK (1 certificate(s), 1 DNS provider(s))"), "{printed}");
    assert!(printed.contains("RFC2136_TTL has no effect"), "{printed}");
    assert!(printed.contains("dns check") && printed.contains("issue"), "{printed}");

    // The written file on its own passes `config check`.
    let check = wildcert(dir.path(), &["--config", out, "config", "check"], None);
    assert!(check.status.success(), "{}", text(&check));

    // An existing configuration is kept unless --force.
    let again = wildcert(dir.path(), &args, None);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), config);
    let forced = wildcert(dir.path(), &[&args[..], &["--force"]].concat(), None);
    assert!(forced.status.success(), "{}", text(&forced));
}

#[test]
fn from_terraform_needs_its_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wildcert.toml");
    let run =
        wildcert(dir.path(), &["init", "--from-terraform", SAMPLE_TF, "--out", out.to_str().unwrap()], None);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    let printed = text(&run);
    assert!(printed.contains("which has no value") && printed.contains("--var-file"), "{printed}");
    assert!(!out.exists());
}

/// A Terraform file with the installer's `tls_cert` / `tls_key = file(...)`.
fn supplied_tf(dir: &Path, key_pem: &str, bundle_pem: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    std::fs::write(dir.join("certs/gradient.crt"), bundle_pem).unwrap();
    std::fs::write(dir.join("certs/gradient.key"), key_pem).unwrap();
    let tf = dir.join("main.tf");
    std::fs::write(
        &tf,
        r#"variable "bucket_key" {}
module "gradient" {
  source = "github.com/Paperspace/gradient-installer?ref=master/gradient-metal"
  domain = "gradient.example.com"
  artifacts_path = "s3://gradient-artifacts/team-x"
  artifacts_access_key_id = "AKIAIOSFODNN7EXAMPLE"
  artifacts_secret_access_key = var.bucket_key
  artifacts_object_storage_endpoint = "https://minio.internal:9000"
  tls_cert = file("certs/gradient.crt")
  tls_key = file("${path.module}/certs/gradient.key")
}
"#,
    )
    .unwrap();
    tf
}

#[test]
fn supplied_certificate_becomes_a_files_certificate_after_verify() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(1, Alg::EcP256);
    let tf = supplied_tf(dir.path(), &pki.key_pem(), &pki.bundle());
    std::fs::write(dir.path().join("root.pem"), pki.root.pem()).unwrap();
    let out = dir.path().join("out/wildcert.toml");
    let run = wildcert(
        dir.path(),
        &[
            "init",
            "--from-terraform",
            tf.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--secrets-dir",
            dir.path().join("private").to_str().unwrap(),
            "--roots",
            "root.pem",
        ],
        None,
    );
    assert!(!run.status.success(), "var.bucket_key has no value:\n{}", text(&run));
    let run = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .current_dir(dir.path())
        .args([
            "init",
            "--from-terraform",
            tf.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--secrets-dir",
            dir.path().join("private").to_str().unwrap(),
            "--roots",
            "root.pem",
        ])
        .env("TF_VAR_bucket_key", "bucket-secret-from-env")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    let config = std::fs::read_to_string(&out).unwrap();
    let key_pem = pki.key_pem();
    let key_body = key_pem.lines().nth(1).unwrap();
    assert_clean(&run, &config, &["bucket-secret-from-env", key_body]);
    assert!(config.contains("source = \"files\""), "{config}");
    assert!(config.contains("endpoint = \"https://minio.internal:9000\""), "{config}");
    assert!(config.contains("prefix = \"team-x\""), "{config}");
    assert!(!config.contains("[acme]") && !config.contains("[dns."), "{config}");
    let key = dir.path().join("private/gradient.key");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&dir.path().join("private")), 0o700);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), pki.key_pem());
    assert_eq!(std::fs::read_to_string(dir.path().join("out/gradient.crt")).unwrap(), pki.bundle());
    let printed = text(&run);
    assert!(printed.contains("== wildcert verify") && printed.contains("ok: "), "{printed}");
    assert!(printed.contains("OK (1 certificate(s), 0 DNS provider(s))"), "{printed}");
    assert!(printed.contains("wildcert --config") && printed.contains("import --cert gradient"), "{printed}");
}

#[test]
fn unusable_supplied_pair_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(1, Alg::EcP256);
    let other = Pki::new(1, Alg::EcP256);
    // The key of another certificate: verify refuses the pair.
    let tf = supplied_tf(dir.path(), &other.key_pem(), &pki.bundle());
    std::fs::write(dir.path().join("root.pem"), pki.root.pem()).unwrap();
    let out = dir.path().join("out/wildcert.toml");
    let run = Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .current_dir(dir.path())
        .args(["init", "--from-terraform", tf.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--roots", "root.pem"])
        .env("TF_VAR_bucket_key", "bucket-secret-from-env")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(text(&run).contains("nothing was written"), "{}", text(&run));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn interactive_answers_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wildcert.toml");
    let answers = [
        "Gradient.Example.com", // domain
        "",                     // acme (the default)
        "rfc2136",              // provider code
        "10.0.0.53",            // RFC2136_NAMESERVER
        "wildcert.",            // RFC2136_TSIG_KEY
        "dGhlLXRzaWctc2VjcmV0", // RFC2136_TSIG_SECRET
        "hmac-sha256",          // RFC2136_TSIG_ALGORITHM
        "",                     // RFC2136_TIMEOUT
        "ops@example.com",      // e-mail
        "s3://gradient-artifacts",
        "team-42",
        "", // endpoint: AWS
        "", // region: us-east-1
        "AKIAIOSFODNN7EXAMPLE",
        "the-bucket-secret", // secret access key
    ];
    let run = wildcert(
        dir.path(),
        &["init", "--out", out.to_str().unwrap()],
        Some(&format!("{}\n", answers.join("\n"))),
    );
    assert!(run.status.success(), "{}", text(&run));
    let config = std::fs::read_to_string(&out).unwrap();
    assert_clean(&run, &config, &["dGhlLXRzaWctc2VjcmV0", "the-bucket-secret"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("RFC2136_TSIG_SECRET (tsig_secret, secret) (not shown)"), "{stderr}");
    for line in [
        "domains = [\"*.gradient.example.com\", \"gradient.example.com\"]",
        "contact = [\"mailto:ops@example.com\"]",
        "prefix = \"team-42\"",
        "region = \"us-east-1\"",
        "RFC2136_NAMESERVER = \"10.0.0.53\"",
    ] {
        assert!(config.contains(line), "{line} missing:\n{config}");
    }
    let files = secret_files(&config);
    assert_eq!(files.len(), 2, "{config}");
    assert!(files.iter().all(|f| mode(f) == 0o600));
    let check = wildcert(dir.path(), &["--config", out.to_str().unwrap(), "config", "check"], None);
    assert!(check.status.success(), "{}", text(&check));

    // Input that ends early is an error, and nothing is written.
    let short = dir.path().join("short.toml");
    let run =
        wildcert(dir.path(), &["init", "--out", short.to_str().unwrap()], Some("gradient.example.com\n"));
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(text(&run).contains("input ended"), "{}", text(&run));
    assert!(!short.exists());
}
