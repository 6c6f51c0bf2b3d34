//! Alibaba Cloud DNS: add and remove one TXT value through the Alidns RPC API (version
//! 2015-01-09). Each call is a signed form POST (see [`sign`]): `DescribeDomains` (paged)
//! finds the account's domain holding the name, `DescribeDomainRecords` lists the TXT
//! records at its host, `AddDomainRecord` adds one record per value and
//! `DeleteDomainRecord` removes exactly the records whose value is ours. Calls on one name are
//! serialized inside the adapter. The signing keys are the settings' or, with `ram_role`, the
//! instance's STS credentials (see [`credentials`]). See README.md.
//!
//! API reference: <https://www.alibabacloud.com/help/en/dns/api-alidns-2015-01-09-dir-parsing-records>
//! (`AddDomainRecord`, `DeleteDomainRecord`, `DescribeDomainRecords`), `DescribeDomains`, and
//! the common parameters and error answer `{"RequestId", "HostId", "Code", "Message"}`.

#![warn(missing_docs)]

pub mod credentials;
pub mod sign;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_optional, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::zone::{pick, relative_name};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, excerpt, redact};

pub use credentials::{Credentials, Keys};

/// The API's central endpoint.
pub const DEFAULT_API_URL: &str = "https://alidns.aliyuncs.com";

/// The ECS instance metadata server.
pub const DEFAULT_METADATA_URL: &str = "http://100.100.100.200";

/// The API version every call names.
const VERSION: &str = "2015-01-09";

/// The shortest TTL every edition of Alibaba Cloud DNS accepts (the free edition's floor).
pub const MIN_TTL: u32 = 600;

/// Domains per `DescribeDomains` page (the API's maximum) and records per
/// `DescribeDomainRecords` page (its maximum); at most `MAX_PAGES` pages are read.
const DOMAINS_PER_PAGE: u64 = 100;
const RECORDS_PER_PAGE: u64 = 500;
const MAX_PAGES: u64 = 50;

const AUTH_HINT: &str = "check access_key and secret_key (lego: ALICLOUD_ACCESS_KEY, ALICLOUD_SECRET_KEY), \
     security_token (ALICLOUD_SECURITY_TOKEN) for STS keys, or ram_role (ALICLOUD_RAM_ROLE): a RAM identity \
     allowed alidns:DescribeDomains, DescribeDomainRecords, AddDomainRecord and DeleteDomainRecord, and this \
     host's clock";

/// Error codes that mean the credentials, their signature or their rights were refused.
const AUTH_CODES: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSecurityToken",
    "Forbidden",
    "NoPermission",
    "InvalidTimeStamp",
    "SignatureNonceUsed",
];

/// Alibaba Cloud DNS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlidnsConfig {
    /// The AccessKey ID of a RAM user (or of STS credentials, with `security_token`).
    pub access_key: Option<SecretSource>,
    /// The AccessKey secret, which signs every request.
    pub secret_key: Option<SecretSource>,
    /// The STS security token that goes with temporary AccessKeys.
    pub security_token: Option<SecretSource>,
    /// The RAM role attached to this ECS instance: its STS credentials come from the metadata
    /// server, instead of `access_key` / `secret_key`.
    pub ram_role: Option<String>,
    /// The region whose endpoint is used (`alidns.<region>.aliyuncs.com`); default: the
    /// central endpoint.
    pub region_id: Option<String>,
    /// Base URL of the API, instead of the region's or the central endpoint.
    pub api_url: Option<String>,
    /// Base URL of the instance metadata server (for `ram_role`).
    #[serde(default = "default_metadata_url")]
    pub metadata_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_metadata_url() -> String {
    DEFAULT_METADATA_URL.into()
}

impl AlidnsConfig {
    /// The API endpoint: `api_url`, else the region's, else the central one.
    pub fn base_url(&self) -> String {
        match (&self.api_url, &self.region_id) {
            (Some(url), _) => url.clone(),
            (None, Some(region)) if !region.trim().is_empty() => {
                format!("https://alidns.{}.aliyuncs.com", region.trim())
            }
            _ => DEFAULT_API_URL.into(),
        }
    }
}

/// The Alibaba Cloud DNS adapter. Cheap to clone; clones share connections, credentials and
/// serialization.
#[derive(Clone)]
pub struct Alidns {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    credentials: Credentials,
    locks: NameLocks,
}

impl std::fmt::Debug for Alidns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.inner.credentials {
            Credentials::Fixed(_) => "access key".to_string(),
            Credentials::Role(r) => format!("RAM role {}", r.role),
        };
        f.debug_struct("Alidns")
            .field("api", &self.inner.api)
            .field("credentials", &source)
            .finish_non_exhaustive()
    }
}

