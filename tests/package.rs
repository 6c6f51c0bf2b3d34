//! The Debian package: `scripts/package` builds it (a release build and cargo-deb, several
//! minutes, so the test is ignored in `cargo test` and run by `.ci/run` with `--ignored`);
//! its contents are the binary, the units, the sysusers and tmpfiles snippets, an example
//! configuration, the man page and the completions; unpacked into a scratch root, the
//! binary runs and its units start the binary the package installed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn build() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let printed = run(Command::new(repo.join("scripts/package")).current_dir(repo));
    let deb = PathBuf::from(printed.lines().last().expect("scripts/package prints the .deb path").trim());
    assert!(deb.extension().is_some_and(|e| e == "deb") && deb.is_file(), "{printed}");
    deb
}

#[test]
#[ignore = "builds a release binary and the .deb (minutes); .ci/run runs it"]
fn deb_installs_binary_units_docs_and_completions() {
    let deb = build();
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    println!("dpkg-deb -c {}:\n{listing}", deb.display());
    let files: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().last()).collect();
    for wanted in [
        "./usr/bin/wildcert",
        "./usr/lib/systemd/system/wildcert.service",
        "./usr/lib/systemd/system/wildcert-renew.service",
        "./usr/lib/systemd/system/wildcert-renew.timer",
        "./usr/lib/sysusers.d/wildcert.conf",
        "./usr/lib/tmpfiles.d/wildcert.conf",
        "./usr/share/doc/wildcert/examples/wildcert.toml",
        "./usr/share/man/man1/wildcert.1.gz",
        "./usr/share/bash-completion/completions/wildcert",
        "./usr/share/zsh/vendor-completions/_wildcert",
        "./usr/share/fish/vendor_completions.d/wildcert.fish",
    ] {
        assert!(files.contains(&wanted), "{wanted} missing from the package:\n{listing}");
    }
    let bin_line = listing.lines().find(|l| l.ends_with("./usr/bin/wildcert")).unwrap();
    assert!(
        bin_line.starts_with("-rwxr-xr-x 0/0") || bin_line.starts_with("-rwxr-xr-x root/root"),
        "{bin_line}"
    );
    let info = run(Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(info.contains("Package: wildcert") && info.contains("postinst"), "{info}");

    let root = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(root.path()));
    let version = run(Command::new(root.path().join("usr/bin/wildcert")).arg("--version"));
    assert_eq!(version.trim(), format!("wildcert {}", env!("CARGO_PKG_VERSION")));
    let unit = std::fs::read_to_string(root.path().join("usr/lib/systemd/system/wildcert.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/wildcert --config /etc/wildcert/wildcert.toml run"), "{unit}");
    assert!(!unit.contains("/usr/local/bin"), "{unit}");
    let sysusers = std::fs::read_to_string(root.path().join("usr/lib/sysusers.d/wildcert.conf")).unwrap();
    assert!(sysusers.lines().any(|l| l.starts_with("u wildcert ")), "{sysusers}");
    let tmpfiles = std::fs::read_to_string(root.path().join("usr/lib/tmpfiles.d/wildcert.conf")).unwrap();
    assert!(tmpfiles.contains("d /var/lib/wildcert") && tmpfiles.contains("d /etc/wildcert"), "{tmpfiles}");
    // The installed man page is the one the installed binary makes.
    let man = run(Command::new("gzip").arg("-dc").arg(root.path().join("usr/share/man/man1/wildcert.1.gz")));
    let fresh = run(Command::new(root.path().join("usr/bin/wildcert")).arg("manpage"));
    assert_eq!(man, fresh);
}
