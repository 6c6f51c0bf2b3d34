//! VegaDNS (self-hosted; tinydns behind a web API) through VegaDNS-API 1.0 under
//! `<url>/1.0/`: `POST token` with HTTP basic authentication (API key and secret) and
//! `grant_type=client_credentials` answers a bearer token with its lifetime; `GET
//! domains?search=` finds the domain (the longest suffix of the name the account has); `GET
//! records?domain_id=` lists its records; `POST records` (form: `record_type=TXT`, `name`,
//! `value`, `ttl`, `domain_id`) adds one; `DELETE records/{id}` removes one. Records are
//! addressed by ID, so cleanup removes exactly the TXT records at the name carrying our value
//! and the apex's and the wildcard's values coexist. See README.md.
//!
//! API reference: <https://github.com/shupp/VegaDNS-API> (API docs: tokens, domains,
//! records); lego's client <https://github.com/nrdcg/vegadns>.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Method};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{
    Api, Body, Response, StatusClass, basic_auth, classify, default_timeout, encode, excerpt,
};

const AUTH_HINT: &str = "check key and secret (lego: SECRET_VEGADNS_KEY, SECRET_VEGADNS_SECRET): an API key pair of a VegaDNS account that may edit the domain";

/// Renew a token this long before it expires.
const MARGIN: Duration = Duration::from_secs(30);

/// VegaDNS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VegaDnsConfig {
    /// The VegaDNS-API server (the API URL; `/1.0` is appended).
    pub url: Option<String>,
    /// The API key (OAuth2 client ID).
    pub key: Option<SecretSource>,
    /// The API secret.
    pub secret: Option<SecretSource>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

/// The VegaDNS adapter. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct VegaDns {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    key: Secret,
    secret: Secret,
    token: Mutex<Option<(HeaderValue, Instant)>>,
}

impl std::fmt::Debug for VegaDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VegaDns").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Domains {
    #[serde(default)]
    domains: Vec<Domain>,
}

#[derive(Deserialize)]
struct Domain {
    domain: String,
    domain_id: u64,
}

#[derive(Deserialize)]
struct Records {
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    record_type: String,
    record_id: u64,
}

impl VegaDns {
    /// Prepares the client; no network I/O.
    pub fn new(
        url: &str,
        key: &Secret,
        secret: &Secret,
        timeout: Duration,
    ) -> Result<VegaDns, ProviderError> {
        let base = format!("{}/1.0", url.trim().trim_end_matches('/'));
        let api = Api::connect("vegadns", &base, timeout)?
            .require("key", key)?
            .require("secret", secret)?
            .with_redacted(key)
            .with_redacted(secret);
        Ok(VegaDns {
            inner: Arc::new(Inner { api, key: key.clone(), secret: secret.clone(), token: Mutex::new(None) }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// VegaDNS's error text: `message`, or Falcon's `title` / `description`.
    fn said(&self, response: &Response) -> String {
        let secrets = self.inner.api.secrets();
        match serde_json::from_slice::<Value>(&response.body) {
            Ok(v) => {
                let parts: Vec<String> = ["message", "title", "description"]
                    .iter()
                    .filter_map(|k| v[*k].as_str().map(str::to_string))
                    .collect();
                if parts.is_empty() {
                    excerpt(&response.body, &secrets)
                } else {
                    wildcert_dns_http::redact(&parts.join(": "), &secrets)
                }
            }
            Err(_) => excerpt(&response.body, &secrets),
        }
    }

    fn failed(&self, action: &str, response: &Response) -> ProviderError {
        match classify(response.status) {
            StatusClass::Rejected | StatusClass::NotFound => ProviderError::Rejected {
                provider: self.provider(),
                detail: format!("{action}: HTTP {}: {}", response.status, self.said(response)),
            },
            _ => self.inner.api.error(action, response, AUTH_HINT),
        }
    }

    /// A valid bearer header: the cached one, or a fresh token.
    async fn bearer(&self) -> Result<HeaderValue, ProviderError> {
        let mut cached = self.inner.token.lock().await;
        if let Some((header, until)) = cached.as_ref()
            && Instant::now() + MARGIN < *until
        {
            return Ok(header.clone());
        }
        let api = &self.inner.api;
        let auth =
            basic_auth(self.inner.key.expose().trim(), &Secret::new(self.inner.secret.expose().trim()));
        let body = Body::form(&[("grant_type", "client_credentials")]);
        let response = api.call(Method::POST, "/token", &body, &[(AUTHORIZATION, auth)]).await?;
        match classify(response.status) {
            StatusClass::Success => {}
            // RFC 6749 5.2: refused client credentials are a 400 or 401.
            StatusClass::Auth | StatusClass::Rejected => {
                return Err(ProviderError::Auth {
                    provider: self.provider(),
                    detail: format!(
                        "POST /1.0/token: HTTP {}: {}; {AUTH_HINT}",
                        response.status,
                        self.said(&response)
                    ),
                });
            }
            _ => return Err(api.error("POST /1.0/token", &response, AUTH_HINT)),
        }
        let answer: TokenAnswer = api.parse("POST /1.0/token", &response, AUTH_HINT)?;
        if !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!("POST /1.0/token: token type {:?}, not bearer", answer.token_type),
            });
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {}", answer.access_token)).map_err(|_| {
            ProviderError::Rejected {
                provider: self.provider(),
                detail: "POST /1.0/token: the token cannot be sent in a header".into(),
            }
        })?;
        header.set_sensitive(true);
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        *cached = Some((header.clone(), Instant::now() + lifetime));
        Ok(header)
    }

