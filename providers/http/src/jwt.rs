//! Service-account tokens (RFC 7523, the JWT bearer grant): a Google service account's key
//! file holds an RSA private key; an RS256-signed JWT naming the account, the scope and the
//! token endpoint is exchanged at that endpoint for a bearer token, which is reused until
//! shortly before it expires. Signed with aws-lc-rs, the cryptography rustls uses here.
//!
//! The key file is a secret (it holds the private key) and untrusted in shape: it is parsed
//! into [`ServiceAccountKey`] with errors that never quote it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use http::Method;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use wildcert_dns_api::{ProviderError, Secret};

use crate::api::{Api, Body};
use crate::oauth::{TokenAnswer, refused_credentials};
use crate::token_cache::TokenCache;
use crate::{StatusClass, classify};

/// How long an assertion is valid; Google accepts at most one hour.
const ASSERTION_LIFETIME: u64 = 3600;

/// The grant type of RFC 7523 section 2.1.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Google's token endpoint, used when a key file names none.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The parts of a service account key file (`"type": "service_account"`) a token needs.
#[derive(Clone)]
pub struct ServiceAccountKey {
    /// The service account: the assertion's issuer, and what messages name.
    pub client_email: String,
    /// The key's id, sent as the JWT `kid` so the endpoint picks the right public key.
    pub private_key_id: Option<String>,
    /// Where tokens are asked for (the file's, else Google's).
    pub token_uri: String,
    /// The project the account belongs to, a default for adapters that need one.
    pub project_id: Option<String>,
    /// PKCS#8 DER of the RSA key.
    key: Secret,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key: Secret,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
}

impl ServiceAccountKey {
    /// Parses a key file's JSON. Errors say what is missing, never what is there.
    pub fn from_json(text: &str) -> Result<ServiceAccountKey, String> {
        let file: KeyFile = serde_json::from_str(text).map_err(|e| {
            format!("not a service account key file (JSON error at line {} column {})", e.line(), e.column())
        })?;
        if file.kind != "service_account" {
            return Err(format!(
                "the key file's type is `{}`, not `service_account`; create a key for a service account (IAM > Service accounts > Keys > JSON)",
                file.kind.chars().take(40).collect::<String>()
            ));
        }
        if file.client_email.trim().is_empty() {
            return Err("the key file has no client_email".into());
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(file.private_key.expose().as_bytes())
            .map_err(|_| "the key file's private_key is not a PEM PRIVATE KEY (PKCS#8)".to_string())?;
        RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|_| "the key file's private_key is not an RSA key aws-lc accepts".to_string())?;
        let key = Secret::new(base64::engine::general_purpose::STANDARD.encode(der.secret_pkcs8_der()));
        Ok(ServiceAccountKey {
            client_email: file.client_email.trim().to_string(),
            private_key_id: file.private_key_id.filter(|k| !k.trim().is_empty()),
            token_uri: file
                .token_uri
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_string()),
            project_id: file.project_id.filter(|p| !p.trim().is_empty()),
            key,
        })
    }

    fn key_pair(&self) -> Result<RsaKeyPair, String> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(self.key.expose())
            .map_err(|_| "the private key could not be decoded".to_string())?;
        RsaKeyPair::from_pkcs8(&der).map_err(|_| "the private key was refused".to_string())
    }

    /// The signed assertion for `scope`, addressed to `audience` (the token URL), valid
    /// from `now` (seconds since the epoch) for one hour.
    pub fn assertion(&self, scope: &str, audience: &str, now: u64) -> Result<Secret, String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.private_key_id {
            header["kid"] = kid.clone().into();
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let signing_input = format!("{}.{}", b64.encode(header.to_string()), b64.encode(claims.to_string()));
        let pair = self.key_pair()?;
        let mut signature = vec![0u8; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| "signing the token request failed".to_string())?;
        Ok(Secret::new(format!("{signing_input}.{}", b64.encode(signature))))
    }
}

