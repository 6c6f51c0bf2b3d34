//! netcup: add and remove one TXT value through the netcup CCP DNS API (JSON).
//!
//! Every call is a POST of `{"action", "param"}` to one endpoint. A `login` with the customer
//! number, API key and API password opens a session; `infoDnsZone` finds the zone,
//! `infoDnsRecords` lists it, and `updateDnsRecords` with just our record adds it (records
//! not named in the set stay as they are) or, with its ID and `deleterecord`, removes exactly
//! it; `logout` closes the session. netcup answers with HTTP 200 and `"status": "success"` or
//! `"error"` with a status code and message. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::{candidates, relative_name};
use wildcert_dns_http::{Api, Body, HttpClient, excerpt};

/// The endpoint; calls add `?JSON`.
pub const DEFAULT_API_URL: &str = "https://ccp.netcup.net/run/webservice/servers/endpoint.php";

const AUTH_HINT: &str = "check customer_number, api_key and api_password (lego: NETCUP_CUSTOMER_NUMBER, \
     NETCUP_API_KEY, NETCUP_API_PASSWORD), created in the CCP under Master Data > API";

/// netcup's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetcupConfig {
    /// The netcup customer number.
    #[serde(default, deserialize_with = "number")]
    pub customer_number: Option<String>,
    /// An API key from the CCP.
    pub api_key: Option<SecretSource>,
    /// The API password set in the CCP.
    pub api_password: Option<SecretSource>,
    /// The endpoint (without `?JSON`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

/// A number written as a number or as a string (as lego's variables give it).
fn number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(u64),
        Text(String),
    }
    Ok(Option::<Number>::deserialize(deserializer)?.map(|n| match n {
        Number::Int(n) => n.to_string(),
        Number::Text(t) => t.trim().to_string(),
    }))
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The netcup adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Netcup {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    customer: String,
    key: Secret,
    password: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for Netcup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netcup")
            .field("api", &self.inner.api)
            .field("customer", &self.inner.customer)
            .finish_non_exhaustive()
    }
}

/// netcup's answer to every action.
#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    status: String,
    #[serde(default)]
    statuscode: i64,
    #[serde(default)]
    shortmessage: String,
    #[serde(default)]
    longmessage: String,
    #[serde(default)]
    responsedata: Value,
}

/// One DNS record as netcup writes it; IDs travel as strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DnsRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default)]
    hostname: String,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    deleterecord: bool,
}

/// An open session; its ID is a bearer credential until `logout`.
struct Session(Secret);

