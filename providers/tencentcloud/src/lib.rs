//! Tencent Cloud DNSPod: add and remove one TXT value through the DNSPod API 3.0 (version
//! 2021-03-23). Each call is a JSON POST naming its action in `X-TC-Action`, signed with
//! TC3-HMAC-SHA256 (see [`sign`]): `DescribeDomainList` (paged) finds the account's domain
//! holding the name, `DescribeRecordList` lists the TXT records at its subdomain,
//! `CreateRecord` adds one record per value and `DeleteRecord` removes exactly the records
//! whose value is ours (lego's provider removes every TXT record at the name). Calls on one
//! name are serialized inside the adapter. See README.md.
//!
//! API reference: <https://www.tencentcloud.com/document/api/1157/49993> (signature),
//! <https://cloud.tencent.com/document/product/1427/56153> (DNSPod actions), and the answer
//! envelope `{"Response": {"RequestId", "Error": {"Code", "Message"}, ...}}`.

#![warn(missing_docs)]

pub mod sign;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_optional, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::zone::{pick, relative_name};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, excerpt, redact};

/// Where the DNSPod API lives.
pub const DEFAULT_API_URL: &str = "https://dnspod.tencentcloudapi.com";

/// The API version every call names.
const VERSION: &str = "2021-03-23";

/// The service in the credential scope.
const SERVICE: &str = "dnspod";

/// The shortest TTL every DNSPod plan accepts (the free plan's floor).
pub const MIN_TTL: u32 = 600;

/// The resolution line every record is written on: DNSPod's default line.
const DEFAULT_LINE: &str = "默认";

/// Domains and records per page; at most `MAX_PAGES` pages are read.
const PER_PAGE: u64 = 100;
const MAX_PAGES: u64 = 50;

const AUTH_HINT: &str = "check secret_id and secret_key (lego: TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY), \
     session_token (TENCENTCLOUD_SESSION_TOKEN) for temporary keys: a CAM identity allowed \
     dnspod:DescribeDomainList, DescribeRecordList, CreateRecord and DeleteRecord, and this host's clock";

/// Tencent Cloud's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentCloudConfig {
    /// The SecretId of an API key (`AKID...`).
    pub secret_id: Option<SecretSource>,
    /// The SecretKey, which signs every request.
    pub secret_key: Option<SecretSource>,
    /// The token of temporary (STS) keys.
    pub session_token: Option<SecretSource>,
    /// The region sent as `X-TC-Region`; DNSPod needs none.
    pub region: Option<String>,
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

/// The Tencent Cloud DNSPod adapter. Cheap to clone; clones share connections and
/// serialization.
#[derive(Clone)]
pub struct TencentCloud {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// The `host` that is signed: the API URL's authority.
    host: String,
    id: Secret,
    key: Secret,
    token: Option<Secret>,
    region: Option<String>,
    locks: NameLocks,
}

