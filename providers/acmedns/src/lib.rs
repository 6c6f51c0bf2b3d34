//! acme-dns: the challenge record of a domain lives on an acme-dns server, reached through a
//! CNAME `_acme-challenge.<domain>` → `<subdomain>.<acme-dns zone>` that the operator creates
//! once. The adapter registers an account per domain (`POST /register`) the first time,
//! keeps its credentials in `storage_path` (mode 0600, lego's file format), says which CNAME
//! to create and fails until it exists; then `present` is `POST /update` with `X-Api-User` /
//! `X-Api-Key`. acme-dns keeps the two latest values of a subdomain, which is exactly the
//! apex and the wildcard of one domain; it has no delete, so `cleanup` leaves the values to
//! be replaced by the next challenge. See README.md.
//!
//! API reference: <https://github.com/joohoi/acme-dns#api> (register and update).

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SettingError, TTL, check_http,
    env, ignored,
};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::{Api, Body, StatusClass, classify, default_timeout, status_error};

/// Where the credentials are kept unless `storage_path` says otherwise: the service's state
/// directory.
pub const DEFAULT_STORAGE_PATH: &str = "/var/lib/wildcert/acme-dns.json";

/// acme-dns' settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeDnsConfig {
    /// The acme-dns server's API, e.g. `https://auth.acme-dns.io`.
    pub api_url: Option<String>,
    /// The JSON file holding each domain's acme-dns account (mode 0600; lego's format).
    #[serde(default = "default_storage_path")]
    pub storage_path: PathBuf,
    /// Networks (CIDR) allowed to update the records of accounts registered from now on.
    #[serde(default)]
    pub allowlist: Allowlist,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_storage_path() -> PathBuf {
    DEFAULT_STORAGE_PATH.into()
}

/// CIDR networks, written as a list or as lego's comma-separated `ACME_DNS_ALLOWLIST`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist(pub Vec<String>);

impl<'de> Deserialize<'de> for Allowlist {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Allowlist, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            List(Vec<String>),
        }
        let items = match Form::deserialize(deserializer)? {
            Form::Text(text) => {
                text.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
            }
            Form::List(list) => list,
        };
        Ok(Allowlist(items))
    }
}

/// One domain's acme-dns account, as `/register` returns it and lego stores it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's user, sent as `X-Api-User` on every update.
    pub username: String,
    /// The account's key, sent as `X-Api-Key`; kept out of `Debug`.
    pub password: String,
    /// The name the operator's `_acme-challenge` CNAME must point at.
    pub fulldomain: String,
    /// The label under the acme-dns zone that `/update` writes to.
    pub subdomain: String,
    /// Networks allowed to update this account (`allowfrom` at `/register`); empty: any.
    #[serde(default)]
    pub allowfrom: Vec<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("fulldomain", &self.fulldomain)
            .finish_non_exhaustive()
    }
}

/// The acme-dns adapter. Cheap to clone; clones share the storage lock.
#[derive(Clone)]
pub struct AcmeDns {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    storage: PathBuf,
    allowlist: Vec<String>,
    /// One registration or storage write at a time.
    lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AcmeDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeDns").field("api", &self.inner.api).field("storage", &self.inner.storage).finish()
    }
}

#[derive(Serialize)]
struct Register<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    allowfrom: &'a [String],
}

#[derive(Serialize)]
struct Update<'a> {
    subdomain: &'a str,
    txt: &'a str,
}

