//! NameSilo: add and remove one TXT value through the NameSilo API.
//!
//! NameSilo keeps one record per TXT value, so adding ours is one `dnsAddRecord` that leaves
//! every other value at the name alone, and removing it deletes exactly the records whose
//! value is ours (`dnsListRecords` lists the whole domain; `dnsDeleteRecord` by record ID).
//! Every call is a GET whose query carries the API key (NameSilo has no other way): URLs
//! never reach a message (they are shown without their query) and the key is redacted from
//! anything the API echoes. Answers are XML (`type=xml`, the format NameSilo documents
//! for every operation); NameSilo reports its own errors, refused keys included, with HTTP
//! 200 and a `<code>` other than 300. See README.md.

#![warn(missing_docs)]

mod xml;

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, same_name};
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::zone::{candidates, host_name};
use wildcert_dns_http::{Api, Body, HttpClient, StatusClass, classify, excerpt, form_encode};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://www.namesilo.com/api";

/// NameSilo refuses TXT records with a TTL under an hour (lego checks the same range).
pub const MIN_TTL: u32 = 3600;

/// The longest TTL NameSilo accepts.
pub const MAX_TTL: u32 = 2_592_000;

/// The reply code of a successful operation.
const SUCCESS: &str = "300";

/// Reply codes that mean the key (or where it is used from) was refused: no key, invalid
/// key, invalid user, API not available to sub-accounts, not allowed from this address.
const AUTH_CODES: &[&str] = &["109", "110", "111", "112", "113"];

const AUTH_HINT: &str = "check api_key (lego: NAMESILO_API_KEY): a key from the NameSilo API Manager, \
     allowed from this host's address if the key is IP-restricted";

/// NameSilo's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameSiloConfig {
    /// An API key from the account's API Manager.
    pub api_key: Option<SecretSource>,
    /// Base URL of the API (`https://sandbox.namesilo.com/api` for the sandbox).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The NameSilo adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct NameSilo {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    key: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for NameSilo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameSilo").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

/// A reply: its `<reply>` element, or NameSilo's own refusal.
enum Answer {
    Ok(xml::Element),
    Failed { code: String, detail: String },
}

/// The TTL NameSilo gets for a record.
pub fn ttl_for(ttl: u32) -> u32 {
    ttl.clamp(MIN_TTL, MAX_TTL)
}

impl NameSilo {
    /// Prepares the client; no network I/O.
    pub fn new(api_url: &str, key: &Secret, timeout: Duration) -> Result<NameSilo, ProviderError> {
        let provider = format!("namesilo ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        if key.expose().trim().is_empty() {
            return Err(ProviderError::Config { provider, detail: "api_key is empty".into() });
        }
        let api = Api::new(&provider, api_url, client)?.with_redacted(key);
        Ok(NameSilo { inner: Arc::new(Inner { api, key: key.clone(), locks: NameLocks::default() }) })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    fn rejected(&self, detail: String) -> ProviderError {
        ProviderError::Rejected { provider: self.provider(), detail }
    }

    /// GET `/{operation}` with the version, format and key, then `params`.
    async fn call(&self, operation: &str, params: &[(&str, &str)]) -> Result<Answer, ProviderError> {
        let api = &self.inner.api;
        let mut fields = vec![("version", "1"), ("type", "xml"), ("key", self.inner.key.expose().trim())];
        fields.extend_from_slice(params);
        let action = format!("GET /{operation}");
        let target = format!("/{operation}?{}", form_encode(&fields));
        let response = api.call(Method::GET, &target, &Body::Empty, &[]).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(api.error(&action, &response, AUTH_HINT));
        }
        let text = String::from_utf8_lossy(&response.body);
        let doc = xml::parse(&text).map_err(|why| {
            self.rejected(format!(
                "{action}: the answer is not the XML NameSilo documents ({why}): {}; is api_url the API's base URL?",
                excerpt(&response.body, &api.secrets())
            ))
        })?;
        let Some(reply) = doc.child("reply").filter(|_| doc.name == "namesilo").cloned() else {
            return Err(self.rejected(format!(
                "{action}: the answer has no <namesilo><reply>: {}",
                excerpt(&response.body, &api.secrets())
            )));
        };
        let code = reply.text_of("code").to_string();
        if code == SUCCESS {
            return Ok(Answer::Ok(reply));
        }
        let detail = excerpt(reply.text_of("detail").as_bytes(), &api.secrets());
        if AUTH_CODES.contains(&code.as_str()) {
            return Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!("{action}: code {code}: {detail}; {AUTH_HINT}"),
            });
        }
        Ok(Answer::Failed { code, detail })
    }

    /// The domain that holds the record and its records: the first candidate NameSilo
    /// lists records for.
    async fn zone_for(&self, record: &TxtRecord) -> Result<(String, xml::Element), ProviderError> {
        let mut last = String::new();
        for candidate in candidates(record) {
            match self.call("dnsListRecords", &[("domain", &candidate)]).await? {
                Answer::Ok(reply) => return Ok((candidate, reply)),
                Answer::Failed { code, detail } => {
                    tracing::trace!(candidate, code, detail, "namesilo: not a domain of this account");
                    last = format!("; for {candidate}: code {code}: {detail}");
                }
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!(
                "no domain of this account holds the name (NameSilo serves DNS only for domains registered there){last}"
            ),
        })
    }

    /// The IDs of the TXT records at the record's name whose value is ours. NameSilo lists
    /// full names (`_acme-challenge.example.com`).
    fn matching(reply: &xml::Element, record: &TxtRecord) -> Vec<String> {
        reply
            .all("resource_record")
            .filter(|r| r.text_of("type").eq_ignore_ascii_case("TXT"))
            .filter(|r| same_name(r.text_of("host"), &record.fqdn))
            .filter(|r| r.text_of("value") == record.value)
            .map(|r| r.text_of("record_id").to_string())
            .filter(|id| !id.is_empty())
            .collect()
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, listing) = self.zone_for(record).await?;
        if !Self::matching(&listing, record).is_empty() {
            tracing::debug!(fqdn = %record.fqdn, "namesilo: value already present");
            return Ok(());
        }
        let host = host_name(record, &zone);
        let ttl = ttl_for(record.ttl).to_string();
        let params = [
            ("domain", zone.as_str()),
            ("rrtype", "TXT"),
            ("rrhost", host.as_str()),
            ("rrvalue", record.value.as_str()),
            ("rrttl", ttl.as_str()),
        ];
        match self.call("dnsAddRecord", &params).await? {
            Answer::Ok(_) => {
                tracing::debug!(fqdn = %record.fqdn, zone, "namesilo: record added");
                Ok(())
            }
            Answer::Failed { code, detail } => {
                Err(self.rejected(format!("adding a TXT record to {zone}: code {code}: {detail}")))
            }
        }
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let (zone, listing) = self.zone_for(record).await?;
        for id in Self::matching(&listing, record) {
            match self.call("dnsDeleteRecord", &[("domain", &zone), ("rrid", &id)]).await? {
                Answer::Ok(_) => tracing::debug!(fqdn = %record.fqdn, id, "namesilo: record deleted"),
                Answer::Failed { code, detail } => {
                    return Err(
                        self.rejected(format!("deleting record {id} of {zone}: code {code}: {detail}"))
                    );
                }
            }
        }
        Ok(())
    }
}

