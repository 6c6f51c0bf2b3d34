//! Domain Offensive (do.de): its Let's Encrypt API sets one TXT value at an
//! `_acme-challenge` name with `GET /letsencrypt?token=<token>&domain=<name>&value=<value>`
//! and removes it with `&action=delete` (no value: the name's value goes); the answer is
//! JSON `{"success": true|false, ...}`.
//!
//! The API addresses a name's value by the name alone (`action=delete` names no value, and
//! lego runs this provider's challenges one after another): one value per name. A certificate for both `*.example.com` and
//! `example.com` needs two values at `_acme-challenge.example.com` at once (wildcert, like
//! every ACME client answering an order's challenges together, presents both before the CA
//! looks), so the adapter refuses the second value while the first is outstanding and says
//! why, instead of overwriting it and letting the CA fail one authorization. See README.md.
//!
//! API reference: <https://www.do.de/wiki/freie-ssl-tls-zertifikate-ueber-acme/> (the
//! developer page <https://www.do.de/wiki/LetsEncrypt_-_Entwickler>).

#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::Value;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SEQUENCE, SecretReader, SecretSource,
    SettingError, check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, encode, excerpt, redact};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://my.do.de/api";

const AUTH_HINT: &str =
    "check token (lego: DODE_TOKEN): the Let's Encrypt API token of the do.de account that holds the domain";

/// Domain Offensive's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DodeConfig {
    /// The account's Let's Encrypt API token (my.do.de, domain settings).
    pub token: Option<SecretSource>,
    /// Base URL of the API (`/letsencrypt` is appended).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The do.de adapter. Cheap to clone; clones share what each name holds.
#[derive(Clone)]
pub struct Dode {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    token: Secret,
    /// The value this process wrote at each name and has not removed yet.
    held: Mutex<HashMap<String, String>>,
    /// One call at a time, so that the check of `held` and the write stay together.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Dode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dode").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

/// The answer of `/letsencrypt`.
#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    error: Value,
    #[serde(default)]
    message: Value,
}

impl Dode {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, token: &Secret, timeout: Duration) -> Result<Dode, ProviderError> {
        let api = Api::connect("dode", api_url, timeout)?.require("token", token)?.with_redacted(token);
        Ok(Dode {
            inner: Arc::new(Inner {
                api,
                token: token.clone(),
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

    /// One `GET /letsencrypt`: sets `value` at `name`, or deletes the name's value. The
    /// token travels in the query, which no message shows.
    async fn call(&self, name: &str, value: Option<&str>) -> Result<(), ProviderError> {
        let api = &self.inner.api;
        let mut path = format!(
            "/letsencrypt?token={}&domain={}",
            encode(self.inner.token.expose().trim()),
            encode(name)
        );
        match value {
            Some(value) => path.push_str(&format!("&value={}", encode(value))),
            None => path.push_str("&action=delete"),
        }
        let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(api.error("GET /letsencrypt", &response, AUTH_HINT));
        }
        let answer: Answer = serde_json::from_slice(&response.body).map_err(|_| ProviderError::Rejected {
            provider: self.provider(),
            detail: format!(
                "GET /letsencrypt: the answer is not do.de's JSON {{\"success\": ...}}: {}; is api_url the do.de API?",
                excerpt(&response.body, &api.secrets())
            ),
        })?;
        if answer.success {
            return Ok(());
        }
        let said = [&answer.error, &answer.message]
            .iter()
            .filter_map(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let said = redact(&said, &api.secrets());
        let detail = format!("GET /letsencrypt for {name}: success false: {said}");
        let lower = said.to_ascii_lowercase();
        if lower.contains("token") || lower.contains("auth") || lower.contains("permission") {
            return Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!("{detail}; {AUTH_HINT}"),
            });
        }
        Err(ProviderError::Rejected { provider: self.provider(), detail })
    }
}

/// The name as the API wants it: no trailing dot, lower case.
fn api_name(record: &TxtRecord) -> String {
    normalize(&record.fqdn).trim_end_matches('.').to_string()
}

impl DnsProvider for Dode {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let name = api_name(record);
        if !name.starts_with("_acme-challenge.") {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "{name}: the do.de Let's Encrypt API writes only _acme-challenge names; point this name's _acme-challenge CNAME elsewhere or use another provider"
                ),
            });
        }
        let _writing = self.inner.writing.lock().await;
        if self.held().get(&name).is_some_and(|v| *v != record.value) {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "do.de's Let's Encrypt API holds one TXT value per name, and {name} already carries another challenge of this run (a certificate for both *.example.com and example.com needs two at once); ask for the wildcard and the bare name in two certificates, or delegate _acme-challenge with a CNAME to an acme-dns server"
                ),
            });
        }
        self.call(&name, Some(&record.value)).await?;
        self.held().insert(name.clone(), record.value.clone());
        tracing::debug!(name, "dode: TXT set");
        Ok(())
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let name = api_name(record);
        let _writing = self.inner.writing.lock().await;
        // Another challenge's value stands there now: ours is gone already.
        if self.held().get(&name).is_some_and(|v| *v != record.value) {
            return Ok(());
        }
        self.call(&name, None).await?;
        self.held().remove(&name);
        tracing::debug!(name, "dode: TXT deleted");
        Ok(())
    }
}

impl ProviderSpec for Dode {
    type Config = DodeConfig;
    const CODE: &'static str = "dode";
    const NAME: &'static str = "Domain Offensive (do.de)";
    const SECRETS: &'static [&'static str] = &["token"];
    const ENV: &'static [EnvName] = &[
        env("DODE_TOKEN", "token", Kind::Secret),
        env("DODE_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("DODE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("DODE_POLLING_INTERVAL", POLLING),
        ignored("DODE_SEQUENCE_INTERVAL", SEQUENCE),
    ];
    const PERMISSIONS: &'static str = "the account's Let's Encrypt API token (it may write only _acme-challenge TXT values of the account's domains)";
    const NOTES: &'static str = "one TXT value per name: a wildcard and its bare name go in two certificates";

    fn check(config: &DodeConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.token, "token")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &DodeConfig, secrets: &mut dyn SecretReader) -> Result<Dode, ProviderError> {
        let token = read_required(secrets, "dode", "token", &config.token)?;
        Dode::new(&config.api_url, &token, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_token_and_hides_it() {
        let p = Dode::new(DEFAULT_API_URL, &Secret::new("FmD408PdqT1E"), Duration::from_secs(5)).unwrap();
        assert!(!format!("{p:?}").contains("FmD408"));
        let err = Dode::new(DEFAULT_API_URL, &Secret::new(" "), Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
    }

    #[test]
    fn names_lose_the_dot_and_case() {
        let r = TxtRecord {
            fqdn: "_acme-challenge.Example.COM.".into(),
            zone: None,
            value: "v".into(),
            ttl: 60,
            raw: None,
        };
        assert_eq!(api_name(&r), "_acme-challenge.example.com");
    }
}
