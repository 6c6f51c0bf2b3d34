//! The toolkit wildcert's HTTP-API DNS adapters share: one HTTP client, [`Api`] (base URL,
//! authentication headers, retries with `Retry-After`, redaction, JSON and form bodies),
//! [`oauth`] client-credentials tokens, [`jwt`] service-account tokens, [`keystone`] and
//! [`identity_v2`] OpenStack identity tokens (with what they share in [`identity`]), [`metadata`] instance-identity tokens, [`sign`]
//! request-signing digests, [`zone`] zone finding and [`xml`] answers.
//!
//! hyper 1 over rustls with the aws-lc-rs provider and the system's roots (plus, optionally,
//! a PEM file of extra roots for an internal CA); one deadline per request that covers
//! connecting, sending and reading the whole answer; and one mapping of HTTP statuses to
//! `ProviderError` kinds, so both adapters report a refused key or an overloaded API alike.
#![warn(missing_docs)]

pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
pub mod clock;
pub mod identity;
pub mod identity_v2;
pub mod job_wait;
pub mod jwt;
pub mod keystone;
pub mod metadata;
pub mod oauth;
pub mod proxy;
pub mod rsa_key;
pub mod sign;
pub mod token_cache;
pub mod xml;
pub mod zone;

pub use api::{Api, Body, Retry, form_encode};
pub use job_wait::JobWait;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use wildcert_dns_api::{ProviderError, Secret};

/// Answers larger than this are refused; a PowerDNS zone with all its RRsets stays far below.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// How much of an error answer's body goes into a message.
const EXCERPT_CHARS: usize = 300;

/// The deadline of one API request unless an adapter's `timeout` setting says otherwise;
/// for `#[serde(default = "wildcert_dns_http::default_timeout")]`.
pub fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// An HTTP(S) client with a deadline per request.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<proxy::ProxyConnector>, Full<Bytes>>,
    proxy: proxy::ProxyConnector,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// A complete answer: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status; [`classify`] turns it into what to do.
    pub status: StatusCode,
    /// The headers, for `Retry-After` and paging links.
    pub headers: HeaderMap,
    /// The whole body (untrusted; excerpts in messages are redacted).
    pub body: Bytes,
}

impl HttpClient {
    /// A client that trusts the system's roots and, when given, the certificates in the PEM
    /// file `extra_roots` (for an API behind an internal CA). Plain `http://` works as well.
    /// The API is reached through the proxy in force (`[network] proxy`, else
    /// `HTTPS_PROXY` / `HTTP_PROXY`), unless `NO_PROXY` exempts it: see [`proxy`].
    pub fn new(timeout: Duration, extra_roots: Option<&Path>) -> Result<HttpClient, String> {
        HttpClient::with_connector(timeout, extra_roots, proxy::ProxyConnector::from_current()?)
    }

    /// As `new`, connecting through `connector` (a fixed proxy set-up, for tests).
    pub fn with_connector(
        timeout: Duration,
        extra_roots: Option<&Path>,
        connector: proxy::ProxyConnector,
    ) -> Result<HttpClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system roots only matter for https:// URLs, where the handshake then
        // fails naming the unknown issuer; http:// keeps working.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = extra_roots {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("CA certificates {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("CA certificates {}: no PEM CERTIFICATE block found", path.display()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| format!("CA certificates {}: {e}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let proxy = connector.clone();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HttpClient { client, proxy, timeout })
    }

    /// The deadline of one request, for messages and retry budgets.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `request` and reads the whole answer within the client's timeout. Fails only
    /// when no complete HTTP answer arrived (`Unreachable`); every status, 4xx and 5xx
    /// included, comes back as a `Response` for the caller to judge.
    pub async fn send(
        &self,
        provider: &str,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response, ProviderError> {
        let target = display_uri(request.uri());
        self.proxy.authorize(&mut request);
        let work = async {
            let response = self.client.request(request).await.map_err(|e| error_chain(&e))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>(Response { status: parts.status, headers: parts.headers, body })
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(detail)) => Err(ProviderError::Unreachable {
                provider: provider.to_string(),
                detail: format!("{target}: {detail}"),
            }),
            Err(_) => Err(ProviderError::Unreachable {
                provider: provider.to_string(),
                detail: format!(
                    "{target}: no complete answer within {:?}; is the service up and reachable?",
                    self.timeout
                ),
            }),
        }
    }
}

