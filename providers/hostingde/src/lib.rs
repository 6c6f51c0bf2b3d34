//! hosting.de: add and remove one TXT value through the DNS API v1, whose calls are JSON
//! POSTs carrying the `authToken`: `zonesFind` (filtered by zone name, paged) gives the zone
//! with its configuration and records, `zoneUpdate` with `recordsToAdd` / `recordsToDelete`
//! changes exactly the records listed and leaves every other one alone. Calls on one name are
//! serialized inside the adapter. See README.md.
//!
//! API reference: <https://www.hosting.de/api/#dns> (`zonesFind`, `zoneUpdate`, the
//! response envelope `{"status", "errors", "response"}`).

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
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize, quote_txt, txt_text,
};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, default_timeout, redact};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://secure.hosting.de/api/dns/v1/json";

/// The shortest TTL the adapter writes.
pub const MIN_TTL: u32 = 60;

/// Zones per page of `zonesFind`; the record search reads at most `MAX_PAGES` pages.
const PER_PAGE: u64 = 100;
const MAX_PAGES: u64 = 50;

const AUTH_HINT: &str =
    "check api_key (lego: HOSTINGDE_API_KEY): an API key with the DNS rights zonesFind and zoneUpdate";

/// hosting.de's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostingDeConfig {
    /// An API key allowed to find and update zones.
    pub api_key: Option<SecretSource>,
    /// The zone to write into; default: the zone SOA discovery found, else the longest
    /// suffix of the name the account has.
    pub zone_name: Option<String>,
    /// Base URL of the API (resellers' own endpoints too).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The hosting.de adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct HostingDe {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    key: Secret,
    zone_name: Option<String>,
    locks: NameLocks,
}

impl std::fmt::Debug for HostingDe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostingDe")
            .field("api", &self.inner.api)
            .field("zone_name", &self.inner.zone_name)
            .finish_non_exhaustive()
    }
}

/// The envelope of every answer.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    status: String,
    #[serde(default)]
    errors: Vec<ApiError>,
    #[serde(default)]
    response: Value,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Value,
    #[serde(default)]
    text: String,
}

/// A zone as `zonesFind` lists it: its configuration (sent back whole with `zoneUpdate`)
/// and its records.
#[derive(Debug, Clone)]
struct Zone {
    config: Value,
    name: String,
    records: Vec<Value>,
}

