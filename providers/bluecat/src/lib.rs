//! BlueCat Address Manager (self-hosted) through its legacy REST v1 API under
//! `<server_url>/Services/REST/v1/`: `login` answers a `BAMAuthToken` that every later call
//! sends as `Authorization: BAMAuthToken: <token>`; the configuration and the DNS view are
//! found by name (`getEntityByName`), the zone by walking the name's labels down from the
//! view (BlueCat nests one zone entity per label); `addEntity` adds one `TXTRecord`,
//! `getEntities` lists the zone's TXT records so that cleanup deletes (`delete`) exactly the
//! ones carrying our value; `quickDeploy` pushes the zone to its DNS servers; `logout` ends
//! the session. See README.md.
//!
//! API reference: Address Manager Legacy v1 API Guide,
//! <https://docs.bluecatnetworks.com/r/Address-Manager-Legacy-v1-API-Guide/> (`login`,
//! `logout`, `getEntityByName`, `getEntities`, `addEntity`, `delete`, `quickDeploy`).

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Method};
use serde::Deserialize;
use serde_json::json;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_required, required, required_text,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, encode, excerpt, redact};

const AUTH_HINT: &str =
    "check user_name and password (lego: BLUECAT_USER_NAME, BLUECAT_PASSWORD): an Address Manager API user";

/// TXT records listed per `getEntities` page; at most `MAX_PAGES` pages are read.
const PAGE: usize = 100;
const MAX_PAGES: usize = 100;

/// The shortest TTL the adapter writes.
pub const MIN_TTL: u32 = 60;

/// BlueCat's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueCatConfig {
    /// Scheme, host and port of the Address Manager server; `/Services/REST/v1` is appended.
    pub server_url: Option<String>,
    /// An API user.
    pub user_name: Option<String>,
    /// The API user's password.
    pub password: Option<SecretSource>,
    /// The configuration that holds the DNS view.
    pub config_name: Option<String>,
    /// The DNS view (usually the external one) whose zones are written.
    pub dns_view: Option<String>,
    /// Leave the deployment to a schedule instead of a quick deploy after each change.
    #[serde(default)]
    pub skip_deploy: bool,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

/// The BlueCat adapter. Cheap to clone.
#[derive(Clone)]
pub struct BlueCat {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    user: String,
    password: Secret,
    config_name: String,
    view: String,
    deploy: bool,
}

impl std::fmt::Debug for BlueCat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlueCat")
            .field("api", &self.inner.api)
            .field("user", &self.inner.user)
            .field("config_name", &self.inner.config_name)
            .field("view", &self.inner.view)
            .finish_non_exhaustive()
    }
}

/// An entity as the API answers it (`id` 0: none).
#[derive(Debug, Deserialize)]
struct Entity {
    #[serde(default)]
    id: u64,
    #[serde(default)]
    properties: Option<String>,
}

/// `key=value|key=value|` properties.
fn property<'a>(properties: &'a str, key: &str) -> Option<&'a str> {
    properties.split('|').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// One logged-in session: its token header.
struct Session(HeaderValue);

