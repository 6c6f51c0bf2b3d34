//! OpenStack Identity (Keystone) v3 tokens, for the adapters of OpenStack clouds (Designate,
//! Open Telekom Cloud): `POST {auth_url}/auth/tokens` with password or application-credential
//! authentication; the token comes back in the `X-Subject-Token` header, the body carries
//! its expiry and the service catalog that says where each service (type `dns`) answers in
//! each region. The token is cached until shortly before it expires and can be dropped when
//! a service refuses it.
//!
//! API reference: <https://docs.openstack.org/api-ref/identity/v3/#password-authentication-with-scoped-authorization>,
//! <https://docs.openstack.org/api-ref/identity/v3/#authenticating-with-an-application-credential>.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_dns_api::{ProviderError, Secret};

use crate::api::{Api, check_base_url};
use crate::excerpt;
use crate::identity;
use crate::token_cache::TokenCache;

/// A domain, by name or ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Domain {
    /// The domain's ID.
    Id(String),
    /// The domain's name (`Default` on most clouds).
    Name(String),
}

impl Domain {
    fn json(&self) -> Value {
        match self {
            Domain::Id(id) => json!({"id": id}),
            Domain::Name(name) => json!({"name": name}),
        }
    }
}

/// A user, by ID, or by name within a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    /// The user's ID, unique across domains.
    Id(String),
    /// The user's name, unique within its domain.
    Name {
        /// The user name.
        name: String,
        /// The domain the user belongs to.
        domain: Domain,
    },
}

impl User {
    fn json(&self) -> Value {
        match self {
            User::Id(id) => json!({"id": id}),
            User::Name { name, domain } => json!({"name": name, "domain": domain.json()}),
        }
    }
}

/// What the token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Unscoped, or the scope an application credential carries.
    None,
    /// A project by ID.
    ProjectId(String),
    /// A project by name within a domain.
    Project {
        /// The project's name.
        name: String,
        /// The domain the project belongs to.
        domain: Domain,
    },
    /// A project by name alone, where names are unique across domains (Open Telekom Cloud's
    /// region projects such as `eu-de`).
    ProjectName(String),
    /// A whole domain.
    Domain(Domain),
}

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A user's password, with a scope.
    Password {
        /// Who logs in.
        user: User,
        /// The user's password.
        password: Secret,
        /// What the token is for.
        scope: Scope,
    },
    /// An application credential (its scope is its own): by ID, or by name with its user.
    ApplicationCredential {
        /// The credential's ID.
        id: Option<String>,
        /// The credential's name and its user, when no ID is given.
        name: Option<(String, User)>,
        /// The credential's secret.
        secret: Secret,
    },
}

impl Credentials {
    fn secret(&self) -> &Secret {
        match self {
            Credentials::Password { password, .. } => password,
            Credentials::ApplicationCredential { secret, .. } => secret,
        }
    }

    /// The request body of `POST /auth/tokens`.
    fn body(&self) -> Value {
        match self {
            Credentials::Password { user, password, scope } => {
                let mut user = user.json();
                user["password"] = Value::String(password.expose().to_string());
                let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": user}}});
                match scope {
                    Scope::None => {}
                    Scope::ProjectId(id) => auth["scope"] = json!({"project": {"id": id}}),
                    Scope::ProjectName(name) => auth["scope"] = json!({"project": {"name": name}}),
                    Scope::Project { name, domain } => {
                        auth["scope"] = json!({"project": {"name": name, "domain": domain.json()}})
                    }
                    Scope::Domain(domain) => auth["scope"] = json!({"domain": domain.json()}),
                }
                json!({ "auth": auth })
            }
            Credentials::ApplicationCredential { id, name, secret } => {
                let mut credential = json!({"secret": secret.expose()});
                if let Some(id) = id {
                    credential["id"] = Value::String(id.clone());
                } else if let Some((name, user)) = name {
                    credential["name"] = Value::String(name.clone());
                    credential["user"] = user.json();
                }
                json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": credential}}})
            }
        }
    }
}

