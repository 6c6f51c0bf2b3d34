//! ConoHa (VPS Ver.2.0): add and remove one TXT value through the DNS service API v1 (a
//! Designate v1 API: domains, records), with a token from the region's identity service v2.0
//! (API user name and password within a tenant). Both endpoints follow from the region
//! (`tyo1`, `sin1`, `sjc1`) unless `identity_url` / `api_url` name them. Each TXT value is its
//! own record, so adding one never touches another; cleanup deletes the records whose data
//! is our value. See README.md.
//!
//! API references: <https://doc.conoha.jp/api-vps2/identity-post_tokens-v2/>,
//! <https://doc.conoha.jp/api-vps2/paas-dns-list-records-in-a-domain-v2/>,
//! <https://www.conoha.jp/docs/paas-dns-create-record.php>.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::json;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::identity::{with_token, x_auth_token};
use wildcert_dns_http::identity_v2::{Credentials, IdentityV2, Token};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, Response, StatusClass, classify, default_timeout, encode};

/// The region when none is set.
pub const DEFAULT_REGION: &str = "tyo1";

/// The shortest TTL the API accepts.
pub const MIN_TTL: u32 = 60;

const AUTH_HINT: &str = "check tenant_id, username and password (lego: CONOHA_TENANT_ID, CONOHA_API_USERNAME, CONOHA_API_PASSWORD): the API user's, not the control panel's";

/// ConoHa's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConohaConfig {
    /// The tenant (the API information page's tenant ID).
    pub tenant_id: String,
    /// The API user.
    pub username: String,
    /// Its password.
    pub password: Option<SecretSource>,
    /// The region: `tyo1`, `sin1` or `sjc1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// The identity service, default `https://identity.{region}.conoha.io/v2.0`.
    pub identity_url: Option<String>,
    /// The DNS service, default `https://dns-service.{region}.conoha.io/v1`.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_region() -> String {
    DEFAULT_REGION.into()
}

impl ConohaConfig {
    fn identity_url(&self) -> String {
        self.identity_url
            .clone()
            .unwrap_or_else(|| format!("https://identity.{}.conoha.io/v2.0", self.region))
    }

    fn api_url(&self) -> String {
        self.api_url.clone().unwrap_or_else(|| format!("https://dns-service.{}.conoha.io/v1", self.region))
    }
}

/// The ConoHa adapter. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct Conoha {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    identity: IdentityV2,
    locks: NameLocks,
}

impl std::fmt::Debug for Conoha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conoha").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Domains {
    #[serde(default)]
    domains: Vec<Domain>,
}

