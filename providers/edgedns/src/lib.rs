//! Akamai Edge DNS: add and remove one TXT value through the Edge DNS Zone Management API
//! (`config-dns/v2`), every request signed with EdgeGrid (see [`edgegrid`]).
//!
//! A record set is addressed as `zones/{zone}/names/{name}/types/TXT`: `GET` reads it (404:
//! none), `POST` creates it, `PUT` replaces it and `DELETE` removes it. So `present` reads
//! the set and writes it back with our value appended, `cleanup` writes it back without our
//! value (or deletes it when ours was the last), and every other value goes back exactly as
//! read. Calls on one name are serialized inside the adapter; a set created concurrently by
//! someone else (409 on `POST`) is read again and merged. See README.md.
//!
//! API reference: <https://techdocs.akamai.com/edge-dns/reference/edge-dns-api> (record sets:
//! `get-zones-zone-names-name-types-type`, `post-...`, `put-...`, `delete-...`; errors are
//! problem details `{"type", "title", "status", "detail", "instance"}`).

#![warn(missing_docs)]

pub mod edgegrid;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Method, Uri};
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_optional,
};
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize, quote_txt, txt_text,
};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, Response, StatusClass, classify, default_timeout, encode};

use edgegrid::{Credentials, EdgercSection, Signed};

const AUTH_HINT: &str = "check client_token, client_secret and access_token (lego: AKAMAI_CLIENT_TOKEN, \
     AKAMAI_CLIENT_SECRET, AKAMAI_ACCESS_TOKEN, or the AKAMAI_EDGERC section): an API client with \
     READ-WRITE access to \"DNS—Zone Record Management\", and this host's clock (signatures carry a timestamp)";

/// How often a write that lost a race with another writer (409) is tried again.
const CONFLICT_ATTEMPTS: u32 = 3;

/// Edge DNS's settings: the four credentials, given one by one or as a section of an
/// `.edgerc` file (settings given one by one win over the file's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeDnsConfig {
    /// The API client's host, `akab-....luna.akamaiapis.net`.
    pub host: Option<String>,
    /// The API client's client token.
    pub client_token: Option<SecretSource>,
    /// The API client's client secret, which signs every request.
    pub client_secret: Option<SecretSource>,
    /// The API client's access token.
    pub access_token: Option<SecretSource>,
    /// An `.edgerc` file holding the credentials (mode 0600).
    pub edgerc: Option<PathBuf>,
    /// The `.edgerc` section to read.
    #[serde(default = "default_section")]
    pub edgerc_section: String,
    /// For API clients that manage several accounts: the account to act in.
    pub account_switch_key: Option<String>,
    /// Base URL of the API instead of `https://<host>`.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_section() -> String {
    "default".into()
}

/// The Edge DNS adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct EdgeDns {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    credentials: Credentials,
    /// `http` or `https`, host\[:port\] and path prefix of the base URL: what is signed.
    scheme: String,
    authority: String,
    prefix: String,
    max_body: usize,
    account_switch_key: Option<String>,
    locks: NameLocks,
}

impl std::fmt::Debug for EdgeDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeDns")
            .field("api", &self.inner.api)
            .field("account_switch_key", &self.inner.account_switch_key.is_some())
            .finish_non_exhaustive()
    }
}

/// A record set as the API shows and takes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct RecordSet {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    ttl: u32,
    #[serde(default)]
    rdata: Vec<String>,
}

