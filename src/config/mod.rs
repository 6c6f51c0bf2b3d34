//! The configuration file (TOML): what certificates to manage, from which CA, proven through
//! which DNS, stored where.
//!
//! Every table rejects unknown keys, so a typo is an error with file, line and column instead
//! of a setting silently ignored. Secrets are read from `*_file` paths or `*_env` variable
//! names (inline values are accepted but `config check` warns about them).

pub mod dns;
pub mod duration;
#[cfg(test)]
mod examples;
pub mod provider_codes;
pub mod secret;
pub mod transport;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use dns::DnsSection;
pub use secret::{SecretKeys, read_secret};
pub use wildcert_dns_api::Secret;

/// Where `wildcert` looks for its configuration unless `--config` or `WILDCERT_CONFIG` says
/// otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/wildcert/wildcert.toml";

/// The CORS origin the Gradient console loads artifacts from.
pub const DEFAULT_CONSOLE_ORIGIN: &str = "https://console.paperspace.com";

/// Why the configuration cannot be used, with file, line and key so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read (missing, no permission); the message says how to fix it.
    #[error("cannot read config file {path}: {source}{}", read_hint(source))]
    Read {
        /// The configuration file (`--config`, `WILDCERT_CONFIG` or the default).
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown or has the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// Line of the mistake (1-based), for an editor.
        line: usize,
        /// Column of the mistake (1-based).
        column: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// The TOML is well-formed but a value cannot work (an unknown `[dns.NAME]`, a bad URL).
    #[error("{path}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// Line of the table or key at fault, when known.
        line: Option<usize>,
        /// The key at fault, e.g. `certificate "gradient".dns` or `storage.bucket`.
        key: String,
        /// What is wrong and how to fix it; never a secret value.
        message: String,
    },
}

fn read_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "; create it (config/production.toml is a starting point) or name another with --config or WILDCERT_CONFIG"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; run as a user that may read it (the wildcert user, or root)"
        }
        _ => "",
    }
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, so messages and later checks can name it.
    pub path: PathBuf,
    /// `[acme]`; may be left out when every certificate has `source = "files"`.
    pub acme: AcmeConfig,
    /// `[storage]` (required): the local directory, the state directory, the bucket.
    pub storage: StorageConfig,
    /// `[propagation]`; defaults check every authoritative server for 120 s.
    pub propagation: PropagationConfig,
    /// The `[dns.NAME]` tables by NAME, each an adapter with its checked settings.
    pub dns: BTreeMap<String, DnsSection>,
    /// The `[[certificate]]` tables, in file order.
    pub certificates: Vec<CertificateConfig>,
    /// `[daemon]`; defaults when absent.
    pub daemon: DaemonConfig,
    /// `[notify]`; nobody is notified when absent.
    pub notify: NotifyConfig,
    /// `[network]`; the environment's proxy variables when absent.
    pub network: NetworkConfig,
    /// Things that work but deserve a look (inline secrets, a readable secret file).
    pub warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    acme: Option<AcmeConfig>,
    storage: StorageConfig,
    #[serde(default)]
    propagation: PropagationConfig,
    #[serde(default)]
    dns: BTreeMap<String, Spanned<toml::Table>>,
    #[serde(default, rename = "certificate")]
    certificates: Vec<Spanned<CertificateConfig>>,
    #[serde(default)]
    daemon: DaemonConfig,
    #[serde(default)]
    notify: NotifyConfig,
    #[serde(default)]
    network: NetworkConfig,
}

/// `[network]`: the outbound proxy for every HTTP client (the CA, the bucket, Route53, the DNS
/// APIs, webhooks). Without `proxy`, `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` from the
/// environment apply.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// `http://host:port` (optionally `http://user:password@host:port`): https:// requests
    /// are tunnelled through it with CONNECT, http:// requests sent to it in absolute form.
    /// Replaces the environment's proxy variables.
    pub proxy: Option<String>,
    /// Hosts that bypass the proxy, `NO_PROXY` syntax (names with their subdomains, IPs,
    /// CIDRs, `*`, `host:port`); default: the environment's `NO_PROXY`. Loopback is not
    /// implied: list `127.0.0.1`, `localhost` here when local services must be reached
    /// directly.
    pub no_proxy: Option<Vec<String>>,
}

/// The proxy URL may hold credentials: `Debug` shows it without them.
impl std::fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkConfig")
            .field("proxy", &self.proxy.as_deref().map(wildcert_dns_http::proxy::redacted))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl NetworkConfig {
    /// The proxy settings this table gives, `None` to use the environment's.
    pub fn proxy_settings(&self) -> Option<wildcert_dns_http::proxy::ProxySettings> {
        let proxy = self.proxy.as_deref()?;
        let no_proxy = self.no_proxy.as_ref().map(|list| list.join(","));
        Some(wildcert_dns_http::proxy::ProxySettings::configured(
            proxy,
            no_proxy.as_deref(),
            "[network] proxy",
        ))
    }

    /// Makes these settings the ones every HTTP client built from now on uses.
    pub fn apply(&self) {
        wildcert_dns_http::proxy::configure(self.proxy_settings());
    }
}