impl BlueCat {
    /// Prepares the client; no network I/O.
    pub fn new(
        server_url: &str,
        user: &str,
        password: &Secret,
        config_name: &str,
        view: &str,
        deploy: bool,
        timeout: Duration,
    ) -> Result<BlueCat, ProviderError> {
        let base = format!("{}/Services/REST/v1", server_url.trim().trim_end_matches('/'));
        let api =
            Api::connect("bluecat", &base, timeout)?.require("password", password)?.with_redacted(password);
        for (key, value) in [("user_name", user), ("config_name", config_name), ("dns_view", view)] {
            if value.trim().is_empty() {
                return Err(ProviderError::Config {
                    provider: api.provider().to_string(),
                    detail: format!("{key} is empty"),
                });
            }
        }
        Ok(BlueCat {
            inner: Arc::new(Inner {
                api,
                user: user.trim().to_string(),
                password: password.clone(),
                config_name: config_name.trim().to_string(),
                view: view.trim().to_string(),
                deploy,
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    fn auth_error(&self, action: &str, said: &str) -> ProviderError {
        ProviderError::Auth { provider: self.provider(), detail: format!("{action}: {said}; {AUTH_HINT}") }
    }

    async fn login(&self) -> Result<Session, ProviderError> {
        let api = &self.inner.api;
        let path = format!(
            "/login?username={}&password={}",
            encode(&self.inner.user),
            encode(self.inner.password.expose())
        );
        let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(api.error("GET /login", &response, AUTH_HINT));
        }
        let text = String::from_utf8_lossy(&response.body).trim().trim_matches('"').to_string();
        // "Session Token-> BAMAuthToken: <token> <- for User : <user>"
        let token = text
            .split_once("BAMAuthToken:")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .filter(|t| !t.is_empty() && !text.contains("Authentication Error"));
        let Some(token) = token else {
            return Err(self.auth_error("GET /login", &excerpt(&response.body, &api.secrets())));
        };
        let mut value = HeaderValue::from_str(&format!("BAMAuthToken: {token}")).map_err(|_| {
            ProviderError::Rejected {
                provider: self.provider(),
                detail: "GET /login: the token cannot be sent in a header; is server_url an Address Manager?"
                    .into(),
            }
        })?;
        value.set_sensitive(true);
        Ok(Session(value))
    }

    async fn logout(&self, session: &Session) {
        let headers = [(AUTHORIZATION, session.0.clone())];
        if let Err(e) = self.inner.api.call(Method::GET, "/logout", &Body::Empty, &headers).await {
            tracing::debug!(error = %e, "bluecat: logout failed; the session lapses by itself");
        }
    }

    /// One call inside the session; `Ok` with the body of a successful answer.
    async fn call(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: &Body,
    ) -> Result<String, ProviderError> {
        let api = &self.inner.api;
        let action = format!("{method} {}", path.split('?').next().unwrap_or_default());
        let response = api.call(method, path, body, &[(AUTHORIZATION, session.0.clone())]).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(api.error(&action, &response, AUTH_HINT));
        }
        Ok(redact(&String::from_utf8_lossy(&response.body), &api.secrets()))
    }

    async fn entity(
        &self,
        session: &Session,
        parent: u64,
        name: &str,
        kind: &str,
    ) -> Result<Option<Entity>, ProviderError> {
        let path = format!("/getEntityByName?parentId={parent}&name={}&type={kind}", encode(name));
        let body = self.call(session, Method::GET, &path, &Body::Empty).await?;
        if body.trim().is_empty() || body.trim() == "null" {
            return Ok(None);
        }
        let entity: Entity = serde_json::from_str(&body).map_err(|_| ProviderError::Rejected {
            provider: self.provider(),
            detail: format!("GET /getEntityByName: not an entity: {}", excerpt(body.as_bytes(), &[])),
        })?;
        Ok((entity.id != 0).then_some(entity))
    }

    /// The view's ID.
    async fn view(&self, session: &Session) -> Result<u64, ProviderError> {
        let inner = &self.inner;
        let config =
            self.entity(session, 0, &inner.config_name, "Configuration").await?.ok_or_else(|| {
                ProviderError::Rejected {
                    provider: self.provider(),
                    detail: format!(
                        "no configuration named {:?}; check config_name (lego: BLUECAT_CONFIG_NAME)",
                        inner.config_name
                    ),
                }
            })?;
        let view = self.entity(session, config.id, &inner.view, "View").await?.ok_or_else(|| {
            ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "configuration {:?} has no DNS view named {:?}; check dns_view (lego: BLUECAT_DNS_VIEW)",
                    inner.config_name, inner.view
                ),
            }
        })?;
        Ok(view.id)
    }

    /// The deepest zone holding the name, walking its labels down from the view, and the
    /// record's name relative to it.
    async fn zone(
        &self,
        session: &Session,
        view: u64,
        record: &TxtRecord,
    ) -> Result<(u64, String), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let labels: Vec<&str> = fqdn.trim_end_matches('.').split('.').collect();
        let mut parent = view;
        let mut depth = 0;
        // The record itself is never a zone: stop one label short of it.
        for label in labels.iter().skip(1).rev() {
            match self.entity(session, parent, label, "Zone").await? {
                Some(zone) => {
                    parent = zone.id;
                    depth += 1;
                }
                None => break,
            }
        }
        if depth == 0 {
            return Err(ProviderError::ZoneNotFound {
                provider: self.provider(),
                fqdn: record.fqdn.clone(),
                detail: format!("the view {:?} has no zone for it", self.inner.view),
            });
        }
        let name = labels[..labels.len() - depth].join(".");
        Ok((parent, name))
    }