impl HostingDe {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        key: &Secret,
        zone_name: Option<&str>,
        timeout: Duration,
    ) -> Result<HostingDe, ProviderError> {
        let api = Api::connect("hostingde", api_url, timeout)?.require("api_key", key)?.with_redacted(key);
        let zone_name = zone_name.map(|z| normalize(z).trim_end_matches('.').to_string());
        Ok(HostingDe {
            inner: Arc::new(Inner { api, key: key.clone(), zone_name, locks: NameLocks::default() }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One call: `method` with `body` plus the token; the `response` of a successful answer.
    async fn call(&self, method: &str, mut body: Value) -> Result<Value, ProviderError> {
        body["authToken"] = Value::String(self.inner.key.expose().trim().to_string());
        let api = &self.inner.api;
        let path = format!("/{method}");
        let envelope: Envelope = api.json(Method::POST, &path, &Body::json(&body), AUTH_HINT).await?;
        // "pending": accepted and being applied; the propagation check waits for it.
        if envelope.status == "success" || envelope.status == "pending" {
            return Ok(envelope.response);
        }
        let said =
            envelope.errors.iter().map(|e| format!("{} {}", e.code, e.text)).collect::<Vec<_>>().join("; ");
        let said = redact(&said, &api.secrets());
        let detail = format!("POST {path}: status {:?}: {said}", envelope.status);
        let auth = envelope.errors.iter().any(|e| {
            let text = e.text.to_ascii_lowercase();
            text.contains("authenticat") || text.contains("auth token") || text.contains("authtoken")
        });
        if auth {
            return Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!("{detail}; {AUTH_HINT}"),
            });
        }
        Err(ProviderError::Rejected { provider: self.provider(), detail })
    }

    /// The zone named `name` with all its records, or `None`.
    async fn find(&self, name: &str) -> Result<Option<Zone>, ProviderError> {
        let mut found: Option<Zone> = None;
        for page in 1..=MAX_PAGES {
            let body = json!({
                "filter": {"field": "zoneName", "value": name},
                "limit": PER_PAGE,
                "page": page,
            });
            let response = self.call("zonesFind", body).await?;
            let data = response["data"].as_array().cloned().unwrap_or_default();
            for zone in data {
                let config = zone["zoneConfig"].clone();
                let zone_name = config["name"].as_str().unwrap_or_default().to_ascii_lowercase();
                if zone_name.trim_end_matches('.') != name {
                    continue;
                }
                let records = zone["records"].as_array().cloned().unwrap_or_default();
                match &mut found {
                    Some(z) => z.records.extend(records),
                    None => found = Some(Zone { config, name: zone_name, records }),
                }
            }
            let pages = response["totalPages"].as_u64().unwrap_or(1);
            if page >= pages {
                break;
            }
        }
        Ok(found)
    }

    async fn zone_for(&self, record: &TxtRecord) -> Result<Zone, ProviderError> {
        let names = match &self.inner.zone_name {
            Some(z) => vec![z.clone()],
            None => candidates(record),
        };
        for name in &names {
            if let Some(zone) = self.find(name).await? {
                return Ok(zone);
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("the account has none of the zones {}; set zone_name", names.join(", ")),
        })
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let name = record.fqdn_without_dot().to_ascii_lowercase();
        let ours: Vec<&Value> = zone
            .records
            .iter()
            .filter(|r| r["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("TXT")))
            .filter(|r| {
                r["name"].as_str().is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&name))
            })
            .filter(|r| r["content"].as_str().is_some_and(|c| txt_text(c) == record.value))
            .collect();
        let body = match (add, ours.is_empty()) {
            (true, true) => json!({
                "zoneConfig": zone.config,
                "recordsToAdd": [{"name": name, "type": "TXT", "content": quote_txt(&record.value), "ttl": record.ttl.max(MIN_TTL)}],
                "recordsToDelete": [],
            }),
            (false, false) => json!({
                "zoneConfig": zone.config,
                "recordsToAdd": [],
                "recordsToDelete": ours.iter().map(|r| json!({"name": r["name"], "type": "TXT", "content": r["content"]})).collect::<Vec<_>>(),
            }),
            _ => {
                tracing::debug!(fqdn = %record.fqdn, add, "hostingde: nothing to change");
                return Ok(());
            }
        };
        self.call("zoneUpdate", body).await?;
        tracing::debug!(fqdn = %record.fqdn, zone = %zone.name, add, "hostingde: zone updated");
        Ok(())
    }
}

impl DnsProvider for HostingDe {
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

impl ProviderSpec for HostingDe {
    type Config = HostingDeConfig;
    const CODE: &'static str = "hostingde";
    const NAME: &'static str = "Hosting.de";
    const PERMISSIONS: &'static str =
        "an API key allowed to find zones and update the zone (zonesFind, zoneUpdate)";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("HOSTINGDE_API_KEY", "api_key", Kind::Secret),
        env("HOSTINGDE_ZONE_NAME", "zone_name", Kind::Text),
        env("HOSTINGDE_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("HOSTINGDE_TTL", TTL),
        ignored("HOSTINGDE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("HOSTINGDE_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &HostingDeConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        if config.zone_name.as_deref().is_some_and(|z| z.trim().trim_end_matches('.').is_empty()) {
            return Err(SettingError::new("zone_name", "is empty; leave it out to find the zone"));
        }
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &HostingDeConfig, secrets: &mut dyn SecretReader) -> Result<HostingDe, ProviderError> {
        let key = read_required(secrets, "hostingde", "api_key", &config.api_key)?;
        HostingDe::new(&config.api_url, &key, config.zone_name.as_deref(), config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_key_and_hides_it() {
        let p = HostingDe::new(
            DEFAULT_API_URL,
            &Secret::new("hd-k3y"),
            Some("Example.com."),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("hd-k3y"));
        assert!(format!("{p:?}").contains("\"example.com\""));
        let err =
            HostingDe::new(DEFAULT_API_URL, &Secret::new(""), None, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }
}
