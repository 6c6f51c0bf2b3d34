//! Versio: add and remove one TXT value through the Versio API v1.
//!
//! Versio replaces a domain's whole record list at once: `GET
//! /domains/{domain}?show_dns_records=true` reads it and `POST /domains/{domain}/update`
//! with `dns_records` writes it back. So every change is a read-modify-write of the whole
//! list, done one at a time inside the adapter; records other than ours go back exactly as
//! they were read (unknown fields included). lego's cleanup drops every record at the name;
//! this one drops only the record holding our value. HTTP basic authentication with the
//! account's user name and password. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SEQUENCE, SecretReader, SecretSource,
    SettingError, TTL, check_http, env, ignored, read_required, required, required_text,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord, quote_txt, same_name, txt_text};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, HttpClient, StatusClass, basic_auth, classify, encode};

/// Where the API lives (versio.nl; `.eu` and `.uk` accounts use their own host; the test
/// API is `https://www.versio.nl/testapi/v1`).
pub const DEFAULT_API_URL: &str = "https://www.versio.nl/api/v1";

const AUTH_HINT: &str = "check username and password (lego: VERSIO_USERNAME, VERSIO_PASSWORD): the Versio account \
     with API access enabled, on the endpoint of its country (api_url, lego: VERSIO_ENDPOINT)";

/// Versio's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersioConfig {
    /// The account's user name (e-mail address).
    pub username: Option<String>,
    /// The account's password.
    pub password: Option<SecretSource>,
    /// Base URL of the API (lego's `VERSIO_ENDPOINT`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The Versio adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Versio {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// One read-modify-write of a record list at a time.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Versio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Versio").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DomainAnswer {
    domain_info: DomainInfo,
}

#[derive(Debug, Deserialize)]
struct DomainInfo {
    #[serde(default)]
    dns_records: Vec<Value>,
}

/// Whether a record of the list (as read) is our TXT value at our name.
fn is_ours(entry: &Value, record: &TxtRecord) -> bool {
    let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default();
    text("type").eq_ignore_ascii_case("TXT")
        && same_name(text("name"), &record.fqdn)
        && txt_text(text("value")) == record.value
}

impl Versio {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        username: &str,
        password: &Secret,
        timeout: Duration,
    ) -> Result<Versio, ProviderError> {
        let provider = format!("versio ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        if username.trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "username is empty".into() });
        }
        if password.expose().is_empty() {
            return Err(ProviderError::Config { provider, detail: "password is empty".into() });
        }
        let header = basic_auth(username.trim(), password);
        let header = header.to_str().expect("base64 is a valid header value").to_string();
        let api = Api::new(&provider, api_url, client)?
            .with_redacted(&Secret::new(header.trim_start_matches("Basic ")))
            .with_secret_header(http::header::AUTHORIZATION, header, password)?;
        Ok(Versio { inner: Arc::new(Inner { api, writing: tokio::sync::Mutex::new(()) }) })
    }

    /// The domain that holds the record and its record list: the first candidate the account
    /// has.
    async fn read(&self, record: &TxtRecord) -> Result<(String, Vec<Value>), ProviderError> {
        let api = &self.inner.api;
        for candidate in candidates(record) {
            let path = format!("/domains/{}?show_dns_records=true", encode(&candidate));
            let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
            match classify(response.status) {
                StatusClass::Success => {
                    let answer: DomainAnswer = api.parse("GET /domains", &response, AUTH_HINT)?;
                    return Ok((candidate, answer.domain_info.dns_records));
                }
                StatusClass::NotFound => continue,
                _ => return Err(api.error("GET /domains", &response, AUTH_HINT)),
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: api.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: "no domain of this Versio account holds the name".into(),
        })
    }

    async fn write(&self, domain: &str, records: Vec<Value>) -> Result<(), ProviderError> {
        let path = format!("/domains/{}/update", encode(domain));
        let body = Body::json(&json!({"dns_records": records}));
        let _: serde::de::IgnoredAny = self.inner.api.json(Method::POST, &path, &body, AUTH_HINT).await?;
        Ok(())
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.writing.lock().await;
        let (domain, mut records) = self.read(record).await?;
        if records.iter().any(|r| is_ours(r, record)) {
            tracing::debug!(fqdn = %record.fqdn, "versio: value already present");
            return Ok(());
        }
        records.push(json!({
            "type": "TXT",
            "name": record.fqdn_without_dot(),
            "value": quote_txt(&record.value),
            "prio": 0,
            "ttl": record.ttl,
        }));
        self.write(&domain, records).await?;
        tracing::debug!(fqdn = %record.fqdn, domain, "versio: record added");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.writing.lock().await;
        let (domain, records) = self.read(record).await?;
        let before = records.len();
        let kept: Vec<Value> = records.into_iter().filter(|r| !is_ours(r, record)).collect();
        if kept.len() == before {
            return Ok(());
        }
        self.write(&domain, kept).await?;
        tracing::debug!(fqdn = %record.fqdn, domain, "versio: record removed");
        Ok(())
    }
}

impl DnsProvider for Versio {
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

impl ProviderSpec for Versio {
    type Config = VersioConfig;
    const CODE: &'static str = "versio";
    const NAME: &'static str = "Versio";
    const PERMISSIONS: &'static str =
        "the account's user name and password, with API access enabled in the customer panel";
    const SECRETS: &'static [&'static str] = &["password"];
    const ENV: &'static [EnvName] = &[
        env("VERSIO_USERNAME", "username", Kind::Text),
        env("VERSIO_PASSWORD", "password", Kind::Secret),
        env("VERSIO_ENDPOINT", "api_url", Kind::Text),
        env("VERSIO_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("VERSIO_TTL", TTL),
        ignored("VERSIO_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("VERSIO_POLLING_INTERVAL", POLLING),
        ignored("VERSIO_SEQUENCE_INTERVAL", SEQUENCE),
    ];

    fn check(config: &VersioConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required_text(&config.username, "username", "set the Versio user name (lego: VERSIO_USERNAME)")?;
        required(&config.password, "password")?;
        check_http(checks, &config.api_url, config.timeout)?;
        Ok(())
    }

    fn build(config: &VersioConfig, secrets: &mut dyn SecretReader) -> Result<Versio, ProviderError> {
        let password = read_required(secrets, "versio", "password", &config.password)?;
        Versio::new(
            &config.api_url,
            config.username.as_deref().unwrap_or_default(),
            &password,
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_only_our_value() {
        let record = TxtRecord {
            fqdn: "_acme-challenge.example.com.".into(),
            zone: None,
            value: "ours".into(),
            ttl: 300,
            raw: None,
        };
        assert!(is_ours(
            &json!({"type": "TXT", "name": "_acme-challenge.example.com", "value": "\"ours\""}),
            &record
        ));
        assert!(is_ours(
            &json!({"type": "txt", "name": "_acme-challenge.example.com.", "value": "ours"}),
            &record
        ));
        assert!(!is_ours(
            &json!({"type": "TXT", "name": "_acme-challenge.example.com", "value": "\"theirs\""}),
            &record
        ));
        assert!(!is_ours(
            &json!({"type": "A", "name": "_acme-challenge.example.com", "value": "ours"}),
            &record
        ));
    }

    #[test]
    fn hides_the_password() {
        let p = Versio::new(
            DEFAULT_API_URL,
            "ops@example.com",
            &Secret::new("v3rs1o-pw"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("v3rs1o"));
        assert!(Versio::new(DEFAULT_API_URL, "", &Secret::new("x"), Duration::from_secs(5)).is_err());
    }
}
