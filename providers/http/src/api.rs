//! One HTTP API as an adapter sees it: a base URL (the `api_url` setting), the headers that
//! authenticate every call, the secrets to keep out of messages, and one retry policy.
//!
//! `call` retries 408/429/5xx answers and unreachable servers, waiting for the API's
//! `Retry-After` (capped) or a short growing pause, then returns the last answer; every
//! complete answer comes back for the adapter to judge. `json` and `form` build the usual
//! request bodies; `parse` reads a successful JSON answer or says what went wrong, with
//! secrets redacted and the setting to check named.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName};
use http::{HeaderValue, Method, Request, Uri};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wildcert_dns_api::{ProviderError, Secret};

use crate::{HttpClient, Response, StatusClass, classify, display_uri, excerpt, status_error};

/// How often and how long one call is retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The longest wait between attempts; a longer `Retry-After` ends the call, reported
    /// as `Temporary` carrying that delay.
    pub max_wait: Duration,
    /// The pause after the first failure without `Retry-After`; it doubles each time.
    pub first_pause: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry { attempts: 3, max_wait: Duration::from_secs(10), first_pause: Duration::from_millis(500) }
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body (GET, DELETE).
    Empty,
    /// `application/json`.
    Json(Vec<u8>),
    /// `application/x-www-form-urlencoded`.
    Form(String),
}

impl Body {
    /// A JSON body from any serializable value.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Body {
        Body::Json(serde_json::to_vec(value).expect("plain data serializes to JSON"))
    }

    /// A form body: `a=1&b=two%20words`.
    pub fn form(fields: &[(&str, &str)]) -> Body {
        Body::Form(form_encode(fields))
    }
}

/// `a=1&b=two%20words`, for form bodies and query strings.
pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", crate::encode(k), crate::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A client for one HTTP API. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    provider: String,
    base: String,
    client: HttpClient,
    headers: Vec<(HeaderName, HeaderValue)>,
    secrets: Vec<Secret>,
    retry: Retry,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("provider", &self.provider)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Checks an API base URL: http(s), a host, no user info, no query. The message names
