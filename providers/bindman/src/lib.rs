//! Bindman-DNS (self-hosted; a webhook in front of a BIND 9 server that it updates with
//! nsupdate): `POST /records` with `{"name", "value", "type"}` adds a record, `DELETE
//! /records/{name}/{type}` removes it (404 when there is none), errors come as `{"message",
//! "code", "details"}`. The webhook has no credentials of its own.
//!
//! Bindman keeps one record per name and type: the value stored for
//! `_acme-challenge.example.com` TXT is the last one added, and removal names no value. A
//! certificate for both `*.example.com` and `example.com` needs two values at that name at
//! once, so the adapter refuses the second value while the first is outstanding and says why.
//! See README.md.
//!
//! API reference: <https://github.com/labbsr0x/bindman-dns-webhook> (the webhook's routes,
//! `DNSRecord`, `Error`), <https://github.com/labbsr0x/bindman-dns-bind9> (the manager: one
//! stored record per name and type, delayed removal).

#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SettingError, env, ignored,
};
use wildcert_dns_api::{DnsProvider, ProviderError, TxtRecord, normalize};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, encode, excerpt};

const AUTH_HINT: &str = "Bindman's webhook takes no credentials: check manager_address (lego: BINDMAN_MANAGER_ADDRESS) and what stands in front of it";

/// Bindman's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindmanConfig {
    /// Scheme, host and port of the Bindman manager (the API URL; `/records` is appended).
    pub manager_address: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

/// The Bindman adapter. Cheap to clone; clones share what each name holds.
#[derive(Clone)]
pub struct Bindman {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// The value this process added at each name and has not removed yet.
    held: Mutex<HashMap<String, String>>,
    /// One call at a time, so that the check of `held` and the call stay together.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Bindman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bindman").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

impl Bindman {
    /// Prepares the client; no network I/O.
    pub fn new(manager_address: &str, timeout: Duration) -> Result<Bindman, ProviderError> {
        let api = Api::connect("bindman", manager_address, timeout)?;
        Ok(Bindman {
            inner: Arc::new(Inner {
                api,
                held: Mutex::new(HashMap::new()),
                writing: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.inner.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error for a failed call: Bindman's `{"message", "details"}` when it sent one.
    fn failed(&self, action: &str, response: &wildcert_dns_http::Response) -> ProviderError {
        if classify(response.status) == StatusClass::Rejected
            && let Ok(error) = serde_json::from_slice::<Value>(&response.body)
            && let Some(message) = error["message"].as_str()
        {
            let details = match &error["details"] {
                Value::Null => String::new(),
                other => format!(" ({other})"),
            };
            return ProviderError::Rejected {
                provider: self.provider(),
                detail: format!("{action}: HTTP {}: {message}{details}", response.status),
            };
        }
        self.inner.api.error(action, response, AUTH_HINT)
    }
}

impl DnsProvider for Bindman {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let name = normalize(&record.fqdn);
        let _writing = self.inner.writing.lock().await;
        match self.held().get(&name) {
            Some(v) if *v == record.value => return Ok(()),
            Some(_) => {
                return Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: format!(
                        "Bindman keeps one TXT record per name, and {name} already carries another challenge of this run (a certificate for both *.example.com and example.com needs two at once); ask for the wildcard and the bare name in two certificates"
                    ),
                });
            }
            None => {}
        }
        let body = Body::json(&json!({"name": name, "value": record.value, "type": "TXT"}));
        let api = &self.inner.api;
        let response = api.call(Method::POST, "/records", &body, &[]).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(self.failed("POST /records", &response));
        }
        self.held().insert(name.clone(), record.value.clone());
        tracing::debug!(name, "bindman: TXT added");
        Ok(())
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let name = normalize(&record.fqdn);
        let _writing = self.inner.writing.lock().await;
        // Another challenge's value stands there now: ours is gone already.
        if self.held().get(&name).is_some_and(|v| *v != record.value) {
            return Ok(());
        }
        let path = format!("/records/{}/TXT", encode(&name));
        let response = self.inner.api.call(Method::DELETE, &path, &Body::Empty, &[]).await?;
        match classify(response.status) {
            StatusClass::Success | StatusClass::NotFound => {}
            _ => return Err(self.failed("DELETE /records/{name}/TXT", &response)),
        }
        self.held().remove(&name);
        tracing::debug!(name, status = response.status.as_u16(), body = %excerpt(&response.body, &[]), "bindman: TXT removal scheduled");
        Ok(())
    }
}

impl ProviderSpec for Bindman {
    type Config = BindmanConfig;
    const CODE: &'static str = "bindman";
    const NAME: &'static str = "Bindman-DNS";
    const ENV: &'static [EnvName] = &[
        env("BINDMAN_MANAGER_ADDRESS", "manager_address", Kind::Text),
        env("BINDMAN_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("BINDMAN_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("BINDMAN_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str =
        "network access to the Bindman manager (it has no credentials: keep it on a trusted network)";
    const NOTES: &'static str = "self-hosted open-source software (github.com/labbsr0x/bindman-dns-webhook, bindman-dns-bind9), quiet but still downloadable: built for the installs that run it. One TXT record per name: a wildcard and its bare name go in two certificates; Bindman removes records after its BINDMAN_DNS_REMOVAL_DELAY (10 minutes by default)";

    fn check(config: &BindmanConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        let Some(address) = config.manager_address.as_deref().filter(|a| !a.trim().is_empty()) else {
            return Err(SettingError::new(
                "manager_address",
                "missing: the Bindman manager's URL, e.g. \"http://bindman.internal:7070\" (lego: BINDMAN_MANAGER_ADDRESS)",
            ));
        };
        checks.url("manager_address", address)?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &BindmanConfig, _secrets: &mut dyn SecretReader) -> Result<Bindman, ProviderError> {
        Bindman::new(config.manager_address.as_deref().unwrap_or_default(), config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_manager_url() {
        assert!(Bindman::new("http://bindman.internal:7070", Duration::from_secs(5)).is_ok());
        let err = Bindman::new("bindman.internal:7070", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, ProviderError::Config { .. }), "{err}");
    }
}
