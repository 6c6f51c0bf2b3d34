//! `provider = "pdns"`: settings, lego's variable names and the registry's view.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::ProviderError;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_required, required,
};

use crate::{Pdns, PdnsSettings};
use wildcert_dns_http::default_timeout;

/// The PowerDNS Authoritative HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdnsConfig {
    /// The API's base URL (PowerDNS's webserver), e.g. `http://10.0.0.53:8081`.
    pub api_url: String,
    /// The server's `api-key`.
    pub api_key: Option<SecretSource>,
    /// Server ID in API paths; `localhost` for PowerDNS Authoritative.
    #[serde(default = "default_server_id")]
    pub server_id: String,
    /// The zone to change; without it the discovered zone, else the longest suffix of the
    /// record name that the server hosts.
    pub zone: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
    /// PEM file with extra CA certificates to trust for an https:// API.
    pub ca_certificates: Option<PathBuf>,
}

fn default_server_id() -> String {
    "localhost".into()
}

impl ProviderSpec for Pdns {
    type Config = PdnsConfig;
    const CODE: &'static str = "pdns";
    const NAME: &'static str = "PowerDNS Authoritative";
    const PERMISSIONS: &'static str = "the server's API key (PowerDNS has no narrower scope)";
    const NOTES: &'static str = "secondaries follow by NOTIFY and zone transfer; wildcert waits for every NS";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("PDNS_API_URL", "api_url", Kind::Text),
        env("PDNS_API_KEY", "api_key", Kind::Secret),
        env("PDNS_SERVER_NAME", "server_id", Kind::Text),
        env("PDNS_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("PDNS_API_VERSION", "wildcert speaks API version 1 (PowerDNS 4.x)"),
        ignored("PDNS_TTL", TTL),
        ignored("PDNS_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("PDNS_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &PdnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        checks.url("api_url", &config.api_url)?;
        required(&config.api_key, "api_key")?;
        if config.server_id.is_empty() {
            return Err(SettingError::new("server_id", "empty; PowerDNS Authoritative uses \"localhost\""));
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &PdnsConfig, secrets: &mut dyn SecretReader) -> Result<Pdns, ProviderError> {
        let provider = format!("pdns ({})", config.api_url.trim());
        let api_key = read_required(secrets, &provider, "api_key", &config.api_key)?;
        Pdns::new(PdnsSettings {
            api_url: config.api_url.clone(),
            api_key,
            server_id: config.server_id.clone(),
            zone: config.zone.clone(),
            timeout: config.timeout,
            ca_certificates: config.ca_certificates.clone(),
        })
    }
}
