//! Rackspace Cloud DNS: add and remove one TXT value through the Cloud DNS API v1.0, with a
//! token from Rackspace's identity service v2.0 (`RAX-KSKEY:apiKeyCredentials`: user name
//! and API key); the DNS endpoint (with the account number) comes from the token's catalog
//! (type `rax:dns`) unless `api_url` names it. Each TXT value is its own record, so adding
//! one never touches another; cleanup deletes the records whose data is our value. Changes
//! are asynchronous jobs, polled until they complete. See README.md.
//!
//! API references: <https://docs.rackspace.com/docs/cloud-dns/v1/api-reference/>,
//! <https://docs.rackspace.com/docs/cloud-identity/v2/api-reference/token-operations>.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
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
use wildcert_dns_http::{
    Api, Body, HttpClient, JobWait, Response, StatusClass, classify, default_timeout, encode, excerpt,
    retry_after,
};

/// Rackspace's identity service.
pub const DEFAULT_IDENTITY_URL: &str = "https://identity.api.rackspacecloud.com/v2.0";

/// The shortest TTL Cloud DNS accepts.
pub const MIN_TTL: u32 = 300;

/// How long a change job may take, and how often it is asked about.
const JOB_DEADLINE: Duration = Duration::from_secs(120);
const JOB_POLL: Duration = Duration::from_millis(500);

const AUTH_HINT: &str = "check username and api_key (lego: RACKSPACE_USER, RACKSPACE_API_KEY)";

/// Rackspace's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackspaceConfig {
    /// The Rackspace user.
    pub username: String,
    /// Its API key.
    pub api_key: Option<SecretSource>,
    /// The identity service, `.../v2.0`.
    #[serde(default = "default_identity_url")]
    pub identity_url: String,
    /// The Cloud DNS endpoint with the account number, overriding the catalog's.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_identity_url() -> String {
    DEFAULT_IDENTITY_URL.into()
}

/// The Rackspace adapter. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct Rackspace {
    inner: Arc<Inner>,
}

struct Inner {
    provider: String,
    identity: IdentityV2,
    client: HttpClient,
    key: Secret,
    api_url: Option<String>,
    locks: NameLocks,
}

