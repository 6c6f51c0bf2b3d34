//! The Designate DNS API v2 behind a Keystone v3 token: what OpenStack Designate and the
//! clouds that run it (Open Telekom Cloud) share. `GET /v2/zones?name=` finds the zone,
//! `GET /v2/zones/{id}/recordsets?name=&type=TXT` the record set; a value is added by
//! creating the record set or by `PUT`ting its records as read plus ours, and removed by
//! `PUT`ting them without ours (or deleting the record set when ours was the last). The
//! record set is read-modify-write, so calls on one name are serialized, and a record set
//! another writer created meanwhile (409) is read again.
//!
//! API reference: <https://docs.openstack.org/api-ref/dns/dns-api-v2-index.html> (zones,
//! recordsets, the error body `{"code", "type", "message", "request_id"}`).

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use wildcert_dns_api::{NameLocks, ProviderError, Secret, TxtRecord, normalize, quote_txt, txt_text};
use wildcert_dns_http::identity::{with_token, x_auth_token};
use wildcert_dns_http::keystone::{Keystone, Token};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, HttpClient, Response, StatusClass, classify, encode};

/// Read-modify-write rounds when another writer keeps getting in between.
const ROUNDS: u32 = 3;

/// Where the DNS service is and what to say when it refuses us.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Names the adapter in messages: `designate (https://keystone.example/v3)`.
    pub provider: String,
    /// The DNS endpoint, overriding the service catalog's (with or without `/v2`).
    pub api_url: Option<String>,
    /// The catalog's interface (`public`).
    pub interface: String,
    /// The catalog's region; default: the first DNS endpoint of the interface.
    pub region: Option<String>,
    /// The zone to write; default: found from the record's name.
    pub zone_name: Option<String>,
    /// Which zones to search, where the API tells public from private ones (Open Telekom
    /// Cloud's `type=public`); `None`: every zone.
    pub zone_type: Option<String>,
    /// The shortest TTL the API accepts; shorter challenge TTLs are raised to it.
    pub min_ttl: u32,
    /// The settings to check when the DNS service refuses the token (403).
    pub role_hint: String,
    /// One request's deadline.
    pub timeout: Duration,
}

/// A Designate v2 client. Share it through an `Arc`.
pub struct Engine {
    settings: Settings,
    keystone: Keystone,
    client: HttpClient,
    secret: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("settings", &self.settings).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Zones {
    #[serde(default)]
    zones: Vec<Zone>,
}

#[derive(Debug, Clone, Deserialize)]
struct Zone {
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct RecordSets {
    #[serde(default)]
    recordsets: Vec<RecordSet>,
}

#[derive(Debug, Clone, Deserialize)]
struct RecordSet {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    records: Vec<String>,
}

/// The DNS API's v2 root: `https://dns.example:9001` and `.../v2/` both give `.../v2`.
pub fn v2_url(url: &str) -> String {
    let base = url.trim().trim_end_matches('/');
    if base.ends_with("/v2") { base.to_string() } else { format!("{base}/v2") }
}

/// How one read-modify-write round ended.
enum Round {
    Done,
    /// Someone else changed the record set between our read and our write.
    Raced,
}

impl Engine {
    /// `secret` is the password or application-credential secret behind `keystone`, kept out
    /// of every message. No I/O.
    pub fn new(settings: Settings, keystone: Keystone, secret: &Secret) -> Result<Engine, ProviderError> {
        let client = HttpClient::new(settings.timeout, None)
            .map_err(|detail| ProviderError::Config { provider: settings.provider.clone(), detail })?;
        let mut settings = settings;
        settings.zone_name = settings.zone_name.map(|z| normalize(&z));
        Ok(Engine { settings, keystone, client, secret: secret.clone(), locks: NameLocks::default() })
    }

    /// The adapter's name in messages (`designate`, `otc`).
    pub fn provider(&self) -> &str {
        &self.settings.provider
    }

