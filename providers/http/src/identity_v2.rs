//! OpenStack Identity v2.0 tokens, which older OpenStack clouds still hand out (Rackspace's
//! identity service with `RAX-KSKEY:apiKeyCredentials`, ConoHa's with password credentials
//! and a tenant): `POST {identity}/tokens` answers `{"access": {"token": {"id", "expires",
//! "tenant"}, "serviceCatalog": [{"type", "name", "endpoints": [{"region", "publicURL"}]}]}}`.
//! The token is cached until shortly before it expires and can be dropped when a service
//! refuses it. For Keystone v3, see [`crate::keystone`].
//!
//! API references: <https://docs.openstack.org/api-ref/identity/v2/#authenticate>,
//! <https://docs.rackspace.com/docs/cloud-identity/v2/api-reference/token-operations>.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_dns_api::{ProviderError, Secret};

use crate::api::{Api, check_base_url};
use crate::excerpt;
use crate::identity;
use crate::token_cache::TokenCache;

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Rackspace's API key credentials.
    RaxApiKey {
        /// The account's user name.
        username: String,
        /// The user's API key.
        api_key: Secret,
    },
    /// A password, within a tenant given by ID or name.
    Password {
        /// The user name.
        username: String,
        /// The user's password.
        password: Secret,
        /// The tenant by ID (ConoHa's `tenant_id`).
        tenant_id: Option<String>,
        /// The tenant by name, when no ID is given.
        tenant_name: Option<String>,
    },
}

impl Credentials {
    fn secret(&self) -> &Secret {
        match self {
            Credentials::RaxApiKey { api_key, .. } => api_key,
            Credentials::Password { password, .. } => password,
        }
    }

    fn body(&self) -> Value {
        match self {
            Credentials::RaxApiKey { username, api_key } => {
                json!({"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": username, "apiKey": api_key.expose()}}})
            }
            Credentials::Password { username, password, tenant_id, tenant_name } => {
                let mut auth =
                    json!({"passwordCredentials": {"username": username, "password": password.expose()}});
                if let Some(id) = tenant_id {
                    auth["tenantId"] = Value::String(id.clone());
                } else if let Some(name) = tenant_name {
                    auth["tenantName"] = Value::String(name.clone());
                }
                json!({ "auth": auth })
            }
        }
    }
}

/// One endpoint of the catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct Endpoint {
    /// The region the endpoint serves, matched against the adapter's region setting.
    #[serde(default)]
    pub region: Option<String>,
    /// The endpoint's public URL, the base of the service's API.
    #[serde(default, rename = "publicURL")]
    pub public_url: String,
}

/// One service of the catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    /// The service type the DNS endpoint is found by (`rax:dns`, `dns`).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The service's name in the catalog.
    #[serde(default)]
    pub name: String,
    /// Where the service answers, per region.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// A token and its catalog.
#[derive(Debug)]
pub struct Token {
    /// `access.token.id`, sent as `X-Auth-Token`.
    pub token: Secret,
    /// The service catalog the token came with, where the DNS endpoint is looked up.
    pub catalog: Vec<Service>,
}

impl Token {
    /// The public URL of service type `kind` in `region` (any region when `None`: the first
    /// listed). It comes from the identity service's answer, so it is checked like a
    /// setting.
    pub fn endpoint(&self, kind: &str, region: Option<&str>) -> Result<String, String> {
        let endpoints: Vec<&Endpoint> = self
            .catalog
            .iter()
            .filter(|s| s.kind.eq_ignore_ascii_case(kind))
            .flat_map(|s| s.endpoints.iter())
            .collect();
        let found = endpoints
            .iter()
            .find(|e| region.is_none_or(|r| e.region.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(r))));
        let Some(found) = found else {
            let regions: Vec<&str> = endpoints.iter().filter_map(|e| e.region.as_deref()).collect();
            return Err(match region {
                Some(r) if !regions.is_empty() => format!(
                    "the service catalog has no \"{kind}\" endpoint in region {r}; its regions: {}",
                    regions.join(", ")
                ),
                _ => format!("the service catalog has no \"{kind}\" endpoint"),
            });
        };
        check_base_url(&found.public_url, &format!("the catalog's {kind} endpoint"))
    }
}

#[derive(Deserialize)]
struct Answer {
    access: Access,
}