/// `[acme]`: the certificate authority.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// Directory URL, or one of the names `letsencrypt`, `letsencrypt-staging`, `zerossl`,
    /// `google`, `google-staging`. `https://`, or `http://` on a loopback address (a CA on
    /// this host), or any `http://` with `allow_http = true`.
    pub directory: String,
    /// Accept a plain `http://` directory on another host.
    #[serde(default)]
    pub allow_http: bool,
    /// Contact URIs for the account, e.g. `mailto:admin@example.com`.
    #[serde(default)]
    pub contact: Vec<String>,
    /// PEM file with the roots to trust for the CA's own HTTPS endpoint (a private CA, a
    /// test CA) instead of the system's roots.
    pub ca_certificates: Option<PathBuf>,
    /// External Account Binding, required by ZeroSSL, Google and some private CAs.
    pub eab: Option<EabConfig>,
    /// ACME profile to request (when the CA offers profiles), e.g. `shortlived`.
    pub profile: Option<String>,
    /// Timeout of one HTTP request to the CA.
    #[serde(default = "defaults::request_timeout", deserialize_with = "duration::deserialize")]
    pub request_timeout: Duration,
    /// How long to wait for the CA to validate and issue once challenges are ready.
    #[serde(default = "defaults::order_timeout", deserialize_with = "duration::deserialize")]
    pub order_timeout: Duration,
}

/// `[acme.eab]`: the key id and HMAC key the CA handed out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EabConfig {
    /// `kid`: the key identifier the CA handed out with the HMAC key (required).
    pub kid: String,
    /// Base64url HMAC key, inline (discouraged) ...
    pub hmac_key: Option<Secret>,
    /// ... or from a file ...
    pub hmac_key_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub hmac_key_env: Option<String>,
}

/// `[storage]`: where certificates live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Files for the web server: `<local_dir>/<name>/{privkey,fullchain,cert,chain}.pem`.
    #[serde(default = "defaults::local_dir")]
    pub local_dir: PathBuf,
    /// Private state: ACME account, journals, pending uploads.
    #[serde(default = "defaults::state_dir")]
    pub state_dir: PathBuf,
    /// S3-compatible bucket that holds the certificates next to the artifacts.
    pub bucket: Option<String>,
    /// Endpoint URL for non-AWS S3 (MinIO, Ceph, GCS interoperability, ...). `https://`, or
    /// `http://` on a loopback address, or any `http://` with `allow_http = true`.
    pub endpoint: Option<String>,
    /// Accept a plain `http://` endpoint on another host (the private keys then cross the
    /// network unencrypted: only for a link protected otherwise).
    #[serde(default)]
    pub allow_http: bool,
    /// A group (e.g. Debian's `ssl-cert`) that may read the live files: the certificate
    /// directories become 0750 and the files 0640, key included, owned by this group.
    pub live_group: Option<String>,
    /// `live_group` resolved to its id at load time.
    #[serde(skip)]
    pub live_gid: Option<u32>,
    /// `region`: the bucket's region; default `AWS_REGION` / `AWS_DEFAULT_REGION`, else
    /// `us-east-1`.
    pub region: Option<String>,
    /// Folder inside the bucket, usually the team ID.
    #[serde(default)]
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most non-AWS servers.
    #[serde(default)]
    pub path_style: bool,
    /// Static credentials; without them the standard AWS chain is used.
    pub access_key_id: Option<String>,
    /// `secret_access_key`: the secret for `access_key_id` inline (discouraged) ...
    pub secret_access_key: Option<Secret>,
    /// ... or `secret_access_key_file`: a file holding it (0600) ...
    pub secret_access_key_file: Option<PathBuf>,
    /// ... or `secret_access_key_env`: the name of an environment variable holding it.
    pub secret_access_key_env: Option<String>,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    /// `kms_key_id`: the KMS key for `aws:kms` encryption; default the bucket's AWS-managed key.
    pub kms_key_id: Option<String>,
    /// How many old versions of each certificate to keep in the bucket.
    #[serde(default = "defaults::keep_versions")]
    pub keep_versions: usize,
    /// The origin the CORS rule must allow (`bucket check` / `bucket setup`).
    #[serde(default = "defaults::console_origin")]
    pub console_origin: String,
    /// Instead of a bucket: a directory (a share mounted on every host, or a single host's
    /// disk) holding the same layout, `<shared_dir>/<prefix>/certificates/...`.
    pub shared_dir: Option<PathBuf>,
    /// Timeout of one request to the bucket (connecting is limited to 5 s of it).
    #[serde(default = "defaults::storage_timeout", deserialize_with = "duration::deserialize")]
    pub request_timeout: Duration,
}

impl StorageConfig {
    /// Where the bucket's secret access key comes from (read it with `read_secret`).
    pub fn secret_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.secret_access_key.clone(),
            file: self.secret_access_key_file.clone(),
            env: self.secret_access_key_env.clone(),
        }
    }
}

/// `[propagation]`: how wildcert makes sure every authoritative server serves the TXT
/// record before asking the CA to look.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropagationConfig {
    /// `false` skips the check (the CA may then look too early).
    #[serde(default = "defaults::yes")]
    pub check: bool,
    /// Recursive resolvers (`host:port`) used to find the zone, its name servers and their
    /// addresses. Default: the rfc2136 `nameserver` when there is one, else
    /// `/etc/resolv.conf`.
    #[serde(default)]
    pub resolvers: Vec<String>,
    /// Authoritative servers (`host:port`) to check instead of the zone's NS records: for
    /// split-horizon setups and servers on non-standard ports.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// Give up (and name the lagging server) after this long.
    #[serde(default = "defaults::propagation_timeout", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// Extra wait after every server answers, for providers with anycast lag.
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub settle: Duration,
}

