//! Selectel: add and remove one TXT value through the current DNS hosting's API v2
//! (`https://api.selectel.ru/domains/v2`), authenticated by a Keystone v3 token of a service
//! user (its name within the account, whose ID is the Keystone domain) scoped to a project.
//! The legacy DNS API v1 (`X-Token` keys, lego's `selectel`) is deprecated by Selectel, which
//! asks to move domains to the current DNS hosting; the `selectel` and `vscale` codes are
//! routed here. See README.md.
//!
//! API references: <https://docs.selectel.ru/api/dns/> (zones, rrset), Keystone tokens:
//! <https://docs.selectel.ru/control-panel-actions/account/api-keys/>.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::json;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize, quote_txt, txt_text,
};
use wildcert_dns_http::identity::{with_token, x_auth_token};
use wildcert_dns_http::keystone::{Credentials, Domain, Keystone, Scope, Token, User, v3_url};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, HttpClient, Response, StatusClass, classify, default_timeout, encode};

/// The DNS hosting API.
pub const DEFAULT_API_URL: &str = "https://api.selectel.ru/domains/v2";

/// Selectel's identity service.
pub const DEFAULT_AUTH_URL: &str = "https://cloud.api.selcloud.ru/identity/v3";

/// The shortest TTL the API accepts.
pub const MIN_TTL: u32 = 60;

const AUTH_HINT: &str = "check username, password, account_id and project_id (lego: SELECTELV2_USERNAME, SELECTELV2_PASSWORD, SELECTELV2_ACCOUNT_ID, SELECTELV2_PROJECT_ID); the service user needs a project role that may edit DNS hosting (member)";

/// Selectel's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectelConfig {
    /// A service user's name.
    pub username: String,
    /// Its password.
    pub password: Option<SecretSource>,
    /// The account ID (the number in the control panel's corner), Keystone's domain.
    pub account_id: String,
    /// The project the token is scoped to.
    pub project_id: String,
    /// The DNS hosting API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The identity service, with or without `/v3`.
    #[serde(default = "default_auth_url")]
    pub auth_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

fn default_auth_url() -> String {
    DEFAULT_AUTH_URL.into()
}

/// The Selectel adapter. Cheap to clone; clones share the token and serialization.
#[derive(Clone)]
pub struct Selectel {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    keystone: Keystone,
    locks: NameLocks,
}

impl std::fmt::Debug for Selectel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selectel").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

