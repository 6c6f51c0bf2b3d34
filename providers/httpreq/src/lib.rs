//! Any DNS provider behind an HTTP endpoint, with lego's `httpreq` contract, so hooks written
//! for lego (and the Gradient installer) keep working.
//!
//! Default mode POSTs JSON to `<endpoint>/present` and `<endpoint>/cleanup`:
//!
//! ```json
//! {"fqdn": "_acme-challenge.example.com.", "value": "<TXT value>"}
//! ```
//!
//! `fqdn` has a trailing dot and is the record to write (already the CNAME target when
//! `_acme-challenge` is delegated). The receiver must add the value without removing others
//! (the apex and the wildcard share the name) and remove only that value on cleanup.
//!
//! `RAW` mode sends the ACME challenge instead:
//!
//! ```json
//! {"domain": "example.com", "token": "<token>", "keyAuth": "<key authorization>"}
//! ```
//!
//! `domain` is the identifier without `*.` and without a trailing dot. A record carries these
//! only when it was made for an ACME challenge (`TxtRecord::raw`); a probe without one (such
//! as `wildcert dns check`) is refused in this mode.
//!
//! With `username` and `password` the request carries HTTP basic authentication. Any 2xx
//! answer is success; 401/403 is an authentication error, 408/429/5xx a temporary one.

#![warn(missing_docs)]

mod spec;
pub use spec::HttpreqConfig;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri};
use serde::Serialize;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::{HttpClient, Retry, StatusClass, basic_auth, classify, display_uri, status_error};

/// Default or RAW, as in lego.
pub use wildcert_dns_api::LegoMode as Mode;

/// Settings of the httpreq adapter, as plain values (the caller owns the config format).
#[derive(Debug, Clone)]
pub struct HttpreqSettings {
    /// Base URL; `/present` and `/cleanup` are appended to its path.
    pub endpoint: String,
    /// What is posted: the record (default) or lego's raw challenge (`RAW`).
    pub mode: Mode,
    /// Basic authentication; both or neither.
    pub username: Option<String>,
    /// The password for `username`.
    pub password: Option<Secret>,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Extra trusted roots (PEM) for an endpoint behind an internal CA.
    pub ca_certificates: Option<PathBuf>,
}

/// The httpreq adapter. Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Httpreq {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: HttpreqSettings,
    /// The endpoint without a trailing slash.
    base: String,
    client: HttpClient,
}

#[derive(Serialize)]
struct Message<'a> {
    fqdn: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct RawMessage<'a> {
    domain: &'a str,
    token: &'a str,
    #[serde(rename = "keyAuth")]
    key_auth: &'a str,
}

