//! Amazon Lightsail DNS: add and remove one TXT value as a domain entry through Lightsail's
//! JSON API (`X-Amz-Target: Lightsail_20161128.<Action>`), signed with SigV4.
//!
//! Lightsail keeps one entry per TXT value, so `present` is one `CreateDomainEntry` unless
//! `GetDomain` already lists our value at the name, and `cleanup` deletes exactly the
//! entries whose target is our value. Calls on one name are serialized inside the adapter.
//!
//! Credentials: static keys from the settings, or the standard AWS chain (environment,
//! profile, web identity, ECS task role, EC2 instance profile) through aws-config, the same
//! chain the S3 storage uses; requests are signed by aws-sigv4. The Lightsail SDK crate is
//! not used: four JSON calls do not justify its build. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{Method, Request, Uri};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_aws_keys, env, ignored, read_optional,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::api::check_base_url;
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{HttpClient, Response, Retry, StatusClass, classify, excerpt, status_error};

/// Lightsail's DNS lives in this region.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The JSON API's target prefix.
const TARGET: &str = "Lightsail_20161128";

/// Credentials are renewed this long before they expire.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

/// Throttled calls (400 `ThrottlingException`) are tried this often.
const THROTTLE_ATTEMPTS: u32 = 4;

/// Lightsail's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightsailConfig {
    /// The Lightsail domain (DNS zone); default: the discovered zone, else the longest
    /// suffix of the name Lightsail knows.
    #[serde(default)]
    pub zone: Option<String>,
    /// The region of Lightsail's DNS API.
    #[serde(default = "default_region")]
    pub region: String,
    /// Static credentials: the access key ID (with `secret_access_key`). Without them the
    /// standard AWS credential chain is used.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret access key of `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<SecretSource>,
    /// Session token of temporary static credentials.
    #[serde(default)]
    pub session_token: Option<SecretSource>,
    /// A named profile from `~/.aws/config` / `~/.aws/credentials`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Base URL of the API; default `https://lightsail.{region}.amazonaws.com`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_region() -> String {
    DEFAULT_REGION.into()
}

/// What the adapter is built from, secrets read.
#[derive(Debug, Clone)]
pub struct LightsailSettings {
    /// The Lightsail domain; default the discovered zone or the longest known suffix.
    pub zone: Option<String>,
    /// The region of Lightsail's DNS API.
    pub region: String,
    /// Static credentials' access key id; without it the AWS credential chain is used.
    pub access_key_id: Option<String>,
    /// The secret of `access_key_id`.
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary static credentials.
    pub session_token: Option<Secret>,
    /// A named profile from `~/.aws/config` / `~/.aws/credentials`.
    pub profile: Option<String>,
    /// Base URL of the API; default `https://lightsail.{region}.amazonaws.com`.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    pub timeout: Duration,
}

/// The Lightsail adapter. Cheap to clone; clones share connections, credentials and
/// serialization.
#[derive(Clone)]
pub struct Lightsail {
    inner: Arc<Inner>,
}

struct Inner {
    provider: String,
    url: String,
    host: String,
    client: HttpClient,
    settings: LightsailSettings,
    credentials: Mutex<Option<Credentials>>,
    locks: NameLocks,
}

