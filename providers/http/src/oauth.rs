//! OAuth2 client-credentials tokens (RFC 6749 section 4.4), fetched once and reused until
//! shortly before they expire: for APIs such as Azure's or Gandi's that hand out bearer
//! tokens for a client ID and secret. The token endpoint is a setting like `api_url`, so
//! tests, proxies and sovereign clouds can point it elsewhere.

use std::time::{Duration, Instant};

use http::Method;
use serde::Deserialize;
use wildcert_dns_api::{ProviderError, Secret};

use crate::api::{Api, Body};
use crate::token_cache::TokenCache;
use crate::{StatusClass, classify};

/// Where and how to ask for a token.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret, sent only to the token endpoint.
    pub client_secret: Secret,
    /// `scope`, when the server wants one (Azure: `https://management.azure.com/.default`).
    pub scope: Option<String>,
    /// Extra form fields some servers want (`resource`, `audience`).
    pub extra: Vec<(String, String)>,
}

/// A cached token source. Share it (it is cheap to clone through an `Arc`) between calls.
#[derive(Debug)]
pub struct TokenSource {
    /// The token endpoint, an `Api` whose base URL is the full token URL.
    endpoint: Api,
    credentials: ClientCredentials,
    cached: TokenCache<Secret>,
}

/// A token endpoint's answer (RFC 6749 section 5.1); a missing `expires_in` counts as an hour.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenAnswer {
    /// The token and when it expires.
    pub(crate) fn into_token(self) -> (Secret, Instant) {
        let lifetime = Duration::from_secs(self.expires_in.unwrap_or(3600));
        (Secret::new(self.access_token), Instant::now() + lifetime)
    }
}

/// The RFC 6749 section 5.2 error code of a token endpoint's refusal when it says the
/// credentials themselves were refused (unknown client, bad secret or assertion, scope not
/// granted), as opposed to an outage or a malformed request.
pub(crate) fn refused_credentials(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct OAuthError {
        #[serde(default)]
        error: String,
    }
    let code = serde_json::from_slice::<OAuthError>(body).ok()?.error;
    matches!(code.as_str(), "invalid_client" | "unauthorized_client" | "invalid_grant" | "invalid_scope")
        .then_some(code)
}

impl TokenSource {
    /// `endpoint` is an `Api` made with the token URL as its base URL.
    pub fn new(endpoint: Api, credentials: ClientCredentials) -> TokenSource {
        let endpoint = endpoint.with_redacted(&credentials.client_secret);
        TokenSource { endpoint, credentials, cached: TokenCache::default() }
    }

    /// A valid token: the cached one, or a fresh one.
    pub async fn token(&self) -> Result<Secret, ProviderError> {
        Ok((*self.cached.get_or_fetch(|| self.fetch()).await?).clone())
    }

    async fn fetch(&self) -> Result<(Secret, Instant), ProviderError> {
        let mut fields: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &self.credentials.client_id),
            ("client_secret", self.credentials.client_secret.expose()),
        ];
        if let Some(scope) = &self.credentials.scope {
            fields.push(("scope", scope));
        }
        for (k, v) in &self.credentials.extra {
            fields.push((k, v));
        }
        let hint = "check client_id and client_secret";
        let action = format!("POST {}", self.endpoint.base());
        let response = self.endpoint.call(Method::POST, "", &Body::form(&fields), &[]).await?;
        if classify(response.status) != StatusClass::Success {
            if let Some(code) = refused_credentials(&response.body) {
                return Err(ProviderError::Auth {
                    provider: self.endpoint.provider().to_string(),
                    detail: format!("{action}: HTTP {}: {code}; {hint}", response.status),
                });
            }
            return Err(self.endpoint.error(&action, &response, hint));
        }
        let answer: TokenAnswer = self.endpoint.parse(&action, &response, hint)?;
        Ok(answer.into_token())
    }

    /// Forgets the cached token, e.g. after the API refused it.
    pub async fn invalidate(&self) {
        self.cached.invalidate().await;
    }

    /// `Authorization: Bearer <token>`, marked sensitive.
    pub async fn header(&self) -> Result<(http::header::HeaderName, http::HeaderValue), ProviderError> {
        let token = self.token().await?;
        let value = crate::bearer(&token).ok_or_else(|| ProviderError::Rejected {
            provider: self.endpoint.provider().to_string(),
            detail: "the token endpoint returned a token an HTTP header cannot carry".into(),
        })?;
        Ok((http::header::AUTHORIZATION, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpClient;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn token_is_fetched_once_and_cached() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let n = socket.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            request
        });
        let api = Api::new("test", &url, HttpClient::new(Duration::from_secs(5), None).unwrap()).unwrap();
        let source = TokenSource::new(
            api,
            ClientCredentials {
                client_id: "app".into(),
                client_secret: Secret::new("s3cret"),
                scope: Some("dns".into()),
                extra: Vec::new(),
            },
        );
        assert_eq!(source.token().await.unwrap().expose(), "at-1");
        // The second call is served from the cache: the fake answers only once.
        assert_eq!(source.token().await.unwrap().expose(), "at-1");
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /oauth2/token "), "{request}");
        assert!(
            request.contains("grant_type=client_credentials&client_id=app&client_secret=s3cret&scope=dns")
        );
        assert!(request.contains("application/x-www-form-urlencoded"));
    }
}
