//! PowerDNS Authoritative: add and remove one TXT value through its HTTP API
//! (`/api/v1/servers/{server_id}/zones/{zone}`).
//!
//! The API replaces whole record sets, so adding our value reads the zone's TXT RRset at the
//! name and PATCHes `changetype: REPLACE` with the union; removing it REPLACEs with the rest,
//! or DELETEs the RRset when ours was the last value. Other values keep their content and
//! `disabled` flag. Read-modify-write cycles on one name are serialized inside the adapter
//! (clones share the serialization, and wildcert builds one adapter per `[dns.NAME]` table per
//! process), so the apex's and the wildcard's values at the shared `_acme-challenge.<domain>`,
//! and two certificates' values at one name, cannot overwrite each other; wildcert also takes a
//! host-wide lock per record name around each write, for a second process on the host. The
//! API offers no conditional change, so two hosts writing one name at the same moment can
//! still race. PowerDNS serves a PATCHed RRset at once (it purges its caches for
//! the zone); secondaries follow through NOTIFY as usual.
//!
//! The zone is the configured one, else the caller's discovered zone, else the longest
//! suffix of the name that the server hosts.

#![warn(missing_docs)]

mod spec;
pub use spec::PdnsConfig;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use serde::{Deserialize, Serialize};
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, is_within, normalize, quote_txt, same_name,
    txt_text,
};
use wildcert_dns_http::{
    HttpClient, Response, Retry, StatusClass, classify, display_uri, encode, excerpt, status_error,
};

/// Settings of one PowerDNS server, as plain values (the caller owns the config format).
#[derive(Debug, Clone)]
pub struct PdnsSettings {
    /// Base URL of the API (the webserver), e.g. `http://127.0.0.1:8081`; `/api/v1` is added
    /// unless the URL already ends with it.
    pub api_url: String,
    /// The server's `api-key`.
    pub api_key: Secret,
    /// The server ID in API paths; `localhost` for a plain PowerDNS Authoritative.
    pub server_id: String,
    /// The zone to change; without it, found as described in the crate docs.
    pub zone: Option<String>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Extra trusted roots (PEM) for an API behind an internal CA.
    pub ca_certificates: Option<PathBuf>,
}

/// A PowerDNS adapter. Cheap to clone; clones share the connection pool and the per-name
/// serialization.
#[derive(Clone)]
pub struct Pdns {
    inner: Arc<Inner>,
}

struct Inner {
    settings: PdnsSettings,
    /// `.../api/v1/servers/{server_id}`.
    server_url: String,
    client: HttpClient,
    locks: NameLocks,
}

impl std::fmt::Debug for Pdns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pdns").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

/// A zone as the API lists it.
#[derive(Debug, Clone, Deserialize)]
struct ZoneInfo {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct ZoneDetail {
    #[serde(default)]
    rrsets: Vec<RrSet>,
}

#[derive(Debug, Clone, Deserialize)]
struct RrSet {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default)]
    records: Vec<Rec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rec {
    content: String,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Serialize)]
struct Patch<'a> {
    rrsets: Vec<PatchRrSet<'a>>,
}

#[derive(Debug, Serialize)]
struct PatchRrSet<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    rtype: &'static str,
    changetype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<Vec<Rec>>,
}

