//! Name.com: add and remove one TXT value through the Name.com API v4.
//!
//! Name.com keeps one record per TXT value, so adding ours is one `POST
//! /v4/domains/{domain}/records` that leaves every other value at the name alone, and
//! removing it deletes exactly the records whose answer is our value, found by listing the
//! domain's records page by page (`nextPage`). HTTP basic authentication with the account's
//! user name and an API token. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_required, required, required_text,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, same_name};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::{candidates, host_name};
use wildcert_dns_http::{Api, Body, HttpClient, StatusClass, basic_auth, classify, encode};

/// Where the API lives (the test environment is `https://api.dev.name.com`).
pub const DEFAULT_API_URL: &str = "https://api.name.com";

/// Name.com's smallest TTL.
pub const MIN_TTL: u32 = 300;

/// Records per page of a listing (the API's default and largest page).
const PER_PAGE: u32 = 1000;

/// At most this many pages are read.
const MAX_PAGES: u32 = 100;

const AUTH_HINT: &str = "check username (lego: NAMECOM_USERNAME; `<user>-test` on api.dev.name.com) and \
     api_token (NAMECOM_API_TOKEN), and that API access is enabled for the account";

/// Name.com's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameDotComConfig {
    /// The account's user name.
    pub username: Option<String>,
    /// An API token from the API Token Management page.
    pub api_token: Option<SecretSource>,
    /// Base URL of the API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// lego's `NAMECOM_SERVER`: the API's host name (`api.dev.name.com`); sets `api_url` to
    /// `https://<server>`.
    pub server: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

impl NameDotComConfig {
    /// The base URL: `server` when given (a host name, or a URL), else `api_url`.
    pub fn base_url(&self) -> String {
        match self.server.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(server) if server.contains("://") => server.to_string(),
            Some(server) => format!("https://{server}"),
            None => self.api_url.clone(),
        }
    }
}

/// The Name.com adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct NameDotCom {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for NameDotCom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameDotCom").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

/// A page of `ListRecords`. Fields at their default value are left out of Name.com's
/// answers (an apex record has no `host`; the last page no `nextPage`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    #[serde(default)]
    records: Vec<Record>,
    #[serde(default)]
    next_page: u32,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: u64,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    fqdn: String,
    #[serde(default)]
    answer: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    host: &'a str,
    #[serde(rename = "type")]
    rtype: &'static str,
    answer: &'a str,
    ttl: u32,
}

