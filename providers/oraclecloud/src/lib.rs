//! Oracle Cloud Infrastructure DNS: add and remove one TXT value through the DNS API
//! (`20180115`), every request signed with the user's API key (see [`signature`]).
//!
//! A domain's records are read with `GET zones/{zone}/records/{domain}?rtype=TXT` (paged
//! with `opc-next-page`) and changed with `PATCH` of the same path, whose operations touch
//! only the records they name: `present` sends one `ADD` of our value unless it is there,
//! `cleanup` one `REMOVE` per record holding our value (domain, type and rdata as read).
//! Other records are never sent. Calls on one name are serialized. See README.md.
//!
//! API reference: <https://docs.oracle.com/en-us/iaas/api/#/en/dns/20180115/> (Records:
//! `GetDomainRecords`, `PatchDomainRecords`; Zones: `GetZone`; errors `{"code", "message"}`).

#![warn(missing_docs)]

pub mod signature;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, DATE, HeaderName};
use http::{HeaderValue, Method, Uri};
use serde::Deserialize;
use serde_json::json;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_optional,
};
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize, quote_txt, txt_text,
};
use wildcert_dns_http::rsa_key::RsaKey;
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, Response, StatusClass, classify, default_timeout, encode};

const AUTH_HINT: &str = "check tenancy_id, user_id, fingerprint and the private key (lego: OCI_TENANCY_OCID, \
     OCI_USER_OCID, OCI_PUBKEY_FINGERPRINT, OCI_PRIVKEY_FILE): the API key uploaded for that user, \
     a policy allowing it to manage dns records in the compartment, and this host's clock";

/// Pages of records read at most for one name.
const MAX_PAGES: usize = 20;

/// OCI DNS's settings: an API signing key of an IAM user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleCloudConfig {
    /// The OCID of the compartment holding the zones.
    pub compartment_id: String,
    /// The region whose DNS endpoint is used, e.g. `us-ashburn-1`.
    pub region: Option<String>,
    /// The OCID of the tenancy.
    pub tenancy_id: String,
    /// The OCID of the user the API key belongs to.
    pub user_id: String,
    /// The API key's fingerprint, `12:34:...`, as the console shows it.
    pub fingerprint: String,
    /// The API key's private key (PEM, or base64 of the PEM as lego takes it).
    pub private_key: Option<SecretSource>,
    /// The private key's file (PEM, mode 0600), instead of `private_key`.
    pub private_key_path: Option<PathBuf>,
    /// The passphrase of an encrypted private key.
    pub private_key_password: Option<SecretSource>,
    /// Base URL of the DNS API instead of `https://dns.<region>.oraclecloud.com`.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

impl OracleCloudConfig {
    /// The API's base URL.
    pub fn base_url(&self) -> String {
        match (&self.api_url, &self.region) {
            (Some(url), _) => url.trim().to_string(),
            (None, Some(region)) => format!("https://dns.{}.oraclecloud.com", region.trim()),
            (None, None) => String::new(),
        }
    }
}

/// The OCI DNS adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct OracleCloud {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    key: RsaKey,
    key_id: String,
    compartment: String,
    authority: String,
    prefix: String,
    locks: NameLocks,
}

impl std::fmt::Debug for OracleCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OracleCloud")
            .field("api", &self.inner.api)
            .field("key_id", &self.inner.key_id)
            .field("compartment", &self.inner.compartment)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Records {
    #[serde(default)]
    items: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    rtype: String,
    #[serde(default)]
    rdata: String,
}

/// The API key as the signature names it.
pub struct ApiKey<'a> {
    /// The tenancy's OCID (`OCI_TENANCY_OCID`), the first part of the key ID.
    pub tenancy_id: &'a str,
    /// The user's OCID (`OCI_USER_OCID`), the second part.
    pub user_id: &'a str,
    /// The fingerprint of the uploaded public key (`OCI_PUBKEY_FINGERPRINT`), the third part.
    pub fingerprint: &'a str,
    /// The private key that signs.
    pub key: RsaKey,
}

