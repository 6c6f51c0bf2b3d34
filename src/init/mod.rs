//! `wildcert init`: from answers (typed at a prompt, or read from the Gradient installer's
//! Terraform) to a configuration file and the secret files it names.
//!
//! [`Answers`] is what a first configuration needs to know; [`render`] turns it into a
//! [`Draft`]: the TOML text, which never holds a secret, and the files to write beside it,
//! each secret in its own file (mode 0600) that the TOML names with a `*_file` key or lego's
//! `NAME_FILE` form. [`write`](write::write) puts a draft on disk without overwriting
//! anything unless told to.

pub mod terraform;
pub mod write;

use std::path::{Path, PathBuf};

use wildcert_dns_api::spec::{Kind, Target};

use crate::config::Secret;
pub use terraform::Supplied;

/// The certificate's name in the configuration (its folder locally and in the bucket).
pub const CERTIFICATE_NAME: &str = "gradient";

/// Why `init` cannot write a configuration from the answers it has.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// An answer `init` cannot do without (e.g. the domain).
    #[error("{what} is missing: {hint}")]
    Missing {
        /// What is missing, in the operator's terms.
        what: &'static str,
        /// What to give and in what form.
        hint: &'static str,
    },
    /// An answer given but unusable; the message says what form is expected.
    #[error("{key} = \"{value}\": {message}")]
    Invalid {
        /// The setting as the source names it, e.g. `artifacts_path`.
        key: &'static str,
        /// The value given, so the operator sees the typo (only non-secret settings use this).
        value: String,
        /// What is wrong and the expected form.
        message: String,
    },
}

/// What a first configuration needs.
#[derive(Debug, Clone)]
pub struct Answers {
    /// The cluster's domain, e.g. `gradient.example.com`: the certificate covers
    /// `*.<domain>` and `<domain>`, as the installer's certificate does.
    pub domain: String,
    /// The ACME account's e-mail address (the installer used `admin@<domain>`).
    pub email: Option<String>,
    /// ACME through a DNS provider, or files the operator supplies.
    pub source: CertSource,
    /// The bucket, written as `[storage]`; without a bucket only the local directory is used.
    pub storage: Storage,
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// ACME DNS-01 through the provider with this installer code and its lego settings
    /// (`letsencrypt_dns_name`, `letsencrypt_dns_settings`). Values are held as secrets
    /// until the provider's registry says which ones are.
    Acme {
        /// The provider code as the installer names it (lego's), e.g. `route53`.
        code: String,
        /// lego's settings (variable name, value), all held as secrets until sorted.
        settings: Vec<(String, Secret)>,
    },
    /// A key and full-chain bundle the operator supplies (`tls_key`, `tls_cert`).
    Files {
        /// The private key (`tls_key`): its PEM, and the file it came from when known.
        key: Supplied,
        /// The full chain (`tls_cert`): its PEM, and the file it came from when known.
        bundle: Supplied,
    },
}

/// The artifact bucket.
#[derive(Debug, Clone, Default)]
pub struct Storage {
    /// `bucket`: from `artifacts_path = "s3://BUCKET/..."`; `None` for no bucket.
    pub bucket: Option<String>,
    /// The team folder inside the bucket.
    pub prefix: String,
    /// `endpoint`: for non-AWS storage (`artifacts_object_storage_endpoint`).
    pub endpoint: Option<String>,
    /// `region` (`aws_region`).
    pub region: Option<String>,
    /// `access_key_id` (`artifacts_access_key_id`); none: the AWS credential chain.
    pub access_key_id: Option<String>,
    /// The secret key (`artifacts_secret_access_key`), written to its own 0600 file.
    pub secret_access_key: Option<Secret>,
}

