//! GoDaddy: add and remove one TXT value through the Domains API v1, which replaces all TXT
//! records of a name at once: read, merge, write, one name at a time. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::rrset;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::zone::{probe, relative_name};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.godaddy.com";

/// GoDaddy refuses shorter TTLs.
pub const MIN_TTL: u32 = 600;

const AUTH_HINT: &str = "check api_key and api_secret (lego: GODADDY_API_KEY, GODADDY_API_SECRET): a production key, not an OTE one, unless api_url is the OTE";

/// GoDaddy's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoDaddyConfig {
    /// The API key (developer.godaddy.com > API Keys).
    pub api_key: Option<SecretSource>,
    /// The key's secret.
    pub api_secret: Option<SecretSource>,
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

/// The GoDaddy adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct GoDaddy {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for GoDaddy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoDaddy").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

/// One record as the API lists it.
#[derive(Debug, Deserialize)]
struct Listed {
    #[serde(default)]
    data: String,
    #[serde(default)]
    ttl: Option<u32>,
}

/// One record as `PUT .../records/TXT/{name}` takes it.
#[derive(Debug, Serialize)]
struct Put<'a> {
    data: &'a str,
    ttl: u32,
}

impl GoDaddy {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        key: &Secret,
        secret: &Secret,
        timeout: Duration,
    ) -> Result<GoDaddy, ProviderError> {
        let value = format!("sso-key {}:{}", key.expose().trim(), secret.expose().trim());
        let api = Api::connect("godaddy", api_url, timeout)?
            .require("api_key", key)?
            .require("api_secret", secret)?
            .with_secret_header(http::header::AUTHORIZATION, value, secret)?
            .with_redacted(key);
        Ok(GoDaddy { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let path = |candidate: &str| format!("/v1/domains/{}", encode(candidate));
        // Not a domain of this account: GoDaddy answers 404, or 422 for a name that is no
        // registrable domain.
        probe(
            &self.inner.api,
            record,
            path,
            &[422],
            AUTH_HINT,
            "no domain of this GoDaddy account holds the name",
        )
        .await
    }

    /// The TXT values at the name, in the order GoDaddy lists them.
    async fn values(&self, path: &str) -> Result<Vec<(String, u32)>, ProviderError> {
        let listed: Vec<Listed> = self.inner.api.json(Method::GET, path, &Body::Empty, AUTH_HINT).await?;
        Ok(listed
            .into_iter()
            .filter(|r| !r.data.is_empty())
            .map(|r| (r.data, r.ttl.unwrap_or(MIN_TTL).max(MIN_TTL)))
            .collect())
    }

    async fn write(&self, path: &str, values: &[(String, u32)]) -> Result<(), ProviderError> {
        let api = &self.inner.api;
        let response = if values.is_empty() {
            api.call(Method::DELETE, path, &Body::Empty, &[]).await?
        } else {
            let body: Vec<Put> = values.iter().map(|(data, ttl)| Put { data, ttl: *ttl }).collect();
            api.call(Method::PUT, path, &Body::json(&body), &[]).await?
        };
        match classify(response.status) {
            StatusClass::Success => Ok(()),
            // Deleting what is gone already.
            StatusClass::NotFound if values.is_empty() => Ok(()),
            _ => {
                let method = if values.is_empty() { "DELETE" } else { "PUT" };
                Err(api.error(&format!("{method} {path}"), &response, AUTH_HINT))
            }
        }
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let path =
            format!("/v1/domains/{}/records/TXT/{}", encode(&zone), encode(&relative_name(record, &zone)));
        let mut values = self.values(&path).await?;
        let ours = || (record.value.clone(), record.ttl.max(MIN_TTL));
        if !rrset::edit(&mut values, add, |(v, _)| *v == record.value, ours) {
            return Ok(());
        }
        self.write(&path, &values).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, add, "godaddy: TXT records written");
        Ok(())
    }
}

impl DnsProvider for GoDaddy {
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

impl ProviderSpec for GoDaddy {
    type Config = GoDaddyConfig;
    const CODE: &'static str = "godaddy";
    const NAME: &'static str = "GoDaddy";
    const PERMISSIONS: &'static str = "a production API key and secret; GoDaddy serves its DNS API only to accounts that qualify (many domains or a paid plan)";
    const NOTES: &'static str = "minimum TTL 600 s";
    const SECRETS: &'static [&'static str] = &["api_key", "api_secret"];
    const ENV: &'static [EnvName] = &[
        env("GODADDY_API_KEY", "api_key", Kind::Secret),
        env("GODADDY_API_SECRET", "api_secret", Kind::Secret),
        env("GODADDY_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("GODADDY_TTL", TTL),
        ignored("GODADDY_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("GODADDY_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &GoDaddyConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        required(&config.api_secret, "api_secret")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &GoDaddyConfig, secrets: &mut dyn SecretReader) -> Result<GoDaddy, ProviderError> {
        let key = read_required(secrets, "godaddy", "api_key", &config.api_key)?;
        let secret = read_required(secrets, "godaddy", "api_secret", &config.api_secret)?;
        GoDaddy::new(&config.api_url, &key, &secret, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_credentials_and_hides_them() {
        let (key, secret) = (Secret::new("gd-key-1"), Secret::new("gd-secret-2"));
        let p = GoDaddy::new(DEFAULT_API_URL, &key, &secret, Duration::from_secs(5)).unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains("gd-key-1") && !debug.contains("gd-secret-2"), "{debug}");
        let err = GoDaddy::new(DEFAULT_API_URL, &key, &Secret::new(""), Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("api_secret"), "{err}");
    }
}