impl OracleCloud {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        compartment_id: &str,
        key: ApiKey<'_>,
        timeout: Duration,
    ) -> Result<OracleCloud, ProviderError> {
        let api = Api::connect("oraclecloud", api_url, timeout)?;
        let config = |detail: &str| ProviderError::Config {
            provider: api.provider().to_string(),
            detail: detail.into(),
        };
        for (name, value) in [
            ("compartment_id", compartment_id),
            ("tenancy_id", key.tenancy_id),
            ("user_id", key.user_id),
            ("fingerprint", key.fingerprint),
        ] {
            if value.trim().is_empty() {
                return Err(config(&format!("{name} is empty")));
            }
        }
        let uri: Uri = api.base().parse().map_err(|_| config("api_url is not a URL"))?;
        let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
        let prefix = uri.path().trim_end_matches('/').to_string();
        let key_id = format!("{}/{}/{}", key.tenancy_id.trim(), key.user_id.trim(), key.fingerprint.trim());
        Ok(OracleCloud {
            inner: Arc::new(Inner {
                api,
                key: key.key,
                key_id,
                compartment: compartment_id.trim().to_string(),
                authority,
                prefix,
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One signed call; `path` is below the base URL, with its query.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        let inner = &self.inner;
        let bytes = match body {
            Body::Json(bytes) => Some(bytes.as_slice()),
            _ => None,
        };
        let full = format!("{}{path}", inner.prefix);
        let request = signature::Request {
            method: &method,
            host: &inner.authority,
            path_and_query: &full,
            body: bytes,
        };
        let date = signature::http_date(SystemTime::now());
        let headers = signature::sign(&inner.key_id, &inner.key, &request, &date)
            .map_err(|detail| ProviderError::Config { provider: self.provider(), detail })?;
        let value = |text: &str| {
            HeaderValue::from_str(text).map_err(|_| ProviderError::Config {
                provider: self.provider(),
                detail: "tenancy_id, user_id or fingerprint contains characters an HTTP header cannot carry"
                    .into(),
            })
        };
        let mut authorization = value(&headers.authorization)?;
        authorization.set_sensitive(true);
        let mut extra = vec![(AUTHORIZATION, authorization), (DATE, value(&headers.date)?)];
        if let Some(sha) = &headers.content_sha256 {
            extra.push((HeaderName::from_static("x-content-sha256"), value(sha)?));
        }
        if let Some(length) = &headers.content_length {
            extra.push((CONTENT_LENGTH, value(length)?));
        }
        inner.api.call(method, path, body, &extra).await
    }

    fn query(&self) -> String {
        format!("compartmentId={}", encode(&self.inner.compartment))
    }

    /// The zone holding the record: the first candidate `GET zones/{zone}` knows.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        for candidate in candidates(record) {
            let path = format!("/20180115/zones/{}?{}", encode(&candidate), self.query());
            let response = self.call(Method::GET, &path, &Body::Empty).await?;
            match classify(response.status) {
                StatusClass::Success => return Ok(candidate),
                StatusClass::NotFound => continue,
                _ => {
                    return Err(self.inner.api.error(
                        &format!("GET /20180115/zones/{candidate}"),
                        &response,
                        AUTH_HINT,
                    ));
                }
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: "no zone of the compartment holds the name (OCI answers 404 also when the key may not read it)".into(),
        })
    }

    fn records_path(zone: &str, record: &TxtRecord) -> String {
        let domain = normalize(&record.fqdn);
        format!("/20180115/zones/{}/records/{}", encode(zone), encode(domain.trim_end_matches('.')))
    }

    /// The TXT records at the name holding our value, as read.
    async fn matching(&self, zone: &str, record: &TxtRecord) -> Result<Vec<Record>, ProviderError> {
        let base = Self::records_path(zone, record);
        let mut found = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut path = format!("{base}?rtype=TXT&{}", self.query());
            if let Some(page) = &page {
                path.push_str(&format!("&page={}", encode(page)));
            }
            let response = self.call(Method::GET, &path, &Body::Empty).await?;
            let list: Records = self.inner.api.parse(&format!("GET {base}"), &response, AUTH_HINT)?;
            found.extend(
                list.items
                    .into_iter()
                    .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && txt_text(&r.rdata) == record.value),
            );
            page = response.headers.get("opc-next-page").and_then(|v| v.to_str().ok()).map(str::to_string);
            if page.is_none() {
                break;
            }
        }
        Ok(found)
    }

    async fn patch(
        &self,
        zone: &str,
        record: &TxtRecord,
        items: serde_json::Value,
    ) -> Result<(), ProviderError> {
        let base = Self::records_path(zone, record);
        let path = format!("{base}?{}", self.query());
        let response = self.call(Method::PATCH, &path, &Body::json(&json!({ "items": items }))).await?;
        match classify(response.status) {
            StatusClass::Success => Ok(()),
            _ => Err(self.inner.api.error(&format!("PATCH {base}"), &response, AUTH_HINT)),
        }
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        if !self.matching(&zone, record).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "oraclecloud: value already present");
            return Ok(());
        }
        let domain = normalize(&record.fqdn).trim_end_matches('.').to_string();
        let items = json!([{"operation": "ADD", "domain": domain, "rtype": "TXT", "rdata": quote_txt(&record.value), "ttl": record.ttl}]);
        self.patch(&zone, record, items).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "oraclecloud: record added");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let ours = self.matching(&zone, record).await?;
        if ours.is_empty() {
            return Ok(());
        }
        let items: Vec<serde_json::Value> = ours
            .iter()
            .map(|r| json!({"operation": "REMOVE", "domain": r.domain, "rtype": r.rtype, "rdata": r.rdata}))
            .collect();
        self.patch(&zone, record, serde_json::Value::Array(items)).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "oraclecloud: record removed");
        Ok(())
    }
}

