//! OpenStack Designate: add and remove one TXT value through the DNS API v2, authenticated
//! by a Keystone v3 token (a user's password with a project scope, or an application
//! credential). The DNS endpoint comes from the token's service catalog (type `dns`, the
//! configured region and interface) unless `api_url` names it. See README.md and [`v2`],
//! which Open Telekom Cloud's adapter shares.
//!
//! API references: <https://docs.openstack.org/api-ref/dns/dns-api-v2-index.html>,
//! <https://docs.openstack.org/api-ref/identity/v3/#authentication-and-token-management>.

#![warn(missing_docs)]

pub mod v2;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_optional,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::keystone::{Credentials, Domain, Keystone, Scope, User, v3_url};
use wildcert_dns_http::{Api, default_timeout};

/// Keystone's own default domain, for users and projects named without one.
pub const DEFAULT_DOMAIN_ID: &str = "default";

/// OpenStack Designate's settings: the names of OpenStack's `OS_*` variables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignateConfig {
    /// The identity service (Keystone), with or without `/v3`.
    pub auth_url: String,
    /// The user, by name (within `user_domain_name` / `user_domain_id`) ...
    pub username: Option<String>,
    /// ... or by ID.
    pub user_id: Option<String>,
    /// The user's password.
    pub password: Option<SecretSource>,
    /// The user's domain by name; default: `domain_name`, else Keystone's default domain.
    pub user_domain_name: Option<String>,
    /// The user's domain by ID.
    pub user_domain_id: Option<String>,
    /// The project the token is scoped to, by name (within the project's domain) ...
    pub project_name: Option<String>,
    /// ... or by ID.
    pub project_id: Option<String>,
    /// The project's domain by name; default: `domain_name`, else Keystone's default domain.
    pub project_domain_name: Option<String>,
    /// The project's domain by ID.
    pub project_domain_id: Option<String>,
    /// The domain of both user and project when they do not name their own.
    pub domain_name: Option<String>,
    /// Instead of a password: an application credential, by ID ...
    pub application_credential_id: Option<String>,
    /// ... or by name (with the user's name or ID).
    pub application_credential_name: Option<String>,
    /// The application credential's secret.
    pub application_credential_secret: Option<SecretSource>,
    /// The region whose DNS endpoint to use; default: the first the catalog lists.
    pub region_name: Option<String>,
    /// The catalog interface: public, internal or admin.
    #[serde(default = "default_interface")]
    pub interface: String,
    /// The zone to write; default: the longest suffix of the name the project has.
    pub zone_name: Option<String>,
    /// The DNS endpoint, overriding the service catalog's.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_interface() -> String {
    "public".into()
}

/// The Designate adapter. Cheap to clone; clones share the token and serialization.
#[derive(Clone)]
pub struct Designate {
    engine: Arc<v2::Engine>,
}

impl std::fmt::Debug for Designate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Designate").field("engine", &self.engine).finish()
    }
}

fn domain(name: &Option<String>, id: &Option<String>, shared: &Option<String>) -> Domain {
    match (id, name, shared) {
        (Some(id), _, _) => Domain::Id(id.clone()),
        (None, Some(name), _) | (None, None, Some(name)) => Domain::Name(name.clone()),
        (None, None, None) => Domain::Id(DEFAULT_DOMAIN_ID.into()),
    }
}

impl Designate {
    /// The Keystone credentials the settings describe, and the hint naming them; `secret`
    /// is the password or the application credential's secret.
    pub fn credentials(config: &DesignateConfig, secret: Secret) -> (Credentials, &'static str) {
        let user = match (&config.user_id, &config.username) {
            (Some(id), _) => User::Id(id.clone()),
            (None, name) => User::Name {
                name: name.clone().unwrap_or_default(),
                domain: domain(&config.user_domain_name, &config.user_domain_id, &config.domain_name),
            },
        };
        if config.application_credential_secret.is_some() {
            let credentials = Credentials::ApplicationCredential {
                id: config.application_credential_id.clone(),
                name: config.application_credential_name.clone().map(|n| (n, user)),
                secret,
            };
            return (
                credentials,
                "check application_credential_id / application_credential_secret (lego: OS_APPLICATION_CREDENTIAL_ID, OS_APPLICATION_CREDENTIAL_SECRET)",
            );
        }
        let scope = match (&config.project_id, &config.project_name) {
            (Some(id), _) => Scope::ProjectId(id.clone()),
            (None, Some(name)) => Scope::Project {
                name: name.clone(),
                domain: domain(&config.project_domain_name, &config.project_domain_id, &config.domain_name),
            },
            (None, None) => Scope::None,
        };
        (
            Credentials::Password { user, password: secret, scope },
            "check username, password and the project (lego: OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME)",
        )
    }