impl Httpreq {
    /// Checks the settings and prepares the HTTP client; no network I/O.
    pub fn new(settings: HttpreqSettings) -> Result<Httpreq, ProviderError> {
        let config = |detail: String| ProviderError::Config { provider: describe(&settings), detail };
        let base = settings.endpoint.trim().trim_end_matches('/').to_string();
        let uri: Uri = base.parse().map_err(|_| {
            config("endpoint is not a URL; write e.g. https://dns-hook.example.com/acme".into())
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(config(format!(
                "endpoint {} must be an http:// or https:// URL with a host",
                display_uri(&uri)
            )));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(config(
                "endpoint must not carry user info; put the user in username and the password in password_file".into(),
            ));
        }
        if uri.query().is_some() {
            return Err(config(format!(
                "endpoint {} has a query string; /present and /cleanup are appended to the path, so give a URL without one",
                display_uri(&uri)
            )));
        }
        match (&settings.username, &settings.password) {
            (Some(_), None) => {
                return Err(config("username is set but password is not; give both or neither".into()));
            }
            (None, Some(_)) => {
                return Err(config("password is set but username is not; give both or neither".into()));
            }
            (Some(user), Some(_)) if user.contains(':') => {
                return Err(config(
                    "username must not contain ':' (basic authentication separates with it)".into(),
                ));
            }
            _ => {}
        }
        let client =
            HttpClient::new(settings.timeout, settings.ca_certificates.as_deref()).map_err(config)?;
        Ok(Httpreq { inner: Arc::new(Inner { settings, base, client }) })
    }

    /// The settings it was built from, for messages and tests.
    pub fn settings(&self) -> &HttpreqSettings {
        &self.inner.settings
    }

    async fn post(&self, action: &str, record: &TxtRecord) -> Result<(), ProviderError> {
        let provider = self.describe();
        let mut secrets: Vec<&Secret> = self.inner.settings.password.iter().collect();
        let body = match self.inner.settings.mode {
            Mode::Default => {
                let fqdn = if record.fqdn.ends_with('.') { record.fqdn.clone() } else { format!("{}.", record.fqdn) };
                serde_json::to_vec(&Message { fqdn: &fqdn, value: &record.value })
            }
            Mode::Raw => {
                let Some(raw) = &record.raw else {
                    return Err(ProviderError::Config {
                        provider,
                        detail: format!(
                            "mode RAW needs the ACME challenge (domain, token, key authorization), and the record for {} has none (it is not part of an ACME order); use the default mode to write plain records",
                            record.fqdn
                        ),
                    });
                };
                secrets.push(&raw.key_authorization);
                serde_json::to_vec(&RawMessage {
                    domain: &raw.domain,
                    token: &raw.token,
                    key_auth: raw.key_authorization.expose(),
                })
            }
        }
        .map_err(|e| ProviderError::Config { provider: provider.clone(), detail: format!("encoding the request: {e}") })?;

        let url = format!("{}/{action}", self.inner.base);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/plain, */*");
        if let (Some(user), Some(password)) = (&self.inner.settings.username, &self.inner.settings.password) {
            request = request.header(http::header::AUTHORIZATION, basic_auth(user, password));
        }
        let request = request.body(Bytes::from(body)).map_err(|e| ProviderError::Config {
            provider: provider.clone(),
            detail: format!("cannot build a request for the endpoint: {e}"),
        })?;
        let shown = request.uri().clone();
        let response = self.inner.client.send_retrying(&provider, request, Retry::default()).await?;
        let what = format!("POST {}", display_uri(&shown));
        match classify(response.status) {
            StatusClass::Success => {
                tracing::debug!(endpoint = %display_uri(&shown), fqdn = %record.fqdn, "httpreq accepted");
                Ok(())
            }
            StatusClass::NotFound => Err(ProviderError::Rejected {
                provider,
                detail: format!(
                    "{what}: HTTP 404: the endpoint has no /{action}; check endpoint (the receiver must serve <endpoint>/present and <endpoint>/cleanup)"
                ),
            }),
            _ => Err(status_error(
                &provider,
                &what,
                &response,
                &secrets,
                "check username and password (lego: HTTPREQ_USERNAME, HTTPREQ_PASSWORD)",
            )),
        }
    }
}

fn describe(settings: &HttpreqSettings) -> String {
    let shown = settings
        .endpoint
        .parse::<Uri>()
        .map(|u| display_uri(&u))
        .unwrap_or_else(|_| "invalid endpoint".into());
    match settings.mode {
        Mode::Default => format!("httpreq ({shown})"),
        Mode::Raw => format!("httpreq ({shown}, RAW)"),
    }
}

impl DnsProvider for Httpreq {
    fn describe(&self) -> String {
        describe(&self.inner.settings)
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.post("present", record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.post("cleanup", record).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str) -> HttpreqSettings {
        HttpreqSettings {
            endpoint: endpoint.into(),
            mode: Mode::Default,
            username: None,
            password: None,
            timeout: Duration::from_secs(5),
            ca_certificates: None,
        }
    }

    #[test]
    fn endpoint_is_checked() {
        assert_eq!(
            Httpreq::new(settings("https://hook.example/acme/")).unwrap().inner.base,
            "https://hook.example/acme"
        );
        let err = Httpreq::new(settings("https://bob:pa55word@hook.example/")).unwrap_err().to_string();
        assert!(err.contains("password_file") && !err.contains("pa55word"), "{err}");
        assert!(Httpreq::new(settings("hook.example")).unwrap_err().to_string().contains("http://"));
        assert!(
            Httpreq::new(settings("https://hook.example/?x=1")).unwrap_err().to_string().contains("query")
        );
    }

    #[test]
    fn credentials_come_in_pairs() {
        let s = HttpreqSettings { username: Some("bob".into()), ..settings("https://hook.example") };
        assert!(Httpreq::new(s).unwrap_err().to_string().contains("password is not"));
        let s =
            HttpreqSettings { password: Some(Secret::new("pa55word")), ..settings("https://hook.example") };
        let err = Httpreq::new(s).unwrap_err().to_string();
        assert!(err.contains("username is not") && !err.contains("pa55word"), "{err}");
    }

    #[test]
    fn messages_match_lego() {
        let m = serde_json::to_string(&Message { fqdn: "_acme-challenge.example.com.", value: "v" }).unwrap();
        assert_eq!(m, r#"{"fqdn":"_acme-challenge.example.com.","value":"v"}"#);
        let r = serde_json::to_string(&RawMessage { domain: "example.com", token: "t", key_auth: "t.k" })
            .unwrap();
        assert_eq!(r, r#"{"domain":"example.com","token":"t","keyAuth":"t.k"}"#);
    }

    #[test]
    fn debug_hides_password() {
        let s = HttpreqSettings {
            username: Some("bob".into()),
            password: Some(Secret::new("pa55word")),
            ..settings("https://hook.example")
        };
        assert!(!format!("{:?}", Httpreq::new(s).unwrap()).contains("pa55word"));
    }
}
