//! MyDNS.JP: its DirectEdit endpoint, made for certbot's manual hooks, adds and removes
//! `_acme-challenge` TXT values of a domain the master ID holds: a form POST with HTTP basic
//! authentication (master ID and password) carrying `CERTBOT_DOMAIN` (the domain; MyDNS.JP
//! writes `_acme-challenge.<domain>`), `CERTBOT_VALIDATION` (the value) and `EDIT_CMD`
//! (`REGIST` or `DELETE`). `DELETE` names the value, so it removes that value only and the
//! apex's and the wildcard's values coexist. See README.md.
//!
//! API reference: <https://www.mydns.jp/> (DirectEdit, "Let's Encrypt DNS-01"); lego's client
//! <https://github.com/go-acme/lego/tree/master/providers/dns/mydnsjp>.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::AUTHORIZATION;
use serde::Deserialize;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError,
    check_http, env, ignored, read_required, required, required_text,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::{Api, Body, StatusClass, basic_auth, classify, default_timeout};

/// Where DirectEdit lives.
pub const DEFAULT_API_URL: &str = "https://www.mydns.jp/directedit.html";

const AUTH_HINT: &str = "check master_id and password (lego: MYDNSJP_MASTER_ID, MYDNSJP_PASSWORD): the master ID that holds the domain";

/// MyDNS.JP's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyDnsJpConfig {
    /// The master ID (the account's login, `mydnsNNNNNN`).
    pub master_id: Option<String>,
    /// The master ID's password.
    pub password: Option<SecretSource>,
    /// The DirectEdit URL (the whole URL: MyDNS.JP posts to one page).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The MyDNS.JP adapter. Cheap to clone.
#[derive(Clone)]
pub struct MyDnsJp {
    inner: Arc<Api>,
}

impl std::fmt::Debug for MyDnsJp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyDnsJp").field("api", &self.inner).finish_non_exhaustive()
    }
}

/// The domain DirectEdit wants for a challenge name: the name without `_acme-challenge.`.
fn domain_of(fqdn: &str) -> Option<String> {
    let name = normalize(fqdn);
    let domain = name.trim_end_matches('.').strip_prefix("_acme-challenge.")?;
    (domain.contains('.')).then(|| domain.to_string())
}

impl MyDnsJp {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        master_id: &str,
        password: &Secret,
        timeout: Duration,
    ) -> Result<MyDnsJp, ProviderError> {
        let provider = format!("mydnsjp ({})", api_url.trim().trim_end_matches('/'));
        if master_id.trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "master_id is empty".into() });
        }
        let header = basic_auth(master_id.trim(), password);
        let header = header.to_str().unwrap_or_default().to_string();
        let api = Api::connect("mydnsjp", api_url, timeout)?
            .require("password", password)?
            .with_secret_header(AUTHORIZATION, header, password)?;
        Ok(MyDnsJp { inner: Arc::new(api) })
    }

    fn provider(&self) -> String {
        self.inner.provider().to_string()
    }

    async fn edit(&self, record: &TxtRecord, command: &str) -> Result<(), ProviderError> {
        let Some(domain) = domain_of(&record.fqdn) else {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "{}: MyDNS.JP's DirectEdit writes only _acme-challenge.<domain> names; point this name's _acme-challenge CNAME elsewhere or use another provider",
                    record.fqdn
                ),
            });
        };
        let api = &self.inner;
        let body = Body::form(&[
            ("CERTBOT_DOMAIN", &domain),
            ("CERTBOT_VALIDATION", &record.value),
            ("EDIT_CMD", command),
        ]);
        let response = api.call(Method::POST, "", &body, &[]).await?;
        let action = format!("POST {} {command}", api.base());
        if classify(response.status) != StatusClass::Success {
            return Err(api.error(&action, &response, AUTH_HINT));
        }
        tracing::debug!(domain, command, "mydnsjp: DirectEdit accepted");
        Ok(())
    }
}

impl DnsProvider for MyDnsJp {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.edit(record, "REGIST").await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.edit(record, "DELETE").await
    }
}

impl ProviderSpec for MyDnsJp {
    type Config = MyDnsJpConfig;
    const CODE: &'static str = "mydnsjp";
    const NAME: &'static str = "MyDNS.JP";
    const SECRETS: &'static [&'static str] = &["password"];
    const ENV: &'static [EnvName] = &[
        env("MYDNSJP_MASTER_ID", "master_id", Kind::Text),
        env("MYDNSJP_PASSWORD", "password", Kind::Secret),
        env("MYDNSJP_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("MYDNSJP_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("MYDNSJP_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "the master ID and its password";
    const NOTES: &'static str = "writes only _acme-challenge.<domain> of domains the master ID holds";

    fn check(config: &MyDnsJpConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required_text(&config.master_id, "master_id", "missing: the MyDNS.JP master ID (mydnsNNNNNN)")?;
        required(&config.password, "password")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &MyDnsJpConfig, secrets: &mut dyn SecretReader) -> Result<MyDnsJp, ProviderError> {
        let password = read_required(secrets, "mydnsjp", "password", &config.password)?;
        MyDnsJp::new(
            &config.api_url,
            config.master_id.as_deref().unwrap_or_default(),
            &password,
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_of_challenge_names() {
        assert_eq!(domain_of("_acme-challenge.Example.mydns.jp.").as_deref(), Some("example.mydns.jp"));
        assert_eq!(domain_of("_acme-challenge.www.example.jp").as_deref(), Some("www.example.jp"));
        assert_eq!(domain_of("example.jp."), None);
        assert_eq!(domain_of("_acme-challenge.jp."), None);
    }

    #[test]
    fn refuses_blank_credentials_and_hides_the_password() {
        let p = MyDnsJp::new(DEFAULT_API_URL, "mydns123456", &Secret::new("pw-9x"), Duration::from_secs(5))
            .unwrap();
        assert!(!format!("{p:?}").contains("pw-9x"));
        let err = MyDnsJp::new(DEFAULT_API_URL, "mydns123456", &Secret::new(""), Duration::from_secs(5))
            .unwrap_err();
        assert!(err.to_string().contains("password"), "{err}");
        let err = MyDnsJp::new(DEFAULT_API_URL, " ", &Secret::new("pw"), Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("master_id"), "{err}");
    }
}
