//! Duck DNS: one TXT value per Duck DNS domain, set with `GET
//! /update?domains=<sub>&token=<token>&txt=<value>` and removed with `&clear=true`; the
//! answer is `OK` or `KO`. Duck DNS serves that value at `<sub>.duckdns.org` and every name
//! below it.
//!
//! One value per domain does not fit a certificate for both `*.<sub>.duckdns.org` and
//! `<sub>.duckdns.org`: wildcert presents all challenges of an order before the CA looks,
//! and both need a different value at the same name. The adapter refuses the second value
//! while the first is outstanding, saying so, instead of overwriting it and letting the CA
//! fail one of them. See README.md.
//!
//! API reference: <https://www.duckdns.org/spec.jsp>.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SEQUENCE, SecretReader, SecretSource,
    SettingError, TTL, check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, encode, excerpt};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://www.duckdns.org";

const AUTH_HINT: &str =
    "check token (lego: DUCKDNS_TOKEN) and that the Duck DNS domain belongs to that account";

/// Duck DNS' settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuckDnsConfig {
    /// The account's token (shown on duckdns.org after logging in).
    pub token: Option<SecretSource>,
    /// The Duck DNS domain to write (`foo` or `foo.duckdns.org`); default: the label of the
    /// challenge name right before `duckdns.org`.
    pub domain: Option<String>,
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

/// The Duck DNS adapter. Cheap to clone; clones share what each domain holds.
#[derive(Clone)]
pub struct DuckDns {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    token: Secret,
    domain: Option<String>,
    /// The value this process wrote and has not cleared yet, per Duck DNS domain.
    held: Mutex<HashMap<String, String>>,
    /// One update at a time, so that the check and the write above stay together.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for DuckDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuckDns")
            .field("api", &self.inner.api)
            .field("domain", &self.inner.domain)
            .finish_non_exhaustive()
    }
}

/// `foo` from `foo`, `foo.duckdns.org` or `_acme-challenge.www.foo.duckdns.org.`.
fn subdomain_of(name: &str) -> Option<String> {
    let name = normalize(name);
    let name = name.trim_end_matches('.');
    if !name.contains('.') {
        return (!name.is_empty()).then(|| name.to_string());
    }
    let rest = name.strip_suffix(".duckdns.org")?;
    rest.rsplit('.').next().filter(|s| !s.is_empty()).map(str::to_string)
}

