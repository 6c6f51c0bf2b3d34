//! `wildcert init`: writes a first configuration, from answers at a prompt or from the
//! Gradient installer's Terraform (`--from-terraform`), then checks it with `config check`
//! (and `dns check` when asked) and prints what to run next.
//!
//! Secrets go into their own 0600 files; neither the configuration nor anything printed
//! holds one. A supplied key + bundle is only taken after `wildcert verify` accepts it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use wildcert_dns_api::spec::{Kind, Target};

use crate::cli::VerifyArgs;
use crate::commands::error::CommandError;
use wildcert::config::{Config, Secret};
use wildcert::exit::Status;
use wildcert::init::terraform::{self, Installer};
use wildcert::init::write::{self, Owner};
use wildcert::init::{self as draft, Answers, CertSource, Layout, Storage, Supplied};

/// `wildcert init [--from-terraform FILE ...]`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Read the Gradient installer's Terraform file (its module block) instead of asking.
    #[arg(long, value_name = "FILE")]
    pub from_terraform: Option<PathBuf>,
    /// Variable values for --from-terraform (repeatable; later files win), after the
    /// variables' defaults, TF_VAR_*, terraform.tfvars and *.auto.tfvars.
    #[arg(long = "var-file", value_name = "FILE", requires = "from_terraform")]
    pub var_files: Vec<PathBuf>,
    /// The module block to read, when the file has several that look like the installer.
    #[arg(long, value_name = "NAME", requires = "from_terraform")]
    pub module: Option<String>,
    /// Where to write the configuration (default: --config, /etc/wildcert/wildcert.toml).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Where to write the secret files, each 0600 (default: beside the configuration).
    #[arg(long, value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Your team ID: the folder in the bucket the certificates go to.
    #[arg(long, value_name = "ID")]
    pub team: Option<String>,
    /// The ACME account's e-mail address (default: admin@DOMAIN, as the installer).
    #[arg(long)]
    pub email: Option<String>,
    /// Replace an existing configuration and secret files.
    #[arg(long)]
    pub force: bool,
    /// Also run `wildcert dns check` on the result (writes and removes a probe TXT record).
    #[arg(long)]
    pub dns_check: bool,
    /// Trust anchors (PEM) a supplied bundle must reach; default: the system store.
    #[arg(long, value_name = "PEM", conflicts_with = "no_trust")]
    pub roots: Option<PathBuf>,
    /// Do not check that a supplied bundle reaches a trusted root.
    #[arg(long)]
    pub no_trust: bool,
}