    /// The zone's TXT records named `name` whose text is `value`.
    async fn ours(
        &self,
        session: &Session,
        zone: u64,
        record: &TxtRecord,
    ) -> Result<Vec<u64>, ProviderError> {
        let absolute = record.fqdn_without_dot().to_ascii_lowercase();
        let mut found = Vec::new();
        for page in 0..MAX_PAGES {
            let path =
                format!("/getEntities?parentId={zone}&type=TXTRecord&start={}&count={PAGE}", page * PAGE);
            let body = self.call(session, Method::GET, &path, &Body::Empty).await?;
            let entities: Vec<Entity> = serde_json::from_str(&body).map_err(|_| ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "GET /getEntities: not a list of entities: {}",
                    excerpt(body.as_bytes(), &[])
                ),
            })?;
            let count = entities.len();
            for e in entities {
                let props = e.properties.as_deref().unwrap_or_default();
                let same_name = property(props, "absoluteName")
                    .is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&absolute));
                if same_name && property(props, "txt") == Some(record.value.as_str()) {
                    found.push(e.id);
                }
            }
            if count < PAGE {
                break;
            }
        }
        Ok(found)
    }

    async fn deploy(&self, session: &Session, zone: u64) -> Result<(), ProviderError> {
        if self.inner.deploy {
            self.call(session, Method::POST, &format!("/quickDeploy?entityId={zone}"), &Body::Empty).await?;
        }
        Ok(())
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let session = self.login().await?;
        let result = self.change_in(&session, record, add).await;
        self.logout(&session).await;
        result
    }

    async fn change_in(&self, session: &Session, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let view = self.view(session).await?;
        let (zone, name) = self.zone(session, view, record).await?;
        let ours = self.ours(session, zone, record).await?;
        if add {
            if !ours.is_empty() {
                tracing::debug!(fqdn = %record.fqdn, "bluecat: value present already");
                return Ok(());
            }
            let properties = format!(
                "ttl={}|absoluteName={}|txt={}|",
                record.ttl.max(MIN_TTL),
                record.fqdn_without_dot(),
                record.value
            );
            let body = Body::json(&json!({"name": name, "type": "TXTRecord", "properties": properties}));
            let answer =
                self.call(session, Method::POST, &format!("/addEntity?parentId={zone}"), &body).await?;
            if answer.trim().trim_matches('"').parse::<u64>().is_err() {
                return Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: format!(
                        "POST /addEntity: no record ID in the answer: {}",
                        excerpt(answer.as_bytes(), &[])
                    ),
                });
            }
        } else {
            if ours.is_empty() {
                tracing::debug!(fqdn = %record.fqdn, "bluecat: value absent already");
                return Ok(());
            }
            for id in ours {
                self.call(session, Method::DELETE, &format!("/delete?objectId={id}"), &Body::Empty).await?;
            }
        }
        self.deploy(session, zone).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, add, "bluecat: zone changed");
        Ok(())
    }
}

impl DnsProvider for BlueCat {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.change(record, true).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.change(record, false).await
    }
}

fn text_setting(value: &Option<String>, key: &str, env: &str) -> Result<(), SettingError> {
    required_text(value, key, &format!("missing (lego: {env})"))
}

impl ProviderSpec for BlueCat {
    type Config = BlueCatConfig;
    const CODE: &'static str = "bluecat";
    const NAME: &'static str = "BlueCat Address Manager";
    const SECRETS: &'static [&'static str] = &["password"];
    const ENV: &'static [EnvName] = &[
        env("BLUECAT_SERVER_URL", "server_url", Kind::Text),
        env("BLUECAT_USER_NAME", "user_name", Kind::Text),
        env("BLUECAT_PASSWORD", "password", Kind::Secret),
        env("BLUECAT_CONFIG_NAME", "config_name", Kind::Text),
        env("BLUECAT_DNS_VIEW", "dns_view", Kind::Text),
        env("BLUECAT_SKIP_DEPLOY", "skip_deploy", Kind::Bool),
        env("BLUECAT_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("BLUECAT_TTL", TTL),
        ignored("BLUECAT_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("BLUECAT_POLLING_INTERVAL", POLLING),
        ignored("BLUECAT_DEBUG", "wildcert logs API calls at debug level (-v)"),
    ];
    const PERMISSIONS: &'static str =
        "an API user with change access to the view's zones (add and delete TXT records) and deploy rights";
    const NOTES: &'static str =
        "quick deploy after each change unless skip_deploy; zones are found label by label below the view";

    fn check(config: &BlueCatConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        text_setting(&config.server_url, "server_url", "BLUECAT_SERVER_URL")?;
        text_setting(&config.user_name, "user_name", "BLUECAT_USER_NAME")?;
        required(&config.password, "password")?;
        text_setting(&config.config_name, "config_name", "BLUECAT_CONFIG_NAME")?;
        text_setting(&config.dns_view, "dns_view", "BLUECAT_DNS_VIEW")?;
        checks.url("server_url", config.server_url.as_deref().unwrap_or_default())?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &BlueCatConfig, secrets: &mut dyn SecretReader) -> Result<BlueCat, ProviderError> {
        let password = read_required(secrets, "bluecat", "password", &config.password)?;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        BlueCat::new(
            &text(&config.server_url),
            &text(&config.user_name),
            &password,
            &text(&config.config_name),
            &text(&config.dns_view),
            !config.skip_deploy,
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties() {
        let p = "ttl=60|absoluteName=_acme-challenge.example.com|txt=abc=|";
        assert_eq!(property(p, "txt"), Some("abc="));
        assert_eq!(property(p, "absoluteName"), Some("_acme-challenge.example.com"));
        assert_eq!(property(p, "comments"), None);
    }

    #[test]
    fn refuses_blank_settings_and_hides_the_password() {
        let p = BlueCat::new(
            "https://bam.example",
            "api",
            &Secret::new("bc-pw"),
            "Main",
            "External",
            true,
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("bc-pw"));
        let err = BlueCat::new(
            "https://bam.example",
            "api",
            &Secret::new("pw"),
            "",
            "External",
            true,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(err.to_string().contains("config_name"), "{err}");
    }
}
