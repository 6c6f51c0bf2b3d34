//! Cloudflare: add and remove one TXT value through the Cloudflare API v4
//! (`https://api.cloudflare.com/client/v4`).
//!
//! Cloudflare keeps one record per TXT value and lets a name carry several, so adding ours is
//! one `POST /zones/{zone_id}/dns_records` that leaves every other value alone (the apex's and
//! the wildcard's at the shared `_acme-challenge.<domain>`, another tool's). An answer with
//! error code 81058 ("an identical record already exists") means our value is already there.
//! Removing it lists the TXT records at the name (`GET .../dns_records?type=TXT&name=`) and
//! deletes those whose text is our value; none is fine. Calls on one name are serialized
//! inside the adapter, so a cleanup cannot interleave with a present of the same name.
//!
//! Credentials are one of two kinds:
//! - an API token (`Authorization: Bearer`) with the Zone:DNS:Edit permission on the zone, and
//!   Zone:Zone:Read for finding the zone, which a second token may hold instead (lego's
//!   `CF_DNS_API_TOKEN` and `CF_ZONE_API_TOKEN`);
//! - the account's Global API Key with its email (`X-Auth-Email`, `X-Auth-Key`; lego's
//!   `CF_API_EMAIL` and `CF_API_KEY`), which can change everything in the account.
//!
//! The zone is the configured `zone_id`, else the zone named like the caller's discovered
//! zone, else the longest suffix of the record name that `GET /zones?name=` finds.
//!
//! Every answer is `{"success", "errors": [{"code", "message"}], "result"}`. HTTP 401/403 and
//! the authentication codes are `Auth`; 429 and 5xx are retried within one call when
//! Cloudflare's `Retry-After` is short, and otherwise reported as `Temporary` with it.

#![warn(missing_docs)]

mod spec;
pub use spec::CloudflareConfig;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, is_within, normalize, quote_txt, same_name,
    txt_text,
};
use wildcert_dns_http::{
    HttpClient, Response, StatusClass, classify, display_uri, encode, excerpt, redact, retry_after,
    status_error,
};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";

/// TTL of our records: Cloudflare refuses very short TTLs outside its Enterprise plan, and
/// 120 s is what lego has always used there. A shorter requested TTL is raised to it.
pub const MIN_TTL: u32 = 120;

/// "An identical record already exists": our value is there already.
const IDENTICAL_RECORD: i64 = 81058;

/// "Unknown X-Auth-Key or X-Auth-Email" and "Authentication error" (a token without the
/// permission, or not valid for the zone).
const AUTH_CODES: &[i64] = &[9103, 10000];

/// "Could not route to /zones/...": the zone ID is not one Cloudflare knows.
const UNKNOWN_ZONE: i64 = 7003;

/// Attempts of one call that Cloudflare answers with 429 or 5xx.
const ATTEMPTS: u32 = 3;

/// The longest `Retry-After` waited for inside one call; a longer one ends the call with
/// `Temporary` carrying that delay.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// How the adapter authenticates.
#[derive(Debug, Clone)]
pub enum CloudflareAuth {
    /// API tokens: `dns` needs Zone:DNS:Edit; `zone`, when given, is used instead of `dns`
    /// to find the zone and needs Zone:Zone:Read.
    Token {
        /// The token that edits the records.
        dns: Secret,
        /// A read-only token for finding the zone, if separate.
        zone: Option<Secret>,
    },
    /// The account's Global API Key and the email of its account.
    GlobalKey {
        /// The account's e-mail address.
        email: String,
        /// The Global API Key (full account access: prefer a token).
        key: Secret,
    },
}

