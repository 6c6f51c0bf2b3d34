//! Namecheap: add and remove one TXT value through the XML API, whose only write,
//! `namecheap.domains.dns.setHosts`, replaces *every* host record of a domain. So each change
//! reads all records (`getHosts`), changes our TXT value alone, and writes all of them back
//! with their types, addresses, MX preferences, TTLs and the domain's email type; calls on
//! one domain are serialized inside the process. See README.md for the settings, the rate
//! limits and what this means for several hosts writing one domain.
//!
//! API reference: <https://www.namecheap.com/support/api/methods/domains-dns/get-hosts/>,
//! <https://www.namecheap.com/support/api/methods/domains-dns/set-hosts/>, the global
//! parameters and error codes at <https://www.namecheap.com/support/api/intro/>.

#![warn(missing_docs)]

use wildcert_dns_http::xml;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use tokio::sync::OnceCell;
use wildcert_dns_api::rrset;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required, required_text,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::zone::{candidates, relative_name};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, excerpt};

/// The production API.
pub const DEFAULT_API_URL: &str = "https://api.namecheap.com/xml.response";

/// The sandbox API (`sandbox = true`), with its own account and API key.
pub const SANDBOX_API_URL: &str = "https://api.sandbox.namecheap.com/xml.response";

/// Where `client_ip = "auto"` asks for this host's public address (lego's default).
pub const DEFAULT_CLIENT_IP_URL: &str = "https://dynamicdns.park-your-domain.com/getip";

/// Namecheap accepts TTLs from 60 seconds.
pub const MIN_TTL: u32 = 60;

const AUTH_HINT: &str = "check api_user (lego: NAMECHEAP_API_USER) and api_key (NAMECHEAP_API_KEY), that API access is enabled (Profile > Tools > API Access) and that client_ip (NAMECHEAP_CLIENT_IP) is whitelisted there";

/// Global error numbers that mean the credentials or the client address were refused.
const AUTH_ERRORS: &[&str] = &[
    "1010101", "1010102", "1011102", "1010105", "1011105", "1011150", "1017101", "1017105", "1017150",
    "1016103", "1017103", "1019103",
];

/// Error numbers that mean "later": too many requests or login attempts.
const TEMPORARY_ERRORS: &[&str] = &["500000", "1017411"];

/// Namecheap's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamecheapConfig {
    /// The account's user name (also sent as `UserName`).
    pub api_user: Option<String>,
    /// The API key (Profile > Tools > API Access).
    pub api_key: Option<SecretSource>,
    /// The public IPv4 address this host calls from, whitelisted for API access; `"auto"`
    /// asks `client_ip_url` once at start (what lego does when it is unset).
    pub client_ip: Option<String>,
    /// Where `client_ip = "auto"` learns this host's public address.
    #[serde(default = "default_client_ip_url")]
    pub client_ip_url: String,
    /// Use the sandbox API (its own account and key).
    #[serde(default)]
    pub sandbox: bool,
    /// Base URL of the API (the full `.../xml.response` URL); default by `sandbox`.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_client_ip_url() -> String {
    DEFAULT_CLIENT_IP_URL.into()
}

impl NamecheapConfig {
    /// The API URL in effect.
    pub fn api_url(&self) -> &str {
        match (&self.api_url, self.sandbox) {
            (Some(url), _) => url,
            (None, true) => SANDBOX_API_URL,
            (None, false) => DEFAULT_API_URL,
        }
    }
}

/// Where the client address comes from.
#[derive(Debug, Clone)]
pub enum ClientIp {
    /// This address.
    Fixed(IpAddr),
    /// Asked once from this URL (answers the caller's address as plain text).
    Lookup(String),
}

/// The Namecheap adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Namecheap {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    user: String,
    key: Secret,
    client_ip: ClientIp,
    resolved_ip: OnceCell<String>,
    timeout: Duration,
    /// One read-merge-write at a time per domain.
    locks: NameLocks,
    /// The domain found for each record name, so that a cleanup does not search again.
    domains: Mutex<HashMap<String, Domain>>,
}

