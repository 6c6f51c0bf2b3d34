//! TransIP: add and remove one TXT value through the TransIP REST API v6.
//!
//! Access takes a token: `POST /auth` with `{"login", "nonce", "label", "read_only",
//! "expiration_time", "global_key"}`, the body signed with the account's RSA key (SHA-512,
//! PKCS#1 v1.5, base64 in the `Signature` header), answers `{"token"}`, a JWT that is then
//! sent as a bearer token and reused until shortly before it expires (a 401 drops it and
//! logs in again once). DNS entries are one per value: `present` reads the domain's entries
//! (`GET /domains/{domain}/dns`) and adds ours (`POST`, `{"dnsEntry": {...}}`) unless it is
//! there; `cleanup` deletes exactly the TXT entries at the name whose content is our value
//! (`DELETE` with the entry as read). Other entries are never sent. Calls on one name are
//! serialized. See README.md.
//!
//! API reference: <https://api.transip.nl/rest/docs.html> (Authentication, Domains > DNS).

#![warn(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::rsa_key::{Digest, RsaKey};
use wildcert_dns_http::sign::{base64, hex};
use wildcert_dns_http::zone::{candidates, relative_name};
use wildcert_dns_http::{Api, Body, Response, StatusClass, classify, default_timeout, encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.transip.nl/v6";

/// How long a token is asked for, and how long before its end it is renewed.
const TOKEN_LIFETIME: &str = "30 minutes";
const TOKEN_REUSE: Duration = Duration::from_secs(25 * 60);

/// TransIP's shortest TTL ("expire").
pub const MIN_TTL: u32 = 60;

const AUTH_HINT: &str = "check account_name and private_key_path (lego: TRANSIP_ACCOUNT_NAME, \
     TRANSIP_PRIVATE_KEY_PATH): the account's login and a key pair made under Controlpanel > Account > API, \
     and whether that key only works from whitelisted addresses";

/// TransIP's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransipConfig {
    /// The account's login name.
    pub account_name: String,
    /// The key pair's private key (PEM, mode 0600), as downloaded from the control panel.
    pub private_key_path: PathBuf,
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

/// The TransIP adapter. Cheap to clone; clones share connections, the token and
/// serialization.
#[derive(Clone)]
pub struct Transip {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    login: String,
    key: RsaKey,
    token: Mutex<Option<(Secret, Instant)>>,
    locks: NameLocks,
}

impl std::fmt::Debug for Transip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transip")
            .field("api", &self.inner.api)
            .field("login", &self.inner.login)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
struct Login<'a> {
    login: &'a str,
    nonce: &'a str,
    read_only: bool,
    expiration_time: &'a str,
    label: &'a str,
    global_key: bool,
}