impl Pdns {
    /// Checks the settings and prepares the HTTP client; no network I/O.
    pub fn new(settings: PdnsSettings) -> Result<Pdns, ProviderError> {
        let config = |detail: String| ProviderError::Config { provider: describe(&settings), detail };
        let base = settings.api_url.trim().trim_end_matches('/');
        let uri: http::Uri = base.parse().map_err(|_| {
            config(format!("api_url `{base}` is not a URL; write e.g. http://127.0.0.1:8081"))
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(config(format!("api_url `{base}` must be an http:// or https:// URL with a host")));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(config("api_url must not carry user info; the API key goes in api_key".into()));
        }
        if settings.api_key.is_empty() {
            return Err(config("api_key is empty; set it to the server's api-key".into()));
        }
        if HeaderValue::from_str(settings.api_key.expose()).is_err() {
            return Err(config("api_key contains characters that cannot be sent in an HTTP header".into()));
        }
        if settings.server_id.is_empty() {
            return Err(config("server_id is empty; PowerDNS Authoritative uses \"localhost\"".into()));
        }
        let api = if base.ends_with("/api/v1") { base.to_string() } else { format!("{base}/api/v1") };
        let server_url = format!("{api}/servers/{}", encode(&settings.server_id));
        let client =
            HttpClient::new(settings.timeout, settings.ca_certificates.as_deref()).map_err(config)?;
        Ok(Pdns { inner: Arc::new(Inner { settings, server_url, client, locks: NameLocks::default() }) })
    }

    /// The settings it was built from, for messages and tests.
    pub fn settings(&self) -> &PdnsSettings {
        &self.inner.settings
    }

    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ProviderError> {
        let url = format!("{}{path_and_query}", self.inner.server_url);
        let mut key = HeaderValue::from_str(self.inner.settings.api_key.expose()).map_err(|_| {
            ProviderError::Config {
                provider: self.describe(),
                detail: "api_key is not a valid header value".into(),
            }
        })?;
        key.set_sensitive(true);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header("X-API-Key", key)
            .header("Accept", "application/json");
        if body.is_some() {
            request = request.header("Content-Type", "application/json");
        }
        let request =
            request.body(Bytes::from(body.unwrap_or_default())).map_err(|e| ProviderError::Config {
                provider: self.describe(),
                detail: format!("cannot build a request for {url}: {e}"),
            })?;
        self.inner.client.send_retrying(&self.describe(), request, Retry::default()).await
    }

    fn fail(&self, action: &str, response: &Response) -> ProviderError {
        status_error(
            &self.describe(),
            action,
            response,
            &[&self.inner.settings.api_key],
            "check api_key against the server's api-key setting",
        )
    }

    /// The server's zone named exactly `name`, if it hosts one.
    async fn lookup_zone(&self, name: &str) -> Result<Option<ZoneInfo>, ProviderError> {
        let response = self.call(Method::GET, &format!("/zones?zone={}", encode(name)), None).await?;
        match classify(response.status) {
            StatusClass::Success => {}
            StatusClass::NotFound => {
                return Err(ProviderError::Config {
                    provider: self.describe(),
                    detail: format!(
                        "{} answers 404: no server `{}` there; check server_id (PowerDNS Authoritative uses \"localhost\") and that api_url points at the PowerDNS webserver",
                        self.inner.server_url, self.inner.settings.server_id
                    ),
                });
            }
            _ => return Err(self.fail(&format!("looking up zone {name}"), &response)),
        }
        let zones: Vec<ZoneInfo> =
            serde_json::from_slice(&response.body).map_err(|e| ProviderError::Rejected {
                provider: self.describe(),
                detail: format!(
                    "the zone list is not the JSON PowerDNS sends ({e}); is api_url the PowerDNS webserver?"
                ),
            })?;
        Ok(zones.into_iter().find(|z| same_name(&z.name, name)))
    }

    async fn zone_for(&self, record: &TxtRecord, fqdn: &str) -> Result<ZoneInfo, ProviderError> {
        let not_found = |detail: String| ProviderError::ZoneNotFound {
            provider: self.describe(),
            fqdn: record.fqdn.clone(),
            detail,
        };
        if let Some(zone) = &self.inner.settings.zone {
            let zone = normalize(zone);
            if !is_within(fqdn, &zone) {
                return Err(not_found(format!("it is not inside the configured zone {zone}")));
            }
            return self.lookup_zone(&zone).await?.ok_or_else(|| {
                not_found(format!(
                    "server {} has no zone {zone}; check zone and server_id",
                    self.inner.settings.server_id
                ))
            });
        }
        if let Some(hint) = record.zone.as_deref().map(normalize)
            && is_within(fqdn, &hint)
            && let Some(zone) = self.lookup_zone(&hint).await?
        {
            return Ok(zone);
        }
        let labels: Vec<&str> = fqdn.trim_end_matches('.').split('.').collect();
        for start in 0..labels.len() {
            let candidate = format!("{}.", labels[start..].join("."));
            if let Some(zone) = self.lookup_zone(&candidate).await? {
                return Ok(zone);
            }
        }
        Err(not_found(format!(
            "server {} hosts no zone that contains it; create the zone or set zone",
            self.inner.settings.server_id
        )))
    }

    /// The TXT RRset at `fqdn` in `zone`, if any.
    async fn current(&self, zone: &ZoneInfo, fqdn: &str) -> Result<Option<RrSet>, ProviderError> {
        // PowerDNS 4.8+ returns only the asked RRset; older versions ignore the filter and
        // return the whole zone, which is filtered here.
        let path = format!("/zones/{}?rrset_name={}&rrset_type=TXT", encode(&zone.id), encode(fqdn));
        let response = self.call(Method::GET, &path, None).await?;
        match classify(response.status) {
            StatusClass::Success => {}
            StatusClass::NotFound => {
                return Err(ProviderError::ZoneNotFound {
                    provider: self.describe(),
                    fqdn: fqdn.to_string(),
                    detail: format!("zone {} disappeared from the server", zone.name),
                });
            }
            _ => return Err(self.fail(&format!("reading zone {}", zone.name), &response)),
        }
        let detail: ZoneDetail =
            serde_json::from_slice(&response.body).map_err(|e| ProviderError::Rejected {
                provider: self.describe(),
                detail: format!("zone {} is not the JSON PowerDNS sends ({e})", zone.name),
            })?;
        Ok(detail
            .rrsets
            .into_iter()
            .find(|rr| rr.rtype.eq_ignore_ascii_case("TXT") && same_name(&rr.name, fqdn)))
    }

    async fn patch(&self, zone: &ZoneInfo, fqdn: &str, rrset: PatchRrSet<'_>) -> Result<(), ProviderError> {
        let changetype = rrset.changetype;
        let body = serde_json::to_vec(&Patch { rrsets: vec![rrset] }).map_err(|e| ProviderError::Config {
            provider: self.describe(),
            detail: format!("encoding the change: {e}"),
        })?;
        let response = self.call(Method::PATCH, &format!("/zones/{}", encode(&zone.id)), Some(body)).await?;
        if classify(response.status) == StatusClass::Success {
            tracing::debug!(fqdn, zone = %zone.name, changetype, "pdns RRset changed");
            return Ok(());
        }
        if classify(response.status) == StatusClass::NotFound {
            return Err(ProviderError::ZoneNotFound {
                provider: self.describe(),
                fqdn: fqdn.to_string(),
                detail: format!(
                    "zone {} disappeared from the server: {}",
                    zone.name,
                    excerpt(&response.body, &[&self.inner.settings.api_key])
                ),
            });
        }
        Err(self.fail(&format!("{changetype} of the TXT RRset {fqdn} in zone {}", zone.name), &response))
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let _serialized = self.inner.locks.lock(&fqdn).await;
        let zone = self.zone_for(record, &fqdn).await?;
        let mut records = self.current(&zone, &fqdn).await?.map(|rr| rr.records).unwrap_or_default();
        if records.iter().any(|r| txt_text(&r.content) == record.value) {
            tracing::debug!(fqdn, "value already present in the pdns RRset");
            return Ok(());
        }
        records.push(Rec { content: quote_txt(&record.value), disabled: false });
        let rrset = PatchRrSet {
            name: &fqdn,
            rtype: "TXT",
            changetype: "REPLACE",
            ttl: Some(record.ttl),
            records: Some(records),
        };
        self.patch(&zone, &fqdn, rrset).await
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let _serialized = self.inner.locks.lock(&fqdn).await;
        let zone = self.zone_for(record, &fqdn).await?;
        let Some(current) = self.current(&zone, &fqdn).await? else {
            return Ok(());
        };
        let before = current.records.len();
        let rest: Vec<Rec> =
            current.records.into_iter().filter(|r| txt_text(&r.content) != record.value).collect();
        if rest.len() == before {
            return Ok(());
        }
        let rrset = if rest.is_empty() {
            PatchRrSet { name: &fqdn, rtype: "TXT", changetype: "DELETE", ttl: None, records: None }
        } else {
            PatchRrSet {
                name: &fqdn,
                rtype: "TXT",
                changetype: "REPLACE",
                ttl: Some(current.ttl.unwrap_or(record.ttl)),
                records: Some(rest),
            }
        };
        self.patch(&zone, &fqdn, rrset).await
    }
}

fn describe(settings: &PdnsSettings) -> String {
    let url = settings.api_url.trim().trim_end_matches('/');
    // Never the user info of a (refused) URL that carries some.
    let shown =
        url.parse::<http::Uri>().map(|u| display_uri(&u)).unwrap_or_else(|_| "invalid api_url".into());
    format!("pdns ({shown}, server {})", settings.server_id)
}

impl DnsProvider for Pdns {
    fn describe(&self) -> String {
        describe(&self.inner.settings)
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PdnsSettings {
        PdnsSettings {
            api_url: "http://127.0.0.1:8081".into(),
            api_key: Secret::new("s3cr3t-key"),
            server_id: "localhost".into(),
            zone: None,
            timeout: Duration::from_secs(5),
            ca_certificates: None,
        }
    }

    #[test]
    fn builds_api_paths() {
        let p = Pdns::new(settings()).unwrap();
        assert_eq!(p.inner.server_url, "http://127.0.0.1:8081/api/v1/servers/localhost");
        let p =
            Pdns::new(PdnsSettings { api_url: "https://dns.example/api/v1/".into(), ..settings() }).unwrap();
        assert_eq!(p.inner.server_url, "https://dns.example/api/v1/servers/localhost");
    }

    #[test]
    fn refuses_bad_settings_without_showing_the_key() {
        for (s, expect) in [
            (PdnsSettings { api_url: "127.0.0.1:8081".into(), ..settings() }, "http://"),
            (
                PdnsSettings { api_url: "http://admin:s3cr3t-key@dns.example".into(), ..settings() },
                "user info",
            ),
            (PdnsSettings { api_key: Secret::new(""), ..settings() }, "api_key is empty"),
            (PdnsSettings { server_id: String::new(), ..settings() }, "localhost"),
        ] {
            let err = Pdns::new(s).unwrap_err().to_string();
            assert!(err.contains(expect), "{err}");
            assert!(!err.contains("s3cr3t-key"), "{err}");
        }
    }

    #[test]
    fn encodes_path_parts() {
        assert_eq!(encode("example.org."), "example.org.");
        assert_eq!(encode("1.0.10.in-addr.arpa=2F24."), "1.0.10.in-addr.arpa%3D2F24.");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn debug_hides_the_key() {
        assert!(!format!("{:?}", Pdns::new(settings()).unwrap()).contains("s3cr3t-key"));
    }

    #[test]
    fn patch_json_shape() {
        let rrset = PatchRrSet {
            name: "_acme-challenge.example.org.",
            rtype: "TXT",
            changetype: "DELETE",
            ttl: None,
            records: None,
        };
        let json = serde_json::to_string(&Patch { rrsets: vec![rrset] }).unwrap();
        assert_eq!(
            json,
            r#"{"rrsets":[{"name":"_acme-challenge.example.org.","type":"TXT","changetype":"DELETE"}]}"#
        );
    }
}