impl Default for PropagationConfig {
    fn default() -> Self {
        PropagationConfig {
            check: true,
            resolvers: Vec::new(),
            nameservers: Vec::new(),
            timeout: defaults::propagation_timeout(),
            settle: Duration::ZERO,
        }
    }
}

/// Where a certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Issued by the configured ACME CA through DNS-01.
    #[default]
    Acme,
    /// Supplied by the operator (`key_file` + `bundle_file`), checked and managed.
    Files,
}

/// The private key algorithm for issued certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// `ec256` (the default): ECDSA P-256, small and accepted by every client.
    #[default]
    Ec256,
    /// `ec384`: ECDSA P-384.
    Ec384,
    /// `rsa2048`: for clients that cannot do ECDSA.
    Rsa2048,
    /// `rsa3072`.
    Rsa3072,
    /// `rsa4096`: slow to make and to use; only when a policy asks for it.
    Rsa4096,
}

impl KeyType {
    /// The TOML spelling, for messages and `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ec256 => "ec256",
            KeyType::Ec384 => "ec384",
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
        }
    }
}

/// `[[certificate]]`: one managed certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// Short name: the folder under `local_dir` and in the bucket.
    pub name: String,
    /// Names on the certificate, e.g. `["*.gradient.example.com", "gradient.example.com"]`.
    #[serde(default)]
    pub domains: Vec<String>,
    /// `source`: `acme` (default) to order it, or `files` to import what the operator supplies.
    #[serde(default)]
    pub source: Source,
    /// Which `[dns.NAME]` proves control (optional when there is exactly one).
    pub dns: Option<String>,
    /// `key_type`: the algorithm of the fresh key made for each order; default `ec256`.
    #[serde(default)]
    pub key_type: KeyType,
    /// For `source = "files"`: the private key and the full chain supplied by the operator.
    pub key_file: Option<PathBuf>,
    /// `bundle_file`: for `source = "files"`, the leaf and its intermediates (PEM),
    /// re-imported when the file changes.
    pub bundle_file: Option<PathBuf>,
    /// Command run (by `/bin/sh -c`) after a new certificate is stored.
    pub deploy_hook: Option<String>,
    /// `hook_timeout`: the deploy hook is killed after this long; default 60 s.
    #[serde(default = "defaults::hook_timeout", deserialize_with = "duration::deserialize")]
    pub hook_timeout: Duration,
    /// Renew when less than this is left, instead of at 1/3 of the lifetime.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub renew_before: Option<Duration>,
    /// ACME profile for this certificate (overrides `[acme] profile`).
    pub profile: Option<String>,
}

/// `[daemon]`: the long-running service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// `host:port` for Prometheus metrics and `/healthz`; off when absent.
    pub metrics_listen: Option<SocketAddr>,
    /// How often the daemon re-plans and looks for certificates other hosts stored.
    #[serde(default = "defaults::check_interval", deserialize_with = "duration::deserialize")]
    pub check_interval: Duration,
    /// Orders in flight at once against one CA.
    #[serde(default = "defaults::max_concurrent_orders")]
    pub max_concurrent_orders: usize,
    /// First wait after a failed renewal; doubles per failure up to `retry_max`.
    #[serde(default = "defaults::retry_min", deserialize_with = "duration::deserialize")]
    pub retry_min: Duration,
    /// The longest wait after failures, and the cap on any Retry-After from the CA or a
    /// DNS API (a Retry-After never postpones renewal past expiry either).
    #[serde(default = "defaults::retry_max", deserialize_with = "duration::deserialize")]
    pub retry_max: Duration,
    /// First wait after the CA could not validate a challenge (a DNS or CAA mistake rarely
    /// fixes itself within minutes, and CAs limit failed validations); doubles per failure.
    #[serde(default = "defaults::validation_retry_min", deserialize_with = "duration::deserialize")]
    pub validation_retry_min: Duration,
    /// The order ceiling: at most this many new orders per certificate within
    /// `orders_window`, whatever the plan says (`issue --force` excepted).
    #[serde(default = "defaults::max_orders")]
    pub max_orders: u32,
    /// The sliding window of the order ceiling.
    #[serde(default = "defaults::orders_window", deserialize_with = "duration::deserialize")]
    pub orders_window: Duration,
    /// How long a renewal lock in the bucket is valid before it must be extended.
    #[serde(default = "defaults::lock_ttl", deserialize_with = "duration::deserialize")]
    pub lock_ttl: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            metrics_listen: None,
            check_interval: defaults::check_interval(),
            max_concurrent_orders: defaults::max_concurrent_orders(),
            retry_min: defaults::retry_min(),
            retry_max: defaults::retry_max(),
            validation_retry_min: defaults::validation_retry_min(),
            max_orders: defaults::max_orders(),
            orders_window: defaults::orders_window(),
            lock_ttl: defaults::lock_ttl(),
        }
    }
}

