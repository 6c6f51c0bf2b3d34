//! Sakura Cloud DNS: add and remove one TXT value through the IaaS API 1.1, where a DNS zone
//! is a "common service item" holding the zone's whole record list. `present` and `cleanup`
//! read the zone (`GET /commonserviceitem/{id}`), add or drop our value in the list, and write
//! the list back (`PUT /commonserviceitem/{id}`) with the `SettingsHash` they read, so a
//! concurrent writer's change is detected (HTTP 409) and the cycle is repeated; every other
//! record goes back exactly as read. Cycles on one zone are serialized inside the adapter.
//! HTTP basic authentication with the access token and its secret. See README.md.
//!
//! API reference: <https://manual.sakura.ad.jp/cloud-api/1.1/commonserviceitem/> (common
//! service items; DNS `Settings.DNS.ResourceRecordSets` of `Name`, `Type`, `RData`, `TTL`),
//! <https://manual.sakura.ad.jp/cloud-api/1.1/> (filters as a JSON query, the error answer
//! `{"is_fatal", "serial", "status", "error_code", "error_msg"}`), and
//! <https://docs.dnscontrol.org/provider/sakuracloud> (endpoints; the key's access level).

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::zone::{pick, relative_name};
use wildcert_dns_http::{Api, Body, StatusClass, basic_auth, classify, default_timeout, encode};

/// The API's root (DNS is a global resource; any zone's endpoint serves it).
pub const DEFAULT_API_URL: &str = "https://secure.sakura.ad.jp/cloud/zone/is1a/api/cloud/1.1";

/// The shortest TTL the adapter writes.
pub const MIN_TTL: u32 = 60;

/// Zones per listing page; at most `MAX_PAGES` pages are read.
const PER_PAGE: u64 = 100;
const MAX_PAGES: u64 = 50;

/// How often a write refused because the zone changed meanwhile (409) is retried.
const CONFLICT_ATTEMPTS: u32 = 5;

const AUTH_HINT: &str = "check access_token and access_token_secret (lego: SAKURACLOUD_ACCESS_TOKEN, \
     SAKURACLOUD_ACCESS_TOKEN_SECRET): an API key allowed to change the DNS zone";

/// Sakura Cloud's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SakuraCloudConfig {
    /// The API key's access token (the basic-authentication user).
    pub access_token: Option<SecretSource>,
    /// The API key's secret (the basic-authentication password).
    pub access_token_secret: Option<SecretSource>,
    /// Base URL of the API 1.1.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The Sakura Cloud adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct SakuraCloud {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// Serializes read-merge-write cycles per zone.
    locks: NameLocks,
}

impl std::fmt::Debug for SakuraCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SakuraCloud").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Listing {
    #[serde(rename = "CommonServiceItems", default)]
    items: Vec<Value>,
    #[serde(rename = "Total", default)]
    total: u64,
}

#[derive(Debug, Deserialize)]
struct One {
    #[serde(rename = "CommonServiceItem")]
    item: Value,
}

/// The zone's name as the item states it.
fn zone_name(item: &Value) -> &str {
    item["Status"]["Zone"].as_str().or_else(|| item["Name"].as_str()).unwrap_or_default()
}

