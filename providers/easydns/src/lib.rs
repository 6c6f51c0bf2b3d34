//! easyDNS: add and remove one TXT value through the easyDNS REST API.
//!
//! easyDNS keeps one record per TXT value, so adding ours is one `PUT
//! /zones/records/add/{domain}/TXT` that leaves every other value at the name alone, and
//! removing it deletes exactly the records whose data is our value, found by listing the
//! domain (`GET /zones/records/all/{domain}`, paged by `start`). Unlike lego, which keeps
//! the new record's ID in memory, cleanup finds records by value, so it also works after a
//! restart. HTTP basic authentication with the API token and key. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SEQUENCE, SecretReader, SecretSource,
    SettingError, TTL, check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::{candidates, relative_name};
use wildcert_dns_http::{Api, Body, HttpClient, StatusClass, basic_auth, classify, encode};

/// Where the API lives (the sandbox is `https://sandbox.rest.easydns.net`).
pub const DEFAULT_API_URL: &str = "https://rest.easydns.net";

/// At most this many pages are read.
const MAX_PAGES: usize = 100;

const AUTH_HINT: &str = "check token and key (lego: EASYDNS_TOKEN, EASYDNS_KEY): the API credentials easyDNS \
     issued, for the endpoint they belong to (sandbox credentials only work with the sandbox)";

/// easyDNS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EasyDnsConfig {
    /// The API token (the basic-authentication user).
    pub token: Option<SecretSource>,
    /// The API key (the basic-authentication password).
    pub key: Option<SecretSource>,
    /// Base URL of the API (lego's `EASYDNS_ENDPOINT`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The easyDNS adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct EasyDns {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for EasyDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EasyDns").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

/// A page of `zones/records/all`.
#[derive(Debug, Deserialize)]
struct Listing {
    #[serde(default)]
    data: Vec<Record>,
    #[serde(default, deserialize_with = "lenient_number")]
    total: u64,
    #[serde(default, deserialize_with = "lenient_number")]
    start: u64,
}

/// easyDNS sends numbers as numbers or as strings.
fn lenient_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(u64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match N::deserialize(deserializer)? {
        N::Int(n) => n,
        N::Text(t) => t.trim().parse().unwrap_or(0),
        N::Other(_) => 0,
    })
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    id: String,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    rdata: String,
}

/// A new record; easyDNS takes every field as a string.
#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    domain: &'a str,
    host: &'a str,
    ttl: String,
    prio: &'static str,
    #[serde(rename = "type")]
    rtype: &'static str,
    rdata: &'a str,
}