impl Netcup {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        customer: &str,
        key: &Secret,
        password: &Secret,
        timeout: Duration,
    ) -> Result<Netcup, ProviderError> {
        let provider = format!("netcup ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        if customer.is_empty() || !customer.chars().all(|c| c.is_ascii_digit()) {
            return Err(ProviderError::Config {
                provider,
                detail: "customer_number must be a number".into(),
            });
        }
        for (name, value) in [("api_key", key), ("api_password", password)] {
            if value.expose().trim().is_empty() {
                return Err(ProviderError::Config { provider, detail: format!("{name} is empty") });
            }
        }
        let api = Api::new(&provider, api_url, client)?.with_redacted(key).with_redacted(password);
        Ok(Netcup {
            inner: Arc::new(Inner {
                api,
                customer: customer.to_string(),
                key: key.clone(),
                password: password.clone(),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// Sends one action; `Ok(Err(message))` is netcup's own refusal.
    async fn action(
        &self,
        action: &str,
        param: Value,
        extra: &[&Secret],
    ) -> Result<Result<Value, String>, ProviderError> {
        let api = &self.inner.api;
        let label = format!("POST {action}");
        let body = Body::json(&json!({"action": action, "param": param}));
        let response = api.call(Method::POST, "?JSON", &body, &[]).await?;
        let message: Message = api.parse(&label, &response, AUTH_HINT)?;
        if message.status == "success" {
            return Ok(Ok(message.responsedata));
        }
        let mut secrets = api.secrets();
        secrets.extend_from_slice(extra);
        let text = format!(
            "{} {}: {} {}",
            message.status, message.statuscode, message.shortmessage, message.longmessage
        );
        Ok(Err(excerpt(text.trim().as_bytes(), &secrets)))
    }

    async fn login(&self) -> Result<Session, ProviderError> {
        let param = json!({
            "customernumber": self.inner.customer,
            "apikey": self.inner.key.expose().trim(),
            "apipassword": self.inner.password.expose().trim(),
        });
        match self.action("login", param, &[]).await? {
            Ok(data) => match data.get("apisessionid").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => Ok(Session(Secret::new(id))),
                _ => Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: "login: the answer carries no apisessionid".into(),
                }),
            },
            Err(why) => Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!("login: {why}; {AUTH_HINT}"),
            }),
        }
    }

    async fn logout(&self, session: &Session) {
        let param = self.param(session, json!({}));
        match self.action("logout", param, &[&session.0]).await {
            Ok(Ok(_)) => {}
            Ok(Err(why)) => tracing::debug!(why, "netcup: logout refused"),
            Err(e) => tracing::debug!(error = %e, "netcup: logout failed"),
        }
    }

    /// The session's parameters plus `more`.
    fn param(&self, session: &Session, more: Value) -> Value {
        let mut param = json!({
            "customernumber": self.inner.customer,
            "apikey": self.inner.key.expose().trim(),
            "apisessionid": session.0.expose(),
        });
        if let (Some(param), Value::Object(more)) = (param.as_object_mut(), more) {
            param.extend(more);
        }
        param
    }

    /// The zone that holds the record: the first candidate `infoDnsZone` knows.
    async fn zone_for(&self, session: &Session, record: &TxtRecord) -> Result<String, ProviderError> {
        let mut last = String::new();
        for candidate in candidates(record) {
            let param = self.param(session, json!({"domainname": candidate}));
            match self.action("infoDnsZone", param, &[&session.0]).await? {
                Ok(_) => return Ok(candidate),
                Err(why) => {
                    tracing::trace!(candidate, why, "netcup: not a zone of this customer");
                    last = format!("; for {candidate}: {why}");
                }
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("no DNS zone of this customer holds the name{last}"),
        })
    }

    /// The records of `zone` at `host` whose destination is our value.
    async fn matching(
        &self,
        session: &Session,
        zone: &str,
        host: &str,
        value: &str,
    ) -> Result<Vec<DnsRecord>, ProviderError> {
        let param = self.param(session, json!({"domainname": zone}));
        let data = match self.action("infoDnsRecords", param, &[&session.0]).await? {
            Ok(data) => data,
            Err(why) => {
                return Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: format!("infoDnsRecords {zone}: {why}"),
                });
            }
        };
        let records: Vec<DnsRecord> = match data.get("dnsrecords") {
            Some(list) => serde_json::from_value(list.clone()).map_err(|e| ProviderError::Rejected {
                provider: self.provider(),
                detail: format!("infoDnsRecords {zone}: not the documented record list: {e}"),
            })?,
            None => Vec::new(),
        };
        Ok(records
            .into_iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TXT") && r.hostname.eq_ignore_ascii_case(host))
            .filter(|r| r.destination == value && r.id.is_some())
            .collect())
    }

    async fn update(
        &self,
        session: &Session,
        zone: &str,
        records: Vec<DnsRecord>,
    ) -> Result<(), ProviderError> {
        let param = self.param(session, json!({"domainname": zone, "dnsrecordset": {"dnsrecords": records}}));
        match self.action("updateDnsRecords", param, &[&session.0]).await? {
            Ok(_) => Ok(()),
            Err(why) => Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!("updateDnsRecords {zone}: {why}"),
            }),
        }
    }

    /// Runs `work` in a fresh session and logs out whatever happened.
    async fn in_session(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let session = self.login().await?;
        let result = self.change(&session, record, add).await;
        self.logout(&session).await;
        result
    }

    async fn change(&self, session: &Session, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let zone = self.zone_for(session, record).await?;
        let host = relative_name(record, &zone);
        let found = self.matching(session, &zone, &host, &record.value).await?;
        if add {
            if !found.is_empty() {
                tracing::debug!(fqdn = %record.fqdn, "netcup: value already present");
                return Ok(());
            }
            let new = DnsRecord {
                id: None,
                hostname: host,
                rtype: "TXT".into(),
                priority: String::new(),
                destination: record.value.clone(),
                deleterecord: false,
            };
            self.update(session, &zone, vec![new]).await?;
            tracing::debug!(fqdn = %record.fqdn, zone, "netcup: record added");
        } else if !found.is_empty() {
            let count = found.len();
            let gone = found.into_iter().map(|r| DnsRecord { deleterecord: true, ..r }).collect();
            self.update(session, &zone, gone).await?;
            tracing::debug!(fqdn = %record.fqdn, zone, count, "netcup: records deleted");
        }
        Ok(())
    }
}