/// One endpoint of the service catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct Endpoint {
    /// `public`, `internal` or `admin`; the adapter's interface setting picks one.
    #[serde(default)]
    pub interface: String,
    /// The region's name, matched against the adapter's region setting.
    #[serde(default)]
    pub region: Option<String>,
    /// The region's ID, matched as well (Keystone v3 gives both).
    #[serde(default)]
    pub region_id: Option<String>,
    /// The endpoint's URL, the base of the service's API.
    #[serde(default)]
    pub url: String,
}

/// One service of the catalog.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    /// The service type the DNS endpoint is found by (`dns`).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Where the service answers, per interface and region.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// A token and what came with it.
#[derive(Debug)]
pub struct Token {
    /// The `X-Subject-Token` value, sent as `X-Auth-Token`.
    pub token: Secret,
    /// The service catalog the token came with, where the DNS endpoint is looked up.
    pub catalog: Vec<Service>,
}

impl Token {
    /// The URL of service type `kind` at `interface` (`public`) in `region` (any region when
    /// `None`: the first listed, as OpenStack's clients do). The URL comes from the identity
    /// service's answer, so it is checked like a setting before it is used.
    pub fn endpoint(&self, kind: &str, interface: &str, region: Option<&str>) -> Result<String, String> {
        let endpoints: Vec<&Endpoint> = self
            .catalog
            .iter()
            .filter(|s| s.kind.eq_ignore_ascii_case(kind))
            .flat_map(|s| s.endpoints.iter())
            .filter(|e| e.interface.eq_ignore_ascii_case(interface))
            .collect();
        let in_region = |e: &&&Endpoint| {
            region.is_none_or(|r| e.region.as_deref() == Some(r) || e.region_id.as_deref() == Some(r))
        };
        let Some(found) = endpoints.iter().find(in_region) else {
            let mut regions: Vec<&str> =
                endpoints.iter().filter_map(|e| e.region_id.as_deref().or(e.region.as_deref())).collect();
            regions.dedup();
            return Err(match region {
                Some(r) if !regions.is_empty() => format!(
                    "the service catalog has no {interface} \"{kind}\" endpoint in region {r}; its regions: {}",
                    regions.join(", ")
                ),
                _ => format!("the service catalog has no {interface} \"{kind}\" endpoint"),
            });
        };
        check_base_url(&found.url, &format!("the catalog's {kind} endpoint"))
    }
}

#[derive(Deserialize)]
struct Answer {
    token: TokenBody,
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    catalog: Vec<Service>,
}

/// A cached Keystone v3 token source. Share it between calls.
#[derive(Debug)]
pub struct Keystone {
    /// The identity service, an `Api` whose base URL is the `.../v3` URL.
    identity: Api,
    credentials: Credentials,
    /// Says which settings hold the credentials, for refusals.
    hint: String,
    cached: TokenCache<Token>,
}

/// `https://keystone:5000`, `.../v3`, `.../v3/` and `.../v3/auth/tokens` (lego's form of
/// Open Telekom Cloud's endpoint) all name the v3 API.
pub fn v3_url(auth_url: &str) -> String {
    let base = auth_url.trim().trim_end_matches('/');
    let base = base.strip_suffix("/auth/tokens").unwrap_or(base);
    if base.ends_with("/v3") { base.to_string() } else { format!("{base}/v3") }
}

impl Keystone {
    /// `identity` is an `Api` made with the `.../v3` URL ([`v3_url`]) as its base; `hint`
    /// names the settings to check when the credentials are refused.
    pub fn new(identity: Api, credentials: Credentials, hint: &str) -> Keystone {
        let identity = identity.with_redacted(credentials.secret());
        Keystone { identity, credentials, hint: hint.to_string(), cached: TokenCache::default() }
    }

    /// A valid token: the cached one, or a fresh one.
    pub async fn token(&self) -> Result<Arc<Token>, ProviderError> {
        self.cached.get_or_fetch(|| self.fetch()).await
    }

    /// Forgets the cached token (a service refused it: revoked, or expired early).
    pub async fn invalidate(&self) {
        self.cached.invalidate().await;
    }

