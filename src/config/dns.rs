//! `[dns.NAME]` tables: which adapter writes the challenge TXT records, with its settings.
//!
//! A table names its adapter with `provider = "<code>"`. The adapter's crate declares its
//! settings (a serde struct), the lego environment variable names they accept and its checks
//! (`ProviderSpec`); this module is the one place that turns a TOML table into those
//! settings, the same way for every adapter:
//! - `settings = { ENV_NAME = "value" }` (the Gradient installer's lego variables) become the
//!   adapter's keys; lego's `NAME_FILE` form of a secret becomes `<key>_file`;
//! - each secret's spellings (`x`, `x_file`, `x_env`) become one `SecretSource`;
//! - unknown keys are refused with the list of known ones;
//! - URLs are judged by one [`check_url`].
//!
//! Codes without an adapter in this build are refused with the reason `provider_codes`
//! gives (closed, moved, not built in yet) and the `exec` and `httpreq` bridges.

use serde::Deserialize;
use serde::de::IntoDeserializer;
use wildcert_dns_api::spec::{Checks, Kind, ProviderSpec, SettingError, Target};

use super::provider_codes;
use super::secret::SecretKeys;
use crate::dns::provider::{Builtin, ProviderConfig};

/// One `[dns.NAME]` table, parsed and checked (secrets are read when the adapter is built).
#[derive(Debug, Clone)]
pub struct DnsSection {
    /// The NAME of `[dns.NAME]`, which a certificate's `dns = "NAME"` refers to.
    pub name: String,
    /// The provider code as written (`rfc2136`, `route53`, ...).
    pub code: String,
    /// The adapter's checked settings; building the adapter from them reads the secrets.
    pub config: ProviderConfig,
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
        let status = provider_codes::status(&code);
        let Some(builtin) = status.builtin() else {
            let refusal = provider_codes::refusal(&code, &status).unwrap_or_default();
            return Err(("provider".into(), refusal));
        };
        let written = code.trim().to_ascii_lowercase();
        if let Some(warning) = provider_codes::routed_warning(&name, &code, &status) {
            warnings.push(warning);
        } else if written != builtin.code
            && provider_codes::lookup(&written).is_none_or(|p| p.code != builtin.code)
        {
            // Another provider's code that this adapter serves (a retired API's code).
            warnings.push(format!(
                "dns.{name}.provider \"{written}\" is served by the {} adapter (provider = \"{}\")",
                builtin.name, builtin.code
            ));
        }
        // Belongs to the section, whatever the adapter: accept plain http:// to another host.
        let allow_http = match table.remove("allow_http") {
            None => false,
            Some(toml::Value::Boolean(b)) => b,
            Some(_) => return Err(("allow_http".into(), "must be true or false".into())),
        };
        let mut from_settings = Vec::new();
        if let Some(settings) = table.remove("settings") {
            let toml::Value::Table(settings) = settings else {
                return Err((
                    "settings".into(),
                    "must be a table: settings = { ENV_NAME = \"value\" }".into(),
                ));
            };
            from_settings = translate_settings(&name, builtin, settings, &mut table, warnings)?;
        }
        let known = builtin.keys();
        if let Some(unknown) = table.keys().find(|k| !known.contains(k)) {
            return Err((
                unknown.clone(),
                format!("unknown key `{unknown}` for provider {}; known: {}", builtin.code, known.join(", ")),
            ));
        }
        for key in builtin.secrets {
            let keys = take_secret(&mut table, key).map_err(|m| (key.to_string(), m))?;
            let inline = keys.inline.is_some();
            if let Some(source) = keys.source(key).map_err(|m| (key.to_string(), m))? {
                let value = toml::Value::try_from(SourceValue::from(source))
                    .map_err(|e| (key.to_string(), e.to_string()))?;
                table.insert(key.to_string(), value);
            }
            if inline {
                warnings.push(match from_settings.iter().find(|(k, _)| k == key) {
                    Some((_, env)) => format!(
                        "dns.{name}.settings.{env} holds a secret inline; prefer {env}_FILE = \"/path\" (mode 0600)"
                    ),
                    None => format!("dns.{name}.{key} is inline; prefer {key}_file or {key}_env"),
                });
            }
        }
        let mut checks = SectionChecks { name: &name, warnings, allow_http };
        let config = (builtin.parse)(table, &mut checks).map_err(|e| (e.key, e.message))?;
        Ok(DnsSection { name, code, config })
    }
}

