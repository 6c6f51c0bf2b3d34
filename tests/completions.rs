//! The shell completions and the man page come from the same clap definitions as `--help`:
//! every command `--help` lists is in the bash completion and has a section in the man page.

use std::process::Command;

fn wildcert(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wildcert")).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The commands a `--help` output lists (the lines under "Commands:").
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's line is indented by two; a wrapped description by more.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every command path, e.g. ["issue"], ["bucket", "policy"].
fn command_paths() -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for top in commands(&wildcert(&["--help"])) {
        let subs = commands(&wildcert(&[&top, "--help"]));
        paths.push(vec![top.clone()]);
        for sub in subs {
            paths.push(vec![top.clone(), sub]);
        }
    }
    paths
}

#[test]
fn bash_completion_knows_every_command() {
    let paths = command_paths();
    assert!(paths.len() >= 18, "{paths:?}");
    assert!(paths.iter().any(|p| p == &["init"]) && paths.iter().any(|p| p == &["bucket", "policy"]));
    let bash = wildcert(&["completions", "bash"]);
    for path in &paths {
        // clap_complete's bash script has a case arm per command path:
        // wildcert__subcmd__bucket__subcmd__policy.
        let arm = format!("wildcert__subcmd__{}", path.join("__subcmd__"));
        assert!(bash.contains(&arm), "bash completion lacks {}", path.join(" "));
    }
    assert!(bash.contains("--from-terraform") && bash.contains("--var-file"));
    for shell in ["zsh", "fish"] {
        let script = wildcert(&["completions", shell]);
        for path in &paths {
            let last = path.last().unwrap();
            assert!(script.contains(last.as_str()), "{shell} completion lacks {}", path.join(" "));
        }
    }
}

#[test]
fn man_page_has_a_section_per_command() {
    let man = wildcert(&["manpage"]);
    assert!(man.lines().any(|l| l.starts_with(".TH wildcert 1")), "{}", &man[..man.len().min(300)]);
    for path in command_paths() {
        let section = format!(".SH \"WILDCERT {}\"", path.join(" ").to_uppercase());
        assert!(man.contains(&section), "man page lacks {section}");
    }
    // Options appear as --help shows them.
    assert!(man.contains("from\\-terraform"), "init's options are missing");
    assert!(
        man.contains("EXIT CODES") || man.contains("Exit codes"),
        "the exit codes (after_help) are missing"
    );
}
