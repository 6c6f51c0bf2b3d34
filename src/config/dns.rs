//! `[dns.NAME]` tables: which adapter writes the challenge TXT records, with its settings.
//!
//! A table names its adapter with `provider = "<code>"`. Operators coming from the Gradient
//! installer may keep their provider code and write the provider's environment variable
//! names in a `settings = { ... }` table; those names are translated to the adapter's keys
//! (see `provider_codes`). Codes without a built-in adapter are refused with a message that
//! names the `exec` and `httpreq` bridges.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::IntoDeserializer;
use serde::{Deserialize, Deserializer};

use super::duration;
use super::provider_codes::{self, Adapter, Kind, ProviderCode, Target};
use super::secret::SecretKeys;
use wildcert_dns_api::Secret;

/// One `[dns.NAME]` table, parsed.
#[derive(Debug, Clone)]
pub struct DnsSection {
    pub name: String,
    /// The provider code as written (`rfc2136`, `route53`, ...).
    pub code: String,
    pub adapter: DnsAdapterConfig,
}

/// The settings of each built-in adapter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DnsAdapterConfig {
    Rfc2136(Rfc2136Config),
    Route53(Route53Config),
    Pdns(PdnsConfig),
    Cloudflare(CloudflareConfig),
    Exec(ExecConfig),
    Httpreq(HttpreqConfig),
}

/// `provider = "rfc2136"`: dynamic updates signed with TSIG.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rfc2136Config {
    /// The primary server that accepts updates, `host:port` (port 53 when omitted).
    pub nameserver: String,
    /// TSIG key name, e.g. `wildcert.` (as in the server's `key "wildcert." { ... }`).
    pub tsig_key: String,
    /// `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`; a trailing dot is accepted.
    #[serde(default = "default_tsig_algorithm")]
    pub tsig_algorithm: String,
    /// The key's base64 secret, inline (discouraged) ...
    pub tsig_secret: Option<Secret>,
    /// ... or from a file ...
    pub tsig_secret_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub tsig_secret_env: Option<String>,
    /// The zone to update; found through SOA discovery when absent.
    pub zone: Option<String>,
    /// Timeout of one update or query.
    #[serde(default = "default_dns_timeout", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
}

impl Rfc2136Config {
    pub fn tsig_secret_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.tsig_secret.clone(),
            file: self.tsig_secret_file.clone(),
            env: self.tsig_secret_env.clone(),
        }
    }
}

/// `provider = "route53"`: AWS Route53 through its API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Config {
    /// Signing region; Route53 is global, so only other partitions (China, GovCloud) need
    /// it. Default: `AWS_REGION` from the environment, else us-east-1.
    pub region: Option<String>,
    /// The hosted zone to change (`Z0123...`); without it, the public hosted zone whose name
    /// is the longest suffix of the record name.
    pub hosted_zone_id: Option<String>,
    /// A named profile from `~/.aws/config` / `~/.aws/credentials`.
    pub profile: Option<String>,
    /// Static credentials: the access key ID (with one of the `secret_access_key` keys).
    /// Without them the standard AWS chain is used (environment, profile, web identity, ECS
    /// task role, EC2 instance profile).
    pub access_key_id: Option<String>,
    /// The secret access key, inline (discouraged) ...
    pub secret_access_key: Option<Secret>,
    /// ... or from a file ...
    pub secret_access_key_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub secret_access_key_env: Option<String>,
    /// Session token of temporary static credentials, inline ...
    pub session_token: Option<Secret>,
    /// ... or from a file ...
    pub session_token_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub session_token_env: Option<String>,
    /// A Route53-compatible endpoint instead of AWS's, e.g. `http://127.0.0.1:5000`.
    pub endpoint: Option<String>,
    /// How long to wait for a change to become INSYNC.
    #[serde(default = "default_change_timeout", deserialize_with = "duration::deserialize")]
    pub change_timeout: Duration,
    /// Timeout of one API request.
    #[serde(default = "default_http_timeout", deserialize_with = "duration::deserialize")]
    pub request_timeout: Duration,
    /// Retries of a throttled or failed API call, with exponential backoff (lego's
    /// `AWS_MAX_RETRIES`).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

impl Route53Config {
    pub fn secret_access_key_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.secret_access_key.clone(),
            file: self.secret_access_key_file.clone(),
            env: self.secret_access_key_env.clone(),
        }
    }

    pub fn session_token_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.session_token.clone(),
            file: self.session_token_file.clone(),
            env: self.session_token_env.clone(),
        }
    }
}

/// `provider = "pdns"`: the PowerDNS Authoritative HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdnsConfig {
    /// The API's base URL (PowerDNS's webserver), e.g. `http://10.0.0.53:8081`.
    pub api_url: String,
    /// The server's `api-key`, inline (discouraged) ...
    pub api_key: Option<Secret>,
    /// ... or from a file ...
    pub api_key_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub api_key_env: Option<String>,
    /// Server ID in API paths; `localhost` for PowerDNS Authoritative.
    #[serde(default = "default_pdns_server_id")]
    pub server_id: String,
    /// The zone to change; without it the discovered zone, else the longest suffix of the
    /// record name that the server hosts.
    pub zone: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_http_timeout", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// PEM file with extra CA certificates to trust for an https:// API.
    pub ca_certificates: Option<PathBuf>,
}