#[derive(Deserialize)]
struct Access {
    token: TokenBody,
    #[serde(default, rename = "serviceCatalog")]
    catalog: Vec<Service>,
}

#[derive(Deserialize)]
struct TokenBody {
    id: String,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    expires: Option<String>,
}

/// A cached identity v2.0 token source. Share it between calls.
#[derive(Debug)]
pub struct IdentityV2 {
    /// The identity service, an `Api` whose base URL is the `.../v2.0` URL.
    identity: Api,
    credentials: Credentials,
    hint: String,
    cached: TokenCache<Token>,
}

impl IdentityV2 {
    /// `identity` is an `Api` made with the `.../v2.0` URL as its base; `hint` names the
    /// settings to check when the credentials are refused.
    pub fn new(identity: Api, credentials: Credentials, hint: &str) -> IdentityV2 {
        let identity = identity.with_redacted(credentials.secret());
        IdentityV2 { identity, credentials, hint: hint.to_string(), cached: TokenCache::default() }
    }

    /// A valid token: the cached one, or a fresh one.
    pub async fn token(&self) -> Result<Arc<Token>, ProviderError> {
        self.cached.get_or_fetch(|| self.fetch()).await
    }

    /// Forgets the cached token (a service refused it).
    pub async fn invalidate(&self) {
        self.cached.invalidate().await;
    }

    async fn fetch(&self) -> Result<(Token, Instant), ProviderError> {
        let (action, response) =
            identity::request(&self.identity, "/tokens", &self.credentials.body(), &self.hint).await?;
        let answer: Answer = serde_json::from_slice(&response.body).map_err(|e| ProviderError::Rejected {
            provider: self.identity.provider().to_string(),
            detail: format!(
                "{action}: the answer is not an identity v2.0 token ({e}): {}",
                excerpt(&response.body, &[self.credentials.secret()])
            ),
        })?;
        let token = answer.access.token;
        if token.id.trim().is_empty() || http::HeaderValue::from_str(token.id.trim()).is_err() {
            return Err(ProviderError::Rejected {
                provider: self.identity.provider().to_string(),
                detail: format!("{action}: the answer carries no token a header can send"),
            });
        }
        let lifetime = identity::lifetime(token.issued_at.as_deref(), token.expires.as_deref());
        tracing::debug!(provider = self.identity.provider(), ?lifetime, "identity v2.0: token issued");

        Ok((
            Token { token: Secret::new(token.id.trim()), catalog: answer.access.catalog },
            Instant::now() + lifetime,
        ))
    }
}

impl identity::TokenSource for IdentityV2 {
    type Token = Token;

    fn token(&self) -> impl std::future::Future<Output = Result<Arc<Token>, ProviderError>> + Send {
        IdentityV2::token(self)
    }

    fn invalidate(&self) -> impl std::future::Future<Output = ()> + Send {
        IdentityV2::invalidate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_catalog() {
        let rax = Credentials::RaxApiKey { username: "ops".into(), api_key: Secret::new("k") };
        assert_eq!(
            rax.body(),
            json!({"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": "ops", "apiKey": "k"}}})
        );
        let pw = Credentials::Password {
            username: "u".into(),
            password: Secret::new("p"),
            tenant_id: Some("t1".into()),
            tenant_name: None,
        };
        assert_eq!(
            pw.body(),
            json!({"auth": {"passwordCredentials": {"username": "u", "password": "p"}, "tenantId": "t1"}})
        );
        let catalog: Vec<Service> = serde_json::from_value(json!([
            {"type": "rax:dns", "name": "cloudDNS", "endpoints": [{"publicURL": "https://dns.example/v1.0/123", "tenantId": "123"}]},
            {"type": "dns", "name": "DNS Service", "endpoints": [{"region": "tyo1", "publicURL": "https://dns-tyo1.example"}, {"region": "sin1", "publicURL": "https://dns-sin1.example"}]}
        ]))
        .unwrap();
        let token = Token { token: Secret::new("t"), catalog };
        assert_eq!(token.endpoint("rax:dns", None).unwrap(), "https://dns.example/v1.0/123");
        assert_eq!(token.endpoint("dns", Some("sin1")).unwrap(), "https://dns-sin1.example");
        assert!(token.endpoint("dns", Some("lon1")).unwrap_err().contains("tyo1, sin1"));
    }
}
