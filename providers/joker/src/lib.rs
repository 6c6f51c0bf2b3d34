//! Joker.com: TXT values through DMAPI (the default, `api_mode = "DMAPI"`): log in with an
//! API key or the account's user name and password, read the zone with `dns-zone-get`, add
//! or remove our one line, write it back with `dns-zone-put` (one change per zone at a time;
//! every other line as read). Or through the SVC endpoint (`api_mode = "SVC"`, lego's
//! `JOKER_API_MODE=SVC`) with a zone's Dynamic DNS credentials, which replaces a label's TXT
//! values as a whole. See README.md.
//!
//! API reference: DMAPI <https://joker.com/faq/books/reseller-documentation-en/page/modify-zonedata>
//! (zone format, `dns-zone-get`, `dns-zone-put`),
//! <https://joker.com/faq/books/reseller-documentation-en/page/account-and-handling> (`login`
//! with user name and password or `api-key`, `logout`), commonalities of all requests
//! (`Status-Code`, `Auth-Sid`); SVC
//! <https://joker.com/faq/content/6/496/en/let_s-encrypt-support.html>.

#![warn(missing_docs)]

mod dmapi;
mod svc;
pub mod zonefile;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SEQUENCE, SecretReader, SecretSource,
    SettingError, TTL, check_http, env, ignored, missing_secret, read_optional,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::Api;

pub use dmapi::{Login, MIN_TTL};

/// Where DMAPI lives (`/<request>` is appended).
pub const DMAPI_URL: &str = "https://dmapi.joker.com/request";
/// Where the SVC endpoint lives (posted to as is).
pub const SVC_URL: &str = "https://svc.joker.com/nic/replace";

/// Which Joker API to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// DMAPI: zone read-merge-write inside a session.
    #[default]
    Dmapi,
    /// SVC: the label's TXT values replaced with the zone's Dynamic DNS credentials.
    Svc,
}

impl Mode {
    fn parse(text: Option<&str>) -> Result<Mode, String> {
        match text.map(|t| t.trim().to_ascii_uppercase()).as_deref() {
            None | Some("") | Some("DMAPI") => Ok(Mode::Dmapi),
            Some("SVC") => Ok(Mode::Svc),
            Some(other) => {
                Err(format!("`{other}` is not a Joker API mode; write \"DMAPI\" (default) or \"SVC\""))
            }
        }
    }
}

/// Joker.com's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JokerConfig {
    /// `DMAPI` (default) or `SVC`.
    pub api_mode: Option<String>,
    /// DMAPI: the account's user name (with `password`), unless `api_key` is set. SVC: the
    /// zone's Dynamic DNS user name.
    pub username: Option<String>,
    /// The password that goes with `username`.
    pub password: Option<SecretSource>,
    /// DMAPI: an API key from My Profile (instead of user name and password).
    pub api_key: Option<SecretSource>,
    /// The zone to write (Joker's name of the domain); default: the zone SOA discovery found,
    /// else (DMAPI) the longest suffix of the name Joker serves for the account.
    pub zone: Option<String>,
    /// Base URL of DMAPI, or the SVC URL; default by mode.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(
        default = "wildcert_dns_http::default_timeout",
        deserialize_with = "wildcert_dns_api::spec::duration"
    )]
    pub timeout: Duration,
}

/// The Joker.com adapter. Cheap to clone; clones share the session and the locks.
#[derive(Clone)]
pub struct Joker {
    inner: Arc<Inner>,
}

enum Inner {
    Dmapi(dmapi::Dmapi),
    Svc(svc::Svc),
}

impl std::fmt::Debug for Joker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (mode, api) = match &*self.inner {
            Inner::Dmapi(d) => ("DMAPI", d.api()),
            Inner::Svc(s) => ("SVC", s.api()),
        };
        f.debug_struct("Joker").field("mode", &mode).field("api", api).finish_non_exhaustive()
    }
}

impl Joker {
    /// A DMAPI adapter; no network I/O.
    pub fn dmapi(
        api_url: &str,
        login: Login,
        zone: Option<&str>,
        timeout: Duration,
    ) -> Result<Joker, ProviderError> {
        let api = Api::connect("joker", api_url, timeout)?;
        let api = match &login {
            Login::ApiKey(key) => api.require("api_key", key)?,
            Login::Password { username, password } => {
                if username.trim().is_empty() {
                    return Err(ProviderError::Config {
                        provider: api.provider().to_string(),
                        detail: "username is empty".into(),
                    });
                }
                api.require("password", password)?
            }
        };
        let zone = zone.map(dmapi::zone_name);
        Ok(Joker { inner: Arc::new(Inner::Dmapi(dmapi::Dmapi::new(api, login, zone))) })
    }

    /// An SVC adapter; no network I/O.
    pub fn svc(
        api_url: &str,
        username: &str,
        password: &Secret,
        zone: Option<&str>,
        timeout: Duration,
    ) -> Result<Joker, ProviderError> {
        let api = Api::connect("joker", api_url, timeout)?.require("password", password)?;
        if username.trim().is_empty() {
            return Err(ProviderError::Config {
                provider: api.provider().to_string(),
                detail: "username is empty".into(),
            });
        }
        let zone = zone.map(dmapi::zone_name);
        Ok(Joker {
            inner: Arc::new(Inner::Svc(svc::Svc::new(
                api,
                username.trim().to_string(),
                password.clone(),
                zone,
            ))),
        })
    }