impl DnsProvider for OracleCloud {
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

/// The PEM text of a key given inline: PEM as is, or base64 of the PEM (lego's form).
fn pem_text(value: &Secret) -> Secret {
    let text = value.expose().trim();
    if text.contains("-----BEGIN") {
        return value.clone();
    }
    let compact: String = text.split_whitespace().collect();
    match base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(pem) if pem.contains("-----BEGIN") => Secret::new(pem),
        _ => value.clone(),
    }
}

impl ProviderSpec for OracleCloud {
    type Config = OracleCloudConfig;
    const CODE: &'static str = "oraclecloud";
    const NAME: &'static str = "Oracle Cloud Infrastructure DNS";
    const SECRETS: &'static [&'static str] = &["private_key", "private_key_password"];
    const ENV: &'static [EnvName] = &[
        env("OCI_COMPARTMENT_OCID", "compartment_id", Kind::Text),
        env("OCI_REGION", "region", Kind::Text),
        env("OCI_TENANCY_OCID", "tenancy_id", Kind::Text),
        env("OCI_USER_OCID", "user_id", Kind::Text),
        env("OCI_PUBKEY_FINGERPRINT", "fingerprint", Kind::Text),
        env("OCI_FINGERPRINT", "fingerprint", Kind::Text),
        env("OCI_PRIVKEY", "private_key", Kind::Secret),
        env("OCI_PRIVATE_KEY_PATH", "private_key_path", Kind::Text),
        env("OCI_PRIVKEY_PASS", "private_key_password", Kind::Secret),
        env("OCI_PRIVATE_KEY_PASSWORD", "private_key_password", Kind::Secret),
        env("OCI_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("OCI_TTL", TTL),
        ignored("OCI_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("OCI_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "an IAM user's API signing key whose group may manage dns records in the compartment (`Allow group G to manage dns in compartment C`)";

    fn check(config: &OracleCloudConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        for (key, value) in [
            ("compartment_id", &config.compartment_id),
            ("tenancy_id", &config.tenancy_id),
            ("user_id", &config.user_id),
            ("fingerprint", &config.fingerprint),
        ] {
            if value.trim().is_empty() {
                return Err(SettingError::new(key, "is empty"));
            }
        }
        match (&config.private_key, &config.private_key_path) {
            (None, None) => {
                return Err(SettingError::new(
                    "private_key",
                    "missing: set private_key_file = \"/path/oci_api_key.pem\" (lego: OCI_PRIVKEY_FILE) or private_key_path (OCI_PRIVATE_KEY_PATH)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(SettingError::new(
                    "private_key_path",
                    "given with private_key as well; keep one",
                ));
            }
            _ => {}
        }
        if config.api_url.is_none() && config.region.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(SettingError::new(
                "region",
                "missing: the region of the DNS endpoint, e.g. \"us-ashburn-1\" (lego: OCI_REGION)",
            ));
        }
        let key = if config.api_url.is_some() { "api_url" } else { "region" };
        checks.url(key, &config.base_url())?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(
        config: &OracleCloudConfig,
        secrets: &mut dyn SecretReader,
    ) -> Result<OracleCloud, ProviderError> {
        let provider = "oraclecloud";
        let config_error = |detail: String| ProviderError::Config { provider: provider.into(), detail };
        let pem = match (&config.private_key, &config.private_key_path) {
            (Some(_), _) => {
                read_optional(secrets, provider, "private_key", &config.private_key)?.map(|s| pem_text(&s))
            }
            (None, Some(path)) => Some(
                secrets.read("private_key_path", &SecretSource::File(path.clone())).map_err(config_error)?,
            ),
            (None, None) => None,
        }
        .ok_or_else(|| config_error("private_key is not set".into()))?;
        let password =
            read_optional(secrets, provider, "private_key_password", &config.private_key_password)?;
        let key = RsaKey::from_pem(&pem, password.as_ref())
            .map_err(|e| config_error(format!("private key: {e}")))?;
        OracleCloud::new(
            &config.base_url(),
            &config.compartment_id,
            ApiKey {
                tenancy_id: &config.tenancy_id,
                user_id: &config.user_id,
                fingerprint: &config.fingerprint,
                key,
            },
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_keys_may_be_base64_of_the_pem() {
        let pem = "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_text(&Secret::new(pem)).expose(), pem);
        let wrapped = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(pem_text(&Secret::new(format!("{}\n{}", &wrapped[..20], &wrapped[20..]))).expose(), pem);
        assert_eq!(pem_text(&Secret::new("not-a-key")).expose(), "not-a-key");
    }
}
