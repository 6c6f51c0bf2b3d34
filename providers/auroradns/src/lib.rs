//! Aurora DNS (PCextreme): add and remove one TXT value through the Aurora DNS API.
//!
//! Every request carries `X-AuroraDNS-Date: yyyyMMddTHHmmssZ` and `Authorization:
//! AuroraDNSv1 base64(api_key ":" base64(HMAC-SHA256(secret, METHOD path date)))`. The zone
//! is picked from the account's list (`GET /zones`); records are one per value, so
//! `present` is one `POST /zones/{id}/records` (unless our value is there) and `cleanup`
//! deletes exactly the TXT records at the name whose content is our value (lego deletes the
//! record ID it kept in memory, lost on a restart). Calls on one name are serialized. See
//! README.md.
//!
//! API reference: the API's clients, Apache Libcloud's AuroraDNS driver
//! (<https://libcloud.readthedocs.io/en/stable/dns/drivers/auroradns.html>) and
//! <https://github.com/nrdcg/auroradns> (endpoints, signature, errors
//! `{"error", "errormsg"}`).

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::sign::{Hash, base64, hmac};
use wildcert_dns_http::zone::{host_name, pick};
use wildcert_dns_http::{Api, Body, Response, default_timeout, encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.auroradns.eu";

const AUTH_HINT: &str = "check api_key and secret (lego: AURORA_API_KEY, AURORA_SECRET): the API key and \
     secret of the Aurora DNS account, and this host's clock (signatures carry the date)";

/// The date header every request carries; it is part of what is signed.
const DATE_HEADER: &str = "x-auroradns-date";

/// Aurora DNS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuroraDnsConfig {
    /// The API key (lego calls it the API key or user name).
    pub api_key: Option<SecretSource>,
    /// The secret that signs every request.
    pub secret: Option<SecretSource>,
    /// Base URL of the API (lego's `AURORA_ENDPOINT`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The Aurora DNS adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct AuroraDns {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// The path prefix of the base URL, part of what is signed.
    prefix: String,
    key: Secret,
    secret: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for AuroraDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuroraDns").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Zone {
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize, Serialize)]
struct Record {
    #[serde(default, skip_serializing)]
    id: String,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    ttl: u32,
}