impl DnsProvider for Netcup {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.in_session(record, true).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.in_session(record, false).await
    }
}

impl ProviderSpec for Netcup {
    type Config = NetcupConfig;
    const CODE: &'static str = "netcup";
    const NAME: &'static str = "netcup";
    const PERMISSIONS: &'static str =
        "the customer number, an API key and the API password of the customer account holding the domain";
    const SECRETS: &'static [&'static str] = &["api_key", "api_password"];
    const ENV: &'static [EnvName] = &[
        env("NETCUP_CUSTOMER_NUMBER", "customer_number", Kind::Text),
        env("NETCUP_API_KEY", "api_key", Kind::Secret),
        env("NETCUP_API_PASSWORD", "api_password", Kind::Secret),
        env("NETCUP_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("NETCUP_TTL", "netcup has no per-record TTL; records get the zone's TTL"),
        ignored("NETCUP_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("NETCUP_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &NetcupConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        match config.customer_number.as_deref() {
            None | Some("") => {
                return Err(SettingError::new(
                    "customer_number",
                    "set the netcup customer number (lego: NETCUP_CUSTOMER_NUMBER)",
                ));
            }
            Some(n) if !n.chars().all(|c| c.is_ascii_digit()) => {
                return Err(SettingError::new("customer_number", format!("`{n}` is not a customer number")));
            }
            _ => {}
        }
        required(&config.api_key, "api_key")?;
        required(&config.api_password, "api_password")?;
        check_http(checks, &config.api_url, config.timeout)?;
        Ok(())
    }

    fn build(config: &NetcupConfig, secrets: &mut dyn SecretReader) -> Result<Netcup, ProviderError> {
        let key = read_required(secrets, "netcup", "api_key", &config.api_key)?;
        let password = read_required(secrets, "netcup", "api_password", &config.api_password)?;
        Netcup::new(
            &config.api_url,
            config.customer_number.as_deref().unwrap_or_default(),
            &key,
            &password,
            config.timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_settings_and_hides_secrets() {
        let (k, p, t) = (Secret::new("k3y-value"), Secret::new("pa55-value"), Duration::from_secs(5));
        assert!(
            Netcup::new(DEFAULT_API_URL, "12x", &k, &p, t)
                .unwrap_err()
                .to_string()
                .contains("customer_number")
        );
        assert!(
            Netcup::new(DEFAULT_API_URL, "12345", &k, &Secret::new(""), t)
                .unwrap_err()
                .to_string()
                .contains("api_password")
        );
        let debug = format!("{:?}", Netcup::new(DEFAULT_API_URL, "12345", &k, &p, t).unwrap());
        assert!(!debug.contains("k3y") && !debug.contains("pa55"), "{debug}");
    }

    #[test]
    fn a_new_record_has_no_id_and_deletion_keeps_it() {
        let r = DnsRecord {
            id: None,
            hostname: "_acme-challenge".into(),
            rtype: "TXT".into(),
            priority: String::new(),
            destination: "v".into(),
            deleterecord: false,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("\"id\""), "{text}");
        let gone = DnsRecord { id: Some("42".into()), deleterecord: true, ..r };
        let text = serde_json::to_string(&gone).unwrap();
        assert!(text.contains("\"id\":\"42\"") && text.contains("\"deleterecord\":true"), "{text}");
    }
}
