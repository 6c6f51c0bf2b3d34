//! Exoscale: add and remove one TXT value through the Exoscale API v2 DNS endpoints.
//!
//! Every request carries an `EXO2-HMACSHA256` signature: the base64 HMAC-SHA256, under the
//! API secret, of the lines `METHOD /path`, the body, the signed query values, the signed
//! header values (none) and the expiry time. The zone is picked from the account's domain
//! list (`GET /dns-domain`); records are one per value, so `present` is one `POST
//! /dns-domain/{id}/record` and `cleanup` deletes exactly the records whose content is our
//! value. Both changes are asynchronous operations, polled (`GET /operation/{id}`) until
//! Exoscale reports them done. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::sign::{Hash, base64, hmac};
use wildcert_dns_http::zone::{host_name, pick};
use wildcert_dns_http::{Api, Body, HttpClient, Response, StatusClass, classify, encode};
use wildcert_dns_http::{JobWait, default_timeout};

/// The zone whose API endpoint is used by default.
pub const DEFAULT_ZONE: &str = "ch-gva-2";

/// How long a signature stays valid.
const SIGNATURE_LIFETIME: Duration = Duration::from_secs(600);

/// How long a record change may stay pending before it is reported as timed out.
const OPERATION_DEADLINE: Duration = Duration::from_secs(120);

const AUTH_HINT: &str = "check api_key and api_secret (lego: EXOSCALE_API_KEY, EXOSCALE_API_SECRET): an IAM key \
     allowed the dns operations, and this host's clock (signatures expire)";

/// Exoscale's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExoscaleConfig {
    /// The IAM API key (`EXO...`).
    pub api_key: Option<SecretSource>,
    /// The IAM API secret, which signs every request.
    pub api_secret: Option<SecretSource>,
    /// The zone whose API endpoint is used (`https://api-<zone>.exoscale.com/v2`).
    #[serde(default = "default_zone")]
    pub api_zone: String,
    /// Base URL of the API v2, instead of the zone's (lego's `EXOSCALE_ENDPOINT`). The
    /// retired v1 endpoint lego once defaulted to is ignored with a warning.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_zone() -> String {
    DEFAULT_ZONE.into()
}

impl ExoscaleConfig {
    /// Whether `api_url` names the retired v1 (CloudStack) API.
    fn legacy_url(&self) -> bool {
        self.api_url.as_deref().is_some_and(|u| {
            let u = u.trim().trim_end_matches('/');
            u.ends_with("/v1") || u.ends_with("/compute") || u.ends_with("/dns")
        })
    }

    /// The v2 API to call: `api_url`, unless it names the retired v1 API, else the one of
    /// `api_zone`.
    pub fn base_url(&self) -> String {
        match &self.api_url {
            Some(url) if !self.legacy_url() => url.clone(),
            _ => format!("https://api-{}.exoscale.com/v2", self.api_zone.trim()),
        }
    }
}

/// The Exoscale adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Exoscale {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// The path prefix of the base URL (`/v2`), part of what is signed.
    prefix: String,
    key: Secret,
    secret: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for Exoscale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exoscale").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Domains {
    #[serde(rename = "dns-domains", default)]
    domains: Vec<Domain>,
}

#[derive(Debug, Deserialize)]
struct Domain {
    id: String,
    #[serde(rename = "unicode-name", default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct Records {
    #[serde(rename = "dns-domain-records", default)]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    content: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    rtype: &'static str,
    content: &'a str,
    ttl: u32,
}

#[derive(Debug, Deserialize)]
struct Operation {
    id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    message: Option<String>,
}

/// The `Authorization` value for one request: `path` is the full path without the query,
/// `query` its (name, value) pairs in the order sent.
pub fn authorization(
    key: &Secret,
    secret: &Secret,
    method: &Method,
    path: &str,
    body: &[u8],
    query: &[(String, String)],
    expires: u64,
) -> String {
    let names: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
    let values: String = query.iter().map(|(_, v)| v.as_str()).collect();
    let message = format!("{method} {path}\n{}\n{values}\n\n{expires}", String::from_utf8_lossy(body));
    let signature = base64(&hmac(Hash::Sha256, secret.expose().trim().as_bytes(), message.as_bytes()));
    let mut value = format!("EXO2-HMACSHA256 credential={}", key.expose().trim());
    if !names.is_empty() {
        value.push_str(&format!(",signed-query-args={}", names.join(";")));
    }
    value.push_str(&format!(",expires={expires},signature={signature}"));
    value
}

