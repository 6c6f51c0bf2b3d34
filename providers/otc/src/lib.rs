//! Open Telekom Cloud DNS: add and remove one TXT value through the cloud's DNS API v2 (an
//! OpenStack Designate API: zones, record sets), authenticated by an IAM token, which is a
//! Keystone v3 password token for a user of a domain (the tenant, `OTC-EU-DE-...`) scoped
//! to a project by name (`eu-de`). The DNS endpoint comes from the token's catalog unless
//! `api_url` names it. The record-set logic is Designate's ([`wildcert_dns_designate::v2`]);
//! this crate holds Open Telekom Cloud's settings, its public/private zone choice and its
//! TTL floor of 300 s. See README.md.
//!
//! API references: <https://docs.otc.t-systems.com/domain-name-service/api-ref/>,
//! <https://docs.otc.t-systems.com/identity-access-management/api-ref/apis/token_management/obtaining_a_user_token.html>.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SEQUENCE, SecretReader, SecretSource,
    SettingError, TTL, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord};
use wildcert_dns_designate::v2;
use wildcert_dns_http::keystone::{Credentials, Domain, Keystone, Scope, User, v3_url};
use wildcert_dns_http::{Api, default_timeout};

/// Open Telekom Cloud's identity service (IAM) in the eu-de region.
pub const DEFAULT_IDENTITY_ENDPOINT: &str = "https://iam.eu-de.otc.t-systems.com:443/v3";

/// The shortest TTL the DNS API accepts.
pub const MIN_TTL: u32 = 300;

const AUTH_HINT: &str = "check user_name, password, domain_name and project_name (lego: OTC_USER_NAME, OTC_PASSWORD, OTC_DOMAIN_NAME, OTC_PROJECT_NAME)";

/// Open Telekom Cloud's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtcConfig {
    /// The tenant's domain (`OTC-EU-DE-00000000001000000000`).
    pub domain_name: String,
    /// An IAM user of that domain.
    pub user_name: String,
    /// The user's password.
    pub password: Option<SecretSource>,
    /// The project the token is scoped to (`eu-de`, or a sub-project `eu-de_dns`).
    pub project_name: String,
    /// The identity service, with or without `/v3` (lego's `.../v3/auth/tokens` works too).
    #[serde(default = "default_identity_endpoint")]
    pub identity_endpoint: String,
    /// Write into private zones instead of public ones.
    #[serde(default)]
    pub private_zone: bool,
    /// The zone to write; default: the longest suffix of the name the project has.
    pub zone_name: Option<String>,
    /// The DNS endpoint, overriding the token catalog's.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_identity_endpoint() -> String {
    DEFAULT_IDENTITY_ENDPOINT.into()
}

/// The Open Telekom Cloud adapter. Cheap to clone; clones share the token and
/// serialization.
#[derive(Clone)]
pub struct Otc {
    engine: Arc<v2::Engine>,
}

impl std::fmt::Debug for Otc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Otc").field("engine", &self.engine).finish()
    }
}

impl Otc {
    /// Prepares the adapter; no network I/O.
    pub fn new(config: &OtcConfig, password: Secret) -> Result<Otc, ProviderError> {
        let identity = Api::connect("otc", &v3_url(&config.identity_endpoint), config.timeout)?
            .require("password", &password)?;
        let provider = identity.provider().to_string();
        let credentials = Credentials::Password {
            user: User::Name {
                name: config.user_name.trim().to_string(),
                domain: Domain::Name(config.domain_name.trim().to_string()),
            },
            password: password.clone(),
            scope: Scope::ProjectName(config.project_name.trim().to_string()),
        };
        let keystone = Keystone::new(identity, credentials, AUTH_HINT);
        let settings = v2::Settings {
            provider,
            api_url: config.api_url.clone(),
            interface: "public".into(),
            region: None,
            zone_name: config.zone_name.clone(),
            zone_type: Some(if config.private_zone { "private" } else { "public" }.into()),
            min_ttl: MIN_TTL,
            role_hint: format!(
                "{AUTH_HINT}; the user needs the DNS Administrator role (or a policy allowing dns:zone:list and dns:recordset:*) in the project"
            ),
            timeout: config.timeout,
        };
        Ok(Otc { engine: Arc::new(v2::Engine::new(settings, keystone, &password)?) })
    }
}

impl DnsProvider for Otc {
    fn describe(&self) -> String {
        self.engine.provider().to_string()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.engine.change(record, true).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.engine.change(record, false).await
    }
}

impl ProviderSpec for Otc {
    type Config = OtcConfig;
    const CODE: &'static str = "otc";
    const NAME: &'static str = "Open Telekom Cloud";
    const SECRETS: &'static [&'static str] = &["password"];
    const ENV: &'static [EnvName] = &[
        env("OTC_DOMAIN_NAME", "domain_name", Kind::Text),
        env("OTC_USER_NAME", "user_name", Kind::Text),
        env("OTC_PASSWORD", "password", Kind::Secret),
        env("OTC_PROJECT_NAME", "project_name", Kind::Text),
        env("OTC_IDENTITY_ENDPOINT", "identity_endpoint", Kind::Text),
        env("OTC_PRIVATE_ZONE", "private_zone", Kind::Bool),
        env("OTC_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("OTC_TTL", TTL),
        ignored("OTC_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("OTC_POLLING_INTERVAL", POLLING),
        ignored("OTC_SEQUENCE_INTERVAL", SEQUENCE),
    ];
    const PERMISSIONS: &'static str = "an IAM user with the DNS Administrator role (or a policy allowing dns:zone:list and dns:recordset:*) in the project";
    const NOTES: &'static str = "minimum TTL 300 s; record sets are PENDING until the name servers have them: the propagation check waits";

    fn check(config: &OtcConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.password, "password")?;
        for (key, value) in [
            ("domain_name", &config.domain_name),
            ("user_name", &config.user_name),
            ("project_name", &config.project_name),
        ] {
            if value.trim().is_empty() {
                return Err(SettingError::new(key, "is empty"));
            }
        }
        checks.url("identity_endpoint", &config.identity_endpoint)?;
        if let Some(url) = &config.api_url {
            checks.url("api_url", url)?;
        }
        if config.zone_name.as_deref().is_some_and(|z| z.trim().trim_end_matches('.').is_empty()) {
            return Err(SettingError::new("zone_name", "is empty; leave it out to find the zone"));
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &OtcConfig, secrets: &mut dyn SecretReader) -> Result<Otc, ProviderError> {
        let password = read_required(secrets, "otc", "password", &config.password)?;
        Otc::new(config, password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_its_identity_endpoint_and_hides_the_password() {
        let config = OtcConfig {
            domain_name: "OTC-EU-DE-0001".into(),
            user_name: "dns".into(),
            password: None,
            project_name: "eu-de".into(),
            identity_endpoint: "https://iam.eu-de.otc.t-systems.com:443/v3/auth/tokens".into(),
            private_zone: false,
            zone_name: None,
            api_url: None,
            timeout: Duration::from_secs(5),
        };
        let p = Otc::new(&config, Secret::new("otc-hunter2")).unwrap();
        assert_eq!(p.describe(), "otc (https://iam.eu-de.otc.t-systems.com:443/v3)");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(Otc::new(&config, Secret::new("")).unwrap_err().to_string().contains("password"));
    }
}
