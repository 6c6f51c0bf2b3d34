//! AWS Route53: add and remove one TXT value through the Route53 API.
//!
//! Route53 replaces whole record sets, so adding our value means reading the current TXT
//! RRset and replacing it with the union, and removing it means replacing it with the rest
//! (or deleting the RRset when ours was the last value). The replacement is one change batch
//! that DELETEs exactly the set that was read and CREATEs the new one: Route53 applies a batch
//! all or nothing and refuses a DELETE that does not match the set as it is, so a value another
//! writer (another process, another host) added in between is never lost; the batch is
//! refused, and the adapter reads again and retries. Within a process, operations on one name
//! are also serialized (clones share the serialization), so the apex's and the wildcard's
//! values at the shared `_acme-challenge.<domain>` do not even race. Every change is waited
//! for until Route53 reports it `INSYNC`.
//!
//! Throttling (`Throttling`, `PriorRequestNotComplete`: Route53 allows about five requests per
//! second per account) is retried with exponential backoff and jitter by the SDK's standard
//! retry mode, up to `max_attempts` per call.
//!
//! Credentials: explicit keys when given, else the standard AWS chain (environment, the
//! profile, web identity, ECS task role, EC2 instance profile). AWS SSO profiles and
//! `credential_process` are not compiled in.

#![warn(missing_docs)]

mod spec;
pub use spec::Route53Config;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use wildcert_dns_http::JobWait;

use aws_sdk_route53::Client;
use aws_sdk_route53::config::http::HttpResponse;
use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::config::timeout::TimeoutConfig;
use aws_sdk_route53::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, is_within, normalize, quote_txt, same_name,
    txt_text,
};

/// The SDK, for callers that need more of the Route53 API than this adapter (tests creating
/// hosted zones, tools).
pub use aws_sdk_route53 as sdk;

/// Signing region when none is configured: Route53 is a global service of the `aws`
/// partition, signed for us-east-1.
const DEFAULT_REGION: &str = "us-east-1";

/// Settings of the Route53 adapter, as plain values (the caller owns the config format).
#[derive(Debug, Clone)]
pub struct Route53Settings {
    /// Signing region; default `AWS_REGION` from the environment, else us-east-1. Only other
    /// partitions (China, GovCloud) need it.
    pub region: Option<String>,
    /// The hosted zone to change (`Z0123...` or `/hostedzone/Z0123...`). Without it, the
    /// public hosted zone whose name is the longest suffix of the record name.
    pub hosted_zone_id: Option<String>,
    /// A named profile from `~/.aws/config` and `~/.aws/credentials`.
    pub profile: Option<String>,
    /// Static credentials; both or neither.
    pub access_key_id: Option<String>,
    /// The secret of `access_key_id`.
    pub secret_access_key: Option<Secret>,
    /// For temporary static credentials.
    pub session_token: Option<Secret>,
    /// Another Route53-compatible endpoint (`http://127.0.0.1:5000` in tests).
    pub endpoint: Option<String>,
    /// Deadline for a change to become INSYNC.
    pub change_timeout: Duration,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// Attempts per API call, throttling retries included (at least 1).
    pub max_attempts: u32,
}

impl Default for Route53Settings {
    fn default() -> Self {
        Route53Settings {
            region: None,
            hosted_zone_id: None,
            profile: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            endpoint: None,
            change_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            max_attempts: 6,
        }
    }
}

/// A Route53 adapter. Cheap to clone; clones share the client, the zone cache and the
/// per-name serialization.
#[derive(Clone)]
pub struct Route53 {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Route53Settings,
    client: tokio::sync::OnceCell<Client>,
    locks: NameLocks,
    /// Record name → hosted zone found for it.
    zones: std::sync::Mutex<HashMap<String, Zone>>,
}

#[derive(Debug, Clone)]
struct Zone {
    id: String,
}

impl std::fmt::Debug for Route53 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route53").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