impl DnsProvider for NameSilo {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

impl ProviderSpec for NameSilo {
    type Config = NameSiloConfig;
    const CODE: &'static str = "namesilo";
    const NAME: &'static str = "NameSilo";
    const PERMISSIONS: &'static str =
        "an API key of the account holding the domain (dnsListRecords, dnsAddRecord, dnsDeleteRecord)";
    const SECRETS: &'static [&'static str] = &["api_key"];
    const ENV: &'static [EnvName] = &[
        env("NAMESILO_API_KEY", "api_key", Kind::Secret),
        env("NAMESILO_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("NAMESILO_TTL", TTL),
        ignored("NAMESILO_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("NAMESILO_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &NameSiloConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_key, "api_key")?;
        check_http(checks, &config.api_url, config.timeout)?;
        Ok(())
    }

    fn build(config: &NameSiloConfig, secrets: &mut dyn SecretReader) -> Result<NameSilo, ProviderError> {
        let key = read_required(secrets, "namesilo", "api_key", &config.api_key)?;
        NameSilo::new(&config.api_url, &key, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_stay_in_namesilos_range() {
        assert_eq!(ttl_for(60), 3600);
        assert_eq!(ttl_for(7200), 7200);
        assert_eq!(ttl_for(u32::MAX), MAX_TTL);
    }

    #[test]
    fn refuses_an_empty_key_and_hides_it() {
        let key = Secret::new("n4mes1lo-key");
        let t = Duration::from_secs(5);
        assert!(
            NameSilo::new(DEFAULT_API_URL, &Secret::new(" "), t).unwrap_err().to_string().contains("api_key")
        );
        let debug = format!("{:?}", NameSilo::new(DEFAULT_API_URL, &key, t).unwrap());
        assert!(!debug.contains("n4mes1lo"), "{debug}");
    }

    #[test]
    fn finds_our_records_by_full_name_and_value() {
        let reply = xml::parse(
            "<reply><code>300</code>\
             <resource_record><record_id>1</record_id><type>TXT</type><host>_acme-challenge.example.com</host><value>ours</value></resource_record>\
             <resource_record><record_id>2</record_id><type>TXT</type><host>_acme-challenge.example.com</host><value>theirs</value></resource_record>\
             <resource_record><record_id>3</record_id><type>TXT</type><host>example.com</host><value>ours</value></resource_record>\
             <resource_record><record_id>4</record_id><type>A</type><host>_acme-challenge.example.com</host><value>ours</value></resource_record>\
             </reply>",
        )
        .unwrap();
        let record = TxtRecord {
            fqdn: "_acme-challenge.Example.com.".into(),
            zone: None,
            value: "ours".into(),
            ttl: 60,
            raw: None,
        };
        assert_eq!(NameSilo::matching(&reply, &record), ["1"]);
    }
}