pub async fn run(config_path: &Path, args: InitArgs) -> Result<Status, CommandError> {
    let out = args.out.clone().unwrap_or_else(|| config_path.to_owned());
    if !args.force && out.exists() {
        eprintln!(
            "error: {} already exists; rerun with --force to replace it, or write elsewhere with --out",
            out.display()
        );
        return Ok(Status::Usage);
    }
    let answers = match &args.from_terraform {
        Some(file) => {
            let installer = match terraform::read(file, &args.var_files, args.module.as_deref()) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(Status::Usage);
                }
            };
            match from_installer(installer, &args) {
                Ok(a) => a,
                Err(message) => {
                    eprintln!("error: {message}");
                    return Ok(Status::Usage);
                }
            }
        }
        None => {
            let stdin = std::io::stdin();
            let tty = stdin.is_terminal();
            let mut prompt = Prompt { input: stdin.lock(), tty };
            match ask(&mut prompt, &args) {
                Ok(a) => a,
                Err(message) => {
                    eprintln!("error: {message}");
                    return Ok(Status::Usage);
                }
            }
        }
    };

    if let CertSource::Files { key, bundle } = &answers.source {
        let status = verify_pair(key, bundle, &answers.domain, &args).await?;
        if status != Status::Ok {
            eprintln!("error: the supplied key and bundle are not usable (above); nothing was written");
            return Ok(status);
        }
    }

    let layout = Layout::new(&out, args.secrets_dir.as_deref());
    let draft = draft::render(&answers, &layout);
    // The same validation `config check` starts with, before anything is written.
    if let Err(e) = Config::parse(&out, &draft.config) {
        eprintln!("error: the configuration would not load: {e}");
        return Ok(Status::Usage);
    }
    let owner = Owner::service();
    let written = write::write(&draft, &out, args.force, owner)?;
    for path in &written {
        let what = if path == &out { "configuration" } else { "" };
        let mode = std::fs::metadata(path).map(|m| m.permissions()).ok();
        let mode = mode.map(|m| format!("{:o}", std::os::unix::fs::PermissionsExt::mode(&m) & 0o777));
        println!(
            "wrote {} ({}{}{})",
            path.display(),
            mode.unwrap_or_default(),
            if what.is_empty() { "" } else { ", " },
            what
        );
    }
    for note in &draft.notes {
        println!("note: {note}");
    }
    // SAFETY: geteuid has no preconditions.
    if owner.is_none() && unsafe { libc::geteuid() } == 0 {
        let secrets: Vec<String> =
            draft.files.iter().filter(|f| f.secret).map(|f| f.path.display().to_string()).collect();
        println!(
            "note: there is no `{user}` user yet, so root owns the files; once the package created it: chown {user}: {}",
            secrets.join(" "),
            user = write::SERVICE_USER
        );
    }

    println!("\n== wildcert config check");
    let config = Config::load(&out)?;
    let status = crate::commands::config_check::run(config.clone()).await?;
    if status != Status::Ok {
        return Ok(status);
    }
    let acme = matches!(answers.source, CertSource::Acme { .. });
    if args.dns_check && acme {
        println!("\n== wildcert dns check");
        let status = crate::commands::dns_check::run(config, None).await?;
        if status != Status::Ok {
            return Ok(status);
        }
    }

    let c = if out == Path::new(wildcert::config::DEFAULT_CONFIG_PATH) {
        String::new()
    } else {
        format!(" --config {}", out.display())
    };
    println!("\nNext:");
    if acme && !args.dns_check {
        println!("  wildcert{c} dns check      # zone, servers, a probe record, CAA");
    }
    if answers.storage.bucket.is_some() {
        println!("  wildcert{c} bucket check   # list/put/get/delete under the team folder");
    }
    if acme {
        println!("  wildcert{c} issue          # the first certificate");
    } else {
        let named = |suffix: &str| {
            let name = format!("{}.{suffix}", draft::CERTIFICATE_NAME);
            draft.files.iter().find(|f| f.path.ends_with(&name)).map(|f| f.path.display().to_string())
        };
        println!(
            "  wildcert{c} import --cert {} --key {} --bundle {}   # store it now (the service does too)",
            draft::CERTIFICATE_NAME,
            named("key").unwrap_or_default(),
            named("crt").unwrap_or_default()
        );
    }
    println!("  systemctl enable --now wildcert.service   # renew on schedule (or wildcert-renew.timer)");
    Ok(Status::Ok)
}

/// The installer module's settings as answers; `Err` says what is missing.
fn from_installer(installer: Installer, args: &InitArgs) -> Result<Answers, String> {
    let module = format!("module.{}", installer.module);
    let domain = installer.domain.as_deref().ok_or_else(|| {
        format!("{module}.domain is not set: the cluster's domain, e.g. \"gradient.example.com\"")
    })?;
    let domain = draft::check_domain(domain).map_err(|e| format!("{module}.{e}"))?;
    let source = match (installer.tls_cert, installer.tls_key) {
        (Some(bundle), Some(key)) => {
            if installer.dns_name.is_some() && !installer.dns_settings.is_empty() {
                eprintln!(
                    "note: {module} sets tls_cert/tls_key and letsencrypt_dns_settings; the installer uses the supplied certificate, and so does wildcert"
                );
            }
            CertSource::Files { key, bundle }
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(format!("{module} sets only one of tls_cert and tls_key; both are needed"));
        }
        (None, None) => match installer.dns_name {
            Some(code) if !installer.dns_settings.is_empty() && code != "default" => {
                CertSource::Acme { code, settings: installer.dns_settings.into_iter().collect() }
            }
            _ => {
                return Err(format!(
                    "{module} has neither tls_cert/tls_key nor letsencrypt_dns_name with letsencrypt_dns_settings: there is no certificate to take over"
                ));
            }
        },
    };
    let mut storage = match &installer.artifacts_path {
        Some(path) => {
            Storage::from_artifacts_path(path, args.team.as_deref()).map_err(|e| format!("{module}.{e}"))?
        }
        None => Storage::default(),
    };
    if storage.bucket.is_some() {
        storage.endpoint = installer.endpoint;
        storage.region = installer.region;
        storage.access_key_id = installer.access_key_id;
        storage.secret_access_key = installer.secret_access_key;
    }
    Ok(Answers { domain, email: args.email.clone(), source, storage })
}