impl PdnsConfig {
    pub fn api_key_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.api_key.clone(),
            file: self.api_key_file.clone(),
            env: self.api_key_env.clone(),
        }
    }
}

/// `provider = "cloudflare"`: the Cloudflare API v4. Either an API token (`api_token`, with
/// an optional `zone_api_token` for the zone lookup) or the legacy global key (`email` and
/// `api_key`), not both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareConfig {
    /// An API token with Zone:DNS:Edit on the zone (and Zone:Zone:Read, unless
    /// `zone_api_token` or `zone_id` is set), inline (discouraged) ...
    pub api_token: Option<Secret>,
    /// ... or from a file ...
    pub api_token_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub api_token_env: Option<String>,
    /// A second API token with Zone:Zone:Read, used only to find the zone, inline ...
    pub zone_api_token: Option<Secret>,
    /// ... or from a file ...
    pub zone_api_token_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub zone_api_token_env: Option<String>,
    /// The account's email, for the global API key.
    pub email: Option<String>,
    /// The account's Global API Key (it can change everything in the account; prefer a
    /// token), inline ...
    pub api_key: Option<Secret>,
    /// ... or from a file ...
    pub api_key_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub api_key_env: Option<String>,
    /// The zone's ID (the zone's Overview page); without it the zone is found by name.
    pub zone_id: Option<String>,
    /// Base URL of the API.
    #[serde(default = "default_cloudflare_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_http_timeout", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
}

impl CloudflareConfig {
    pub fn api_token_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.api_token.clone(),
            file: self.api_token_file.clone(),
            env: self.api_token_env.clone(),
        }
    }

    pub fn zone_api_token_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.zone_api_token.clone(),
            file: self.zone_api_token_file.clone(),
            env: self.zone_api_token_env.clone(),
        }
    }

    pub fn api_key_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.api_key.clone(),
            file: self.api_key_file.clone(),
            env: self.api_key_env.clone(),
        }
    }
}

/// lego's `EXEC_MODE` / `HTTPREQ_MODE`: what the script or endpoint is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HookMode {
    /// The record: FQDN and TXT value.
    #[default]
    Default,
    /// The ACME challenge: domain, token and key authorization.
    Raw,
}

impl<'de> Deserialize<'de> for HookMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HookMode, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "default" => Ok(HookMode::Default),
            "raw" => Ok(HookMode::Raw),
            _ => Err(serde::de::Error::custom(format!(
                "mode `{text}` is not known; use \"RAW\" (domain, token, key authorization) or leave mode out (FQDN and value)"
            ))),
        }
    }
}

/// `provider = "exec"`: a program adds and removes the record (lego's contract:
/// `PROGRAM present|cleanup FQDN VALUE`, or `PROGRAM present|cleanup -- DOMAIN TOKEN KEY_AUTH`
/// in RAW mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// The program: a path, or a name looked up in `PATH`.
    pub program: PathBuf,
    /// `"RAW"` for lego's raw mode; default: FQDN and value.
    #[serde(default)]
    pub mode: HookMode,
    /// How long one run may take before it and every process it started are killed.
    #[serde(default = "default_exec_timeout", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
}

/// `provider = "httpreq"`: an HTTP endpoint adds and removes the record (lego's contract:
/// POST `<endpoint>/present` and `/cleanup` with `{"fqdn", "value"}`, or
/// `{"domain", "token", "keyAuth"}` in RAW mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpreqConfig {
    /// Base URL; `/present` and `/cleanup` are appended to its path.
    pub endpoint: String,
    /// `"RAW"` for lego's raw mode; default: FQDN and value.
    #[serde(default)]
    pub mode: HookMode,
    /// User for HTTP basic authentication (with a password).
    pub username: Option<String>,
    /// The basic-authentication password, inline (discouraged) ...
    pub password: Option<Secret>,
    /// ... or from a file ...
    pub password_file: Option<PathBuf>,
    /// ... or from an environment variable of this name.
    pub password_env: Option<String>,
    /// Timeout of one request.
    #[serde(default = "default_http_timeout", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// PEM file with extra CA certificates to trust for an https:// endpoint.
    pub ca_certificates: Option<PathBuf>,
}

impl HttpreqConfig {
    pub fn password_keys(&self) -> SecretKeys {
        SecretKeys {
            inline: self.password.clone(),
            file: self.password_file.clone(),
            env: self.password_env.clone(),
        }
    }
}

impl DnsAdapterConfig {
    pub fn adapter(&self) -> Adapter {
        match self {
            DnsAdapterConfig::Rfc2136(_) => Adapter::Rfc2136,
            DnsAdapterConfig::Route53(_) => Adapter::Route53,
            DnsAdapterConfig::Pdns(_) => Adapter::Pdns,
            DnsAdapterConfig::Cloudflare(_) => Adapter::Cloudflare,
            DnsAdapterConfig::Exec(_) => Adapter::Exec,
            DnsAdapterConfig::Httpreq(_) => Adapter::Httpreq,
        }
    }

