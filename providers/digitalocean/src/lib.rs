//! DigitalOcean DNS: add and remove one TXT value through the API v2 domain records.
//!
//! DigitalOcean keeps one record per TXT value, so adding ours is one `POST
//! /v2/domains/{domain}/records` that leaves every other value at the name alone, and
//! removing it deletes exactly the records whose `data` is our value, found by listing the
//! TXT records at the name (paged). Calls on one name are serialized inside the adapter.
//! See README.md for settings and the API calls.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, TxtRecord};
use wildcert_dns_http::zone::{probe, relative_name};
use wildcert_dns_http::{Api, Body, default_timeout, encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.digitalocean.com";

/// DigitalOcean refuses TXT records with a shorter TTL.
pub const MIN_TTL: u32 = 30;

/// Records per page of a listing (the API's maximum is 200).
const PER_PAGE: usize = 200;

/// At most this many pages are read: 20 000 TXT records at one name is not a real zone.
const MAX_PAGES: usize = 100;

const AUTH_HINT: &str =
    "check auth_token (lego: DO_AUTH_TOKEN): a personal access token with write access to domains";

/// DigitalOcean's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitalOceanConfig {
    /// A personal access token with write access to domains.
    pub auth_token: Option<SecretSource>,
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

/// The DigitalOcean adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct DigitalOcean {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for DigitalOcean {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigitalOcean").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Listing {
    #[serde(default)]
    domain_records: Vec<DomainRecord>,
    links: Option<Links>,
}

/// `links.pages` of a listing: `next` is there while more pages follow.
#[derive(Debug, Deserialize)]
struct Links {
    #[serde(default)]
    pages: Option<Pages>,
}

#[derive(Debug, Deserialize)]
struct Pages {
    #[serde(default)]
    next: Option<String>,
}

impl Listing {
    /// Whether another page follows. The API names the next page in `links.pages.next`; a
    /// server that gives no `links` at all is read on while pages come back full.
    fn has_next(&self) -> bool {
        match &self.links {
            Some(links) => links.pages.as_ref().is_some_and(|p| p.next.is_some()),
            None => self.domain_records.len() >= PER_PAGE,
        }
    }
}

#[derive(Debug, Deserialize)]
struct DomainRecord {
    id: u64,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    data: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    #[serde(rename = "type")]
    rtype: &'static str,
    name: &'a str,
    data: &'a str,
    ttl: u32,
}

impl DigitalOcean {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        token: &wildcert_dns_api::Secret,
        timeout: Duration,
    ) -> Result<DigitalOcean, ProviderError> {
        let api = Api::connect("digitalocean", api_url, timeout)?
            .require("auth_token", token)?
            .with_bearer(token)?;
        Ok(DigitalOcean { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    /// The domain (zone) that holds the record: the first candidate the account has.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let path = |candidate: &str| format!("/v2/domains/{}", encode(candidate));
        let missing = "no domain of this account holds the name; add the domain under Networking > Domains";
        probe(&self.inner.api, record, path, &[], AUTH_HINT, missing).await
    }

    /// The IDs of the TXT records at the name whose data is our value.
    async fn matching(&self, zone: &str, record: &TxtRecord) -> Result<Vec<u64>, ProviderError> {
        let fqdn = record.fqdn_without_dot().to_ascii_lowercase();
        let relative = relative_name(record, zone);
        let mut ids = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/v2/domains/{}/records?type=TXT&name={}&per_page={PER_PAGE}&page={page}",
                encode(zone),
                encode(&fqdn)
            );
            let listing: Listing = self.inner.api.json(Method::GET, &path, &Body::Empty, AUTH_HINT).await?;
            let more = listing.has_next() && !listing.domain_records.is_empty();
            for r in listing.domain_records {
                let name = r.name.trim_end_matches('.').to_ascii_lowercase();
                // The API answers with names relative to the domain; accept the full name too.
                let at_name = name == relative || name == fqdn || (relative == "@" && name == zone);
                if r.rtype.eq_ignore_ascii_case("TXT") && at_name && r.data == record.value {
                    ids.push(r.id);
                }
            }
            if !more {
                return Ok(ids);
            }
        }
        Ok(ids)
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        if !self.matching(&zone, record).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "digitalocean: value already present");
            return Ok(());
        }
        let name = relative_name(record, &zone);
        let body = Body::json(&NewRecord {
            rtype: "TXT",
            name: &name,
            data: &record.value,
            ttl: record.ttl.max(MIN_TTL),
        });
        let path = format!("/v2/domains/{}/records", encode(&zone));
        let _: serde::de::IgnoredAny = self.inner.api.json(Method::POST, &path, &body, AUTH_HINT).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "digitalocean: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let api = &self.inner.api;
        for id in self.matching(&zone, record).await? {
            let path = format!("/v2/domains/{}/records/{id}", encode(&zone));
            api.delete(&path, AUTH_HINT).await?;
            tracing::debug!(fqdn = %record.fqdn, id, "digitalocean: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for DigitalOcean {
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

impl ProviderSpec for DigitalOcean {
    type Config = DigitalOceanConfig;
    const CODE: &'static str = "digitalocean";
    const NAME: &'static str = "DigitalOcean";
    const PERMISSIONS: &'static str = "a personal access token with read and write access to domains";
    const SECRETS: &'static [&'static str] = &["auth_token"];
    const ENV: &'static [EnvName] = &[
        env("DO_AUTH_TOKEN", "auth_token", Kind::Secret),
        env("DO_API_URL", "api_url", Kind::Text),
        env("DO_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("DO_TTL", TTL),
        ignored("DO_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("DO_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &DigitalOceanConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.auth_token, "auth_token")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(
        config: &DigitalOceanConfig,
        secrets: &mut dyn SecretReader,
    ) -> Result<DigitalOcean, ProviderError> {
        let token = read_required(secrets, "digitalocean", "auth_token", &config.auth_token)?;
        DigitalOcean::new(&config.api_url, &token, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_token_and_a_bad_url() {
        let token = wildcert_dns_api::Secret::new("dop_v1_abc");
        assert!(DigitalOcean::new("https://api.digitalocean.com", &token, Duration::from_secs(5)).is_ok());
        let empty = wildcert_dns_api::Secret::new(" ");
        let err = DigitalOcean::new(DEFAULT_API_URL, &empty, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("auth_token"), "{err}");
        let err = DigitalOcean::new("ftp://x", &token, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("api_url"), "{err}");
        assert!(
            !format!("{:?}", DigitalOcean::new(DEFAULT_API_URL, &token, Duration::from_secs(5)).unwrap())
                .contains("dop_v1")
        );
    }
}