impl SakuraCloud {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        token: &Secret,
        secret: &Secret,
        timeout: Duration,
    ) -> Result<SakuraCloud, ProviderError> {
        let header = basic_auth(token.expose().trim(), &Secret::new(secret.expose().trim()));
        let header = header.to_str().expect("base64 is a valid header value").to_string();
        let api = Api::connect("sakuracloud", api_url, timeout)?
            .require("access_token", token)?
            .require("access_token_secret", secret)?
            .with_redacted(token)
            .with_redacted(&Secret::new(header.trim_start_matches("Basic ")))
            .with_secret_header(http::header::AUTHORIZATION, header, secret)?;
        Ok(SakuraCloud { inner: Arc::new(Inner { api, locks: NameLocks::default() }) })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// The DNS item holding the record: its ID and zone name.
    async fn zone_for(&self, record: &TxtRecord) -> Result<(String, String), ProviderError> {
        let mut zones: Vec<(String, String)> = Vec::new();
        for page in 0..MAX_PAGES {
            let query =
                json!({"Filter": {"Provider.Class": "dns"}, "From": page * PER_PAGE, "Count": PER_PAGE});
            let path = format!("/commonserviceitem?{}", encode(&query.to_string()));
            let listing: Listing = self.inner.api.json(Method::GET, &path, &Body::Empty, AUTH_HINT).await?;
            let count = listing.items.len() as u64;
            for item in &listing.items {
                let id = match &item["ID"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                zones.push((id, zone_name(item).to_string()));
            }
            if count == 0 || (page + 1) * PER_PAGE >= listing.total {
                break;
            }
        }
        let name = pick(record, zones.iter().map(|(_, z)| z.as_str())).map(str::to_string);
        name.and_then(|n| zones.into_iter().find(|(_, z)| *z == n)).ok_or_else(|| {
            ProviderError::ZoneNotFound {
                provider: self.provider(),
                fqdn: record.fqdn.clone(),
                detail: "no DNS zone of this Sakura Cloud account holds the name".into(),
            }
        })
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let (id, zone) = self.zone_for(record).await?;
        let _guard = self.inner.locks.lock(&zone).await;
        let name = relative_name(record, &zone);
        let path = format!("/commonserviceitem/{}", encode(&id));
        let api = &self.inner.api;
        for attempt in 1..=CONFLICT_ATTEMPTS {
            let one: One = api.json(Method::GET, &path, &Body::Empty, AUTH_HINT).await?;
            let records =
                one.item["Settings"]["DNS"]["ResourceRecordSets"].as_array().cloned().unwrap_or_default();
            let ours = |r: &Value| {
                r["Type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("TXT"))
                    && r["Name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&name))
                    && r["RData"].as_str().is_some_and(|d| txt_text(d) == record.value)
            };
            let present = records.iter().any(ours);
            let updated: Vec<Value> = match (add, present) {
                (true, false) => {
                    let mut all = records.clone();
                    all.push(json!({"Name": name, "Type": "TXT", "RData": record.value, "TTL": record.ttl.max(MIN_TTL)}));
                    all
                }
                (false, true) => records.iter().filter(|r| !ours(r)).cloned().collect(),
                _ => {
                    tracing::debug!(fqdn = %record.fqdn, add, "sakuracloud: nothing to change");
                    return Ok(());
                }
            };
            let mut body =
                json!({"CommonServiceItem": {"Settings": {"DNS": {"ResourceRecordSets": updated}}}});
            if let Some(hash) = one.item.get("SettingsHash").filter(|h| !h.is_null()) {
                body["CommonServiceItem"]["SettingsHash"] = hash.clone();
            }
            let response = api.call(Method::PUT, &path, &Body::json(&body), &[]).await?;
            if response.status.as_u16() == 409 && attempt < CONFLICT_ATTEMPTS {
                tracing::debug!(fqdn = %record.fqdn, attempt, "sakuracloud: the zone changed meanwhile; reading it again");
                continue;
            }
            if classify(response.status) != StatusClass::Success {
                return Err(api.error(&format!("PUT {path}"), &response, AUTH_HINT));
            }
            tracing::debug!(fqdn = %record.fqdn, zone, add, "sakuracloud: zone records written");
            return Ok(());
        }
        unreachable!("the last attempt returns")
    }
}

impl DnsProvider for SakuraCloud {
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

impl ProviderSpec for SakuraCloud {
    type Config = SakuraCloudConfig;
    const CODE: &'static str = "sakuracloud";
    const NAME: &'static str = "Sakura Cloud";
    const SECRETS: &'static [&'static str] = &["access_token", "access_token_secret"];
    const ENV: &'static [EnvName] = &[
        env("SAKURACLOUD_ACCESS_TOKEN", "access_token", Kind::Secret),
        env("SAKURACLOUD_ACCESS_TOKEN_SECRET", "access_token_secret", Kind::Secret),
        env("SAKURACLOUD_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("SAKURACLOUD_TTL", TTL),
        ignored("SAKURACLOUD_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("SAKURACLOUD_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "an API key (access token and secret) with the access level \
         \"can modify settings\"";
    const NOTES: &'static str = "the zone's whole record list is read and written back (with its \
         SettingsHash, retried on a concurrent change); other records are sent back as read";

    fn check(config: &SakuraCloudConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.access_token, "access_token")?;
        required(&config.access_token_secret, "access_token_secret")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(
        config: &SakuraCloudConfig,
        secrets: &mut dyn SecretReader,
    ) -> Result<SakuraCloud, ProviderError> {
        let token = read_required(secrets, "sakuracloud", "access_token", &config.access_token)?;
        let secret =
            read_required(secrets, "sakuracloud", "access_token_secret", &config.access_token_secret)?;
        SakuraCloud::new(&config.api_url, &token, &secret, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_credentials_and_names_them() {
        let p = SakuraCloud::new(
            DEFAULT_API_URL,
            &Secret::new("tok-1"),
            &Secret::new("sec-2"),
            Duration::from_secs(5),
        )
        .unwrap();
        let text = format!("{p:?}");
        assert!(!text.contains("tok-1") && !text.contains("sec-2"), "{text}");
        let err =
            SakuraCloud::new(DEFAULT_API_URL, &Secret::new("t"), &Secret::new(""), Duration::from_secs(5))
                .unwrap_err();
        assert!(err.to_string().contains("access_token_secret"), "{err}");
        assert_eq!(
            zone_name(&json!({"Name": "x.example", "Status": {"Zone": "example.com"}})),
            "example.com"
        );
    }
}
