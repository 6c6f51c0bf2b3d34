//! The configured DNS adapter, chosen from a `[dns.NAME]` table. An enum forwards to the
//! adapter crates under `providers/`, so each adapter stays one small file that knows nothing
//! of the configuration format.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use wildcert_dns_api::{DnsProvider, ProviderError, TxtRecord};
use wildcert_dns_cloudflare::{Cloudflare, CloudflareAuth, CloudflareSettings};
use wildcert_dns_exec::{Exec, ExecSettings};
use wildcert_dns_httpreq::{Httpreq, HttpreqSettings};
use wildcert_dns_pdns::{Pdns, PdnsSettings};
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};
#[cfg(feature = "route53")]
use wildcert_dns_route53::{Route53, Route53Settings};

use crate::config::dns::HookMode;
use crate::config::{DnsAdapterConfig, DnsSection, SecretKeys, read_secret};

/// A ready-to-use adapter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Provider {
    Rfc2136(Rfc2136),
    #[cfg(feature = "route53")]
    Route53(Route53),
    Pdns(Pdns),
    Cloudflare(Cloudflare),
    Exec(Exec),
    Httpreq(Httpreq),
}

/// The adapters built so far in this process, by `[dns.NAME]`, with the settings they were
/// built from.
static SHARED: std::sync::LazyLock<Mutex<HashMap<String, (String, Provider)>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));

impl Provider {
    /// The one adapter of this process for `section`: every order, cleanup and recovery that
    /// goes through one `[dns.NAME]` table shares it, and with it the adapter's per-name
    /// serialization (two certificates sharing a challenge name through one Route53 or
    /// PowerDNS table cannot overwrite each other's values) and its caches. Built on first
    /// use, and again when the table's settings change (a reloaded configuration).
    pub fn shared(section: &DnsSection) -> Result<Provider, ProviderError> {
        let settings = format!("{section:?}");
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((built_from, provider)) = shared.get(&section.name)
            && *built_from == settings
        {
            return Ok(provider.clone());
        }
        let mut warnings = Vec::new();
        let provider = Provider::from_section(section, &mut warnings)?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        shared.insert(section.name.clone(), (settings, provider.clone()));
        Ok(provider)
    }

