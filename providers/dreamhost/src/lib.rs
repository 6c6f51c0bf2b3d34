//! DreamHost: add and remove one TXT value through the DreamHost API.
//!
//! The API is one URL taking `key`, `cmd` and the command's parameters by GET or POST; this
//! adapter POSTs them as a form, so the key never appears in a URL, and redacts it from
//! anything the API echoes. `dns-list_records` shows whether our value is there,
//! `dns-add_record` adds it beside any other value, and `dns-remove_record` removes exactly
//! the record with our name, type and value. Answers (`format=json`) are HTTP 200 with
//! `{"result": "success" | "error", "data": ...}`. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::Value;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, same_name};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::{Api, Body, HttpClient, excerpt, form_encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.dreamhost.com";

const AUTH_HINT: &str = "check api_key (lego: DREAMHOST_API_KEY): a key from the panel's API page allowed to run \
     dns-list_records, dns-add_record and dns-remove_record";

/// DreamHost's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DreamHostConfig {
    /// An API key allowed the `dns-*` commands.
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

/// The DreamHost adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct DreamHost {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    key: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for DreamHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DreamHost").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    result: String,
    #[serde(default)]
    data: Value,
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    record: String,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    value: String,
}

/// What DreamHost's error code means for wildcert.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The key is missing, wrong, expired or not allowed this command.
    Auth,
    /// `slow_down_bucko`: a rate limit (per hour or day, some per 10 minutes).
    RateLimit,
    /// The name is in no zone DreamHost hosts for the account.
    NoZone,
    /// The record (or its value) is not there.
    NoRecord,
    Other,
}

fn refusal(code: &str) -> Refusal {
    let code = code.to_ascii_lowercase();
    if code.starts_with("slow_down_bucko") {
        Refusal::RateLimit
    } else if code.contains("key") || code.contains("cannot_access_this_cmd") {
        Refusal::Auth
    } else if code.contains("no_such_zone") {
        Refusal::NoZone
    } else if code.starts_with("no_such_") {
        Refusal::NoRecord
    } else {
        Refusal::Other
    }
}