/// Settings of the Cloudflare adapter, as plain values (the caller owns the config format).
#[derive(Debug, Clone)]
pub struct CloudflareSettings {
    /// Base URL of the API; [`DEFAULT_API_URL`] in production.
    pub api_url: String,
    /// A scoped API token (preferred) or the Global API Key.
    pub auth: CloudflareAuth,
    /// The zone's ID (on the zone's Overview page); without it the zone is found by name.
    pub zone_id: Option<String>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

/// A Cloudflare adapter. Cheap to clone; clones share the connection pool and the per-name
/// serialization.
#[derive(Clone)]
pub struct Cloudflare {
    inner: Arc<Inner>,
}

struct Inner {
    settings: CloudflareSettings,
    /// `api_url` without a trailing slash.
    base: String,
    /// Headers that authenticate DNS record calls, marked sensitive.
    dns_auth: Vec<(HeaderName, HeaderValue)>,
    /// Headers that authenticate zone lookups, marked sensitive.
    zone_auth: Vec<(HeaderName, HeaderValue)>,
    client: HttpClient,
    locks: NameLocks,
}

impl std::fmt::Debug for Cloudflare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloudflare").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

/// What a call is for: the permission it needs decides the credential and the hint on refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `GET /zones?name=`: Zone:Zone:Read.
    Zones,
    /// `/zones/{id}/dns_records...`: Zone:DNS:Edit.
    Records,
}

/// The envelope of every API answer.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiError>,
    result: Option<T>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    code: i64,
    #[serde(default)]
    message: String,
    /// The finer reasons, e.g. 9021 "Invalid TTL" under 1004 "DNS Validation Error".
    #[serde(default)]
    error_chain: Vec<ApiError>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)?;
        for cause in &self.error_chain {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Zone {
    id: String,
    name: String,
    #[serde(default)]
    status: String,
}

#[derive(Debug, Deserialize)]
struct DnsRecord {
    id: String,
    #[serde(rename = "type", default)]
    rtype: String,
    name: String,
    #[serde(default)]
    content: String,
}

#[derive(Debug, Serialize)]
struct NewRecord<'a> {
    #[serde(rename = "type")]
    rtype: &'static str,
    name: &'a str,
    content: &'a str,
    ttl: u32,
}

/// The zone a record goes into.
#[derive(Debug, Clone)]
struct Target {
    id: String,
    /// The zone's name when it was looked up; absent for a configured `zone_id`.
    name: Option<String>,
}

impl Target {
    fn shown(&self) -> String {
        match &self.name {
            Some(name) => format!("zone {name}"),
            None => format!("zone_id {}", self.id),
        }
    }
}