    /// Prepares the adapter; no network I/O.
    pub fn new(config: &DesignateConfig, secret: Secret) -> Result<Designate, ProviderError> {
        let identity_url = v3_url(&config.auth_url);
        let identity = Api::connect("designate", &identity_url, config.timeout)?;
        let provider = identity.provider().to_string();
        let key = if config.application_credential_secret.is_some() {
            "application_credential_secret"
        } else {
            "password"
        };
        let identity = identity.require(key, &secret)?;
        let (credentials, hint) = Designate::credentials(config, secret.clone());
        let keystone = Keystone::new(identity, credentials, hint);
        let settings = v2::Settings {
            provider,
            api_url: config.api_url.clone(),
            interface: config.interface.clone(),
            region: config.region_name.clone(),
            zone_name: config.zone_name.clone(),
            zone_type: None,
            min_ttl: 1,
            role_hint: format!(
                "{hint}; the project needs a role that may manage the zone's record sets (Designate's default policy: member)"
            ),
            timeout: config.timeout,
        };
        Ok(Designate { engine: Arc::new(v2::Engine::new(settings, keystone, &secret)?) })
    }
}

impl DnsProvider for Designate {
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

/// `interface` values the catalog knows.
const INTERFACES: &[&str] = &["public", "internal", "admin"];

impl ProviderSpec for Designate {
    type Config = DesignateConfig;
    const CODE: &'static str = "designate";
    const NAME: &'static str = "OpenStack Designate";
    const SECRETS: &'static [&'static str] = &["password", "application_credential_secret"];
    const ENV: &'static [EnvName] = &[
        env("OS_AUTH_URL", "auth_url", Kind::Text),
        env("OS_USERNAME", "username", Kind::Text),
        env("OS_USER_ID", "user_id", Kind::Text),
        env("OS_PASSWORD", "password", Kind::Secret),
        env("OS_USER_DOMAIN_NAME", "user_domain_name", Kind::Text),
        env("OS_USER_DOMAIN_ID", "user_domain_id", Kind::Text),
        env("OS_PROJECT_NAME", "project_name", Kind::Text),
        env("OS_TENANT_NAME", "project_name", Kind::Text),
        env("OS_PROJECT_ID", "project_id", Kind::Text),
        env("OS_TENANT_ID", "project_id", Kind::Text),
        env("OS_PROJECT_DOMAIN_NAME", "project_domain_name", Kind::Text),
        env("OS_PROJECT_DOMAIN_ID", "project_domain_id", Kind::Text),
        env("OS_DOMAIN_NAME", "domain_name", Kind::Text),
        env("OS_APPLICATION_CREDENTIAL_ID", "application_credential_id", Kind::Text),
        env("OS_APPLICATION_CREDENTIAL_NAME", "application_credential_name", Kind::Text),
        env("OS_APPLICATION_CREDENTIAL_SECRET", "application_credential_secret", Kind::Secret),
        env("OS_REGION_NAME", "region_name", Kind::Text),
        env("OS_INTERFACE", "interface", Kind::Text),
        env("DESIGNATE_ZONE_NAME", "zone_name", Kind::Text),
        ignored(
            "OS_AUTH_TYPE",
            "the method follows from the settings given (password or application credential)",
        ),
        ignored("OS_IDENTITY_API_VERSION", "wildcert speaks Keystone v3 only"),
        ignored(
            "OS_CLOUD",
            "clouds.yaml is not read; give its auth_url, credentials, project and region as settings",
        ),
        ignored("DESIGNATE_TTL", TTL),
        ignored("DESIGNATE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("DESIGNATE_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "a project-scoped token (user and project, or an application credential) with a role that may list zones and create, update and delete record sets in the challenge zone (Designate's default policy: member)";
    const NOTES: &'static str = "record sets are PENDING until Designate's workers reach every name server: the propagation check waits for them";

    fn check(config: &DesignateConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        checks.url("auth_url", &config.auth_url)?;
        if let Some(url) = &config.api_url {
            checks.url("api_url", url)?;
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        if !INTERFACES.contains(&config.interface.as_str()) {
            return Err(SettingError::new("interface", format!("must be one of {}", INTERFACES.join(", "))));
        }
        if config.zone_name.as_deref().is_some_and(|z| z.trim().trim_end_matches('.').is_empty()) {
            return Err(SettingError::new("zone_name", "is empty; leave it out to find the zone"));
        }
        let user = config.username.is_some() || config.user_id.is_some();
        match (&config.password, &config.application_credential_secret) {
            (Some(_), Some(_)) => Err(SettingError::new(
                "application_credential_secret",
                "give either a password or an application credential, not both",
            )),
            (None, Some(_)) => {
                if config.application_credential_id.is_none()
                    && !(config.application_credential_name.is_some() && user)
                {
                    return Err(SettingError::new(
                        "application_credential_id",
                        "missing: an application credential is named by its ID (OS_APPLICATION_CREDENTIAL_ID), or by its name with username or user_id",
                    ));
                }
                Ok(())
            }
            (Some(_), None) => {
                if !user {
                    return Err(SettingError::new(
                        "username",
                        "missing: set username (OS_USERNAME) or user_id",
                    ));
                }
                if config.project_name.is_none() && config.project_id.is_none() {
                    return Err(SettingError::new(
                        "project_name",
                        "missing: Designate needs a project-scoped token; set project_name (OS_PROJECT_NAME) or project_id (OS_PROJECT_ID)",
                    ));
                }
                Ok(())
            }
            (None, None) => Err(SettingError::new(
                "password",
                "missing secret: set password_file = \"/path\" (mode 0600) or password_env = \"VARIABLE\" (lego: OS_PASSWORD), or an application credential",
            )),
        }
    }

    fn build(config: &DesignateConfig, secrets: &mut dyn SecretReader) -> Result<Designate, ProviderError> {
        let secret = match read_optional(secrets, "designate", "password", &config.password)? {
            Some(password) => password,
            None => read_optional(
                secrets,
                "designate",
                "application_credential_secret",
                &config.application_credential_secret,
            )?
            .ok_or_else(|| ProviderError::Config {
                provider: "designate".into(),
                detail: "no password and no application_credential_secret".into(),
            })?,
        };
        Designate::new(config, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DesignateConfig {
        DesignateConfig {
            auth_url: "https://keystone.example:5000".into(),
            username: Some("ops".into()),
            user_id: None,
            password: None,
            user_domain_name: None,
            user_domain_id: None,
            project_name: Some("dns".into()),
            project_id: None,
            project_domain_name: None,
            project_domain_id: None,
            domain_name: Some("Corp".into()),
            application_credential_id: None,
            application_credential_name: None,
            application_credential_secret: None,
            region_name: None,
            interface: "public".into(),
            zone_name: None,
            api_url: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn settings_become_keystone_credentials_and_hide_the_password() {
        let (credentials, hint) = Designate::credentials(&config(), Secret::new("pw-hunter2"));
        match credentials {
            Credentials::Password { user, scope, .. } => {
                assert_eq!(user, User::Name { name: "ops".into(), domain: Domain::Name("Corp".into()) });
                assert_eq!(scope, Scope::Project { name: "dns".into(), domain: Domain::Name("Corp".into()) });
            }
            other => panic!("{other:?}"),
        }
        assert!(hint.contains("password"));
        let p = Designate::new(&config(), Secret::new("pw-hunter2")).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(p.describe().contains("https://keystone.example:5000/v3"), "{}", p.describe());
        let err = Designate::new(&config(), Secret::new(" ")).unwrap_err();
        assert!(err.to_string().contains("password is empty"), "{err}");
    }

    #[test]
    fn domains_default_to_keystones_default_domain() {
        assert_eq!(domain(&None, &None, &None), Domain::Id("default".into()));
        assert_eq!(domain(&Some("A".into()), &Some("b".into()), &None), Domain::Id("b".into()));
        assert_eq!(domain(&None, &None, &Some("Shared".into())), Domain::Name("Shared".into()));
    }
}
