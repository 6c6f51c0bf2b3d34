//! ClouDNS: add and remove one TXT value through the ClouDNS HTTP API.
//!
//! ClouDNS keeps one record per TXT value, so adding ours is one `add-record` that leaves
//! every other value at the name alone, and removing it deletes exactly the records whose
//! value is ours, found by listing the TXT records of the host (paged). Every call is a POST
//! whose form body carries the API user and password: the password never appears in a URL,
//! and it is redacted from anything the API echoes. ClouDNS answers errors, refused
//! credentials included, with HTTP 200 and `{"status": "Failed", "statusDescription": ...}`;
//! those are mapped to wildcert's error kinds here. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::Value;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::{candidates, host_name};
use wildcert_dns_http::{Api, Body, HttpClient, excerpt, form_encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.cloudns.net/dns";

/// The TTLs ClouDNS accepts (its `add-record` documentation); a record gets the smallest one
/// at least as long as asked for.
pub const TTLS: &[u32] =
    &[60, 300, 900, 1800, 3600, 21_600, 43_200, 86_400, 172_800, 259_200, 604_800, 1_209_600, 2_592_000];

/// Records per page of a listing: the largest `rows-per-page` the API accepts.
const PER_PAGE: usize = 100;

/// At most this many pages are read.
const MAX_PAGES: usize = 100;

const AUTH_HINT: &str = "check auth_id or sub_auth_id (lego: CLOUDNS_AUTH_ID, CLOUDNS_SUB_AUTH_ID) and \
     auth_password (CLOUDNS_AUTH_PASSWORD), and that the API user may connect from this address";

/// ClouDNS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClouDnsConfig {
    /// The API user's ID (`auth-id`), shown under API & Resellers.
    #[serde(default, deserialize_with = "id")]
    pub auth_id: Option<String>,
    /// An API sub-user's ID (`sub-auth-id`), limited to some zones; used instead of
    /// `auth_id` when set.
    #[serde(default, deserialize_with = "id")]
    pub sub_auth_id: Option<String>,
    /// The API user's (or sub-user's) password.
    pub auth_password: Option<SecretSource>,
    /// Base URL of the API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

/// An ID written as a number (`auth_id = 1234`) or a string (`"1234"`, as lego's variables
/// give it).
fn id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(u64),
        Text(String),
    }
    Ok(Option::<Id>::deserialize(deserializer)?.map(|id| match id {
        Id::Number(n) => n.to_string(),
        Id::Text(t) => t.trim().to_string(),
    }))
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// Which API user signs the calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    /// `auth-id`.
    Main(String),
    /// `sub-auth-id`.
    Sub(String),
}

impl User {
    fn param(&self) -> (&'static str, &str) {
        match self {
            User::Main(id) => ("auth-id", id),
            User::Sub(id) => ("sub-auth-id", id),
        }
    }
}

/// The ClouDNS adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct ClouDns {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    user: User,
    password: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for ClouDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClouDns")
            .field("api", &self.inner.api)
            .field("user", &self.inner.user)
            .finish_non_exhaustive()
    }
}

/// What a call answered: its JSON, or ClouDNS's own refusal text.
enum Answer {
    Ok(Value),
    Failed(String),
}

/// One record of a `records` listing; every field arrives as a string.
#[derive(Debug, Deserialize)]
struct Record {
    id: Value,
    #[serde(rename = "type", default)]
    rtype: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    record: String,
}

/// The smallest TTL ClouDNS accepts that is at least `ttl`.
pub fn ttl_for(ttl: u32) -> u32 {
    TTLS.iter().copied().find(|&t| t >= ttl).unwrap_or(TTLS[TTLS.len() - 1])
}

