//! NS1: add and remove one TXT value through the REST API v1, where a name's TXT values are
//! the answers of one record: read, merge, write, one name at a time. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::HeaderName;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::rrset;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::zone::probe;
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.nsone.net/v1";

const AUTH_HINT: &str = "check api_key (lego: NS1_API_KEY) and that the key may manage this zone's records";

/// NS1's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ns1Config {
    /// An API key (Account settings > Users & Teams > API keys).
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

/// The NS1 adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Ns1 {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for Ns1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ns1").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    answers: Vec<Answer>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct Answer {
    answer: Vec<String>,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    zone: &'a str,
    domain: &'a str,
    #[serde(rename = "type")]
    rtype: &'static str,
    ttl: u32,
    answers: &'a [Answer],
}

#[derive(Debug, Serialize)]
struct Answers<'a> {
    answers: &'a [Answer],
}

impl Ns1 {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, key: &Secret, timeout: Duration) -> Result<Ns1, ProviderError> {
        let api = Api::connect("ns1", api_url, timeout)?.require("api_key", key)?.with_secret_header(
            HeaderName::from_static("x-nsone-key"),
            key.expose().trim().to_string(),
            key,
        )?;
        Ok(Ns1 { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let path = |candidate: &str| format!("/zones/{}", encode(candidate));
        probe(&self.inner.api, record, path, &[], AUTH_HINT, "no NS1 zone of this key holds the name").await
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let api = &self.inner.api;
        let domain = record.fqdn_without_dot().to_ascii_lowercase();
        let path = format!("/zones/{}/{}/TXT", encode(&zone), encode(&domain));
        let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
        let existing = match classify(response.status) {
            StatusClass::NotFound => None,
            _ => Some(api.parse::<Record>(&format!("GET {path}"), &response, AUTH_HINT)?.answers),
        };
        let mut answers = existing.clone().unwrap_or_default();
        let ours = || Answer { answer: vec![record.value.clone()] };
        if !rrset::edit(&mut answers, add, |a| a.answer.concat() == record.value, ours) {
            return Ok(());
        }
        let (method, body) = match (&existing, answers.is_empty()) {
            (None, _) => (
                Method::PUT,
                Body::json(&NewRecord {
                    zone: &zone,
                    domain: &domain,
                    rtype: "TXT",
                    ttl: record.ttl,
                    answers: &answers,
                }),
            ),
            (Some(_), true) => (Method::DELETE, Body::Empty),
            (Some(_), false) => (Method::POST, Body::json(&Answers { answers: &answers })),
        };
        let response = api.call(method.clone(), &path, &body, &[]).await?;
        match classify(response.status) {
            StatusClass::Success => {}
            StatusClass::NotFound if method == Method::DELETE => {}
            _ => return Err(api.error(&format!("{method} {path}"), &response, AUTH_HINT)),
        }
        tracing::debug!(fqdn = %record.fqdn, zone, add, "ns1: record written");
        Ok(())
    }
}

impl DnsProvider for Ns1 {
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

impl ProviderSpec for Ns1 {
    type Config = Ns1Config;
    const CODE: &'static str = "ns1";
    const NAME: &'static str = "NS1";
    const PERMISSIONS: &'static str = "an API key allowed to manage the records of the zones";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("NS1_API_KEY", "api_key", Kind::Secret),
        env("NS1_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("NS1_TTL", TTL),
        ignored("NS1_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("NS1_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &Ns1Config, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &Ns1Config, secrets: &mut dyn SecretReader) -> Result<Ns1, ProviderError> {
        let key = read_required(secrets, "ns1", "api_key", &config.api_key)?;
        Ns1::new(&config.api_url, &key, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_key_and_hides_it() {
        let p = Ns1::new(DEFAULT_API_URL, &Secret::new("ns1-k3y"), Duration::from_secs(5)).unwrap();
        assert!(!format!("{p:?}").contains("ns1-k3y"));
        let err = Ns1::new(DEFAULT_API_URL, &Secret::new(""), Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }
}