    /// The secrets this adapter will read, by setting name: for `config check`.
    pub fn secrets(&self) -> Vec<(&'static str, SecretKeys)> {
        match self {
            DnsAdapterConfig::Rfc2136(cfg) => vec![("tsig_secret", cfg.tsig_secret_keys())],
            DnsAdapterConfig::Route53(cfg) => [
                ("secret_access_key", cfg.secret_access_key_keys()),
                ("session_token", cfg.session_token_keys()),
            ]
            .into_iter()
            .filter(|(_, keys)| keys.is_set())
            .collect(),
            DnsAdapterConfig::Pdns(cfg) => vec![("api_key", cfg.api_key_keys())],
            DnsAdapterConfig::Cloudflare(cfg) => [
                ("api_token", cfg.api_token_keys()),
                ("zone_api_token", cfg.zone_api_token_keys()),
                ("api_key", cfg.api_key_keys()),
            ]
            .into_iter()
            .filter(|(_, keys)| keys.is_set())
            .collect(),
            DnsAdapterConfig::Exec(_) => Vec::new(),
            DnsAdapterConfig::Httpreq(cfg) => Some(("password", cfg.password_keys()))
                .into_iter()
                .filter(|(_, keys)| keys.is_set())
                .collect(),
        }
    }
}

fn default_tsig_algorithm() -> String {
    "hmac-sha256".into()
}

fn default_dns_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_http_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_change_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_exec_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_max_retries() -> u32 {
    5
}

fn default_pdns_server_id() -> String {
    "localhost".into()
}

fn default_cloudflare_api_url() -> String {
    wildcert_dns_cloudflare::DEFAULT_API_URL.into()
}