/// `key`, the setting it came from.
pub fn check_base_url(url: &str, key: &str) -> Result<String, String> {
    let base = url.trim().trim_end_matches('/').to_string();
    let uri: Uri = base.parse().map_err(|_| format!("{key} is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!("{key} {} must be an http:// or https:// URL with a host", display_uri(&uri)));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!("{key} must not carry user info; credentials have their own settings"));
    }
    if uri.query().is_some() {
        return Err(format!("{key} {} must not have a query string", display_uri(&uri)));
    }
    Ok(base)
}

impl Api {
    /// `provider` names the adapter in messages (`digitalocean`); `api_url` is the base URL
    /// every path is appended to.
    pub fn new(provider: &str, api_url: &str, client: HttpClient) -> Result<Api, ProviderError> {
        let base = check_base_url(api_url, "api_url")
            .map_err(|detail| ProviderError::Config { provider: provider.to_string(), detail })?;
        Ok(Api {
            provider: provider.to_string(),
            base,
            client,
            headers: Vec::new(),
            secrets: Vec::new(),
            retry: Retry::default(),
        })
    }

    /// The client of adapter `code` (`digitalocean`) for the API at `api_url`, named
    /// `code (api_url)` in messages, with a deadline of `timeout` per request. No I/O.
    pub fn connect(code: &str, api_url: &str, timeout: Duration) -> Result<Api, ProviderError> {
        let provider = format!("{code} ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        Api::new(&provider, api_url, client)
    }

    /// Refuses a blank credential, naming its setting `key`: an empty file or variable would
    /// otherwise surface later as a puzzling authentication failure.
    pub fn require(self, key: &str, secret: &Secret) -> Result<Api, ProviderError> {
        if secret.expose().trim().is_empty() {
            return Err(ProviderError::Config { provider: self.provider, detail: format!("{key} is empty") });
        }
        Ok(self)
    }

    /// Adds a header sent with every call; a header made from `secret` is marked sensitive
    /// and the secret is redacted from every message.
    pub fn with_secret_header(
        mut self,
        name: HeaderName,
        value: String,
        secret: &Secret,
    ) -> Result<Api, ProviderError> {
        let mut value = HeaderValue::from_str(&value).map_err(|_| ProviderError::Config {
            provider: self.provider.clone(),
            detail: format!("the credential for {name} contains characters an HTTP header cannot carry"),
        })?;
        value.set_sensitive(true);
        self.headers.push((name, value));
        self.secrets.push(secret.clone());
        Ok(self)
    }

    /// `Authorization: Bearer <token>`.
    pub fn with_bearer(self, token: &Secret) -> Result<Api, ProviderError> {
        let value = format!("Bearer {}", token.expose().trim());
        self.with_secret_header(http::header::AUTHORIZATION, value, token)
    }

    /// A secret to redact from messages without sending it as a header (signing keys).
    pub fn with_redacted(mut self, secret: &Secret) -> Api {
        self.secrets.push(secret.clone());
        self
    }

    /// Replaces the default retry policy, for APIs with their own rate limits.
    pub fn with_retry(mut self, retry: Retry) -> Api {
        self.retry = retry;
        self
    }

    /// The adapter's name as messages give it.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The base URL (`api_url`) calls are made relative to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Every secret this client knows, for adapters that redact answers themselves.
    pub fn secrets(&self) -> Vec<&Secret> {
        self.secrets.iter().collect()
    }

    /// Sends one call with retries. `extra` are per-call headers (signatures, fresh tokens);
    /// mark secret ones sensitive.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: &Body,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Response, ProviderError> {
        self.call_signed(method, path_and_query, || Ok((body.clone(), extra.to_vec()))).await
    }

    /// Sends one call whose body and headers are signed anew for every attempt: `sign`
    /// returns them (a fresh nonce, timestamp and signature each time), so a retry never
    /// replays a signature the API may refuse as seen before.
    pub async fn call_signed(
        &self,
        method: Method,
        path_and_query: &str,
        sign: impl Fn() -> Result<(Body, Vec<(HeaderName, HeaderValue)>), ProviderError>,
    ) -> Result<Response, ProviderError> {
        let url = format!("{}{path_and_query}", self.base);
        let attempt = || {
            let (body, headers) = sign()?;
            self.request(&method, &url, &body, &headers)
        };
        self.client.send_attempts(&self.provider, self.retry, attempt).await.map_err(|e| match e {
            ProviderError::Unreachable { provider, detail } => {
                ProviderError::Unreachable { provider, detail: crate::redact(&detail, &self.secrets()) }
            }
            other => other,
        })
    }

    fn request(
        &self,
        method: &Method,
        url: &str,
        body: &Body,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Request<Bytes>, ProviderError> {
        let mut request =
            Request::builder().method(method.clone()).uri(url).header(ACCEPT, "application/json");
        for (name, value) in self.headers.iter().chain(extra) {
            request = request.header(name, value);
        }
        let bytes = match body {
            Body::Empty => Bytes::new(),
            Body::Json(bytes) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Bytes::from(bytes.clone())
            }
            Body::Form(text) => {
                request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(text.clone())
            }
        };
        request.body(bytes).map_err(|e| ProviderError::Config {
            provider: self.provider.clone(),
            detail: format!("cannot build a request for {}: {e}", self.base),
        })
    }

    /// The error for an answer that is not a success: `auth_hint` names the setting to
    /// check when credentials are refused.
    pub fn error(&self, action: &str, response: &Response, auth_hint: &str) -> ProviderError {
        status_error(&self.provider, action, response, &self.secrets(), auth_hint)
    }

    /// A successful answer's JSON, or the error saying what went wrong.
    pub fn parse<T: DeserializeOwned>(
        &self,
        action: &str,
        response: &Response,
        auth_hint: &str,
    ) -> Result<T, ProviderError> {
        if classify(response.status) != StatusClass::Success {
            return Err(self.error(action, response, auth_hint));
        }
        let body: &[u8] = if response.body.is_empty() { b"null" } else { &response.body };
        serde_json::from_slice(body).map_err(|e| ProviderError::Rejected {
            provider: self.provider.clone(),
            detail: format!(
                "{action}: the answer is not the JSON this API documents ({e}): {}; is api_url the API's base URL?",
                excerpt(&response.body, &self.secrets())
            ),
        })
    }

    /// `DELETE path`; an answer of 404 means the thing is gone already, which is what a
    /// cleanup wants.
    pub async fn delete(&self, path: &str, auth_hint: &str) -> Result<(), ProviderError> {
        let response = self.call(Method::DELETE, path, &Body::Empty, &[]).await?;
        self.deleted(path, &response, auth_hint)
    }

    /// Judges the answer to `DELETE path` for adapters that send the request themselves
    /// (per-request signatures): success, or 404 since the thing is gone already (a concurrent
    /// cleanup), which is what a cleanup wants; anything else is the API's error.
    pub fn deleted(&self, path: &str, response: &Response, auth_hint: &str) -> Result<(), ProviderError> {
        match classify(response.status) {
            StatusClass::Success | StatusClass::NotFound => Ok(()),
            _ => Err(self.error(&format!("DELETE {path}"), response, auth_hint)),
        }
    }

    /// `call` then `parse`.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: &Body,
        auth_hint: &str,
    ) -> Result<T, ProviderError> {
        let action = format!("{method} {}", path_and_query.split('?').next().unwrap_or_default());
        let response = self.call(method, path_and_query, body, &[]).await?;
        self.parse(&action, &response, auth_hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Answers each connection with the next canned response; returns the requests it read.
    async fn serve(answers: Vec<&'static str>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            for answer in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                requests.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                socket.write_all(answer.as_bytes()).await.unwrap();
                let _ = socket.shutdown().await;
            }
            requests
        });
        (url, task)
    }

    const BUSY: &str =
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    const OK: &str = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

    fn api(url: &str) -> Api {
        let client = HttpClient::new(Duration::from_secs(5), None).unwrap();
        Api::new("test", url, client).unwrap().with_bearer(&Secret::new("tok-hunter2")).unwrap()
    }

    #[tokio::test]
    async fn retries_busy_answers_then_succeeds() {
        let (url, server) = serve(vec![BUSY, BUSY, OK]).await;
        let value: serde_json::Value = api(&url).json(Method::GET, "/x", &Body::Empty, "hint").await.unwrap();
        assert_eq!(value["ok"], true);
        assert_eq!(server.await.unwrap().len(), 3);
    }

    /// A signed call is signed again for each attempt: a retry carries a fresh signature
    /// (APIs with single-use nonces refuse a replayed one), never the first attempt's.
    #[tokio::test]
    async fn a_signed_call_is_signed_anew_for_each_attempt() {
        let (url, server) = serve(vec![BUSY, BUSY, OK]).await;
        let counter = std::sync::atomic::AtomicU32::new(0);
        let sign = || {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let header =
                (HeaderName::from_static("x-nonce"), HeaderValue::from_str(&format!("nonce-{n}")).unwrap());
            Ok((Body::Form(format!("nonce=form-{n}")), vec![header]))
        };
        let response = api(&url).call_signed(Method::POST, "/x", sign).await.unwrap();
        assert_eq!(response.status.as_u16(), 200);
        let requests = server.await.unwrap();
        for (n, request) in requests.iter().enumerate() {
            assert!(request.contains(&format!("x-nonce: nonce-{n}")), "attempt {n}:\n{request}");
            assert!(request.ends_with(&format!("nonce=form-{n}")), "attempt {n}:\n{request}");
        }
    }

    #[tokio::test]
    async fn gives_up_as_temporary() {
        let (url, _server) = serve(vec![BUSY, BUSY, BUSY]).await;
        let err =
            api(&url).json::<serde_json::Value>(Method::GET, "/x", &Body::Empty, "hint").await.unwrap_err();
        assert!(err.is_transient(), "{err}");
    }

    #[tokio::test]
    async fn long_retry_after_is_not_waited_for() {
        const SLOW: &str =
            "HTTP/1.1 503 Unavailable\r\nRetry-After: 3600\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let (url, server) = serve(vec![SLOW]).await;
        let err =
            api(&url).json::<serde_json::Value>(Method::GET, "/x", &Body::Empty, "hint").await.unwrap_err();
        match err {
            ProviderError::Temporary { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3600)))
            }
            other => panic!("{other}"),
        }
        assert_eq!(server.await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn refusal_names_the_setting_and_hides_the_token() {
        const DENIED: &str = "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 27\r\n\r\nbad token tok-hunter2 given";
        let (url, _server) = serve(vec![DENIED]).await;
        let err = api(&url)
            .json::<serde_json::Value>(Method::GET, "/x?token=tok-hunter2", &Body::Empty, "check api_token")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Auth { .. }), "{text}");
        assert!(text.contains("check api_token") && !text.contains("hunter2"), "{text}");
    }

    #[tokio::test]
    async fn delete_takes_gone_as_done() {
        const GONE: &str = "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        const DENIED: &str = "HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let (url, _server) = serve(vec![GONE, DENIED]).await;
        api(&url).delete("/records/1", "check api_token").await.unwrap();
        let err = api(&url).delete("/records/1", "check api_token").await.unwrap_err();
        assert!(
            matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("check api_token"),
            "{err}"
        );
    }

    #[test]
    fn connect_names_the_adapter_and_refuses_blank_credentials() {
        let api = Api::connect("example", "https://api.example/v1/", Duration::from_secs(5)).unwrap();
        assert_eq!(api.provider(), "example (https://api.example/v1)");
        let err = api.require("api_token", &Secret::new(" \n")).unwrap_err();
        assert!(
            matches!(err, ProviderError::Config { .. }) && err.to_string().contains("api_token is empty")
        );
        assert!(Api::connect("example", "ftp://x", Duration::from_secs(5)).is_err());
    }

    #[test]
    fn bodies_and_urls() {
        assert_eq!(form_encode(&[("a", "1"), ("b", "two words&")]), "a=1&b=two%20words%26");
        assert!(check_base_url("https://u:p@api.example", "api_url").unwrap_err().contains("user info"));
        assert!(check_base_url("https://api.example/v2?x=1", "api_url").is_err());
        assert_eq!(check_base_url("https://api.example/v2/", "api_url").unwrap(), "https://api.example/v2");
    }
}