impl EasyDns {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        token: &Secret,
        key: &Secret,
        timeout: Duration,
    ) -> Result<EasyDns, ProviderError> {
        let provider = format!("easydns ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        for (name, value) in [("token", token), ("key", key)] {
            if value.expose().trim().is_empty() {
                return Err(ProviderError::Config { provider, detail: format!("{name} is empty") });
            }
        }
        let header = basic_auth(token.expose().trim(), &Secret::new(key.expose().trim()));
        let header = header.to_str().expect("base64 is a valid header value").to_string();
        let api = Api::new(&provider, api_url, client)?
            .with_redacted(token)
            .with_redacted(&Secret::new(header.trim_start_matches("Basic ")))
            .with_secret_header(http::header::AUTHORIZATION, header, key)?;
        Ok(EasyDns { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    /// One page of the domain's records, `None` when the domain is not the account's.
    async fn page(&self, domain: &str, start: u64) -> Result<Option<Listing>, ProviderError> {
        let api = &self.inner.api;
        let path = format!("/zones/records/all/{}?format=json&start={start}", encode(domain));
        let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
        match classify(response.status) {
            StatusClass::Success => api.parse("GET /zones/records/all", &response, AUTH_HINT).map(Some),
            // easyDNS answers a domain that is not the account's with 404 (or 400).
            StatusClass::NotFound | StatusClass::Rejected => Ok(None),
            _ => Err(api.error("GET /zones/records/all", &response, AUTH_HINT)),
        }
    }

    /// The domain that holds the record and the IDs of its TXT records at the record's name
    /// whose data is our value.
    async fn find(&self, record: &TxtRecord) -> Result<(String, Vec<String>), ProviderError> {
        for candidate in candidates(record) {
            let Some(first) = self.page(&candidate, 0).await? else { continue };
            let host = relative_name(record, &candidate);
            let mut ids = Vec::new();
            let mut listing = first;
            for _ in 0..MAX_PAGES {
                let count = listing.data.len() as u64;
                ids.extend(
                    listing
                        .data
                        .iter()
                        .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.host.eq_ignore_ascii_case(&host))
                        .filter(|r| txt_text(&r.rdata) == record.value && !r.id.is_empty())
                        .map(|r| r.id.clone()),
                );
                let next = listing.start + count;
                if count == 0 || next >= listing.total {
                    break;
                }
                match self.page(&candidate, next).await? {
                    Some(more) => listing = more,
                    None => break,
                }
            }
            return Ok((candidate, ids));
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.inner.api.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: "no domain of this easyDNS account holds the name".into(),
        })
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, found) = self.find(record).await?;
        if !found.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "easydns: value already present");
            return Ok(());
        }
        let host = relative_name(record, &zone);
        let body = Body::json(&NewRecord {
            domain: &zone,
            host: &host,
            ttl: record.ttl.to_string(),
            prio: "0",
            rtype: "TXT",
            rdata: &record.value,
        });
        let path = format!("/zones/records/add/{}/TXT?format=json", encode(&zone));
        let _: serde::de::IgnoredAny = self.inner.api.json(Method::PUT, &path, &body, AUTH_HINT).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "easydns: record added");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, found) = self.find(record).await?;
        let api = &self.inner.api;
        for id in found {
            let path = format!("/zones/records/{}/{}?format=json", encode(&zone), encode(&id));
            let response = api.call(Method::DELETE, &path, &Body::Empty, &[]).await?;
            match classify(response.status) {
                // Gone already (a concurrent cleanup): what we wanted.
                StatusClass::Success | StatusClass::NotFound => {}
                _ => return Err(api.error("DELETE /zones/records", &response, AUTH_HINT)),
            }
            tracing::debug!(fqdn = %record.fqdn, id, "easydns: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for EasyDns {
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

impl ProviderSpec for EasyDns {
    type Config = EasyDnsConfig;
    const CODE: &'static str = "easydns";
    const NAME: &'static str = "easyDNS";
    const PERMISSIONS: &'static str = "an API token and key with access to the domain's zone";
    const SECRETS: &'static [&'static str] = &["token", "key"];
    const ENV: &'static [EnvName] = &[
        env("EASYDNS_TOKEN", "token", Kind::Secret),
        env("EASYDNS_KEY", "key", Kind::Secret),
        env("EASYDNS_ENDPOINT", "api_url", Kind::Text),
        env("EASYDNS_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("EASYDNS_TTL", TTL),
        ignored("EASYDNS_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("EASYDNS_POLLING_INTERVAL", POLLING),
        ignored("EASYDNS_SEQUENCE_INTERVAL", SEQUENCE),
    ];

    fn check(config: &EasyDnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.token, "token")?;
        required(&config.key, "key")?;
        check_http(checks, &config.api_url, config.timeout)?;
        Ok(())
    }

    fn build(config: &EasyDnsConfig, secrets: &mut dyn SecretReader) -> Result<EasyDns, ProviderError> {
        let token = read_required(secrets, "easydns", "token", &config.token)?;
        let key = read_required(secrets, "easydns", "key", &config.key)?;
        EasyDns::new(&config.api_url, &token, &key, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_read_numbers_either_way() {
        let listing: Listing =
            serde_json::from_str(r#"{"data":[],"total":"12","start":0,"count":0,"max":"1000"}"#).unwrap();
        assert_eq!((listing.total, listing.start), (12, 0));
        let listing: Listing = serde_json::from_str(r#"{"data":[],"total":null}"#).unwrap();
        assert_eq!(listing.total, 0);
    }

    #[test]
    fn refuses_empty_credentials_and_hides_them() {
        let (token, key, t) = (Secret::new("t0ken-abc"), Secret::new("k3y-def"), Duration::from_secs(5));
        assert!(
            EasyDns::new(DEFAULT_API_URL, &Secret::new(""), &key, t)
                .unwrap_err()
                .to_string()
                .contains("token")
        );
        let debug = format!("{:?}", EasyDns::new(DEFAULT_API_URL, &token, &key, t).unwrap());
        assert!(!debug.contains("t0ken") && !debug.contains("k3y"), "{debug}");
    }
}
