//! DNSimple: add and remove one TXT value through the API v2, one record per value. See
//! README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::zone::{host_name, probe};
use wildcert_dns_http::{Api, Body, default_timeout, encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.dnsimple.com";

/// DNSimple's shortest TTL.
pub const MIN_TTL: u32 = 60;

/// Records per page (the API's maximum is 100).
const PER_PAGE: u32 = 100;

/// At most this many pages are read.
const MAX_PAGES: u32 = 100;

const AUTH_HINT: &str = "check oauth_token (lego: DNSIMPLE_OAUTH_TOKEN): an account access token, and api_url for a sandbox token";

/// DNSimple's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsimpleConfig {
    /// An account access token (Account > Access tokens).
    pub oauth_token: Option<SecretSource>,
    /// Base URL of the API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The account ID; default: the token's account.
    pub account_id: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The DNSimple adapter. Cheap to clone; clones share connections, the account ID and
/// serialization.
#[derive(Clone)]
pub struct Dnsimple {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    account: OnceCell<String>,
    locks: NameLocks,
}

impl std::fmt::Debug for Dnsimple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dnsimple").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Data<T> {
    data: T,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    #[serde(default)]
    total_pages: u32,
}

#[derive(Debug, Deserialize)]
struct Whoami {
    account: Option<Account>,
}

#[derive(Debug, Deserialize)]
struct Account {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct Listed {
    id: u64,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    content: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    rtype: &'static str,
    content: &'a str,
    ttl: u32,
}

impl Dnsimple {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        token: &Secret,
        account_id: Option<String>,
        timeout: Duration,
    ) -> Result<Dnsimple, ProviderError> {
        let api =
            Api::connect("dnsimple", api_url, timeout)?.require("oauth_token", token)?.with_bearer(token)?;
        let account = OnceCell::new();
        if let Some(id) = account_id {
            let _ = account.set(id);
        }
        Ok(Dnsimple { inner: Arc::new(Inner { api, account, locks: NameLocks::default() }) })
    }

    /// The account ID: configured, or the token's (`GET /v2/whoami`).
    async fn account(&self) -> Result<&str, ProviderError> {
        let api = &self.inner.api;
        self.inner
            .account
            .get_or_try_init(|| async {
                let who: Data<Whoami> = api.json(Method::GET, "/v2/whoami", &Body::Empty, AUTH_HINT).await?;
                match who.data.account {
                    Some(account) => Ok(account.id.to_string()),
                    None => Err(ProviderError::Config {
                        provider: api.provider().to_string(),
                        detail: "the token is a user token, which may act in several accounts; set account_id, or use an account access token".into(),
                    }),
                }
            })
            .await
            .map(String::as_str)
    }

    async fn zone_for(&self, account: &str, record: &TxtRecord) -> Result<String, ProviderError> {
        let path = |candidate: &str| format!("/v2/{}/zones/{}", encode(account), encode(candidate));
        let missing = format!("account {account} hosts no zone holding the name");
        probe(&self.inner.api, record, path, &[], AUTH_HINT, &missing).await
    }

    fn records_path(account: &str, zone: &str) -> String {
        format!("/v2/{}/zones/{}/records", encode(account), encode(zone))
    }

    /// IDs of the TXT records at the name whose content is our value.
    async fn matching(
        &self,
        account: &str,
        zone: &str,
        record: &TxtRecord,
    ) -> Result<Vec<u64>, ProviderError> {
        let name = host_name(record, zone);
        let mut ids = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!(
                "{}?name={}&type=TXT&per_page={PER_PAGE}&page={page}",
                Self::records_path(account, zone),
                encode(&name)
            );
            let listed: Data<Vec<Listed>> =
                self.inner.api.json(Method::GET, &path, &Body::Empty, AUTH_HINT).await?;
            ids.extend(
                listed
                    .data
                    .into_iter()
                    .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(&name))
                    .filter(|r| txt_text(&r.content) == record.value)
                    .map(|r| r.id),
            );
            if listed.pagination.is_none_or(|p| page >= p.total_pages) {
                break;
            }
        }
        Ok(ids)
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let account = self.account().await?.to_string();
        let zone = self.zone_for(&account, record).await?;
        if !self.matching(&account, &zone, record).await?.is_empty() {
            return Ok(());
        }
        let name = host_name(record, &zone);
        let body = Body::json(&NewRecord {
            name: &name,
            rtype: "TXT",
            content: &record.value,
            ttl: record.ttl.max(MIN_TTL),
        });
        let path = Self::records_path(&account, &zone);
        let _: serde::de::IgnoredAny = self.inner.api.json(Method::POST, &path, &body, AUTH_HINT).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "dnsimple: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let account = self.account().await?.to_string();
        let zone = self.zone_for(&account, record).await?;
        let api = &self.inner.api;
        for id in self.matching(&account, &zone, record).await? {
            let path = format!("{}/{id}", Self::records_path(&account, &zone));
            api.delete(&path, AUTH_HINT).await?;
            tracing::debug!(fqdn = %record.fqdn, id, "dnsimple: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Dnsimple {
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

impl ProviderSpec for Dnsimple {
    type Config = DnsimpleConfig;
    const CODE: &'static str = "dnsimple";
    const NAME: &'static str = "DNSimple";
    const PERMISSIONS: &'static str = "an account access token (a user token needs account_id)";
    const SECRETS: &'static [&'static str] = &["oauth_token"];
    const ENV: &'static [EnvName] = &[
        env("DNSIMPLE_OAUTH_TOKEN", "oauth_token", Kind::Secret),
        env("DNSIMPLE_BASE_URL", "api_url", Kind::Text),
        ignored("DNSIMPLE_TTL", TTL),
        ignored("DNSIMPLE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("DNSIMPLE_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &DnsimpleConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.oauth_token, "oauth_token")?;
        checks.url("api_url", &config.api_url)?;
        if let Some(id) = &config.account_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(SettingError::new(
                "account_id",
                format!("`{id}` is not a DNSimple account ID (a number)"),
            ));
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &DnsimpleConfig, secrets: &mut dyn SecretReader) -> Result<Dnsimple, ProviderError> {
        let token = read_required(secrets, "dnsimple", "oauth_token", &config.oauth_token)?;
        Dnsimple::new(&config.api_url, &token, config.account_id.clone(), config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_token_and_hides_it() {
        let token = Secret::new("dnsimple-t0k");
        let p = Dnsimple::new(DEFAULT_API_URL, &token, None, Duration::from_secs(5)).unwrap();
        assert!(!format!("{p:?}").contains("dnsimple-t0k"));
        let err = Dnsimple::new(DEFAULT_API_URL, &Secret::new(""), None, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("oauth_token"), "{err}");
    }
}