impl AcmeDns {
    /// Prepares the client; no network I/O, no file read yet.
    pub fn new(
        api_url: &str,
        storage: PathBuf,
        allowlist: Vec<String>,
        timeout: Duration,
    ) -> Result<AcmeDns, ProviderError> {
        let api = Api::connect("acme-dns", api_url, timeout)?;
        Ok(AcmeDns { inner: Arc::new(Inner { api, storage, allowlist, lock: tokio::sync::Mutex::new(()) }) })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    fn config_error(&self, detail: String) -> ProviderError {
        ProviderError::Config { provider: self.provider(), detail }
    }

    /// The stored accounts; a missing file is none.
    fn load(&self) -> Result<BTreeMap<String, Account>, ProviderError> {
        load(&self.inner.storage).map_err(|detail| self.config_error(detail))
    }

    /// The domain a record belongs to: the challenge's identifier, else the name below
    /// `_acme-challenge.`.
    fn domain_of(record: &TxtRecord) -> Option<String> {
        if let Some(raw) = &record.raw {
            return Some(raw.domain.trim_end_matches('.').to_ascii_lowercase());
        }
        normalize(&record.fqdn).strip_prefix("_acme-challenge.").map(|d| d.trim_end_matches('.').to_string())
    }

    /// The account for `record`: the one whose `fulldomain` the name already is (the CNAME
    /// was followed), or the domain's, registered now when there is none.
    async fn account_for(&self, record: &TxtRecord) -> Result<(String, Account), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let _guard = self.inner.lock.lock().await;
        let mut accounts = self.load()?;
        if let Some((domain, account)) = accounts.iter().find(|(_, a)| normalize(&a.fulldomain) == fqdn) {
            return Ok((domain.clone(), account.clone()));
        }
        let Some(domain) = Self::domain_of(record) else {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "{fqdn} is neither an _acme-challenge name nor the fulldomain of an account in {}",
                    self.inner.storage.display()
                ),
            });
        };
        if let Some(account) = accounts.get(&domain) {
            return Ok((domain, account.clone()));
        }
        let account = self.register().await?;
        accounts.insert(domain.clone(), account.clone());
        save(&self.inner.storage, &accounts).map_err(|detail| self.config_error(detail))?;
        tracing::warn!(
            domain,
            cname = %format!("_acme-challenge.{domain}."),
            target = %format!("{}.", account.fulldomain.trim_end_matches('.')),
            storage = %self.inner.storage.display(),
            "acme-dns: registered an account; create the CNAME record, then run again"
        );
        Ok((domain, account))
    }

    /// `POST /register`.
    async fn register(&self) -> Result<Account, ProviderError> {
        let api = &self.inner.api;
        let body = Body::json(&Register { allowfrom: &self.inner.allowlist });
        let response = api.call(Method::POST, "/register", &body, &[]).await?;
        let hint = "check api_url and, when the server restricts registration, the allowlist";
        let account: Account = api.parse("POST /register", &response, hint)?;
        if account.username.is_empty() || account.password.is_empty() || account.fulldomain.is_empty() {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: "POST /register: the answer lacks username, password or fulldomain".into(),
            });
        }
        Ok(account)
    }

    async fn update(&self, domain: &str, account: &Account, value: &str) -> Result<(), ProviderError> {
        let api = &self.inner.api;
        let password = Secret::new(account.password.clone());
        let mut key = HeaderValue::from_str(&account.password).map_err(|_| {
            self.config_error(format!("the stored password of {domain} cannot be sent as a header"))
        })?;
        key.set_sensitive(true);
        let user = HeaderValue::from_str(&account.username).map_err(|_| {
            self.config_error(format!("the stored username of {domain} cannot be sent as a header"))
        })?;
        let headers =
            [(HeaderName::from_static("x-api-user"), user), (HeaderName::from_static("x-api-key"), key)];
        let body = Body::json(&Update { subdomain: &account.subdomain, txt: value });
        let response = api.call(Method::POST, "/update", &body, &headers).await?;
        if classify(response.status) != StatusClass::Success {
            let hint = format!(
                "the acme-dns account of {domain} stored in {} was refused (a different server, or an allowfrom list without this host?); remove its entry to register again",
                self.inner.storage.display()
            );
            return Err(status_error(&self.provider(), "POST /update", &response, &[&password], &hint));
        }
        Ok(())
    }
}

impl DnsProvider for AcmeDns {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let (domain, account) = self.account_for(record).await?;
        let fqdn = normalize(&record.fqdn);
        let target = normalize(&account.fulldomain);
        // wildcert follows the CNAME before it writes: a record still at _acme-challenge
        // whose zone was found means the CNAME is not there (yet).
        if fqdn != target && record.zone.is_some() {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "create the DNS record `_acme-challenge.{domain}. CNAME {target}` (acme-dns serves the challenge there), then run again; {fqdn} is not delegated yet"
                ),
            });
        }
        self.update(&domain, &account, &record.value).await?;
        tracing::debug!(domain, fulldomain = %target, "acme-dns: TXT updated");
        Ok(())
    }

    /// acme-dns has no delete: the two values stay until the next challenges replace them.
    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        tracing::debug!(fqdn = %record.fqdn, "acme-dns: nothing to remove (the server keeps the two latest values)");
        Ok(())
    }
}