/// A page of a listing: `{"count", "next_offset", "result"}`.
#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    result: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
struct Zone {
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RrSet {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    records: Vec<serde_json::Value>,
}

impl Selectel {
    /// Prepares the client; no network I/O.
    pub fn new(config: &SelectelConfig, password: Secret) -> Result<Selectel, ProviderError> {
        let api = Api::connect("selectelv2", &config.api_url, config.timeout)?
            .require("password", &password)?
            .with_redacted(&password);
        let client = HttpClient::new(config.timeout, None)
            .map_err(|detail| ProviderError::Config { provider: api.provider().to_string(), detail })?;
        let identity = Api::new(api.provider(), &v3_url(&config.auth_url), client)?;
        let credentials = Credentials::Password {
            user: User::Name {
                name: config.username.trim().to_string(),
                domain: Domain::Name(config.account_id.trim().to_string()),
            },
            password,
            scope: Scope::ProjectId(config.project_id.trim().to_string()),
        };
        let keystone = Keystone::new(identity, credentials, AUTH_HINT);
        Ok(Selectel { inner: Arc::new(Inner { api, keystone, locks: NameLocks::default() }) })
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
        Ok(with_token(&self.inner.keystone, &provider, send).await?.1)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ProviderError> {
        let response = self.call(Method::GET, path, &Body::Empty).await?;
        let action = format!("GET {}", path.split('?').next().unwrap_or_default());
        self.inner.api.parse(&action, &response, AUTH_HINT)
    }

    async fn send(&self, method: Method, path: &str, body: &Body) -> Result<(), ProviderError> {
        let response = self.call(method.clone(), path, body).await?;
        match classify(response.status) {
            StatusClass::Success => Ok(()),
            StatusClass::NotFound if method == Method::DELETE => Ok(()),
            _ => Err(self.inner.api.error(&format!("{method} {path}"), &response, AUTH_HINT)),
        }
    }

    async fn zone(&self, record: &TxtRecord) -> Result<Zone, ProviderError> {
        let names = candidates(record);
        for name in &names {
            let page: Page<Zone> = self.get(&format!("/zones?filter={}", encode(name))).await?;
            // `filter` matches substrings; only the exact name counts.
            if let Some(zone) = page.result.into_iter().find(|z| normalize(&z.name) == normalize(name)) {
                return Ok(zone);
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("the project has none of the zones {}", names.join(", ")),
        })
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone(record).await?;
        let fqdn = normalize(&record.fqdn);
        let zone_id = encode(&zone.id);
        let path = format!("/zones/{zone_id}/rrset?name={}&rrset_types=TXT", encode(&fqdn));
        let page: Page<RrSet> = self.get(&path).await?;
        let set = page
            .result
            .into_iter()
            .find(|s| s.kind.eq_ignore_ascii_case("TXT") && normalize(&s.name) == fqdn);
        let content = |r: &serde_json::Value| r["content"].as_str().map(txt_text);
        let ours = |r: &serde_json::Value| content(r).as_deref() == Some(record.value.as_str());
        let ttl = record.ttl.max(MIN_TTL);
        match (add, set) {
            (true, None) => {
                let body = json!({"name": fqdn, "type": "TXT", "ttl": ttl, "records": [{"content": quote_txt(&record.value), "disabled": false}]});
                self.send(Method::POST, &format!("/zones/{zone_id}/rrset"), &Body::json(&body)).await?;
            }
            (true, Some(set)) if set.records.iter().any(ours) => {}
            (true, Some(set)) => {
                // Every record as read (with its `disabled` flag), plus ours.
                let mut records = set.records.clone();
                records.push(json!({"content": quote_txt(&record.value), "disabled": false}));
                let body = json!({"ttl": set.ttl.unwrap_or(ttl), "records": records});
                let path = format!("/zones/{zone_id}/rrset/{}", encode(&set.id));
                self.send(Method::PATCH, &path, &Body::json(&body)).await?;
            }
            (false, Some(set)) if set.records.iter().any(ours) => {
                let path = format!("/zones/{zone_id}/rrset/{}", encode(&set.id));
                let rest: Vec<&serde_json::Value> = set.records.iter().filter(|r| !ours(r)).collect();
                if rest.is_empty() {
                    self.send(Method::DELETE, &path, &Body::Empty).await?;
                } else {
                    let body = json!({"ttl": set.ttl.unwrap_or(ttl), "records": rest});
                    self.send(Method::PATCH, &path, &Body::json(&body)).await?;
                }
            }
            (false, _) => {}
        }
        tracing::debug!(fqdn = %record.fqdn, zone = %zone.name, add, "selectel: record set written");
        Ok(())
    }
}

impl DnsProvider for Selectel {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.change(record, true).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.change(record, false).await
    }
}

impl ProviderSpec for Selectel {
    type Config = SelectelConfig;
    const CODE: &'static str = "selectelv2";
    const NAME: &'static str = "Selectel (DNS hosting API v2)";
    const SECRETS: &'static [&'static str] = &["password"];
    const ENV: &'static [EnvName] = &[
        env("SELECTELV2_USERNAME", "username", Kind::Text),
        env("SELECTELV2_PASSWORD", "password", Kind::Secret),
        env("SELECTELV2_ACCOUNT_ID", "account_id", Kind::Text),
        env("SELECTELV2_PROJECT_ID", "project_id", Kind::Text),
        env("SELECTELV2_BASE_URL", "api_url", Kind::Text),
        env("SELECTELV2_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("SELECTELV2_TTL", TTL),
        ignored("SELECTELV2_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("SELECTELV2_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str =
        "a service user with a project role that may edit the project's DNS hosting zones (member)";
    const NOTES: &'static str = "minimum TTL 60 s; the legacy DNS API v1 (`selectel`, X-Token keys) is deprecated: move the domains to the current DNS hosting and use a service user";

    fn check(config: &SelectelConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.password, "password")?;
        for (key, value) in [
            ("username", &config.username),
            ("account_id", &config.account_id),
            ("project_id", &config.project_id),
        ] {
            if value.trim().is_empty() {
                return Err(SettingError::new(key, "is empty"));
            }
        }
        checks.url("auth_url", &config.auth_url)?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &SelectelConfig, secrets: &mut dyn SecretReader) -> Result<Selectel, ProviderError> {
        let password = read_required(secrets, "selectelv2", "password", &config.password)?;
        Selectel::new(config, password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_the_password_and_refuses_an_empty_one() {
        let config = SelectelConfig {
            username: "dns".into(),
            password: None,
            account_id: "123456".into(),
            project_id: "p1".into(),
            api_url: DEFAULT_API_URL.into(),
            auth_url: DEFAULT_AUTH_URL.into(),
            timeout: Duration::from_secs(5),
        };
        let p = Selectel::new(&config, Secret::new("sel-hunter2")).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert_eq!(p.describe(), "selectelv2 (https://api.selectel.ru/domains/v2)");
        assert!(Selectel::new(&config, Secret::new("")).unwrap_err().to_string().contains("password"));
    }
}
