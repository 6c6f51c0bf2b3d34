//! GleSYS: add and remove one TXT value through the GleSYS API's domain module.
//!
//! GleSYS keeps one record per TXT value, so adding ours is one `POST /domain/addrecord`
//! that leaves every other value at the name alone, and removing it deletes exactly the
//! records whose data is our value (`POST /domain/deleterecord` by record ID), found with
//! `POST /domain/listrecords`. lego keeps the new record's ID in memory; finding records by
//! value makes a cleanup after a restart work too. HTTP basic authentication with the API
//! user (the project, e.g. `cl12345`) and an API key. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required, required_text,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::{candidates, relative_name};
use wildcert_dns_http::{Api, Body, HttpClient, StatusClass, basic_auth, classify};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.glesys.com";

/// GleSYS's smallest TTL (lego's as well).
pub const MIN_TTL: u32 = 60;

const AUTH_HINT: &str = "check api_user and api_key (lego: GLESYS_API_USER, GLESYS_API_KEY): the project \
     (cl12345) and a key allowed domain/listrecords, domain/addrecord and domain/deleterecord";

/// GleSYS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlesysConfig {
    /// The API user: the project name, e.g. `cl12345`.
    pub api_user: Option<String>,
    /// An API key of that project.
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

/// The GleSYS adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Glesys {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for Glesys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Glesys").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Listing {
    response: ListingBody,
}

#[derive(Debug, Deserialize)]
struct ListingBody {
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    recordid: u64,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    data: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    domainname: &'a str,
    host: &'a str,
    #[serde(rename = "type")]
    rtype: &'static str,
    data: &'a str,
    ttl: u32,
}

impl Glesys {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, user: &str, key: &Secret, timeout: Duration) -> Result<Glesys, ProviderError> {
        let provider = format!("glesys ({})", api_url.trim().trim_end_matches('/'));
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
        Ok(Glesys { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    /// The domain that holds the record and the IDs of its TXT records at the name whose
    /// data is our value: the first candidate `listrecords` accepts.
    async fn find(&self, record: &TxtRecord) -> Result<(String, Vec<u64>), ProviderError> {
        let api = &self.inner.api;
        for candidate in candidates(record) {
            let body = Body::json(&json!({"domainname": candidate}));
            let response = api.call(Method::POST, "/domain/listrecords", &body, &[]).await?;
            match classify(response.status) {
                StatusClass::Success => {}
                // GleSYS answers a domain that is not the project's with 4xx.
                StatusClass::NotFound | StatusClass::Rejected => continue,
                _ => return Err(api.error("POST /domain/listrecords", &response, AUTH_HINT)),
            }
            let listing: Listing = api.parse("POST /domain/listrecords", &response, AUTH_HINT)?;
            let host = relative_name(record, &candidate);
            let ids = listing
                .response
                .records
                .iter()
                .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.host.eq_ignore_ascii_case(&host))
                .filter(|r| r.data == record.value)
                .map(|r| r.recordid)
                .collect();
            return Ok((candidate, ids));
        }
        Err(ProviderError::ZoneNotFound {
            provider: api.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: "no domain of this GleSYS project holds the name".into(),
        })
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, found) = self.find(record).await?;
        if !found.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "glesys: value already present");
            return Ok(());
        }
        let host = relative_name(record, &zone);
        let body = Body::json(&NewRecord {
            domainname: &zone,
            host: &host,
            rtype: "TXT",
            data: &record.value,
            ttl: record.ttl.max(MIN_TTL),
        });
        let _: serde::de::IgnoredAny =
            self.inner.api.json(Method::POST, "/domain/addrecord", &body, AUTH_HINT).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "glesys: record added");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (_, found) = self.find(record).await?;
        let api = &self.inner.api;
        for id in found {
            let body = Body::json(&json!({"recordid": id}));
            let response = api.call(Method::POST, "/domain/deleterecord", &body, &[]).await?;
            match classify(response.status) {
                // Gone already (a concurrent cleanup): what we wanted.
                StatusClass::Success | StatusClass::NotFound => {}
                _ => return Err(api.error("POST /domain/deleterecord", &response, AUTH_HINT)),
            }
            tracing::debug!(fqdn = %record.fqdn, id, "glesys: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Glesys {
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

impl ProviderSpec for Glesys {
    type Config = GlesysConfig;
    const CODE: &'static str = "glesys";
    const NAME: &'static str = "GleSYS";
    const PERMISSIONS: &'static str =
        "an API key with the DOMAIN module's listrecords, addrecord and deleterecord";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("GLESYS_API_USER", "api_user", Kind::Text),
        env("GLESYS_API_KEY", "api_key", Kind::Secret),
        env("GLESYS_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("GLESYS_TTL", TTL),
        ignored("GLESYS_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("GLESYS_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &GlesysConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required_text(
            &config.api_user,
            "api_user",
            "set the GleSYS project, e.g. \"cl12345\" (lego: GLESYS_API_USER)",
        )?;
        required(&config.api_key, "api_key")?;
        check_http(checks, &config.api_url, config.timeout)?;
        Ok(())
    }

    fn build(config: &GlesysConfig, secrets: &mut dyn SecretReader) -> Result<Glesys, ProviderError> {
        let key = read_required(secrets, "glesys", "api_key", &config.api_key)?;
        Glesys::new(&config.api_url, config.api_user.as_deref().unwrap_or_default(), &key, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_credentials_and_hides_the_key() {
        let key = Secret::new("gl3sys-k3y");
        let t = Duration::from_secs(5);
        assert!(Glesys::new(DEFAULT_API_URL, "", &key, t).unwrap_err().to_string().contains("api_user"));
        assert!(
            Glesys::new(DEFAULT_API_URL, "cl1", &Secret::new(" "), t)
                .unwrap_err()
                .to_string()
                .contains("api_key")
        );
        let debug = format!("{:?}", Glesys::new(DEFAULT_API_URL, "cl1", &key, t).unwrap());
        assert!(!debug.contains("gl3sys"), "{debug}");
    }
}