/// Reads the accounts file. Refuses one others may read: it holds passwords.
pub fn load(path: &Path) -> Result<BTreeMap<String, Account>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("storage_path {}: {e}", path.display())),
    };
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0);
    if mode & 0o077 != 0 {
        return Err(format!(
            "storage_path {} holds acme-dns passwords and is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        ));
    }
    serde_json::from_str(&text)
        .map_err(|e| format!("storage_path {}: not the acme-dns accounts file ({e})", path.display()))
}

/// Writes the accounts file (mode 0600) through a temporary file and a rename.
pub fn save(path: &Path, accounts: &BTreeMap<String, Account>) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("storage_path {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let temporary = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(accounts).expect("accounts serialize");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

impl ProviderSpec for AcmeDns {
    type Config = AcmeDnsConfig;
    const CODE: &'static str = "acme-dns";
    const NAME: &'static str = "ACME-DNS";
    const PERMISSIONS: &'static str = "none at the DNS host: acme-dns registers its own account; the zone's owner creates the _acme-challenge CNAME to its fulldomain once";
    const ENV: &'static [EnvName] = &[
        env("ACME_DNS_API_BASE", "api_url", Kind::Text),
        env("ACME_DNS_STORAGE_PATH", "storage_path", Kind::Text),
        env("ACME_DNS_ALLOWLIST", "allowlist", Kind::Text),
        ignored("ACME_DNS_TTL", TTL),
        ignored("ACME_DNS_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("ACME_DNS_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &AcmeDnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        let Some(url) = &config.api_url else {
            return Err(SettingError::new(
                "api_url",
                "missing: the acme-dns server's API, e.g. \"https://auth.acme-dns.io\" (lego: ACME_DNS_API_BASE)",
            ));
        };
        if config.storage_path.as_os_str().is_empty() || config.storage_path.is_relative() {
            return Err(SettingError::new(
                "storage_path",
                "must be an absolute path, e.g. \"/var/lib/wildcert/acme-dns.json\"",
            ));
        }
        if let Some(bad) = config.allowlist.0.iter().find(|n| !is_cidr(n)) {
            return Err(SettingError::new(
                "allowlist",
                format!("`{bad}` is not a network; write e.g. \"192.0.2.0/24\""),
            ));
        }
        check_http(checks, url, config.timeout)
    }

    fn build(config: &AcmeDnsConfig, _secrets: &mut dyn SecretReader) -> Result<AcmeDns, ProviderError> {
        AcmeDns::new(
            config.api_url.as_deref().unwrap_or_default(),
            config.storage_path.clone(),
            config.allowlist.0.clone(),
            config.timeout,
        )
    }
}

/// `address/prefix` with a prefix that fits the address.
fn is_cidr(text: &str) -> bool {
    let Some((address, prefix)) = text.split_once('/') else { return false };
    let Ok(prefix) = prefix.parse::<u8>() else { return false };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_round_trips_private_and_refuses_an_open_file() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        let path = dir.join("state/acme-dns.json");
        let account = Account {
            username: "u".into(),
            password: "p4ss".into(),
            fulldomain: "x.auth.example.org".into(),
            subdomain: "x".into(),
            allowfrom: vec![],
        };
        let accounts = BTreeMap::from([("example.com".to_string(), account.clone())]);
        save(&path, &accounts).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&path).unwrap(), accounts);
        assert!(!format!("{account:?}").contains("p4ss"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load(&path).unwrap_err().contains("chmod 600"));
    }

    #[test]
    fn networks() {
        assert!(is_cidr("192.0.2.0/24") && is_cidr("2001:db8::/32"));
        assert!(!is_cidr("192.0.2.0") && !is_cidr("192.0.2.0/33") && !is_cidr("office/8"));
    }
}