impl HttpClient {
    /// Sends `request`, retrying answers that say "later" (408, 429, 5xx) as `retry` allows,
    /// waiting for `Retry-After` (capped at `retry.max_wait`) or a growing pause. Returns the
    /// last complete answer for the caller to judge. An unreachable server is not retried
    /// here (each attempt could cost a whole timeout): it is a transient error for the
    /// scheduler.
    pub async fn send_retrying(
        &self,
        provider: &str,
        request: Request<Bytes>,
        retry: Retry,
    ) -> Result<Response, ProviderError> {
        self.send_attempts(provider, retry, || {
            let mut copy = Request::builder().method(request.method().clone()).uri(request.uri().clone());
            if let Some(headers) = copy.headers_mut() {
                *headers = request.headers().clone();
            }
            copy.body(request.body().clone()).map_err(|e| ProviderError::Config {
                provider: provider.to_string(),
                detail: format!("cannot build a request for {}: {e}", display_uri(request.uri())),
            })
        })
        .await
    }

    /// `send_retrying` for requests that must differ on each attempt: `attempt` builds the
    /// request anew every time (a fresh nonce and timestamp for APIs that refuse a replayed
    /// signature, such as Alibaba's `SignatureNonce` or Akamai's EdgeGrid nonce).
    pub async fn send_attempts(
        &self,
        provider: &str,
        retry: Retry,
        mut attempt_request: impl FnMut() -> Result<Request<Bytes>, ProviderError>,
    ) -> Result<Response, ProviderError> {
        let mut attempt = 1;
        loop {
            let request = attempt_request()?.map(Full::new);
            let result = self.send(provider, request).await;
            let wait = match &result {
                Ok(response) if classify(response.status) == StatusClass::Temporary => {
                    retry_after(&response.headers)
                }
                _ => return result,
            };
            if attempt >= retry.attempts {
                return result;
            }
            let wait = wait.unwrap_or(retry.first_pause.saturating_mul(1 << (attempt - 1).min(8)));
            if wait > retry.max_wait {
                return result;
            }
            let status = result.as_ref().map(|r| r.status.as_u16()).unwrap_or(0);
            tracing::debug!(provider, status, ?wait, attempt, "retrying API call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for path segments and
/// query values.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `scheme://host:port/path` of a URI, without user info or query: safe for messages.
pub fn display_uri(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri.host().unwrap_or("?");
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", uri.path())
}

/// The messages of an error and its sources, `outer: inner`, each once.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// An `Authorization: Basic ...` header value, marked sensitive so that hyper never logs it.
pub fn basic_auth(username: &str, password: &Secret) -> HeaderValue {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", password.expose()));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// An `Authorization: Bearer <token>` header value for a token fetched at run time (OAuth2,
/// metadata service), marked sensitive so that hyper never logs it; `None` when the token
/// holds characters a header cannot carry, which the caller reports as its token source's
/// fault.
pub fn bearer(token: &Secret) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// What an HTTP status means for a DNS adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx.
    Success,
    /// 3xx: the API moved; hyper does not follow redirects for us.
    Redirect,
    /// 401/403: credentials refused.
    Auth,
    /// 404.
    NotFound,
    /// Other 4xx: the request was understood and refused.
    Rejected,
    /// 408, 429 and 5xx: try again later.
    Temporary,
}

/// What a status means for the adapter: success, retry later, fix credentials, and so on.
pub fn classify(status: StatusCode) -> StatusClass {
    match status.as_u16() {
        200..=299 => StatusClass::Success,
        300..=399 => StatusClass::Redirect,
        401 | 403 => StatusClass::Auth,
        404 => StatusClass::NotFound,
        408 | 429 => StatusClass::Temporary,
        400..=499 => StatusClass::Rejected,
        _ => StatusClass::Temporary,
    }
}

/// A `Retry-After` given in seconds (the HTTP-date form is ignored).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Replaces every occurrence of a secret's value in `text` with `[redacted]`: for text that
/// comes from elsewhere (an answer body) and might echo what we sent.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        let value = secret.expose();
        if !value.is_empty() {
            out = out.replace(value, "[redacted]");
        }
    }
    out
}

/// The start of an answer body on one line, for error messages, with secrets redacted.
pub fn excerpt(body: &[u8], secrets: &[&Secret]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = one_line.chars().take(EXCERPT_CHARS).collect();
    if one_line.chars().count() > EXCERPT_CHARS {
        short.push_str("...");
    }
    let short = redact(&short, secrets);
    if short.is_empty() { "(empty body)".to_string() } else { short }
}

/// The error for an answer that is not a success: `Auth` for 401/403 (with `auth_hint`
/// saying which setting to check), `Temporary` for 408/429/5xx, `Rejected` otherwise.
/// `action` says what was attempted, e.g. `POST https://dns-hook.example/present`.
pub fn status_error(
    provider: &str,
    action: &str,
    response: &Response,
    secrets: &[&Secret],
    auth_hint: &str,
) -> ProviderError {
    let provider = provider.to_string();
    let status = response.status;
    let body = excerpt(&response.body, secrets);
    match classify(status) {
        StatusClass::Auth => {
            ProviderError::Auth { provider, detail: format!("{action}: HTTP {status}: {body}; {auth_hint}") }
        }
        StatusClass::Temporary => ProviderError::Temporary {
            provider,
            detail: format!("{action}: HTTP {status}: {body}"),
            retry_after: retry_after(&response.headers),
        },
        StatusClass::Redirect => {
            let location = response
                .headers
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.parse::<Uri>().ok())
                .map(|l| display_uri(&l))
                .unwrap_or_else(|| "(no Location)".into());
            ProviderError::Rejected {
                provider,
                detail: format!(
                    "{action}: HTTP {status}, redirected to {location}; configure the final URL (redirects are not followed)"
                ),
            }
        }
        StatusClass::Success | StatusClass::NotFound | StatusClass::Rejected => {
            ProviderError::Rejected { provider, detail: format!("{action}: HTTP {status}: {body}") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn classifies_statuses() {
        assert_eq!(classify(StatusCode::NO_CONTENT), StatusClass::Success);
        assert_eq!(classify(StatusCode::FORBIDDEN), StatusClass::Auth);
        assert_eq!(classify(StatusCode::TOO_MANY_REQUESTS), StatusClass::Temporary);
        assert_eq!(classify(StatusCode::BAD_GATEWAY), StatusClass::Temporary);
        assert_eq!(classify(StatusCode::UNPROCESSABLE_ENTITY), StatusClass::Rejected);
        assert_eq!(classify(StatusCode::NOT_FOUND), StatusClass::NotFound);
    }

    #[test]
    fn display_drops_user_info_and_query() {
        let uri: Uri = "https://user:hunter2@dns.example:8443/api/v1?key=hunter2".parse().unwrap();
        assert_eq!(display_uri(&uri), "https://dns.example:8443/api/v1");
    }

    #[test]
    fn excerpt_is_short_single_line_and_redacted() {
        let secret = Secret::new("hunter2");
        let body = format!("bad\n  key  hunter2 {}", "x".repeat(1000));
        let text = excerpt(body.as_bytes(), &[&secret]);
        assert!(text.starts_with("bad key [redacted] x"), "{text}");
        assert!(text.ends_with("...") && text.len() < 400, "{text}");
        assert_eq!(excerpt(b"", &[]), "(empty body)");
    }

    #[test]
    fn bearer_is_sensitive_and_refuses_what_a_header_cannot_carry() {
        let value = bearer(&Secret::new("ya29.token")).unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer ya29.token");
        assert!(value.is_sensitive());
        assert!(bearer(&Secret::new("bad\ntoken")).is_none());
    }

    #[test]
    fn basic_auth_is_sensitive() {
        let value = basic_auth("acme", &Secret::new("pw"));
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Basic YWNtZTpwdw==");
    }

    #[test]
    fn status_errors_carry_hint_and_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("7"));
        let busy = Response { status: StatusCode::SERVICE_UNAVAILABLE, headers, body: Bytes::new() };
        match status_error("p", "POST x", &busy, &[], "hint") {
            ProviderError::Temporary { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)))
            }
            other => panic!("{other}"),
        }
        let denied =
            Response { status: StatusCode::UNAUTHORIZED, headers: HeaderMap::new(), body: Bytes::new() };
        let err = status_error("p", "POST x", &denied, &[], "check the api key");
        assert!(matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("check the api key"));
    }

    #[tokio::test]
    async fn silent_server_times_out_as_unreachable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = HttpClient::new(Duration::from_millis(300), None).unwrap();
        let request = Request::get(format!("http://{addr}/x")).body(Full::new(Bytes::new())).unwrap();
        let err = client.send("test", request).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("no complete answer within"), "{err}");
        server.abort();
    }

    #[tokio::test]
    async fn refused_connection_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = HttpClient::new(Duration::from_secs(2), None).unwrap();
        let request = Request::get(format!("http://{addr}/x")).body(Full::new(Bytes::new())).unwrap();
        let err = client.send("test", request).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unreachable { .. }), "{err}");
    }

    #[test]
    fn extra_roots_must_hold_a_certificate() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = HttpClient::new(Duration::from_secs(1), Some(&path)).unwrap_err();
        assert!(err.contains("no PEM CERTIFICATE"), "{err}");
    }
}
