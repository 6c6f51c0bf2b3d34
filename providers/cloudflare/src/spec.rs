//! `provider = "cloudflare"`: settings, lego's variable names and the registry's view.

use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::ProviderError;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_optional, required_text,
};

use crate::{Cloudflare, CloudflareAuth, CloudflareSettings, DEFAULT_API_URL};
use wildcert_dns_http::default_timeout;

/// The Cloudflare API v4. Either an API token (`api_token`, with an optional
/// `zone_api_token` for the zone lookup) or the legacy global key (`email` and `api_key`),
/// not both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareConfig {
    /// An API token with Zone:DNS:Edit on the zone (and Zone:Zone:Read, unless
    /// `zone_api_token` or `zone_id` is set).
    pub api_token: Option<SecretSource>,
    /// A second API token with Zone:Zone:Read, used only to find the zone.
    pub zone_api_token: Option<SecretSource>,
    /// The account's email, for the global API key.
    pub email: Option<String>,
    /// The account's Global API Key (it can change everything in the account; prefer a
    /// token).
    pub api_key: Option<SecretSource>,
    /// The zone's ID (the zone's Overview page); without it the zone is found by name.
    pub zone_id: Option<String>,
    /// Base URL of the API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

impl ProviderSpec for Cloudflare {
    type Config = CloudflareConfig;
    const CODE: &'static str = "cloudflare";
    const NAME: &'static str = "Cloudflare";
    const PERMISSIONS: &'static str = "an API token with Zone:DNS:Edit on the challenge zones (Zone:Zone:Read too, or a separate zone_api_token, to find the zone)";
    const NOTES: &'static str = "changes reach Cloudflare's name servers within seconds";
    const SECRETS: &'static [&'static str] = &["api_token", "zone_api_token", "api_key"];
    const ENV: &'static [EnvName] = &[
        env("CF_API_EMAIL", "email", Kind::Text),
        env("CF_API_KEY", "api_key", Kind::Secret),
        env("CF_DNS_API_TOKEN", "api_token", Kind::Secret),
        env("CF_ZONE_API_TOKEN", "zone_api_token", Kind::Secret),
        env("CLOUDFLARE_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("CLOUDFLARE_TTL", TTL),
        ignored("CLOUDFLARE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("CLOUDFLARE_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &CloudflareConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        match (config.api_token.is_some(), config.api_key.is_some()) {
            (true, true) => {
                return Err(SettingError::new(
                    "api_key",
                    "set either api_token (an API token) or email and api_key (the global API key), not both",
                ));
            }
            (false, false) if config.zone_api_token.is_some() => {
                return Err(SettingError::new(
                    "api_token",
                    "zone_api_token only finds the zone; set api_token_file (a token with Zone:DNS:Edit) as well",
                ));
            }
            (false, false) => {
                return Err(SettingError::new(
                    "api_token",
                    "missing credentials: set api_token_file (an API token with Zone:DNS:Edit; lego: CF_DNS_API_TOKEN), or email and api_key_file (the global API key; lego: CF_API_EMAIL, CF_API_KEY)",
                ));
            }
            (true, false) => {
                // lego ignores the email when it falls back to tokens; so do we.
                if config.email.is_some() {
                    checks.warn(
                        "email",
                        "has no effect with an API token; it only goes with the global api_key",
                    );
                }
            }
            (false, true) => {
                required_text(
                    &config.email,
                    "email",
                    "the global api_key needs the email of its account (lego: CF_API_EMAIL)",
                )?;
                if config.zone_api_token.is_some() {
                    return Err(SettingError::new(
                        "zone_api_token",
                        "belongs to API tokens; with the global api_key leave it out",
                    ));
                }
            }
        }
        if let Some(id) = &config.zone_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(SettingError::new(
                "zone_id",
                format!(
                    "`{id}` is not a Cloudflare zone ID (32 hexadecimal characters on the zone's Overview page); leave zone_id out to find the zone by name"
                ),
            ));
        }
        checks.url("api_url", &config.api_url)?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        if config.api_url.trim().starts_with("http://") {
            checks.warn("api_url", "is plain http://: the credentials travel unencrypted; use https://");
        }
        Ok(())
    }

    fn build(config: &CloudflareConfig, secrets: &mut dyn SecretReader) -> Result<Cloudflare, ProviderError> {
        let provider = "cloudflare";
        let api_token = read_optional(secrets, provider, "api_token", &config.api_token)?;
        let zone_api_token = read_optional(secrets, provider, "zone_api_token", &config.zone_api_token)?;
        let api_key = read_optional(secrets, provider, "api_key", &config.api_key)?;
        let auth = match (api_token, api_key, &config.email) {
            (Some(dns), None, _) => CloudflareAuth::Token { dns, zone: zone_api_token },
            (None, Some(key), Some(email)) => CloudflareAuth::GlobalKey { email: email.clone(), key },
            _ => {
                return Err(ProviderError::Config {
                    provider: provider.into(),
                    detail: "set api_token_file, or email and api_key_file (not both)".into(),
                });
            }
        };
        Cloudflare::new(CloudflareSettings {
            api_url: config.api_url.clone(),
            auth,
            zone_id: config.zone_id.clone(),
            timeout: config.timeout,
        })
    }
}
