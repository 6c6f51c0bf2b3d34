//! `provider = "httpreq"`: settings, lego's variable names and the registry's view.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::ProviderError;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, env,
    ignored, read_optional,
};

use crate::{Httpreq, HttpreqSettings, Mode};
use wildcert_dns_http::default_timeout;

/// An HTTP endpoint adds and removes the record (lego's contract: POST `<endpoint>/present`
/// and `/cleanup` with `{"fqdn", "value"}`, or `{"domain", "token", "keyAuth"}` in RAW mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpreqConfig {
    /// Base URL; `/present` and `/cleanup` are appended to its path.
    pub endpoint: String,
    /// `"RAW"` for lego's raw mode; default: FQDN and value.
    #[serde(default)]
    pub mode: Mode,
    /// User for HTTP basic authentication (with a password).
    pub username: Option<String>,
    /// The basic-authentication password.
    pub password: Option<SecretSource>,
    /// Timeout of one request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
    /// PEM file with extra CA certificates to trust for an https:// endpoint.
    pub ca_certificates: Option<PathBuf>,
}

impl ProviderSpec for Httpreq {
    type Config = HttpreqConfig;
    const CODE: &'static str = "httpreq";
    const NAME: &'static str = "HTTP request";
    const PERMISSIONS: &'static str = "whatever the endpoint checks (optional HTTP basic auth)";
    const NOTES: &'static str =
        "the endpoint must answer only once the record is applied; lego's HTTPREQ_* contract";
    const SECRETS: &'static [&'static str] = &["password"];
    const ENV: &'static [EnvName] = &[
        env("HTTPREQ_ENDPOINT", "endpoint", Kind::Text),
        env("HTTPREQ_MODE", "mode", Kind::Text),
        env("HTTPREQ_USERNAME", "username", Kind::Text),
        env("HTTPREQ_PASSWORD", "password", Kind::Secret),
        env("HTTPREQ_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("HTTPREQ_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("HTTPREQ_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &HttpreqConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        checks.url("endpoint", &config.endpoint)?;
        match (&config.username, &config.password) {
            (None, Some(_)) => {
                return Err(SettingError::new(
                    "username",
                    "a password without username; give both or neither",
                ));
            }
            (Some(_), None) => return Err(wildcert_dns_api::spec::missing_secret("password")),
            _ => {}
        }
        if config.password.is_some() && config.endpoint.trim().starts_with("http://") {
            checks.warn("endpoint", "is plain http://: the password travels unencrypted; use https://");
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &HttpreqConfig, secrets: &mut dyn SecretReader) -> Result<Httpreq, ProviderError> {
        let provider = format!("httpreq ({})", config.endpoint.trim());
        let password = read_optional(secrets, &provider, "password", &config.password)?;
        Httpreq::new(HttpreqSettings {
            endpoint: config.endpoint.clone(),
            mode: config.mode,
            username: config.username.clone(),
            password,
            timeout: config.timeout,
            ca_certificates: config.ca_certificates.clone(),
        })
    }
}
