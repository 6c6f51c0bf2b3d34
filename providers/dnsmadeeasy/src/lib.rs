//! DNS Made Easy: add and remove one TXT value through the API v2.0.
//!
//! Every request is signed: `x-dnsme-apiKey`, `x-dnsme-requestDate` (an HTTP date) and
//! `x-dnsme-hmac`, the hex HMAC-SHA1 of that date under the secret key. DNS Made Easy keeps
//! one record per TXT value, so adding ours is one `POST /dns/managed/{id}/records` that
//! leaves every other value alone, and removing it deletes exactly the records whose value
//! is ours, found by listing the TXT records of the name. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, quote_txt, txt_text};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::sign::{Hash, hex, hmac};
use wildcert_dns_http::zone::{candidates, host_name};
use wildcert_dns_http::{Api, Body, HttpClient, Response, StatusClass, classify, encode};

/// The production API.
pub const DEFAULT_API_URL: &str = "https://api.dnsmadeeasy.com/V2.0";

/// The sandbox API (`sandbox = true`, lego's `DNSMADEEASY_SANDBOX`).
pub const SANDBOX_API_URL: &str = "https://api.sandbox.dnsmadeeasy.com/V2.0";

const AUTH_HINT: &str = "check api_key and api_secret (lego: DNSMADEEASY_API_KEY, DNSMADEEASY_API_SECRET), \
     sandbox (sandbox keys only work with sandbox = true), and this host's clock (requests are signed with the time)";

/// DNS Made Easy's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsMadeEasyConfig {
    /// The account's API key.
    pub api_key: Option<SecretSource>,
    /// The account's secret key, which signs every request.
    pub api_secret: Option<SecretSource>,
    /// Use the sandbox API instead of production.
    #[serde(default)]
    pub sandbox: bool,
    /// Base URL of the API; by default production's, or the sandbox's with `sandbox = true`.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

impl DnsMadeEasyConfig {
    /// The API to call: `api_url` when set, else the sandbox or the production API.
    pub fn base_url(&self) -> &str {
        match (&self.api_url, self.sandbox) {
            (Some(url), _) => url,
            (None, true) => SANDBOX_API_URL,
            (None, false) => DEFAULT_API_URL,
        }
    }
}

/// The DNS Made Easy adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct DnsMadeEasy {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    key: Secret,
    secret: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for DnsMadeEasy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsMadeEasy").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Domain {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct Listing {
    #[serde(default)]
    data: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: u64,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NewRecord<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    rtype: &'static str,
    value: String,
    ttl: u32,
    gtd_location: &'static str,
}

/// The signature headers for a request sent at `now`.
pub fn signature(key: &Secret, secret: &Secret, now: SystemTime) -> Vec<(HeaderName, HeaderValue)> {
    let date = httpdate::fmt_http_date(now);
    let mac = hex(&hmac(Hash::Sha1, secret.expose().trim().as_bytes(), date.as_bytes()));
    let mut key_value =
        HeaderValue::from_str(key.expose().trim()).unwrap_or_else(|_| HeaderValue::from_static(""));
    key_value.set_sensitive(true);
    let mut mac_value = HeaderValue::from_str(&mac).expect("hex is a valid header value");
    mac_value.set_sensitive(true);
    vec![
        (HeaderName::from_static("x-dnsme-apikey"), key_value),
        (HeaderName::from_static("x-dnsme-requestdate"), HeaderValue::from_str(&date).expect("an HTTP date")),
        (HeaderName::from_static("x-dnsme-hmac"), mac_value),
    ]
}