impl Route53 {
    /// Checks the settings without any network I/O; the client is built on first use.
    pub fn new(mut settings: Route53Settings) -> Result<Route53, ProviderError> {
        let config = |detail: String| ProviderError::Config { provider: describe(&settings), detail };
        match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(_), None) => {
                return Err(config(
                    "access_key_id is set but secret_access_key is not; give both, or neither to use the AWS credential chain".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(config(
                    "secret_access_key is set but access_key_id is not; give both, or neither to use the AWS credential chain".into(),
                ));
            }
            _ => {}
        }
        if settings.session_token.is_some() && settings.access_key_id.is_none() {
            return Err(config("session_token needs access_key_id and secret_access_key".into()));
        }
        if settings.access_key_id.is_some() && settings.profile.is_some() {
            return Err(config("set either static keys or profile, not both".into()));
        }
        if let Some(endpoint) = &settings.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(config(format!("endpoint `{endpoint}` must be an http:// or https:// URL")));
        }
        if settings.max_attempts == 0 {
            return Err(config("max_attempts must be at least 1".into()));
        }
        let zone_id =
            settings.hosted_zone_id.as_deref().map(|id| id.trim().trim_start_matches("/hostedzone/"));
        if let Some(id) = zone_id
            && (id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(config(format!(
                "hosted_zone_id `{id}` is not a hosted zone ID such as Z0123456789ABCDEFGHIJ"
            )));
        }
        settings.hosted_zone_id = zone_id.map(str::to_string);
        Ok(Route53 {
            inner: Arc::new(Inner {
                settings,
                client: tokio::sync::OnceCell::new(),
                locks: NameLocks::default(),
                zones: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The settings it was built from, for messages and tests.
    pub fn settings(&self) -> &Route53Settings {
        &self.inner.settings
    }

    async fn client(&self) -> &Client {
        self.inner
            .client
            .get_or_init(|| async {
                let s = &self.inner.settings;
                let region = s
                    .region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
                    .unwrap_or_else(|| DEFAULT_REGION.to_string());
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(s.request_timeout.min(Duration::from_secs(10)))
                    .operation_attempt_timeout(s.request_timeout)
                    .build();
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(region))
                    .retry_config(RetryConfig::standard().with_max_attempts(s.max_attempts))
                    .timeout_config(timeouts);
                // Through the proxy in force, like every other client; an unusable proxy
                // setting is reported by every other client as an error, here logged.
                match wildcert_dns_http::aws::sdk_http_client() {
                    Ok(http) => loader = loader.http_client(http),
                    Err(e) => {
                        tracing::error!(error = %e, "route53: unusable proxy setting; connecting directly")
                    }
                }
                if let Some(profile) = &s.profile {
                    loader = loader.profile_name(profile);
                }
                if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
                    loader = loader.credentials_provider(Credentials::new(
                        id,
                        secret.expose(),
                        s.session_token.as_ref().map(|t| t.expose().to_string()),
                        None,
                        "wildcert-settings",
                    ));
                }
                if let Some(endpoint) = &s.endpoint {
                    loader = loader.endpoint_url(endpoint);
                }
                let shared = loader.load().await;
                let config =
                    aws_sdk_route53::config::Builder::from(&shared).retry_classifier(BusyStatus).build();
                Client::from_conf(config)
            })
            .await
    }

    /// The hosted zone that holds `fqdn`: the configured one, or the public zone with the
    /// longest name that is a suffix of `fqdn`.
    async fn zone_for(&self, fqdn: &str) -> Result<Zone, ProviderError> {
        if let Some(id) = &self.inner.settings.hosted_zone_id {
            return Ok(Zone { id: id.clone() });
        }
        if let Some(zone) = self.inner.zones.lock().unwrap_or_else(PoisonError::into_inner).get(fqdn) {
            return Ok(zone.clone());
        }
        let mut public = Vec::new();
        let mut private = Vec::new();
        let mut pages = self.client().await.list_hosted_zones().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.sdk_error("ListHostedZones", fqdn, e))?;
            for zone in page.hosted_zones() {
                let entry = (
                    zone.name().to_ascii_lowercase(),
                    zone.id().trim_start_matches("/hostedzone/").to_string(),
                );
                if zone.config().is_some_and(|c| c.private_zone()) {
                    private.push(entry);
                } else {
                    public.push(entry);
                }
            }
        }
        let best = |zones: &[(String, String)]| {
            zones.iter().filter(|(name, _)| is_within(fqdn, name)).max_by_key(|(name, _)| name.len()).cloned()
        };
        match best(&public) {
            Some((name, id)) => {
                tracing::debug!(fqdn, zone = %name, zone_id = %id, "route53 hosted zone found");
                let zone = Zone { id };
                self.inner
                    .zones
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(fqdn.to_string(), zone.clone());
                Ok(zone)
            }
            None => {
                let detail = match best(&private) {
                    Some((name, id)) => format!(
                        "only the private hosted zone {name} ({id}) contains it, and the CA cannot see private zones; create a public hosted zone or delegate _acme-challenge to one"
                    ),
                    None => {
                        let mut names: Vec<&str> = public.iter().map(|(n, _)| n.as_str()).collect();
                        names.sort_unstable();
                        let shown = if names.is_empty() {
                            "none".to_string()
                        } else if names.len() > 10 {
                            format!("{}, ... ({} in all)", names[..10].join(", "), names.len())
                        } else {
                            names.join(", ")
                        };
                        format!(
                            "no public hosted zone visible to these credentials is a suffix of it (zones: {shown}); create the zone, fix the name, or set hosted_zone_id"
                        )
                    }
                };
                Err(ProviderError::ZoneNotFound { provider: self.describe(), fqdn: fqdn.to_string(), detail })
            }
        }
    }