/// A secret's three spellings, removed from the table. A value of the wrong type is refused.
fn take_secret(table: &mut toml::Table, key: &str) -> Result<SecretKeys, String> {
    let mut text = |suffix: &str| match table.remove(&format!("{key}{suffix}")) {
        None => Ok(None),
        Some(toml::Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("{key}{suffix} must be a string")),
    };
    Ok(SecretKeys {
        inline: text("")?.map(wildcert_dns_api::Secret::new),
        file: text("_file")?.map(Into::into),
        env: text("_env")?,
    })
}

/// `SecretSource` as a TOML value, for the adapter's serde struct.
#[derive(serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum SourceValue {
    Inline(String),
    File(std::path::PathBuf),
    Env(String),
}

impl From<wildcert_dns_api::spec::SecretSource> for SourceValue {
    fn from(source: wildcert_dns_api::spec::SecretSource) -> SourceValue {
        use wildcert_dns_api::spec::SecretSource;
        match source {
            SecretSource::Inline(secret) => SourceValue::Inline(secret.expose().to_string()),
            SecretSource::File(path) => SourceValue::File(path),
            SecretSource::Env(var) => SourceValue::Env(var),
        }
    }
}

/// What the adapters' checks may ask of the configuration.
struct SectionChecks<'a> {
    name: &'a str,
    warnings: &'a mut Vec<String>,
    /// `allow_http = true` in the table: plain http:// to a host other than this one.
    allow_http: bool,
}

impl Checks for SectionChecks<'_> {
    fn url(&mut self, key: &str, url: &str) -> Result<(), SettingError> {
        check_url(url).map_err(|m| SettingError::new(key, m))?;
        crate::config::transport::check(url, self.allow_http, &format!("dns.{}.{key}", self.name))
            .map_err(|m| SettingError::new(key, m))
    }

    fn warn(&mut self, key: &str, message: &str) {
        self.warnings.push(format!("dns.{}.{key} {message}", self.name));
    }
}

/// Deserializes a normalized table into adapter `T`'s settings and runs its checks: called
/// through the registry for every `[dns.NAME]` table.
pub fn parse_settings<T: ProviderSpec>(
    table: toml::Table,
    checks: &mut dyn Checks,
) -> Result<T::Config, SettingError> {
    let config: T::Config =
        T::Config::deserialize(toml::Value::Table(table).into_deserializer()).map_err(|e| {
            let message = e.message().trim().to_string();
            let key = message
                .split('`')
                .nth(1)
                .filter(|_| message.starts_with("missing field"))
                .unwrap_or("(table)")
                .to_string();
            SettingError { key, message }
        })?;
    T::check(&config, checks)?;
    Ok(config)
}