impl DnsMadeEasy {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        key: &Secret,
        secret: &Secret,
        timeout: Duration,
    ) -> Result<DnsMadeEasy, ProviderError> {
        let provider = format!("dnsmadeeasy ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        for (name, value) in [("api_key", key), ("api_secret", secret)] {
            let text = value.expose().trim();
            if text.is_empty() {
                return Err(ProviderError::Config { provider, detail: format!("{name} is empty") });
            }
            if HeaderValue::from_str(text).is_err() {
                return Err(ProviderError::Config {
                    provider,
                    detail: format!("{name} contains characters an HTTP header cannot carry"),
                });
            }
        }
        let api = Api::new(&provider, api_url, client)?.with_redacted(key).with_redacted(secret);
        Ok(DnsMadeEasy {
            inner: Arc::new(Inner {
                api,
                key: key.clone(),
                secret: secret.clone(),
                locks: NameLocks::default(),
            }),
        })
    }

    /// One signed call.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        let headers = signature(&self.inner.key, &self.inner.secret, SystemTime::now());
        let response = self.inner.api.call(method, path, body, &headers).await?;
        if let Some(left) = response.headers.get("x-dnsme-requestsremaining").and_then(|v| v.to_str().ok()) {
            tracing::trace!(requests_remaining = left, "dnsmadeeasy: rate limit");
        }
        Ok(response)
    }

    /// The error for an answer that is not a success. DNS Made Easy answers an exhausted
    /// rate limit (150 requests per 5 minutes) with HTTP 400 "Rate limit exceeded": that is
    /// a temporary failure, not a refusal.
    fn error(&self, action: &str, response: &Response) -> ProviderError {
        let body = String::from_utf8_lossy(&response.body);
        if body.to_ascii_lowercase().contains("rate limit exceeded") {
            return ProviderError::Temporary {
                provider: self.inner.api.provider().to_string(),
                detail: format!("{action}: rate limit exceeded (150 requests per 5 minutes)"),
                retry_after: Some(Duration::from_secs(60)),
            };
        }
        self.inner.api.error(action, response, AUTH_HINT)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Body,
    ) -> Result<T, ProviderError> {
        let action = format!("{method} {}", path.split('?').next().unwrap_or_default());
        let response = self.call(method, path, body).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(self.error(&action, &response));
        }
        self.inner.api.parse(&action, &response, AUTH_HINT)
    }

    /// The managed domain that holds the record: its name and ID.
    async fn zone_for(&self, record: &TxtRecord) -> Result<(String, u64), ProviderError> {
        for candidate in candidates(record) {
            let path = format!("/dns/managed/name?domainname={}", encode(&candidate));
            let response = self.call(Method::GET, &path, &Body::Empty).await?;
            match classify(response.status) {
                StatusClass::Success => {
                    let domain: Domain =
                        self.inner.api.parse("GET /dns/managed/name", &response, AUTH_HINT)?;
                    return Ok((candidate, domain.id));
                }
                StatusClass::NotFound => continue,
                _ => return Err(self.error("GET /dns/managed/name", &response)),
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.inner.api.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: "no managed domain of this account holds the name".into(),
        })
    }

    /// The IDs of the TXT records at the name whose value is ours.
    async fn matching(&self, zone: &str, id: u64, record: &TxtRecord) -> Result<Vec<u64>, ProviderError> {
        let name = host_name(record, zone);
        let path = format!("/dns/managed/{id}/records?recordName={}&type=TXT", encode(&name));
        let listing: Listing = self.json(Method::GET, &path, &Body::Empty).await?;
        Ok(listing
            .data
            .iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(&name))
            // Values come back in presentation form (quoted).
            .filter(|r| txt_text(&r.value) == record.value)
            .map(|r| r.id)
            .collect())
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, id) = self.zone_for(record).await?;
        if !self.matching(&zone, id, record).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "dnsmadeeasy: value already present");
            return Ok(());
        }
        let name = host_name(record, &zone);
        let body = Body::json(&NewRecord {
            name: &name,
            rtype: "TXT",
            value: quote_txt(&record.value),
            ttl: record.ttl,
            gtd_location: "DEFAULT",
        });
        let _: serde::de::IgnoredAny =
            self.json(Method::POST, &format!("/dns/managed/{id}/records"), &body).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "dnsmadeeasy: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, id) = self.zone_for(record).await?;
        for record_id in self.matching(&zone, id, record).await? {
            let path = format!("/dns/managed/{id}/records/{record_id}");
            let response = self.call(Method::DELETE, &path, &Body::Empty).await?;
            match classify(response.status) {
                // Gone already (a concurrent cleanup): what we wanted.
                StatusClass::Success | StatusClass::NotFound => {}
                _ => return Err(self.error(&format!("DELETE {path}"), &response)),
            }
            tracing::debug!(fqdn = %record.fqdn, record_id, "dnsmadeeasy: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for DnsMadeEasy {
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

impl ProviderSpec for DnsMadeEasy {
    type Config = DnsMadeEasyConfig;
    const CODE: &'static str = "dnsmadeeasy";
    const NAME: &'static str = "DNS Made Easy";
    const PERMISSIONS: &'static str =
        "an API key and secret of a user allowed to read and change the domain's records";
    const SECRETS: &'static [&'static str] = &["api_key", "api_secret"];
    const ENV: &'static [EnvName] = &[
        env("DNSMADEEASY_API_KEY", "api_key", Kind::Secret),
        env("DNSMADEEASY_API_SECRET", "api_secret", Kind::Secret),
        env("DNSMADEEASY_SANDBOX", "sandbox", Kind::Bool),
        env("DNSMADEEASY_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("DNSMADEEASY_TTL", TTL),
        ignored("DNSMADEEASY_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("DNSMADEEASY_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &DnsMadeEasyConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        required(&config.api_secret, "api_secret")?;
        if config.sandbox && config.api_url.is_some() {
            checks.warn("sandbox", "has no effect: api_url is set and used instead");
        }
        checks.url("api_url", config.base_url())?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(
        config: &DnsMadeEasyConfig,
        secrets: &mut dyn SecretReader,
    ) -> Result<DnsMadeEasy, ProviderError> {
        let key = read_required(secrets, "dnsmadeeasy", "api_key", &config.api_key)?;
        let secret = read_required(secrets, "dnsmadeeasy", "api_secret", &config.api_secret)?;
        DnsMadeEasy::new(config.base_url(), &key, &secret, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature is the hex HMAC-SHA1 of the request date under the secret key.
    #[test]
    fn signs_the_request_date() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_297_544_344);
        let headers = signature(&Secret::new("key-1"), &Secret::new("secret-1"), at);
        let get = |n: &str| headers.iter().find(|(h, _)| h == n).unwrap().1.to_str().unwrap().to_string();
        assert_eq!(get("x-dnsme-requestdate"), "Sat, 12 Feb 2011 20:59:04 GMT");
        assert_eq!(
            get("x-dnsme-hmac"),
            hex(&hmac(Hash::Sha1, b"secret-1", b"Sat, 12 Feb 2011 20:59:04 GMT"))
        );
        assert_eq!(get("x-dnsme-apikey"), "key-1");
        assert!(headers.iter().all(|(n, v)| n == "x-dnsme-requestdate" || v.is_sensitive()));
    }

    #[test]
    fn sandbox_picks_the_sandbox_url() {
        let mut config = DnsMadeEasyConfig {
            api_key: None,
            api_secret: None,
            sandbox: false,
            api_url: None,
            timeout: Duration::from_secs(5),
        };
        assert_eq!(config.base_url(), DEFAULT_API_URL);
        config.sandbox = true;
        assert_eq!(config.base_url(), SANDBOX_API_URL);
        let debug = format!(
            "{:?}",
            DnsMadeEasy::new(
                SANDBOX_API_URL,
                &Secret::new("k3y"),
                &Secret::new("s3cr3t"),
                Duration::from_secs(5)
            )
            .unwrap()
        );
        assert!(!debug.contains("s3cr3t") && !debug.contains("k3y"), "{debug}");
    }
}
