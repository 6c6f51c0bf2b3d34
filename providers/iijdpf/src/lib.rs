//! IIJ DNS Platform Service (DPF): add and remove one TXT value through the DPF API v1.
//!
//! DPF edits a draft of the zone: creating, updating or deleting a record set answers `202`
//! with a `request_id` whose job (`GET /jobs/{request_id}`) runs asynchronously, and nothing
//! reaches the name servers until the zone's changes are applied (`PATCH
//! /zones/{zone_id}/changes`, another job). A TXT record set holds a list of values
//! (`rdata`), so adding ours is a read-modify-write of that list: calls on one name are
//! serialized, the other values are sent back exactly as read, and the record set is deleted
//! only when our value was its last. Applies to one zone are serialized as well. See
//! README.md.
//!
//! API reference: <https://manual.iij.jp/dpf/dpfapi/> (IIJ DNS Platform Service API
//! manual) and the Go client IIJ's users and lego use,
//! <https://github.com/mimuret/golang-iij-dpf> (`pkg/api`, `pkg/apis/dpf/v1/core`,
//! `pkg/apis/dpf/v1/zones`).

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, is_within, normalize, quote_txt, same_name,
    txt_text,
};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{
    Api, Body, JobWait, StatusClass, classify, default_timeout, encode, excerpt, redact,
};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://api.dns-platform.jp/dpf/v1";

/// Items per page of a list; at most `MAX_PAGES` pages are read.
const PER_PAGE: usize = 100;
const MAX_PAGES: usize = 100;

/// The record state DPF gives a record set whose deletion waits for the next apply.
const STATE_TO_BE_DELETED: i64 = 2;

/// The first pause between two reads of a running job; it doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(3);

const AUTH_HINT: &str =
    "check api_token (lego: IIJ_DPF_API_TOKEN): a DPF API access token allowed to edit and apply the zone";

/// IIJ DPF's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IijDpfConfig {
    /// A DPF API access token (sent as a bearer token).
    pub api_token: Option<SecretSource>,
    /// The zone's DPM service code (`dpm0000000`), as lego requires it. Without it, the zone
    /// is found by name: the zone SOA discovery found, else the longest suffix of the name.
    pub service_code: Option<String>,
    /// Base URL of the API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
    /// How long one asynchronous job (a record change, the zone's apply) may run.
    #[serde(default = "default_job_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub job_timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

fn default_job_timeout() -> Duration {
    Duration::from_secs(600)
}

/// The IIJ DPF adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct IijDpf {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    service_code: Option<String>,
    job_timeout: Duration,
    /// Per record name (read-modify-write of the value list) and, under `zone:` keys, per
    /// zone for its apply step.
    locks: NameLocks,
}

impl std::fmt::Debug for IijDpf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IijDpf")
            .field("api", &self.inner.api)
            .field("service_code", &self.inner.service_code)
            .field("job_timeout", &self.inner.job_timeout)
            .finish_non_exhaustive()
    }
}

/// The TXT record set at our name as the draft zone holds it.
#[derive(Debug, Clone)]
struct RecordSet {
    id: String,
    ttl: Value,
    description: Value,
    state: i64,
    /// The `rdata` entries exactly as read (`{"value": "\"...\""}`).
    rdata: Vec<Value>,
}

/// Whether an `rdata` entry is the TXT value `value`.
fn holds(entry: &Value, value: &str) -> bool {
    entry["value"].as_str().is_some_and(|v| txt_text(v) == value)
}

