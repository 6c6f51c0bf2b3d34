//! `[dns.NAME]` tables: which adapter writes the challenge TXT records, with its settings.
//!
//! A table names its adapter with `provider = "<code>"`. Operators coming from the Gradient
//! installer may keep their provider code and write the provider's environment variable
//! names in a `settings = { ... }` table; those names are translated to the adapter's keys.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IntoDeserializer;

use super::duration;
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
    pub tsig_secret: Option<Secret>,
    pub tsig_secret_file: Option<PathBuf>,
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

fn default_tsig_algorithm() -> String {
    "hmac-sha256".into()
}

fn default_dns_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Provider environment variable names (as in the installer's settings) and the key each
/// stands for.
fn setting_aliases(code: &str) -> &'static [(&'static str, &'static str)] {
    match code {
        "rfc2136" => &[
            ("RFC2136_NAMESERVER", "nameserver"),
            ("RFC2136_TSIG_KEY", "tsig_key"),
            ("RFC2136_TSIG_SECRET", "tsig_secret"),
            ("RFC2136_TSIG_ALGORITHM", "tsig_algorithm"),
            ("RFC2136_TIMEOUT", "timeout"),
        ],
        _ => &[],
    }
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
        if let Some(settings) = table.remove("settings") {
            let toml::Value::Table(settings) = settings else {
                return Err((
                    "settings".into(),
                    "must be a table: settings = { ENV_NAME = \"value\" }".into(),
                ));
            };
            let aliases = setting_aliases(&code);
            for (env_name, value) in settings {
                let Some((_, key)) = aliases.iter().find(|(e, _)| *e == env_name) else {
                    let known: Vec<&str> = aliases.iter().map(|(e, _)| *e).collect();
                    return Err((
                        format!("settings.{env_name}"),
                        format!("not a setting of provider {code}; known: {}", known.join(", ")),
                    ));
                };
                if table.contains_key(*key) {
                    return Err((
                        format!("settings.{env_name}"),
                        format!("given twice: as settings.{env_name} and as {key}"),
                    ));
                }
                if key.ends_with("secret") {
                    warnings.push(format!(
                        "dns.{name}.settings.{env_name} holds a secret inline; prefer {key}_file"
                    ));
                }
                table.insert(key.to_string(), value);
            }
        }
        let adapter = match code.as_str() {
            "rfc2136" => {
                let cfg: Rfc2136Config = deserialize(table)?;
                crate::dns::parse_server(&cfg.nameserver).map_err(|m| ("nameserver".to_string(), m))?;
                cfg.tsig_secret_keys()
                    .check_present("tsig_secret")
                    .map_err(|m| ("tsig_secret".to_string(), m))?;
                if cfg.tsig_secret.is_some() {
                    warnings.push(format!("dns.{name}.tsig_secret is inline; prefer tsig_secret_file"));
                }
                DnsAdapterConfig::Rfc2136(cfg)
            }
            other => {
                return Err((
                    "provider".into(),
                    format!(
                        "unknown provider code `{other}`; built in: rfc2136. Any DNS API can be driven through provider = \"exec\" (a script) or \"httpreq\" (an HTTP endpoint)"
                    ),
                ));
            }
        };
        Ok(DnsSection { name, code, adapter })
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
        let table: toml::Table = toml::from_str(text).unwrap();
        DnsSection::from_table("office".into(), table, &mut Vec::new())
    }

    #[test]
    fn installer_settings_are_translated() {
        let s = section(
            r#"provider = "rfc2136"
settings = { RFC2136_NAMESERVER = "10.0.0.53", RFC2136_TSIG_KEY = "k.", RFC2136_TSIG_SECRET = "c2VjcmV0", RFC2136_TSIG_ALGORITHM = "hmac-sha512." }"#,
        )
        .unwrap();
        let DnsAdapterConfig::Rfc2136(cfg) = s.adapter;
        assert_eq!(cfg.nameserver, "10.0.0.53");
        assert_eq!(cfg.tsig_algorithm, "hmac-sha512.");
        assert_eq!(cfg.tsig_secret.unwrap().expose(), "c2VjcmV0");
    }

    #[test]
    fn unknown_setting_lists_known_ones() {
        let (key, msg) = section("provider = \"rfc2136\"\nsettings = { RFC2136_PORT = \"53\" }").unwrap_err();
        assert_eq!(key, "settings.RFC2136_PORT");
        assert!(msg.contains("RFC2136_NAMESERVER"), "{msg}");
    }

    #[test]
    fn missing_secret_says_how() {
        let (key, msg) =
            section("provider = \"rfc2136\"\nnameserver = \"127.0.0.1:53\"\ntsig_key = \"k.\"").unwrap_err();
        assert_eq!(key, "tsig_secret");
        assert!(msg.contains("tsig_secret_file"), "{msg}");
    }

    #[test]
    fn unknown_code_names_the_bridges() {
        let (_, msg) = section("provider = \"nosuchdns\"").unwrap_err();
        assert!(msg.contains("exec") && msg.contains("httpreq"), "{msg}");
    }
}