/// `[notify]`: telling a person when something needs attention (a failed renewal, a
/// certificate close to expiry), through webhooks and/or a command.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `[[notify.webhook]]` tables: each gets a JSON POST per event.
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    /// Run by `/bin/sh -c` per event, with the event in `WILDCERT_*` variables.
    pub command: Option<String>,
    /// The command is killed after this long.
    #[serde(default = "defaults::hook_timeout", deserialize_with = "duration::deserialize")]
    pub command_timeout: Duration,
    /// Warn when a certificate expires within this and was not renewed.
    #[serde(default = "defaults::warn_before", deserialize_with = "duration::deserialize")]
    pub warn_before: Duration,
    /// Also notify after every successful renewal (off: success is the normal case).
    #[serde(default)]
    pub on_renewed: bool,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: Vec::new(),
            command: None,
            command_timeout: defaults::hook_timeout(),
            warn_before: defaults::warn_before(),
            on_renewed: false,
        }
    }
}

impl NotifyConfig {
    /// Whether any destination is configured.
    pub fn is_enabled(&self) -> bool {
        !self.webhooks.is_empty() || self.command.is_some()
    }

    fn validate(&self) -> Result<(), (String, String)> {
        for (i, hook) in self.webhooks.iter().enumerate() {
            let key = |field: &str| format!("notify.webhook[{i}].{field}");
            hook.url_keys().check_present("url").map_err(|m| (key("url"), m))?;
            if let Some(url) = &hook.url {
                transport::check(url.expose(), hook.allow_http, &key("url")).map_err(|m| (key("url"), m))?;
            }
            if hook.timeout.is_zero() {
                return Err((key("timeout"), "must be longer than zero".into()));
            }
        }
        if self.command.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(("notify.command".into(), "empty; remove it or name a program".into()));
        }
        Ok(())
    }
}

/// How a webhook's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// wildcert's JSON object: event, certificate, message, cause, attempts, next_attempt,
    /// not_after, host.
    #[default]
    Json,
    /// `{"text": "..."}`: what Slack, Mattermost and Microsoft Teams incoming webhooks take.
    Slack,
}

/// `[[notify.webhook]]`: one HTTPS endpoint. Its URL usually carries a secret (Slack's
/// does, in the path), so it is read like one and never logged beyond scheme and host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL inline (discouraged when it holds a token) ...
    pub url: Option<Secret>,
    /// ... or from a file ...
    pub url_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub url_env: Option<String>,
    /// `format`: `json` (default, wildcert's object) or `slack` (`{"text": ...}`).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Accept a plain `http://` URL on another host.
    #[serde(default)]
    pub allow_http: bool,
    /// PEM file with the roots to trust for this endpoint instead of the system's.
    pub ca_certificates: Option<PathBuf>,
    /// Deadline of one delivery attempt (connect, send, read the answer).
    #[serde(default = "defaults::webhook_timeout", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
}

impl WebhookConfig {
    /// Where the URL comes from (inline, file or variable); read it with `read_secret`.
    pub fn url_keys(&self) -> SecretKeys {
        SecretKeys { inline: self.url.clone(), file: self.url_file.clone(), env: self.url_env.clone() }
    }
}