    /// One call with the current token; a 401 drops the token and tries once more with a
    /// fresh one (a token can be revoked before it expires).
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<(Api, Response), ProviderError> {
        let send = |token: Arc<Token>| {
            let method = method.clone();
            async move {
                let base = match &self.settings.api_url {
                    Some(url) => url.clone(),
                    None => token
                        .endpoint("dns", &self.settings.interface, self.settings.region.as_deref())
                        .map_err(|detail| ProviderError::Config {
                            provider: self.provider().to_string(),
                            detail: format!("{detail}; set region_name, or api_url to the DNS endpoint"),
                        })?,
                };
                let api = Api::new(self.provider(), &v2_url(&base), self.client.clone())?
                    .with_redacted(&self.secret)
                    .with_redacted(&token.token);
                let header = x_auth_token(self.provider(), &token.token)?;
                let response = api.call(method, path, body, &header).await?;
                Ok((api, response))
            }
        };
        with_token(&self.keystone, self.provider(), send).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ProviderError> {
        let (api, response) = self.call(Method::GET, path, &Body::Empty).await?;
        let action = format!("GET {}", path.split('?').next().unwrap_or_default());
        api.parse(&action, &response, &self.settings.role_hint)
    }

    /// The zone holding the record: the configured one, else the longest suffix of the name
    /// the project has.
    async fn zone(&self, record: &TxtRecord) -> Result<Zone, ProviderError> {
        let names: Vec<String> = match &self.settings.zone_name {
            Some(zone) => vec![zone.clone()],
            None => candidates(record).into_iter().map(|c| format!("{c}.")).collect(),
        };
        for name in &names {
            let kind = self.settings.zone_type.as_deref().map(|t| format!("&type={}", encode(t)));
            let zones: Zones =
                self.get(&format!("/zones?name={}{}", encode(name), kind.unwrap_or_default())).await?;
            // The filter is the server's; the answer is checked here all the same.
            if let Some(zone) = zones.zones.into_iter().find(|z| normalize(&z.name) == *name) {
                return Ok(zone);
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: format!(
                "the project has none of the zones {}; check the project (and region), or set zone_name",
                names.join(", ")
            ),
        })
    }

    async fn recordset(&self, zone: &Zone, fqdn: &str) -> Result<Option<RecordSet>, ProviderError> {
        let path = format!("/zones/{}/recordsets?name={}&type=TXT", encode(&zone.id), encode(fqdn));
        let sets: RecordSets = self.get(&path).await?;
        Ok(sets
            .recordsets
            .into_iter()
            .find(|s| s.kind.eq_ignore_ascii_case("TXT") && normalize(&s.name) == fqdn))
    }

    async fn write(&self, method: Method, path: &str, body: &Body) -> Result<Round, ProviderError> {
        let (api, response) = self.call(method.clone(), path, body).await?;
        match classify(response.status) {
            StatusClass::Success => Ok(Round::Done),
            // Created by someone else meanwhile (duplicate_recordset), or gone (deleted by
            // someone else): read again.
            _ if response.status == StatusCode::CONFLICT => Ok(Round::Raced),
            StatusClass::NotFound if method != Method::POST => Ok(Round::Raced),
            _ => {
                let action = format!("{method} {}", path.split('?').next().unwrap_or_default());
                Err(api.error(&action, &response, &self.settings.role_hint))
            }
        }
    }

    async fn round(&self, zone: &Zone, record: &TxtRecord, add: bool) -> Result<Round, ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let set = self.recordset(zone, &fqdn).await?;
        let zone_id = encode(&zone.id);
        let ours = |r: &String| txt_text(r) == record.value;
        match (add, set) {
            (true, None) => {
                let body = json!({"name": fqdn, "type": "TXT", "records": [quote_txt(&record.value)], "ttl": record.ttl.max(self.settings.min_ttl)});
                self.write(Method::POST, &format!("/zones/{zone_id}/recordsets"), &Body::json(&body)).await
            }
            (true, Some(set)) if set.records.iter().any(ours) => Ok(Round::Done),
            (true, Some(set)) => {
                let mut records = set.records.clone();
                records.push(quote_txt(&record.value));
                let path = format!("/zones/{zone_id}/recordsets/{}", encode(&set.id));
                self.write(Method::PUT, &path, &Body::json(&json!({"records": records}))).await
            }
            (false, Some(set)) if set.records.iter().any(ours) => {
                let path = format!("/zones/{zone_id}/recordsets/{}", encode(&set.id));
                let rest: Vec<&String> = set.records.iter().filter(|r| !ours(r)).collect();
                if rest.is_empty() {
                    self.write(Method::DELETE, &path, &Body::Empty).await
                } else {
                    self.write(Method::PUT, &path, &Body::json(&json!({"records": rest}))).await
                }
            }
            (false, _) => Ok(Round::Done),
        }
    }

    /// Adds (`add`) or removes our value at the record's name.
    pub async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.locks.lock(&record.fqdn).await;
        let zone = self.zone(record).await?;
        for _ in 0..ROUNDS {
            if let Round::Done = self.round(&zone, record, add).await? {
                tracing::debug!(provider = self.provider(), fqdn = %record.fqdn, zone = %zone.name, add, "designate: record set written");
                return Ok(());
            }
            tracing::debug!(provider = self.provider(), fqdn = %record.fqdn, "designate: record set changed meanwhile, reading again");
        }
        Err(ProviderError::Temporary {
            provider: self.provider().to_string(),
            detail: format!("the TXT record set at {} kept changing under us; try again", record.fqdn),
            retry_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_roots() {
        assert_eq!(v2_url("https://dns.example:9001/"), "https://dns.example:9001/v2");
        assert_eq!(v2_url("https://dns.example/v2/"), "https://dns.example/v2");
    }
}