impl std::fmt::Debug for TencentCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentCloud")
            .field("api", &self.inner.api)
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiError {
    code: String,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DomainList {
    #[serde(default)]
    domain_count_info: Value,
    #[serde(default)]
    domain_list: Vec<Domain>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Domain {
    name: String,
    #[serde(default)]
    punycode: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordList {
    #[serde(default)]
    record_count_info: Value,
    #[serde(default)]
    record_list: Vec<Record>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    record_id: u64,
    #[serde(default)]
    name: String,
    #[serde(rename = "Type", default)]
    rtype: String,
    #[serde(default)]
    value: String,
}

/// A refusal the API explained with an error code.
#[derive(Debug)]
enum Failure {
    Code { code: String, error: ProviderError },
    Other(ProviderError),
}

impl Failure {
    fn code(&self) -> &str {
        match self {
            Failure::Code { code, .. } => code,
            Failure::Other(_) => "",
        }
    }

    fn into_error(self) -> ProviderError {
        match self {
            Failure::Code { error, .. } | Failure::Other(error) => error,
        }
    }
}

impl From<ProviderError> for Failure {
    fn from(e: ProviderError) -> Failure {
        Failure::Other(e)
    }
}

impl TencentCloud {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        id: &Secret,
        key: &Secret,
        token: Option<&Secret>,
        region: Option<&str>,
        timeout: Duration,
    ) -> Result<TencentCloud, ProviderError> {
        let mut api = Api::connect("tencentcloud", api_url, timeout)?
            .require("secret_id", id)?
            .require("secret_key", key)?
            .with_redacted(id)
            .with_redacted(key);
        if let Some(token) = token {
            api = api.with_redacted(token);
        }
        let host = api
            .base()
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.as_str().to_ascii_lowercase()))
            .unwrap_or_default();
        Ok(TencentCloud {
            inner: Arc::new(Inner {
                api,
                host,
                id: id.clone(),
                key: key.clone(),
                token: token.cloned(),
                region: region.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One signed call of `action`; the `Response` of a successful answer.
    async fn call<T: DeserializeOwned>(&self, action: &str, body: Value) -> Result<T, Failure> {
        let inner = &self.inner;
        let bytes = serde_json::to_vec(&body).expect("plain data serializes to JSON");
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let request = sign::Request {
            content_type: "application/json",
            host: &inner.host,
            action,
            body: &bytes,
            service: SERVICE,
            timestamp,
        };
        let authorization =
            sign::authorization(inner.id.expose().trim(), inner.key.expose().trim(), &request);
        let header = |value: &str| {
            HeaderValue::from_str(value).map_err(|_| ProviderError::Config {
                provider: self.provider(),
                detail: "a credential or setting contains characters an HTTP header cannot carry".into(),
            })
        };
        let mut auth = header(&authorization)?;
        auth.set_sensitive(true);
        let mut extra = vec![
            (http::header::AUTHORIZATION, auth),
            (HeaderName::from_static("x-tc-action"), header(action)?),
            (HeaderName::from_static("x-tc-timestamp"), header(&timestamp.to_string())?),
            (HeaderName::from_static("x-tc-version"), HeaderValue::from_static(VERSION)),
        ];
        if let Some(region) = &inner.region {
            extra.push((HeaderName::from_static("x-tc-region"), header(region)?));
        }
        if let Some(token) = &inner.token {
            let mut value = header(token.expose().trim())?;
            value.set_sensitive(true);
            extra.push((HeaderName::from_static("x-tc-token"), value));
        }
        let api = &inner.api;
        let response = api.call(Method::POST, "/", &Body::Json(bytes), &extra).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(api.error(action, &response, AUTH_HINT).into());
        }
        let secrets = api.secrets();
        let envelope: Value = serde_json::from_slice(&response.body).map_err(|e| ProviderError::Rejected {
            provider: self.provider(),
            detail: format!(
                "{action}: the answer is not the JSON this API documents ({e}): {}; is api_url the API's base URL?",
                excerpt(&response.body, &secrets)
            ),
        })?;
        let answer = envelope.get("Response").cloned().unwrap_or(Value::Null);
        if let Some(error) = answer.get("Error") {
            let error: ApiError = serde_json::from_value(error.clone()).unwrap_or_default();
            let request_id = answer["RequestId"].as_str().unwrap_or_default();
            let detail = redact(
                &format!("{action}: {} {} (RequestId {request_id})", error.code, error.message),
                &secrets,
            );
            let provider = self.provider();
            let kind =
                if error.code.starts_with("AuthFailure") || error.code.starts_with("UnauthorizedOperation") {
                    ProviderError::Auth { provider, detail: format!("{detail}; {AUTH_HINT}") }
                } else if error.code.starts_with("RequestLimitExceeded")
                    || error.code.starts_with("InternalError")
                    || error.code == "ResourceUnavailable"
                {
                    ProviderError::Temporary { provider, detail, retry_after: None }
                } else {
                    ProviderError::Rejected { provider, detail }
                };
            return Err(Failure::Code { code: error.code, error: kind });
        }
        serde_json::from_value(answer).map_err(|e| {
            Failure::Other(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!("{action}: the answer's Response is not the documented shape: {e}"),
            })
        })
    }

    /// The account's domain holding the record.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let mut names: Vec<String> = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let page: DomainList = self
                .call("DescribeDomainList", json!({"Type": "ALL", "Offset": offset, "Limit": PER_PAGE}))
                .await
                .map_err(Failure::into_error)?;
            let count = page.domain_list.len() as u64;
            for d in page.domain_list {
                names.push(d.name);
                if !d.punycode.is_empty() {
                    names.push(d.punycode);
                }
            }
            offset += count;
            let total = page.domain_count_info["AllTotal"].as_u64().unwrap_or(0);
            if count == 0 || offset >= total {
                break;
            }
        }
        pick(record, names.iter().map(String::as_str))
            .map(|z| z.trim_end_matches('.').to_string())
            .ok_or_else(|| ProviderError::ZoneNotFound {
                provider: self.provider(),
                fqdn: record.fqdn.clone(),
                detail: "no domain of this Tencent Cloud account holds the name (DescribeDomainList)".into(),
            })
    }

    /// The TXT records at `subdomain` of `zone`.
    async fn records(&self, zone: &str, subdomain: &str) -> Result<Vec<Record>, ProviderError> {
        let mut out: Vec<Record> = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let body = json!({"Domain": zone, "Subdomain": subdomain, "RecordType": "TXT", "Offset": offset, "Limit": PER_PAGE});
            let page: RecordList = match self.call("DescribeRecordList", body).await {
                Ok(page) => page,
                // The API's way of saying "no records".
                Err(f) if f.code() == "ResourceNotFound.NoDataOfRecord" => break,
                Err(f) => return Err(f.into_error()),
            };
            let count = page.record_list.len() as u64;
            out.extend(page.record_list);
            offset += count;
            let total = page.record_count_info["TotalCount"].as_u64().unwrap_or(0);
            if count == 0 || offset >= total {
                break;
            }
        }
        out.retain(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.name.eq_ignore_ascii_case(subdomain));
        Ok(out)
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let subdomain = relative_name(record, &zone);
        let ours: Vec<Record> = self
            .records(&zone, &subdomain)
            .await?
            .into_iter()
            .filter(|r| txt_text(&r.value) == record.value)
            .collect();
        if add {
            if !ours.is_empty() {
                tracing::debug!(fqdn = %record.fqdn, "tencentcloud: value already present");
                return Ok(());
            }
            let body = json!({
                "Domain": zone,
                "SubDomain": subdomain,
                "RecordType": "TXT",
                "RecordLine": DEFAULT_LINE,
                "Value": record.value,
                "TTL": record.ttl.max(MIN_TTL),
            });
            match self.call::<Value>("CreateRecord", body).await {
                Ok(_) => {}
                Err(f) if f.code() == "InvalidParameter.DomainRecordExist" => {}
                Err(f) => return Err(f.into_error()),
            }
            tracing::debug!(fqdn = %record.fqdn, zone, "tencentcloud: record created");
            return Ok(());
        }
        for r in ours {
            match self.call::<Value>("DeleteRecord", json!({"Domain": zone, "RecordId": r.record_id})).await {
                Ok(_) => {}
                // Gone already (a concurrent cleanup): what we wanted.
                Err(f)
                    if f.code() == "InvalidParameter.RecordIdInvalid"
                        || f.code().starts_with("ResourceNotFound") => {}
                Err(f) => return Err(f.into_error()),
            }
            tracing::debug!(fqdn = %record.fqdn, record_id = r.record_id, "tencentcloud: record deleted");
        }
        Ok(())
    }
}