    /// One authorized call; a refused token is fetched anew once.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        let action = format!("{method} /1.0{}", path.split('?').next().unwrap_or_default());
        for attempt in 0..2 {
            let bearer = self.bearer().await?;
            let response =
                self.inner.api.call(method.clone(), path, body, &[(AUTHORIZATION, bearer)]).await?;
            match classify(response.status) {
                StatusClass::Success => return Ok(response),
                StatusClass::Auth if attempt == 0 => {
                    *self.inner.token.lock().await = None;
                }
                _ => return Err(self.failed(&action, &response)),
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    async fn domain(&self, record: &TxtRecord) -> Result<u64, ProviderError> {
        let names = candidates(record);
        for name in &names {
            let response =
                self.call(Method::GET, &format!("/domains?search={}", encode(name)), &Body::Empty).await?;
            let domains: Domains = self.inner.api.parse("GET /1.0/domains", &response, AUTH_HINT)?;
            if let Some(d) = domains.domains.iter().find(|d| normalize(&d.domain) == normalize(name)) {
                return Ok(d.domain_id);
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("the account has none of the domains {}", names.join(", ")),
        })
    }

    async fn ours(&self, domain: u64, record: &TxtRecord) -> Result<Vec<u64>, ProviderError> {
        let response = self.call(Method::GET, &format!("/records?domain_id={domain}"), &Body::Empty).await?;
        let records: Records = self.inner.api.parse("GET /1.0/records", &response, AUTH_HINT)?;
        let name = normalize(&record.fqdn);
        Ok(records
            .records
            .iter()
            .filter(|r| {
                r.record_type.eq_ignore_ascii_case("TXT")
                    && normalize(&r.name) == name
                    && r.value == record.value
            })
            .map(|r| r.record_id)
            .collect())
    }
}

impl DnsProvider for VegaDns {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let domain = self.domain(record).await?;
        if !self.ours(domain, record).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "vegadns: value present already");
            return Ok(());
        }
        let ttl = record.ttl.to_string();
        let domain_id = domain.to_string();
        let body = Body::form(&[
            ("record_type", "TXT"),
            ("name", record.fqdn_without_dot()),
            ("value", &record.value),
            ("ttl", &ttl),
            ("domain_id", &domain_id),
        ]);
        self.call(Method::POST, "/records", &body).await?;
        tracing::debug!(fqdn = %record.fqdn, domain, "vegadns: TXT added");
        Ok(())
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let domain = self.domain(record).await?;
        for id in self.ours(domain, record).await? {
            match self.call(Method::DELETE, &format!("/records/{id}"), &Body::Empty).await {
                Ok(_) => {}
                // Removed meanwhile (a concurrent cleanup of the same value): what we wanted.
                Err(ProviderError::Rejected { detail, .. }) if detail.contains("HTTP 404") => {}
                Err(e) => return Err(e),
            }
        }
        tracing::debug!(fqdn = %record.fqdn, domain, "vegadns: TXT removed");
        Ok(())
    }
}

impl ProviderSpec for VegaDns {
    type Config = VegaDnsConfig;
    const CODE: &'static str = "vegadns";
    const NAME: &'static str = "VegaDNS (self-hosted)";
    const SECRETS: &'static [&'static str] = &["key", "secret"];
    const ENV: &'static [EnvName] = &[
        env("VEGADNS_URL", "url", Kind::Text),
        env("SECRET_VEGADNS_KEY", "key", Kind::Secret),
        env("SECRET_VEGADNS_SECRET", "secret", Kind::Secret),
        env("VEGADNS_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("VEGADNS_TTL", TTL),
        ignored("VEGADNS_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("VEGADNS_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "an API key pair of an account that may edit the domain's records";
    const NOTES: &'static str = "self-hosted open-source software (github.com/shupp/VegaDNS-API; lego keeps its client, github.com/nrdcg/vegadns), quiet but still downloadable: built for the installs that run it. tinydns rebuilds its data on VegaDNS's schedule: raise [propagation] timeout (lego waits up to 12 minutes)";

    fn check(config: &VegaDnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        let Some(url) = config.url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Err(SettingError::new(
                "url",
                "missing: the VegaDNS-API server's URL (lego: VEGADNS_URL)",
            ));
        };
        required(&config.key, "key")?;
        required(&config.secret, "secret")?;
        checks.url("url", url)?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &VegaDnsConfig, secrets: &mut dyn SecretReader) -> Result<VegaDns, ProviderError> {
        let key = read_required(secrets, "vegadns", "key", &config.key)?;
        let secret = read_required(secrets, "vegadns", "secret", &config.secret)?;
        VegaDns::new(config.url.as_deref().unwrap_or_default(), &key, &secret, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_credentials_and_refuses_blank_ones() {
        let p = VegaDns::new(
            "http://vegadns.internal",
            &Secret::new("vk-1"),
            &Secret::new("vs-2"),
            Duration::from_secs(5),
        )
        .unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains("vk-1") && !debug.contains("vs-2"), "{debug}");
        let err = VegaDns::new(
            "http://vegadns.internal",
            &Secret::new("k"),
            &Secret::new(""),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");
    }
}