/// A cached service-account token source.
#[derive(Debug)]
pub struct JwtTokenSource {
    /// The token endpoint, an `Api` whose base URL is the full token URL.
    endpoint: Api,
    key: ServiceAccountKey,
    scope: String,
    /// Names the setting to check when the endpoint refuses.
    hint: String,
    cached: TokenCache<Secret>,
}

impl JwtTokenSource {
    /// `endpoint` is an `Api` made with the token URL as its base URL; the assertion's
    /// audience is that URL.
    pub fn new(endpoint: Api, key: ServiceAccountKey, scope: &str, hint: &str) -> JwtTokenSource {
        let endpoint = endpoint.with_redacted(&key.key);
        JwtTokenSource {
            endpoint,
            key,
            scope: scope.to_string(),
            hint: hint.to_string(),
            cached: TokenCache::default(),
        }
    }

    /// The service account key, for its project and e-mail.
    pub fn key(&self) -> &ServiceAccountKey {
        &self.key
    }

    /// A valid token: the cached one, or a fresh one.
    pub async fn token(&self) -> Result<Secret, ProviderError> {
        Ok((*self.cached.get_or_fetch(|| self.fetch()).await?).clone())
    }

    async fn fetch(&self) -> Result<(Secret, Instant), ProviderError> {
        let provider = self.endpoint.provider().to_string();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let assertion = self
            .key
            .assertion(&self.scope, self.endpoint.base(), now)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        let endpoint = self.endpoint.clone().with_redacted(&assertion);
        let action = format!("POST {}", endpoint.base());
        let body = Body::form(&[("grant_type", JWT_BEARER), ("assertion", assertion.expose())]);
        let response = endpoint.call(Method::POST, "", &body, &[]).await?;
        if classify(response.status) != StatusClass::Success {
            // A refused assertion: unknown or disabled key, bad signature, clock skew.
            if let Some(code) = refused_credentials(&response.body) {
                return Err(ProviderError::Auth {
                    provider,
                    detail: format!(
                        "{action}: HTTP {}: {code} for service account {}; {}",
                        response.status, self.key.client_email, self.hint
                    ),
                });
            }
            return Err(endpoint.error(&action, &response, &self.hint));
        }
        let answer: TokenAnswer = endpoint.parse(&action, &response, &self.hint)?;
        Ok(answer.into_token())
    }

    /// Forgets the cached token, e.g. after the API refused it.
    pub async fn invalidate(&self) {
        self.cached.invalidate().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    pub(crate) fn key_file(pair: &RsaKeyPair) -> String {
        let der = pair.as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
        serde_json::json!({
            "type": "service_account",
            "project_id": "gradient-dns",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "wildcert@gradient-dns.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string()
    }

    #[test]
    fn assertion_is_an_rs256_jwt_the_public_key_verifies() {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let key = ServiceAccountKey::from_json(&key_file(&pair)).unwrap();
        assert_eq!(key.project_id.as_deref(), Some("gradient-dns"));
        assert!(!format!("{key:?}").contains("PRIVATE"));
        let jwt = key.assertion("scope-x", "https://oauth2.googleapis.com/token", 1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: serde_json::Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "k1");
        let claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "wildcert@gradient-dns.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref());
        let signed = format!("{}.{}", parts[0], parts[1]);
        public.verify(signed.as_bytes(), &b64.decode(parts[2]).unwrap()).unwrap();
    }

    #[test]
    fn bad_key_files_are_described_without_their_content() {
        let err =
            ServiceAccountKey::from_json("{\"type\": \"authorized_user\", \"refresh_token\": \"rt-secret\"}")
                .unwrap_err();
        assert!(err.contains("authorized_user") && !err.contains("rt-secret"), "{err}");
        let err = ServiceAccountKey::from_json("not json hunter2").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let text = r#"{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#;
        assert!(ServiceAccountKey::from_json(text).unwrap_err().contains("RSA"));
    }
}