impl DnsSection {
    /// Parses one `[dns.NAME]` table. Errors are `(key, message)`; the caller adds the file
    /// and line.
    pub fn from_table(
        name: String,
        mut table: toml::Table,
        warnings: &mut Vec<String>,
    ) -> Result<DnsSection, (String, String)> {
        let code = match table.remove("provider") {
            Some(toml::Value::String(code)) => code,
            Some(_) => return Err(("provider".into(), "must be a string such as \"rfc2136\"".into())),
            None => {
                return Err((
                    "provider".into(),
                    "missing; say which adapter writes the TXT records, e.g. provider = \"rfc2136\"".into(),
                ));
            }
        };
        let entry = provider_codes::lookup(&code).ok_or_else(|| {
            (
                "provider".to_string(),
                format!(
                    "unknown provider code `{code}` (`wildcert providers` lists the codes wildcert knows); built in: {}. Any DNS API can be driven through provider = \"exec\" (a script) or \"httpreq\" (an HTTP endpoint)",
                    provider_codes::built_in_codes().join(", ")
                ),
            )
        })?;
        let Some(adapter) = entry.adapter else {
            return Err(("provider".into(), provider_codes::refusal(entry, &code)));
        };
        if !adapter.compiled_in() {
            return Err((
                "provider".into(),
                format!(
                    "this wildcert was built without the `{0}` cargo feature; rebuild with `--features {0}`, or drive the provider through provider = \"exec\" or \"httpreq\"",
                    adapter.code()
                ),
            ));
        }
        // Belongs to the section, whatever the adapter: accept plain http:// to another host.
        let allow_http = match table.remove("allow_http") {
            None => false,
            Some(toml::Value::Boolean(b)) => b,
            Some(_) => return Err(("allow_http".into(), "must be true or false".into())),
        };
        let check_endpoint = |url: &str, key: &str| -> Result<(), (String, String)> {
            check_url(url).map_err(|m| (key.to_string(), m))?;
            crate::config::transport::check(url, allow_http, &format!("dns.{name}.{key}"))
                .map_err(|m| (key.to_string(), m))
        };
        let mut from_settings = Vec::new();
        if let Some(settings) = table.remove("settings") {
            let toml::Value::Table(settings) = settings else {
                return Err((
                    "settings".into(),
                    "must be a table: settings = { ENV_NAME = \"value\" }".into(),
                ));
            };
            from_settings = translate_settings(&name, entry, settings, &mut table, warnings)?;
        }
        let inline = |warnings: &mut Vec<String>, key: &str| {
            let warning = match from_settings.iter().find(|(k, _)| k == key) {
                Some((_, env)) => format!(
                    "dns.{name}.settings.{env} holds a secret inline; prefer {env}_FILE = \"/path\" (mode 0600)"
                ),
                None => format!("dns.{name}.{key} is inline; prefer {key}_file or {key}_env"),
            };
            warnings.push(warning);
        };
        let adapter = match adapter {
            Adapter::Rfc2136 => {
                let cfg: Rfc2136Config = deserialize(table)?;
                crate::dns::parse_server(&cfg.nameserver).map_err(|m| ("nameserver".to_string(), m))?;
                cfg.tsig_secret_keys()
                    .check_present("tsig_secret")
                    .map_err(|m| ("tsig_secret".to_string(), m))?;
                if cfg.tsig_secret.is_some() {
                    inline(warnings, "tsig_secret");
                }
                DnsAdapterConfig::Rfc2136(cfg)
            }
            Adapter::Route53 => {
                let cfg: Route53Config = deserialize(table)?;
                let secret = cfg.secret_access_key_keys();
                match (&cfg.access_key_id, secret.is_set()) {
                    (Some(_), _) => secret
                        .check_present("secret_access_key")
                        .map_err(|m| ("secret_access_key".to_string(), m))?,
                    (None, true) => {
                        return Err((
                            "access_key_id".into(),
                            "a secret access key without access_key_id; give both, or neither to use the AWS credential chain".into(),
                        ));
                    }
                    (None, false) => {}
                }
                let token = cfg.session_token_keys();
                if token.is_set() {
                    if cfg.access_key_id.is_none() {
                        return Err((
                            "session_token".into(),
                            "a session token belongs to static keys; set access_key_id and secret_access_key_file too".into(),
                        ));
                    }
                    token.check_present("session_token").map_err(|m| ("session_token".to_string(), m))?;
                }
                if cfg.access_key_id.is_some() && cfg.profile.is_some() {
                    return Err(("profile".into(), "set either static keys or profile, not both".into()));
                }
                if let Some(endpoint) = &cfg.endpoint {
                    check_endpoint(endpoint, "endpoint")?;
                }
                if cfg.max_retries > 20 {
                    return Err(("max_retries".into(), "at most 20 retries".into()));
                }
                if cfg.secret_access_key.is_some() {
                    inline(warnings, "secret_access_key");
                }
                if cfg.session_token.is_some() {
                    inline(warnings, "session_token");
                }
                DnsAdapterConfig::Route53(cfg)
            }
            Adapter::Pdns => {
                let cfg: PdnsConfig = deserialize(table)?;
                check_endpoint(&cfg.api_url, "api_url")?;
                cfg.api_key_keys().check_present("api_key").map_err(|m| ("api_key".to_string(), m))?;
                if cfg.server_id.is_empty() {
                    return Err((
                        "server_id".into(),
                        "empty; PowerDNS Authoritative uses \"localhost\"".into(),
                    ));
                }
                if cfg.api_key.is_some() {
                    inline(warnings, "api_key");
                }
                DnsAdapterConfig::Pdns(cfg)
            }
            Adapter::Cloudflare => {
                let cfg: CloudflareConfig = deserialize(table)?;
                let (token, zone_token, key) =
                    (cfg.api_token_keys(), cfg.zone_api_token_keys(), cfg.api_key_keys());
                match (token.is_set(), key.is_set()) {
                    (true, true) => {
                        return Err((
                            "api_key".into(),
                            "set either api_token (an API token) or email and api_key (the global API key), not both".into(),
                        ));
                    }
                    (false, false) if zone_token.is_set() => {
                        return Err((
                            "api_token".into(),
                            "zone_api_token only finds the zone; set api_token_file (a token with Zone:DNS:Edit) as well".into(),
                        ));
                    }
                    (false, false) => {
                        return Err((
                            "api_token".into(),
                            "missing credentials: set api_token_file (an API token with Zone:DNS:Edit; lego: CF_DNS_API_TOKEN), or email and api_key_file (the global API key; lego: CF_API_EMAIL, CF_API_KEY)".into(),
                        ));
                    }
                    (true, false) => {
                        token.check_present("api_token").map_err(|m| ("api_token".to_string(), m))?;
                        if zone_token.is_set() {
                            zone_token
                                .check_present("zone_api_token")
                                .map_err(|m| ("zone_api_token".to_string(), m))?;
                        }
                        // lego ignores the email when it falls back to tokens; so do we.
                        if cfg.email.is_some() {
                            warnings.push(format!(
                                "dns.{name}.email has no effect with an API token; it only goes with the global api_key"
                            ));
                        }
                    }
                    (false, true) => {
                        key.check_present("api_key").map_err(|m| ("api_key".to_string(), m))?;
                        if cfg.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
                            return Err((
                                "email".into(),
                                "the global api_key needs the email of its account (lego: CF_API_EMAIL)"
                                    .into(),
                            ));
                        }
                        if zone_token.is_set() {
                            return Err((
                                "zone_api_token".into(),
                                "belongs to API tokens; with the global api_key leave it out".into(),
                            ));
                        }
                    }
                }
                if let Some(id) = &cfg.zone_id
                    && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()))
                {
                    return Err((
                        "zone_id".into(),
                        format!(
                            "`{id}` is not a Cloudflare zone ID (32 hexadecimal characters on the zone's Overview page); leave zone_id out to find the zone by name"
                        ),
                    ));
                }
                check_endpoint(&cfg.api_url, "api_url")?;
                if cfg.timeout.is_zero() {
                    return Err(("timeout".into(), "must be longer than zero".into()));
                }
                for (key, inline_value) in [
                    ("api_token", cfg.api_token.is_some()),
                    ("zone_api_token", cfg.zone_api_token.is_some()),
                    ("api_key", cfg.api_key.is_some()),
                ] {
                    if inline_value {
                        inline(warnings, key);
                    }
                }
                if cfg.api_url.trim().starts_with("http://") {
                    warnings.push(format!(
                        "dns.{name}.api_url is plain http://: the credentials travel unencrypted; use https://"
                    ));
                }
                DnsAdapterConfig::Cloudflare(cfg)
            }
            Adapter::Exec => {
                let cfg: ExecConfig = deserialize(table)?;
                if cfg.program.as_os_str().is_empty() {
                    return Err(("program".into(), "empty; set the path of the script".into()));
                }
                if cfg.timeout.is_zero() {
                    return Err(("timeout".into(), "must be longer than zero".into()));
                }
                DnsAdapterConfig::Exec(cfg)
            }
            Adapter::Httpreq => {
                let cfg: HttpreqConfig = deserialize(table)?;
                check_endpoint(&cfg.endpoint, "endpoint")?;
                let password = cfg.password_keys();
                match (&cfg.username, password.is_set()) {
                    (Some(_), _) => {
                        password.check_present("password").map_err(|m| ("password".to_string(), m))?
                    }
                    (None, true) => {
                        return Err((
                            "username".into(),
                            "a password without username; give both or neither".into(),
                        ));
                    }
                    (None, false) => {}
                }
                if cfg.password.is_some() {
                    inline(warnings, "password");
                }
                if password.is_set() && cfg.endpoint.trim().starts_with("http://") {
                    warnings.push(format!(
                        "dns.{name}.endpoint is plain http://: the password travels unencrypted; use https://"
                    ));
                }
                DnsAdapterConfig::Httpreq(cfg)
            }
        };
        Ok(DnsSection { name, code, adapter })
    }
}