/// Moves `settings = { ENV_NAME = value }` entries to the adapter's keys in `table`.
/// Returns which keys came from which environment variable name, for messages.
fn translate_settings(
    name: &str,
    builtin: &Builtin,
    settings: toml::Table,
    table: &mut toml::Table,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, (String, String)> {
    let mut translated = Vec::new();
    for (env_name, value) in settings {
        let at = || format!("settings.{env_name}");
        let Some((target, from_file)) = builtin.env_target(&env_name) else {
            let known: Vec<&str> = builtin.env.iter().map(|s| s.env).collect();
            return Err((
                at(),
                format!("not a setting of provider {}; known: {}", builtin.code, known.join(", ")),
            ));
        };
        let (key, kind) = match target {
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
        (Kind::Bool, value @ toml::Value::Boolean(_)) => Ok(value),
        (Kind::Bool, toml::Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("`{text}` is not true or false")),
        },
        (Kind::Seconds, _) => Err("must be a number of seconds, e.g. \"60\"".into()),
        (Kind::Number, _) => Err("must be a whole number".into()),
        (Kind::Bool, _) => Err("must be true or false".into()),
        (Kind::Text | Kind::Secret, _) => Err("must be a string, e.g. NAME = \"value\"".into()),
    }
}

/// The one judgement of every URL setting of every DNS adapter (API base URLs, hook
/// endpoints, token endpoints).
pub fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(format!("`{url}` must be an http:// or https:// URL with a host")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;
    use wildcert_dns_api::LegoMode as HookMode;
    use wildcert_dns_api::spec::SecretSource;

    fn inline(source: &Option<SecretSource>) -> &str {
        match source {
            Some(SecretSource::Inline(secret)) => secret.expose(),
            other => panic!("{other:?}"),
        }
    }

    fn file(source: &Option<SecretSource>) -> Option<PathBuf> {
        match source {
            Some(SecretSource::File(path)) => Some(path.clone()),
            _ => None,
        }
    }

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
        let ProviderConfig::Rfc2136(cfg) = s.config else { panic!("{:?}", s.config) };
        assert_eq!(cfg.nameserver, "10.0.0.53");
        assert_eq!(cfg.tsig_algorithm, "hmac-sha512.");
        assert_eq!(inline(&cfg.tsig_secret), "c2VjcmV0");
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
        let ProviderConfig::Route53(cfg) = s.config else { panic!("{:?}", s.config) };
        assert_eq!(cfg.access_key_id.as_deref(), Some("AKIAEXAMPLE"));
        assert_eq!(inline(&cfg.secret_access_key), "wJalrXUtnFEMI");
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
        let ProviderConfig::Pdns(cfg) = pdns.config else { panic!() };
        assert_eq!((cfg.api_url.as_str(), cfg.server_id.as_str()), ("http://10.0.0.53:8081", "localhost"));
        assert_eq!(cfg.timeout, Duration::from_secs(15));

        let (cloudflare, warnings) = section_warnings(
            r#"provider = "cloudflare"
settings = { CF_DNS_API_TOKEN = "dns-token", CF_ZONE_API_TOKEN_FILE = "/etc/wildcert/cf-zone.token", CLOUDFLARE_HTTP_TIMEOUT = "20", CLOUDFLARE_TTL = "120" }"#,
        )
        .unwrap();
        let ProviderConfig::Cloudflare(cfg) = cloudflare.config else { panic!() };
        assert_eq!(inline(&cfg.api_token), "dns-token");
        assert_eq!(file(&cfg.zone_api_token), Some(PathBuf::from("/etc/wildcert/cf-zone.token")));
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
        let ProviderConfig::Cloudflare(cfg) = global.config else { panic!() };
        assert_eq!(cfg.email.as_deref(), Some("ops@example.com"));
        assert_eq!(file(&cfg.api_key), Some(PathBuf::from("/etc/wildcert/cf-global.key")));

        let exec = section(
            r#"provider = "exec"
settings = { EXEC_PATH = "/usr/local/bin/dns-hook", EXEC_MODE = "RAW" }"#,
        )
        .unwrap();
        let ProviderConfig::Exec(cfg) = exec.config else { panic!() };
        assert_eq!((cfg.program, cfg.mode), (PathBuf::from("/usr/local/bin/dns-hook"), HookMode::Raw));

        let httpreq = section(
            r#"provider = "httpreq"
settings = { HTTPREQ_ENDPOINT = "https://hook.example/acme", HTTPREQ_USERNAME = "bob", HTTPREQ_PASSWORD_FILE = "/etc/wildcert/hook.pw" }"#,
        )
        .unwrap();
        let ProviderConfig::Httpreq(cfg) = httpreq.config else { panic!() };
        assert_eq!(cfg.mode, HookMode::Default);
        assert_eq!(file(&cfg.password), Some(PathBuf::from("/etc/wildcert/hook.pw")));
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
    fn bad_mode_is_explained() {
        let (_, msg) = section("provider = \"exec\"\nprogram = \"/bin/true\"\nmode = \"RAWW\"").unwrap_err();
        assert!(msg.contains("RAW"), "{msg}");
    }

    #[test]
    fn unknown_code_names_the_bridges() {
        let (_, msg) = section("provider = \"nosuchdns\"").unwrap_err();
        assert!(msg.contains("exec") && msg.contains("httpreq"), "{msg}");
    }

    /// Every code of the installer's list (and the later lego names) either reaches its
    /// adapter, with a warning when it was routed there, or gets its documented refusal on
    /// the `provider` key.
    #[test]
    fn every_installer_code_resolves() {
        let list = include_str!("dns-provider-codes.txt");
        let mut codes: Vec<&str> = list
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(codes.len(), 60);
        codes.extend(["azuredns", "edgedns", "tencentcloud", "iijdpf", "selectelv2", "dnsupdate"]);
        for code in codes {
            let status = provider_codes::status(code);
            let result = section_warnings(&format!("provider = \"{code}\""));
            match status.builtin() {
                // Reaches its adapter: any refusal is about the adapter's own settings.
                Some(builtin) => match result {
                    Ok((s, warnings)) => {
                        assert_eq!(s.config.code(), builtin.code);
                        if let provider_codes::Status::Routed { to, .. } = status {
                            assert!(
                                warnings.iter().any(|w| w.contains(&format!("is now \"{to}\""))),
                                "{code}: {warnings:?}"
                            );
                        }
                    }
                    Err((key, msg)) => assert_ne!(key, "provider", "{code}: {msg}"),
                },
                None => {
                    let (key, msg) = result.unwrap_err();
                    assert_eq!(key, "provider");
                    assert_eq!(Some(msg), provider_codes::refusal(code, &status));
                }
            }
        }
    }

    /// Every key an adapter declares is accepted, every other key is refused with the list
    /// of known ones, and every lego variable maps to a field of the settings struct.
    #[test]
    fn registry_keys_match_the_settings_structs() {
        for builtin in crate::dns::provider::builtins() {
            assert!(!builtin.fields.is_empty(), "{}", builtin.code);
            for secret in builtin.secrets {
                assert!(builtin.fields.contains(secret), "{}: secret {secret} is no field", builtin.code);
            }
            for env in builtin.env {
                if let Target::Key(key, kind) = env.target {
                    assert!(builtin.fields.contains(&key), "{}: {} -> {key}", builtin.code, env.env);
                    assert_eq!(kind == Kind::Secret, builtin.secrets.contains(&key), "{}", env.env);
                }
            }
            let (key, msg) =
                section(&format!("provider = \"{}\"\nno_such_key = 1", builtin.code)).unwrap_err();
            assert_eq!(key, "no_such_key");
            for known in builtin.keys() {
                assert!(msg.contains(&known), "{}: {msg}", builtin.code);
            }
        }
    }

    #[test]
    fn secret_given_two_ways_is_refused() {
        let (key, msg) = section(
            "provider = \"pdns\"\napi_url = \"http://127.0.0.1:8081\"\napi_key_env = \"K\"\napi_key_file = \"/k\"",
        )
        .unwrap_err();
        assert_eq!(key, "api_key");
        assert!(msg.contains("only one"), "{msg}");
    }

    #[test]
    fn closed_and_routed_codes_are_refused_with_reasons() {
        let (key, msg) = section("provider = \"dyn\"").unwrap_err();
        assert_eq!(key, "provider");
        assert!(msg.contains("(closed 2023-05-31") && msg.contains("oraclecloud"), "{msg}");
        let (_, warnings) =
            section_warnings("provider = \"gandi\"\npersonal_access_token_env = \"T\"").unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("dns.office.provider \"gandi\" is now \"gandiv5\""), "{warnings:?}");
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
}