impl NameDotCom {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        username: &str,
        token: &Secret,
        timeout: Duration,
    ) -> Result<NameDotCom, ProviderError> {
        let provider = format!("namedotcom ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        if username.trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "username is empty".into() });
        }
        if token.expose().trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "api_token is empty".into() });
        }
        let trimmed = Secret::new(token.expose().trim());
        let header = basic_auth(username.trim(), &trimmed);
        let header = header.to_str().expect("base64 is a valid header value").to_string();
        // The header's base64 is as secret as the token: redacted from messages as well.
        let api = Api::new(&provider, api_url, client)?
            .with_redacted(&Secret::new(header.trim_start_matches("Basic ")))
            .with_secret_header(http::header::AUTHORIZATION, header, token)?;
        Ok(NameDotCom { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    /// The domain that holds the record: the first candidate the account has.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let api = &self.inner.api;
        for candidate in candidates(record) {
            let path = format!("/v4/domains/{}", encode(&candidate));
            let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
            match classify(response.status) {
                StatusClass::Success => return Ok(candidate),
                StatusClass::NotFound => continue,
                _ => return Err(api.error(&format!("GET {path}"), &response, AUTH_HINT)),
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: api.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: "no domain of this Name.com account holds the name".into(),
        })
    }

    /// The IDs of the TXT records at the name whose answer is our value.
    async fn matching(&self, zone: &str, record: &TxtRecord) -> Result<Vec<u64>, ProviderError> {
        let mut ids = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_PAGES {
            let path = format!("/v4/domains/{}/records?perPage={PER_PAGE}&page={page}", encode(zone));
            let listing: Listing = self.inner.api.json(Method::GET, &path, &Body::Empty, AUTH_HINT).await?;
            ids.extend(
                listing
                    .records
                    .iter()
                    .filter(|r| r.rtype.eq_ignore_ascii_case("TXT"))
                    .filter(|r| same_name(&r.fqdn, &record.fqdn))
                    .filter(|r| r.answer == record.value)
                    .map(|r| r.id),
            );
            // A next page that does not move forward would loop: stop there.
            if listing.next_page <= page {
                break;
            }
            page = listing.next_page;
        }
        Ok(ids)
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        if !self.matching(&zone, record).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "namedotcom: value already present");
            return Ok(());
        }
        let host = host_name(record, &zone);
        let body = Body::json(&NewRecord {
            host: &host,
            rtype: "TXT",
            answer: &record.value,
            ttl: record.ttl.max(MIN_TTL),
        });
        let path = format!("/v4/domains/{}/records", encode(&zone));
        let _: serde::de::IgnoredAny = self.inner.api.json(Method::POST, &path, &body, AUTH_HINT).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "namedotcom: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let api = &self.inner.api;
        for id in self.matching(&zone, record).await? {
            let path = format!("/v4/domains/{}/records/{id}", encode(&zone));
            api.delete(&path, AUTH_HINT).await?;
            tracing::debug!(fqdn = %record.fqdn, id, "namedotcom: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for NameDotCom {
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

impl ProviderSpec for NameDotCom {
    type Config = NameDotComConfig;
    const CODE: &'static str = "namedotcom";
    const NAME: &'static str = "Name.com";
    const PERMISSIONS: &'static str =
        "an API token of the account holding the domain (the API has no narrower scope)";
    const SECRETS: &'static [&'static str] = &["api_token"];
    const ENV: &'static [EnvName] = &[
        env("NAMECOM_USERNAME", "username", Kind::Text),
        env("NAMECOM_API_TOKEN", "api_token", Kind::Secret),
        env("NAMECOM_SERVER", "server", Kind::Text),
        env("NAMECOM_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("NAMECOM_TTL", TTL),
        ignored("NAMECOM_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("NAMECOM_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &NameDotComConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required_text(&config.username, "username", "set the Name.com user name (lego: NAMECOM_USERNAME)")?;
        required(&config.api_token, "api_token")?;
        if config.server.is_some() && config.api_url != DEFAULT_API_URL {
            return Err(SettingError::new("server", "set either server (a host name) or api_url, not both"));
        }
        let key = if config.server.is_some() { "server" } else { "api_url" };
        checks.url(key, &config.base_url())?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &NameDotComConfig, secrets: &mut dyn SecretReader) -> Result<NameDotCom, ProviderError> {
        let token = read_required(secrets, "namedotcom", "api_token", &config.api_token)?;
        NameDotCom::new(
            &config.base_url(),
            config.username.as_deref().unwrap_or_default(),
            &token,
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server: Option<&str>) -> NameDotComConfig {
        NameDotComConfig {
            username: Some("acme".into()),
            api_token: None,
            api_url: DEFAULT_API_URL.into(),
            server: server.map(Into::into),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn server_is_a_host_name_as_in_lego() {
        assert_eq!(config(None).base_url(), "https://api.name.com");
        assert_eq!(config(Some("api.dev.name.com")).base_url(), "https://api.dev.name.com");
        assert_eq!(config(Some("http://127.0.0.1:8080")).base_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn refuses_empty_credentials_and_hides_the_token() {
        let token = Secret::new("n4me-t0ken");
        let t = Duration::from_secs(5);
        assert!(
            NameDotCom::new(DEFAULT_API_URL, " ", &token, t).unwrap_err().to_string().contains("username")
        );
        assert!(
            NameDotCom::new(DEFAULT_API_URL, "u", &Secret::new(""), t)
                .unwrap_err()
                .to_string()
                .contains("api_token")
        );
        let debug = format!("{:?}", NameDotCom::new(DEFAULT_API_URL, "u", &token, t).unwrap());
        assert!(!debug.contains("n4me") && !debug.contains("dTpu"), "{debug}");
    }
}