/// The id of group `name`, for `[storage] live_group`.
pub fn group_id(name: &str) -> Result<u32, String> {
    let missing = || {
        format!(
            "no group named `{name}` on this host; create it (groupadd {name}), add the web server's user to it, or remove live_group"
        )
    };
    let c_name = std::ffi::CString::new(name).map_err(|_| missing())?;
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: every pointer is valid for the call; getgrnam_r writes only into `group` and
    // `buf` (bounded by its length) and sets `result` to `&group` or null.
    let rc =
        unsafe { libc::getgrnam_r(c_name.as_ptr(), &mut group, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 {
        return Err(format!("cannot look up group `{name}`: {}", std::io::Error::from_raw_os_error(rc)));
    }
    if result.is_null() {
        return Err(missing());
    }
    Ok(group.gr_gid)
}

mod defaults {
    use std::path::PathBuf;
    use std::time::Duration;

    pub fn yes() -> bool {
        true
    }
    pub fn request_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn order_timeout() -> Duration {
        Duration::from_secs(300)
    }
    pub fn propagation_timeout() -> Duration {
        Duration::from_secs(120)
    }
    pub fn hook_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub fn check_interval() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn retry_min() -> Duration {
        Duration::from_secs(60)
    }
    pub fn retry_max() -> Duration {
        Duration::from_secs(12 * 3600)
    }
    pub fn validation_retry_min() -> Duration {
        Duration::from_secs(3600)
    }
    pub fn max_orders() -> u32 {
        3
    }
    pub fn orders_window() -> Duration {
        Duration::from_secs(24 * 3600)
    }
    pub fn lock_ttl() -> Duration {
        Duration::from_secs(600)
    }
    pub fn max_concurrent_orders() -> usize {
        4
    }
    pub fn keep_versions() -> usize {
        5
    }
    pub fn local_dir() -> PathBuf {
        PathBuf::from("/var/lib/wildcert/live")
    }
    pub fn state_dir() -> PathBuf {
        PathBuf::from("/var/lib/wildcert")
    }
    pub fn warn_before() -> Duration {
        Duration::from_secs(14 * 86_400)
    }
    pub fn webhook_timeout() -> Duration {
        Duration::from_secs(15)
    }
    pub fn storage_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn console_origin() -> String {
        super::DEFAULT_CONSOLE_ORIGIN.to_string()
    }
}

/// Names the CA directory shorthands stand for.
pub fn directory_url(directory: &str) -> &str {
    match directory {
        "letsencrypt" => "https://acme-v02.api.letsencrypt.org/directory",
        "letsencrypt-staging" => "https://acme-staging-v02.api.letsencrypt.org/directory",
        "zerossl" => "https://acme.zerossl.com/v2/DV90",
        "google" => "https://dv.acme-v02.api.pki.goog/directory",
        "google-staging" => "https://dv.acme-v02.test-api.pki.goog/directory",
        other => other,
    }
}

impl Config {
    /// Reads and validates the file at `path`, and makes its `[network]` proxy settings the
    /// ones every HTTP client built afterwards uses (the environment's when it has none).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let config = Config::parse(path, &text)?;
        config.network.apply();
        Ok(config)
    }

    /// Parses and validates `text` (read from `path`, which errors name).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let invalid = |line: Option<usize>, key: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            key: key.to_string(),
            message,
        };

        let mut warnings = Vec::new();
        let mut dns = BTreeMap::new();
        for (name, table) in raw.dns {
            let line = line_col(text, table.span().start).0;
            let section = DnsSection::from_table(name.clone(), table.into_inner(), &mut warnings)
                .map_err(|(key, message)| invalid(Some(line), &format!("dns.{name}.{key}"), message))?;
            dns.insert(name, section);
        }

        let mut certificates: Vec<CertificateConfig> = Vec::new();
        for spanned in raw.certificates {
            let line = line_col(text, spanned.span().start).0;
            let cert = spanned.into_inner();
            let key = |field: &str| format!("certificate \"{}\".{field}", cert.name);
            crate::names::validate_certificate_name(&cert.name)
                .map_err(|m| invalid(Some(line), "certificate.name", m))?;
            if certificates.iter().any(|c| c.name == cert.name) {
                return Err(invalid(
                    Some(line),
                    &key("name"),
                    "two [[certificate]] tables use this name; names must be unique".into(),
                ));
            }
            for domain in &cert.domains {
                crate::names::validate_requested(domain)
                    .map_err(|m| invalid(Some(line), &key("domains"), m))?;
            }
            match cert.source {
                Source::Acme => {
                    if cert.domains.is_empty() {
                        return Err(invalid(
                            Some(line),
                            &key("domains"),
                            "an ACME certificate needs at least one name, e.g. domains = [\"*.gradient.example.com\", \"gradient.example.com\"]".into(),
                        ));
                    }
                    match &cert.dns {
                        Some(name) if !dns.contains_key(name) => {
                            return Err(invalid(
                                Some(line),
                                &key("dns"),
                                format!("no [dns.{name}] table; defined: {}", list_or_none(dns.keys())),
                            ));
                        }
                        None if dns.len() != 1 => {
                            return Err(invalid(
                                Some(line),
                                &key("dns"),
                                format!(
                                    "say which [dns.NAME] proves control of these names (defined: {})",
                                    list_or_none(dns.keys())
                                ),
                            ));
                        }
                        _ => {}
                    }
                    if cert.key_file.is_some() || cert.bundle_file.is_some() {
                        return Err(invalid(
                            Some(line),
                            &key("key_file"),
                            "key_file/bundle_file belong to source = \"files\"; remove them or set source = \"files\"".into(),
                        ));
                    }
                }
                Source::Files => {
                    if cert.key_file.is_none() || cert.bundle_file.is_none() {
                        return Err(invalid(
                            Some(line),
                            &key("key_file"),
                            "source = \"files\" needs key_file and bundle_file (the private key and the full-chain .crt)".into(),
                        ));
                    }
                }
            }
            certificates.push(cert);
        }

        let acme = match raw.acme {
            Some(acme) => acme,
            None if certificates.iter().all(|c| c.source == Source::Files) => AcmeConfig {
                directory: "letsencrypt".into(),
                allow_http: false,
                contact: Vec::new(),
                ca_certificates: None,
                eab: None,
                profile: None,
                request_timeout: defaults::request_timeout(),
                order_timeout: defaults::order_timeout(),
            },
            None => {
                return Err(invalid(
                    None,
                    "acme",
                    "missing [acme] table with directory = \"letsencrypt\" (or a URL)".into(),
                ));
            }
        };
        let url = directory_url(&acme.directory);
        if url.starts_with("http://") {
            transport::check(url, acme.allow_http, "acme.directory")
                .map_err(|m| invalid(None, "acme.directory", m))?;
        } else if !url.starts_with("https://") {
            return Err(invalid(
                None,
                "acme.directory",
                format!(
                    "`{url}` is neither an https:// URL nor one of letsencrypt, letsencrypt-staging, zerossl, google, google-staging"
                ),
            ));
        }
        for contact in &acme.contact {
            if !contact.starts_with("mailto:") {
                return Err(invalid(
                    None,
                    "acme.contact",
                    format!("`{contact}` must be a URI such as mailto:admin@example.com"),
                ));
            }
        }
        if let Some(eab) = &acme.eab {
            let keys = SecretKeys {
                inline: eab.hmac_key.clone(),
                file: eab.hmac_key_file.clone(),
                env: eab.hmac_key_env.clone(),
            };
            keys.check_present("acme.eab.hmac_key").map_err(|m| invalid(None, "acme.eab.hmac_key", m))?;
            if eab.hmac_key.is_some() {
                warnings.push("acme.eab.hmac_key is inline; prefer hmac_key_file or hmac_key_env".into());
            }
        }

        let storage = raw.storage;
        if storage.bucket.is_none() && storage.endpoint.is_some() {
            return Err(invalid(
                None,
                "storage.endpoint",
                "an endpoint without a bucket; add bucket = \"NAME\"".into(),
            ));
        }
        if let Some(endpoint) = &storage.endpoint {
            transport::check(endpoint, storage.allow_http, "storage.endpoint")
                .map_err(|m| invalid(None, "storage.endpoint", m))?;
        }
        let mut storage = storage;
        if let Some(group) = &storage.live_group {
            storage.live_gid = Some(group_id(group).map_err(|m| invalid(None, "storage.live_group", m))?);
        }
        if storage.bucket.is_some() && storage.shared_dir.is_some() {
            return Err(invalid(
                None,
                "storage.shared_dir",
                "set either bucket or shared_dir, not both".into(),
            ));
        }
        let keys = storage.secret_keys();
        if storage.access_key_id.is_some() {
            keys.check_present("storage.secret_access_key")
                .map_err(|m| invalid(None, "storage.secret_access_key", m))?;
        } else if keys.is_set() {
            return Err(invalid(
                None,
                "storage.access_key_id",
                "a secret access key without access_key_id; add access_key_id = \"...\"".into(),
            ));
        }
        if let Some(sse) = &storage.server_side_encryption
            && sse != "AES256"
            && sse != "aws:kms"
        {
            return Err(invalid(
                None,
                "storage.server_side_encryption",
                format!("`{sse}` is not supported; use \"AES256\" or \"aws:kms\""),
            ));
        }
        if storage.keep_versions == 0 {
            return Err(invalid(
                None,
                "storage.keep_versions",
                "must be at least 1 (the current version)".into(),
            ));
        }
        if storage.secret_access_key.is_some() {
            warnings.push(
                "storage.secret_access_key is inline; prefer secret_access_key_file or secret_access_key_env"
                    .into(),
            );
        }
        for (key, list) in [
            ("propagation.resolvers", &raw.propagation.resolvers),
            ("propagation.nameservers", &raw.propagation.nameservers),
        ] {
            for server in list {
                crate::dns::parse_server(server).map_err(|m| invalid(None, key, m))?;
            }
        }
        raw.notify.validate().map_err(|(key, m)| invalid(None, &key, m))?;
        if let Some(settings) = raw.network.proxy_settings() {
            settings.validate().map_err(|m| invalid(None, "network.proxy", m))?;
            if raw.network.proxy.as_deref().is_some_and(|p| p.contains('@')) {
                warnings.push(
                    "[network] proxy holds credentials inline; prefer HTTPS_PROXY in the unit's EnvironmentFile (mode 0600) so they stay out of the configuration".into(),
                );
            }
        }
        if raw.daemon.max_concurrent_orders == 0 {
            return Err(invalid(None, "daemon.max_concurrent_orders", "must be at least 1".into()));
        }
        if raw.daemon.max_orders == 0 {
            return Err(invalid(
                None,
                "daemon.max_orders",
                "must be at least 1 (the order ceiling; `issue --force` is the way past it)".into(),
            ));
        }

        if !raw.propagation.check
            && let Some(section) = dns.values().find(|s| {
                crate::dns::provider::find(s.config.code()).is_some_and(|builtin| builtin.interactive)
            })
        {
            return Err(invalid(
                None,
                "propagation.check",
                format!(
                    "[dns.{}] (provider = \"{}\") relies on the propagation check to know when the records typed by hand are served; remove check = false",
                    section.name,
                    section.config.code()
                ),
            ));
        }

        Ok(Config {
            path: path.to_owned(),
            acme,
            storage,
            propagation: raw.propagation,
            dns,
            certificates,
            daemon: raw.daemon,
            notify: raw.notify,
            network: raw.network,
            warnings,
        })
    }

    /// The `[[certificate]]` named `name`, for commands that take a certificate name.
    pub fn certificate(&self, name: &str) -> Option<&CertificateConfig> {
        self.certificates.iter().find(|c| c.name == name)
    }

    /// The DNS section a certificate uses (validated to exist at load time).
    pub fn dns_for(&self, cert: &CertificateConfig) -> Option<&DnsSection> {
        match &cert.dns {
            Some(name) => self.dns.get(name),
            None => self.dns.values().next(),
        }
    }

    /// Refuses, for an unattended `command` (`run`, `renew`), any of `certs` whose DNS
    /// adapter needs a person at the terminal (`provider = "manual"`): nobody would see the
    /// records to create, and the order would only burn the CA's rate limit.
    pub fn refuse_interactive<'a>(
        &self,
        certs: impl IntoIterator<Item = &'a CertificateConfig>,
        command: &str,
    ) -> Result<(), ConfigError> {
        for cert in certs {
            if cert.source != Source::Acme {
                continue;
            }
            let Some(section) = self.dns_for(cert) else { continue };
            let interactive =
                crate::dns::provider::find(section.config.code()).is_some_and(|builtin| builtin.interactive);
            if interactive {
                return Err(ConfigError::Invalid {
                    path: self.path.clone(),
                    line: None,
                    key: format!("certificate \"{}\".dns", cert.name),
                    message: format!(
                        "[dns.{}] uses provider = \"{}\", where a person creates the TXT records, and `wildcert {command}` runs unattended: get this certificate with `wildcert issue {}` at a terminal, or give [dns.{}] an adapter that writes the records itself (`wildcert providers` lists them)",
                        section.name,
                        section.config.code(),
                        cert.name,
                        section.name
                    ),
                });
            }
        }
        Ok(())
    }

    /// The certificates a command acts on: one by name, or all.
    pub fn select(&self, name: Option<&str>) -> Result<Vec<&CertificateConfig>, ConfigError> {
        match name {
            Some(name) => self.certificate(name).map(|c| vec![c]).ok_or_else(|| ConfigError::Invalid {
                path: self.path.clone(),
                line: None,
                key: "certificate".into(),
                message: format!(
                    "no [[certificate]] named `{name}`; configured: {}",
                    list_or_none(self.certificates.iter().map(|c| &c.name))
                ),
            }),
            None => Ok(self.certificates.iter().collect()),
        }
    }
}

fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod network_tests {
    use super::*;

    #[test]
    fn network_proxy_is_validated_and_its_credentials_never_debug_printed() {
        let base = "[storage]\nlocal_dir = \"/tmp/l\"\nstate_dir = \"/tmp/s\"\n";
        let text = format!(
            "{base}[network]\nproxy = \"http://u:hunter2@proxy.corp:3128\"\nno_proxy = [\"localhost\"]\n"
        );
        let config = Config::parse(Path::new("t.toml"), &text).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(format!("{:?}", config.network).contains("http://proxy.corp:3128"));
        assert!(config.warnings.iter().any(|w| w.contains("credentials inline")), "{:?}", config.warnings);
        let bad = format!("{base}[network]\nproxy = \"socks5://proxy:1080\"\n");
        let err = Config::parse(Path::new("t.toml"), &bad).unwrap_err().to_string();
        assert!(err.contains("network.proxy") && err.contains("socks5"), "{err}");
        let unknown = format!("{base}[network]\nproxxy = \"http://p:1\"\n");
        assert!(Config::parse(Path::new("t.toml"), &unknown).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[acme]
directory = "https://127.0.0.1:14000/dir"
contact = ["mailto:admin@gradient.example.com"]

[storage]
local_dir = "/tmp/live"
state_dir = "/tmp/state"

[dns.office]
provider = "rfc2136"
nameserver = "127.0.0.1:5353"
tsig_key = "wildcert."
tsig_algorithm = "hmac-sha256"
tsig_secret_env = "TSIG_SECRET"

[[certificate]]
name = "gradient"
domains = ["*.gradient.example.com", "gradient.example.com"]
dns = "office"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("wildcert.toml"), text)
    }

    #[test]
    fn minimal_config_parses() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.certificates[0].key_type, KeyType::Ec256);
        assert_eq!(c.storage.keep_versions, 5);
        assert!(c.propagation.check);
        assert!(c.dns_for(&c.certificates[0]).is_some());
    }

    /// A manual certificate is fine for `issue` and refused by the unattended commands, with
    /// the file, the certificate and the way out; its propagation check cannot be off.
    #[test]
    fn manual_dns_is_for_issue_only() {
        let manual = MINIMAL.replace(
            "provider = \"rfc2136\"\nnameserver = \"127.0.0.1:5353\"\ntsig_key = \"wildcert.\"\ntsig_algorithm = \"hmac-sha256\"\ntsig_secret_env = \"TSIG_SECRET\"",
            "provider = \"manual\"\ndeadline = \"5m\"",
        );
        let c = parse(&manual).unwrap();
        let err = c.refuse_interactive(&c.certificates, "run").unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }));
        let text = err.to_string();
        assert!(
            text.starts_with(
                "wildcert.toml: certificate \"gradient\".dns: [dns.office] uses provider = \"manual\""
            ),
            "{text}"
        );
        assert!(
            text.contains("`wildcert run` runs unattended") && text.contains("`wildcert issue gradient`"),
            "{text}"
        );
        let rfc2136 = parse(MINIMAL).unwrap();
        assert!(rfc2136.refuse_interactive(&rfc2136.certificates, "renew").is_ok());
        let off = format!("{manual}\n[propagation]\ncheck = false\n");
        let err = parse(&off).unwrap_err().to_string();
        assert!(err.contains("propagation.check") && err.contains("[dns.office]"), "{err}");
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = MINIMAL.replace("local_dir = \"/tmp/live\"", "local_dri = \"/tmp/live\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("wildcert.toml:7:"), "{err}");
        assert!(err.contains("local_dri"), "{err}");
    }

    #[test]
    fn unknown_dns_key_is_rejected() {
        let text = MINIMAL.replace("tsig_key = ", "tsig_kee = ");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("dns.office"), "{err}");
        assert!(err.contains("tsig_kee"), "{err}");
    }

    #[test]
    fn certificate_pointing_at_missing_dns() {
        let text = MINIMAL.replace("dns = \"office\"", "dns = \"cloud\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("no [dns.cloud] table; defined: office"), "{err}");
        assert!(err.starts_with("wildcert.toml:17"), "{err}");
    }

    #[test]
    fn bad_duration_is_explained() {
        let text = MINIMAL.replace("[dns.office]", "[propagation]\ntimeout = \"30\"\n\n[dns.office]");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("no unit"), "{err}");
    }

    #[test]
    fn files_source_needs_both_files() {
        let text = MINIMAL.replace("dns = \"office\"", "source = \"files\"\nkey_file = \"k.pem\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("needs key_file and bundle_file"), "{err}");
    }

    #[test]
    fn storage_bucket_settings_are_checked() {
        let with = |extra: &str| {
            parse(
                &MINIMAL
                    .replace("state_dir = \"/tmp/state\"", &format!("state_dir = \"/tmp/state\"\n{extra}")),
            )
        };
        let c =
            with("bucket = \"b\"\naccess_key_id = \"AK\"\nsecret_access_key_env = \"S3_SECRET\"").unwrap();
        assert_eq!(c.storage.request_timeout, Duration::from_secs(30));
        assert!(c.storage.secret_keys().is_set());

        let err = with("bucket = \"b\"\naccess_key_id = \"AK\"").unwrap_err().to_string();
        assert!(err.contains("storage.secret_access_key_file"), "{err}");
        let err = with("bucket = \"b\"\nsecret_access_key_env = \"S3_SECRET\"").unwrap_err().to_string();
        assert!(err.contains("without access_key_id"), "{err}");
        let err = with("bucket = \"b\"\nshared_dir = \"/mnt/certs\"").unwrap_err().to_string();
        assert!(err.contains("either bucket or shared_dir"), "{err}");
        let c = with("shared_dir = \"/mnt/certs\"\nrequest_timeout = \"5s\"").unwrap();
        assert_eq!(c.storage.request_timeout, Duration::from_secs(5));
    }

    #[test]
    fn plain_http_storage_endpoint_needs_loopback_or_allow_http() {
        let with = |extra: &str| {
            parse(&MINIMAL.replace(
                "state_dir = \"/tmp/state\"",
                &format!("state_dir = \"/tmp/state\"\nbucket = \"b\"\n{extra}"),
            ))
        };
        assert!(with("endpoint = \"http://127.0.0.1:9000\"").is_ok());
        assert!(with("endpoint = \"https://minio.internal:9000\"").is_ok());
        let err = with("endpoint = \"http://minio.internal:9000\"").unwrap_err().to_string();
        assert!(err.starts_with("wildcert.toml: storage.endpoint:"), "{err}");
        assert!(err.contains("allow_http = true"), "{err}");
        assert!(with("endpoint = \"http://minio.internal:9000\"\nallow_http = true").is_ok());
    }

    #[test]
    fn live_group_must_exist() {
        let with = |group: &str| {
            parse(&MINIMAL.replace(
                "state_dir = \"/tmp/state\"",
                &format!("state_dir = \"/tmp/state\"\nlive_group = \"{group}\""),
            ))
        };
        let c = with("root").unwrap();
        assert_eq!(c.storage.live_gid, Some(0));
        let err = with("no-such-group-wildcert").unwrap_err().to_string();
        assert!(err.contains("storage.live_group") && err.contains("no-such-group-wildcert"), "{err}");
    }

    #[test]
    fn notify_table() {
        let c = parse(MINIMAL).unwrap();
        assert!(!c.notify.is_enabled());
        assert_eq!(c.notify.warn_before, Duration::from_secs(14 * 86_400));
        let text = format!(
            "{MINIMAL}\n[notify]\nwarn_before = \"7d\"\non_renewed = true\ncommand = \"logger\"\n[[notify.webhook]]\nurl_file = \"/etc/wildcert/slack.url\"\nformat = \"slack\"\n[[notify.webhook]]\nurl = \"http://127.0.0.1:8080/hook\"\n"
        );
        let c = parse(&text).unwrap();
        assert!(c.notify.is_enabled() && c.notify.on_renewed);
        assert_eq!(c.notify.webhooks.len(), 2);
        assert_eq!(c.notify.webhooks[0].format, WebhookFormat::Slack);
        assert_eq!(c.notify.warn_before, Duration::from_secs(7 * 86_400));
        let err =
            parse(&text.replace("http://127.0.0.1:8080", "http://alerts.example")).unwrap_err().to_string();
        assert!(err.contains("notify.webhook[1].url") && err.contains("allow_http"), "{err}");
        assert!(!err.contains("/hook"), "{err}");
        let err = parse(&format!("{MINIMAL}\n[notify]\n[[notify.webhook]]\nformat = \"json\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("notify.webhook[0].url"), "{err}");
        let err = parse(&format!("{MINIMAL}\n[notify]\nwebhooks = []\n")).unwrap_err().to_string();
        assert!(err.contains("webhooks"), "{err}");
    }

    #[test]
    fn directory_names_expand() {
        assert!(directory_url("letsencrypt-staging").contains("staging"));
        assert_eq!(directory_url("https://x/dir"), "https://x/dir");
        let text = MINIMAL.replace("https://127.0.0.1:14000/dir", "letsencrpyt");
        assert!(parse(&text).unwrap_err().to_string().contains("acme.directory"));
        assert!(parse(&MINIMAL.replace("https://127.0.0.1:14000/dir", "http://127.0.0.1:14000/dir")).is_ok());
        let text = MINIMAL.replace("https://127.0.0.1:14000/dir", "http://ca.internal/dir");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("acme.directory") && err.contains("allow_http"), "{err}");
        assert!(parse(&text.replace("[acme]\n", "[acme]\nallow_http = true\n")).is_ok());
    }
}