impl std::fmt::Debug for Lightsail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lightsail")
            .field("url", &self.inner.url)
            .field("region", &self.inner.settings.region)
            .field("access_key_id", &self.inner.settings.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct DomainAnswer {
    domain: Domain,
}

#[derive(Debug, Deserialize)]
struct Domain {
    #[serde(rename = "domainEntries", default)]
    domain_entries: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    target: String,
    #[serde(rename = "type", default)]
    rtype: String,
}

/// An AWS JSON error: `{"__type": "NotFoundException", "message": "..."}`.
fn error_type(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let kind = value["__type"].as_str().or_else(|| value["code"].as_str()).unwrap_or_default();
    // `__type` may carry a namespace: `com.amazonaws...#NotFoundException`.
    kind.rsplit('#').next().unwrap_or_default().to_string()
}

/// Lightsail stores a TXT target as lego wrote it, quoted; accept both spellings.
fn same_value(target: &str, value: &str) -> bool {
    let t = target.trim();
    t == value || wildcert_dns_api::txt_text(t) == value
}

fn config_error(provider: &str, detail: impl Into<String>) -> ProviderError {
    ProviderError::Config { provider: provider.to_string(), detail: detail.into() }
}

impl Lightsail {
    /// Prepares the client; no network I/O (the credential chain is asked at first use).
    pub fn new(settings: LightsailSettings) -> Result<Lightsail, ProviderError> {
        let region = settings.region.trim().to_string();
        let default_url = format!("https://lightsail.{region}.amazonaws.com");
        let url = settings.api_url.clone().unwrap_or(default_url);
        let provider = format!("lightsail ({})", url.trim().trim_end_matches('/'));
        let url = check_base_url(&url, "api_url").map_err(|d| config_error(&provider, d))?;
        let uri: Uri = url.parse().map_err(|_| config_error(&provider, "api_url is not a URL"))?;
        let host = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
        if region.is_empty() {
            return Err(config_error(&provider, "region is empty"));
        }
        if settings.access_key_id.is_some() != settings.secret_access_key.is_some() {
            return Err(config_error(
                &provider,
                "give access_key_id and secret_access_key together, or neither",
            ));
        }
        let client = HttpClient::new(settings.timeout, None).map_err(|d| config_error(&provider, d))?;
        Ok(Lightsail {
            inner: Arc::new(Inner {
                provider,
                url: format!("{url}/"),
                host,
                client,
                settings: LightsailSettings { region, ..settings },
                credentials: Mutex::new(None),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> &str {
        &self.inner.provider
    }

    fn auth_hint(&self) -> &'static str {
        if self.inner.settings.access_key_id.is_some() {
            "check access_key_id and secret_access_key (lego: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); the key needs lightsail:GetDomain, CreateDomainEntry and DeleteDomainEntry"
        } else {
            "check the AWS credential chain (AWS_ACCESS_KEY_ID, profile, instance role) or set access_key_id and secret_access_key; the identity needs lightsail:GetDomain, CreateDomainEntry and DeleteDomainEntry"
        }
    }

    /// Credentials: the static ones, or the chain's (reused until shortly before expiry).
    async fn credentials(&self) -> Result<Credentials, ProviderError> {
        let s = &self.inner.settings;
        if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
            let token = s.session_token.as_ref().map(|t| t.expose().to_string());
            return Ok(Credentials::new(id.trim(), secret.expose().trim(), token, None, "wildcert-settings"));
        }
        let mut cached = self.inner.credentials.lock().await;
        if let Some(c) = cached.as_ref()
            && c.expiry().is_none_or(|e| e > SystemTime::now() + CREDENTIALS_MARGIN)
        {
            return Ok(c.clone());
        }
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(s.region.clone()));
        if let Some(profile) = &s.profile {
            loader = loader.profile_name(profile);
        }
        let config = loader.load().await;
        let fail = |detail: String| ProviderError::Auth {
            provider: self.provider().to_string(),
            detail: format!("no usable AWS credentials ({detail}); {}", self.auth_hint()),
        };
        let chain = config.credentials_provider().ok_or_else(|| fail("no credential provider".into()))?;
        let credentials = chain.provide_credentials().await.map_err(|e| fail(e.to_string()))?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }

    /// One signed call of `action` with a JSON body; throttling is waited out a few times.
    async fn call(&self, action: &str, body: &Value) -> Result<Response, ProviderError> {
        let body = Bytes::from(body.to_string());
        let target = format!("{TARGET}.{action}");
        let mut pause = Duration::from_millis(500);
        for attempt in 1..=THROTTLE_ATTEMPTS {
            let request = self.signed(&target, &body).await?;
            let response =
                self.inner.client.send_retrying(self.provider(), request, Retry::default()).await?;
            let throttled =
                response.status.as_u16() == 400 && error_type(&response.body).contains("Throttling");
            if !throttled || attempt == THROTTLE_ATTEMPTS {
                return Ok(response);
            }
            tracing::debug!(action, ?pause, "lightsail: throttled, waiting");
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn signed(&self, target: &str, body: &Bytes) -> Result<Request<Bytes>, ProviderError> {
        let credentials = self.credentials().await?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.inner.settings.region)
            .name("lightsail")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| config_error(self.provider(), format!("signing set-up: {e}")))?
            .into();
        let headers = [
            ("host", self.inner.host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ];
        let signable =
            SignableRequest::new("POST", &self.inner.url, headers.iter().copied(), SignableBody::Bytes(body))
                .map_err(|e| config_error(self.provider(), format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| config_error(self.provider(), format!("signing: {e}")))?
            .into_parts();
        let mut request = Request::builder().method(Method::POST).uri(&self.inner.url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        for (name, value) in instructions.headers() {
            let mut value = http::HeaderValue::from_str(value).map_err(|_| {
                config_error(self.provider(), "a signature header is not a valid header value")
            })?;
            // The Authorization header carries no secret, but the session token does.
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        request.body(body.clone()).map_err(|e| config_error(self.provider(), format!("request: {e}")))
    }

    fn error(&self, action: &str, response: &Response) -> ProviderError {
        let secrets = self.secrets();
        let secrets: Vec<&Secret> = secrets.iter().collect();
        let kind = error_type(&response.body);
        let action = format!("{TARGET}.{action}");
        // AWS JSON APIs refuse credentials with 400 as well as 403.
        if matches!(
            kind.as_str(),
            "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "AccessDeniedException"
                | "IncompleteSignatureException"
                | "ExpiredTokenException"
                | "InvalidClientTokenId"
        ) {
            return ProviderError::Auth {
                provider: self.provider().to_string(),
                detail: format!(
                    "{action}: HTTP {}: {}; {}",
                    response.status,
                    excerpt(&response.body, &secrets),
                    self.auth_hint()
                ),
            };
        }
        if kind.contains("Throttling") {
            return ProviderError::Temporary {
                provider: self.provider().to_string(),
                detail: format!("{action}: throttled: {}", excerpt(&response.body, &secrets)),
                retry_after: None,
            };
        }
        status_error(self.provider(), &action, response, &secrets, self.auth_hint())
    }

    fn secrets(&self) -> Vec<Secret> {
        let s = &self.inner.settings;
        s.secret_access_key.iter().chain(s.session_token.iter()).cloned().collect()
    }

    /// The domain's entries, or `None` when Lightsail has no such domain.
    async fn domain(&self, name: &str) -> Result<Option<Vec<Entry>>, ProviderError> {
        let response = self.call("GetDomain", &json!({"domainName": name})).await?;
        if classify(response.status) == StatusClass::Success {
            let answer: DomainAnswer = serde_json::from_slice(&response.body).map_err(|e| {
                ProviderError::Rejected {
                    provider: self.provider().to_string(),
                    detail: format!("GetDomain: the answer is not the JSON Lightsail documents ({e}); is api_url the API's base URL?"),
                }
            })?;
            return Ok(Some(answer.domain.domain_entries));
        }
        if error_type(&response.body) == "NotFoundException" || response.status.as_u16() == 404 {
            return Ok(None);
        }
        Err(self.error("GetDomain", &response))
    }

    /// The domain holding the record and its entries.
    async fn zone_for(&self, record: &TxtRecord) -> Result<(String, Vec<Entry>), ProviderError> {
        let names = match &self.inner.settings.zone {
            Some(zone) => vec![zone.trim().trim_end_matches('.').to_ascii_lowercase()],
            None => candidates(record),
        };
        for name in &names {
            if let Some(entries) = self.domain(name).await? {
                return Ok((name.clone(), entries));
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: format!(
                "Lightsail has no domain {} in {}; create the DNS zone in Lightsail (Domains & DNS) or set zone (lego: DNS_ZONE)",
                names.join(" or "),
                self.inner.settings.region
            ),
        })
    }

    fn ours(entries: &[Entry], record: &TxtRecord) -> Vec<Entry> {
        let fqdn = normalize(&record.fqdn);
        entries
            .iter()
            .filter(|e| e.rtype.eq_ignore_ascii_case("TXT") && normalize(&e.name) == fqdn)
            .filter(|e| same_value(&e.target, &record.value))
            .cloned()
            .collect()
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, entries) = self.zone_for(record).await?;
        if !Lightsail::ours(&entries, record).is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "lightsail: value already present");
            return Ok(());
        }
        let body = json!({
            "domainName": zone,
            "domainEntry": {
                "name": record.fqdn_without_dot(),
                "target": wildcert_dns_api::quote_txt(&record.value),
                "type": "TXT",
            },
        });
        let response = self.call("CreateDomainEntry", &body).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(self.error("CreateDomainEntry", &response));
        }
        tracing::debug!(fqdn = %record.fqdn, zone, "lightsail: entry created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, entries) = self.zone_for(record).await?;
        for entry in Lightsail::ours(&entries, record) {
            let mut domain_entry = json!({"name": entry.name, "target": entry.target, "type": "TXT"});
            if let Some(id) = &entry.id {
                domain_entry["id"] = json!(id);
            }
            let response = self
                .call("DeleteDomainEntry", &json!({"domainName": zone, "domainEntry": domain_entry}))
                .await?;
            // Gone already (a concurrent cleanup): what we wanted.
            let gone = error_type(&response.body) == "NotFoundException";
            if classify(response.status) != StatusClass::Success && !gone {
                return Err(self.error("DeleteDomainEntry", &response));
            }
            tracing::debug!(fqdn = %record.fqdn, zone, "lightsail: entry deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Lightsail {
    fn describe(&self) -> String {
        self.provider().to_string()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

impl ProviderSpec for Lightsail {
    type Config = LightsailConfig;
    const CODE: &'static str = "lightsail";
    const NAME: &'static str = "Amazon Lightsail";
    const PERMISSIONS: &'static str = "an IAM user or role allowed lightsail:GetDomain, lightsail:CreateDomainEntry and lightsail:DeleteDomainEntry";
    const SECRETS: &'static [&'static str] = &["secret_access_key", "session_token"];
    const ENV: &'static [EnvName] = &[
        env("AWS_ACCESS_KEY_ID", "access_key_id", Kind::Text),
        env("AWS_SECRET_ACCESS_KEY", "secret_access_key", Kind::Secret),
        env("AWS_SESSION_TOKEN", "session_token", Kind::Secret),
        env("AWS_PROFILE", "profile", Kind::Text),
        env("DNS_ZONE", "zone", Kind::Text),
        env("LIGHTSAIL_REGION", "region", Kind::Text),
        ignored(
            "AWS_REGION",
            "Lightsail's DNS API lives in us-east-1; set region (LIGHTSAIL_REGION) to change it",
        ),
        ignored("LIGHTSAIL_TTL", TTL),
        ignored("LIGHTSAIL_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("LIGHTSAIL_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &LightsailConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        check_aws_keys(&config.access_key_id, &config.secret_access_key, &config.profile)?;
        if config.session_token.is_some() && config.access_key_id.is_none() {
            return Err(SettingError::new("session_token", "a session token belongs to static keys"));
        }
        let region = config.region.trim();
        if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(SettingError::new("region", "must be a region name such as us-east-1"));
        }
        if let Some(url) = &config.api_url {
            checks.url("api_url", url)?;
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &LightsailConfig, secrets: &mut dyn SecretReader) -> Result<Lightsail, ProviderError> {
        let provider = "lightsail";
        let secret_access_key =
            read_optional(secrets, provider, "secret_access_key", &config.secret_access_key)?;
        let session_token = read_optional(secrets, provider, "session_token", &config.session_token)?;
        Lightsail::new(LightsailSettings {
            zone: config.zone.clone().filter(|z| !z.trim().is_empty()),
            region: config.region.clone(),
            access_key_id: config.access_key_id.clone(),
            secret_access_key,
            session_token,
            profile: config.profile.clone(),
            api_url: config.api_url.clone(),
            timeout: config.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_values() {
        assert_eq!(
            error_type(br#"{"__type":"com.amazonaws#NotFoundException","message":"x"}"#),
            "NotFoundException"
        );
        assert_eq!(error_type(br#"{"code":"ThrottlingException"}"#), "ThrottlingException");
        assert!(same_value("\"abc\"", "abc") && same_value("abc", "abc") && !same_value("\"abd\"", "abc"));
    }

    #[test]
    fn default_endpoint_and_hidden_secret() {
        let p = Lightsail::new(LightsailSettings {
            zone: None,
            region: DEFAULT_REGION.into(),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(Secret::new("wJalrXUtnFEMI")),
            session_token: None,
            profile: None,
            api_url: None,
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        assert_eq!(p.describe(), "lightsail (https://lightsail.us-east-1.amazonaws.com)");
        assert!(!format!("{p:?}").contains("wJalr"));
    }
}