impl Storage {
    /// `s3://bucket[/path]` (or a bare bucket name) and an optional team ID: the bucket,
    /// and the prefix `path/team`.
    pub fn from_artifacts_path(path: &str, team: Option<&str>) -> Result<Storage, InitError> {
        let invalid = |message: &str| InitError::Invalid {
            key: "artifacts_path",
            value: path.to_string(),
            message: message.to_string(),
        };
        let rest = match path.split_once("://") {
            Some(("s3", rest)) => rest,
            Some(_) => return Err(invalid("wildcert stores in S3-compatible buckets: s3://BUCKET[/PATH]")),
            None => path,
        };
        let (bucket, folder) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("no bucket name; expected s3://BUCKET[/PATH]"));
        }
        let prefix: Vec<&str> =
            folder.split('/').chain(team.unwrap_or_default().split('/')).filter(|p| !p.is_empty()).collect();
        Ok(Storage { bucket: Some(bucket.to_string()), prefix: prefix.join("/"), ..Storage::default() })
    }
}

/// Where the files go.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The configuration file.
    pub config: PathBuf,
    /// Where secret files are written (default: beside the configuration).
    pub secrets_dir: PathBuf,
}

impl Layout {
    /// The configuration at `config`, secrets in `secrets_dir` or else beside it.
    pub fn new(config: &Path, secrets_dir: Option<&Path>) -> Layout {
        let dir = match config.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        Layout { config: config.to_owned(), secrets_dir: secrets_dir.map(Path::to_owned).unwrap_or(dir) }
    }

    fn config_dir(&self) -> PathBuf {
        match self.config.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        }
    }
}

/// One file to write beside the configuration.
#[derive(Debug, Clone)]
pub struct DraftFile {
    /// Where it goes; the configuration names this path.
    pub path: PathBuf,
    /// What it holds, redacted from `Debug` because it is usually a secret.
    pub contents: Secret,
    /// 0600 for secrets, 0644 for a certificate bundle.
    pub mode: u32,
    /// Whether it holds a secret (owned by the service user when there is one).
    pub secret: bool,
}

/// What `init` will write.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The configuration text. Holds no secret: each is in a [`DraftFile`].
    pub config: String,
    /// The secret and certificate files the configuration names.
    pub files: Vec<DraftFile>,
    /// Things the operator should know (printed after writing).
    pub notes: Vec<String>,
}

/// The names the certificate covers.
pub fn domains(domain: &str) -> [String; 2] {
    [format!("*.{domain}"), domain.to_string()]
}

/// Checks the domain the way the configuration will: a host name, without `*.`.
pub fn check_domain(domain: &str) -> Result<String, InitError> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.strip_prefix("*.").map(str::to_string).unwrap_or(domain);
    if domain.is_empty() {
        return Err(InitError::Missing {
            what: "the domain",
            hint: "the cluster's domain, e.g. gradient.example.com (the certificate covers *.gradient.example.com)",
        });
    }
    for name in domains(&domain) {
        crate::names::validate_requested(&name).map_err(|message| InitError::Invalid {
            key: "domain",
            value: domain.clone(),
            message,
        })?;
    }
    Ok(domain)
}