/// `wildcert verify --key K --bundle B --domain *.D --domain D`, on the files the pair came
/// from, or on private copies when it was written inline.
async fn verify_pair(
    key: &Supplied,
    bundle: &Supplied,
    domain: &str,
    args: &InitArgs,
) -> Result<Status, CommandError> {
    let staged;
    let (key_path, bundle_path) = match (&key.path, &bundle.path) {
        (Some(k), Some(b)) => (k.clone(), b.clone()),
        _ => {
            staged = Staged::new().map_err(CommandError::Io)?;
            (
                staged.put("key.pem", key.contents.expose()).map_err(CommandError::Io)?,
                staged.put("bundle.pem", bundle.contents.expose()).map_err(CommandError::Io)?,
            )
        }
    };
    println!("== wildcert verify --key {} --bundle {}", key_path.display(), bundle_path.display());
    let verify = VerifyArgs {
        key: key_path,
        bundles: vec![bundle_path],
        domains: draft::domains(domain).to_vec(),
        roots: args.roots.clone(),
        no_trust: args.no_trust,
        json: false,
        fix: false,
        out: None,
    };
    crate::commands::verify::run(None, verify).await
}

/// A private temporary directory (0700), removed on drop.
struct Staged(PathBuf);

impl Staged {
    fn new() -> std::io::Result<Staged> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("wildcert-init-{}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Staged(dir))
    }

    fn put(&self, name: &str, contents: &str) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.0.join(name);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        f.write_all(contents.as_bytes())?;
        Ok(path)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Questions on stderr, answers from stdin: a terminal or a pipe (scripts, tests).
struct Prompt<R> {
    input: R,
    tty: bool,
}

impl<R: BufRead> Prompt<R> {
    /// One answer; `default` when the answer is empty.
    fn ask(&mut self, question: &str, default: Option<&str>) -> Result<String, String> {
        match default {
            Some(d) if !d.is_empty() => eprint!("{question} [{d}]: "),
            _ => eprint!("{question}: "),
        }
        let _ = std::io::stderr().flush();
        let line = self.line(question)?;
        let line = line.trim();
        Ok(if line.is_empty() { default.unwrap_or_default().to_string() } else { line.to_string() })
    }

    /// A secret: not echoed on a terminal; never printed.
    fn secret(&mut self, question: &str) -> Result<Secret, String> {
        eprint!("{question} (not shown): ");
        let _ = std::io::stderr().flush();
        let echo = if self.tty { EchoOff::new() } else { None };
        let line = self.line(question);
        drop(echo);
        if self.tty {
            eprintln!();
        }
        Ok(Secret::new(line?.trim()))
    }

    fn line(&mut self, question: &str) -> Result<String, String> {
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) => Err(format!("the input ended before an answer to \"{question}\"")),
            Ok(_) => Ok(line),
            Err(e) => Err(format!("cannot read the answer to \"{question}\": {e}")),
        }
    }
}

/// Terminal echo switched off until dropped (termios on stdin).
struct EchoOff(libc::termios);