impl ClouDns {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        user: User,
        password: &Secret,
        timeout: Duration,
    ) -> Result<ClouDns, ProviderError> {
        let provider = format!("cloudns ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        let (setting, id) = match &user {
            User::Main(id) => ("auth_id", id),
            User::Sub(id) => ("sub_auth_id", id),
        };
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ProviderError::Config {
                provider,
                detail: format!("{setting} must be the numeric API user ID"),
            });
        }
        if password.expose().trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "auth_password is empty".into() });
        }
        let api = Api::new(&provider, api_url, client)?.with_redacted(password);
        Ok(ClouDns {
            inner: Arc::new(Inner { api, user, password: password.clone(), locks: NameLocks::default() }),
        })
    }

    /// POSTs `params` (after the credentials) to `/{method}.json`.
    async fn call(&self, method: &str, params: &[(&str, &str)]) -> Result<Answer, ProviderError> {
        let api = &self.inner.api;
        let (user_key, user_id) = self.inner.user.param();
        let mut fields = vec![(user_key, user_id), ("auth-password", self.inner.password.expose())];
        fields.extend_from_slice(params);
        let path = format!("/{method}.json");
        let action = format!("POST {path}");
        let response = api.call(Method::POST, &path, &Body::Form(form_encode(&fields)), &[]).await?;
        let value: Value = api.parse(&action, &response, AUTH_HINT)?;
        let failed =
            value.get("status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("failed"));
        if !failed {
            return Ok(Answer::Ok(value));
        }
        let description =
            value.get("statusDescription").and_then(Value::as_str).unwrap_or("(no description)");
        let description = excerpt(description.as_bytes(), &api.secrets());
        if description.to_ascii_lowercase().contains("authentication") {
            return Err(ProviderError::Auth {
                provider: api.provider().to_string(),
                detail: format!("{action}: {description}; {AUTH_HINT}"),
            });
        }
        Ok(Answer::Failed(description))
    }

    fn rejected(&self, detail: String) -> ProviderError {
        ProviderError::Rejected { provider: self.inner.api.provider().to_string(), detail }
    }

    /// The zone that holds the record: the first candidate `get-zone-info` knows.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        for candidate in candidates(record) {
            match self.call("get-zone-info", &[("domain-name", &candidate)]).await? {
                Answer::Failed(why) => {
                    tracing::trace!(candidate, why, "cloudns: not a zone of this account");
                }
                Answer::Ok(info) => {
                    let kind = info.get("type").and_then(Value::as_str).unwrap_or("master");
                    if matches!(kind.to_ascii_lowercase().as_str(), "slave" | "parked") {
                        return Err(self.rejected(format!(
                            "zone {candidate} is a {kind} zone at ClouDNS; records can only be added to a master zone"
                        )));
                    }
                    return Ok(candidate);
                }
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.inner.api.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: "no DNS zone of this API user holds the name; create the zone in the ClouDNS panel \
                     (or give the sub-user access to it)"
                .into(),
        })
    }

    /// ClouDNS's host for the record: relative to the zone, empty at the apex.
    fn host(record: &TxtRecord, zone: &str) -> String {
        host_name(record, zone)
    }

    /// The IDs of the TXT records of `host` whose value is ours.
    async fn matching(&self, zone: &str, host: &str, value: &str) -> Result<Vec<String>, ProviderError> {
        let mut ids = Vec::new();
        for page in 1..=MAX_PAGES {
            let page = page.to_string();
            let per_page = PER_PAGE.to_string();
            let params = [
                ("domain-name", zone),
                ("host", host),
                ("type", "TXT"),
                ("rows-per-page", per_page.as_str()),
                ("page", page.as_str()),
            ];
            let listing = match self.call("records", &params).await? {
                Answer::Ok(listing) => listing,
                Answer::Failed(why) => {
                    return Err(self.rejected(format!("listing the records of {zone}: {why}")));
                }
            };
            // A page of records is an object keyed by record ID; no records is `[]`.
            let entries: Vec<Value> = match listing {
                Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
                Value::Array(list) => list,
                other => {
                    return Err(self.rejected(format!(
                        "listing the records of {zone}: not the documented list: {}",
                        excerpt(other.to_string().as_bytes(), &[])
                    )));
                }
            };
            let count = entries.len();
            for entry in entries {
                let Ok(r) = serde_json::from_value::<Record>(entry) else { continue };
                let id = match &r.id {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                if r.rtype.eq_ignore_ascii_case("TXT")
                    && r.host.eq_ignore_ascii_case(host)
                    && r.record == value
                {
                    ids.push(id);
                }
            }
            if count < PER_PAGE {
                break;
            }
        }
        Ok(ids)
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let host = Self::host(record, &zone);
        if !self.matching(&zone, &host, &record.value).await?.is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "cloudns: value already present");
            return Ok(());
        }
        let ttl = ttl_for(record.ttl).to_string();
        let params = [
            ("domain-name", zone.as_str()),
            ("record-type", "TXT"),
            ("host", host.as_str()),
            ("record", record.value.as_str()),
            ("ttl", ttl.as_str()),
        ];
        match self.call("add-record", &params).await? {
            Answer::Ok(_) => {
                tracing::debug!(fqdn = %record.fqdn, zone, "cloudns: record added");
                Ok(())
            }
            Answer::Failed(why) => Err(self.rejected(format!("adding a TXT record to {zone}: {why}"))),
        }
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let host = Self::host(record, &zone);
        for id in self.matching(&zone, &host, &record.value).await? {
            match self.call("delete-record", &[("domain-name", &zone), ("record-id", &id)]).await? {
                Answer::Ok(_) => tracing::debug!(fqdn = %record.fqdn, id, "cloudns: record deleted"),
                // Deleted meanwhile (a concurrent cleanup): what we wanted.
                Answer::Failed(why) if why.to_ascii_lowercase().contains("record-id") => {
                    tracing::debug!(fqdn = %record.fqdn, id, "cloudns: record already gone");
                }
                Answer::Failed(why) => {
                    return Err(self.rejected(format!("deleting record {id} of {zone}: {why}")));
                }
            }
        }
        Ok(())
    }
}