impl DreamHost {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, key: &Secret, timeout: Duration) -> Result<DreamHost, ProviderError> {
        let provider = format!("dreamhost ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        if key.expose().trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "api_key is empty".into() });
        }
        let api = Api::new(&provider, api_url, client)?.with_redacted(key);
        Ok(DreamHost { inner: Arc::new(Inner { api, key: key.clone(), locks: NameLocks::default() }) })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// Runs `cmd`; `Ok(Err((kind, code)))` is DreamHost's own refusal, other than a refused
    /// key or a rate limit (those are errors here).
    async fn command(
        &self,
        cmd: &str,
        params: &[(&str, &str)],
    ) -> Result<Result<Value, (Refusal, String)>, ProviderError> {
        let api = &self.inner.api;
        let mut fields = vec![("key", self.inner.key.expose().trim()), ("cmd", cmd), ("format", "json")];
        fields.extend_from_slice(params);
        let action = format!("POST {cmd}");
        let response = api.call(Method::POST, "/", &Body::Form(form_encode(&fields)), &[]).await?;
        let answer: Answer = api.parse(&action, &response, AUTH_HINT)?;
        if answer.result == "success" {
            return Ok(Ok(answer.data));
        }
        let code = answer.data.as_str().map(str::to_string).unwrap_or_else(|| answer.data.to_string());
        let code = excerpt(code.as_bytes(), &api.secrets());
        match refusal(&code) {
            Refusal::Auth => Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!("{action}: {code}; {AUTH_HINT}"),
            }),
            Refusal::RateLimit => Err(ProviderError::Temporary {
                provider: self.provider(),
                detail: format!("{action}: DreamHost's rate limit was reached: {code}"),
                retry_after: Some(Duration::from_secs(600)),
            }),
            kind => Ok(Err((kind, code))),
        }
    }

    /// Whether our value is among the account's TXT records at the name.
    async fn present_already(&self, record: &TxtRecord) -> Result<bool, ProviderError> {
        let data = match self.command("dns-list_records", &[]).await? {
            Ok(data) => data,
            Err((_, code)) => {
                return Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: format!("dns-list_records: {code}"),
                });
            }
        };
        let records: Vec<Record> = serde_json::from_value(data).map_err(|e| ProviderError::Rejected {
            provider: self.provider(),
            detail: format!("dns-list_records: not the documented record list: {e}"),
        })?;
        Ok(records.iter().any(|r| {
            r.rtype.eq_ignore_ascii_case("TXT")
                && same_name(&r.record, &record.fqdn)
                && r.value == record.value
        }))
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        if self.present_already(record).await? {
            tracing::debug!(fqdn = %record.fqdn, "dreamhost: value already present");
            return Ok(());
        }
        let params =
            [("record", record.fqdn_without_dot()), ("type", "TXT"), ("value", record.value.as_str())];
        match self.command("dns-add_record", &params).await? {
            Ok(_) => {
                tracing::debug!(fqdn = %record.fqdn, "dreamhost: record added");
                Ok(())
            }
            Err((Refusal::NoZone, code)) => Err(ProviderError::ZoneNotFound {
                provider: self.provider(),
                fqdn: record.fqdn.clone(),
                detail: format!("{code}: DreamHost hosts no zone of this account that holds the name"),
            }),
            Err((_, code)) => Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!("dns-add_record: {code}"),
            }),
        }
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let params =
            [("record", record.fqdn_without_dot()), ("type", "TXT"), ("value", record.value.as_str())];
        match self.command("dns-remove_record", &params).await? {
            Ok(_) => tracing::debug!(fqdn = %record.fqdn, "dreamhost: record removed"),
            // Not there (already removed, or never added): what we wanted.
            Err((Refusal::NoRecord | Refusal::NoZone, code)) => {
                tracing::debug!(fqdn = %record.fqdn, code, "dreamhost: nothing to remove");
            }
            Err((_, code)) => {
                return Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: format!("dns-remove_record: {code}"),
                });
            }
        }
        Ok(())
    }
}

impl DnsProvider for DreamHost {
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

impl ProviderSpec for DreamHost {
    type Config = DreamHostConfig;
    const CODE: &'static str = "dreamhost";
    const NAME: &'static str = "DreamHost";
    const PERMISSIONS: &'static str =
        "an API key with the dns-list_records, dns-add_record and dns-remove_record functions only";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("DREAMHOST_API_KEY", "api_key", Kind::Secret),
        env("DREAMHOST_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("DREAMHOST_TTL", TTL),
        ignored("DREAMHOST_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("DREAMHOST_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &DreamHostConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        check_http(checks, &config.api_url, config.timeout)?;
        Ok(())
    }

    fn build(config: &DreamHostConfig, secrets: &mut dyn SecretReader) -> Result<DreamHost, ProviderError> {
        let key = read_required(secrets, "dreamhost", "api_key", &config.api_key)?;
        DreamHost::new(&config.api_url, &key, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        assert_eq!(refusal("invalid_api_key"), Refusal::Auth);
        assert_eq!(refusal("this_key_cannot_access_this_cmd"), Refusal::Auth);
        assert_eq!(refusal("slow_down_bucko\t100 per hour"), Refusal::RateLimit);
        assert_eq!(refusal("no_such_zone"), Refusal::NoZone);
        assert_eq!(refusal("no_such_value"), Refusal::NoRecord);
        assert_eq!(refusal("CNAME_already_on_record"), Refusal::Other);
    }

    #[test]
    fn hides_the_key() {
        let p = DreamHost::new(DEFAULT_API_URL, &Secret::new("6SHU5P2HLDAYECUM"), Duration::from_secs(5))
            .unwrap();
        assert!(!format!("{p:?}").contains("6SHU5P2"));
        assert!(DreamHost::new(DEFAULT_API_URL, &Secret::new(""), Duration::from_secs(5)).is_err());
    }
}