/// The error answer of every RPC API.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiError {
    code: String,
    message: String,
    request_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DomainsPage {
    #[serde(default)]
    total_count: u64,
    #[serde(default)]
    domains: DomainList,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DomainList {
    #[serde(default)]
    domain: Vec<Domain>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Domain {
    domain_name: String,
    #[serde(default)]
    puny_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordsPage {
    #[serde(default)]
    total_count: u64,
    #[serde(default)]
    domain_records: RecordList,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordList {
    #[serde(default)]
    record: Vec<Record>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    record_id: String,
    #[serde(rename = "RR", default)]
    rr: String,
    #[serde(rename = "Type", default)]
    rtype: String,
    #[serde(default)]
    value: String,
}

/// A unique `SignatureNonce`: 16 random bytes in hex.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source works");
    wildcert_dns_http::sign::hex(&bytes)
}

/// `Timestamp`: ISO 8601 in UTC, to the second.
fn timestamp() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc().format(&format).expect("a UTC time formats")
}

impl Alidns {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, credentials: Credentials, timeout: Duration) -> Result<Alidns, ProviderError> {
        let mut api = Api::connect("alidns", api_url, timeout)?;
        if let Credentials::Fixed(keys) = &credentials {
            api = api.require("access_key", &keys.id)?.require("secret_key", &keys.secret)?;
            api = api.with_redacted(&keys.id).with_redacted(&keys.secret);
            if let Some(token) = &keys.token {
                api = api.with_redacted(token);
            }
        }
        Ok(Alidns { inner: Arc::new(Inner { api, credentials, locks: NameLocks::default() }) })
    }

    /// Fixed credentials.
    pub fn with_keys(
        api_url: &str,
        id: &Secret,
        secret: &Secret,
        token: Option<&Secret>,
        timeout: Duration,
    ) -> Result<Alidns, ProviderError> {
        let keys = Keys { id: id.clone(), secret: secret.clone(), token: token.cloned() };
        Alidns::new(api_url, Credentials::Fixed(keys), timeout)
    }

    /// The RAM role's credentials from the metadata server at `metadata_url`.
    pub fn with_role(
        api_url: &str,
        role: &str,
        metadata_url: &str,
        timeout: Duration,
    ) -> Result<Alidns, ProviderError> {
        let metadata = Api::connect("alidns metadata", metadata_url, timeout)?;
        let role = credentials::Role { metadata, role: role.trim().to_string(), cached: Default::default() };
        let credentials = Credentials::Role(Box::new(role));
        Alidns::new(api_url, credentials, timeout)
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One signed call of `action` with `params`; the answer's JSON.
    async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        params: &[(&str, String)],
    ) -> Result<T, ProviderError> {
        let keys = self.inner.credentials.keys().await?;
        // Signed anew for every attempt: Alibaba refuses a SignatureNonce it has seen, so a
        // retry must not replay the first attempt's form.
        let sign = || {
            let mut all: BTreeMap<String, String> =
                params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            for (k, v) in [
                ("Action", action.to_string()),
                ("Format", "JSON".into()),
                ("Version", VERSION.into()),
                ("AccessKeyId", keys.id.expose().trim().to_string()),
                ("SignatureMethod", "HMAC-SHA1".into()),
                ("SignatureVersion", "1.0".into()),
                ("SignatureNonce", nonce()),
                ("Timestamp", timestamp()),
            ] {
                all.insert(k.to_string(), v);
            }
            if let Some(token) = &keys.token {
                all.insert("SecurityToken".into(), token.expose().trim().to_string());
            }
            Ok((Body::Form(sign::signed_form("POST", &all, keys.secret.expose().trim())), Vec::new()))
        };
        let api = &self.inner.api;
        let response = api.call_signed(Method::POST, "/", sign).await?;
        let mut secrets = api.secrets();
        secrets.extend([&keys.id, &keys.secret]);
        secrets.extend(keys.token.as_ref());
        if classify(response.status) == StatusClass::Success {
            return serde_json::from_slice(&response.body).map_err(|e| ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "{action}: the answer is not the JSON this API documents ({e}): {}; is api_url the API's base URL?",
                    excerpt(&response.body, &secrets)
                ),
            });
        }
        let error: ApiError = serde_json::from_slice(&response.body).unwrap_or_default();
        let detail = redact(
            &format!(
                "{action}: HTTP {}: {} {} (RequestId {})",
                response.status, error.code, error.message, error.request_id
            ),
            &secrets,
        );
        if AUTH_CODES.iter().any(|c| error.code.starts_with(c))
            || classify(response.status) == StatusClass::Auth
        {
            self.inner.credentials.invalidate().await;
            return Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!("{detail}; {AUTH_HINT}"),
            });
        }
        if error.code.starts_with("Throttling") || error.code == "ServiceUnavailable" {
            return Err(ProviderError::Temporary { provider: self.provider(), detail, retry_after: None });
        }
        if classify(response.status) == StatusClass::Temporary {
            return Err(api.error(action, &response, AUTH_HINT));
        }
        Err(ApiFailure { code: error.code, detail }.into_error(&self.provider()))
    }

    /// The account's domain holding the record.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let mut names: Vec<String> = Vec::new();
        for page in 1..=MAX_PAGES {
            let answer: DomainsPage = self
                .call(
                    "DescribeDomains",
                    &[("PageNumber", page.to_string()), ("PageSize", DOMAINS_PER_PAGE.to_string())],
                )
                .await?;
            let count = answer.domains.domain.len();
            for d in answer.domains.domain {
                names.push(d.domain_name);
                if !d.puny_code.is_empty() {
                    names.push(d.puny_code);
                }
            }
            if count == 0 || page * DOMAINS_PER_PAGE >= answer.total_count {
                break;
            }
        }
        pick(record, names.iter().map(String::as_str))
            .map(|z| z.trim_end_matches('.').to_string())
            .ok_or_else(|| ProviderError::ZoneNotFound {
                provider: self.provider(),
                fqdn: record.fqdn.clone(),
                detail: "no domain of this Alibaba Cloud account holds the name (DescribeDomains)".into(),
            })
    }

    /// The TXT records at the record's host.
    async fn records(&self, zone: &str, rr: &str) -> Result<Vec<Record>, ProviderError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let answer: RecordsPage = self
                .call(
                    "DescribeDomainRecords",
                    &[
                        ("DomainName", zone.to_string()),
                        ("RRKeyWord", rr.to_string()),
                        ("TypeKeyWord", "TXT".into()),
                        ("PageNumber", page.to_string()),
                        ("PageSize", RECORDS_PER_PAGE.to_string()),
                    ],
                )
                .await?;
            let count = answer.domain_records.record.len();
            out.extend(answer.domain_records.record);
            if count == 0 || page * RECORDS_PER_PAGE >= answer.total_count {
                break;
            }
        }
        // RRKeyWord matches fuzzily: keep exactly our host.
        out.retain(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.rr.eq_ignore_ascii_case(rr));
        Ok(out)
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let rr = relative_name(record, &zone);
        let ours: Vec<Record> = self
            .records(&zone, &rr)
            .await?
            .into_iter()
            .filter(|r| txt_text(&r.value) == record.value)
            .collect();
        if add {
            if !ours.is_empty() {
                tracing::debug!(fqdn = %record.fqdn, "alidns: value already present");
                return Ok(());
            }
            let params = [
                ("DomainName", zone.clone()),
                ("RR", rr),
                ("Type", "TXT".into()),
                ("Value", record.value.clone()),
                ("TTL", record.ttl.max(MIN_TTL).to_string()),
            ];
            match self.call::<serde_json::Value>("AddDomainRecord", &params).await {
                Ok(_) => {}
                Err(e) if ApiFailure::code_of(&e).is_some_and(|c| c == "DomainRecordDuplicate") => {}
                Err(e) => return Err(e),
            }
            tracing::debug!(fqdn = %record.fqdn, zone, "alidns: record added");
            return Ok(());
        }
        for r in ours {
            match self
                .call::<serde_json::Value>("DeleteDomainRecord", &[("RecordId", r.record_id.clone())])
                .await
            {
                Ok(_) => {}
                // Gone already (a concurrent cleanup): what we wanted.
                Err(e) if ApiFailure::code_of(&e).is_some_and(|c| c == "DomainRecordNotBelongToUser") => {}
                Err(e) => return Err(e),
            }
            tracing::debug!(fqdn = %record.fqdn, record_id = r.record_id, "alidns: record deleted");
        }
        Ok(())
    }
}