impl EdgeDns {
    /// Prepares the client for the API at `api_url`; no network I/O.
    pub fn new(
        api_url: &str,
        credentials: Credentials,
        max_body: usize,
        account_switch_key: Option<&str>,
        timeout: Duration,
    ) -> Result<EdgeDns, ProviderError> {
        let mut api = Api::connect("edgedns", api_url, timeout)?
            .require("client_token", &credentials.client_token)?
            .require("client_secret", &credentials.client_secret)?
            .require("access_token", &credentials.access_token)?;
        for secret in [&credentials.client_token, &credentials.client_secret, &credentials.access_token] {
            api = api.with_redacted(secret);
        }
        let uri: Uri = api.base().parse().map_err(|_| ProviderError::Config {
            provider: api.provider().to_string(),
            detail: "api_url is not a URL".into(),
        })?;
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
        let prefix = uri.path().trim_end_matches('/').to_string();
        Ok(EdgeDns {
            inner: Arc::new(Inner {
                api,
                credentials,
                scheme,
                authority,
                prefix,
                max_body,
                account_switch_key: account_switch_key
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(Into::into),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// `path` below the base URL, with the account switch key when there is one.
    fn path(&self, path: &str) -> String {
        match &self.inner.account_switch_key {
            Some(key) => format!("{path}?accountSwitchKey={}", encode(key)),
            None => path.to_string(),
        }
    }

    /// One signed call.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        let path = self.path(path);
        let bytes: &[u8] = match body {
            Body::Json(bytes) => bytes,
            _ => b"",
        };
        let inner = &self.inner;
        let full = format!("{}{path}", inner.prefix);
        // Signed anew for every attempt: EdgeGrid nonces are single-use, so a retry must not
        // replay the first attempt's signature.
        let sign = || {
            let signed = Signed {
                method: &method,
                scheme: &inner.scheme,
                host: &inner.authority,
                path_and_query: &full,
                body: bytes,
            };
            let value = edgegrid::authorization(
                &inner.credentials,
                &signed,
                inner.max_body,
                &edgegrid::timestamp(SystemTime::now()),
                &edgegrid::nonce(),
            );
            let mut header = HeaderValue::from_str(&value).map_err(|_| ProviderError::Config {
                provider: self.provider(),
                detail: "client_token or access_token contains characters an HTTP header cannot carry".into(),
            })?;
            header.set_sensitive(true);
            Ok((body.clone(), vec![(AUTHORIZATION, header)]))
        };
        inner.api.call_signed(method.clone(), &path, sign).await
    }

    /// The zone holding the record: the first candidate (discovered zone, then the name's
    /// suffixes) that `GET zones/{zone}` knows.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        for candidate in candidates(record) {
            let path = format!("/config-dns/v2/zones/{}", encode(&candidate));
            let response = self.call(Method::GET, &path, &Body::Empty).await?;
            match classify(response.status) {
                StatusClass::Success => return Ok(candidate),
                StatusClass::NotFound => continue,
                _ => return Err(self.inner.api.error(&format!("GET {path}"), &response, AUTH_HINT)),
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: "no Edge DNS zone this API client can see holds the name".into(),
        })
    }

    fn set_path(zone: &str, record: &TxtRecord) -> String {
        let name = normalize(&record.fqdn);
        format!(
            "/config-dns/v2/zones/{}/names/{}/types/TXT",
            encode(zone),
            encode(name.trim_end_matches('.'))
        )
    }

    /// The TXT record set at the name, or `None`.
    async fn read(&self, path: &str) -> Result<Option<RecordSet>, ProviderError> {
        let response = self.call(Method::GET, path, &Body::Empty).await?;
        if classify(response.status) == StatusClass::NotFound {
            return Ok(None);
        }
        self.inner.api.parse(&format!("GET {path}"), &response, AUTH_HINT).map(Some)
    }

    /// Writes a record set; `Ok(false)` when another writer got there first (409).
    async fn write(&self, method: Method, path: &str, set: &RecordSet) -> Result<bool, ProviderError> {
        let response = self.call(method.clone(), path, &Body::json(set)).await?;
        match classify(response.status) {
            StatusClass::Success => Ok(true),
            _ if response.status.as_u16() == 409 => Ok(false),
            _ => Err(self.inner.api.error(&format!("{method} {path}"), &response, AUTH_HINT)),
        }
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let path = Self::set_path(&zone, record);
        for _ in 0..CONFLICT_ATTEMPTS {
            let written = match self.read(&path).await? {
                Some(set) if set.rdata.iter().any(|r| txt_text(r) == record.value) => {
                    tracing::debug!(fqdn = %record.fqdn, "edgedns: value already present");
                    return Ok(());
                }
                Some(mut set) => {
                    set.rdata.push(quote_txt(&record.value));
                    self.write(Method::PUT, &path, &set).await?
                }
                None => {
                    let set = RecordSet {
                        name: normalize(&record.fqdn).trim_end_matches('.').to_string(),
                        rtype: "TXT".into(),
                        ttl: record.ttl,
                        rdata: vec![quote_txt(&record.value)],
                    };
                    self.write(Method::POST, &path, &set).await?
                }
            };
            if written {
                tracing::debug!(fqdn = %record.fqdn, zone, "edgedns: value added");
                return Ok(());
            }
            tracing::debug!(fqdn = %record.fqdn, "edgedns: record set changed meanwhile; reading it again");
        }
        Err(self.conflict(record))
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let path = Self::set_path(&zone, record);
        for _ in 0..CONFLICT_ATTEMPTS {
            let Some(mut set) = self.read(&path).await? else { return Ok(()) };
            let before = set.rdata.len();
            set.rdata.retain(|r| txt_text(r) != record.value);
            if set.rdata.len() == before {
                return Ok(());
            }
            let done = if set.rdata.is_empty() {
                let response = self.call(Method::DELETE, &path, &Body::Empty).await?;
                match classify(response.status) {
                    StatusClass::Success | StatusClass::NotFound => true,
                    _ if response.status.as_u16() == 409 => false,
                    _ => return Err(self.inner.api.error(&format!("DELETE {path}"), &response, AUTH_HINT)),
                }
            } else {
                self.write(Method::PUT, &path, &set).await?
            };
            if done {
                tracing::debug!(fqdn = %record.fqdn, zone, "edgedns: value removed");
                return Ok(());
            }
        }
        Err(self.conflict(record))
    }

    fn conflict(&self, record: &TxtRecord) -> ProviderError {
        ProviderError::Temporary {
            provider: self.provider(),
            detail: format!(
                "the TXT record set at {} kept changing under another writer (HTTP 409 {CONFLICT_ATTEMPTS} times)",
                record.fqdn
            ),
            retry_after: None,
        }
    }
}

impl DnsProvider for EdgeDns {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

impl EdgeDnsConfig {
    /// Whether the credentials are complete without an `.edgerc` file.
    fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.host.as_deref().is_none_or(|h| h.trim().is_empty()) && self.api_url.is_none() {
            missing.push("host");
        }
        for (key, source) in [
            ("client_token", &self.client_token),
            ("client_secret", &self.client_secret),
            ("access_token", &self.access_token),
        ] {
            if source.is_none() {
                missing.push(key);
            }
        }
        missing
    }
}

/// `https://<host>` for a host as `.edgerc` files write it (sometimes with a scheme).
fn base_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("https://") || host.starts_with("http://") {
        host.to_string()
    } else {
        format!("https://{host}")
    }
}

impl ProviderSpec for EdgeDns {
    type Config = EdgeDnsConfig;
    const CODE: &'static str = "edgedns";
    const NAME: &'static str = "Akamai Edge DNS";
    const SECRETS: &'static [&'static str] = &["client_token", "client_secret", "access_token"];
    const ENV: &'static [EnvName] = &[
        env("AKAMAI_HOST", "host", Kind::Text),
        env("AKAMAI_CLIENT_TOKEN", "client_token", Kind::Secret),
        env("AKAMAI_CLIENT_SECRET", "client_secret", Kind::Secret),
        env("AKAMAI_ACCESS_TOKEN", "access_token", Kind::Secret),
        env("AKAMAI_EDGERC", "edgerc", Kind::Text),
        env("AKAMAI_EDGERC_SECTION", "edgerc_section", Kind::Text),
        env("AKAMAI_ACCOUNT_SWITCH_KEY", "account_switch_key", Kind::Text),
        ignored("AKAMAI_TTL", TTL),
        ignored("AKAMAI_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("AKAMAI_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str =
        "an API client with READ-WRITE access to the API service \"DNS—Zone Record Management\"";

    fn check(config: &EdgeDnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        if config.edgerc.is_none() {
            let missing = config.missing();
            if let Some(first) = missing.first() {
                return Err(SettingError::new(
                    first,
                    format!(
                        "missing {}: give host, client_token, client_secret and access_token (lego: AKAMAI_HOST, AKAMAI_CLIENT_TOKEN, AKAMAI_CLIENT_SECRET, AKAMAI_ACCESS_TOKEN), or edgerc = \"/path/.edgerc\" (AKAMAI_EDGERC) with edgerc_section",
                        missing.join(", ")
                    ),
                ));
            }
        }
        if config.edgerc_section.trim().is_empty() {
            return Err(SettingError::new("edgerc_section", "is empty; leave it out for [default]"));
        }
        if let Some(url) = &config.api_url {
            checks.url("api_url", url)?;
        } else if let Some(host) = &config.host {
            checks.url("host", &base_url(host))?;
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &EdgeDnsConfig, secrets: &mut dyn SecretReader) -> Result<EdgeDns, ProviderError> {
        let provider = "edgedns";
        let config_error = |detail: String| ProviderError::Config { provider: provider.into(), detail };
        let file = match &config.edgerc {
            Some(path) => {
                let text = secrets.read("edgerc", &SecretSource::File(path.clone())).map_err(config_error)?;
                edgegrid::parse_edgerc(text.expose(), config.edgerc_section.trim())
                    .map_err(|e| config_error(format!("edgerc {}: {e}", path.display())))?
            }
            None => EdgercSection::default(),
        };
        let mut secret =
            |key: &str, source: &Option<SecretSource>, from_file: Option<Secret>| match read_optional(
                secrets, provider, key, source,
            )? {
                Some(value) => Ok(value),
                None => from_file.ok_or_else(|| {
                    config_error(format!("{key} is set neither here nor in the edgerc section"))
                }),
            };
        let credentials = Credentials {
            client_token: secret("client_token", &config.client_token, file.client_token)?,
            client_secret: secret("client_secret", &config.client_secret, file.client_secret)?,
            access_token: secret("access_token", &config.access_token, file.access_token)?,
        };
        let url = match (&config.api_url, config.host.as_ref().or(file.host.as_ref())) {
            (Some(url), _) => url.clone(),
            (None, Some(host)) => base_url(host),
            (None, None) => {
                return Err(config_error("host is set neither here nor in the edgerc section".into()));
            }
        };
        EdgeDns::new(
            &url,
            credentials,
            file.max_body.unwrap_or(edgegrid::MAX_BODY),
            config.account_switch_key.as_deref(),
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(secret: &str) -> Credentials {
        Credentials {
            client_token: Secret::new("akab-ct"),
            client_secret: Secret::new(secret),
            access_token: Secret::new("akab-at"),
        }
    }

    #[test]
    fn refuses_empty_credentials_and_hides_them() {
        let p = EdgeDns::new(
            "https://akab-x.luna.akamaiapis.net",
            credentials("edge-s3cret"),
            1024,
            Some("K:1"),
            Duration::from_secs(5),
        )
        .unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains("edge-s3cret") && !debug.contains("akab-ct"), "{debug}");
        assert_eq!(p.path("/x"), "/x?accountSwitchKey=K%3A1");
        let err =
            EdgeDns::new("https://h", credentials(" "), 1024, None, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("client_secret is empty"), "{err}");
        assert_eq!(base_url("akab-x.luna.akamaiapis.net/"), "https://akab-x.luna.akamaiapis.net");
        assert_eq!(base_url("https://akab-x.luna.akamaiapis.net"), "https://akab-x.luna.akamaiapis.net");
    }
}
