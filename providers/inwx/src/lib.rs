//! INWX: add and remove one TXT value through the DomRobot JSON-RPC API. A session starts
//! with `account.login` (and, for an account with two-factor authentication,
//! `account.unlock` with a TOTP code computed from the shared secret) and is carried by the
//! `domrobot` cookie; `nameserver.info` lists a zone's records, `nameserver.createRecord`
//! adds one record and `nameserver.deleteRecord` removes one by ID, so other records are
//! never touched. Calls on one name are serialized. See README.md.
//!
//! API reference: <https://www.inwx.com/en/help/apidoc> (account.login, account.unlock,
//! nameserver.info, nameserver.createRecord, nameserver.deleteRecord, result codes).

#![warn(missing_docs)]

pub mod totp;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Method};
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_optional, read_required, required, required_text,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{Api, Body, default_timeout, redact};

/// The production API.
pub const DEFAULT_API_URL: &str = "https://api.domrobot.com/jsonrpc/";

/// The sandbox (OTE) API (`sandbox = true`), with its own accounts.
pub const SANDBOX_API_URL: &str = "https://api.ote.domrobot.com/jsonrpc/";

/// INWX refuses TTLs under 300 seconds.
pub const MIN_TTL: u32 = 300;

const AUTH_HINT: &str = "check username (lego: INWX_USERNAME), password (INWX_PASSWORD) and, for an account with two-factor authentication, shared_secret (INWX_SHARED_SECRET)";

/// Result codes: success, and "object does not exist".
const OK: &[u64] = &[1000, 1001, 1500];
const MISSING: u64 = 2303;
/// Authentication refused.
const AUTH: &[u64] = &[2200, 2201];
/// Not logged in (any more): log in again once.
const SESSION: &[u64] = &[2002, 2200];
/// Too many sessions or a failure on INWX's side: later.
const TEMPORARY: &[u64] = &[2400, 2500, 2501, 2502];

/// INWX's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InwxConfig {
    /// The account's user name.
    pub username: Option<String>,
    /// The account's password.
    pub password: Option<SecretSource>,
    /// The base32 shared secret of the account's two-factor authentication (the text form
    /// of its QR code); without it, an account with two-factor authentication cannot log in.
    pub shared_secret: Option<SecretSource>,
    /// Use the sandbox (OTE) API.
    #[serde(default)]
    pub sandbox: bool,
    /// Base URL of the API; default by `sandbox`.
    pub api_url: Option<String>,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

impl InwxConfig {
    /// The API URL in effect.
    pub fn api_url(&self) -> &str {
        match (&self.api_url, self.sandbox) {
            (Some(url), _) => url,
            (None, true) => SANDBOX_API_URL,
            (None, false) => DEFAULT_API_URL,
        }
    }
}

/// The INWX adapter. Cheap to clone; clones share the session and serialization.
#[derive(Clone)]
pub struct Inwx {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    username: String,
    password: Secret,
    /// The decoded two-factor key, in hexadecimal.
    shared_key: Option<Secret>,
    /// The `domrobot=...` cookie of the current session.
    session: tokio::sync::Mutex<Option<Secret>>,
    locks: NameLocks,
}

impl std::fmt::Debug for Inwx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inwx")
            .field("api", &self.inner.api)
            .field("username", &self.inner.username)
            .field("two_factor", &self.inner.shared_key.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    code: u64,
    #[serde(default)]
    msg: String,
    #[serde(default, rename = "resData")]
    res_data: Value,
}