#[derive(Deserialize)]
struct Token {
    token: Secret,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
struct Entry {
    name: String,
    expire: u32,
    #[serde(rename = "type")]
    rtype: String,
    content: String,
}

#[derive(Debug, Deserialize)]
struct Entries {
    #[serde(rename = "dnsEntries", default)]
    entries: Vec<Entry>,
}

impl Transip {
    /// Prepares the client with the account's key (PEM text); no network I/O.
    pub fn new(
        api_url: &str,
        login: &str,
        key_pem: &Secret,
        timeout: Duration,
    ) -> Result<Transip, ProviderError> {
        let api = Api::connect("transip", api_url, timeout)?.with_redacted(key_pem);
        let key = RsaKey::from_pem(key_pem, None).map_err(|e| ProviderError::Config {
            provider: api.provider().to_string(),
            detail: format!("private_key_path: {e}"),
        })?;
        if login.trim().is_empty() {
            return Err(ProviderError::Config {
                provider: api.provider().to_string(),
                detail: "account_name is empty".into(),
            });
        }
        Ok(Transip {
            inner: Arc::new(Inner {
                api,
                login: login.trim().to_string(),
                key,
                token: Mutex::new(None),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// A valid token: the cached one, or a new one from `POST /auth`.
    async fn token(&self) -> Result<Secret, ProviderError> {
        let mut cached = self.inner.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        // Signed anew for every attempt: TransIP refuses a login nonce it has seen, so a retry
        // must not replay the first attempt's request.
        let sign = || {
            let mut random = [0u8; 12];
            let _ = aws_lc_rs::rand::fill(&mut random);
            let nonce = hex(&random);
            let label = format!("wildcert-{nonce}");
            let login = Login {
                login: &self.inner.login,
                nonce: &nonce,
                read_only: false,
                expiration_time: TOKEN_LIFETIME,
                label: &label,
                global_key: false,
            };
            let body = serde_json::to_vec(&login).expect("the login serializes");
            let signature =
                self.inner.key.sign(Digest::Sha512, &body).map_err(|detail| ProviderError::Config {
                    provider: self.provider(),
                    detail: format!("private_key_path: {detail}"),
                })?;
            let mut header =
                HeaderValue::from_str(&base64(&signature)).expect("base64 is a valid header value");
            header.set_sensitive(true);
            Ok((Body::Json(body), vec![(HeaderName::from_static("signature"), header)]))
        };
        let response = self.inner.api.call_signed(Method::POST, "/auth", sign).await?;
        let token: Token = self.inner.api.parse("POST /auth", &response, AUTH_HINT)?;
        if token.token.expose().trim().is_empty() {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: "POST /auth answered no token".into(),
            });
        }
        tracing::debug!("transip: new access token");
        *cached = Some((token.token.clone(), Instant::now() + TOKEN_REUSE));
        Ok(token.token)
    }

    /// One call with the bearer token; a 401 (a token revoked or expired early) drops it
    /// and the call is made once more with a new one.
    async fn call(&self, method: Method, path: &str, body: &Body) -> Result<Response, ProviderError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let mut header =
                HeaderValue::from_str(&format!("Bearer {}", token.expose().trim())).map_err(|_| {
                    ProviderError::Rejected {
                        provider: self.provider(),
                        detail: "POST /auth answered an unusable token".into(),
                    }
                })?;
            header.set_sensitive(true);
            let response =
                self.inner.api.call(method.clone(), path, body, &[(AUTHORIZATION, header)]).await?;
            if response.status.as_u16() == 401 && attempt == 0 {
                tracing::debug!("transip: token refused; logging in again");
                *self.inner.token.lock().await = None;
                continue;
            }
            return Ok(response);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The account's domain that holds the record: the first candidate `GET /domains/{name}`
    /// knows.
    async fn domain_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        for candidate in candidates(record) {
            let path = format!("/domains/{}", encode(&candidate));
            let response = self.call(Method::GET, &path, &Body::Empty).await?;
            match classify(response.status) {
                StatusClass::Success => return Ok(candidate),
                StatusClass::NotFound => continue,
                // 406: not a domain name TransIP accepts (labels such as `_acme-challenge`).
                _ if matches!(response.status.as_u16(), 406 | 422) => continue,
                _ => return Err(self.inner.api.error(&format!("GET {path}"), &response, AUTH_HINT)),
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: "no domain of this TransIP account holds the name".into(),
        })
    }

    /// The entries at the name whose content is our value, as read.
    async fn matching(&self, domain: &str, record: &TxtRecord) -> Result<Vec<Entry>, ProviderError> {
        let path = format!("/domains/{}/dns", encode(domain));
        let response = self.call(Method::GET, &path, &Body::Empty).await?;
        let list: Entries = self.inner.api.parse(&format!("GET {path}"), &response, AUTH_HINT)?;
        let name = relative_name(record, domain);
        Ok(list
            .entries
            .into_iter()
            .filter(|e| e.rtype.eq_ignore_ascii_case("TXT") && e.name.eq_ignore_ascii_case(&name))
            .filter(|e| txt_text(&e.content) == record.value)
            .collect())
    }

    async fn send(&self, method: Method, domain: &str, entry: &Entry) -> Result<(), ProviderError> {
        let path = format!("/domains/{}/dns", encode(domain));
        let body = Body::json(&serde_json::json!({ "dnsEntry": entry }));
        let response = self.call(method.clone(), &path, &body).await?;
        match classify(response.status) {
            StatusClass::Success => Ok(()),
            StatusClass::NotFound if method == Method::DELETE => Ok(()),
            _ => Err(self.inner.api.error(&format!("{method} {path}"), &response, AUTH_HINT)),
        }
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let domain = self.domain_for(record).await?;
        if !self.matching(&domain, record).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "transip: value already present");
            return Ok(());
        }
        let entry = Entry {
            name: relative_name(record, &domain),
            expire: record.ttl.max(MIN_TTL),
            rtype: "TXT".into(),
            content: record.value.clone(),
        };
        self.send(Method::POST, &domain, &entry).await?;
        tracing::debug!(fqdn = %record.fqdn, domain, "transip: entry added");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let domain = self.domain_for(record).await?;
        for entry in self.matching(&domain, record).await? {
            self.send(Method::DELETE, &domain, &entry).await?;
            tracing::debug!(fqdn = %record.fqdn, domain, "transip: entry deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Transip {
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

impl ProviderSpec for Transip {
    type Config = TransipConfig;
    const CODE: &'static str = "transip";
    const NAME: &'static str = "TransIP";
    const ENV: &'static [EnvName] = &[
        env("TRANSIP_ACCOUNT_NAME", "account_name", Kind::Text),
        env("TRANSIP_PRIVATE_KEY_PATH", "private_key_path", Kind::Text),
        ignored("TRANSIP_TTL", TTL),
        ignored("TRANSIP_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("TRANSIP_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "a key pair of the account (Controlpanel > Account > API), not read-only; whitelist this host's address unless the key may be used from anywhere";
    const NOTES: &'static str = "lowest TTL 60 s";

    fn check(config: &TransipConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        if config.account_name.trim().is_empty() {
            return Err(SettingError::new("account_name", "is empty: the TransIP account's login name"));
        }
        if config.private_key_path.as_os_str().is_empty() {
            return Err(SettingError::new("private_key_path", "is empty: the key pair's private key file"));
        }
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &TransipConfig, secrets: &mut dyn SecretReader) -> Result<Transip, ProviderError> {
        let pem = secrets
            .read("private_key_path", &SecretSource::File(config.private_key_path.clone()))
            .map_err(|detail| ProviderError::Config { provider: "transip".into(), detail })?;
        Transip::new(&config.api_url, &config.account_name, &pem, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_key_it_cannot_use_without_quoting_it() {
        let pem = Secret::new("-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5\n-----END PRIVATE KEY-----\n");
        let err = Transip::new(DEFAULT_API_URL, "user", &pem, Duration::from_secs(5)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("private_key_path") && !text.contains("bm90LWEta2V5"), "{text}");
    }
}
