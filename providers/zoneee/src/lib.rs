//! Zone.ee: add and remove one TXT value through the ZoneID API v2.
//!
//! Zone.ee keeps one record per TXT value, so adding ours is one `POST
//! /dns/{zone}/txt` that leaves every other value at the name alone, and removing it
//! deletes exactly the records whose destination is our value (`DELETE
//! /dns/{zone}/txt/{id}`), found with `GET /dns/{zone}/txt`. HTTP basic authentication with
//! the ZoneID user name and an API key. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required, required_text,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, same_name};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, HttpClient, StatusClass, basic_auth, classify, encode};

/// Where the DNS part of the API lives (lego's `ZONEEE_ENDPOINT` default).
pub const DEFAULT_API_URL: &str = "https://api.zone.eu/v2/dns";

const AUTH_HINT: &str = "check api_user and api_key (lego: ZONEEE_API_USER, ZONEEE_API_KEY): the ZoneID user \
     name and an API key created under ZoneID > API access";

/// Zone.ee's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneeeConfig {
    /// The ZoneID user name.
    pub api_user: Option<String>,
    /// An API key of that user.
    pub api_key: Option<SecretSource>,
    /// Base URL of the API's DNS part (lego's `ZONEEE_ENDPOINT`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The Zone.ee adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Zoneee {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for Zoneee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zoneee").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    id: String,
    /// The full name.
    #[serde(default)]
    name: String,
    #[serde(default)]
    destination: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    name: &'a str,
    destination: &'a str,
}

impl Zoneee {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, user: &str, key: &Secret, timeout: Duration) -> Result<Zoneee, ProviderError> {
        let provider = format!("zoneee ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        if user.trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "api_user is empty".into() });
        }
        if key.expose().trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "api_key is empty".into() });
        }
        let header = basic_auth(user.trim(), &Secret::new(key.expose().trim()));
        let header = header.to_str().expect("base64 is a valid header value").to_string();
        let api = Api::new(&provider, api_url, client)?
            .with_redacted(&Secret::new(header.trim_start_matches("Basic ")))
            .with_secret_header(http::header::AUTHORIZATION, header, key)?;
        Ok(Zoneee { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    /// The zone that holds the record and the IDs of its TXT records at the name whose
    /// destination is our value: the first candidate whose TXT list the user may read.
    async fn find(&self, record: &TxtRecord) -> Result<(String, Vec<String>), ProviderError> {
        let api = &self.inner.api;
        for candidate in candidates(record) {
            let path = format!("/{}/txt", encode(&candidate));
            let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
            match classify(response.status) {
                StatusClass::Success => {}
                StatusClass::NotFound => continue,
                _ => return Err(api.error(&format!("GET {path}"), &response, AUTH_HINT)),
            }
            let records: Vec<Record> = api.parse(&format!("GET {path}"), &response, AUTH_HINT)?;
            let ids = records
                .iter()
                .filter(|r| {
                    same_name(&r.name, &record.fqdn) && r.destination == record.value && !r.id.is_empty()
                })
                .map(|r| r.id.clone())
                .collect();
            return Ok((candidate, ids));
        }
        Err(ProviderError::ZoneNotFound {
            provider: api.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: "no zone of this ZoneID user holds the name".into(),
        })
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, found) = self.find(record).await?;
        if !found.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "zoneee: value already present");
            return Ok(());
        }
        let body = Body::json(&NewRecord { name: record.fqdn_without_dot(), destination: &record.value });
        let path = format!("/{}/txt", encode(&zone));
        let _: serde::de::IgnoredAny = self.inner.api.json(Method::POST, &path, &body, AUTH_HINT).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "zoneee: record added");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, found) = self.find(record).await?;
        let api = &self.inner.api;
        for id in found {
            let path = format!("/{}/txt/{}", encode(&zone), encode(&id));
            api.delete(&path, AUTH_HINT).await?;
            tracing::debug!(fqdn = %record.fqdn, id, "zoneee: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Zoneee {
    fn describe(&self) -> String {
        self.inner.api.provider().to_string()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

impl ProviderSpec for Zoneee {
    type Config = ZoneeeConfig;
    const CODE: &'static str = "zoneee";
    const NAME: &'static str = "Zone.ee";
    const PERMISSIONS: &'static str = "the account's API user and API key (the API has no narrower scope)";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("ZONEEE_API_USER", "api_user", Kind::Text),
        env("ZONEEE_API_KEY", "api_key", Kind::Secret),
        env("ZONEEE_ENDPOINT", "api_url", Kind::Text),
        env("ZONEEE_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("ZONEEE_TTL", TTL),
        ignored("ZONEEE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("ZONEEE_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &ZoneeeConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required_text(&config.api_user, "api_user", "set the ZoneID user name (lego: ZONEEE_API_USER)")?;
        required(&config.api_key, "api_key")?;
        check_http(checks, &config.api_url, config.timeout)?;
        Ok(())
    }

    fn build(config: &ZoneeeConfig, secrets: &mut dyn SecretReader) -> Result<Zoneee, ProviderError> {
        let key = read_required(secrets, "zoneee", "api_key", &config.api_key)?;
        Zoneee::new(&config.api_url, config.api_user.as_deref().unwrap_or_default(), &key, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_credentials_and_hides_the_key() {
        let key = Secret::new("z0ne-k3y");
        let t = Duration::from_secs(5);
        assert!(Zoneee::new(DEFAULT_API_URL, " ", &key, t).unwrap_err().to_string().contains("api_user"));
        assert!(
            Zoneee::new(DEFAULT_API_URL, "u", &Secret::new(""), t)
                .unwrap_err()
                .to_string()
                .contains("api_key")
        );
        let debug = format!("{:?}", Zoneee::new(DEFAULT_API_URL, "u", &key, t).unwrap());
        assert!(!debug.contains("z0ne"), "{debug}");
    }
}
