//! The Debian package: `scripts/package` builds it (a release build and cargo-deb, several
//! minutes, so the test is ignored in `cargo test` and run by `.ci/run` with `--ignored`);
//! its contents are the binary, the units, the sysusers and tmpfiles snippets, an example
//! configuration, the man page and the completions; unpacked into a scratch root, the
//! binary runs and its units start the binary the package installed. Installed with dpkg
//! into an overlay of this machine's root (a private mount and PID namespace, so the host is
//! left as it was), its maintainer scripts create the wildcert user and the directories with
//! the modes the units expect, with systemd's tools and without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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

/// The package, built once for all the tests of this file.
fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(build)
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
    let deb = deb();
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
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
    let info = run(Command::new("dpkg-deb").arg("-I").arg(deb));
    assert!(info.contains("Package: wildcert") && info.contains("postinst"), "{info}");

    let root = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root.path()));
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

/// Runs in a new mount and PID namespace: mounts an overlay whose lower layer is this
/// machine's root and whose upper layer is a tmpfs, chroots into it and runs `$1` there with
/// the package at /tmp/wildcert.deb. Every mount, and so every change dpkg makes, ends with
/// the namespace.
const IN_OVERLAY_ROOT: &str = r#"
set -eu
scratch=$2
mount -t tmpfs tmpfs "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root"
root=$scratch/root
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
cp "$3" "$root/tmp/wildcert.deb"
exec chroot "$root" /bin/sh -eu -c "$1"
"#;

/// What `dpkg -i` then `dpkg --purge` leave, printed by the chrooted script below.
const INSTALL_AND_PURGE: &str = r#"
if [ "${WITHOUT_SYSTEMD_TOOLS:-}" = 1 ]; then
  rm -f /usr/bin/systemd-sysusers /usr/bin/systemd-tmpfiles /bin/systemd-sysusers /bin/systemd-tmpfiles
fi
! getent passwd wildcert >/dev/null || { echo "wildcert user exists before install"; exit 1; }
dpkg -i /tmp/wildcert.deb >/dev/null
echo "user: $(getent passwd wildcert | cut -d: -f1,6,7)"
echo "group: $(getent group wildcert | cut -d: -f1)"
stat -c 'dir: %n %a %U:%G' /var/lib/wildcert /etc/wildcert
echo "version: $(/usr/bin/wildcert --version)"
dpkg -i /tmp/wildcert.deb >/dev/null
echo "reinstalled: $(getent passwd wildcert | wc -l) user"
echo "unit user: $(sed -n 's/^User=//p' /usr/lib/systemd/system/wildcert.service)"
echo secret >/etc/wildcert/kept.secret
dpkg --purge wildcert >/dev/null
echo "after purge: binary $(test -e /usr/bin/wildcert && echo present || echo gone), kept $(cat /etc/wildcert/kept.secret), state $(test -d /var/lib/wildcert && echo present || echo gone)"
"#;

fn install_in_overlay_root(without_systemd_tools: bool) -> String {
    assert!(running_as_root(), "the package's maintainer scripts need root (CI runs as root): run as root");
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", IN_OVERLAY_ROOT, "overlay-root"])
        .arg(INSTALL_AND_PURGE)
        .arg(scratch.path())
        .arg(deb())
        .env("WITHOUT_SYSTEMD_TOOLS", if without_systemd_tools { "1" } else { "0" })
        .output()
        .expect("unshare (util-linux)");
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("dpkg -i / --purge in an overlay root (systemd tools: {}):\n{printed}", !without_systemd_tools);
    assert!(out.status.success(), "{printed}");
    printed
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn assert_installed_as_the_units_expect(printed: &str) {
    for wanted in [
        "user: wildcert:/var/lib/wildcert:",
        "group: wildcert",
        "dir: /var/lib/wildcert 711 wildcert:wildcert",
        "dir: /etc/wildcert 750 root:wildcert",
        &format!("version: wildcert {}", env!("CARGO_PKG_VERSION")),
        "reinstalled: 1 user",
        "unit user: wildcert",
        "after purge: binary gone, kept secret, state present",
    ] {
        assert!(printed.contains(wanted), "{wanted:?} not in:\n{printed}");
    }
}

#[test]
#[ignore = "builds a release binary and the .deb (minutes); .ci/run runs it as root"]
fn postinst_creates_the_user_and_directories_with_systemd_tools() {
    assert_installed_as_the_units_expect(&install_in_overlay_root(false));
}

#[test]
#[ignore = "builds a release binary and the .deb (minutes); .ci/run runs it as root"]
fn postinst_creates_the_user_and_directories_without_systemd_tools() {
    assert_installed_as_the_units_expect(&install_in_overlay_root(true));
}