impl EchoOff {
    fn new() -> Option<EchoOff> {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a termios they fill or read.
        unsafe {
            let mut term: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut term) != 0 {
                return None;
            }
            let saved = term;
            term.c_lflag &= !libc::ECHO;
            term.c_lflag |= libc::ECHONL;
            if libc::tcsetattr(0, libc::TCSANOW, &term) != 0 {
                return None;
            }
            Some(EchoOff(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new`.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.0);
        }
    }
}

/// The interactive questions.
fn ask<R: BufRead>(p: &mut Prompt<R>, args: &InitArgs) -> Result<Answers, String> {
    eprintln!(
        "wildcert init: a first configuration ({}); empty answers take the [default].",
        args.out.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "the --config path".into())
    );
    let domain = loop {
        let text = p.ask(
            "Cluster domain (the certificate covers *.DOMAIN and DOMAIN), e.g. gradient.example.com",
            None,
        )?;
        match draft::check_domain(&text) {
            Ok(d) => break d,
            Err(e) if p.tty => eprintln!("  {e}"),
            Err(e) => return Err(e.to_string()),
        }
    };
    let how = p.ask(
        "Certificate from an ACME CA through DNS-01 (acme), or a key and bundle you supply (files)",
        Some("acme"),
    )?;
    let source = match how.as_str() {
        "acme" | "a" => ask_acme(p)?,
        "files" | "f" => {
            let key = read_supplied(&p.ask("Private key file (PEM)", None)?)?;
            let bundle =
                read_supplied(&p.ask("Full-chain bundle file (leaf first, then intermediates)", None)?)?;
            CertSource::Files { key, bundle }
        }
        other => return Err(format!("`{other}`: answer acme or files")),
    };
    let email = match source {
        CertSource::Acme { .. } => {
            let default = format!("admin@{domain}");
            Some(args.email.clone().map(Ok).unwrap_or_else(|| p.ask("ACME account e-mail", Some(&default)))?)
        }
        CertSource::Files { .. } => None,
    };
    let bucket = p.ask("Artifact bucket, s3://BUCKET[/PATH] (empty: no bucket, local files only)", None)?;
    let storage = if bucket.is_empty() {
        Storage::default()
    } else {
        let team = match &args.team {
            Some(t) => t.clone(),
            None => p.ask("Team ID (the folder in the bucket)", None)?,
        };
        let mut storage = Storage::from_artifacts_path(&bucket, Some(&team)).map_err(|e| e.to_string())?;
        let endpoint = p.ask("Endpoint URL (empty: AWS S3)", None)?;
        storage.endpoint = (!endpoint.is_empty()).then_some(endpoint);
        storage.region = Some(p.ask("Region", Some("us-east-1"))?);
        let key_id = p.ask("Access key ID of the restricted user (empty: the AWS credential chain)", None)?;
        if !key_id.is_empty() {
            storage.access_key_id = Some(key_id);
            storage.secret_access_key = Some(p.secret("Secret access key")?);
        }
        storage
    };
    Ok(Answers { domain, email, source, storage })
}

fn ask_acme<R: BufRead>(p: &mut Prompt<R>) -> Result<CertSource, String> {
    let builtin = loop {
        let code = p.ask(
            "DNS provider code (the installer's letsencrypt_dns_name; `wildcert providers` lists them)",
            Some("rfc2136"),
        )?;
        match wildcert::dns::provider::find(&code) {
            Some(b) => break b,
            None => {
                let message = format!(
                    "`{code}` has no built-in adapter; built in: {}. Other DNS APIs work through exec (a script) or httpreq (an HTTP endpoint)",
                    wildcert::dns::provider::builtins().iter().map(|b| b.code).collect::<Vec<_>>().join(", ")
                );
                if p.tty {
                    eprintln!("  {message}");
                } else {
                    return Err(message);
                }
            }
        }
    };
    eprintln!(
        "Settings of {} ({}), by their installer (lego) names; empty answers leave a setting out:",
        builtin.code, builtin.name
    );
    let mut settings = Vec::new();
    let mut asked = Vec::new();
    for env in builtin.env {
        let Target::Key(key, kind) = env.target else { continue };
        // A key lego knows under several names is asked once, by its first name.
        if asked.contains(&key) {
            continue;
        }
        asked.push(key);
        let value = if kind == Kind::Secret {
            p.secret(&format!("  {} ({key}, secret)", env.env))?
        } else {
            Secret::new(p.ask(&format!("  {} ({key})", env.env), None)?)
        };
        if !value.expose().is_empty() {
            settings.push((env.env.to_string(), value));
        }
    }
    Ok(CertSource::Acme { code: builtin.code.to_string(), settings })
}

fn read_supplied(path: &str) -> Result<Supplied, String> {
    let path = PathBuf::from(path);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Supplied { contents: Secret::new(text), path: Some(path) })
}