/// Turns answers into the configuration text and the files it names.
pub fn render(answers: &Answers, layout: &Layout) -> Draft {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let mut out = String::from(
        "# Written by `wildcert init`. Every secret is in its own file (mode 0600) named by a\n\
         # *_file key; `wildcert config check` reads them all. Reference: config/production.toml.\n",
    );
    let secret_file = |name: &str| layout.secrets_dir.join(name);
    let [wildcard, apex] = domains(&answers.domain);

    if let CertSource::Acme { .. } = &answers.source {
        out.push_str(
            "\n[acme]\ndirectory = \"letsencrypt\"            # letsencrypt-staging to try it out first\n",
        );
        let email = answers.email.clone().unwrap_or_else(|| format!("admin@{}", answers.domain));
        out.push_str(&format!("contact = [{}]\n", quote(&format!("mailto:{email}"))));
    }

    let s = &answers.storage;
    out.push_str("\n[storage]\nlocal_dir = \"/var/lib/wildcert/live\"   # the web server reads <local_dir>/<name>/*.pem\n");
    out.push_str("state_dir = \"/var/lib/wildcert\"\n");
    if let Some(bucket) = &s.bucket {
        out.push_str(&format!("bucket = {}\n", quote(bucket)));
        if let Some(endpoint) = &s.endpoint {
            out.push_str(&format!("endpoint = {}\npath_style = true\n", quote(endpoint)));
        }
        out.push_str(&format!("region = {}\n", quote(s.region.as_deref().unwrap_or("us-east-1"))));
        if s.prefix.is_empty() {
            notes.push(
                "no team folder: the certificates go to the bucket's top level; set [storage] prefix to your team ID (or rerun with --team)".into(),
            );
        } else {
            out.push_str(&format!("prefix = {}                  # the team folder\n", quote(&s.prefix)));
        }
        if let Some(id) = &s.access_key_id {
            out.push_str(&format!("access_key_id = {}\n", quote(id)));
        }
        if let Some(secret) = &s.secret_access_key {
            let path = secret_file("s3-secret-access-key.secret");
            out.push_str(&format!("secret_access_key_file = {}\n", quote_path(&path)));
            files.push(DraftFile { path, contents: secret.clone(), mode: 0o600, secret: true });
        } else if s.access_key_id.is_none() {
            out.push_str("# no access key: the standard AWS credential chain is used\n");
        }
    }

    match &answers.source {
        CertSource::Acme { code, settings } => {
            let section = code.trim().to_ascii_lowercase();
            let builtin = crate::dns::provider::find(&section);
            out.push_str(&format!("\n# letsencrypt_dns_name = {}\n[dns.{section}]\n", quote(code)));
            out.push_str(&format!("provider = {}\n", quote(&section)));
            let mut entries = Vec::new();
            for (env, value) in settings {
                let is_secret = builtin.and_then(|b| b.env_target(env)).is_some_and(|(target, from_file)| {
                    !from_file && matches!(target, Target::Key(_, Kind::Secret))
                });
                if is_secret {
                    let path = secret_file(&format!("{}.secret", env.to_ascii_lowercase().replace('_', "-")));
                    entries.push(format!("{env}_FILE = {}", quote_path(&path)));
                    files.push(DraftFile { path, contents: value.clone(), mode: 0o600, secret: true });
                } else {
                    entries.push(format!("{env} = {}", quote(value.expose())));
                }
            }
            if !entries.is_empty() {
                out.push_str(&format!("settings = {{ {} }}\n", entries.join(", ")));
            }
            if settings.iter().any(|(_, v)| v.expose().trim().starts_with("http://")) {
                out.push_str(
                    "# The installer's settings use plain http://: what this table sends (its API key) crosses\n\
                     # the network unencrypted. Prefer https:// (a TLS proxy in front) and remove this line.\n\
                     allow_http = true\n",
                );
                notes.push(format!(
                    "[dns.{section}] keeps the installer's plain http:// URL (allow_http = true); prefer https://"
                ));
            }
            out.push_str(&format!(
                "\n[[certificate]]\nname = {}\ndomains = [{}, {}]\ndns = {}\nkey_type = \"ec256\"\n",
                quote(CERTIFICATE_NAME),
                quote(&wildcard),
                quote(&apex),
                quote(&section)
            ));
        }
        CertSource::Files { key, bundle } => {
            let key_path = secret_file(&format!("{CERTIFICATE_NAME}.key"));
            let bundle_path = layout.config_dir().join(format!("{CERTIFICATE_NAME}.crt"));
            files.push(DraftFile {
                path: key_path.clone(),
                contents: key.contents.clone(),
                mode: 0o600,
                secret: true,
            });
            files.push(DraftFile {
                path: bundle_path.clone(),
                contents: bundle.contents.clone(),
                mode: 0o644,
                secret: false,
            });
            out.push_str(&format!(
                "\n# The installer's tls_key / tls_cert: a certificate you supply, checked like `wildcert verify`,\n\
                 # re-imported when the files change, warned about before it expires.\n\
                 [[certificate]]\nname = {}\nsource = \"files\"\ndomains = [{}, {}]\nkey_file = {}\nbundle_file = {}\n",
                quote(CERTIFICATE_NAME),
                quote(&wildcard),
                quote(&apex),
                quote_path(&key_path),
                quote_path(&bundle_path)
            ));
        }
    }
    Draft { config: out, files, notes }
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_path(path: &Path) -> String {
    quote(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn layout() -> Layout {
        Layout::new(Path::new("/etc/wildcert/wildcert.toml"), None)
    }

    #[test]
    fn artifacts_path_and_team() {
        let s = Storage::from_artifacts_path("s3://gradient-artifacts", Some("team-1")).unwrap();
        assert_eq!((s.bucket.as_deref(), s.prefix.as_str()), (Some("gradient-artifacts"), "team-1"));
        let s = Storage::from_artifacts_path("s3://b/some/path/", None).unwrap();
        assert_eq!((s.bucket.as_deref(), s.prefix.as_str()), (Some("b"), "some/path"));
        assert_eq!(Storage::from_artifacts_path("b", None).unwrap().bucket.as_deref(), Some("b"));
        assert!(Storage::from_artifacts_path("gs://b", None).is_err());
        assert!(Storage::from_artifacts_path("s3:///x", None).is_err());
    }

    #[test]
    fn domain_checks() {
        assert_eq!(check_domain(" *.Gradient.Example.com. ").unwrap(), "gradient.example.com");
        assert!(check_domain("").is_err());
        assert!(check_domain("bad name.example.com").is_err());
    }

    #[test]
    fn acme_draft_keeps_secrets_in_files_and_parses() {
        let mut storage = Storage::from_artifacts_path("s3://gradient-artifacts", Some("team-1")).unwrap();
        storage.access_key_id = Some("AKIAEXAMPLE".into());
        storage.secret_access_key = Some(Secret::new("s3-very-secret"));
        let answers = Answers {
            domain: "gradient.example.com".into(),
            email: None,
            source: CertSource::Acme {
                code: "rfc2136".into(),
                settings: vec![
                    ("RFC2136_NAMESERVER".into(), Secret::new("10.0.0.53")),
                    ("RFC2136_TSIG_KEY".into(), Secret::new("wildcert.")),
                    ("RFC2136_TSIG_SECRET".into(), Secret::new("dHNpZy1zZWNyZXQ=")),
                    ("RFC2136_TSIG_ALGORITHM".into(), Secret::new("hmac-sha256.")),
                ],
            },
            storage,
        };
        let draft = render(&answers, &layout());
        assert!(!draft.config.contains("s3-very-secret") && !draft.config.contains("dHNpZy1zZWNyZXQ="));
        assert!(
            draft.config.contains("RFC2136_TSIG_SECRET_FILE = \"/etc/wildcert/rfc2136-tsig-secret.secret\"")
        );
        assert!(
            draft.config.contains("secret_access_key_file = \"/etc/wildcert/s3-secret-access-key.secret\"")
        );
        assert!(draft.config.contains("contact = [\"mailto:admin@gradient.example.com\"]"));
        assert_eq!(draft.files.len(), 2);
        assert!(draft.files.iter().all(|f| f.mode == 0o600 && f.secret));
        let config = Config::parse(Path::new("/etc/wildcert/wildcert.toml"), &draft.config).unwrap();
        assert_eq!(config.certificates[0].domains, ["*.gradient.example.com", "gradient.example.com"]);
        assert_eq!(config.storage.prefix, "team-1");
    }

    #[test]
    fn files_draft() {
        let supplied = |text: &str| Supplied { contents: Secret::new(text), path: None };
        let answers = Answers {
            domain: "gradient.example.com".into(),
            email: None,
            source: CertSource::Files { key: supplied("KEY"), bundle: supplied("CERT") },
            storage: Storage::default(),
        };
        let draft = render(
            &answers,
            &Layout::new(Path::new("/etc/wildcert/wildcert.toml"), Some(Path::new("/etc/wildcert/private"))),
        );
        let config = Config::parse(Path::new("/etc/wildcert/wildcert.toml"), &draft.config).unwrap();
        let cert = &config.certificates[0];
        assert_eq!(cert.key_file.as_deref(), Some(Path::new("/etc/wildcert/private/gradient.key")));
        assert_eq!(cert.bundle_file.as_deref(), Some(Path::new("/etc/wildcert/gradient.crt")));
        assert!(!draft.config.contains("KEY\"") && !draft.config.contains("[acme]"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        let text = format!("x = {}", quote("\u{1}é"));
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(table["x"].as_str(), Some("\u{1}é"));
    }
}
