//! Tokens from a cloud instance's metadata service: Google Compute Engine's metadata server
//! (`Metadata-Flavor: Google`) and Azure's Instance Metadata Service (`Metadata: true`).
//! Both hand the instance's service identity a bearer token for one `GET` with a marker
//! header that a browser or a forwarded request cannot set, and both answer with
//! `access_token` and `expires_in` (Google as a number, Azure as a string). The token is
//! reused until shortly before it expires. The URL is a setting, so tests and unusual set-ups
//! can point it elsewhere.

use std::time::{Duration, Instant};

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde::Deserialize;
use wildcert_dns_api::{ProviderError, Secret};

use crate::api::{Api, Body};
use crate::token_cache::TokenCache;

/// A cached token from a metadata endpoint.
#[derive(Debug)]
pub struct MetadataToken {
    /// The whole token URL (query included) as the base URL of an `Api`.
    endpoint: Api,
    /// The query string sent with every request (`api-version=...&resource=...`).
    query: String,
    header: (HeaderName, HeaderValue),
    /// Names the setting or environment to check when the service refuses.
    hint: String,
    cached: TokenCache<Secret>,
}

#[derive(Deserialize)]
struct Answer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<Seconds>,
}

/// `expires_in` as a JSON number (Google) or a string of digits (Azure).
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(u64),
    Text(String),
}

impl Seconds {
    fn get(&self) -> Option<u64> {
        match self {
            Seconds::Number(n) => Some(*n),
            Seconds::Text(t) => t.trim().parse().ok(),
        }
    }
}

impl MetadataToken {
    /// `endpoint` is an `Api` whose base URL is the token URL without query; `query` is
    /// appended to it (empty for none); `header` is the marker header the service demands.
    pub fn new(endpoint: Api, query: &str, header: (HeaderName, HeaderValue), hint: &str) -> MetadataToken {
        let query =
            if query.is_empty() { String::new() } else { format!("?{}", query.trim_start_matches('?')) };
        MetadataToken { endpoint, query, header, hint: hint.to_string(), cached: TokenCache::default() }
    }

    /// Google's metadata server: `GET {url}` with `Metadata-Flavor: Google`.
    pub fn google(endpoint: Api, hint: &str) -> MetadataToken {
        MetadataToken::new(
            endpoint,
            "",
            (HeaderName::from_static("metadata-flavor"), HeaderValue::from_static("Google")),
            hint,
        )
    }

    /// Azure's IMDS: `GET {url}?api-version=2018-02-01&resource=...[&client_id=...]` with
    /// `Metadata: true`. `client_id` picks a user-assigned identity.
    pub fn azure(endpoint: Api, resource: &str, client_id: Option<&str>, hint: &str) -> MetadataToken {
        let mut fields = vec![("api-version", "2018-02-01"), ("resource", resource)];
        if let Some(id) = client_id {
            fields.push(("client_id", id));
        }
        MetadataToken::new(
            endpoint,
            &crate::form_encode(&fields),
            (HeaderName::from_static("metadata"), HeaderValue::from_static("true")),
            hint,
        )
    }

    /// A valid token: the cached one, or a fresh one.
    pub async fn token(&self) -> Result<Secret, ProviderError> {
        Ok((*self.cached.get_or_fetch(|| self.fetch()).await?).clone())
    }

    async fn fetch(&self) -> Result<(Secret, Instant), ProviderError> {
        let action = format!("GET {}", self.endpoint.base());
        let response = self
            .endpoint
            .call(Method::GET, &self.query, &Body::Empty, std::slice::from_ref(&self.header))
            .await?;
        let answer: Answer = self.endpoint.parse(&action, &response, &self.hint)?;
        if answer.access_token.trim().is_empty() {
            return Err(ProviderError::Auth {
                provider: self.endpoint.provider().to_string(),
                detail: format!("{action}: the metadata service gave an empty token; {}", self.hint),
            });
        }
        let lifetime = Duration::from_secs(answer.expires_in.and_then(|s| s.get()).unwrap_or(300));
        Ok((Secret::new(answer.access_token), Instant::now() + lifetime))
    }

    /// Forgets the cached token, e.g. after the API refused it.
    pub async fn invalidate(&self) {
        self.cached.invalidate().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpClient;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn azure_string_lifetime_and_marker_header() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metadata/identity/oauth2/token", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = socket.read(&mut buf).await.unwrap();
            let body = r#"{"access_token":"imds-1","expires_in":"86399","token_type":"Bearer"}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        let api = Api::new("test", &url, HttpClient::new(Duration::from_secs(5), None).unwrap()).unwrap();
        let source = MetadataToken::azure(api, "https://management.azure.com/", None, "hint");
        assert_eq!(source.token().await.unwrap().expose(), "imds-1");
        // Cached: the server answers once.
        assert_eq!(source.token().await.unwrap().expose(), "imds-1");
        let request = server.await.unwrap().to_ascii_lowercase();
        assert!(
            request.starts_with(
                "get /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3a%2f%2fmanagement.azure.com%2f "
            ),
            "{request}"
        );
        assert!(request.contains("\r\nmetadata: true\r\n"), "{request}");
    }
}