    async fn fetch(&self) -> Result<(Token, Instant), ProviderError> {
        let (action, response) =
            identity::request(&self.identity, "/auth/tokens", &self.credentials.body(), &self.hint).await?;
        let provider = self.identity.provider().to_string();
        let token = response
            .headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ProviderError::Rejected {
                provider: provider.clone(),
                detail: format!(
                    "{action}: HTTP {} without an X-Subject-Token header; is auth_url the identity service?",
                    response.status
                ),
            })?;
        if http::HeaderValue::from_str(token).is_err() {
            return Err(ProviderError::Rejected {
                provider,
                detail: format!("{action}: the token cannot be sent back as a header"),
            });
        }
        let token = Secret::new(token);
        let secrets = [self.credentials.secret(), &token];
        let answer: Answer = serde_json::from_slice(&response.body).map_err(|e| ProviderError::Rejected {
            provider: provider.clone(),
            detail: format!(
                "{action}: the answer is not a Keystone v3 token ({e}): {}",
                excerpt(&response.body, &secrets)
            ),
        })?;
        let lifetime =
            identity::lifetime(answer.token.issued_at.as_deref(), answer.token.expires_at.as_deref());
        tracing::debug!(provider, ?lifetime, services = answer.token.catalog.len(), "keystone: token issued");

        Ok((Token { token, catalog: answer.token.catalog }, Instant::now() + lifetime))
    }
}

impl identity::TokenSource for Keystone {
    type Token = Token;

    fn token(&self) -> impl std::future::Future<Output = Result<Arc<Token>, ProviderError>> + Send {
        Keystone::token(self)
    }

    fn invalidate(&self) -> impl std::future::Future<Output = ()> + Send {
        Keystone::invalidate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_urls() {
        assert_eq!(v3_url("https://keystone.example:5000/"), "https://keystone.example:5000/v3");
        assert_eq!(v3_url("https://iam.example/v3/"), "https://iam.example/v3");
        assert_eq!(v3_url("https://iam.example:443/v3/auth/tokens"), "https://iam.example:443/v3");
    }

    #[test]
    fn bodies_carry_the_documented_shapes() {
        let password = Credentials::Password {
            user: User::Name { name: "ops".into(), domain: Domain::Name("Default".into()) },
            password: Secret::new("pw"),
            scope: Scope::Project { name: "dns".into(), domain: Domain::Id("default".into()) },
        };
        let body = password.body();
        assert_eq!(body["auth"]["identity"]["methods"], json!(["password"]));
        assert_eq!(body["auth"]["identity"]["password"]["user"]["domain"]["name"], "Default");
        assert_eq!(body["auth"]["identity"]["password"]["user"]["password"], "pw");
        assert_eq!(body["auth"]["scope"]["project"], json!({"name": "dns", "domain": {"id": "default"}}));
        let app = Credentials::ApplicationCredential {
            id: Some("ac1".into()),
            name: None,
            secret: Secret::new("s"),
        };
        let body = app.body();
        assert_eq!(body["auth"]["identity"]["application_credential"], json!({"id": "ac1", "secret": "s"}));
        assert!(body["auth"].get("scope").is_none());
    }

    #[test]
    fn endpoints_by_type_interface_and_region() {
        let catalog: Vec<Service> = serde_json::from_value(json!([
            {"type": "identity", "endpoints": [{"interface": "public", "region": "One", "url": "https://id.example"}]},
            {"type": "dns", "endpoints": [
                {"interface": "internal", "region": "One", "region_id": "One", "url": "http://10.0.0.1:9001"},
                {"interface": "public", "region": "One", "region_id": "One", "url": "https://dns-one.example:9001/"},
                {"interface": "public", "region": "Two", "region_id": "Two", "url": "https://dns-two.example"}
            ]}
        ]))
        .unwrap();
        let token = Token { token: Secret::new("t"), catalog };
        assert_eq!(token.endpoint("dns", "public", Some("Two")).unwrap(), "https://dns-two.example");
        assert_eq!(token.endpoint("dns", "public", None).unwrap(), "https://dns-one.example:9001");
        assert_eq!(token.endpoint("dns", "internal", Some("One")).unwrap(), "http://10.0.0.1:9001");
        let err = token.endpoint("dns", "public", Some("Three")).unwrap_err();
        assert!(err.contains("region Three") && err.contains("One, Two"), "{err}");
        assert!(token.endpoint("object-store", "public", None).is_err());
    }
}