/// Moves `settings = { ENV_NAME = value }` entries to the adapter's keys in `table`.
/// Returns which keys came from which environment variable name, for messages.
fn translate_settings(
    name: &str,
    entry: &ProviderCode,
    settings: toml::Table,
    table: &mut toml::Table,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, (String, String)> {
    let mut translated = Vec::new();
    for (env_name, value) in settings {
        let at = || format!("settings.{env_name}");
        // lego reads `<NAME>_FILE` as "the value is in this file"; for secrets that is our
        // `<key>_file`.
        let (setting, from_file) = match entry.setting(&env_name) {
            Some(setting) => (setting, false),
            None => match env_name
                .strip_suffix("_FILE")
                .and_then(|base| entry.setting(base))
                .filter(|s| matches!(s.target, Target::Key(_, Kind::Secret)))
            {
                Some(setting) => (setting, true),
                None => {
                    let known: Vec<&str> = entry.settings.iter().map(|s| s.env).collect();
                    return Err((
                        at(),
                        format!("not a setting of provider {}; known: {}", entry.code, known.join(", ")),
                    ));
                }
            },
        };
        let (key, kind) = match setting.target {
            Target::Ignored(why) => {
                warnings.push(format!("dns.{name}.settings.{env_name} has no effect: {why}"));
                continue;
            }
            Target::Key(key, kind) => (if from_file { format!("{key}_file") } else { key.to_string() }, kind),
        };
        let value = convert(if from_file { Kind::Text } else { kind }, value).map_err(|m| (at(), m))?;
        if table.contains_key(&key) {
            return Err((at(), format!("given twice: as settings.{env_name} and as {key}")));
        }
        table.insert(key.clone(), value);
        translated.push((key, env_name));
    }
    Ok(translated)
}

/// An environment variable's value (a string, as lego reads them) in the form the key wants.
fn convert(kind: Kind, value: toml::Value) -> Result<toml::Value, String> {
    match (kind, value) {
        (Kind::Text | Kind::Secret, value @ toml::Value::String(_)) => Ok(value),
        (Kind::Seconds, toml::Value::Integer(n)) if n >= 0 => Ok(toml::Value::String(format!("{n}s"))),
        (Kind::Seconds, toml::Value::String(text)) => {
            let text = text.trim();
            if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
                Ok(toml::Value::String(format!("{text}s")))
            } else {
                Ok(toml::Value::String(text.to_string()))
            }
        }
        (Kind::Number, value @ toml::Value::Integer(_)) => Ok(value),
        (Kind::Number, toml::Value::String(text)) => text
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("`{text}` is not a whole number")),
        (Kind::Seconds, _) => Err("must be a number of seconds, e.g. \"60\"".into()),
        (Kind::Number, _) => Err("must be a whole number".into()),
        (Kind::Text | Kind::Secret, _) => Err("must be a string, e.g. NAME = \"value\"".into()),
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(format!("`{url}` must be an http:// or https:// URL with a host")),
    }
}

