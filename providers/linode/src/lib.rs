//! Linode (Akamai) DNS Manager: add and remove one TXT value through the API v4, one record
//! per value. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::zone::{host_name, pick};
use wildcert_dns_http::{Api, Body, default_timeout};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.linode.com";

/// Linode's shortest TTL.
pub const MIN_TTL: u32 = 300;

/// Items per page (the API allows 25 to 500).
const PAGE_SIZE: u32 = 500;

/// At most this many pages are read of one listing.
const MAX_PAGES: u32 = 100;

const AUTH_HINT: &str =
    "check token (lego: LINODE_TOKEN): a personal access token with the Domains read/write scope";

/// Linode's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinodeConfig {
    /// A personal access token with the Domains read/write scope.
    pub token: Option<SecretSource>,
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

/// The Linode adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Linode {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    locks: NameLocks,
}

impl std::fmt::Debug for Linode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linode").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    pages: u32,
}

#[derive(Debug, Deserialize)]
struct Domain {
    id: u64,
    domain: String,
}

#[derive(Debug, Deserialize)]
struct Listed {
    id: u64,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    target: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    #[serde(rename = "type")]
    rtype: &'static str,
    name: &'a str,
    target: &'a str,
    ttl_sec: u32,
}

impl Linode {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, token: &Secret, timeout: Duration) -> Result<Linode, ProviderError> {
        let api = Api::connect("linode", api_url, timeout)?.require("token", token)?.with_bearer(token)?;
        Ok(Linode { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    /// Every item of a paged listing.
    async fn all<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ProviderError> {
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = format!("{path}?page={page}&page_size={PAGE_SIZE}");
            let got: Page<T> = self.inner.api.json(Method::GET, &url, &Body::Empty, AUTH_HINT).await?;
            items.extend(got.data);
            if page >= got.pages {
                break;
            }
        }
        Ok(items)
    }

    /// The domain's ID and name.
    async fn domain_for(&self, record: &TxtRecord) -> Result<(u64, String), ProviderError> {
        let domains: Vec<Domain> = self.all("/v4/domains").await?;
        let name = pick(record, domains.iter().map(|d| d.domain.as_str())).ok_or_else(|| {
            ProviderError::ZoneNotFound {
                provider: self.inner.api.provider().to_string(),
                fqdn: record.fqdn.clone(),
                detail: "no domain of this account holds the name (DNS Manager > Domains)".into(),
            }
        })?;
        let domain = domains.iter().find(|d| d.domain == name).expect("picked from the list");
        Ok((domain.id, domain.domain.trim_end_matches('.').to_string()))
    }

    async fn matching(&self, id: u64, zone: &str, record: &TxtRecord) -> Result<Vec<u64>, ProviderError> {
        let name = host_name(record, zone);
        let listed: Vec<Listed> = self.all(&format!("/v4/domains/{id}/records")).await?;
        Ok(listed
            .into_iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(&name))
            .filter(|r| r.target == record.value)
            .map(|r| r.id)
            .collect())
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (id, zone) = self.domain_for(record).await?;
        if !self.matching(id, &zone, record).await?.is_empty() {
            return Ok(());
        }
        let name = host_name(record, &zone);
        let body = Body::json(&NewRecord {
            rtype: "TXT",
            name: &name,
            target: &record.value,
            ttl_sec: record.ttl.max(MIN_TTL),
        });
        let path = format!("/v4/domains/{id}/records");
        let _: serde::de::IgnoredAny = self.inner.api.json(Method::POST, &path, &body, AUTH_HINT).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "linode: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (id, zone) = self.domain_for(record).await?;
        let api = &self.inner.api;
        for record_id in self.matching(id, &zone, record).await? {
            let path = format!("/v4/domains/{id}/records/{record_id}");
            api.delete(&path, AUTH_HINT).await?;
            tracing::debug!(fqdn = %record.fqdn, record_id, "linode: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Linode {
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

impl ProviderSpec for Linode {
    type Config = LinodeConfig;
    const CODE: &'static str = "linodev4";
    const NAME: &'static str = "Linode (v4 API)";
    const PERMISSIONS: &'static str = "a personal access token with Domains: Read/Write";
    const NOTES: &'static str = "changes can take minutes to reach Linode's name servers: raise [propagation] timeout if orders time out";
    const ALIASES: &'static [&'static str] = &["linode"];
    const SECRETS: &'static [&'static str] = &["token"];
    const ENV: &'static [EnvName] = &[
        env("LINODE_TOKEN", "token", Kind::Secret),
        env("LINODE_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("LINODE_API_KEY", "a key of the retired v3 API does not work with v4; set LINODE_TOKEN"),
        ignored("LINODE_TTL", TTL),
        ignored("LINODE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("LINODE_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &LinodeConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.token, "token")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &LinodeConfig, secrets: &mut dyn SecretReader) -> Result<Linode, ProviderError> {
        let token = read_required(secrets, "linode", "token", &config.token)?;
        Linode::new(&config.api_url, &token, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_token_and_hides_it() {
        let p = Linode::new(DEFAULT_API_URL, &Secret::new("linode-t0k"), Duration::from_secs(5)).unwrap();
        assert!(!format!("{p:?}").contains("linode-t0k"));
        let err = Linode::new(DEFAULT_API_URL, &Secret::new(""), Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
    }
}