impl Cloudflare {
    /// Checks the settings and prepares the HTTP client; no network I/O.
    pub fn new(settings: CloudflareSettings) -> Result<Cloudflare, ProviderError> {
        let config = |detail: String| ProviderError::Config { provider: describe(&settings), detail };
        let base = settings.api_url.trim().trim_end_matches('/').to_string();
        let uri: Uri = base
            .parse()
            .map_err(|_| config(format!("api_url is not a URL; leave it out to use {DEFAULT_API_URL}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(config(format!(
                "api_url {} must be an http:// or https:// URL with a host",
                display_uri(&uri)
            )));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(config(
                "api_url must not carry user info; credentials go in api_token or api_key".into(),
            ));
        }
        if uri.query().is_some() {
            return Err(config(format!("api_url {} must not have a query string", display_uri(&uri))));
        }
        if let Some(id) = &settings.zone_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(config(format!(
                "zone_id `{id}` is not a Cloudflare zone ID (32 hexadecimal characters, shown on the zone's Overview page)"
            )));
        }
        let bearer = |secret: &Secret, key: &str| {
            if secret.expose().trim().is_empty() {
                return Err(format!("{key} is empty"));
            }
            sensitive(&format!("Bearer {}", secret.expose()), key).map(|v| vec![(AUTHORIZATION, v)])
        };
        let (dns_auth, zone_auth) = match &settings.auth {
            CloudflareAuth::Token { dns, zone } => {
                let dns_auth = bearer(dns, "api_token").map_err(config)?;
                let zone_auth = match zone {
                    Some(zone) => bearer(zone, "zone_api_token").map_err(config)?,
                    None => dns_auth.clone(),
                };
                (dns_auth, zone_auth)
            }
            CloudflareAuth::GlobalKey { email, key } => {
                if email.trim().is_empty() {
                    return Err(config(
                        "email is empty; the global API key needs its account's email".into(),
                    ));
                }
                let email = HeaderValue::from_str(email.trim()).map_err(|_| {
                    config("email contains characters that cannot be sent in an HTTP header".into())
                })?;
                let key = sensitive(key.expose(), "api_key").map_err(config)?;
                let headers = vec![
                    (HeaderName::from_static("x-auth-email"), email),
                    (HeaderName::from_static("x-auth-key"), key),
                ];
                (headers.clone(), headers)
            }
        };
        let client = HttpClient::new(settings.timeout, None).map_err(config)?;
        Ok(Cloudflare {
            inner: Arc::new(Inner {
                settings,
                base,
                dns_auth,
                zone_auth,
                client,
                locks: NameLocks::default(),
            }),
        })
    }

    /// The settings it was built from, for messages and tests.
    pub fn settings(&self) -> &CloudflareSettings {
        &self.inner.settings
    }

    fn secrets(&self) -> Vec<&Secret> {
        match &self.inner.settings.auth {
            CloudflareAuth::Token { dns, zone } => std::iter::once(dns).chain(zone).collect(),
            CloudflareAuth::GlobalKey { key, .. } => vec![key],
        }
    }

    /// Sends one request; retries 429 and 5xx answers while Cloudflare's `Retry-After` (or,
    /// without one, a short pause) stays under [`MAX_RETRY_WAIT`]. Every complete answer,
    /// failures included, comes back for the caller to judge.
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        scope: Scope,
    ) -> Result<Response, ProviderError> {
        let url = format!("{}{path_and_query}", self.inner.base);
        let body = body.map(Bytes::from);
        let headers = match scope {
            Scope::Zones => &self.inner.zone_auth,
            Scope::Records => &self.inner.dns_auth,
        };
        let mut attempt = 1;
        loop {
            let mut request =
                Request::builder().method(method.clone()).uri(&url).header("Accept", "application/json");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            if body.is_some() {
                request = request.header("Content-Type", "application/json");
            }
            let request = request.body(Full::new(body.clone().unwrap_or_default())).map_err(|e| {
                ProviderError::Config {
                    provider: self.describe(),
                    detail: format!("cannot build a request for {}: {e}", self.inner.base),
                }
            })?;
            let response = self.inner.client.send(&self.describe(), request).await?;
            if classify(response.status) != StatusClass::Temporary || attempt >= ATTEMPTS {
                return Ok(response);
            }
            let wait = retry_after(&response.headers).unwrap_or(Duration::from_secs(attempt.into()));
            if wait > MAX_RETRY_WAIT {
                return Ok(response);
            }
            tracing::debug!(status = %response.status, ?wait, attempt, "cloudflare asks to retry");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The `result` of a successful answer (`None` when it is null).
    fn result<T: DeserializeOwned>(
        &self,
        action: &str,
        scope: Scope,
        fqdn: &str,
        response: &Response,
    ) -> Result<Option<T>, ProviderError> {
        if classify(response.status) != StatusClass::Success {
            return Err(self.failure(action, scope, fqdn, response));
        }
        let envelope: Envelope<T> =
            serde_json::from_slice(&response.body).map_err(|e| ProviderError::Rejected {
                provider: self.describe(),
                detail: format!(
                    "{action}: the answer is not the Cloudflare API's JSON ({e}): {}; is api_url the API's base URL?",
                    excerpt(&response.body, &self.secrets())
                ),
            })?;
        if !envelope.success {
            return Err(self.failure(action, scope, fqdn, response));
        }
        Ok(envelope.result)
    }

    /// The error for an answer that is not a success.
    fn failure(&self, action: &str, scope: Scope, fqdn: &str, response: &Response) -> ProviderError {
        let provider = self.describe();
        let secrets = self.secrets();
        let errors = api_errors(&response.body);
        let said = if errors.is_empty() {
            excerpt(&response.body, &secrets)
        } else {
            let text: Vec<String> = errors.iter().map(ApiError::to_string).collect();
            redact(&text.join("; "), &secrets)
        };
        let status = response.status;
        let detail = format!("{action}: HTTP {status}: {said}");
        let class = classify(status);
        if class == StatusClass::Auth || errors.iter().any(|e| AUTH_CODES.contains(&e.code)) {
            return ProviderError::Auth { provider, detail: format!("{detail}; {}", self.auth_hint(scope)) };
        }
        if scope == Scope::Records
            && (class == StatusClass::NotFound || errors.iter().any(|e| e.code == UNKNOWN_ZONE))
        {
            return ProviderError::ZoneNotFound {
                provider,
                fqdn: fqdn.to_string(),
                detail: format!(
                    "{detail}; the zone does not exist (any more) for these credentials; check zone_id"
                ),
            };
        }
        match class {
            StatusClass::Temporary => {
                ProviderError::Temporary { provider, detail, retry_after: retry_after(&response.headers) }
            }
            StatusClass::Redirect => status_error(&provider, action, response, &secrets, ""),
            _ => ProviderError::Rejected { provider, detail },
        }
    }

    fn auth_hint(&self, scope: Scope) -> &'static str {
        match (&self.inner.settings.auth, scope) {
            (CloudflareAuth::Token { .. }, Scope::Records) => {
                "check the token's Zone:DNS:Edit permission for this zone (api_token, lego: CF_DNS_API_TOKEN)"
            }
            (CloudflareAuth::Token { zone: Some(_), .. }, Scope::Zones) => {
                "check the zone token's Zone:Zone:Read permission (zone_api_token, lego: CF_ZONE_API_TOKEN), or set zone_id"
            }
            (CloudflareAuth::Token { zone: None, .. }, Scope::Zones) => {
                "check the token's Zone:Zone:Read and Zone:DNS:Edit permissions (api_token, lego: CF_DNS_API_TOKEN), or set zone_id"
            }
            (CloudflareAuth::GlobalKey { .. }, _) => {
                "check email and api_key: the account's Global API Key (not the Origin CA key), or switch to an API token with Zone:DNS:Edit"
            }
        }
    }

    /// The zone named exactly `name`, if these credentials see one.
    async fn lookup_zone(&self, name: &str, fqdn: &str) -> Result<Option<Target>, ProviderError> {
        let name = name.trim_end_matches('.');
        let path = format!("/zones?name={}", encode(name));
        let response = self.call(Method::GET, &path, None, Scope::Zones).await?;
        let zones: Vec<Zone> = self
            .result(&format!("looking up zone {name}"), Scope::Zones, fqdn, &response)?
            .unwrap_or_default();
        // A zone can be pending in one account and active in another; the active one is served.
        let mut zones: Vec<Zone> = zones.into_iter().filter(|z| same_name(&z.name, name)).collect();
        zones.sort_by_key(|z| z.status != "active");
        Ok(zones.into_iter().next().map(|z| Target { id: z.id, name: Some(z.name) }))
    }

    async fn zone_for(&self, record: &TxtRecord, fqdn: &str) -> Result<Target, ProviderError> {
        if let Some(id) = &self.inner.settings.zone_id {
            return Ok(Target { id: id.clone(), name: None });
        }
        let hint = record.zone.as_deref().map(normalize).filter(|z| is_within(fqdn, z));
        if let Some(hint) = &hint
            && let Some(zone) = self.lookup_zone(hint, fqdn).await?
        {
            return Ok(zone);
        }
        let labels: Vec<&str> = fqdn.trim_end_matches('.').split('.').collect();
        let mut tried = Vec::new();
        // Longest suffix first. A zone is a host name, so a label such as `_acme-challenge`
        // never starts one, and a single label is a top-level domain.
        for start in 0..labels.len().saturating_sub(1) {
            if labels[start].starts_with('_') {
                continue;
            }
            let candidate = normalize(&labels[start..].join("."));
            if hint.as_ref() == Some(&candidate) {
                continue;
            }
            if let Some(zone) = self.lookup_zone(&candidate, fqdn).await? {
                return Ok(zone);
            }
            tried.push(candidate);
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.describe(),
            fqdn: record.fqdn.clone(),
            detail: format!(
                "these credentials see no zone among {}; add the zone to the account, give the token Zone:Zone:Read on it, or set zone_id",
                hint.into_iter().chain(tried).collect::<Vec<_>>().join(", ")
            ),
        })
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let name = fqdn.trim_end_matches('.');
        let _serialized = self.inner.locks.lock(&fqdn).await;
        let zone = self.zone_for(record, &fqdn).await?;
        // The presentation form, one quoted string, as Cloudflare documents TXT content.
        let content = quote_txt(&record.value);
        let body = serde_json::to_vec(&NewRecord {
            rtype: "TXT",
            name,
            content: &content,
            ttl: record.ttl.max(MIN_TTL),
        })
        .map_err(|e| ProviderError::Config {
            provider: self.describe(),
            detail: format!("encoding the record: {e}"),
        })?;
        let path = format!("/zones/{}/dns_records", encode(&zone.id));
        let response = self.call(Method::POST, &path, Some(body), Scope::Records).await?;
        if classify(response.status) != StatusClass::Success
            && api_errors(&response.body).iter().any(|e| e.code == IDENTICAL_RECORD)
        {
            tracing::debug!(fqdn, zone = %zone.shown(), "value already present at cloudflare");
            return Ok(());
        }
        let action = format!("adding a TXT record at {name} in {}", zone.shown());
        self.result::<IgnoredAny>(&action, Scope::Records, &fqdn, &response)?;
        tracing::debug!(fqdn, zone = %zone.shown(), "cloudflare TXT record added");
        Ok(())
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let name = fqdn.trim_end_matches('.');
        let _serialized = self.inner.locks.lock(&fqdn).await;
        let zone = self.zone_for(record, &fqdn).await?;
        let zone_path = format!("/zones/{}/dns_records", encode(&zone.id));
        let path = format!("{zone_path}?type=TXT&name={}", encode(name));
        let response = self.call(Method::GET, &path, None, Scope::Records).await?;
        let action = format!("listing the TXT records at {name} in {}", zone.shown());
        let records: Vec<DnsRecord> =
            self.result(&action, Scope::Records, &fqdn, &response)?.unwrap_or_default();
        let ours = records.into_iter().filter(|r| {
            r.rtype.eq_ignore_ascii_case("TXT")
                && same_name(&r.name, name)
                && txt_text(&r.content) == record.value
        });
        for found in ours {
            let path = format!("{zone_path}/{}", encode(&found.id));
            let response = self.call(Method::DELETE, &path, None, Scope::Records).await?;
            if classify(response.status) == StatusClass::NotFound {
                // Removed meanwhile (code 81044, "record does not exist"): what we wanted.
                continue;
            }
            let action = format!("deleting TXT record {} at {name} in {}", found.id, zone.shown());
            self.result::<IgnoredAny>(&action, Scope::Records, &fqdn, &response)?;
            tracing::debug!(fqdn, zone = %zone.shown(), "cloudflare TXT record deleted");
        }
        Ok(())
    }
}