/// `yyyyMMddTHHmmssZ`, the date format the signature uses.
pub fn date(at: SystemTime) -> String {
    let t = wildcert_dns_http::clock::utc(at);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

/// The `Authorization` value for `METHOD path` at `date`.
pub fn authorization(key: &Secret, secret: &Secret, method: &Method, path: &str, date: &str) -> String {
    let message = format!("{method}{path}{date}");
    let signature = base64(&hmac(Hash::Sha256, secret.expose().trim().as_bytes(), message.as_bytes()));
    format!("AuroraDNSv1 {}", base64(format!("{}:{signature}", key.expose().trim()).as_bytes()))
}

impl AuroraDns {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        key: &Secret,
        secret: &Secret,
        timeout: Duration,
    ) -> Result<AuroraDns, ProviderError> {
        let api = Api::connect("auroradns", api_url, timeout)?
            .require("api_key", key)?
            .require("secret", secret)?
            .with_redacted(key)
            .with_redacted(secret);
        let prefix = api
            .base()
            .parse::<http::Uri>()
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        Ok(AuroraDns {
            inner: Arc::new(Inner {
                api,
                prefix,
                key: key.clone(),
                secret: secret.clone(),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One signed call; `path` is below the base URL.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        let inner = &self.inner;
        let date = date(SystemTime::now());
        let full = format!("{}{path}", inner.prefix);
        let value = authorization(&inner.key, &inner.secret, &method, &full, &date);
        let mut auth = HeaderValue::from_str(&value).map_err(|_| ProviderError::Config {
            provider: self.provider(),
            detail: "api_key contains characters an HTTP header cannot carry".into(),
        })?;
        auth.set_sensitive(true);
        let date = HeaderValue::from_str(&date).expect("digits and letters are a valid header value");
        let extra: [(HeaderName, HeaderValue); 2] =
            [(AUTHORIZATION, auth), (HeaderName::from_static(DATE_HEADER), date)];
        inner.api.call(method, path, body, &extra).await
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

    /// The account's zone holding the record: its ID and name.
    async fn zone_for(&self, record: &TxtRecord) -> Result<(String, String), ProviderError> {
        let zones: Vec<Zone> = self.json(Method::GET, "/zones", &Body::Empty).await?;
        let name = pick(record, zones.iter().map(|z| z.name.as_str())).map(str::to_string);
        let zone = name.and_then(|n| zones.into_iter().find(|z| z.name == n));
        zone.map(|z| (z.id, z.name)).ok_or_else(|| ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: "no zone of this Aurora DNS account holds the name".into(),
        })
    }

    /// The record's name as Aurora wants it: relative to the zone, empty at the apex.
    fn host(record: &TxtRecord, zone: &str) -> String {
        host_name(record, zone)
    }

    /// The IDs of the TXT records at the name whose content is our value.
    async fn matching(&self, id: &str, zone: &str, record: &TxtRecord) -> Result<Vec<String>, ProviderError> {
        let host = Self::host(record, zone);
        let records: Vec<Record> =
            self.json(Method::GET, &format!("/zones/{}/records", encode(id)), &Body::Empty).await?;
        Ok(records
            .into_iter()
            .filter(|r| {
                r.rtype.eq_ignore_ascii_case("TXT")
                    && r.name.trim_end_matches('.').eq_ignore_ascii_case(&host)
            })
            .filter(|r| txt_text(&r.content) == record.value)
            .map(|r| r.id)
            .collect())
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (id, zone) = self.zone_for(record).await?;
        if !self.matching(&id, &zone, record).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "auroradns: value already present");
            return Ok(());
        }
        let new = Record {
            id: String::new(),
            rtype: "TXT".into(),
            name: Self::host(record, &zone),
            content: record.value.clone(),
            ttl: record.ttl,
        };
        let _: Record =
            self.json(Method::POST, &format!("/zones/{}/records", encode(&id)), &Body::json(&new)).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "auroradns: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (id, zone) = self.zone_for(record).await?;
        for record_id in self.matching(&id, &zone, record).await? {
            let path = format!("/zones/{}/records/{}", encode(&id), encode(&record_id));
            let response = self.call(Method::DELETE, &path, &Body::Empty).await?;
            self.inner.api.deleted(&path, &response, AUTH_HINT)?;
            tracing::debug!(fqdn = %record.fqdn, record_id, "auroradns: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for AuroraDns {
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

impl ProviderSpec for AuroraDns {
    type Config = AuroraDnsConfig;
    const CODE: &'static str = "auroradns";
    const NAME: &'static str = "Aurora DNS (PCextreme)";
    const PERMISSIONS: &'static str =
        "the API key and secret of the Aurora DNS account holding the zone (the API has no narrower scope)";
    const SECRETS: &'static [&'static str] = &["api_key", "secret"];
    const ENV: &'static [EnvName] = &[
        env("AURORA_API_KEY", "api_key", Kind::Secret),
        env("AURORA_SECRET", "secret", Kind::Secret),
        env("AURORA_ENDPOINT", "api_url", Kind::Text),
        ignored("AURORA_TTL", TTL),
        ignored("AURORA_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("AURORA_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &AuroraDnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        required(&config.secret, "secret")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &AuroraDnsConfig, secrets: &mut dyn SecretReader) -> Result<AuroraDns, ProviderError> {
        let key = read_required(secrets, "auroradns", "api_key", &config.api_key)?;
        let secret = read_required(secrets, "auroradns", "secret", &config.secret)?;
        AuroraDns::new(&config.api_url, &key, &secret, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// The token is base64 of `key:signature`, the signature the HMAC of method, path and
    /// date under the secret.
    #[test]
    fn signs_as_documented() {
        let at = UNIX_EPOCH + Duration::from_secs(1_376_707_753);
        assert_eq!(date(at), "20130817T024913Z");
        let value = authorization(
            &Secret::new("key-1"),
            &Secret::new("s3cret"),
            &Method::GET,
            "/zones",
            "20130817T024913Z",
        );
        let signature = base64(&hmac(Hash::Sha256, b"s3cret", b"GET/zones20130817T024913Z"));
        assert_eq!(value, format!("AuroraDNSv1 {}", base64(format!("key-1:{signature}").as_bytes())));
        let p = AuroraDns::new(
            DEFAULT_API_URL,
            &Secret::new("key-1"),
            &Secret::new("s3cret"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("s3cret"));
        let err =
            AuroraDns::new(DEFAULT_API_URL, &Secret::new("key-1"), &Secret::new(""), Duration::from_secs(5))
                .unwrap_err();
        assert!(err.to_string().contains("secret is empty"), "{err}");
    }
}