impl DnsProvider for ClouDns {
    fn describe(&self) -> String {
        self.inner.api.provider().to_string()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

impl ProviderSpec for ClouDns {
    type Config = ClouDnsConfig;
    const CODE: &'static str = "cloudns";
    const NAME: &'static str = "ClouDNS";
    const PERMISSIONS: &'static str = "an API user (auth-id) or sub-user (sub-auth-id) with access to the zone; a sub-user limited to that zone is enough";
    const SECRETS: &'static [&'static str] = &["auth_password"];
    const ENV: &'static [EnvName] = &[
        env("CLOUDNS_AUTH_ID", "auth_id", Kind::Text),
        env("CLOUDNS_SUB_AUTH_ID", "sub_auth_id", Kind::Text),
        env("CLOUDNS_AUTH_PASSWORD", "auth_password", Kind::Secret),
        env("CLOUDNS_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("CLOUDNS_TTL", TTL),
        ignored("CLOUDNS_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("CLOUDNS_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &ClouDnsConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        match (&config.auth_id, &config.sub_auth_id) {
            (None, None) => {
                return Err(SettingError::new(
                    "auth_id",
                    "set auth_id (lego: CLOUDNS_AUTH_ID), or sub_auth_id (CLOUDNS_SUB_AUTH_ID) for an API sub-user",
                ));
            }
            (Some(_), Some(_)) => {
                checks.warn("auth_id", "has no effect: sub_auth_id is set and used instead")
            }
            _ => {}
        }
        for (key, value) in [("auth_id", &config.auth_id), ("sub_auth_id", &config.sub_auth_id)] {
            if let Some(id) = value
                && (id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()))
            {
                return Err(SettingError::new(key, format!("`{id}` is not an API user ID (a number)")));
            }
        }
        required(&config.auth_password, "auth_password")?;
        check_http(checks, &config.api_url, config.timeout)?;
        Ok(())
    }

    fn build(config: &ClouDnsConfig, secrets: &mut dyn SecretReader) -> Result<ClouDns, ProviderError> {
        let password = read_required(secrets, "cloudns", "auth_password", &config.auth_password)?;
        let user = match (&config.sub_auth_id, &config.auth_id) {
            (Some(sub), _) => User::Sub(sub.clone()),
            (None, Some(main)) => User::Main(main.clone()),
            (None, None) => {
                return Err(ProviderError::Config {
                    provider: "cloudns".into(),
                    detail: "set auth_id or sub_auth_id".into(),
                });
            }
        };
        ClouDns::new(&config.api_url, user, &password, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_an_accepted_value() {
        assert_eq!(ttl_for(1), 60);
        assert_eq!(ttl_for(60), 60);
        assert_eq!(ttl_for(61), 300);
        assert_eq!(ttl_for(u32::MAX), 2_592_000);
    }

    #[test]
    fn refuses_bad_ids_and_empty_passwords() {
        let pw = Secret::new("s3cr3t-pw");
        let t = Duration::from_secs(5);
        assert!(ClouDns::new(DEFAULT_API_URL, User::Main("1234".into()), &pw, t).is_ok());
        let err = ClouDns::new(DEFAULT_API_URL, User::Sub("abc".into()), &pw, t).unwrap_err();
        assert!(err.to_string().contains("sub_auth_id"), "{err}");
        let err = ClouDns::new(DEFAULT_API_URL, User::Main("1".into()), &Secret::new(""), t).unwrap_err();
        assert!(err.to_string().contains("auth_password"), "{err}");
        let debug = format!("{:?}", ClouDns::new(DEFAULT_API_URL, User::Main("1".into()), &pw, t).unwrap());
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }
}