/// A header value that hyper never logs; the error names only the setting.
fn sensitive(text: &str, key: &str) -> Result<HeaderValue, String> {
    if text.trim().is_empty() {
        return Err(format!("{key} is empty"));
    }
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| format!("{key} contains characters that cannot be sent in an HTTP header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The `errors` of an answer, if it is the API's JSON.
fn api_errors(body: &[u8]) -> Vec<ApiError> {
    serde_json::from_slice::<Envelope<IgnoredAny>>(body).map(|e| e.errors).unwrap_or_default()
}

fn describe(settings: &CloudflareSettings) -> String {
    let url = settings.api_url.trim().trim_end_matches('/');
    // Never the user info of a (refused) URL that carries some.
    let shown = url.parse::<Uri>().map(|u| display_uri(&u)).unwrap_or_else(|_| "invalid api_url".into());
    match &settings.zone_id {
        Some(id) => format!("cloudflare ({shown}, zone_id {id})"),
        None => format!("cloudflare ({shown})"),
    }
}

impl DnsProvider for Cloudflare {
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

    fn settings() -> CloudflareSettings {
        CloudflareSettings {
            api_url: DEFAULT_API_URL.into(),
            auth: CloudflareAuth::Token { dns: Secret::new("cf-t0ken-secret"), zone: None },
            zone_id: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn describes_without_secrets() {
        let p = Cloudflare::new(settings()).unwrap();
        assert_eq!(p.describe(), "cloudflare (https://api.cloudflare.com/client/v4)");
        assert!(!format!("{p:?}").contains("cf-t0ken-secret"));
        let p = Cloudflare::new(CloudflareSettings {
            auth: CloudflareAuth::GlobalKey {
                email: "ops@example.com".into(),
                key: Secret::new("gl0bal-key"),
            },
            zone_id: Some("023e105f4ecef8ad9ca31a8372d0c353".into()),
            ..settings()
        })
        .unwrap();
        assert!(p.describe().ends_with("zone_id 023e105f4ecef8ad9ca31a8372d0c353)"), "{}", p.describe());
        assert!(!format!("{p:?}").contains("gl0bal-key"));
    }

    #[test]
    fn auth_headers_are_sensitive() {
        let p = Cloudflare::new(CloudflareSettings {
            auth: CloudflareAuth::Token {
                dns: Secret::new("dns-token"),
                zone: Some(Secret::new("zone-token")),
            },
            ..settings()
        })
        .unwrap();
        assert_eq!(p.inner.dns_auth[0].1.to_str().unwrap(), "Bearer dns-token");
        assert_eq!(p.inner.zone_auth[0].1.to_str().unwrap(), "Bearer zone-token");
        assert!(p.inner.dns_auth.iter().chain(&p.inner.zone_auth).all(|(_, v)| v.is_sensitive()));
    }

    #[test]
    fn refuses_bad_settings_without_showing_secrets() {
        let global =
            |email: &str, key: &str| CloudflareAuth::GlobalKey { email: email.into(), key: Secret::new(key) };
        for (s, expect) in [
            (CloudflareSettings { api_url: "api.cloudflare.com".into(), ..settings() }, "http://"),
            (
                CloudflareSettings { api_url: "https://u:cf-t0ken-secret@api.example".into(), ..settings() },
                "user info",
            ),
            (
                CloudflareSettings {
                    auth: CloudflareAuth::Token { dns: Secret::new(""), zone: None },
                    ..settings()
                },
                "api_token is empty",
            ),
            (
                CloudflareSettings {
                    auth: CloudflareAuth::Token {
                        dns: Secret::new("cf-t0ken-secret"),
                        zone: Some(Secret::new("bad\nzone")),
                    },
                    ..settings()
                },
                "zone_api_token contains characters",
            ),
            (CloudflareSettings { auth: global("", "cf-t0ken-secret"), ..settings() }, "email is empty"),
            (CloudflareSettings { auth: global("ops@example.com", " "), ..settings() }, "api_key is empty"),
            (
                CloudflareSettings { zone_id: Some("example.com".into()), ..settings() },
                "not a Cloudflare zone ID",
            ),
        ] {
            let err = Cloudflare::new(s).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(matches!(err, ProviderError::Config { .. }), "{text}");
            assert!(text.contains(expect), "{text}");
            assert!(!text.contains("cf-t0ken-secret"), "{text}");
        }
    }

    #[test]
    fn new_record_json_shape() {
        let json = serde_json::to_string(&NewRecord {
            rtype: "TXT",
            name: "_acme-challenge.example.com",
            content: &quote_txt("abc"),
            ttl: 120,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"TXT","name":"_acme-challenge.example.com","content":"\"abc\"","ttl":120}"#
        );
    }

    #[test]
    fn reads_error_envelopes() {
        let body = br#"{"success":false,"errors":[{"code":81058,"message":"An identical record already exists."}],"messages":[],"result":null}"#;
        let errors = api_errors(body);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, IDENTICAL_RECORD);
        let body = br#"{"success":false,"errors":[{"code":1004,"message":"DNS Validation Error","error_chain":[{"code":9021,"message":"Invalid TTL"}]}],"result":null}"#;
        assert_eq!(
            api_errors(body)[0].to_string(),
            "DNS Validation Error (code 1004): Invalid TTL (code 9021)"
        );
        assert!(api_errors(b"<html>bad gateway</html>").is_empty());
    }

    #[test]
    fn encodes_query_parts() {
        assert_eq!(encode("_acme-challenge.example.com"), "_acme-challenge.example.com");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }
}