    /// The plain (non-routing-policy) TXT RRset at `fqdn`, if any.
    async fn current(&self, zone: &Zone, fqdn: &str) -> Result<Option<ResourceRecordSet>, ProviderError> {
        let out = self
            .client()
            .await
            .list_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .start_record_name(fqdn)
            .start_record_type(RrType::Txt)
            .max_items(10)
            .send()
            .await
            .map_err(|e| self.sdk_error("ListResourceRecordSets", fqdn, e))?;
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|rr| {
                same_name(rr.name(), fqdn) && rr.r#type() == &RrType::Txt && rr.set_identifier().is_none()
            })
            .cloned())
    }

    /// Submits one change batch and waits until Route53 reports it INSYNC.
    async fn change(
        &self,
        zone: &Zone,
        fqdn: &str,
        changes: Vec<(ChangeAction, ResourceRecordSet)>,
    ) -> Result<(), ProviderError> {
        let build_error = |e: aws_sdk_route53::error::BuildError| ProviderError::Config {
            provider: self.describe(),
            detail: format!("building the change for {fqdn}: {e}"),
        };
        let actions: Vec<&str> = changes.iter().map(|(a, _)| a.as_str()).collect();
        let actions = actions.join("+");
        let changes = changes
            .into_iter()
            .map(|(action, rrset)| Change::builder().action(action).resource_record_set(rrset).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(build_error)?;
        let batch = ChangeBatch::builder()
            .comment("wildcert DNS-01 challenge")
            .set_changes(Some(changes))
            .build()
            .map_err(build_error)?;
        let out = self
            .client()
            .await
            .change_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| self.sdk_error("ChangeResourceRecordSets", fqdn, e))?;
        let Some(info) = out.change_info() else {
            return Err(ProviderError::Rejected {
                provider: self.describe(),
                detail: format!("ChangeResourceRecordSets for {fqdn} answered without ChangeInfo"),
            });
        };
        tracing::debug!(
            fqdn,
            actions = %actions,
            change = info.id(),
            status = info.status().as_str(),
            "route53 change submitted"
        );
        self.wait_insync(fqdn, info.id(), info.status().clone()).await
    }

    /// Replaces the TXT RRset `read` (as last read; `None`: there was none) with `values`
    /// (none: delete it) in one batch: DELETE exactly what was read, CREATE the new set.
    /// Refused when the set changed since it was read.
    async fn replace(
        &self,
        zone: &Zone,
        fqdn: &str,
        read: Option<ResourceRecordSet>,
        ttl: i64,
        values: Vec<String>,
    ) -> Result<(), ProviderError> {
        let mut changes = Vec::new();
        if let Some(old) = read.clone() {
            changes.push((ChangeAction::Delete, old));
        }
        if !values.is_empty() {
            changes.push((ChangeAction::Create, self.rrset(fqdn, ttl, values.clone())?));
        }
        if changes.is_empty() {
            return Ok(());
        }
        let result = self.change(zone, fqdn, changes).await;
        // Some servers (moto) refuse a DELETE + CREATE of a set that did not change, which
        // Route53 accepts. When the set is still exactly what was read, nobody raced us:
        // write the new set over it.
        if let (Err(ProviderError::Rejected { .. }), Some(old), false) = (&result, &read, values.is_empty())
            && self.current(zone, fqdn).await?.as_ref() == Some(old)
        {
            return self
                .change(zone, fqdn, vec![(ChangeAction::Upsert, self.rrset(fqdn, ttl, values)?)])
                .await;
        }
        result
    }

    async fn wait_insync(
        &self,
        fqdn: &str,
        change_id: &str,
        mut status: ChangeStatus,
    ) -> Result<(), ProviderError> {
        let started = Instant::now();
        let mut wait = JobWait::new(
            self.inner.settings.change_timeout,
            Duration::from_millis(500),
            Duration::from_secs(5),
        );
        loop {
            if status == ChangeStatus::Insync {
                tracing::debug!(
                    fqdn,
                    change = change_id,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "route53 change INSYNC"
                );
                return Ok(());
            }
            if !wait.pause().await {
                return Err(ProviderError::Timeout {
                    provider: self.describe(),
                    after: wait.limit(),
                    detail: format!(
                        "change {change_id} for {fqdn} is still {}; Route53 usually applies changes within a minute, raise change_timeout if it is often slower",
                        status.as_str()
                    ),
                });
            }
            let out = self
                .client()
                .await
                .get_change()
                .id(change_id)
                .send()
                .await
                .map_err(|e| self.sdk_error("GetChange", fqdn, e))?;
            status = out.change_info().map(|i| i.status().clone()).unwrap_or(ChangeStatus::Pending);
        }
    }

    async fn add(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let _serialized = self.inner.locks.lock(&fqdn).await;
        let zone = self.zone_for(&fqdn).await?;
        let mut attempt = 1;
        loop {
            let current = self.current(&zone, &fqdn).await?;
            let mut values: Vec<String> = current
                .as_ref()
                .map(|rr| rr.resource_records().iter().map(|r| r.value().to_string()).collect())
                .unwrap_or_default();
            if values.iter().any(|v| txt_text(v) == record.value) {
                tracing::debug!(fqdn, "value already present in the route53 RRset");
                return Ok(());
            }
            values.push(quote_txt(&record.value));
            match self.replace(&zone, &fqdn, current, i64::from(record.ttl), values).await {
                Err(ProviderError::Rejected { .. }) if attempt < CHANGE_ATTEMPTS => {
                    tracing::debug!(
                        fqdn,
                        attempt,
                        "the TXT RRset changed while we wrote it; reading it again"
                    );
                    attempt += 1;
                    tokio::time::sleep(race_pause(attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn remove(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        let fqdn = normalize(&record.fqdn);
        let _serialized = self.inner.locks.lock(&fqdn).await;
        let zone = self.zone_for(&fqdn).await?;
        let mut attempt = 1;
        loop {
            let Some(current) = self.current(&zone, &fqdn).await? else {
                return Ok(());
            };
            let values: Vec<String> =
                current.resource_records().iter().map(|r| r.value().to_string()).collect();
            let rest: Vec<String> = values.iter().filter(|v| txt_text(v) != record.value).cloned().collect();
            if rest.len() == values.len() {
                return Ok(());
            }
            let ttl = current.ttl().unwrap_or(i64::from(record.ttl));
            match self.replace(&zone, &fqdn, Some(current), ttl, rest).await {
                Err(ProviderError::Rejected { .. }) if attempt < CHANGE_ATTEMPTS => {
                    tracing::debug!(
                        fqdn,
                        attempt,
                        "the TXT RRset changed while we wrote it; reading it again"
                    );
                    attempt += 1;
                    tokio::time::sleep(race_pause(attempt)).await;
                }
                other => return other,
            }
        }
    }

    fn rrset(&self, fqdn: &str, ttl: i64, values: Vec<String>) -> Result<ResourceRecordSet, ProviderError> {
        let records = values
            .into_iter()
            .map(|v| ResourceRecord::builder().value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .and_then(|records| {
                ResourceRecordSet::builder()
                    .name(fqdn)
                    .r#type(RrType::Txt)
                    .ttl(ttl)
                    .set_resource_records(Some(records))
                    .build()
            });
        records.map_err(|e| ProviderError::Config {
            provider: self.describe(),
            detail: format!("building the TXT RRset for {fqdn}: {e}"),
        })
    }

    fn sdk_error<E>(&self, action: &str, fqdn: &str, err: SdkError<E, HttpResponse>) -> ProviderError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let provider = self.describe();
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("(no code)");
                let message = e.message().unwrap_or("");
                let detail = format!("{action}: {code}: {message}");
                match code {
                    "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
                    | "IncompleteSignature"
                    | "AccessDenied"
                    | "AccessDeniedException"
                    | "UnrecognizedClientException"
                    | "InvalidAccessKeyId"
                    | "MissingAuthenticationToken"
                    | "ExpiredToken"
                    | "ExpiredTokenException" => ProviderError::Auth {
                        provider,
                        detail: format!(
                            "{detail}; check the access key (or profile/role) and that its IAM policy allows route53:{action} on the hosted zone"
                        ),
                    },
                    "NoSuchHostedZone" => {
                        self.inner.zones.lock().unwrap_or_else(PoisonError::into_inner).remove(fqdn);
                        ProviderError::ZoneNotFound {
                            provider,
                            fqdn: fqdn.to_string(),
                            detail: format!("{detail}; check hosted_zone_id"),
                        }
                    }
                    "Throttling"
                    | "ThrottlingException"
                    | "PriorRequestNotComplete"
                    | "ServiceUnavailable"
                    | "InternalFailure"
                    | "InternalError"
                    | "RequestTimeout" => ProviderError::Temporary {
                        provider,
                        detail: format!(
                            "{detail} (still failing after {} attempts)",
                            self.inner.settings.max_attempts
                        ),
                        retry_after: None,
                    },
                    _ if busy_status(service.raw()) => ProviderError::Temporary {
                        provider,
                        detail: format!(
                            "{detail} (HTTP {}, still failing after {} attempts)",
                            service.raw().status().as_u16(),
                            self.inner.settings.max_attempts
                        ),
                        retry_after: None,
                    },
                    _ => ProviderError::Rejected { provider, detail },
                }
            }
            SdkError::TimeoutError(_) => ProviderError::Unreachable {
                provider,
                detail: format!("{action}: no answer within {:?}", self.inner.settings.request_timeout),
            },
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
                let text = error_chain(&err);
                if text.contains("credentials") || text.contains("Credentials") {
                    ProviderError::Auth {
                        provider,
                        detail: format!(
                            "{action}: no usable AWS credentials ({text}); set access_key_id with secret_access_key_file, a profile, or run with an instance or task role"
                        ),
                    }
                } else {
                    ProviderError::Unreachable { provider, detail: format!("{action}: {text}") }
                }
            }
            _ => ProviderError::Temporary {
                provider,
                detail: format!("{action}: {}", error_chain(&err)),
                retry_after: None,
            },
        }
    }
}

/// Read-and-replace attempts when other writers keep changing the RRset in between.
const CHANGE_ATTEMPTS: u32 = 5;

/// A short, growing, jittered pause before reading a raced RRset again.
fn race_pause(attempt: u32) -> Duration {
    let jitter = u64::from(std::process::id() ^ attempt.wrapping_mul(2_654_435_761)) % 200;
    Duration::from_millis(100 * u64::from(attempt) + jitter)
}

/// Retries a bare HTTP 429 (a proxy or gateway in front of the API) like Route53's own
/// `Throttling` answers; the SDK's classifiers only look at AWS error codes and 5xx.
#[derive(Debug)]
struct BusyStatus;

impl aws_sdk_route53::config::retry::ClassifyRetry for BusyStatus {
    fn classify_retry(
        &self,
        ctx: &aws_sdk_route53::config::interceptors::InterceptorContext,
    ) -> aws_sdk_route53::config::retry::RetryAction {
        match ctx.response().map(|r| r.status().as_u16()) {
            Some(429) => aws_sdk_route53::config::retry::RetryAction::throttling_error(),
            _ => aws_sdk_route53::config::retry::RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "http 429"
    }
}

/// 429 and 5xx: the service asks to come back later, whatever the error code says.
fn busy_status(response: &HttpResponse) -> bool {
    let status = response.status().as_u16();
    status == 429 || status >= 500
}

fn describe(settings: &Route53Settings) -> String {
    match (&settings.hosted_zone_id, &settings.endpoint) {
        (Some(zone), Some(endpoint)) => format!("route53 (zone {zone} at {endpoint})"),
        (Some(zone), None) => format!("route53 (zone {zone})"),
        (None, Some(endpoint)) => format!("route53 ({endpoint})"),
        (None, None) => "route53".to_string(),
    }
}

impl DnsProvider for Route53 {
    fn describe(&self) -> String {
        describe(&self.inner.settings)
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.add(record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.remove(record).await
    }
}

/// The messages of an error and its sources on one line, each once (the SDK's own context
/// printer adds Debug dumps).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_suffix_matching() {
        assert!(is_within("_acme-challenge.example.com.", "example.com."));
        assert!(is_within("_acme-challenge.example.com.", "Example.COM"));
        assert!(!is_within("_acme-challenge.notexample.com.", "example.com."));
        assert!(is_within("example.com.", "example.com."));
    }

    #[test]
    fn keys_must_come_in_pairs() {
        let s = Route53Settings { access_key_id: Some("AKIA".into()), ..Default::default() };
        let err = Route53::new(s).unwrap_err().to_string();
        assert!(err.contains("secret_access_key"), "{err}");
        let s = Route53Settings { secret_access_key: Some(Secret::new("wJalr")), ..Default::default() };
        let err = Route53::new(s).unwrap_err().to_string();
        assert!(err.contains("access_key_id") && !err.contains("wJalr"), "{err}");
    }

    #[test]
    fn hosted_zone_id_is_normalized_and_checked() {
        let s = Route53Settings { hosted_zone_id: Some("/hostedzone/Z123ABC".into()), ..Default::default() };
        assert_eq!(Route53::new(s).unwrap().settings().hosted_zone_id.as_deref(), Some("Z123ABC"));
        let s = Route53Settings { hosted_zone_id: Some("example.com".into()), ..Default::default() };
        assert!(Route53::new(s).unwrap_err().to_string().contains("not a hosted zone ID"));
    }

    #[test]
    fn debug_hides_secrets() {
        let s = Route53Settings {
            access_key_id: Some("AKIAEXAMPLE".into()),
            secret_access_key: Some(Secret::new("wJalrXUtnFEMI")),
            ..Default::default()
        };
        let debug = format!("{:?}", Route53::new(s).unwrap());
        assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
    }

    #[tokio::test]
    async fn name_locks_serialize_one_name_only() {
        let locks = NameLocks::default();
        let a = locks.lock("a.").await;
        // Another name is not blocked.
        let b = tokio::time::timeout(Duration::from_millis(100), locks.lock("b.")).await;
        assert!(b.is_ok());
        // The same name is.
        let again = tokio::time::timeout(Duration::from_millis(100), locks.lock("a.")).await;
        assert!(again.is_err());
        drop(a);
        assert!(tokio::time::timeout(Duration::from_millis(100), locks.lock("a.")).await.is_ok());
    }
}