impl DuckDns {
    /// Prepares the client; no network I/O. `domain` overrides the Duck DNS domain derived
    /// from each record's name.
    pub fn new(
        api_url: &str,
        token: &Secret,
        domain: Option<&str>,
        timeout: Duration,
    ) -> Result<DuckDns, ProviderError> {
        let api = Api::connect("duckdns", api_url, timeout)?.require("token", token)?.with_redacted(token);
        let domain = match domain {
            Some(d) => Some(subdomain_of(d).ok_or_else(|| ProviderError::Config {
                provider: api.provider().to_string(),
                detail: format!(
                    "domain `{d}` is not a Duck DNS domain; write \"foo\" or \"foo.duckdns.org\""
                ),
            })?),
            None => None,
        };
        Ok(DuckDns {
            inner: Arc::new(Inner {
                api,
                token: token.clone(),
                domain,
                held: Mutex::new(HashMap::new()),
                writing: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    fn domain_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        match &self.inner.domain {
            Some(d) => Ok(d.clone()),
            None => subdomain_of(&record.fqdn).ok_or_else(|| ProviderError::Config {
                provider: self.provider(),
                detail: format!(
                    "{} is not below duckdns.org; set domain to the Duck DNS domain its _acme-challenge points to",
                    record.fqdn
                ),
            }),
        }
    }

    /// One `GET /update`; the token travels in the query, which no message shows.
    async fn update(&self, domain: &str, txt: &str, clear: bool) -> Result<(), ProviderError> {
        let api = &self.inner.api;
        let mut path = format!(
            "/update?domains={}&token={}&txt={}&verbose=true",
            encode(domain),
            encode(self.inner.token.expose().trim()),
            encode(txt)
        );
        if clear {
            path.push_str("&clear=true");
        }
        let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(api.error("GET /update", &response, AUTH_HINT));
        }
        let body = String::from_utf8_lossy(&response.body);
        match body.lines().next().map(str::trim) {
            Some("OK") => Ok(()),
            Some("KO") => Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!("GET /update for {domain}: KO; {AUTH_HINT}"),
            }),
            _ => Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "GET /update: the answer is neither OK nor KO: {}; is api_url Duck DNS?",
                    excerpt(&response.body, &api.secrets())
                ),
            }),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.inner.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DnsProvider for DuckDns {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let domain = self.domain_for(record)?;
        let _writing = self.inner.writing.lock().await;
        if self.held().get(&domain).is_some_and(|v| *v != record.value) {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "Duck DNS holds one TXT value per domain, and {domain}.duckdns.org already carries another challenge of this run (a certificate for both *.{domain}.duckdns.org and {domain}.duckdns.org needs two at once); ask for the wildcard and the bare name in two certificates, or delegate _acme-challenge to an acme-dns server"
                ),
            });
        }
        self.update(&domain, &record.value, false).await?;
        self.held().insert(domain.clone(), record.value.clone());
        tracing::debug!(domain, "duckdns: TXT set");
        Ok(())
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let domain = self.domain_for(record)?;
        let _writing = self.inner.writing.lock().await;
        // Another challenge's value stands there now: ours is gone already.
        if self.held().get(&domain).is_some_and(|v| *v != record.value) {
            return Ok(());
        }
        self.update(&domain, "", true).await?;
        self.held().remove(&domain);
        tracing::debug!(domain, "duckdns: TXT cleared");
        Ok(())
    }
}

impl ProviderSpec for DuckDns {
    type Config = DuckDnsConfig;
    const CODE: &'static str = "duckdns";
    const NAME: &'static str = "Duck DNS";
    const PERMISSIONS: &'static str = "the account's token (Duck DNS has no narrower scope)";
    const SECRETS: &'static [&'static str] = &["token"];
    const ENV: &'static [EnvName] = &[
        env("DUCKDNS_TOKEN", "token", Kind::Secret),
        env("DUCKDNS_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("DUCKDNS_TTL", TTL),
        ignored("DUCKDNS_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("DUCKDNS_POLLING_INTERVAL", POLLING),
        ignored("DUCKDNS_SEQUENCE_INTERVAL", SEQUENCE),
    ];

    fn check(config: &DuckDnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.token, "token")?;
        if let Some(d) = &config.domain
            && subdomain_of(d).is_none()
        {
            return Err(SettingError::new(
                "domain",
                format!("`{d}` is not a Duck DNS domain; write \"foo\" or \"foo.duckdns.org\""),
            ));
        }
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &DuckDnsConfig, secrets: &mut dyn SecretReader) -> Result<DuckDns, ProviderError> {
        let token = read_required(secrets, "duckdns", "token", &config.token)?;
        DuckDns::new(&config.api_url, &token, config.domain.as_deref(), config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duck_dns_domains() {
        assert_eq!(subdomain_of("_acme-challenge.foo.duckdns.org.").as_deref(), Some("foo"));
        assert_eq!(subdomain_of("_acme-challenge.www.Foo.duckdns.org").as_deref(), Some("foo"));
        assert_eq!(subdomain_of("foo.duckdns.org").as_deref(), Some("foo"));
        assert_eq!(subdomain_of("foo").as_deref(), Some("foo"));
        assert_eq!(subdomain_of("_acme-challenge.example.com."), None);
        assert_eq!(subdomain_of("duckdns.org"), None);
    }

    #[test]
    fn refuses_an_empty_token_and_hides_it() {
        let p = DuckDns::new(DEFAULT_API_URL, &Secret::new("a7c4d0ad-114e"), None, Duration::from_secs(5))
            .unwrap();
        assert!(!format!("{p:?}").contains("a7c4d0ad"));
        let err = DuckDns::new(DEFAULT_API_URL, &Secret::new(""), None, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
    }
}