impl DnsProvider for TencentCloud {
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

impl ProviderSpec for TencentCloud {
    type Config = TencentCloudConfig;
    const CODE: &'static str = "tencentcloud";
    const NAME: &'static str = "Tencent Cloud DNS (DNSPod)";
    const SECRETS: &'static [&'static str] = &["secret_id", "secret_key", "session_token"];
    const ENV: &'static [EnvName] = &[
        env("TENCENTCLOUD_SECRET_ID", "secret_id", Kind::Secret),
        env("TENCENTCLOUD_SECRET_KEY", "secret_key", Kind::Secret),
        env("TENCENTCLOUD_SESSION_TOKEN", "session_token", Kind::Secret),
        env("TENCENTCLOUD_REGION", "region", Kind::Text),
        env("TENCENTCLOUD_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("TENCENTCLOUD_TTL", TTL),
        ignored("TENCENTCLOUD_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("TENCENTCLOUD_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "a CAM identity allowed dnspod:DescribeDomainList, \
         dnspod:DescribeRecordList, dnspod:CreateRecord and dnspod:DeleteRecord";
    const NOTES: &'static str = "TXT records are written on the default line with a TTL of at \
         least 600 s (the free plan's floor); one record per value";

    fn check(config: &TencentCloudConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.secret_id, "secret_id")?;
        required(&config.secret_key, "secret_key")?;
        if config
            .region
            .as_deref()
            .is_some_and(|r| !r.trim().chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(SettingError::new("region", "is not a region such as \"ap-guangzhou\""));
        }
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(
        config: &TencentCloudConfig,
        secrets: &mut dyn SecretReader,
    ) -> Result<TencentCloud, ProviderError> {
        let id = read_required(secrets, "tencentcloud", "secret_id", &config.secret_id)?;
        let key = read_required(secrets, "tencentcloud", "secret_key", &config.secret_key)?;
        let token = read_optional(secrets, "tencentcloud", "session_token", &config.session_token)?;
        TencentCloud::new(
            &config.api_url,
            &id,
            &key,
            token.as_ref(),
            config.region.as_deref(),
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_keys_and_signs_the_api_host() {
        let p = TencentCloud::new(
            "https://DNSPod.tencentcloudapi.com/",
            &Secret::new("AKIDid"),
            &Secret::new("k3y"),
            None,
            Some(" ap-guangzhou "),
            Duration::from_secs(5),
        )
        .unwrap();
        let text = format!("{p:?}");
        assert!(!text.contains("AKIDid") && !text.contains("k3y"), "{text}");
        assert_eq!(p.inner.host, "dnspod.tencentcloudapi.com");
        assert_eq!(p.inner.region.as_deref(), Some("ap-guangzhou"));
        let local = TencentCloud::new(
            "http://127.0.0.1:8080",
            &Secret::new("a"),
            &Secret::new("b"),
            None,
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(local.inner.host, "127.0.0.1:8080");
        let err = TencentCloud::new(
            DEFAULT_API_URL,
            &Secret::new(""),
            &Secret::new("b"),
            None,
            None,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(err.to_string().contains("secret_id"), "{err}");
    }
}
