//! Vultr DNS: add and remove one TXT value through the API v2, one record per value. See
//! README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, quote_txt, txt_text};
use wildcert_dns_http::zone::{host_name, pick};
use wildcert_dns_http::{Api, Body, default_timeout, encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.vultr.com";

/// The shortest TTL the adapter writes.
pub const MIN_TTL: u32 = 120;

/// Items per page of a listing (the API allows up to 500).
const PER_PAGE: usize = 500;

/// At most this many pages are read of one listing.
const MAX_PAGES: usize = 100;

const AUTH_HINT: &str =
    "check api_key (lego: VULTR_API_KEY) and that the key's access control allows this host's address";

/// Vultr's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VultrConfig {
    /// An API key (Account > API).
    pub api_key: Option<SecretSource>,
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

/// The Vultr adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Vultr {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for Vultr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vultr").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    links: Links,
}

#[derive(Debug, Default, Deserialize)]
struct Links {
    #[serde(default)]
    next: String,
}

#[derive(Debug, Deserialize)]
struct Domains {
    #[serde(default)]
    domains: Vec<Domain>,
    #[serde(default)]
    meta: Meta,
}

#[derive(Debug, Deserialize)]
struct Domain {
    domain: String,
}

#[derive(Debug, Deserialize)]
struct Records {
    #[serde(default)]
    records: Vec<Listed>,
    #[serde(default)]
    meta: Meta,
}

#[derive(Debug, Deserialize)]
struct Listed {
    id: String,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    data: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    rtype: &'static str,
    data: &'a str,
    ttl: u32,
}

impl Vultr {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, key: &Secret, timeout: Duration) -> Result<Vultr, ProviderError> {
        let api = Api::connect("vultr", api_url, timeout)?.require("api_key", key)?.with_bearer(key)?;
        Ok(Vultr { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    /// Follows a cursor-paged listing: `first` is the path without the cursor.
    async fn pages<T, F>(&self, first: &str, mut each: F) -> Result<(), ProviderError>
    where
        T: serde::de::DeserializeOwned,
        F: FnMut(T) -> String,
    {
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let sep = if first.contains('?') { '&' } else { '?' };
            let path = if cursor.is_empty() {
                format!("{first}{sep}per_page={PER_PAGE}")
            } else {
                format!("{first}{sep}per_page={PER_PAGE}&cursor={}", encode(&cursor))
            };
            let page: T = self.inner.api.json(Method::GET, &path, &Body::Empty, AUTH_HINT).await?;
            cursor = each(page);
            if cursor.is_empty() {
                break;
            }
        }
        Ok(())
    }

    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let mut names = Vec::new();
        self.pages("/v2/domains", |page: Domains| {
            names.extend(page.domains.into_iter().map(|d| d.domain));
            page.meta.links.next
        })
        .await?;
        pick(record, names.iter().map(String::as_str))
            .map(|z| z.trim_end_matches('.').to_string())
            .ok_or_else(|| ProviderError::ZoneNotFound {
                provider: self.inner.api.provider().to_string(),
                fqdn: record.fqdn.clone(),
                detail: format!("the account's domains ({}) hold no suffix of the name", names.join(", ")),
            })
    }

    /// IDs of the TXT records at the name whose text is our value.
    async fn matching(&self, zone: &str, record: &TxtRecord) -> Result<Vec<String>, ProviderError> {
        let name = host_name(record, zone);
        let mut ids = Vec::new();
        self.pages(&format!("/v2/domains/{}/records", encode(zone)), |page: Records| {
            ids.extend(
                page.records
                    .into_iter()
                    .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(&name))
                    .filter(|r| txt_text(&r.data) == record.value)
                    .map(|r| r.id),
            );
            page.meta.links.next
        })
        .await?;
        Ok(ids)
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        if !self.matching(&zone, record).await?.is_empty() {
            return Ok(());
        }
        let name = host_name(record, &zone);
        let data = quote_txt(&record.value);
        let body =
            Body::json(&NewRecord { name: &name, rtype: "TXT", data: &data, ttl: record.ttl.max(MIN_TTL) });
        let path = format!("/v2/domains/{}/records", encode(&zone));
        let _: serde::de::IgnoredAny = self.inner.api.json(Method::POST, &path, &body, AUTH_HINT).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "vultr: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let api = &self.inner.api;
        for id in self.matching(&zone, record).await? {
            let path = format!("/v2/domains/{}/records/{}", encode(&zone), encode(&id));
            api.delete(&path, AUTH_HINT).await?;
            tracing::debug!(fqdn = %record.fqdn, id, "vultr: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Vultr {
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

impl ProviderSpec for Vultr {
    type Config = VultrConfig;
    const CODE: &'static str = "vultr";
    const NAME: &'static str = "Vultr";
    const PERMISSIONS: &'static str =
        "an API key (account-wide; restrict it to the host's address in the control panel)";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("VULTR_API_KEY", "api_key", Kind::Secret),
        env("VULTR_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("VULTR_TTL", TTL),
        ignored("VULTR_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("VULTR_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &VultrConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &VultrConfig, secrets: &mut dyn SecretReader) -> Result<Vultr, ProviderError> {
        let key = read_required(secrets, "vultr", "api_key", &config.api_key)?;
        Vultr::new(&config.api_url, &key, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_key_and_hides_it() {
        let key = Secret::new("VULTRKEY123");
        let p = Vultr::new(DEFAULT_API_URL, &key, Duration::from_secs(5)).unwrap();
        assert!(!format!("{p:?}").contains("VULTRKEY123"));
        let err = Vultr::new(DEFAULT_API_URL, &Secret::new(""), Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }
}