/// An identifier the API handed us, checked before it goes into a path: it is untrusted.
fn path_id(raw: &Value, what: &str, provider: &str) -> Result<String, ProviderError> {
    let text = match raw {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let ok = !text.is_empty()
        && text.len() <= 128
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok && text != "." && text != ".." {
        Ok(text)
    } else {
        Err(ProviderError::Rejected {
            provider: provider.to_string(),
            detail: format!("the API answered a {what} that is not a plain identifier"),
        })
    }
}

impl IijDpf {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        token: &Secret,
        service_code: Option<&str>,
        timeout: Duration,
        job_timeout: Duration,
    ) -> Result<IijDpf, ProviderError> {
        let api =
            Api::connect("iijdpf", api_url, timeout)?.require("api_token", token)?.with_bearer(token)?;
        let service_code = service_code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
        Ok(IijDpf { inner: Arc::new(Inner { api, service_code, job_timeout, locks: NameLocks::default() }) })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One call; the JSON of a successful answer (`null` for an empty body). DPF refuses a
    /// token with `400 ParameterError` and the detail `invalid` / `access_token` (401/403
    /// are treated the same way).
    async fn send(&self, method: Method, path: &str, body: &Body) -> Result<Value, ProviderError> {
        let api = &self.inner.api;
        let action = format!("{method} {}", path.split('?').next().unwrap_or_default());
        let response = api.call(method, path, body, &[]).await?;
        if classify(response.status) == StatusClass::Success {
            return api.parse(&action, &response, AUTH_HINT);
        }
        let error: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let token_refused = error["error_details"].as_array().is_some_and(|details| {
            details.iter().any(|d| d["code"] == "invalid" && d["attribute"] == "access_token")
        });
        if token_refused {
            let body = excerpt(&response.body, &api.secrets());
            return Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!("{action}: HTTP {}: {body}; {AUTH_HINT}", response.status),
            });
        }
        Err(api.error(&action, &response, AUTH_HINT))
    }

    /// Every item of a paged list (`results`), `query` holding the search keywords.
    async fn list(&self, path: &str, query: &str) -> Result<Vec<Value>, ProviderError> {
        let mut items = Vec::new();
        for page in 0..MAX_PAGES {
            let target = format!("{path}?{query}&offset={}&limit={PER_PAGE}", page * PER_PAGE);
            let answer = self.send(Method::GET, &target, &Body::Empty).await?;
            let results = answer["results"].as_array().cloned().unwrap_or_default();
            let full = results.len() >= PER_PAGE;
            items.extend(results);
            if !full {
                break;
            }
        }
        Ok(items)
    }

    /// The zone holding the record: `(id, name)`.
    async fn zone_for(&self, record: &TxtRecord) -> Result<(String, String), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        if let Some(code) = &self.inner.service_code {
            let query = format!("{}={}", encode("_keywords_service_code[]"), encode(code));
            let zones = self.list("/zones", &query).await?;
            let Some(zone) = zones.iter().find(|z| z["service_code"].as_str() == Some(code.as_str())) else {
                return Err(ProviderError::ZoneNotFound {
                    provider: self.provider(),
                    fqdn: record.fqdn.clone(),
                    detail: format!(
                        "the token sees no zone with DPM service code {code}; check service_code (lego: IIJ_DPF_DPM_SERVICE_CODE)"
                    ),
                });
            };
            let name = zone["name"].as_str().unwrap_or_default().to_string();
            if !is_within(&fqdn, &name) {
                return Err(ProviderError::ZoneNotFound {
                    provider: self.provider(),
                    fqdn: record.fqdn.clone(),
                    detail: format!("service code {code} is the zone {name}, which does not hold the name"),
                });
            }
            return Ok((path_id(&zone["id"], "zone id", &self.provider())?, name));
        }
        let names = candidates(record);
        for name in &names {
            let query = format!("{}={}", encode("_keywords_name[]"), encode(name));
            let zones = self.list("/zones", &query).await?;
            if let Some(zone) = zones.iter().find(|z| z["name"].as_str().is_some_and(|n| same_name(n, name)))
            {
                return Ok((path_id(&zone["id"], "zone id", &self.provider())?, name.clone()));
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("the token sees none of the zones {}; set service_code", names.join(", ")),
        })
    }

    /// The draft's TXT record set at `fqdn`, if any.
    async fn record_set(&self, zone_id: &str, fqdn: &str) -> Result<Option<RecordSet>, ProviderError> {
        let query =
            format!("{}={}&{}=TXT", encode("_keywords_name[]"), encode(fqdn), encode("_keywords_rrtype[]"));
        let items = self.list(&format!("/zones/{zone_id}/records"), &query).await?;
        let Some(item) = items.into_iter().find(|r| {
            r["rrtype"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("TXT"))
                && r["name"].as_str().is_some_and(|n| same_name(n, fqdn))
        }) else {
            return Ok(None);
        };
        Ok(Some(RecordSet {
            id: path_id(&item["id"], "record id", &self.provider())?,
            ttl: item["ttl"].clone(),
            description: item["description"].clone(),
            state: item["state"].as_i64().unwrap_or(0),
            rdata: item["rdata"].as_array().cloned().unwrap_or_default(),
        }))
    }

    /// Waits for the job an accepted change started (its `request_id`) to succeed.
    async fn wait(&self, accepted: &Value, what: &str) -> Result<(), ProviderError> {
        let id = path_id(&accepted["request_id"], "request_id", &self.provider())?;
        let mut wait = JobWait::new(self.inner.job_timeout, FIRST_PAUSE, MAX_PAUSE);
        loop {
            let job = self.send(Method::GET, &format!("/jobs/{id}"), &Body::Empty).await?;
            let job = if job["result"].is_object() { &job["result"] } else { &job };
            match job["status"].as_str().unwrap_or_default() {
                "SUCCESSFUL" => {
                    tracing::debug!(job = %id, what, "iijdpf: job done");
                    return Ok(());
                }
                "FAILED" => {
                    let said = format!(
                        "{} {}",
                        job["error_type"].as_str().unwrap_or_default(),
                        job["error_message"].as_str().unwrap_or_default()
                    );
                    let said: String = redact(&said, &self.inner.api.secrets()).chars().take(300).collect();
                    return Err(ProviderError::Rejected {
                        provider: self.provider(),
                        detail: format!("{what}: job {id} failed: {said}"),
                    });
                }
                _ => {}
            }
            if !wait.pause().await {
                return Err(ProviderError::Timeout {
                    provider: self.provider(),
                    after: wait.limit(),
                    detail: format!("{what}: job {id} still running; raise job_timeout"),
                });
            }
        }
    }

    /// Sends a change that starts a job and waits for it.
    async fn change_and_wait(
        &self,
        method: Method,
        path: &str,
        body: &Body,
        what: &str,
    ) -> Result<(), ProviderError> {
        let accepted = self.send(method, path, body).await?;
        self.wait(&accepted, what).await
    }

    /// Publishes the zone's draft: DPF serves nothing before this.
    async fn apply(&self, zone_id: &str) -> Result<(), ProviderError> {
        let _zone = self.inner.locks.lock(&format!("zone:{zone_id}")).await;
        let body = Body::json(&json!({"description": "wildcert: ACME challenge"}));
        self.change_and_wait(Method::PATCH, &format!("/zones/{zone_id}/changes"), &body, "apply the zone")
            .await
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let _guard = self.inner.locks.lock(&fqdn).await;
        let (zone_id, zone) = self.zone_for(record).await?;
        let found = self.record_set(&zone_id, &fqdn).await?;
        if let Some(set) = &found
            && set.state == STATE_TO_BE_DELETED
        {
            return Err(ProviderError::Rejected {
                provider: self.provider(),
                detail: format!(
                    "the TXT record set at {fqdn} is marked for deletion in zone {zone}'s unapplied changes; apply or cancel them first"
                ),
            });
        }
        let ours = |set: &RecordSet| set.rdata.iter().any(|e| holds(e, &record.value));
        let records = format!("/zones/{zone_id}/records");
        match (add, found) {
            (true, None) => {
                let body = json!({
                    "name": fqdn,
                    "ttl": record.ttl,
                    "rrtype": "TXT",
                    "rdata": [{"value": quote_txt(&record.value)}],
                    "description": "ACME challenge (wildcert)",
                });
                self.change_and_wait(Method::POST, &records, &Body::json(&body), "create the TXT record set")
                    .await?;
            }
            (true, Some(set)) if ours(&set) => {
                if set.state == 0 {
                    tracing::debug!(fqdn = %fqdn, "iijdpf: value already published");
                    return Ok(());
                }
            }
            (true, Some(set)) => {
                let mut rdata = set.rdata.clone();
                rdata.push(json!({"value": quote_txt(&record.value)}));
                let body = json!({"ttl": set.ttl, "rdata": rdata, "description": set.description});
                let path = format!("{records}/{}", set.id);
                self.change_and_wait(Method::PATCH, &path, &Body::json(&body), "add to the TXT record set")
                    .await?;
            }
            (false, None) => return Ok(()),
            (false, Some(set)) if !ours(&set) => return Ok(()),
            (false, Some(set)) => {
                let rest: Vec<Value> =
                    set.rdata.iter().filter(|e| !holds(e, &record.value)).cloned().collect();
                let path = format!("{records}/{}", set.id);
                if rest.is_empty() {
                    self.change_and_wait(Method::DELETE, &path, &Body::Empty, "delete the TXT record set")
                        .await?;
                } else {
                    let body = json!({"ttl": set.ttl, "rdata": rest, "description": set.description});
                    self.change_and_wait(
                        Method::PATCH,
                        &path,
                        &Body::json(&body),
                        "remove from the TXT record set",
                    )
                    .await?;
                }
            }
        }
        self.apply(&zone_id).await?;
        tracing::debug!(fqdn = %fqdn, zone = %zone, add, "iijdpf: zone applied");
        Ok(())
    }
}

