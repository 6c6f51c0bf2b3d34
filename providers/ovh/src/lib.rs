//! OVHcloud DNS: add and remove one TXT value through the OVH API 1.0, one record per value,
//! with signed requests or OAuth2 client credentials. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_optional, required_text,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::oauth::{ClientCredentials, TokenSource};
use wildcert_dns_http::sign::{Hash, digest, hex};
use wildcert_dns_http::zone::{candidates, host_name};
use wildcert_dns_http::{Api, Body, HttpClient, Response, StatusClass, classify, default_timeout, encode};

/// The shortest TTL the adapter writes.
pub const MIN_TTL: u32 = 60;

/// API base URL and OAuth2 token URL of each endpoint name lego knows.
pub fn endpoint_urls(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "ovh-eu" => ("https://eu.api.ovh.com/1.0", "https://www.ovh.com/auth/oauth2/token"),
        "ovh-ca" => ("https://ca.api.ovh.com/1.0", "https://ca.ovh.com/auth/oauth2/token"),
        "ovh-us" => ("https://api.us.ovhcloud.com/1.0", "https://us.ovhcloud.com/auth/oauth2/token"),
        "kimsufi-eu" => ("https://eu.api.kimsufi.com/1.0", "https://www.ovh.com/auth/oauth2/token"),
        "kimsufi-ca" => ("https://ca.api.kimsufi.com/1.0", "https://ca.ovh.com/auth/oauth2/token"),
        "soyoustart-eu" => ("https://eu.api.soyoustart.com/1.0", "https://www.ovh.com/auth/oauth2/token"),
        "soyoustart-ca" => ("https://ca.api.soyoustart.com/1.0", "https://ca.ovh.com/auth/oauth2/token"),
        _ => return None,
    })
}

/// OVH's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvhConfig {
    /// `ovh-eu`, `ovh-ca`, `ovh-us`, `kimsufi-*`, `soyoustart-*`, or the API's URL.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// The application key (signed requests).
    pub application_key: Option<String>,
    /// The application secret (signed requests).
    pub application_secret: Option<SecretSource>,
    /// The consumer key the application was granted (signed requests).
    pub consumer_key: Option<SecretSource>,
    /// The OAuth2 service account's client ID (instead of the three above).
    pub client_id: Option<String>,
    /// The OAuth2 client secret.
    pub client_secret: Option<SecretSource>,
    /// Overrides the endpoint's API URL.
    pub api_url: Option<String>,
    /// Overrides the OAuth2 token URL of the endpoint's region.
    pub token_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_endpoint() -> String {
    "ovh-eu".into()
}

/// How the adapter authenticates.
#[derive(Debug, Clone)]
pub enum OvhAuth {
    /// Signed requests.
    Signed {
        /// The application key, sent with every request.
        application_key: String,
        /// The application secret, used only to sign.
        application_secret: Secret,
        /// The consumer key the account owner validated for this application.
        consumer_key: Secret,
    },
    /// OAuth2 client credentials, fetched from `token_url`.
    OAuth2 {
        /// The service account's client id.
        client_id: String,
        /// The service account's secret, sent only to `token_url`.
        client_secret: Secret,
        /// Where tokens are asked for.
        token_url: String,
    },
}

/// The OVH adapter. Cheap to clone; clones share connections, the clock offset, the token
/// and serialization.
#[derive(Clone)]
pub struct Ovh {
    inner: Arc<Inner>,
}

enum Auth {
    Signed { application_key: HeaderValue, application_secret: Secret, consumer_key: Secret },
    OAuth2(Box<TokenSource>),
}

struct Inner {
    api: Api,
    auth: Auth,
    /// Server time minus local time, in seconds, read once from `GET /auth/time`.
    offset: OnceCell<i64>,
    locks: NameLocks,
}

impl std::fmt::Debug for Ovh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ovh").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Listed {
    id: u64,
    #[serde(rename = "fieldType", default)]
    field_type: String,
    #[serde(rename = "subDomain", default)]
    sub_domain: String,
    #[serde(default)]
    target: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    #[serde(rename = "fieldType")]
    field_type: &'static str,
    #[serde(rename = "subDomain")]
    sub_domain: &'a str,
    target: &'a str,
    ttl: u32,
}

fn sensitive(value: &str) -> Result<HeaderValue, ()> {
    let mut value = HeaderValue::from_str(value).map_err(|_| ())?;
    value.set_sensitive(true);
    Ok(value)
}

