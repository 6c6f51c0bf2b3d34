//! Where the AccessKey pair that signs each request comes from: the settings (optionally
//! with an STS security token), or the RAM role attached to the ECS instance this runs on,
//! whose temporary STS credentials the instance metadata server hands out
//! (`GET /latest/meta-data/ram/security-credentials/<role>`, answering `AccessKeyId`,
//! `AccessKeySecret`, `SecurityToken`, `Expiration` and `Code`). The metadata server's
//! hardened mode wants a session token first (`PUT /latest/api/token`); it is asked for,
//! and a server without it is used as is.
//!
//! Reference: <https://www.alibabacloud.com/help/en/ecs/user-guide/attach-an-instance-ram-role-to-an-ecs-instance>
//! and <https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata>.

use std::time::{Duration, SystemTime};

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;
use wildcert_dns_api::{ProviderError, Secret};
use wildcert_dns_http::{Api, Body, StatusClass, classify, encode};

/// Fetch new STS credentials this long before the current ones expire.
const MARGIN: Duration = Duration::from_secs(300);

/// The lifetime asked for the hardened mode's session token.
const SESSION_TTL: &str = "21600";

/// What to check when the metadata server refuses the role's credentials.
pub const ROLE_HINT: &str = "check ram_role (lego: ALICLOUD_RAM_ROLE): the RAM role attached to this ECS \
     instance, and metadata_url";

/// One usable set of credentials.
#[derive(Clone)]
pub struct Keys {
    /// The AccessKey ID, sent with every request.
    pub id: Secret,
    /// The AccessKey secret, used only to sign.
    pub secret: Secret,
    /// The STS security token of temporary credentials (a RAM role's), sent with each request.
    pub token: Option<Secret>,
}

/// The source of the signing keys.
pub enum Credentials {
    /// From the settings.
    Fixed(Keys),
    /// The instance's RAM role, through the metadata server.
    Role(Box<Role>),
}

/// A RAM role's credentials, from the metadata server, cached until shortly before they
/// expire.
pub struct Role {
    /// The metadata server (`metadata_url`) the credentials come from.
    pub metadata: Api,
    /// The RAM role attached to the instance (`ram_role`).
    pub role: String,
    /// The last credentials and when they expire; fetched anew shortly before.
    pub cached: Mutex<Option<(Keys, SystemTime)>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsAnswer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: String,
    #[serde(default)]
    security_token: String,
    #[serde(default)]
    expiration: String,
}

impl Credentials {
    /// The current keys: the fixed ones, or the role's (cached until shortly before they
    /// expire).
    pub async fn keys(&self) -> Result<Keys, ProviderError> {
        let (metadata, role, cached) = match self {
            Credentials::Fixed(keys) => return Ok(keys.clone()),
            Credentials::Role(r) => (&r.metadata, &r.role, &r.cached),
        };
        let mut cached = cached.lock().await;
        if let Some((keys, until)) = cached.as_ref()
            && SystemTime::now() + MARGIN < *until
        {
            return Ok(keys.clone());
        }
        let mut extra = Vec::new();
        if let Some(token) = session_token(metadata).await? {
            let mut value = HeaderValue::from_str(token.expose()).map_err(|_| ProviderError::Rejected {
                provider: metadata.provider().to_string(),
                detail: "the metadata server's session token is not a header value".into(),
            })?;
            value.set_sensitive(true);
            extra.push((HeaderName::from_static("x-aliyun-ecs-metadata-token"), value));
        }
        let path = format!("/latest/meta-data/ram/security-credentials/{}", encode(role));
        let response = metadata.call(Method::GET, &path, &Body::Empty, &extra).await?;
        let action = format!("GET {path}");
        if classify(response.status) == StatusClass::NotFound {
            return Err(ProviderError::Auth {
                provider: metadata.provider().to_string(),
                detail: format!("{action}: the instance has no RAM role {role:?}; {ROLE_HINT}"),
            });
        }
        let answer: StsAnswer = metadata.parse(&action, &response, ROLE_HINT)?;
        if answer.code != "Success" || answer.access_key_id.is_empty() || answer.access_key_secret.is_empty()
        {
            return Err(ProviderError::Auth {
                provider: metadata.provider().to_string(),
                detail: format!(
                    "{action}: the metadata server gave no credentials (Code {:?}); {ROLE_HINT}",
                    answer.code
                ),
            });
        }
        let expires = OffsetDateTime::parse(answer.expiration.trim(), &Rfc3339)
            .map(SystemTime::from)
            .unwrap_or_else(|_| SystemTime::now() + MARGIN + Duration::from_secs(60));
        let keys = Keys {
            id: Secret::new(answer.access_key_id),
            secret: Secret::new(answer.access_key_secret),
            token: (!answer.security_token.is_empty()).then(|| Secret::new(answer.security_token)),
        };
        tracing::debug!(role, "alidns: STS credentials from the instance's RAM role");
        *cached = Some((keys.clone(), expires));
        Ok(keys)
    }

    /// Forgets cached role credentials, after the API refused them.
    pub async fn invalidate(&self) {
        if let Credentials::Role(r) = self {
            *r.cached.lock().await = None;
        }
    }
}

/// The hardened mode's session token, or `None` when the metadata server does not issue
/// one (normal mode).
async fn session_token(metadata: &Api) -> Result<Option<Secret>, ProviderError> {
    let ttl = (
        HeaderName::from_static("x-aliyun-ecs-metadata-token-ttl-seconds"),
        HeaderValue::from_static(SESSION_TTL),
    );
    let response = metadata.call(Method::PUT, "/latest/api/token", &Body::Empty, &[ttl]).await?;
    if classify(response.status) != StatusClass::Success {
        return Ok(None);
    }
    let token = String::from_utf8_lossy(&response.body).trim().to_string();
    Ok((!token.is_empty()).then(|| Secret::new(token)))
}