impl Inwx {
    /// Prepares the client; no network I/O. `shared_secret` is the base32 text of the
    /// two-factor secret.
    pub fn new(
        api_url: &str,
        username: &str,
        password: &Secret,
        shared_secret: Option<&Secret>,
        timeout: Duration,
    ) -> Result<Inwx, ProviderError> {
        let mut api =
            Api::connect("inwx", api_url, timeout)?.require("password", password)?.with_redacted(password);
        let provider = api.provider().to_string();
        let config = |detail: String| ProviderError::Config { provider: provider.clone(), detail };
        if username.trim().is_empty() {
            return Err(config("username is empty".into()));
        }
        let shared_key = match shared_secret {
            Some(secret) => {
                api = api.with_redacted(secret);
                let key = totp::base32(secret.expose()).map_err(|e| config(format!("shared_secret: {e}")))?;
                Some(Secret::new(key.iter().map(|b| format!("{b:02x}")).collect::<String>()))
            }
            None => None,
        };
        Ok(Inwx {
            inner: Arc::new(Inner {
                api,
                username: username.trim().to_string(),
                password: password.clone(),
                shared_key,
                session: tokio::sync::Mutex::new(None),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One JSON-RPC call with the session cookie; the answer, whatever its code, and the
    /// cookie the server set.
    async fn rpc(
        &self,
        method: &str,
        params: Value,
        cookie: Option<&Secret>,
    ) -> Result<(Answer, Option<String>), ProviderError> {
        let api = &self.inner.api;
        let mut extra = Vec::new();
        if let Some(cookie) = cookie {
            let mut value = HeaderValue::from_str(cookie.expose()).map_err(|_| ProviderError::Rejected {
                provider: self.provider(),
                detail: "the session cookie INWX set cannot be sent back".into(),
            })?;
            value.set_sensitive(true);
            extra.push((COOKIE, value));
        }
        let body = Body::json(&json!({"method": method, "params": params}));
        // The documented endpoint ends in a slash, which the base URL setting drops.
        let response = api.call(Method::POST, "/", &body, &extra).await?;
        let answer: Answer = api.parse(&format!("{method} ({})", api.base()), &response, AUTH_HINT)?;
        let cookie = response
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|v| v.trim_start().starts_with("domrobot="))
            .map(|v| v.trim().to_string());
        Ok((answer, cookie))
    }

    fn error(&self, method: &str, answer: &Answer) -> ProviderError {
        let said =
            redact(&format!("{method}: code {}: {}", answer.code, answer.msg), &self.inner.api.secrets());
        if AUTH.contains(&answer.code) {
            ProviderError::Auth { provider: self.provider(), detail: format!("{said}; {AUTH_HINT}") }
        } else if TEMPORARY.contains(&answer.code) {
            ProviderError::Temporary { provider: self.provider(), detail: said, retry_after: None }
        } else {
            ProviderError::Rejected { provider: self.provider(), detail: said }
        }
    }

    /// `account.login`, then `account.unlock` when the account asks for a second factor.
    async fn login(&self) -> Result<Secret, ProviderError> {
        let params = json!({"user": self.inner.username, "pass": self.inner.password.expose(), "lang": "en"});
        let (answer, cookie) = self.rpc("account.login", params, None).await?;
        if !OK.contains(&answer.code) {
            return Err(self.error("account.login", &answer));
        }
        let cookie = Secret::new(cookie.ok_or_else(|| ProviderError::Rejected {
            provider: self.provider(),
            detail: "account.login: the answer set no domrobot session cookie".into(),
        })?);
        let tfa = match &answer.res_data["tfa"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => "0".into(),
        };
        if tfa != "0" && !tfa.is_empty() {
            let Some(key) = &self.inner.shared_key else {
                return Err(ProviderError::Auth {
                    provider: self.provider(),
                    detail: format!(
                        "account.login: the account uses two-factor authentication ({tfa}); set shared_secret (lego: INWX_SHARED_SECRET)"
                    ),
                });
            };
            let key: Vec<u8> = (0..key.expose().len() / 2)
                .filter_map(|i| u8::from_str_radix(&key.expose()[2 * i..2 * i + 2], 16).ok())
                .collect();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let tan = totp::totp(&key, now, 6);
            let (answer, _) = self.rpc("account.unlock", json!({"tan": tan}), Some(&cookie)).await?;
            if !OK.contains(&answer.code) {
                let mut err = self.error("account.unlock", &answer);
                if let ProviderError::Rejected { provider, detail } = err {
                    err = ProviderError::Auth {
                        provider,
                        detail: format!(
                            "{detail}; check shared_secret (lego: INWX_SHARED_SECRET) and this host's clock"
                        ),
                    };
                }
                return Err(err);
            }
        }
        tracing::debug!(two_factor = tfa != "0", "inwx: logged in");
        Ok(cookie)
    }

    /// A call in the session, logging in first when there is none and once more when the
    /// session ended.
    async fn call(&self, method: &str, params: Value) -> Result<Answer, ProviderError> {
        let mut session = self.inner.session.lock().await;
        for attempt in 0..2 {
            let cookie = match session.as_ref() {
                Some(cookie) => cookie.clone(),
                None => {
                    let cookie = self.login().await?;
                    *session = Some(cookie.clone());
                    cookie
                }
            };
            let (answer, _) = self.rpc(method, params.clone(), Some(&cookie)).await?;
            if attempt == 0 && SESSION.contains(&answer.code) {
                tracing::debug!(code = answer.code, "inwx: session ended; logging in again");
                *session = None;
                continue;
            }
            return Ok(answer);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The zone holding the record and its TXT records at the name (ID, content).
    async fn find(&self, record: &TxtRecord) -> Result<(String, Vec<(u64, String)>), ProviderError> {
        let name = record.fqdn_without_dot().to_ascii_lowercase();
        for zone in candidates(record) {
            let answer =
                self.call("nameserver.info", json!({"domain": zone, "name": name, "type": "TXT"})).await?;
            if answer.code == MISSING {
                continue;
            }
            if !OK.contains(&answer.code) {
                return Err(self.error("nameserver.info", &answer));
            }
            let records = answer.res_data["record"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("TXT")))
                .filter(|r| {
                    r["name"].as_str().is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&name))
                })
                .filter_map(|r| {
                    let id = r["id"].as_u64().or_else(|| r["id"].as_str().and_then(|s| s.parse().ok()))?;
                    Some((id, r["content"].as_str().unwrap_or_default().to_string()))
                })
                .collect();
            return Ok((zone, records));
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: "no INWX nameserver zone of this account holds the name".into(),
        })
    }
}

impl DnsProvider for Inwx {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, records) = self.find(record).await?;
        if records.iter().any(|(_, content)| *content == record.value) {
            return Ok(());
        }
        let params = json!({
            "domain": zone,
            "name": record.fqdn_without_dot().to_ascii_lowercase(),
            "type": "TXT",
            "content": record.value,
            "ttl": record.ttl.max(MIN_TTL),
        });
        let answer = self.call("nameserver.createRecord", params).await?;
        if !OK.contains(&answer.code) {
            return Err(self.error("nameserver.createRecord", &answer));
        }
        tracing::debug!(fqdn = %record.fqdn, zone, "inwx: record created");
        Ok(())
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (_, records) = self.find(record).await?;
        for (id, _) in records.iter().filter(|(_, content)| *content == record.value) {
            let answer = self.call("nameserver.deleteRecord", json!({"id": id})).await?;
            if !OK.contains(&answer.code) && answer.code != MISSING {
                return Err(self.error("nameserver.deleteRecord", &answer));
            }
            tracing::debug!(fqdn = %record.fqdn, id, "inwx: record deleted");
        }
        Ok(())
    }
}