/// A refusal the API explained with an error code; the code travels in the message as
/// `[Code]` so that a caller can recognize the harmless ones.
struct ApiFailure {
    code: String,
    detail: String,
}

impl ApiFailure {
    fn into_error(self, provider: &str) -> ProviderError {
        ProviderError::Rejected {
            provider: provider.to_string(),
            detail: format!("[{}] {}", self.code, self.detail),
        }
    }

    fn code_of(err: &ProviderError) -> Option<&str> {
        match err {
            ProviderError::Rejected { detail, .. } => detail.strip_prefix('[')?.split(']').next(),
            _ => None,
        }
    }
}

impl DnsProvider for Alidns {
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

impl ProviderSpec for Alidns {
    type Config = AlidnsConfig;
    const CODE: &'static str = "alidns";
    const NAME: &'static str = "Alibaba Cloud DNS";
    const SECRETS: &'static [&'static str] = &["access_key", "secret_key", "security_token"];
    const ENV: &'static [EnvName] = &[
        env("ALICLOUD_ACCESS_KEY", "access_key", Kind::Secret),
        env("ALICLOUD_SECRET_KEY", "secret_key", Kind::Secret),
        env("ALICLOUD_SECURITY_TOKEN", "security_token", Kind::Secret),
        env("ALICLOUD_RAM_ROLE", "ram_role", Kind::Text),
        env("ALICLOUD_REGION_ID", "region_id", Kind::Text),
        env("ALICLOUD_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("ALICLOUD_TTL", TTL),
        ignored("ALICLOUD_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("ALICLOUD_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "a RAM user or instance role allowed alidns:DescribeDomains, \
         alidns:DescribeDomainRecords, alidns:AddDomainRecord and alidns:DeleteDomainRecord";
    const NOTES: &'static str = "TXT records are written with a TTL of at least 600 s (the free \
         edition's floor); one record per value";

    fn check(config: &AlidnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        match &config.ram_role {
            Some(role) => {
                if role.trim().is_empty() || role.contains('/') {
                    return Err(SettingError::new("ram_role", "is not a RAM role name"));
                }
                if config.access_key.is_some() || config.secret_key.is_some() {
                    return Err(SettingError::new(
                        "ram_role",
                        "takes the place of access_key and secret_key: set one or the other",
                    ));
                }
                // Plain http:// by design: the metadata server is link-local to the instance.
                wildcert_dns_http::api::check_base_url(&config.metadata_url, "metadata_url")
                    .map_err(|message| SettingError::new("metadata_url", message))?;
            }
            None => {
                required(&config.access_key, "access_key")?;
                required(&config.secret_key, "secret_key")?;
            }
        }
        if config.ram_role.is_some() && config.security_token.is_some() {
            return Err(SettingError::new("security_token", "goes with access_key, not with ram_role"));
        }
        if config.region_id.as_deref().is_some_and(|r| {
            !r.trim().chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || r.trim().is_empty()
        }) {
            return Err(SettingError::new("region_id", "is not a region such as \"cn-hangzhou\""));
        }
        checks.url("api_url", &config.base_url())?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &AlidnsConfig, secrets: &mut dyn SecretReader) -> Result<Alidns, ProviderError> {
        if let Some(role) = &config.ram_role {
            return Alidns::with_role(&config.base_url(), role, &config.metadata_url, config.timeout);
        }
        let id = read_required(secrets, "alidns", "access_key", &config.access_key)?;
        let secret = read_required(secrets, "alidns", "secret_key", &config.secret_key)?;
        let token = read_optional(secrets, "alidns", "security_token", &config.security_token)?;
        Alidns::with_keys(&config.base_url(), &id, &secret, token.as_ref(), config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_hidden_keys() {
        let mut config = AlidnsConfig {
            access_key: None,
            secret_key: None,
            security_token: None,
            ram_role: None,
            region_id: None,
            api_url: None,
            metadata_url: DEFAULT_METADATA_URL.into(),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(config.base_url(), DEFAULT_API_URL);
        config.region_id = Some("ap-southeast-1".into());
        assert_eq!(config.base_url(), "https://alidns.ap-southeast-1.aliyuncs.com");
        config.api_url = Some("http://127.0.0.1:9/".into());
        assert_eq!(config.base_url(), "http://127.0.0.1:9/");
        let p = Alidns::with_keys(
            DEFAULT_API_URL,
            &Secret::new("LTAIkeyid"),
            &Secret::new("s3cr3t"),
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        let text = format!("{p:?}");
        assert!(!text.contains("LTAIkeyid") && !text.contains("s3cr3t"), "{text}");
        let err = Alidns::with_keys(
            DEFAULT_API_URL,
            &Secret::new("id"),
            &Secret::new(" "),
            None,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(err.to_string().contains("secret_key"), "{err}");
    }

    #[test]
    fn timestamps_and_nonces() {
        let t = timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert_ne!(nonce(), nonce());
    }

    #[test]
    fn failure_codes_survive_the_message() {
        let err =
            ApiFailure { code: "DomainRecordDuplicate".into(), detail: "x".into() }.into_error("alidns");
        assert_eq!(ApiFailure::code_of(&err), Some("DomainRecordDuplicate"));
    }
}