impl std::fmt::Debug for Namecheap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namecheap")
            .field("api", &self.inner.api)
            .field("user", &self.inner.user)
            .field("client_ip", &self.inner.client_ip)
            .finish_non_exhaustive()
    }
}

/// A domain as Namecheap addresses it: second-level name and TLD (`example` + `co.uk`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Domain {
    sld: String,
    tld: String,
}

impl Domain {
    fn name(&self) -> String {
        format!("{}.{}", self.sld, self.tld)
    }
}

/// One host record, every field `setHosts` takes back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Host {
    name: String,
    rtype: String,
    address: String,
    mx_pref: String,
    ttl: String,
}

/// All host records of a domain and the email type that goes with its MX records.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hosts {
    email_type: String,
    hosts: Vec<Host>,
}

/// A command's outcome: the answer's elements, or Namecheap's numbered errors.
enum Outcome {
    Ok(Vec<xml::Element>),
    Errors(Vec<(String, String)>),
}

impl Namecheap {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        user: &str,
        key: &Secret,
        client_ip: ClientIp,
        timeout: Duration,
    ) -> Result<Namecheap, ProviderError> {
        let api = Api::connect("namecheap", api_url, timeout)?.require("api_key", key)?.with_redacted(key);
        if user.trim().is_empty() {
            return Err(ProviderError::Config {
                provider: api.provider().to_string(),
                detail: "api_user is empty".into(),
            });
        }
        Ok(Namecheap {
            inner: Arc::new(Inner {
                api,
                user: user.trim().to_string(),
                key: key.clone(),
                client_ip,
                resolved_ip: OnceCell::new(),
                timeout,
                locks: NameLocks::default(),
                domains: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    fn rejected(&self, detail: String) -> ProviderError {
        ProviderError::Rejected { provider: self.provider(), detail }
    }

    /// The client address sent with every call.
    async fn client_ip(&self) -> Result<&str, ProviderError> {
        self.inner
            .resolved_ip
            .get_or_try_init(|| async {
                match &self.inner.client_ip {
                    ClientIp::Fixed(ip) => Ok(ip.to_string()),
                    ClientIp::Lookup(url) => self.lookup_ip(url).await,
                }
            })
            .await
            .map(String::as_str)
    }

    /// `client_ip = "auto"`: this host's public address as `url` sees it.
    async fn lookup_ip(&self, url: &str) -> Result<String, ProviderError> {
        let api = Api::connect("namecheap client_ip", url, self.inner.timeout)?;
        let response = api.call(Method::GET, "", &Body::Empty, &[]).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(api.error(
                &format!("GET {url}"),
                &response,
                "set client_ip to the whitelisted address",
            ));
        }
        let text = String::from_utf8_lossy(&response.body).trim().to_string();
        match text.parse::<IpAddr>() {
            Ok(ip) => {
                tracing::info!(%ip, "namecheap: client_ip found");
                Ok(ip.to_string())
            }
            Err(_) => Err(ProviderError::Config {
                provider: self.provider(),
                detail: format!(
                    "client_ip = \"auto\": {url} answered {}, not an address; set client_ip to the whitelisted address",
                    excerpt(&response.body, &[])
                ),
            }),
        }
    }

    /// Sends one command (a form POST, so the key never travels in a URL) and reads its
    /// answer; transport, HTTP and authentication failures are errors here, Namecheap's other
    /// numbered errors come back for the caller to judge.
    async fn command(&self, command: &str, params: &[(&str, &str)]) -> Result<Outcome, ProviderError> {
        let ip = self.client_ip().await?.to_string();
        let mut fields: Vec<(&str, &str)> = vec![
            ("ApiUser", &self.inner.user),
            ("ApiKey", self.inner.key.expose()),
            ("UserName", &self.inner.user),
            ("ClientIp", &ip),
            ("Command", command),
        ];
        fields.extend_from_slice(params);
        let api = &self.inner.api;
        let response = api.call(Method::POST, "", &Body::form(&fields), &[]).await?;
        let action = format!("{command} ({})", api.base());
        if classify(response.status) != StatusClass::Success {
            return Err(api.error(&action, &response, AUTH_HINT));
        }
        let text = String::from_utf8_lossy(&response.body);
        let elements = xml::elements(&text).map_err(|e| {
            self.rejected(format!(
                "{action}: the answer is not the XML Namecheap documents ({e}): {}; is api_url the API's xml.response URL?",
                excerpt(&response.body, &api.secrets())
            ))
        })?;
        let status = elements.iter().find(|e| e.name == "ApiResponse").and_then(|e| e.attribute("Status"));
        let errors: Vec<(String, String)> = elements
            .iter()
            .filter(|e| e.name == "Error")
            .map(|e| (e.attribute("Number").unwrap_or("?").to_string(), e.text.trim().to_string()))
            .collect();
        match status {
            Some(s) if s.eq_ignore_ascii_case("OK") && errors.is_empty() => Ok(Outcome::Ok(elements)),
            Some(s) if s.eq_ignore_ascii_case("ERROR") || !errors.is_empty() => {
                let said =
                    errors.iter().map(|(n, t)| format!("error {n}: {t}")).collect::<Vec<_>>().join("; ");
                let said = wildcert_dns_http::redact(&said, &api.secrets());
                if errors.iter().any(|(n, _)| AUTH_ERRORS.contains(&n.as_str())) {
                    return Err(ProviderError::Auth {
                        provider: self.provider(),
                        detail: format!("{action}: {said}; {AUTH_HINT}"),
                    });
                }
                if errors.iter().any(|(n, _)| TEMPORARY_ERRORS.contains(&n.as_str())) {
                    return Err(ProviderError::Temporary {
                        provider: self.provider(),
                        detail: format!(
                            "{action}: {said} (Namecheap allows 50 calls a minute, 700 an hour, 8000 a day)"
                        ),
                        retry_after: Some(Duration::from_secs(60)),
                    });
                }
                Ok(Outcome::Errors(errors))
            }
            _ => Err(self.rejected(format!(
                "{action}: the answer has no ApiResponse Status: {}",
                excerpt(&response.body, &api.secrets())
            ))),
        }
    }

    /// Every host record of `domain`, or Namecheap's errors.
    async fn get_hosts(
        &self,
        domain: &Domain,
    ) -> Result<Result<Hosts, Vec<(String, String)>>, ProviderError> {
        let command = "namecheap.domains.dns.getHosts";
        let elements = match self.command(command, &[("SLD", &domain.sld), ("TLD", &domain.tld)]).await? {
            Outcome::Ok(elements) => elements,
            Outcome::Errors(errors) => return Ok(Err(errors)),
        };
        let name = domain.name();
        let result = elements.iter().find(|e| e.name == "DomainDNSGetHostsResult").ok_or_else(|| {
            self.rejected(format!("{command} for {name}: the answer has no DomainDNSGetHostsResult"))
        })?;
        if result.attribute("IsUsingOurDNS").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
            return Err(self.rejected(format!(
                "{name} does not use Namecheap's DNS servers, so records written through this API are not served; point the domain at Namecheap BasicDNS/PremiumDNS or use the adapter of the DNS provider that serves it"
            )));
        }
        let mut hosts = Vec::new();
        for e in elements.iter().filter(|e| e.name.eq_ignore_ascii_case("host")) {
            // A record that cannot be read back exactly would be lost by the write: refuse.
            let field = |key: &str| {
                e.attribute(key).map(str::to_string).ok_or_else(|| {
                    self.rejected(format!(
                        "{command} for {name}: a host record without {key}; not writing, so that no record is lost"
                    ))
                })
            };
            hosts.push(Host {
                name: field("Name")?,
                rtype: field("Type")?,
                address: field("Address")?,
                mx_pref: e.attribute("MXPref").unwrap_or("10").to_string(),
                ttl: e.attribute("TTL").unwrap_or("1800").to_string(),
            });
        }
        Ok(Ok(Hosts { email_type: result.attribute("EmailType").unwrap_or_default().to_string(), hosts }))
    }

    /// Writes `hosts` as the domain's complete set of host records.
    async fn set_hosts(&self, domain: &Domain, hosts: &Hosts) -> Result<(), ProviderError> {
        let command = "namecheap.domains.dns.setHosts";
        let mut owned: Vec<(String, String)> =
            vec![("SLD".into(), domain.sld.clone()), ("TLD".into(), domain.tld.clone())];
        if !hosts.email_type.is_empty() {
            owned.push(("EmailType".into(), hosts.email_type.clone()));
        }
        for (i, h) in hosts.hosts.iter().enumerate() {
            let n = i + 1;
            owned.push((format!("HostName{n}"), h.name.clone()));
            owned.push((format!("RecordType{n}"), h.rtype.clone()));
            owned.push((format!("Address{n}"), h.address.clone()));
            owned.push((format!("MXPref{n}"), h.mx_pref.clone()));
            owned.push((format!("TTL{n}"), h.ttl.clone()));
        }
        let params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let name = domain.name();
        let elements = match self.command(command, &params).await? {
            Outcome::Ok(elements) => elements,
            Outcome::Errors(errors) => {
                let said =
                    errors.iter().map(|(n, t)| format!("error {n}: {t}")).collect::<Vec<_>>().join("; ");
                return Err(self.rejected(format!("{command} for {name}: {said}")));
            }
        };
        let success = elements
            .iter()
            .find(|e| e.name == "DomainDNSSetHostsResult")
            .and_then(|e| e.attribute("IsSuccess"))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !success {
            return Err(
                self.rejected(format!("{command} for {name}: the answer does not say IsSuccess=\"true\""))
            );
        }
        Ok(())
    }

    /// The domain that holds the record: the discovered zone, else the longest suffix of
    /// the name Namecheap knows in this account.
    async fn domain_for(&self, record: &TxtRecord) -> Result<Domain, ProviderError> {
        let key = normalize(&record.fqdn);
        if let Some(found) = self.inner.domains.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(found.clone());
        }
        let mut refused = Vec::new();
        // No domain name starts with an underscore: skip `_acme-challenge.…` itself.
        for candidate in candidates(record).into_iter().filter(|c| !c.starts_with('_')) {
            let Some((sld, tld)) = candidate.split_once('.') else { continue };
            let domain = Domain { sld: sld.to_string(), tld: tld.to_string() };
            match self.get_hosts(&domain).await? {
                Ok(_) => {
                    self.inner
                        .domains
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(key, domain.clone());
                    return Ok(domain);
                }
                Err(errors) => {
                    let said = errors.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join("; ");
                    refused.push(format!("{candidate}: {said}"));
                }
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("no domain of this account holds the name ({})", refused.join(", ")),
        })
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let domain = self.domain_for(record).await?;
        let name = domain.name();
        let _guard = self.inner.locks.lock(&name).await;
        // Read again under the lock: the write must carry what is there now.
        let mut hosts = self.get_hosts(&domain).await?.map_err(|errors| {
            let said = errors.iter().map(|(n, t)| format!("error {n}: {t}")).collect::<Vec<_>>().join("; ");
            self.rejected(format!("namecheap.domains.dns.getHosts for {name}: {said}"))
        })?;
        let relative = relative_name(record, &name);
        let ours = |h: &Host| {
            h.rtype.eq_ignore_ascii_case("TXT")
                && h.name.eq_ignore_ascii_case(&relative)
                && h.address == record.value
        };
        let host = || Host {
            name: relative.clone(),
            rtype: "TXT".into(),
            address: record.value.clone(),
            mx_pref: "10".into(),
            ttl: record.ttl.max(MIN_TTL).to_string(),
        };
        let before = hosts.hosts.len();
        if !rrset::edit(&mut hosts.hosts, add, ours, host) {
            tracing::debug!(fqdn = %record.fqdn, domain = %name, add, "namecheap: nothing to change");
            return Ok(());
        }
        self.set_hosts(&domain, &hosts).await?;
        tracing::debug!(fqdn = %record.fqdn, domain = %name, add, before, after = hosts.hosts.len(), "namecheap: host records written");
        Ok(())
    }
}

impl DnsProvider for Namecheap {
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

/// `client_ip` as written: an address, or `"auto"`.
fn parse_client_ip(text: &str, url: &str) -> Result<ClientIp, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("auto") {
        return Ok(ClientIp::Lookup(url.to_string()));
    }
    text.parse::<IpAddr>().map(ClientIp::Fixed).map_err(|_| {
        format!("`{text}` is not an IP address; write the address whitelisted under Profile > Tools > API Access, or \"auto\"")
    })
}

impl ProviderSpec for Namecheap {
    type Config = NamecheapConfig;
    const CODE: &'static str = "namecheap";
    const NAME: &'static str = "Namecheap";
    const PERMISSIONS: &'static str = "API access enabled for the account, with this host's IP on the API allow-list (the API has no narrower scope)";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("NAMECHEAP_API_USER", "api_user", Kind::Text),
        env("NAMECHEAP_API_KEY", "api_key", Kind::Secret),
        env("NAMECHEAP_CLIENT_IP", "client_ip", Kind::Text),
        env("NAMECHEAP_SANDBOX", "sandbox", Kind::Bool),
        env("NAMECHEAP_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("NAMECHEAP_TTL", TTL),
        ignored("NAMECHEAP_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("NAMECHEAP_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &NamecheapConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required_text(
            &config.api_user,
            "api_user",
            "missing: the Namecheap account name (lego: NAMECHEAP_API_USER)",
        )?;
        required(&config.api_key, "api_key")?;
        let Some(ip) = &config.client_ip else {
            return Err(SettingError::new(
                "client_ip",
                "missing: the public address this host calls from, whitelisted under Profile > Tools > API Access (lego: NAMECHEAP_CLIENT_IP), or \"auto\" to ask client_ip_url at start as lego does",
            ));
        };
        if let ClientIp::Lookup(url) =
            parse_client_ip(ip, &config.client_ip_url).map_err(|m| SettingError::new("client_ip", m))?
        {
            checks.url("client_ip_url", &url)?;
        }
        if config.sandbox && config.api_url.is_some() {
            checks.warn("sandbox", "has no effect when api_url is set");
        }
        check_http(checks, config.api_url(), config.timeout)
    }

    fn build(config: &NamecheapConfig, secrets: &mut dyn SecretReader) -> Result<Namecheap, ProviderError> {
        let key = read_required(secrets, "namecheap", "api_key", &config.api_key)?;
        let client_ip =
            parse_client_ip(config.client_ip.as_deref().unwrap_or_default(), &config.client_ip_url)
                .map_err(|detail| ProviderError::Config { provider: "namecheap".into(), detail })?;
        Namecheap::new(
            config.api_url(),
            config.api_user.as_deref().unwrap_or_default(),
            &key,
            client_ip,
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_the_key_hidden() {
        let ip = ClientIp::Fixed("192.0.2.7".parse().unwrap());
        let key = Secret::new("nc-k3y");
        let p = Namecheap::new(DEFAULT_API_URL, "acme", &key, ip.clone(), Duration::from_secs(5)).unwrap();
        assert!(!format!("{p:?}").contains("nc-k3y"));
        let err =
            Namecheap::new(DEFAULT_API_URL, "acme", &Secret::new(""), ip.clone(), Duration::from_secs(5))
                .unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
        let err = Namecheap::new(DEFAULT_API_URL, " ", &key, ip, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("api_user"), "{err}");
        assert!(matches!(parse_client_ip("auto", DEFAULT_CLIENT_IP_URL), Ok(ClientIp::Lookup(_))));
        assert!(parse_client_ip("my-host", DEFAULT_CLIENT_IP_URL).unwrap_err().contains("auto"));
    }
}
