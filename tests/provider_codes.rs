//! The installer's provider codes through the built binary: `wildcert providers` shows every
//! one with its status, a closed provider's code is a configuration error naming the file,
//! line and key, and a moved provider's code loads with a warning naming its new code.

mod support;

use std::process::{Command, Output};

fn wildcert(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("WILDCERT_LOG")
        .output()
        .expect("run wildcert")
}

fn config(dir: &std::path::Path, dns: &str) -> std::path::PathBuf {
    let path = dir.join("wildcert.toml");
    let text = format!(
        "[acme]\ndirectory = \"https://127.0.0.1:14000/dir\"\n\n[storage]\nlocal_dir = \"{d}/live\"\nstate_dir = \"{d}/state\"\n\n[dns.office]\n{dns}\n\n[[certificate]]\nname = \"gradient\"\ndomains = [\"*.gradient.example.com\"]\n",
        d = dir.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn providers_lists_every_installer_code_with_a_status() {
    let out = wildcert(&["providers"], &[]);
    assert!(out.status.success());
    let text = support::stdout(&out);
    let list = include_str!("../src/config/dns-provider-codes.txt");
    let codes: Vec<&str> = list
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(codes.len(), 60);
    for code in codes.iter().copied().chain(["azuredns", "edgedns", "tencentcloud"]) {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{code} ")))
            .unwrap_or_else(|| panic!("{code} is missing:\n{text}"));
        let status = line[code.len()..].split_whitespace().next().unwrap();
        assert!(["native", "routed", "refused"].contains(&status), "{line}");
    }
    assert!(text.contains("The installer's 60 codes: "), "{text}");
}

#[test]
fn a_closed_provider_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "provider = \"dyn\"");
    let out = wildcert(&["--config", path.to_str().unwrap(), "config", "check"], &[]);
    let stderr = support::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:8: dns.office.provider: dyn (", path.display())), "{stderr}");
    assert!(
        stderr.contains("no longer exists (closed 2023-05-31") && stderr.contains("oraclecloud"),
        "{stderr}"
    );
}

#[test]
fn a_moved_provider_loads_as_its_successor_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "provider = \"gandi\"\npersonal_access_token_env = \"GANDI_TOKEN\"");
    let out = wildcert(&["--config", path.to_str().unwrap(), "config", "check"], &[("GANDI_TOKEN", "t")]);
    let (stdout, stderr) = (support::stdout(&out), support::stderr(&out));
    assert!(out.status.success(), "{stdout}{stderr}");
    // `config check` lists the warnings of the configuration it loaded.
    let warnings: Vec<&str> = stdout.lines().filter(|l| l.contains("dns.office.provider")).collect();
    assert_eq!(warnings.len(), 1, "{stdout}");
    assert!(warnings[0].starts_with("warning: dns.office.provider \"gandi\" is now \"gandiv5\""), "{stdout}");
}