fn deserialize<T: for<'de> Deserialize<'de>>(table: toml::Table) -> Result<T, (String, String)> {
    T::deserialize(toml::Value::Table(table).into_deserializer()).map_err(|e| {
        let message = e.message().trim().to_string();
        let key = message
            .split('`')
            .nth(1)
            .filter(|_| message.starts_with("unknown field") || message.starts_with("missing field"))
            .unwrap_or("(table)")
            .to_string();
        (key, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Result<DnsSection, (String, String)> {
        section_warnings(text).map(|(s, _)| s)
    }

    fn section_warnings(text: &str) -> Result<(DnsSection, Vec<String>), (String, String)> {
        let table: toml::Table = toml::from_str(text).unwrap();
        let mut warnings = Vec::new();
        DnsSection::from_table("office".into(), table, &mut warnings).map(|s| (s, warnings))
    }

    #[test]
    fn installer_settings_are_translated() {
        let s = section(
            r#"provider = "rfc2136"
settings = { RFC2136_NAMESERVER = "10.0.0.53", RFC2136_TSIG_KEY = "k.", RFC2136_TSIG_SECRET = "c2VjcmV0", RFC2136_TSIG_ALGORITHM = "hmac-sha512.", RFC2136_TIMEOUT = "60" }"#,
        )
        .unwrap();
        let DnsAdapterConfig::Rfc2136(cfg) = s.adapter else { panic!("{:?}", s.adapter) };
        assert_eq!(cfg.nameserver, "10.0.0.53");
        assert_eq!(cfg.tsig_algorithm, "hmac-sha512.");
        assert_eq!(cfg.tsig_secret.unwrap().expose(), "c2VjcmV0");
        assert_eq!(cfg.timeout, Duration::from_secs(60));
    }

    #[cfg(feature = "route53")]
    #[test]
    fn installer_route53_settings_work_as_they_are() {
        let (s, warnings) = section_warnings(
            r#"provider = "route53"
settings = { AWS_ACCESS_KEY_ID = "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI", AWS_REGION = "eu-west-1", AWS_HOSTED_ZONE_ID = "Z0123456789", AWS_MAX_RETRIES = "3", AWS_PROPAGATION_TIMEOUT = "120" }"#,
        )
        .unwrap();
        assert_eq!(s.code, "route53");
        let DnsAdapterConfig::Route53(cfg) = s.adapter else { panic!("{:?}", s.adapter) };
        assert_eq!(cfg.access_key_id.as_deref(), Some("AKIAEXAMPLE"));
        assert_eq!(cfg.secret_access_key.as_ref().unwrap().expose(), "wJalrXUtnFEMI");
        assert_eq!(cfg.region.as_deref(), Some("eu-west-1"));
        assert_eq!(cfg.hosted_zone_id.as_deref(), Some("Z0123456789"));
        assert_eq!(cfg.max_retries, 3);
        assert!(warnings.iter().any(|w| w.contains("AWS_PROPAGATION_TIMEOUT has no effect")), "{warnings:?}");
        assert!(
            warnings.iter().any(|w| w.contains(
                "settings.AWS_SECRET_ACCESS_KEY holds a secret inline; prefer AWS_SECRET_ACCESS_KEY_FILE"
            )),
            "{warnings:?}"
        );
        assert!(!warnings.concat().contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn installer_settings_of_every_built_in_adapter() {
        let pdns = section(
            r#"provider = "pdns"
settings = { PDNS_API_URL = "http://10.0.0.53:8081", PDNS_API_KEY = "k", PDNS_HTTP_TIMEOUT = "15" }
allow_http = true"#,
        )
        .unwrap();
        let DnsAdapterConfig::Pdns(cfg) = pdns.adapter else { panic!() };
        assert_eq!((cfg.api_url.as_str(), cfg.server_id.as_str()), ("http://10.0.0.53:8081", "localhost"));
        assert_eq!(cfg.timeout, Duration::from_secs(15));

        let (cloudflare, warnings) = section_warnings(
            r#"provider = "cloudflare"
settings = { CF_DNS_API_TOKEN = "dns-token", CF_ZONE_API_TOKEN_FILE = "/etc/wildcert/cf-zone.token", CLOUDFLARE_HTTP_TIMEOUT = "20", CLOUDFLARE_TTL = "120" }"#,
        )
        .unwrap();
        let DnsAdapterConfig::Cloudflare(cfg) = cloudflare.adapter else { panic!() };
        assert_eq!(cfg.api_token.as_ref().unwrap().expose(), "dns-token");
        assert_eq!(cfg.zone_api_token_file, Some(PathBuf::from("/etc/wildcert/cf-zone.token")));
        assert_eq!(cfg.api_url, wildcert_dns_cloudflare::DEFAULT_API_URL);
        assert_eq!(cfg.timeout, Duration::from_secs(20));
        assert!(warnings.iter().any(|w| w.contains("CLOUDFLARE_TTL has no effect")), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("prefer CF_DNS_API_TOKEN_FILE")), "{warnings:?}");
        assert!(!warnings.concat().contains("dns-token"), "{warnings:?}");
        let global = section(
            r#"provider = "cloudflare"
settings = { CF_API_EMAIL = "ops@example.com", CF_API_KEY_FILE = "/etc/wildcert/cf-global.key" }"#,
        )
        .unwrap();
        let DnsAdapterConfig::Cloudflare(cfg) = global.adapter else { panic!() };
        assert_eq!(cfg.email.as_deref(), Some("ops@example.com"));
        assert_eq!(cfg.api_key_file, Some(PathBuf::from("/etc/wildcert/cf-global.key")));

        let exec = section(
            r#"provider = "exec"
settings = { EXEC_PATH = "/usr/local/bin/dns-hook", EXEC_MODE = "RAW" }"#,
        )
        .unwrap();
        let DnsAdapterConfig::Exec(cfg) = exec.adapter else { panic!() };
        assert_eq!((cfg.program, cfg.mode), (PathBuf::from("/usr/local/bin/dns-hook"), HookMode::Raw));

        let httpreq = section(
            r#"provider = "httpreq"
settings = { HTTPREQ_ENDPOINT = "https://hook.example/acme", HTTPREQ_USERNAME = "bob", HTTPREQ_PASSWORD_FILE = "/etc/wildcert/hook.pw" }"#,
        )
        .unwrap();
        let DnsAdapterConfig::Httpreq(cfg) = httpreq.adapter else { panic!() };
        assert_eq!(cfg.mode, HookMode::Default);
        assert_eq!(cfg.password_file, Some(PathBuf::from("/etc/wildcert/hook.pw")));
    }

    #[test]
    fn unknown_setting_lists_known_ones() {
        let (key, msg) = section("provider = \"rfc2136\"\nsettings = { RFC2136_PORT = \"53\" }").unwrap_err();
        assert_eq!(key, "settings.RFC2136_PORT");
        assert!(msg.contains("RFC2136_NAMESERVER"), "{msg}");
    }

    #[test]
    fn setting_given_twice_is_refused() {
        let (key, msg) = section(
            "provider = \"exec\"\nprogram = \"/bin/true\"\nsettings = { EXEC_PATH = \"/bin/false\" }",
        )
        .unwrap_err();
        assert_eq!(key, "settings.EXEC_PATH");
        assert!(msg.contains("given twice"), "{msg}");
    }

    #[test]
    fn missing_secret_says_how() {
        let (key, msg) =
            section("provider = \"rfc2136\"\nnameserver = \"127.0.0.1:53\"\ntsig_key = \"k.\"").unwrap_err();
        assert_eq!(key, "tsig_secret");
        assert!(msg.contains("tsig_secret_file"), "{msg}");
        let (key, msg) = section("provider = \"pdns\"\napi_url = \"http://127.0.0.1:8081\"").unwrap_err();
        assert_eq!(key, "api_key");
        assert!(msg.contains("api_key_file"), "{msg}");
    }

    #[cfg(feature = "route53")]
    #[test]
    fn route53_keys_come_in_pairs() {
        let (key, _) = section("provider = \"route53\"\naccess_key_id = \"AKIA\"").unwrap_err();
        assert_eq!(key, "secret_access_key");
        let (key, _) = section("provider = \"route53\"\nsecret_access_key_env = \"S\"").unwrap_err();
        assert_eq!(key, "access_key_id");
        // The credential chain: nothing to set.
        assert!(section("provider = \"route53\"").is_ok());
    }

    /// Exactly one way to authenticate, each complete; the messages name the keys to set.
    #[test]
    fn cloudflare_credentials_are_one_complete_method() {
        let refused = |text: &str| section(&format!("provider = \"cloudflare\"\n{text}")).unwrap_err();
        let (key, msg) = refused("");
        assert_eq!(key, "api_token");
        assert!(msg.contains("api_token_file") && msg.contains("email and api_key_file"), "{msg}");
        let (key, msg) = refused("api_token_env = \"T\"\nemail = \"ops@example.com\"\napi_key_env = \"K\"");
        assert_eq!(key, "api_key");
        assert!(msg.contains("not both"), "{msg}");
        let (key, _) = refused("api_key_env = \"K\"");
        assert_eq!(key, "email");
        let (key, _) =
            refused("email = \"ops@example.com\"\napi_key_env = \"K\"\nzone_api_token_env = \"Z\"");
        assert_eq!(key, "zone_api_token");
        let (key, msg) = refused("zone_api_token_env = \"Z\"");
        assert_eq!(key, "api_token");
        assert!(msg.contains("only finds the zone"), "{msg}");
        let (key, msg) = refused("api_token_env = \"T\"\napi_token_file = \"/t\"");
        assert_eq!(key, "api_token");
        assert!(msg.contains("only one"), "{msg}");
        let (key, _) = refused("api_token_env = \"T\"\nzone_id = \"example.com\"");
        assert_eq!(key, "zone_id");

        let (_, warnings) = section_warnings(
            "provider = \"cloudflare\"\napi_token_env = \"T\"\nemail = \"ops@example.com\"\nzone_id = \"023e105f4ecef8ad9ca31a8372d0c353\"",
        )
        .unwrap();
        assert!(warnings.iter().any(|w| w.contains("email has no effect")), "{warnings:?}");
        assert!(
            section("provider = \"cloudflare\"\nemail = \"ops@example.com\"\napi_key_file = \"/k\"").is_ok()
        );
    }

    #[test]
    fn httpreq_password_over_http_warns() {
        let (_, warnings) = section_warnings(
            "provider = \"httpreq\"\nendpoint = \"http://hook.example\"\nusername = \"u\"\npassword_env = \"P\"\nallow_http = true",
        )
        .unwrap();
        assert!(warnings.iter().any(|w| w.contains("unencrypted")), "{warnings:?}");
    }

    #[test]
    fn plain_http_refused_unless_loopback_or_allowed() {
        let (key, msg) =
            section("provider = \"httpreq\"\nendpoint = \"http://hook.example/present-token\"").unwrap_err();
        assert_eq!(key, "endpoint");
        assert!(msg.contains("allow_http = true") && msg.contains("dns.office.endpoint"), "{msg}");
        assert!(!msg.contains("present-token"), "{msg}");
        assert!(section("provider = \"httpreq\"\nendpoint = \"http://127.0.0.1:8080\"").is_ok());
        assert!(
            section("provider = \"httpreq\"\nendpoint = \"http://hook.example\"\nallow_http = true").is_ok()
        );
        let (key, _) =
            section("provider = \"pdns\"\napi_url = \"http://10.0.0.53:8081\"\napi_key_env = \"K\"")
                .unwrap_err();
        assert_eq!(key, "api_url");
        let (key, _) =
            section("provider = \"exec\"\nprogram = \"/bin/true\"\nallow_http = \"yes\"").unwrap_err();
        assert_eq!(key, "allow_http");
    }

    #[test]
    fn bad_mode_is_explained() {
        let (_, msg) = section("provider = \"exec\"\nprogram = \"/bin/true\"\nmode = \"RAWW\"").unwrap_err();
        assert!(msg.contains("RAW"), "{msg}");
    }

    #[test]
    fn unknown_code_names_the_bridges() {
        let (_, msg) = section("provider = \"nosuchdns\"").unwrap_err();
        assert!(msg.contains("exec") && msg.contains("httpreq"), "{msg}");
    }

    /// Every code of the installer's list either reaches its adapter or gets the documented
    /// refusal.
    #[test]
    fn every_installer_code_resolves() {
        let list = include_str!("dns-provider-codes.txt");
        let codes: Vec<&str> = list
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(codes.len(), 60);
        let minimal = |code: &str| match code {
            "rfc2136" => "nameserver = \"127.0.0.1:53\"\ntsig_key = \"k.\"\ntsig_secret_env = \"S\"",
            "route53" => "",
            "pdns" => "api_url = \"http://127.0.0.1:8081\"\napi_key_env = \"K\"",
            "cloudflare" => "api_token_env = \"T\"",
            "exec" => "program = \"/usr/local/bin/dns-hook\"",
            "httpreq" => "endpoint = \"https://hook.example\"",
            _ => "",
        };
        for code in codes {
            let entry = provider_codes::lookup(code).unwrap_or_else(|| panic!("{code} is not in the table"));
            let result = section(&format!("provider = \"{code}\"\n{}", minimal(code)));
            match entry.adapter {
                Some(adapter) if adapter.compiled_in() => {
                    let s = result.unwrap_or_else(|e| panic!("{code}: {e:?}"));
                    assert_eq!(s.adapter.adapter(), adapter);
                }
                Some(_) => assert!(result.unwrap_err().1.contains("cargo feature"), "{code}"),
                None => {
                    let (key, msg) = result.unwrap_err();
                    assert_eq!(key, "provider");
                    assert_eq!(msg, provider_codes::refusal(entry, code));
                    assert!(
                        msg.contains(code) && msg.contains("\"exec\"") && msg.contains("\"httpreq\""),
                        "{msg}"
                    );
                }
            }
        }
    }

    /// `Adapter::keys` (shown by `wildcert providers`) lists exactly the keys the config
    /// struct accepts, and every environment variable maps to one of them.
    #[test]
    fn adapter_key_lists_match_the_config_structs() {
        for entry in provider_codes::PROVIDER_CODES {
            let Some(adapter) = entry.adapter else { continue };
            let probe = || toml::from_str::<toml::Table>("no_such_key = 1").unwrap();
            let (_, msg) = match adapter {
                Adapter::Rfc2136 => deserialize::<Rfc2136Config>(probe()).map(|_| ()),
                Adapter::Route53 => deserialize::<Route53Config>(probe()).map(|_| ()),
                Adapter::Pdns => deserialize::<PdnsConfig>(probe()).map(|_| ()),
                Adapter::Cloudflare => deserialize::<CloudflareConfig>(probe()).map(|_| ()),
                Adapter::Exec => deserialize::<ExecConfig>(probe()).map(|_| ()),
                Adapter::Httpreq => deserialize::<HttpreqConfig>(probe()).map(|_| ()),
            }
            .unwrap_err();
            let expected = msg.split("expected one of").nth(1).unwrap_or_else(|| panic!("{msg}"));
            let mut accepted: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            let mut listed = adapter.keys().to_vec();
            accepted.sort_unstable();
            listed.sort_unstable();
            assert_eq!(listed, accepted, "{}", adapter.code());
            for setting in entry.settings {
                if let Target::Key(key, _) = setting.target {
                    assert!(adapter.keys().contains(&key), "{}: {key}", setting.env);
                }
            }
        }
    }

    #[test]
    fn later_names_are_refused_under_their_installer_code() {
        let (_, msg) = section("provider = \"edgedns\"").unwrap_err();
        assert!(msg.contains("installer code fastdns"), "{msg}");
    }
}
