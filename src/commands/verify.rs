//! `wildcert verify`: checks a key and bundle and says exactly what is wrong; with `--fix`,
//! writes the bundle in order.
//!
//! The checks are `bundle::check`; this file reads the files, picks the names and trust
//! anchors, prints, and writes the repaired bundle.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::cli::VerifyArgs;
use crate::commands::error::CommandError;
use wildcert::bundle::{self, CheckOptions, Input, Report, Role, Severity};
use wildcert::config::Config;
use wildcert::exit::Status;

/// Where the system's trust anchors are read from (Debian, Ubuntu, Alpine; others through
/// `rustls-native-certs`).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The files of one check, read.
pub(crate) struct Files {
    pub key_label: String,
    pub key: Vec<u8>,
    pub bundles: Vec<(String, Vec<u8>)>,
}

impl Files {
    /// Reads the key and bundles; an unreadable file is a usage error, printed here.
    pub(crate) fn read(key: &Path, bundles: &[PathBuf]) -> Result<Files, Status> {
        let read = |p: &Path| {
            fs::read(p).map_err(|e| {
                eprintln!("error: cannot read {}: {e}", p.display());
                Status::Usage
            })
        };
        let key_bytes = read(key)?;
        let mut bundle_files = Vec::new();
        for path in bundles {
            bundle_files.push((path.display().to_string(), read(path)?));
        }
        Ok(Files { key_label: key.display().to_string(), key: key_bytes, bundles: bundle_files })
    }

    pub(crate) fn check(&self, opts: &CheckOptions) -> Report {
        let inputs: Vec<Input<'_>> =
            self.bundles.iter().map(|(label, bytes)| Input { label, bytes }).collect();
        bundle::check(Input { label: &self.key_label, bytes: &self.key }, &inputs, opts)
    }
}

/// Where the trust anchors came from, for the summary.
pub(crate) enum Trust {
    Skipped,
    From(String),
}

/// The trust anchors: `--roots`, else the system store, or none with `--no-trust`.
pub(crate) fn load_roots(
    roots: Option<&Path>,
    no_trust: bool,
) -> Result<(Option<Vec<CertificateDer<'static>>>, Trust), Status> {
    if no_trust {
        return Ok((None, Trust::Skipped));
    }
    let from_file = |path: &Path| -> Result<Vec<CertificateDer<'static>>, Status> {
        let bytes = fs::read(path).map_err(|e| {
            eprintln!("error: cannot read trust anchors {}: {e}", path.display());
            Status::Usage
        })?;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes).filter_map(Result::ok).collect();
        if certs.is_empty() {
            eprintln!("error: {}: no PEM certificates found to use as trust anchors", path.display());
            return Err(Status::Usage);
        }
        Ok(certs)
    };
    if let Some(path) = roots {
        return Ok((Some(from_file(path)?), Trust::From(path.display().to_string())));
    }
    let system = Path::new(SYSTEM_ROOTS);
    if system.exists() {
        return Ok((Some(from_file(system)?), Trust::From(SYSTEM_ROOTS.into())));
    }
    let native = rustls_native_certs::load_native_certs();
    if native.certs.is_empty() {
        eprintln!(
            "error: no system trust store found ({SYSTEM_ROOTS} is missing); pass --roots FILE, or --no-trust to skip the trust check"
        );
        return Err(Status::Usage);
    }
    Ok((Some(native.certs), Trust::From("the system trust store".into())))
}

/// Which names were checked, and why those.
pub(crate) struct Names {
    pub names: Vec<String>,
    pub from: String,
}

/// `--domain` if given; else the names of a configured certificate this leaf is for (the
/// one whose `bundle_file` was given, or one whose names the leaf covers); else the leaf's.
fn pick_names(config: Option<&Config>, args: &VerifyArgs, files: &Files) -> Names {
    if !args.domains.is_empty() {
        return Names { names: args.domains.clone(), from: "--domain".into() };
    }
    let leaf_names = files.check(&CheckOptions::new(Vec::new())).leaf.map(|l| l.names).unwrap_or_default();
    let leaf = Names { names: leaf_names.clone(), from: "the leaf's own names".into() };
    let Some(config) = config else { return leaf };
    let same = |a: &Path, b: &Path| match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let by_file = config.certificates.iter().find(|c| {
        !c.domains.is_empty()
            && c.bundle_file.as_deref().is_some_and(|f| args.bundles.iter().any(|b| same(b, f)))
    });
    let by_names = || {
        config
            .certificates
            .iter()
            .find(|c| c.domains.iter().any(|d| leaf_names.iter().any(|san| wildcert::names::covers(san, d))))
    };
    match by_file.or_else(by_names) {
        Some(c) => Names {
            names: c.domains.clone(),
            from: format!("[[certificate]] \"{}\" in {}", c.name, config.path.display()),
        },
        None => leaf,
    }
}

