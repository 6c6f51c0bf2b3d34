//! `wildcert verify` and `wildcert import`, run as the built binary against files in a
//! temporary directory; certificates are made at test time.

mod bundle_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bundle_support::{Alg, LeafSpec, Node, Pki};
use time::Duration;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write fixture");
        path
    }

    /// `wildcert -c <dir>/wildcert.toml ARGS` run inside the directory (so relative file
    /// names in messages stay short). The config may not exist: verify then runs without.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wildcert"))
            .current_dir(self.dir.path())
            .arg("-c")
            .arg(self.path("wildcert.toml"))
            .args(args)
            .env_remove("WILDCERT_CONFIG")
            .output()
            .expect("run wildcert")
    }

    /// `wildcert verify --key key.pem --bundle server.crt EXTRA`: the pair the fixtures write.
    fn verify_pair(&self, extra: &[&str]) -> Output {
        self.run(&[&["verify", "--key", "key.pem", "--bundle", "server.crt"][..], extra].concat())
    }

    /// `wildcert import --cert gradient --key key.pem --bundle server.crt EXTRA`.
    fn import_pair(&self, extra: &[&str]) -> Output {
        self.run(
            &[&["import", "--cert", "gradient", "--key", "key.pem", "--bundle", "server.crt"][..], extra]
                .concat(),
        )
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

fn explain(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A healthy two-level PKI written out: key.pem, server.crt (leaf + intermediate), root.pem.
fn healthy(dir: &Dir) -> Pki {
    let pki = Pki::new(1, Alg::EcP256);
    dir.write("key.pem", pki.key_pem());
    dir.write("server.crt", pki.bundle());
    dir.write("root.pem", pki.root.pem());
    pki
}

#[test]
fn a_healthy_bundle_is_usable() {
    let dir = Dir::new();
    healthy(&dir);
    let out = dir.verify_pair(&["--roots", "root.pem"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let text = stdout(&out);
    assert!(text.starts_with("ok: O=Wildcert Test PKI, CN=*.gradient.example.com"), "{text}");
    assert!(text.contains("trust checked against root.pem"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn the_wrong_order_is_explained_line_by_line_and_exits_3() {
    let dir = Dir::new();
    let pki = healthy(&dir);
    dir.write("server.crt", format!("{}{}", pki.intermediates[0].pem(), pki.leaf.pem()));
    let out = dir.verify_pair(&["--roots", "root.pem"]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("error: server.crt: certificate 1 (CN=Wildcert Test Intermediate 1, serial "),
        "{first}"
    );
    assert!(first.contains("is not signed by certificate 2 (CN=*.gradient.example.com"), "{first}");
    assert!(first.contains("'wildcert verify --fix --out fixed.crt'"), "{first}");
    assert!(text.lines().last().unwrap().starts_with("not usable: 1 error(s)"), "{text}");
}

#[test]
fn json_output_has_codes_positions_and_the_leaf() {
    let dir = Dir::new();
    let pki = healthy(&dir);
    let other = bundle_support::key(Alg::EcP256);
    dir.write("other.key", other.serialize_pem());
    let out =
        dir.run(&["verify", "--key", "other.key", "--bundle", "server.crt", "--roots", "root.pem", "--json"]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["usable"], false);
    let problem = &json["problems"][0];
    assert_eq!(problem["severity"], "error");
    assert_eq!(problem["code"], "key_mismatch");
    assert_eq!(problem["file"], "other.key");
    assert_eq!(problem["certificate"]["position"], 1);
    assert_eq!(problem["certificate"]["file"], "server.crt");
    let leaf_serial = json["leaf"]["serial"].as_str().unwrap();
    assert_eq!(problem["certificate"]["serial"], leaf_serial);
    assert!(problem["message"].as_str().unwrap().contains("does not match the leaf"));
    assert_eq!(json["leaf"]["names"], serde_json::json!(["*.gradient.example.com", "gradient.example.com"]));
    assert_eq!(json["certificates"][1]["role"], "intermediate");
    assert_eq!(json["trust"]["roots"], "root.pem");
    let _ = pki;
}

#[test]
fn fix_assembles_several_files_in_order_and_drops_extras() {
    let dir = Dir::new();
    let pki = Pki::new(2, Alg::Rsa2048);
    let stranger = Pki::new(1, Alg::EcP256);
    dir.write("key.pem", bundle_support::traditional_key_pem(&pki.leaf.key));
    dir.write("root.pem", pki.root.pem());
    // The CA's bundle: root first, then the intermediates top-down; the leaf on its own.
    let ca_bundle = format!(
        "{}{}{}{}",
        pki.root.pem(),
        pki.intermediates[0].pem(),
        stranger.intermediates[0].pem(),
        pki.intermediates[1].pem()
    );
    dir.write("ca-bundle.crt", ca_bundle.replace('\n', "\r\n"));
    dir.write("server.crt", pki.leaf.pem());
    let out = dir.run(&[
        "verify",
        "--key",
        "key.pem",
        "--bundle",
        "ca-bundle.crt",
        "--bundle",
        "server.crt",
        "--roots",
        "root.pem",
        "--fix",
        "--out",
        "fixed.crt",
    ]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let text = stdout(&out);
    assert!(
        text.contains("error: ca-bundle.crt: certificate 1 (CN=Wildcert Test Root, serial 4a7c"),
        "{text}"
    );
    assert!(text.contains("is not signed by certificate 2 (CN=Wildcert Test Intermediate 1"), "{text}");
    assert!(text.contains("fixed: wrote fixed.crt with the leaf and 2 intermediate(s) in order"), "{text}");
    assert!(text.contains("left out: ca-bundle.crt: certificate 1 (CN=Wildcert Test Root"), "{text}");
    assert!(text.contains("ca-bundle.crt: certificate 3 (CN=Wildcert Test Intermediate 1"), "{text}");
    let fixed = std::fs::read_to_string(dir.path("fixed.crt")).unwrap();
    assert_eq!(fixed, pki.bundle());
    let mode = std::fs::metadata(dir.path("fixed.crt")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let leftovers: Vec<_> = std::fs::read_dir(dir.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());

    let again = dir.run(&["verify", "--key", "key.pem", "--bundle", "fixed.crt", "--roots", "root.pem"]);
    assert_eq!(code(&again), 0, "{}", explain(&again));
}

#[test]
fn fix_can_rewrite_the_bundle_in_place_but_never_the_key() {
    let dir = Dir::new();
    let pki = healthy(&dir);
    dir.write("server.crt", format!("{}{}", pki.intermediates[0].pem(), pki.leaf.pem()));
    let key_before = std::fs::read(dir.path("key.pem")).unwrap();
    let out = dir.verify_pair(&["--fix", "--out", "key.pem"]);
    assert_eq!(code(&out), 2, "{}", explain(&out));
    assert_eq!(std::fs::read(dir.path("key.pem")).unwrap(), key_before);

    let out = dir.verify_pair(&["--no-trust", "--fix", "--out", "server.crt"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(std::fs::read_to_string(dir.path("server.crt")).unwrap(), pki.bundle());
}

#[test]
fn fix_reports_what_it_cannot_repair() {
    let dir = Dir::new();
    let pki = healthy(&dir);
    dir.write("server.crt", pki.leaf.pem());
    let out = dir.verify_pair(&["--no-trust", "--fix", "--out", "fixed.crt"]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let text = stdout(&out);
    assert!(text.contains("still wrong in fixed.crt"), "{text}");
    assert!(text.contains("the intermediate certificate is missing"), "{text}");
}

#[test]
fn missing_intermediate_and_untrusted_chains() {
    let dir = Dir::new();
    let pki = healthy(&dir);
    dir.write("leaf.crt", pki.leaf.pem());
    let out = dir.run(&["verify", "--key", "key.pem", "--bundle", "leaf.crt", "--no-trust"]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(stdout(&out).contains("error: leaf.crt: certificate 1 (CN=*.gradient.example.com"));
    assert!(stdout(&out).contains(
        "was issued by \"O=Wildcert Test PKI, CN=Wildcert Test Intermediate 1\", which is not in the bundle"
    ));

    // Against the system store (which does not hold the test root), and without the check.
    let out = dir.verify_pair(&[]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(stdout(&out).contains("which is neither in the bundle nor a trusted root"), "{}", explain(&out));
    let out = dir.verify_pair(&["--no-trust"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(stdout(&out).contains("trust not checked"));
}

#[test]
fn warnings_do_not_fail_verify() {
    let dir = Dir::new();
    let now = bundle_support::now();
    let spec = LeafSpec {
        not_before: now - Duration::days(80),
        not_after: now + Duration::days(5),
        ..LeafSpec::default()
    };
    let pki = Pki::with_leaf(1, Alg::EcP256, &spec);
    dir.write("key.pem", pki.key_pem());
    dir.write("server.crt", format!("{}{}", pki.bundle(), pki.root.pem()));
    let out = dir.verify_pair(&["--no-trust"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    let text = stdout(&out);
    assert!(text.starts_with("warning: server.crt: certificate 1 (CN=*.gradient.example.com"), "{text}");
    assert!(text.contains("days left"), "{text}");
    assert!(text.contains("info: server.crt: certificate 3 (CN=Wildcert Test Root"), "{text}");
}

#[test]
fn names_come_from_domain_then_config_then_the_leaf() {
    let dir = Dir::new();
    healthy(&dir);
    let base = ["verify", "--key", "key.pem", "--bundle", "server.crt", "--no-trust"];
    let out = dir.run(&[&base[..], &["--domain", "a.b.gradient.example.com"]].concat());
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(stdout(&out).contains("does not cover a.b.gradient.example.com"));

    write_config(&dir, &["*.gradient.example.com", "api.example.org"]);
    let out = dir.run(&base);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    let text = stdout(&out);
    assert!(text.contains("does not cover api.example.org"), "{text}");
    assert!(text.contains("from [[certificate]] \"gradient\""), "{text}");

    // The config names server.crt as the bundle of "gradient": its names are checked even
    // though the leaf covers none of them.
    write_config(&dir, &["*.other.example.org"]);
    let out = dir.run(&base);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(stdout(&out).contains("does not cover *.other.example.org"), "{}", explain(&out));
    // Another file whose leaf no configured certificate is for: the leaf's own names.
    std::fs::copy(dir.path("server.crt"), dir.path("copy.crt")).unwrap();
    let out = dir.run(&["verify", "--key", "key.pem", "--bundle", "copy.crt", "--no-trust"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(stdout(&out).contains("from the leaf's own names"));
}

#[test]
fn a_der_file_gets_the_conversion_command() {
    let dir = Dir::new();
    let pki = healthy(&dir);
    dir.write("server.der", pki.leaf.der());
    let out = dir.run(&["verify", "--key", "key.pem", "--bundle", "server.der", "--no-trust"]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(stdout(&out).contains("openssl x509 -inform der -in server.der -out server.der.pem"));
}

#[test]
fn unreadable_files_are_usage_errors() {
    let dir = Dir::new();
    healthy(&dir);
    let out = dir.run(&["verify", "--key", "missing.pem", "--bundle", "server.crt"]);
    assert_eq!(code(&out), 2, "{}", explain(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read missing.pem"));
}

// --- import ----------------------------------------------------------------------------

fn write_config(dir: &Dir, domains: &[&str]) {
    let domains: Vec<String> = domains.iter().map(|d| format!("\"{d}\"")).collect();
    let config = format!(
        r#"
[storage]
local_dir = "{live}"
state_dir = "{state}"

[[certificate]]
name = "gradient"
source = "files"
domains = [{domains}]
key_file = "{dir}/key.pem"
bundle_file = "{dir}/server.crt"
"#,
        live = dir.path("live").display(),
        state = dir.path("state").display(),
        domains = domains.join(", "),
        dir = dir.dir.path().display(),
    );
    dir.write("wildcert.toml", config);
}

fn stored_fullchain(dir: &Dir) -> String {
    std::fs::read_to_string(dir.path("live/gradient/fullchain.pem")).expect("stored fullchain")
}

fn write_pair(dir: &Dir, pki_leaf: &Node, chain: &str, tag: &str) -> (String, String) {
    let key = format!("{tag}.key");
    let bundle = format!("{tag}.crt");
    dir.write(&key, pki_leaf.key_pem());
    dir.write(&bundle, format!("{}{chain}", pki_leaf.pem()));
    (key, bundle)
}

#[test]
fn import_stores_checks_and_refuses_to_go_backwards() {
    let dir = Dir::new();
    let pki = healthy(&dir);
    write_config(&dir, &["*.gradient.example.com", "gradient.example.com"]);
    let import = |key: &str, bundle: &str, extra: &[&str]| {
        dir.run(&[&["import", "--cert", "gradient", "--key", key, "--bundle", bundle, "--roots", "root.pem"][..], extra].concat())
    };

    let out = import("key.pem", "server.crt", &[]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(stdout(&out).contains("stored certificate \"gradient\""), "{}", explain(&out));
    let live = dir.path("live/gradient");
    let mode = std::fs::metadata(live.join("privkey.pem")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(stored_fullchain(&dir), pki.bundle());
    assert_eq!(std::fs::read_to_string(live.join("privkey.pem")).unwrap(), pki.key_pem());

    // The same certificate again: nothing to do.
    let out = import("key.pem", "server.crt", &[]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(stdout(&out).starts_with("unchanged:"), "{}", explain(&out));

    // One that expires sooner is refused, unless forced.
    let now = bundle_support::now();
    let sooner = bundle_support::leaf(
        &LeafSpec { not_after: now + Duration::days(40), ..LeafSpec::default() },
        &pki.intermediates[0],
    );
    let (key, bundle) = write_pair(&dir, &sooner, &pki.chain_pem(), "sooner");
    let out = import(&key, &bundle, &[]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(stdout(&out).contains("not replacing certificate \"gradient\""), "{}", explain(&out));
    assert!(stdout(&out).contains("--force"));
    assert_eq!(stored_fullchain(&dir), pki.bundle());
    let out = import(&key, &bundle, &["--force"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert_eq!(stored_fullchain(&dir), format!("{}{}", sooner.pem(), pki.chain_pem()));

    // A pair that fails the checks is never stored, not even with --force.
    let later = bundle_support::leaf(
        &LeafSpec { not_after: now + Duration::days(200), ..LeafSpec::default() },
        &pki.intermediates[0],
    );
    dir.write("later.crt", format!("{}{}", pki.chain_pem(), later.pem()));
    dir.write("later.key", later.key_pem());
    let out = import("later.key", "later.crt", &["--force"]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(stdout(&out).contains("not stored:"), "{}", explain(&out));
    assert_eq!(stored_fullchain(&dir), format!("{}{}", sooner.pem(), pki.chain_pem()));
    let mismatched = import("key.pem", "later.crt", &["--force"]);
    assert_eq!(code(&mismatched), 3);
}

#[test]
fn import_checks_the_configured_names() {
    let dir = Dir::new();
    healthy(&dir);
    write_config(&dir, &["*.gradient.example.com", "api.example.org"]);
    let out = dir.import_pair(&["--no-trust"]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(stdout(&out).contains("does not cover api.example.org"));
    assert!(!Path::new(&dir.path("live/gradient")).exists());

    // Without configured names, the leaf's own are taken.
    write_config(&dir, &[]);
    let out = dir.import_pair(&["--no-trust"]);
    assert_eq!(code(&out), 0, "{}", explain(&out));
    assert!(stdout(&out).contains("names *.gradient.example.com, gradient.example.com"), "{}", explain(&out));
}

#[test]
fn import_needs_a_configured_certificate() {
    let dir = Dir::new();
    healthy(&dir);
    write_config(&dir, &["*.gradient.example.com"]);
    let out =
        dir.run(&["import", "--cert", "nope", "--key", "key.pem", "--bundle", "server.crt", "--no-trust"]);
    assert_eq!(code(&out), 2, "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no [[certificate]] named `nope`"),
        "{}",
        explain(&out)
    );
}

// --- agreement with openssl ------------------------------------------------------------

fn openssl_available() -> bool {
    Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
}

/// `openssl verify -CAfile root.pem -untrusted chain.pem leaf.pem` and wildcert's trust
/// verdict agree on every fixture.
#[test]
fn trust_verdict_agrees_with_openssl_verify() {
    if !openssl_available() {
        eprintln!("note: openssl not found; skipping the agreement test");
        return;
    }
    let trust_codes = ["missing_intermediate", "untrusted", "untrusted_root", "self_signed", "issuer_not_ca"];
    let root_a = bundle_support::root("Wildcert Test Root", Alg::EcP256);
    let root_b = bundle_support::root("Wildcert Test Root", Alg::EcP256);
    let inter_a = bundle_support::intermediate("Wildcert Test Intermediate 1", Alg::EcP256, &root_a);
    let inter_a2 = bundle_support::intermediate("Wildcert Test Intermediate 2", Alg::Rsa2048, &inter_a);
    let impostor = bundle_support::intermediate("Wildcert Test Intermediate 1", Alg::EcP256, &root_b);
    let not_ca =
        bundle_support::intermediate_with("Not A CA", Alg::EcP256, &root_a, |p| p.is_ca = rcgen::IsCa::NoCa);
    let spec = LeafSpec::default();
    let direct = bundle_support::leaf(&spec, &root_a);
    let under_a = bundle_support::leaf(&spec, &inter_a);
    let under_a2 = bundle_support::leaf(&LeafSpec { alg: Alg::Rsa2048, ..spec.clone() }, &inter_a2);
    let under_not_ca = bundle_support::leaf(&spec, &not_ca);
    let self_signed = bundle_support::self_signed_leaf(&spec);

    let cases: Vec<(&str, &Node, Vec<&Node>, &Node, bool)> = vec![
        ("one intermediate", &under_a, vec![&inter_a], &root_a, true),
        ("two intermediates", &under_a2, vec![&inter_a2, &inter_a], &root_a, true),
        ("leaf from the root", &direct, vec![], &root_a, true),
        ("intermediate missing", &under_a, vec![], &root_a, false),
        ("upper intermediate missing", &under_a2, vec![&inter_a2], &root_a, false),
        ("other root of the same name", &under_a, vec![&inter_a], &root_b, false),
        ("impostor intermediate", &under_a, vec![&impostor], &root_a, false),
        ("issuer is no CA", &under_not_ca, vec![&not_ca], &root_a, false),
        ("self-signed leaf", &self_signed, vec![], &root_a, false),
    ];
    for (name, leaf, chain, root, expected) in cases {
        let dir = Dir::new();
        dir.write("leaf.pem", leaf.pem());
        dir.write("key.pem", leaf.key_pem());
        dir.write("root.pem", root.pem());
        let chain_pem: String = chain.iter().map(|n| n.pem()).collect();
        dir.write("chain.pem", &chain_pem);
        let mut openssl = Command::new("openssl");
        openssl.current_dir(dir.dir.path()).args(["verify", "-CAfile", "root.pem"]);
        if !chain.is_empty() {
            openssl.args(["-untrusted", "chain.pem"]);
        }
        let openssl_ok = openssl.arg("leaf.pem").output().expect("run openssl").status.success();

        dir.write("bundle.crt", format!("{}{chain_pem}", leaf.pem()));
        let out = dir.run(&[
            "verify",
            "--key",
            "key.pem",
            "--bundle",
            "bundle.crt",
            "--roots",
            "root.pem",
            "--json",
        ]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let trust_problems: Vec<&str> = json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["severity"] == "error")
            .filter_map(|p| p["code"].as_str())
            .filter(|c| trust_codes.contains(c))
            .collect();
        let wildcert_ok = trust_problems.is_empty();
        assert_eq!(openssl_ok, expected, "{name}: openssl disagrees with the fixture's intent");
        assert_eq!(
            wildcert_ok, openssl_ok,
            "{name}: wildcert found {trust_problems:?}, openssl ok = {openssl_ok}"
        );
    }
}

// --- path validation as TLS clients do it ----------------------------------------------

/// What `verify --roots root.pem` said about a bundle: exit status, first line, error codes.
struct Verdict {
    code: i32,
    first: String,
    errors: Vec<String>,
    text: String,
}

/// Writes `leaf`'s key, `bundle` and `root`, then runs `verify` (text and JSON).
fn judge(leaf: &Node, bundle: &str, root: &Node) -> Verdict {
    let dir = Dir::new();
    dir.write("key.pem", leaf.key_pem());
    dir.write("server.crt", bundle);
    dir.write("root.pem", root.pem());
    let args = ["verify", "--key", "key.pem", "--bundle", "server.crt", "--roots", "root.pem"];
    let out = dir.run(&args);
    let json = dir.run(&[&args[..], &["--json"]].concat());
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let errors = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["severity"] == "error")
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect();
    let text = stdout(&out);
    Verdict { code: code(&out), first: text.lines().next().unwrap_or_default().to_string(), errors, text }
}

/// A bundle refused for `cause`, named in the first line as `expected`.
fn assert_refused(v: &Verdict, cause: &str, expected: &[&str]) {
    assert_eq!(v.code, 3, "exit status; output:\n{}", v.text);
    assert_eq!(v.errors.first().map(String::as_str), Some(cause), "{:?}\n{}", v.errors, v.text);
    for part in expected {
        assert!(v.first.contains(part), "{part:?} not in the first line:\n{}", v.first);
    }
    assert!(v.text.lines().last().unwrap().starts_with("not usable:"), "{}", v.text);
}

/// root → one intermediate edited by `edit` → healthy leaf (`spec`): (root, intermediate, leaf).
fn under(edit: impl FnOnce(&mut rcgen::CertificateParams), spec: &LeafSpec) -> (Node, Node, Node) {
    let root = bundle_support::root("Wildcert Test Root", Alg::EcP256);
    let mid = bundle_support::intermediate_with("Wildcert Test Intermediate 1", Alg::EcP256, &root, edit);
    let leaf = bundle_support::leaf(spec, &mid);
    (root, mid, leaf)
}

fn pair(leaf: &Node, chain: &[&Node]) -> String {
    std::iter::once(leaf).chain(chain.iter().copied()).map(Node::pem).collect()
}

#[test]
fn name_constraints_of_an_intermediate_are_enforced() {
    use rcgen::{GeneralSubtree, NameConstraints};
    let permitted = NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("example.org".into())],
        excluded_subtrees: vec![],
    };
    let (root, mid, leaf) = under(|p| p.name_constraints = Some(permitted), &LeafSpec::default());
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_refused(
        &v,
        "name_constraint_violation",
        &[
            "error: server.crt: certificate 2 (CN=Wildcert Test Intermediate 1",
            "name constraints that permit only names under example.org",
            "the leaf names *.gradient.example.com",
            "TLS clients refuse this chain (RFC 5280 path validation",
            "the clients' verdict wins",
        ],
    );

    let excluded = NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".into())],
        excluded_subtrees: vec![GeneralSubtree::DnsName("gradient.example.com".into())],
    };
    let (root, mid, leaf) = under(|p| p.name_constraints = Some(excluded), &LeafSpec::default());
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_refused(
        &v,
        "name_constraint_violation",
        &["certificate 2 (CN=Wildcert Test Intermediate 1", "exclude names under gradient.example.com"],
    );

    // Constraints the leaf lies within are fine.
    let fitting = NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".into())],
        excluded_subtrees: vec![GeneralSubtree::DnsName("other.example.com".into())],
    };
    let (root, mid, leaf) = under(|p| p.name_constraints = Some(fitting), &LeafSpec::default());
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_eq!(v.code, 0, "{}", v.text);
}

#[test]
fn an_issuer_without_ca_true_is_refused() {
    let (root, mid, leaf) = under(|p| p.is_ca = rcgen::IsCa::ExplicitNoCa, &LeafSpec::default());
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_refused(
        &v,
        "issuer_not_ca",
        &[
            "certificate 2 (CN=Wildcert Test Intermediate 1",
            "signed certificate 1",
            "is not a CA certificate",
        ],
    );
}

#[test]
fn a_path_length_constraint_is_enforced() {
    let root = bundle_support::root("Wildcert Test Root", Alg::EcP256);
    let upper = bundle_support::intermediate_with("Wildcert Test Intermediate 1", Alg::EcP256, &root, |p| {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0))
    });
    let lower = bundle_support::intermediate("Wildcert Test Intermediate 2", Alg::EcP256, &upper);
    let leaf = bundle_support::leaf(&LeafSpec::default(), &lower);
    let v = judge(&leaf, &pair(&leaf, &[&lower, &upper]), &root);
    assert_refused(
        &v,
        "path_len_exceeded",
        &[
            "certificate 3 (CN=Wildcert Test Intermediate 1",
            "allows at most 0 intermediate(s) below it",
            "has 1",
        ],
    );
    // The same constraint with the leaf issued directly below it is fine.
    let direct = bundle_support::leaf(&LeafSpec::default(), &upper);
    assert_eq!(judge(&direct, &pair(&direct, &[&upper]), &root).code, 0);
}

#[test]
fn an_intermediate_outside_its_validity_is_refused() {
    let now = bundle_support::now();
    let (root, mid, leaf) = under(
        |p| {
            p.not_before = now - Duration::days(400);
            p.not_after = now - Duration::days(2);
        },
        &LeafSpec::default(),
    );
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_refused(&v, "expired", &["certificate 2 (CN=Wildcert Test Intermediate 1", "expired on"]);

    let (root, mid, leaf) = under(
        |p| {
            p.not_before = now + Duration::days(2);
            p.not_after = now + Duration::days(400);
        },
        &LeafSpec::default(),
    );
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_refused(
        &v,
        "not_yet_valid",
        &["certificate 2 (CN=Wildcert Test Intermediate 1", "is not valid before"],
    );
}

#[test]
fn an_issuer_whose_key_usage_lacks_key_cert_sign_is_refused() {
    use rcgen::KeyUsagePurpose;
    let (root, mid, leaf) = under(
        |p| p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign],
        &LeafSpec::default(),
    );
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_refused(
        &v,
        "issuer_not_cert_signer",
        &["certificate 2 (CN=Wildcert Test Intermediate 1", "its key usage lacks keyCertSign"],
    );
}

#[test]
fn extended_key_usage_must_allow_tls_servers_all_the_way_up() {
    use rcgen::ExtendedKeyUsagePurpose;
    let spec = LeafSpec { eku: vec![ExtendedKeyUsagePurpose::ClientAuth], ..LeafSpec::default() };
    let (root, mid, leaf) = under(|_| {}, &spec);
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_refused(
        &v,
        "missing_server_auth",
        &["certificate 1 (CN=*.gradient.example.com", "lists clientAuth but not serverAuth"],
    );

    // The same limit on the intermediate binds the leaf below it.
    let (root, mid, leaf) =
        under(|p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth], &LeafSpec::default());
    let v = judge(&leaf, &pair(&leaf, &[&mid]), &root);
    assert_refused(
        &v,
        "issuer_without_server_auth",
        &["certificate 2 (CN=Wildcert Test Intermediate 1", "limits its extended key usage to clientAuth"],
    );
}

/// A CA certificate for `cert`'s subject and key, signed by `parent` with SHA-1 (rcgen
/// cannot sign with SHA-1; openssl still can).
fn resigned_with_sha1(cert: &Node, parent: &Node) -> String {
    let dir = Dir::new();
    let mut request = rcgen::CertificateParams::default();
    request.distinguished_name = cert.params.distinguished_name.clone();
    dir.write("cert.csr", request.serialize_request(&cert.key).expect("CSR").pem().expect("PEM"));
    dir.write("ca.pem", parent.pem());
    dir.write("ca.key", parent.key_pem());
    dir.write("ext.cnf", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
    let out = Command::new("openssl")
        .current_dir(dir.dir.path())
        .args(["x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-sha1"])
        .args(["-days", "30", "-set_serial", "0x4a7c5a1", "-extfile", "ext.cnf", "-out", "sha1.pem"])
        .output()
        .expect("openssl is needed (scripts/stack installs it)");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(dir.path("sha1.pem")).unwrap()
}

#[test]
fn a_sha1_signature_is_refused() {
    let root = bundle_support::root("Wildcert Test Root", Alg::Rsa2048);
    let mid = bundle_support::intermediate("Wildcert Test Intermediate 1", Alg::EcP256, &root);
    let leaf = bundle_support::leaf(&LeafSpec::default(), &mid);
    let sha1_mid = resigned_with_sha1(&mid, &root);
    let v = judge(&leaf, &format!("{}{sha1_mid}", leaf.pem()), &root);
    assert_refused(
        &v,
        "refused_signature_algorithm",
        &[
            "certificate 2 (CN=Wildcert Test Intermediate 1",
            "sha1WithRSAEncryption",
            "which TLS clients no longer accept",
        ],
    );
    // The same intermediate signed with SHA-256 passes.
    assert_eq!(judge(&leaf, &pair(&leaf, &[&mid]), &root).code, 0);
}

#[test]
fn a_three_tier_chain_in_order_passes_and_swapped_is_an_order_error() {
    let pki = Pki::new(2, Alg::EcP256);
    let v = judge(&pki.leaf, &pki.bundle(), &pki.root);
    assert_eq!(v.code, 0, "{}", v.text);
    assert!(v.first.starts_with("ok: O=Wildcert Test PKI, CN=*.gradient.example.com"), "{}", v.first);

    let swapped = pair(&pki.leaf, &[&pki.intermediates[0], &pki.intermediates[1]]);
    let v = judge(&pki.leaf, &swapped, &pki.root);
    assert_refused(
        &v,
        "chain_out_of_order",
        &[
            "certificate 1 (CN=*.gradient.example.com",
            "is not signed by certificate 2 (CN=Wildcert Test Intermediate 1",
            "--fix",
        ],
    );
    // Path validation does not mind the order (clients sort it out): nothing but the order.
    assert_eq!(v.errors, ["chain_out_of_order"], "{}", v.text);
}

#[test]
fn a_bundle_that_reaches_the_trusted_root_only_through_a_cross_signed_intermediate() {
    // The old root is the one clients trust; the new root is not in their store yet, and
    // the CA bridges the two with the new root cross-signed by the old one.
    let old_root = bundle_support::root("Wildcert Old Root", Alg::EcP256);
    let new_root = bundle_support::root("Wildcert New Root", Alg::EcP256);
    let cross = new_root.resigned_by(&old_root);
    let mid = bundle_support::intermediate("Wildcert Test Intermediate 1", Alg::EcP256, &new_root);
    let leaf = bundle_support::leaf(&LeafSpec::default(), &mid);

    let v = judge(&leaf, &pair(&leaf, &[&mid, &cross]), &old_root);
    assert_eq!(v.code, 0, "{}", v.text);
    assert!(v.first.starts_with("ok: "), "{}", v.first);

    let v = judge(&leaf, &pair(&leaf, &[&mid]), &old_root);
    assert_refused(
        &v,
        "untrusted",
        &[
            "the chain ends at server.crt: certificate 2 (CN=Wildcert Test Intermediate 1",
            "Wildcert New Root",
        ],
    );

    // The intermediate twice: as issued by the new root, then cross-signed by the old one.
    // Clients take the path through the cross-signed copy; so does wildcert, and the copy
    // they do not need is only an extra.
    let cross_mid = mid.resigned_by(&old_root);
    let v = judge(&leaf, &pair(&leaf, &[&mid, &cross_mid]), &old_root);
    assert_eq!(v.code, 0, "{}", v.text);
    assert!(
        v.first.starts_with("warning: server.crt: certificate 2 (CN=Wildcert Test Intermediate 1")
            && v.first.contains("is not used in the chain of the leaf"),
        "{}",
        v.text
    );
}

/// A bundle whose intermediate may only issue for example.org: refused wherever a pair is
/// installed without a trust check (`import --no-trust`, a `source = "files"` re-import).
fn name_constrained(dir: &Dir) -> Node {
    use rcgen::{GeneralSubtree, NameConstraints};
    let constraint = NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("example.org".into())],
        excluded_subtrees: vec![],
    };
    let (root, mid, leaf) = under(|p| p.name_constraints = Some(constraint), &LeafSpec::default());
    dir.write("key.pem", leaf.key_pem());
    dir.write("server.crt", pair(&leaf, &[&mid]));
    root
}

#[test]
fn import_without_a_trust_check_still_validates_the_path() {
    let dir = Dir::new();
    name_constrained(&dir);
    write_config(&dir, &["*.gradient.example.com", "gradient.example.com"]);
    let out = dir.import_pair(&["--no-trust"]);
    assert_eq!(code(&out), 3, "{}", explain(&out));
    assert!(
        stdout(&out).contains("name constraints that permit only names under example.org"),
        "{}",
        explain(&out)
    );
    assert!(stdout(&out).contains("not stored"), "{}", explain(&out));
    assert!(!dir.path("live/gradient/fullchain.pem").exists());
}

#[test]
fn a_supplied_files_reimport_is_validated_like_an_import() {
    let dir = Dir::new();
    name_constrained(&dir);
    write_config(&dir, &["*.gradient.example.com", "gradient.example.com"]);
    let out = dir.run(&["renew"]);
    let log = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(log.contains("name constraints that permit only names under example.org"), "{}", explain(&out));
    assert!(!dir.path("live/gradient/fullchain.pem").exists(), "{}", explain(&out));

    // The same files from an unconstrained CA are re-imported.
    let pki = healthy(&dir);
    let out = dir.run(&["renew"]);
    assert_eq!(stored_fullchain(&dir), pki.bundle(), "{}", explain(&out));
}

/// `openssl verify -purpose sslserver` and wildcert agree on every path-validation fixture:
/// wildcert never says ok where OpenSSL refuses, nor the other way round.
#[test]
fn path_verdicts_agree_with_openssl_verify() {
    use rcgen::{ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyUsagePurpose, NameConstraints};
    let now = bundle_support::now();
    let constrained = |permitted: &str, excluded: &str| {
        let list = |d: &str| if d.is_empty() { vec![] } else { vec![GeneralSubtree::DnsName(d.into())] };
        let constraint =
            NameConstraints { permitted_subtrees: list(permitted), excluded_subtrees: list(excluded) };
        move |p: &mut rcgen::CertificateParams| p.name_constraints = Some(constraint)
    };
    let healthy = LeafSpec::default();
    let client_only = LeafSpec { eku: vec![ExtendedKeyUsagePurpose::ClientAuth], ..LeafSpec::default() };
    // (name, leaf, chain, root, key, whether clients accept it)
    let mut cases: Vec<(&str, String, String, String, String, bool)> = Vec::new();
    let mut add = |name, (root, mid, leaf): (Node, Node, Node), ok| {
        cases.push((name, leaf.pem(), mid.pem(), root.pem(), leaf.key_pem(), ok));
    };
    add("healthy", under(|_| {}, &healthy), true);
    add("permitted subtree excludes the name", under(constrained("example.org", ""), &healthy), false);
    add("excluded subtree holds the name", under(constrained("", "gradient.example.com"), &healthy), false);
    add("fitting name constraints", under(constrained("example.com", "other.example.com"), &healthy), true);
    add("issuer without CA:TRUE", under(|p| p.is_ca = IsCa::ExplicitNoCa, &healthy), false);
    add(
        "expired intermediate",
        under(
            |p| {
                p.not_before = now - Duration::days(400);
                p.not_after = now - Duration::days(2);
            },
            &healthy,
        ),
        false,
    );
    add(
        "not yet valid intermediate",
        under(
            |p| {
                p.not_before = now + Duration::days(2);
                p.not_after = now + Duration::days(400);
            },
            &healthy,
        ),
        false,
    );
    add(
        "issuer key usage without keyCertSign",
        under(|p| p.key_usages = vec![KeyUsagePurpose::DigitalSignature], &healthy),
        false,
    );
    add("leaf for clientAuth only", under(|_| {}, &client_only), false);
    add(
        "intermediate for clientAuth only",
        under(|p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth], &healthy),
        false,
    );
    let root = bundle_support::root("Wildcert Test Root", Alg::Rsa2048);
    let mid = bundle_support::intermediate("Wildcert Test Intermediate 1", Alg::EcP256, &root);
    let leaf = bundle_support::leaf(&healthy, &mid);
    let sha1 = resigned_with_sha1(&mid, &root);
    cases.push(("SHA-1 signature", leaf.pem(), sha1, root.pem(), leaf.key_pem(), false));
    let pki = Pki::new(2, Alg::EcP256);
    let upper =
        bundle_support::intermediate_with("Wildcert Test Intermediate 1", Alg::EcP256, &pki.root, |p| {
            p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0))
        });
    let lower = bundle_support::intermediate("Wildcert Test Intermediate 2", Alg::EcP256, &upper);
    let leaf = bundle_support::leaf(&healthy, &lower);
    let chain = format!("{}{}", lower.pem(), upper.pem());
    cases.push(("path length exceeded", leaf.pem(), chain, pki.root.pem(), leaf.key_pem(), false));

    for (name, leaf, chain, root, key, expected) in cases {
        let dir = Dir::new();
        dir.write("root.pem", root);
        dir.write("key.pem", key);
        dir.write("leaf.pem", &leaf);
        dir.write("chain.pem", &chain);
        let openssl = Command::new("openssl")
            .current_dir(dir.dir.path())
            .args([
                "verify",
                "-purpose",
                "sslserver",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "chain.pem",
                "leaf.pem",
            ])
            .output()
            .expect("openssl is needed (scripts/stack installs it)");
        dir.write("server.crt", format!("{leaf}{chain}"));
        let out = dir.verify_pair(&["--roots", "root.pem"]);
        assert_eq!(openssl.status.success(), expected, "{name}: openssl disagrees with the fixture's intent");
        assert_eq!(code(&out) == 0, expected, "{name}: wildcert disagrees with openssl:\n{}", explain(&out));
    }
}