impl std::fmt::Debug for Rackspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rackspace")
            .field("provider", &self.inner.provider)
            .field("api_url", &self.inner.api_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Domains {
    #[serde(default)]
    domains: Vec<Domain>,
}

#[derive(Debug, Clone, Deserialize)]
struct Domain {
    id: serde_json::Value,
    #[serde(default)]
    name: String,
}

impl Domain {
    fn id(&self) -> String {
        match &self.id {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
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

#[derive(Debug, Deserialize)]
struct Job {
    #[serde(default, rename = "jobId")]
    job_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl Rackspace {
    /// Prepares the adapter; no network I/O.
    pub fn new(config: &RackspaceConfig, key: Secret) -> Result<Rackspace, ProviderError> {
        let identity_url = config.identity_url.trim().trim_end_matches('/');
        let identity_url = identity_url.strip_suffix("/tokens").unwrap_or(identity_url);
        let identity = Api::connect("rackspace", identity_url, config.timeout)?.require("api_key", &key)?;
        let provider = identity.provider().to_string();
        let client = HttpClient::new(config.timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        let credentials =
            Credentials::RaxApiKey { username: config.username.trim().to_string(), api_key: key.clone() };
        Ok(Rackspace {
            inner: Arc::new(Inner {
                provider,
                identity: IdentityV2::new(identity, credentials, AUTH_HINT),
                client,
                key,
                api_url: config.api_url.clone(),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.provider.clone()
    }

    /// One call with the current token; a 401 fetches a new token once. Cloud DNS signals
    /// its rate limits with 413 "Over Limit" and `Retry-After`: that is a temporary failure.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<(Api, Response), ProviderError> {
        let provider = self.provider();
        let send = |token: Arc<Token>| {
            let (method, provider) = (method.clone(), &provider);
            async move {
                let base = match &self.inner.api_url {
                    Some(url) => url.clone(),
                    None => token.endpoint("rax:dns", None).map_err(|detail| ProviderError::Config {
                        provider: provider.clone(),
                        detail: format!("{detail}; set api_url to the Cloud DNS endpoint"),
                    })?,
                };
                let api = Api::new(&self.inner.provider, &base, self.inner.client.clone())?
                    .with_redacted(&self.inner.key)
                    .with_redacted(&token.token);
                let header = x_auth_token(provider, &token.token)?;
                let response = api.call(method, path, body, &header).await?;
                Ok((api, response))
            }
        };
        let (api, response) = with_token(&self.inner.identity, &provider, send).await?;
        if response.status == StatusCode::PAYLOAD_TOO_LARGE {
            return Err(ProviderError::Temporary {
                provider,
                detail: format!(
                    "{method} {}: HTTP 413, over the API's rate limit: {}",
                    path.split('?').next().unwrap_or_default(),
                    excerpt(&response.body, &api.secrets())
                ),
                retry_after: retry_after(&response.headers),
            });
        }
        Ok((api, response))
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ProviderError> {
        let (api, response) = self.call(Method::GET, path, &Body::Empty).await?;
        api.parse(&format!("GET {}", path.split('?').next().unwrap_or_default()), &response, AUTH_HINT)
    }

    async fn domain(&self, record: &TxtRecord) -> Result<Domain, ProviderError> {
        let names = candidates(record);
        for name in &names {
            let found: Domains = self.get(&format!("/domains?name={}", encode(name))).await?;
            if let Some(domain) = found.domains.into_iter().find(|d| normalize(&d.name) == normalize(name)) {
                return Ok(domain);
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("the account has none of the domains {}", names.join(", ")),
        })
    }

    /// Sends a change and waits for its job to complete.
    async fn change(&self, method: Method, path: &str, body: &Body) -> Result<(), ProviderError> {
        let (api, response) = self.call(method.clone(), path, body).await?;
        let action = format!("{method} {}", path.split('?').next().unwrap_or_default());
        if method == Method::DELETE && classify(response.status) == StatusClass::NotFound {
            return Ok(());
        }
        let mut job: Job = api.parse(&action, &response, AUTH_HINT)?;
        let mut wait = JobWait::new(JOB_DEADLINE, JOB_POLL, JOB_POLL);
        loop {
            match job.status.as_str() {
                "COMPLETED" => return Ok(()),
                "ERROR" => {
                    let said = job.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
                    return Err(ProviderError::Rejected {
                        provider: self.provider(),
                        detail: format!(
                            "{action}: job {} failed: {}",
                            job.job_id,
                            excerpt(said.as_bytes(), &api.secrets())
                        ),
                    });
                }
                _ => {}
            }
            if job.job_id.is_empty() {
                return Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: format!(
                        "{action}: the answer names no job to wait for (status {:?})",
                        job.status
                    ),
                });
            }
            if !wait.pause().await {
                return Err(ProviderError::Timeout {
                    provider: self.provider(),
                    after: wait.limit(),
                    detail: format!("{action}: job {} still {}", job.job_id, job.status),
                });
            }
            // The job's own callbackUrl is the API's answer; the path is built here instead.
            job = self.get(&format!("/status/{}?showDetails=true", encode(&job.job_id))).await?;
        }
    }

    async fn ours(&self, domain: &Domain, record: &TxtRecord) -> Result<Vec<Record>, ProviderError> {
        let name = record.fqdn_without_dot().to_ascii_lowercase();
        let path = format!("/domains/{}/records?type=TXT&name={}", encode(&domain.id()), encode(&name));
        let found: Records = self.get(&path).await?;
        Ok(found
            .records
            .into_iter()
            .filter(|r| r.kind.eq_ignore_ascii_case("TXT") && normalize(&r.name) == normalize(&name))
            .filter(|r| r.data.trim_matches('"') == record.value)
            .collect())
    }

    async fn apply(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        // Each value is its own record; the lock only keeps a value from being added twice.
        let _guard = self.inner.locks.lock(&format!("{}{}", record.fqdn, record.value)).await;
        let domain = self.domain(record).await?;
        let ours = self.ours(&domain, record).await?;
        let id = encode(&domain.id());
        if add && ours.is_empty() {
            let body = json!({"records": [{"name": record.fqdn_without_dot().to_ascii_lowercase(), "type": "TXT", "data": record.value, "ttl": record.ttl.max(MIN_TTL)}]});
            self.change(Method::POST, &format!("/domains/{id}/records"), &Body::json(&body)).await?;
        }
        if !add {
            for r in &ours {
                self.change(
                    Method::DELETE,
                    &format!("/domains/{id}/records/{}", encode(&r.id)),
                    &Body::Empty,
                )
                .await?;
            }
        }
        tracing::debug!(fqdn = %record.fqdn, domain = %domain.name, add, "rackspace: records written");
        Ok(())
    }
}

impl DnsProvider for Rackspace {
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

impl ProviderSpec for Rackspace {
    type Config = RackspaceConfig;
    const CODE: &'static str = "rackspace";
    const NAME: &'static str = "Rackspace Cloud DNS";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("RACKSPACE_USER", "username", Kind::Text),
        env("RACKSPACE_API_KEY", "api_key", Kind::Secret),
        env("RACKSPACE_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("RACKSPACE_TTL", TTL),
        ignored("RACKSPACE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("RACKSPACE_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str =
        "a user with the Cloud DNS role observer plus creator (or admin) on the account, and its API key";
    const NOTES: &'static str = "minimum TTL 300 s; changes are asynchronous jobs the adapter waits for; rate limits answer 413 with Retry-After";

    fn check(config: &RackspaceConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        if config.username.trim().is_empty() {
            return Err(SettingError::new("username", "is empty"));
        }
        checks.url("identity_url", &config.identity_url)?;
        if let Some(url) = &config.api_url {
            checks.url("api_url", url)?;
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &RackspaceConfig, secrets: &mut dyn SecretReader) -> Result<Rackspace, ProviderError> {
        let key = read_required(secrets, "rackspace", "api_key", &config.api_key)?;
        Rackspace::new(config, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_the_key_and_refuses_an_empty_one() {
        let config = RackspaceConfig {
            username: "ops".into(),
            api_key: None,
            identity_url: "https://identity.api.rackspacecloud.com/v2.0/tokens".into(),
            api_url: None,
            timeout: Duration::from_secs(5),
        };
        let p = Rackspace::new(&config, Secret::new("rax-hunter2")).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert_eq!(p.describe(), "rackspace (https://identity.api.rackspacecloud.com/v2.0)");
        assert!(Rackspace::new(&config, Secret::new(" ")).unwrap_err().to_string().contains("api_key"));
    }
}