#[derive(Debug, Clone, Deserialize)]
struct Domain {
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct Records {
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Debug, Clone, Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    data: String,
}

impl Conoha {
    /// Prepares the adapter; no network I/O.
    pub fn new(config: &ConohaConfig, password: Secret) -> Result<Conoha, ProviderError> {
        let api = Api::connect("conoha", &config.api_url(), config.timeout)?
            .require("password", &password)?
            .with_redacted(&password);
        let identity_url = config.identity_url();
        let identity_url = identity_url.trim().trim_end_matches('/');
        let identity_url = identity_url.strip_suffix("/tokens").unwrap_or(identity_url);
        let identity = Api::connect("conoha", identity_url, config.timeout)?;
        let credentials = Credentials::Password {
            username: config.username.trim().to_string(),
            password,
            tenant_id: Some(config.tenant_id.trim().to_string()),
            tenant_name: None,
        };
        Ok(Conoha {
            inner: Arc::new(Inner {
                api,
                identity: IdentityV2::new(identity, credentials, AUTH_HINT),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One call with the current token; a 401 fetches a new token once.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        let provider = self.provider();
        let send = |token: Arc<Token>| {
            let (method, provider) = (method.clone(), &provider);
            async move {
                let header = x_auth_token(provider, &token.token)?;
                Ok(((), self.inner.api.call(method, path, body, &header).await?))
            }
        };
        Ok(with_token(&self.inner.identity, &provider, send).await?.1)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ProviderError> {
        let response = self.call(Method::GET, path, &Body::Empty).await?;
        self.inner.api.parse(&format!("GET {path}"), &response, AUTH_HINT)
    }

    async fn domain(&self, record: &TxtRecord) -> Result<Domain, ProviderError> {
        let domains: Domains = self.get("/domains").await?;
        let names = candidates(record);
        let picked = names
            .iter()
            .find_map(|c| domains.domains.iter().find(|d| normalize(&d.name) == normalize(c)))
            .cloned();
        picked.ok_or_else(|| ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("the tenant has none of the domains {}", names.join(", ")),
        })
    }

    async fn apply(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        // Each value is its own record; the lock only keeps a value from being added twice.
        let _guard = self.inner.locks.lock(&format!("{}{}", record.fqdn, record.value)).await;
        let domain = self.domain(record).await?;
        let id = encode(&domain.id);
        let fqdn = normalize(&record.fqdn);
        let records: Records = self.get(&format!("/domains/{id}/records")).await?;
        let ours: Vec<Record> = records
            .records
            .into_iter()
            .filter(|r| r.kind.eq_ignore_ascii_case("TXT") && normalize(&r.name) == fqdn)
            .filter(|r| r.data.trim_matches('"') == record.value)
            .collect();
        if add && ours.is_empty() {
            let body =
                json!({"name": fqdn, "type": "TXT", "data": record.value, "ttl": record.ttl.max(MIN_TTL)});
            let path = format!("/domains/{id}/records");
            let response = self.call(Method::POST, &path, &Body::json(&body)).await?;
            if classify(response.status) != StatusClass::Success {
                return Err(self.inner.api.error(&format!("POST {path}"), &response, AUTH_HINT));
            }
        }
        if !add {
            for r in &ours {
                let path = format!("/domains/{id}/records/{}", encode(&r.id));
                let response = self.call(Method::DELETE, &path, &Body::Empty).await?;
                if !matches!(classify(response.status), StatusClass::Success | StatusClass::NotFound) {
                    return Err(self.inner.api.error(&format!("DELETE {path}"), &response, AUTH_HINT));
                }
            }
        }
        tracing::debug!(fqdn = %record.fqdn, domain = %domain.name, add, "conoha: records written");
        Ok(())
    }
}

impl DnsProvider for Conoha {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.apply(record, true).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.apply(record, false).await
    }
}

impl ProviderSpec for Conoha {
    type Config = ConohaConfig;
    const CODE: &'static str = "conoha";
    const NAME: &'static str = "ConoHa";
    const SECRETS: &'static [&'static str] = &["password"];
    const ENV: &'static [EnvName] = &[
        env("CONOHA_TENANT_ID", "tenant_id", Kind::Text),
        env("CONOHA_API_USERNAME", "username", Kind::Text),
        env("CONOHA_API_PASSWORD", "password", Kind::Secret),
        env("CONOHA_REGION", "region", Kind::Text),
        env("CONOHA_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("CONOHA_TTL", TTL),
        ignored("CONOHA_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("CONOHA_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "the API user of the tenant (ConoHa has no narrower DNS role)";
    const NOTES: &'static str = "ConoHa VPS Ver.2.0 accounts; minimum TTL 60 s";

    fn check(config: &ConohaConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.password, "password")?;
        for (key, value) in [("tenant_id", &config.tenant_id), ("username", &config.username)] {
            if value.trim().is_empty() {
                return Err(SettingError::new(key, "is empty"));
            }
        }
        // The region becomes part of two host names.
        if config.region.is_empty()
            || !config.region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(SettingError::new("region", "must be a region name such as tyo1, sin1 or sjc1"));
        }
        checks.url("identity_url", &config.identity_url())?;
        checks.url("api_url", &config.api_url())?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &ConohaConfig, secrets: &mut dyn SecretReader) -> Result<Conoha, ProviderError> {
        let password = read_required(secrets, "conoha", "password", &config.password)?;
        Conoha::new(config, password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_region_and_the_password_stays_hidden() {
        let config = ConohaConfig {
            tenant_id: "t1".into(),
            username: "gncu1".into(),
            password: None,
            region: "sin1".into(),
            identity_url: None,
            api_url: None,
            timeout: Duration::from_secs(5),
        };
        assert_eq!(config.identity_url(), "https://identity.sin1.conoha.io/v2.0");
        let p = Conoha::new(&config, Secret::new("cono-hunter2")).unwrap();
        assert_eq!(p.describe(), "conoha (https://dns-service.sin1.conoha.io/v1)");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(Conoha::new(&config, Secret::new("")).unwrap_err().to_string().contains("password"));
    }
}