pub async fn run(config: Option<Config>, args: VerifyArgs) -> Result<Status, CommandError> {
    let files = match Files::read(&args.key, &args.bundles) {
        Ok(f) => f,
        Err(status) => return Ok(status),
    };
    if let Some(out) = &args.out
        && same_file(out, &args.key)
    {
        eprintln!("error: --out {} is the key file; write the bundle somewhere else", out.display());
        return Ok(Status::Usage);
    }
    let (roots, trust) = match load_roots(args.roots.as_deref(), args.no_trust) {
        Ok(r) => r,
        Err(status) => return Ok(status),
    };
    let names = pick_names(config.as_ref(), &args, &files);
    let mut opts = CheckOptions::new(names.names.clone());
    opts.roots = roots;
    let report = files.check(&opts);

    let fix = match (&args.out, args.fix) {
        (Some(out), true) => Some(fix(out, &files, &opts, &report)?),
        _ => None,
    };
    let usable = match &fix {
        Some(Fixed { report: Some(after), .. }) => after.is_usable(),
        Some(Fixed { report: None, .. }) => false,
        None => report.is_usable(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&report, &names, &trust, fix.as_ref(), usable))?);
    } else {
        print_text(&report, &names, &trust, fix.as_ref(), usable);
    }
    Ok(if usable { Status::Ok } else { Status::Invalid })
}

/// Whether two paths name the same file (by identity when both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => a == b,
    }
}

/// What `--fix` did.
struct Fixed {
    out: PathBuf,
    /// The check of the written bundle; `None` when nothing could be written.
    report: Option<Report>,
    dropped: Vec<String>,
}

fn fix(out: &Path, files: &Files, opts: &CheckOptions, report: &Report) -> Result<Fixed, CommandError> {
    let Some(fixed) = &report.fixed_bundle else {
        return Ok(Fixed { out: out.to_owned(), report: None, dropped: Vec::new() });
    };
    write_atomically(out, fixed.as_bytes())?;
    let dropped = report
        .certificates
        .iter()
        .filter(|c| matches!(c.role, Role::Root | Role::Unrelated | Role::Duplicate))
        .map(|c| format!("{} ({})", c.at, role_name(c.role)))
        .collect();
    let label = out.display().to_string();
    let after = bundle::check(
        Input { label: &files.key_label, bytes: &files.key },
        &[Input { label: &label, bytes: fixed.as_bytes() }],
        opts,
    );
    Ok(Fixed { out: out.to_owned(), report: Some(after), dropped })
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leaf => "leaf",
        Role::Intermediate => "intermediate",
        Role::Root => "root",
        Role::Unrelated => "not needed",
        Role::Duplicate => "duplicate",
    }
}

/// Temp file in the same directory, synced, then renamed over the target: a reader sees the
/// old file or the new one, never half of it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CommandError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| CommandError::NotAFileName { path: path.to_owned() })?;
    let tmp = dir.join(format!(".{}.wildcert-{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| CommandError::Write { path: path.to_owned(), source })
}

fn print_text(report: &Report, names: &Names, trust: &Trust, fix: Option<&Fixed>, usable: bool) {
    for p in &report.problems {
        println!("{p}");
    }
    if let Some(fix) = fix {
        match &fix.report {
            None => {
                println!("not fixed: no server certificate was found, so there is nothing to put in order")
            }
            Some(after) => {
                let intermediates =
                    after.certificates.iter().filter(|c| c.role == Role::Intermediate).count();
                let dropped = if fix.dropped.is_empty() {
                    String::new()
                } else {
                    format!("; left out: {}", fix.dropped.join(", "))
                };
                println!(
                    "fixed: wrote {} with the leaf and {intermediates} intermediate(s) in order{dropped}",
                    fix.out.display()
                );
                let remaining: Vec<_> =
                    after.problems.iter().filter(|p| p.severity != Severity::Info).collect();
                if !remaining.is_empty() {
                    println!(
                        "still wrong in {} (--fix only repairs order and extra blocks):",
                        fix.out.display()
                    );
                    for p in remaining {
                        println!("{p}");
                    }
                }
            }
        }
    }
    let count = |s: Severity| report.problems.iter().filter(|p| p.severity == s).count();
    let trust = match trust {
        Trust::Skipped => "trust not checked (the path below the chain's top is still validated)".to_string(),
        Trust::From(from) => format!("trust checked against {from}, the path as TLS clients validate it"),
    };
    let checked = format!("names checked: {} (from {}); {trust}", list(&names.names), names.from);
    match (&report.leaf, usable) {
        (Some(leaf), true) => println!(
            "ok: {} (serial {}), expires {}; {checked}",
            leaf.subject,
            leaf.serial,
            leaf.not_after.date()
        ),
        _ => println!(
            "not usable: {} error(s), {} warning(s); {checked}",
            count(Severity::Error),
            count(Severity::Warning)
        ),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

fn json(
    report: &Report,
    names: &Names,
    trust: &Trust,
    fix: Option<&Fixed>,
    usable: bool,
) -> serde_json::Value {
    let trust = match trust {
        Trust::Skipped => serde_json::json!({ "checked": false, "roots": null }),
        Trust::From(from) => serde_json::json!({ "checked": true, "roots": from }),
    };
    let mut value = serde_json::json!({
        "usable": usable,
        "names_checked": names.names,
        "names_from": names.from,
        "trust": trust,
        "leaf": report.leaf,
        "certificates": report.certificates,
        "problems": report.problems,
    });
    if let Some(fix) = fix {
        value["fix"] = serde_json::json!({
            "out": fix.out.display().to_string(),
            "written": fix.report.is_some(),
            "usable": fix.report.as_ref().is_some_and(Report::is_usable),
            "dropped": fix.dropped,
            "problems": fix.report.as_ref().map(|r| &r.problems),
        });
    }
    value
}