impl Ovh {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, auth: OvhAuth, timeout: Duration) -> Result<Ovh, ProviderError> {
        let provider = format!("ovh ({})", api_url.trim().trim_end_matches('/'));
        let config = |detail: String| ProviderError::Config { provider: provider.clone(), detail };
        let client = HttpClient::new(timeout, None).map_err(config)?;
        let api = Api::new(&provider, api_url, client.clone())?;
        let (api, auth) = match auth {
            OvhAuth::Signed { application_key, application_secret, consumer_key } => {
                if application_secret.expose().is_empty() || consumer_key.expose().is_empty() {
                    return Err(config("application_secret or consumer_key is empty".into()));
                }
                let key = HeaderValue::from_str(application_key.trim())
                    .map_err(|_| config("application_key cannot be sent in an HTTP header".into()))?;
                let api = api.with_redacted(&application_secret).with_redacted(&consumer_key);
                (api, Auth::Signed { application_key: key, application_secret, consumer_key })
            }
            OvhAuth::OAuth2 { client_id, client_secret, token_url } => {
                let endpoint = Api::new(&provider, &token_url, client)
                    .map_err(|_| config(format!("token_url `{token_url}` is not an http(s) URL")))?;
                let api = api.with_redacted(&client_secret);
                let credentials = ClientCredentials {
                    client_id,
                    client_secret,
                    scope: Some("all".into()),
                    extra: Vec::new(),
                };
                (api, Auth::OAuth2(Box::new(TokenSource::new(endpoint, credentials))))
            }
        };
        Ok(Ovh { inner: Arc::new(Inner { api, auth, offset: OnceCell::new(), locks: NameLocks::default() }) })
    }

    fn hint(&self) -> &'static str {
        match self.inner.auth {
            Auth::Signed { .. } => {
                "check application_key, application_secret and consumer_key (lego: OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY): the consumer key must be validated and granted GET/POST/DELETE on /domain/zone/*"
            }
            Auth::OAuth2(_) => {
                "check client_id and client_secret (lego: OVH_CLIENT_ID, OVH_CLIENT_SECRET) and the service account's IAM policy on the DNS zone"
            }
        }
    }

    fn now() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }

    /// The headers that authenticate one request.
    async fn auth_headers(
        &self,
        method: &Method,
        path: &str,
        body: &Body,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ProviderError> {
        let api = &self.inner.api;
        match &self.inner.auth {
            Auth::OAuth2(tokens) => Ok(vec![tokens.header().await?]),
            Auth::Signed { application_key, application_secret, consumer_key } => {
                let offset = *self
                    .inner
                    .offset
                    .get_or_try_init(|| async {
                        let server: i64 = api.json(Method::GET, "/auth/time", &Body::Empty, "").await?;
                        Ok::<i64, ProviderError>(server - Self::now())
                    })
                    .await?;
                let timestamp = (Self::now() + offset).to_string();
                let body_text = match body {
                    Body::Empty => String::new(),
                    Body::Json(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    Body::Form(text) => text.clone(),
                };
                let url = format!("{}{path}", api.base());
                let plain = format!(
                    "{}+{}+{method}+{url}+{body_text}+{timestamp}",
                    application_secret.expose(),
                    consumer_key.expose()
                );
                let signature = format!("$1${}", hex(&digest(Hash::Sha1, plain.as_bytes())));
                let bad = |_| ProviderError::Config {
                    provider: api.provider().into(),
                    detail: "consumer_key cannot be sent in an HTTP header".into(),
                };
                Ok(vec![
                    (HeaderName::from_static("x-ovh-application"), application_key.clone()),
                    (
                        HeaderName::from_static("x-ovh-consumer"),
                        sensitive(consumer_key.expose()).map_err(bad)?,
                    ),
                    (
                        HeaderName::from_static("x-ovh-timestamp"),
                        HeaderValue::from_str(&timestamp).expect("digits"),
                    ),
                    (HeaderName::from_static("x-ovh-signature"), sensitive(&signature).map_err(bad)?),
                ])
            }
        }
    }

    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        let headers = self.auth_headers(&method, path, body).await?;
        let response = self.inner.api.call(method, path, body, &headers).await?;
        if let (Auth::OAuth2(tokens), StatusClass::Auth) = (&self.inner.auth, classify(response.status)) {
            // A revoked or expired token: the next call fetches a new one.
            tokens.invalidate().await;
        }
        Ok(response)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Body,
    ) -> Result<T, ProviderError> {
        let action = format!("{method} {}", path.split('?').next().unwrap_or_default());
        let response = self.call(method, path, body).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(self.failure(&action, &response));
        }
        self.inner.api.parse(&action, &response, self.hint())
    }

    /// OVH answers a bad signature with 400 `INVALID_SIGNATURE`: credentials, not the
    /// request, are wrong.
    fn failure(&self, action: &str, response: &Response) -> ProviderError {
        #[derive(Deserialize)]
        struct OvhError {
            #[serde(rename = "errorCode", default)]
            error_code: String,
        }
        let code =
            serde_json::from_slice::<OvhError>(&response.body).map(|e| e.error_code).unwrap_or_default();
        let err = self.inner.api.error(action, response, self.hint());
        match (code.as_str(), err) {
            (
                "INVALID_SIGNATURE" | "INVALID_CREDENTIAL" | "NOT_CREDENTIAL",
                ProviderError::Rejected { provider, detail },
            ) => ProviderError::Auth { provider, detail: format!("{detail}; {}", self.hint()) },
            (_, err) => err,
        }
    }

    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        for candidate in candidates(record) {
            let path = format!("/domain/zone/{}", encode(&candidate));
            let response = self.call(Method::GET, &path, &Body::Empty).await?;
            match classify(response.status) {
                StatusClass::Success => return Ok(candidate),
                StatusClass::NotFound => continue,
                _ => return Err(self.failure(&format!("GET {path}"), &response)),
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.inner.api.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: "no DNS zone of this OVH account holds the name".into(),
        })
    }

    async fn matching(&self, zone: &str, sub: &str, record: &TxtRecord) -> Result<Vec<u64>, ProviderError> {
        let path = format!("/domain/zone/{}/record?fieldType=TXT&subDomain={}", encode(zone), encode(sub));
        let ids: Vec<u64> = self.json(Method::GET, &path, &Body::Empty).await?;
        let mut ours = Vec::new();
        for id in ids {
            let path = format!("/domain/zone/{}/record/{id}", encode(zone));
            let listed: Listed = self.json(Method::GET, &path, &Body::Empty).await?;
            if listed.field_type.eq_ignore_ascii_case("TXT")
                && listed.sub_domain.eq_ignore_ascii_case(sub)
                && txt_text(&listed.target) == record.value
            {
                ours.push(listed.id);
            }
        }
        Ok(ours)
    }

    async fn refresh(&self, zone: &str) -> Result<(), ProviderError> {
        let path = format!("/domain/zone/{}/refresh", encode(zone));
        let _: serde::de::IgnoredAny = self.json(Method::POST, &path, &Body::Empty).await?;
        Ok(())
    }

    fn sub(record: &TxtRecord, zone: &str) -> String {
        host_name(record, zone)
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let sub = Self::sub(record, &zone);
        if !self.matching(&zone, &sub, record).await?.is_empty() {
            return Ok(());
        }
        let body = Body::json(&NewRecord {
            field_type: "TXT",
            sub_domain: &sub,
            target: &record.value,
            ttl: record.ttl.max(MIN_TTL),
        });
        let path = format!("/domain/zone/{}/record", encode(&zone));
        let _: serde::de::IgnoredAny = self.json(Method::POST, &path, &body).await?;
        self.refresh(&zone).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, "ovh: record created");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let sub = Self::sub(record, &zone);
        let ids = self.matching(&zone, &sub, record).await?;
        for id in &ids {
            let path = format!("/domain/zone/{}/record/{id}", encode(&zone));
            let response = self.call(Method::DELETE, &path, &Body::Empty).await?;
            match classify(response.status) {
                StatusClass::Success | StatusClass::NotFound => {}
                _ => return Err(self.failure(&format!("DELETE {path}"), &response)),
            }
        }
        if !ids.is_empty() {
            self.refresh(&zone).await?;
            tracing::debug!(fqdn = %record.fqdn, zone, "ovh: records deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Ovh {
    fn describe(&self) -> String {
        self.inner.api.provider().to_string()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

impl ProviderSpec for Ovh {
    type Config = OvhConfig;
    const CODE: &'static str = "ovh";
    const NAME: &'static str = "OVH";
    const PERMISSIONS: &'static str = "API rights GET, POST and DELETE on /domain/zone/*/record* and POST on /domain/zone/*/refresh (application keys or an OAuth2 service account)";
    const NOTES: &'static str = "a record is served after the zone refresh the adapter requests";
    const SECRETS: &'static [&'static str] = &["application_secret", "consumer_key", "client_secret"];
    const ENV: &'static [EnvName] = &[
        env("OVH_ENDPOINT", "endpoint", Kind::Text),
        env("OVH_APPLICATION_KEY", "application_key", Kind::Text),
        env("OVH_APPLICATION_SECRET", "application_secret", Kind::Secret),
        env("OVH_CONSUMER_KEY", "consumer_key", Kind::Secret),
        env("OVH_CLIENT_ID", "client_id", Kind::Text),
        env("OVH_CLIENT_SECRET", "client_secret", Kind::Secret),
        env("OVH_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("OVH_TTL", TTL),
        ignored("OVH_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("OVH_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &OvhConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        let signed = config.application_key.is_some()
            || config.application_secret.is_some()
            || config.consumer_key.is_some();
        let oauth = config.client_id.is_some() || config.client_secret.is_some();
        match (signed, oauth) {
            (true, true) => {
                return Err(SettingError::new(
                    "client_id",
                    "set either application_key/application_secret/consumer_key or client_id/client_secret, not both",
                ));
            }
            (false, false) => {
                return Err(SettingError::new(
                    "application_key",
                    "missing credentials: set application_key, application_secret_file and consumer_key_file (lego: OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY), or client_id and client_secret_file (OVH_CLIENT_ID, OVH_CLIENT_SECRET)",
                ));
            }
            (true, false) => {
                required_text(
                    &config.application_key,
                    "application_key",
                    "missing; it goes with application_secret and consumer_key",
                )?;
                wildcert_dns_api::spec::required(&config.application_secret, "application_secret")?;
                wildcert_dns_api::spec::required(&config.consumer_key, "consumer_key")?;
            }
            (false, true) => {
                required_text(&config.client_id, "client_id", "missing; it goes with client_secret")?;
                wildcert_dns_api::spec::required(&config.client_secret, "client_secret")?;
            }
        }
        match (&config.api_url, endpoint_urls(&config.endpoint)) {
            (Some(url), _) => checks.url("api_url", url)?,
            (None, Some(_)) => {}
            (None, None) => checks.url("endpoint", &config.endpoint).map_err(|_| {
                SettingError::new(
                    "endpoint",
                    format!("`{}` is not an OVH endpoint; use ovh-eu, ovh-ca, ovh-us, kimsufi-eu, kimsufi-ca, soyoustart-eu, soyoustart-ca or a URL", config.endpoint),
                )
            })?,
        }
        if let Some(url) = &config.token_url {
            checks.url("token_url", url)?;
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &OvhConfig, secrets: &mut dyn SecretReader) -> Result<Ovh, ProviderError> {
        let known = endpoint_urls(&config.endpoint);
        let api_url = config
            .api_url
            .clone()
            .or_else(|| known.map(|k| k.0.to_string()))
            .unwrap_or_else(|| config.endpoint.clone());
        let application_secret =
            read_optional(secrets, "ovh", "application_secret", &config.application_secret)?;
        let consumer_key = read_optional(secrets, "ovh", "consumer_key", &config.consumer_key)?;
        let client_secret = read_optional(secrets, "ovh", "client_secret", &config.client_secret)?;
        let auth = match (
            &config.application_key,
            application_secret,
            consumer_key,
            &config.client_id,
            client_secret,
        ) {
            (Some(key), Some(secret), Some(consumer), None, None) => OvhAuth::Signed {
                application_key: key.clone(),
                application_secret: secret,
                consumer_key: consumer,
            },
            (None, None, None, Some(id), Some(secret)) => OvhAuth::OAuth2 {
                client_id: id.clone(),
                client_secret: secret,
                token_url: config
                    .token_url
                    .clone()
                    .or_else(|| known.map(|k| k.1.to_string()))
                    .unwrap_or_else(|| "https://www.ovh.com/auth/oauth2/token".into()),
            },
            _ => {
                return Err(ProviderError::Config {
                    provider: "ovh".into(),
                    detail: "set application_key, application_secret and consumer_key, or client_id and client_secret".into(),
                });
            }
        };
        Ovh::new(&api_url, auth, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_secrets() {
        assert_eq!(endpoint_urls("OVH-EU").unwrap().0, "https://eu.api.ovh.com/1.0");
        assert!(endpoint_urls("ovh-mars").is_none());
        let p = Ovh::new(
            "https://eu.api.ovh.com/1.0",
            OvhAuth::Signed {
                application_key: "ak".into(),
                application_secret: Secret::new("as-s3cret"),
                consumer_key: Secret::new("ck-s3cret"),
            },
            Duration::from_secs(5),
        )
        .unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