impl Exoscale {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        key: &Secret,
        secret: &Secret,
        timeout: Duration,
    ) -> Result<Exoscale, ProviderError> {
        let provider = format!("exoscale ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        for (name, value) in [("api_key", key), ("api_secret", secret)] {
            if value.expose().trim().is_empty() {
                return Err(ProviderError::Config { provider, detail: format!("{name} is empty") });
            }
        }
        let api = Api::new(&provider, api_url, client)?.with_redacted(key).with_redacted(secret);
        let prefix = api
            .base()
            .parse::<http::Uri>()
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        Ok(Exoscale {
            inner: Arc::new(Inner {
                api,
                prefix,
                key: key.clone(),
                secret: secret.clone(),
                locks: NameLocks::default(),
            }),
        })
    }

    /// One signed call; `path` is below the base URL and carries no query.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        let bytes: &[u8] = match body {
            Body::Json(bytes) => bytes,
            _ => b"",
        };
        let expires = (SystemTime::now() + SIGNATURE_LIFETIME)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let full = format!("{}{path}", self.inner.prefix);
        let value = authorization(&self.inner.key, &self.inner.secret, &method, &full, bytes, &[], expires);
        let mut header = HeaderValue::from_str(&value).map_err(|_| ProviderError::Config {
            provider: self.provider(),
            detail: "api_key contains characters an HTTP header cannot carry".into(),
        })?;
        header.set_sensitive(true);
        let extra: [(HeaderName, HeaderValue); 1] = [(AUTHORIZATION, header)];
        self.inner.api.call(method, path, body, &extra).await
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Body,
    ) -> Result<T, ProviderError> {
        let action = format!("{method} {path}");
        let response = self.call(method, path, body).await?;
        self.inner.api.parse(&action, &response, AUTH_HINT)
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// Waits until the operation succeeded.
    async fn settle(&self, mut operation: Operation) -> Result<(), ProviderError> {
        let mut wait = JobWait::new(OPERATION_DEADLINE, Duration::from_millis(200), Duration::from_secs(3));
        loop {
            match operation.state.as_str() {
                "success" => return Ok(()),
                "failure" | "timeout" => {
                    return Err(ProviderError::Rejected {
                        provider: self.provider(),
                        detail: format!(
                            "operation {} ended in {}: {}",
                            operation.id,
                            operation.state,
                            operation.message.unwrap_or_default()
                        ),
                    });
                }
                _ => {}
            }
            if !wait.pause().await {
                return Err(ProviderError::Timeout {
                    provider: self.provider(),
                    after: wait.limit(),
                    detail: format!("operation {} is still {}", operation.id, operation.state),
                });
            }
            operation = self
                .json(Method::GET, &format!("/operation/{}", encode(&operation.id)), &Body::Empty)
                .await?;
        }
    }

    /// The account's domain that holds the record: its ID and name.
    async fn zone_for(&self, record: &TxtRecord) -> Result<(String, String), ProviderError> {
        let list: Domains = self.json(Method::GET, "/dns-domain", &Body::Empty).await?;
        let name = pick(record, list.domains.iter().map(|d| d.name.as_str())).map(str::to_string);
        let domain = name.and_then(|n| list.domains.into_iter().find(|d| d.name == n));
        domain.map(|d| (d.id, d.name)).ok_or_else(|| ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: "no DNS domain of this Exoscale organization holds the name".into(),
        })
    }

    /// The IDs of the TXT records at the name whose content is our value.
    async fn matching(&self, id: &str, zone: &str, record: &TxtRecord) -> Result<Vec<String>, ProviderError> {
        let host = host_name(record, zone);
        let list: Records =
            self.json(Method::GET, &format!("/dns-domain/{}/record", encode(id)), &Body::Empty).await?;
        Ok(list
            .records
            .into_iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(&host))
            .filter(|r| txt_text(&r.content) == record.value)
            .map(|r| r.id)
            .collect())
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (id, zone) = self.zone_for(record).await?;
        if !self.matching(&id, &zone, record).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "exoscale: value already present");
            return Ok(());
        }
        let host = host_name(record, &zone);
        let body =
            Body::json(&NewRecord { name: &host, rtype: "TXT", content: &record.value, ttl: record.ttl });
        let operation: Operation =
            self.json(Method::POST, &format!("/dns-domain/{}/record", encode(&id)), &body).await?;
        self.settle(operation).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "exoscale: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (id, zone) = self.zone_for(record).await?;
        for record_id in self.matching(&id, &zone, record).await? {
            let path = format!("/dns-domain/{}/record/{}", encode(&id), encode(&record_id));
            let response = self.call(Method::DELETE, &path, &Body::Empty).await?;
            match classify(response.status) {
                StatusClass::Success => {
                    let operation: Operation =
                        self.inner.api.parse(&format!("DELETE {path}"), &response, AUTH_HINT)?;
                    self.settle(operation).await?;
                }
                // Gone already (a concurrent cleanup): what we wanted.
                StatusClass::NotFound => {}
                _ => return Err(self.inner.api.error(&format!("DELETE {path}"), &response, AUTH_HINT)),
            }
            tracing::debug!(fqdn = %record.fqdn, record_id, "exoscale: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Exoscale {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

impl ProviderSpec for Exoscale {
    type Config = ExoscaleConfig;
    const CODE: &'static str = "exoscale";
    const NAME: &'static str = "Exoscale";
    const PERMISSIONS: &'static str = "an API key whose IAM role allows listing DNS domains and their records and creating and deleting records";
    const SECRETS: &'static [&'static str] = &["api_key", "api_secret"];
    const ENV: &'static [EnvName] = &[
        env("EXOSCALE_API_KEY", "api_key", Kind::Secret),
        env("EXOSCALE_API_SECRET", "api_secret", Kind::Secret),
        env("EXOSCALE_API_ZONE", "api_zone", Kind::Text),
        env("EXOSCALE_ENDPOINT", "api_url", Kind::Text),
        env("EXOSCALE_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("EXOSCALE_TTL", TTL),
        ignored("EXOSCALE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("EXOSCALE_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &ExoscaleConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        required(&config.api_secret, "api_secret")?;
        if config.api_zone.trim().is_empty()
            || !config.api_zone.trim().chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(SettingError::new(
                "api_zone",
                format!("`{}` is not an Exoscale zone such as \"ch-gva-2\"", config.api_zone),
            ));
        }
        if config.legacy_url() {
            checks.warn(
                "api_url",
                &format!(
                    "names Exoscale's retired v1 API and has no effect; the v2 API at {} is used",
                    config.base_url()
                ),
            );
        }
        checks.url("api_url", &config.base_url())?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &ExoscaleConfig, secrets: &mut dyn SecretReader) -> Result<Exoscale, ProviderError> {
        let key = read_required(secrets, "exoscale", "api_key", &config.api_key)?;
        let secret = read_required(secrets, "exoscale", "api_secret", &config.api_secret)?;
        Exoscale::new(&config.base_url(), &key, &secret, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signed message is `METHOD path`, body, query values, header values and expiry,
    /// one per line; the header names the signed query arguments.
    #[test]
    fn signs_as_documented() {
        let (key, secret) = (Secret::new("EXOkey"), Secret::new("sekret"));
        let query = vec![("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())];
        let value = authorization(
            &key,
            &secret,
            &Method::POST,
            "/v2/dns-domain/x/record",
            b"{}",
            &query,
            1_600_000_000,
        );
        let expected =
            base64(&hmac(Hash::Sha256, b"sekret", b"POST /v2/dns-domain/x/record\n{}\n12\n\n1600000000"));
        assert_eq!(
            value,
            format!(
                "EXO2-HMACSHA256 credential=EXOkey,signed-query-args=a;b,expires=1600000000,signature={expected}"
            )
        );
        let plain = authorization(&key, &secret, &Method::GET, "/v2/dns-domain", b"", &[], 7);
        assert!(plain.starts_with("EXO2-HMACSHA256 credential=EXOkey,expires=7,signature="), "{plain}");
    }

    #[test]
    fn the_retired_v1_endpoint_falls_back_to_v2() {
        let mut config = ExoscaleConfig {
            api_key: None,
            api_secret: None,
            api_zone: "de-fra-1".into(),
            api_url: None,
            timeout: Duration::from_secs(5),
        };
        assert_eq!(config.base_url(), "https://api-de-fra-1.exoscale.com/v2");
        config.api_url = Some("https://api.exoscale.com/v1".into());
        assert_eq!(config.base_url(), "https://api-de-fra-1.exoscale.com/v2");
        config.api_url = Some("http://127.0.0.1:8080/v2".into());
        assert_eq!(config.base_url(), "http://127.0.0.1:8080/v2");
    }
}