    fn provider(&self) -> String {
        match &*self.inner {
            Inner::Dmapi(d) => d.api().provider().to_string(),
            Inner::Svc(s) => s.api().provider().to_string(),
        }
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        match &*self.inner {
            Inner::Dmapi(d) => d.change(record, add).await,
            Inner::Svc(s) => s.change(record, add).await,
        }
    }
}

impl DnsProvider for Joker {
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

impl ProviderSpec for Joker {
    type Config = JokerConfig;
    const CODE: &'static str = "joker";
    const NAME: &'static str = "Joker.com";
    const SECRETS: &'static [&'static str] = &["password", "api_key"];
    const ENV: &'static [EnvName] = &[
        env("JOKER_API_MODE", "api_mode", Kind::Text),
        env("JOKER_USERNAME", "username", Kind::Text),
        env("JOKER_PASSWORD", "password", Kind::Secret),
        env("JOKER_API_KEY", "api_key", Kind::Secret),
        env("JOKER_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("JOKER_TTL", TTL),
        ignored("JOKER_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("JOKER_POLLING_INTERVAL", POLLING),
        ignored("JOKER_SEQUENCE_INTERVAL", SEQUENCE),
    ];
    const PERMISSIONS: &'static str = "DMAPI: an API key that may modify (not read-only), or the account's login; SVC: the zone's Dynamic DNS credentials";
    const NOTES: &'static str =
        "TTL at least 60 s; SVC mode replaces the challenge label's TXT values as a whole";

    fn check(config: &JokerConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        let mode = Mode::parse(config.api_mode.as_deref()).map_err(|m| SettingError::new("api_mode", m))?;
        let username = config.username.as_deref().is_some_and(|u| !u.trim().is_empty());
        match mode {
            Mode::Dmapi => {
                if config.api_key.is_none() {
                    if !username {
                        return Err(SettingError::new(
                            "api_key",
                            "missing: set api_key_file (a DMAPI key), or username with password_file",
                        ));
                    }
                    if config.password.is_none() {
                        return Err(missing_secret("password"));
                    }
                } else if username || config.password.is_some() {
                    checks.warn("username", "is not used: api_key logs in to DMAPI");
                }
            }
            Mode::Svc => {
                if config.api_key.is_some() {
                    return Err(SettingError::new(
                        "api_key",
                        "SVC mode takes the zone's Dynamic DNS username and password, not a DMAPI key",
                    ));
                }
                if !username {
                    return Err(SettingError::new(
                        "username",
                        "missing: the zone's Dynamic DNS user name (SVC mode)",
                    ));
                }
                if config.password.is_none() {
                    return Err(missing_secret("password"));
                }
            }
        }
        if config.zone.as_deref().is_some_and(|z| z.trim().trim_end_matches('.').is_empty()) {
            return Err(SettingError::new("zone", "is empty; leave it out to find the zone"));
        }
        let url = config.api_url.as_deref().unwrap_or(match mode {
            Mode::Dmapi => DMAPI_URL,
            Mode::Svc => SVC_URL,
        });
        check_http(checks, url, config.timeout)
    }

    fn build(config: &JokerConfig, secrets: &mut dyn SecretReader) -> Result<Joker, ProviderError> {
        let config_error = |detail: String| ProviderError::Config { provider: "joker".into(), detail };
        let mode = Mode::parse(config.api_mode.as_deref()).map_err(config_error)?;
        let api_key = read_optional(secrets, "joker", "api_key", &config.api_key)?;
        let password = read_optional(secrets, "joker", "password", &config.password)?;
        let username = config.username.clone().unwrap_or_default();
        let zone = config.zone.as_deref();
        match mode {
            Mode::Dmapi => {
                let url = config.api_url.as_deref().unwrap_or(DMAPI_URL);
                let login = match (api_key, password) {
                    (Some(key), _) => Login::ApiKey(key),
                    (None, Some(password)) => Login::Password { username, password },
                    (None, None) => return Err(config_error(missing_secret("api_key").message)),
                };
                Joker::dmapi(url, login, zone, config.timeout)
            }
            Mode::Svc => {
                let url = config.api_url.as_deref().unwrap_or(SVC_URL);
                let password = password.ok_or_else(|| config_error(missing_secret("password").message))?;
                Joker::svc(url, &username, &password, zone, config.timeout)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse(None).unwrap(), Mode::Dmapi);
        assert_eq!(Mode::parse(Some("svc")).unwrap(), Mode::Svc);
        assert!(Mode::parse(Some("rest")).unwrap_err().contains("DMAPI"));
    }

    #[test]
    fn hides_credentials_and_refuses_blank_ones() {
        let p = Joker::dmapi(DMAPI_URL, Login::ApiKey(Secret::new("jk-4p1")), None, Duration::from_secs(5))
            .unwrap();
        assert!(!format!("{p:?}").contains("jk-4p1"));
        let err = Joker::dmapi(DMAPI_URL, Login::ApiKey(Secret::new("")), None, Duration::from_secs(5))
            .unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
        let err = Joker::svc(SVC_URL, "", &Secret::new("pw"), None, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("username"), "{err}");
    }
}
