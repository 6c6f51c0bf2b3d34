//! Gandi LiveDNS: add and remove one TXT value through the API v5, which replaces whole
//! record sets: read, merge, write, one name at a time. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::rrset;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_optional,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, quote_txt, txt_text};
use wildcert_dns_http::zone::{probe, relative_name};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.gandi.net/v5/livedns";

/// LiveDNS's shortest TTL.
pub const MIN_TTL: u32 = 300;

/// How the adapter authenticates.
#[derive(Debug, Clone)]
pub enum GandiAuth {
    /// A personal access token: `Authorization: Bearer`.
    Token(Secret),
    /// The deprecated API key: `Authorization: Apikey`.
    ApiKey(Secret),
}

/// Gandi's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GandiConfig {
    /// A personal access token (Organizations > Sharing > Personal access tokens) allowed to
    /// manage the domain's technical configuration.
    pub personal_access_token: Option<SecretSource>,
    /// The deprecated API key, instead of a token.
    pub api_key: Option<SecretSource>,
    /// Base URL of the LiveDNS API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The Gandi LiveDNS adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Gandi {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    auth_hint: &'static str,
    locks: NameLocks,
}

impl std::fmt::Debug for Gandi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gandi").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct RrSet {
    #[serde(default)]
    rrset_values: Vec<String>,
}

#[derive(Debug, Serialize)]
struct PutRrSet<'a> {
    rrset_ttl: u32,
    rrset_values: &'a [String],
}

impl Gandi {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, auth: &GandiAuth, timeout: Duration) -> Result<Gandi, ProviderError> {
        let api = Api::connect("gandiv5", api_url, timeout)?;
        let (api, auth_hint) = match auth {
            GandiAuth::Token(token) => (
                api.require("personal_access_token", token)?.with_bearer(token)?,
                "check personal_access_token (lego: GANDIV5_PERSONAL_ACCESS_TOKEN): not expired, and allowed to manage the domain's technical configuration",
            ),
            GandiAuth::ApiKey(key) => (
                api.require("api_key", key)?.with_secret_header(
                    http::header::AUTHORIZATION,
                    format!("Apikey {}", key.expose().trim()),
                    key,
                )?,
                "check api_key (lego: GANDIV5_API_KEY), or switch to a personal access token",
            ),
        };
        Ok(Gandi { inner: Arc::new(Inner { api, auth_hint, locks: NameLocks::default() }) })
    }

    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let path = |candidate: &str| format!("/domains/{}", encode(candidate));
        let missing = "LiveDNS serves no domain of these credentials holding the name";
        probe(&self.inner.api, record, path, &[], self.inner.auth_hint, missing).await
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let api = &self.inner.api;
        let hint = self.inner.auth_hint;
        let path =
            format!("/domains/{}/records/{}/TXT", encode(&zone), encode(&relative_name(record, &zone)));
        let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
        let mut values = match classify(response.status) {
            StatusClass::NotFound => Vec::new(),
            _ => api.parse::<RrSet>(&format!("GET {path}"), &response, hint)?.rrset_values,
        };
        if !rrset::edit(&mut values, add, |v| txt_text(v) == record.value, || quote_txt(&record.value)) {
            return Ok(());
        }
        let response = if values.is_empty() {
            api.call(Method::DELETE, &path, &Body::Empty, &[]).await?
        } else {
            let body = Body::json(&PutRrSet { rrset_ttl: record.ttl.max(MIN_TTL), rrset_values: &values });
            api.call(Method::PUT, &path, &body, &[]).await?
        };
        match classify(response.status) {
            StatusClass::Success => {}
            StatusClass::NotFound if values.is_empty() => {}
            _ => {
                let method = if values.is_empty() { "DELETE" } else { "PUT" };
                return Err(api.error(&format!("{method} {path}"), &response, hint));
            }
        }
        tracing::debug!(fqdn = %record.fqdn, zone, add, "gandiv5: record set written");
        Ok(())
    }
}

impl DnsProvider for Gandi {
    fn describe(&self) -> String {
        self.inner.api.provider().to_string()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.change(record, true).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.change(record, false).await
    }
}

impl ProviderSpec for Gandi {
    type Config = GandiConfig;
    const CODE: &'static str = "gandiv5";
    const NAME: &'static str = "Gandi Live DNS (v5)";
    const PERMISSIONS: &'static str =
        "a personal access token allowed to manage the domains' technical configuration (LiveDNS)";
    const NOTES: &'static str = "LiveDNS minimum TTL 300 s";
    const SECRETS: &'static [&'static str] = &["personal_access_token", "api_key"];
    const ENV: &'static [EnvName] = &[
        env("GANDIV5_PERSONAL_ACCESS_TOKEN", "personal_access_token", Kind::Secret),
        env("GANDIV5_API_KEY", "api_key", Kind::Secret),
        env("GANDIV5_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("GANDIV5_TTL", TTL),
        ignored("GANDIV5_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("GANDIV5_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &GandiConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        match (&config.personal_access_token, &config.api_key) {
            (Some(_), Some(_)) => {
                return Err(SettingError::new(
                    "api_key",
                    "set either personal_access_token or the deprecated api_key, not both",
                ));
            }
            (None, None) => {
                return Err(SettingError::new(
                    "personal_access_token",
                    "missing credentials: set personal_access_token_file (lego: GANDIV5_PERSONAL_ACCESS_TOKEN), or api_key_file (lego: GANDIV5_API_KEY)",
                ));
            }
            _ => {}
        }
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &GandiConfig, secrets: &mut dyn SecretReader) -> Result<Gandi, ProviderError> {
        let token =
            read_optional(secrets, "gandiv5", "personal_access_token", &config.personal_access_token)?;
        let key = read_optional(secrets, "gandiv5", "api_key", &config.api_key)?;
        let auth = match (token, key) {
            (Some(token), None) => GandiAuth::Token(token),
            (None, Some(key)) => GandiAuth::ApiKey(key),
            _ => {
                return Err(ProviderError::Config {
                    provider: "gandiv5".into(),
                    detail: "set either personal_access_token or api_key".into(),
                });
            }
        };
        Gandi::new(&config.api_url, &auth, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_credential_and_hides_it() {
        let p =
            Gandi::new(DEFAULT_API_URL, &GandiAuth::ApiKey(Secret::new("gandi-k3y")), Duration::from_secs(5))
                .unwrap();
        assert!(!format!("{p:?}").contains("gandi-k3y"));
        let err = Gandi::new(DEFAULT_API_URL, &GandiAuth::Token(Secret::new("")), Duration::from_secs(5))
            .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