impl DnsProvider for IijDpf {
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

impl ProviderSpec for IijDpf {
    type Config = IijDpfConfig;
    const CODE: &'static str = "iijdpf";
    const NAME: &'static str = "IIJ DNS Platform Service";
    const SECRETS: &'static [&'static str] = &["api_token"];
    const ENV: &'static [EnvName] = &[
        env("IIJ_DPF_API_TOKEN", "api_token", Kind::Secret),
        env("IIJ_DPF_DPM_SERVICE_CODE", "service_code", Kind::Text),
        env("IIJ_DPF_API_ENDPOINT", "api_url", Kind::Text),
        ignored("IIJ_DPF_TTL", TTL),
        ignored("IIJ_DPF_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("IIJ_DPF_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str =
        "a DPF API access token of a user who may edit the zone's records and apply its changes";
    const NOTES: &'static str = "changes go to the zone's draft and are published by an apply (an asynchronous job); the apply publishes every pending change of the zone, not only ours";

    fn check(config: &IijDpfConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.api_token, "api_token")?;
        if config.service_code.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(SettingError::new("service_code", "is empty; leave it out to find the zone by name"));
        }
        if config.job_timeout.is_zero() {
            return Err(SettingError::new("job_timeout", "must be longer than zero"));
        }
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &IijDpfConfig, secrets: &mut dyn SecretReader) -> Result<IijDpf, ProviderError> {
        let token = read_required(secrets, "iijdpf", "api_token", &config.api_token)?;
        IijDpf::new(
            &config.api_url,
            &token,
            config.service_code.as_deref(),
            config.timeout,
            config.job_timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_empty_token_and_hides_it() {
        let five = Duration::from_secs(5);
        let p = IijDpf::new(DEFAULT_API_URL, &Secret::new("dpf-t0ken"), Some(" dpm0000001 "), five, five)
            .unwrap();
        assert!(!format!("{p:?}").contains("dpf-t0ken"));
        assert!(format!("{p:?}").contains("\"dpm0000001\""));
        let err = IijDpf::new(DEFAULT_API_URL, &Secret::new(" "), None, five, five).unwrap_err();
        assert!(err.to_string().contains("api_token"), "{err}");
    }

    #[test]
    fn identifiers_from_answers_stay_plain() {
        assert_eq!(path_id(&json!("m1a2"), "zone id", "p").unwrap(), "m1a2");
        assert_eq!(path_id(&json!(42), "record id", "p").unwrap(), "42");
        for bad in [json!("../x"), json!(""), json!(".."), json!(null), json!("a?b"), json!("a/b")] {
            assert!(path_id(&bad, "zone id", "p").is_err(), "{bad}");
        }
    }
}