impl ProviderSpec for Inwx {
    type Config = InwxConfig;
    const CODE: &'static str = "inwx";
    const NAME: &'static str = "INWX";
    const PERMISSIONS: &'static str = "an account or sub-account allowed to read and change the domain's name server records (nameserver.info, createRecord, deleteRecord)";
    const SECRETS: &'static [&'static str] = &["password", "shared_secret"];
    const ENV: &'static [EnvName] = &[
        env("INWX_USERNAME", "username", Kind::Text),
        env("INWX_PASSWORD", "password", Kind::Secret),
        env("INWX_SHARED_SECRET", "shared_secret", Kind::Secret),
        env("INWX_SANDBOX", "sandbox", Kind::Bool),
        ignored("INWX_TTL", TTL),
        ignored("INWX_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("INWX_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &InwxConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required_text(&config.username, "username", "missing: the INWX account name (lego: INWX_USERNAME)")?;
        required(&config.password, "password")?;
        if config.sandbox && config.api_url.is_some() {
            checks.warn("sandbox", "has no effect when api_url is set");
        }
        check_http(checks, config.api_url(), config.timeout)
    }

    fn build(config: &InwxConfig, secrets: &mut dyn SecretReader) -> Result<Inwx, ProviderError> {
        let password = read_required(secrets, "inwx", "password", &config.password)?;
        let shared = read_optional(secrets, "inwx", "shared_secret", &config.shared_secret)?;
        Inwx::new(
            config.api_url(),
            config.username.as_deref().unwrap_or_default(),
            &password,
            shared.as_ref(),
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_secrets_hidden() {
        let pw = Secret::new("inwx-pa55");
        let shared = Secret::new("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let p = Inwx::new(DEFAULT_API_URL, "ops", &pw, Some(&shared), Duration::from_secs(5)).unwrap();
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("inwx-pa55") && !debug.contains("GEZDG") && debug.contains("two_factor: true")
        );
        let err =
            Inwx::new(DEFAULT_API_URL, "ops", &pw, Some(&Secret::new("not base32!")), Duration::from_secs(5))
                .unwrap_err();
        assert!(
            err.to_string().contains("shared_secret") && !err.to_string().contains("not base32!"),
            "{err}"
        );
        let err =
            Inwx::new(DEFAULT_API_URL, "ops", &Secret::new(""), None, Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("password"), "{err}");
    }
}