    /// Forgets the shared adapters, so that the next use reads secrets again (after a reload;
    /// orders still running keep the adapter they have).
    pub fn forget_shared() {
        SHARED.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Builds the adapter, reading its secrets now so that a missing file fails early.
    pub fn from_section(section: &DnsSection, warnings: &mut Vec<String>) -> Result<Provider, ProviderError> {
        let config_error =
            |detail: String| ProviderError::Config { provider: format!("dns.{}", section.name), detail };
        let mut optional_secret = |keys: SecretKeys, key: &str| {
            if keys.is_set() {
                read_secret(&keys, key, warnings).map(Some).map_err(config_error)
            } else {
                Ok(None)
            }
        };
        match &section.adapter {
            DnsAdapterConfig::Rfc2136(cfg) => {
                let secret = optional_secret(cfg.tsig_secret_keys(), "tsig_secret")?
                    .ok_or_else(|| config_error("missing tsig_secret_file or tsig_secret_env".into()))?;
                let server = crate::dns::parse_server(&cfg.nameserver).map_err(config_error)?;
                Ok(Provider::Rfc2136(Rfc2136::new(Rfc2136Settings {
                    server: server.to_string(),
                    key_name: cfg.tsig_key.clone(),
                    algorithm: cfg.tsig_algorithm.clone(),
                    secret,
                    zone: cfg.zone.clone(),
                    timeout: cfg.timeout,
                })?))
            }
            #[cfg(feature = "route53")]
            DnsAdapterConfig::Route53(cfg) => {
                let secret_access_key = optional_secret(cfg.secret_access_key_keys(), "secret_access_key")?;
                let session_token = optional_secret(cfg.session_token_keys(), "session_token")?;
                Ok(Provider::Route53(Route53::new(Route53Settings {
                    region: cfg.region.clone(),
                    hosted_zone_id: cfg.hosted_zone_id.clone(),
                    profile: cfg.profile.clone(),
                    access_key_id: cfg.access_key_id.clone(),
                    secret_access_key,
                    session_token,
                    endpoint: cfg.endpoint.clone(),
                    change_timeout: cfg.change_timeout,
                    request_timeout: cfg.request_timeout,
                    max_attempts: cfg.max_retries.saturating_add(1),
                })?))
            }
            #[cfg(not(feature = "route53"))]
            DnsAdapterConfig::Route53(_) => Err(config_error(
                "this wildcert was built without the `route53` cargo feature; rebuild with `--features route53`"
                    .into(),
            )),
            DnsAdapterConfig::Pdns(cfg) => {
                let api_key = optional_secret(cfg.api_key_keys(), "api_key")?
                    .ok_or_else(|| config_error("missing api_key_file or api_key_env".into()))?;
                Ok(Provider::Pdns(Pdns::new(PdnsSettings {
                    api_url: cfg.api_url.clone(),
                    api_key,
                    server_id: cfg.server_id.clone(),
                    zone: cfg.zone.clone(),
                    timeout: cfg.timeout,
                    ca_certificates: cfg.ca_certificates.clone(),
                })?))
            }
            DnsAdapterConfig::Cloudflare(cfg) => {
                let api_token = optional_secret(cfg.api_token_keys(), "api_token")?;
                let zone_api_token = optional_secret(cfg.zone_api_token_keys(), "zone_api_token")?;
                let api_key = optional_secret(cfg.api_key_keys(), "api_key")?;
                let auth = match (api_token, api_key, &cfg.email) {
                    (Some(dns), None, _) => CloudflareAuth::Token { dns, zone: zone_api_token },
                    (None, Some(key), Some(email)) => CloudflareAuth::GlobalKey { email: email.clone(), key },
                    _ => {
                        return Err(config_error(
                            "set api_token_file, or email and api_key_file (not both)".into(),
                        ));
                    }
                };
                Ok(Provider::Cloudflare(Cloudflare::new(CloudflareSettings {
                    api_url: cfg.api_url.clone(),
                    auth,
                    zone_id: cfg.zone_id.clone(),
                    timeout: cfg.timeout,
                })?))
            }
            DnsAdapterConfig::Exec(cfg) => Ok(Provider::Exec(Exec::new(ExecSettings {
                program: cfg.program.clone(),
                mode: match cfg.mode {
                    HookMode::Default => wildcert_dns_exec::Mode::Default,
                    HookMode::Raw => wildcert_dns_exec::Mode::Raw,
                },
                timeout: cfg.timeout,
            })?)),
            DnsAdapterConfig::Httpreq(cfg) => {
                let password = optional_secret(cfg.password_keys(), "password")?;
                Ok(Provider::Httpreq(Httpreq::new(HttpreqSettings {
                    endpoint: cfg.endpoint.clone(),
                    mode: match cfg.mode {
                        HookMode::Default => wildcert_dns_httpreq::Mode::Default,
                        HookMode::Raw => wildcert_dns_httpreq::Mode::Raw,
                    },
                    username: cfg.username.clone(),
                    password,
                    timeout: cfg.timeout,
                    ca_certificates: cfg.ca_certificates.clone(),
                })?))
            }
        }
    }

    /// A server known to be authoritative for the zones this adapter updates (the RFC 2136
    /// primary): used for discovery and always checked for propagation. API-driven adapters
    /// know no DNS server; `[propagation]` covers them.
    pub async fn authoritative_server(&self) -> Option<SocketAddr> {
        match self {
            Provider::Rfc2136(p) => {
                let spec = crate::dns::parse_server(&p.settings().server).ok()?;
                tokio::net::lookup_host((spec.host.as_str(), spec.port)).await.ok()?.next()
            }
            _ => None,
        }
    }
}

impl DnsProvider for Provider {
    fn describe(&self) -> String {
        match self {
            Provider::Rfc2136(p) => p.describe(),
            #[cfg(feature = "route53")]
            Provider::Route53(p) => p.describe(),
            Provider::Pdns(p) => p.describe(),
            Provider::Cloudflare(p) => p.describe(),
            Provider::Exec(p) => p.describe(),
            Provider::Httpreq(p) => p.describe(),
        }
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        match self {
            Provider::Rfc2136(p) => p.present(record).await,
            #[cfg(feature = "route53")]
            Provider::Route53(p) => p.present(record).await,
            Provider::Pdns(p) => p.present(record).await,
            Provider::Cloudflare(p) => p.present(record).await,
            Provider::Exec(p) => p.present(record).await,
            Provider::Httpreq(p) => p.present(record).await,
        }
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        match self {
            Provider::Rfc2136(p) => p.cleanup(record).await,
            #[cfg(feature = "route53")]
            Provider::Route53(p) => p.cleanup(record).await,
            Provider::Pdns(p) => p.cleanup(record).await,
            Provider::Cloudflare(p) => p.cleanup(record).await,
            Provider::Exec(p) => p.cleanup(record).await,
            Provider::Httpreq(p) => p.cleanup(record).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn section(dir: &std::path::Path, table: &str) -> DnsSection {
        let secret = dir.join("tsig.secret");
        std::fs::write(&secret, "c2VjcmV0c2VjcmV0c2VjcmV0\n").unwrap();
        let text = format!(
            "[storage]\nlocal_dir = \"{d}/live\"\nstate_dir = \"{d}/state\"\n\
             [dns.{table}]\nprovider = \"rfc2136\"\nnameserver = \"127.0.0.1:53\"\n\
             tsig_key = \"wildcert.\"\ntsig_secret_file = \"{s}\"\n",
            d = dir.display(),
            s = secret.display()
        );
        let path = dir.join("wildcert.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap().dns.get(table).unwrap().clone()
    }

    #[test]
    fn one_adapter_per_table_until_forgotten_or_changed() {
        let dir = tempfile::tempdir().unwrap();
        let table = format!("shared{}", std::process::id());
        let office = section(dir.path(), &table);
        Provider::shared(&office).unwrap();
        // The secret is read once, when the table's adapter is built; later users share it.
        std::fs::remove_file(dir.path().join("tsig.secret")).unwrap();
        Provider::shared(&office).unwrap();
        // Changed settings build a new adapter (and read the secret again).
        let mut moved = office.clone();
        if let DnsAdapterConfig::Rfc2136(cfg) = &mut moved.adapter {
            cfg.nameserver = "127.0.0.1:5353".into();
        }
        assert!(Provider::shared(&moved).is_err(), "changed settings reuse the old adapter");
        Provider::forget_shared();
        assert!(Provider::shared(&office).is_err(), "a forgotten adapter is built again");
    }
}
