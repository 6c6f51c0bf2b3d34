//! Google Cloud DNS: add and remove one TXT value through the Cloud DNS API v1.
//!
//! Cloud DNS keeps a name's TXT values as one record set, changed only as a whole: a change
//! deletes the set exactly as it is and adds the new one. So `present` reads the set, adds our
//! value and sends both halves; `cleanup` sends the set without our value (or only the
//! deletion when ours was the last). A set changed by someone else meanwhile makes the
//! change fail (409 or 412), and the read-merge-write is repeated. Calls on one name are
//! serialized inside the adapter, and a change is waited for until Cloud DNS reports it
//! `done`.
//!
//! Credentials: a service account key file (an RS256 JWT exchanged for a token), or else the
//! instance's service account through the GCE metadata server. The project comes from the
//! setting, the key file's `project_id`, or the metadata server. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderValue, Method};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use wildcert_dns_api::rrset;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_optional,
};
use wildcert_dns_api::{
    DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize, quote_txt, txt_text,
};
use wildcert_dns_http::api::check_base_url;
use wildcert_dns_http::jwt::{JwtTokenSource, ServiceAccountKey};
use wildcert_dns_http::metadata::MetadataToken;
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{
    Api, Body, HttpClient, Response, StatusClass, bearer, classify, encode, status_error,
};
use wildcert_dns_http::{JobWait, default_timeout};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://dns.googleapis.com/dns/v1";

/// The GCE metadata server's `computeMetadata/v1` tree.
pub const DEFAULT_METADATA_URL: &str = "http://metadata.google.internal/computeMetadata/v1";

/// The OAuth scope for reading and changing Cloud DNS records.
pub const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";

/// Cloud DNS documents no minimum TTL; a TTL of 0 would let resolvers skip caching of the
/// whole set, other values included, so at least one second is sent.
pub const MIN_TTL: u32 = 1;

/// At most this many pages of a listing are read.
const MAX_PAGES: usize = 50;

/// Read-merge-write rounds before a set that keeps changing under us is reported.
const CHANGE_ATTEMPTS: u32 = 4;

/// Google Cloud DNS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcloudConfig {
    /// The project that holds the managed zones; default: the key file's `project_id`, or
    /// the metadata server's project.
    #[serde(default)]
    pub project: Option<String>,
    /// A service account key file (JSON) whose account may change the zone's records
    /// (roles/dns.admin). Without it the instance's service account is used through the
    /// metadata server.
    #[serde(default)]
    pub service_account: Option<SecretSource>,
    /// Use a private managed zone when no public one holds the name.
    #[serde(default)]
    pub allow_private_zone: bool,
    /// The managed zone's name (not its DNS name), skipping the zone lookup.
    #[serde(default)]
    pub zone_id: Option<String>,
    /// Base URL of the API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The token endpoint for the service account key; default: the key file's `token_uri`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The metadata server's `computeMetadata/v1` URL (plain http:// by design).
    #[serde(default = "default_metadata_url")]
    pub metadata_url: String,
    /// Timeout of one API request; a change is waited for at most four times as long.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

fn default_metadata_url() -> String {
    DEFAULT_METADATA_URL.into()
}

/// What the adapter is built from, settings and secrets read.
#[derive(Debug, Clone)]
pub struct GcloudSettings {
    /// The project that holds the managed zones; default the key file's or the metadata server's.
    pub project: Option<String>,
    /// The key file's JSON.
    pub service_account: Option<Secret>,
    /// Use a private managed zone when no public one holds the name.
    pub allow_private_zone: bool,
    /// The managed zone's name (not its DNS name), skipping the lookup.
    pub zone_id: Option<String>,
    /// Base URL of the Cloud DNS API.
    pub api_url: String,
    /// The token endpoint; default the key file's `token_uri`.
    pub token_url: Option<String>,
    /// The metadata server's URL, used without a key file.
    pub metadata_url: String,
    /// Timeout of one API request.
    pub timeout: Duration,
}

/// The Google Cloud DNS adapter. Cheap to clone; clones share connections, the token and
/// serialization.
#[derive(Clone)]
pub struct Gcloud {
    inner: Arc<Inner>,
}

enum Auth {
    Key(JwtTokenSource),
    Metadata(MetadataToken),
}

struct Inner {
    api: Api,
    auth: Auth,
    /// The metadata server, for the project when neither setting nor key file names one.
    metadata: Api,
    project: OnceCell<String>,
    zone_id: Option<String>,
    allow_private_zone: bool,
    hint: String,
    wait: Duration,
    locks: NameLocks,
}

impl std::fmt::Debug for Gcloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gcloud")
            .field("api", &self.inner.api)
            .field("project", &self.inner.project.get())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct ManagedZone {
    name: String,
    #[serde(rename = "dnsName", default)]
    dns_name: String,
    #[serde(default)]
    visibility: String,
}

#[derive(Debug, Deserialize)]
struct ZoneList {
    #[serde(rename = "managedZones", default)]
    managed_zones: Vec<ManagedZone>,
    #[serde(rename = "nextPageToken", default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
struct RrSet {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    ttl: u32,
    #[serde(default)]
    rrdatas: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RrSetList {
    #[serde(default)]
    rrsets: Vec<RrSet>,
    #[serde(rename = "nextPageToken", default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct NewChange<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    additions: &'a [RrSet],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    deletions: &'a [RrSet],
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
}

/// A managed zone chosen for a record.
#[derive(Debug, Clone)]
struct Zone {
    /// The managed zone's name, used in paths.
    name: String,
    /// Its DNS name, with the trailing dot.
    dns_name: String,
}

fn config_error(provider: &str, detail: impl Into<String>) -> ProviderError {
    ProviderError::Config { provider: provider.to_string(), detail: detail.into() }
}

impl Gcloud {
    /// Prepares the client and parses the key file; no network I/O.
    pub fn new(settings: GcloudSettings) -> Result<Gcloud, ProviderError> {
        let provider = format!("gcloud ({})", settings.api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(settings.timeout, None).map_err(|d| config_error(&provider, d))?;
        let api = Api::new(&provider, &settings.api_url, client.clone())?;
        let metadata_url =
            check_base_url(&settings.metadata_url, "metadata_url").map_err(|d| config_error(&provider, d))?;
        let metadata = Api::new(&provider, &metadata_url, client.clone())?;
        let mut project = settings.project.clone().filter(|p| !p.trim().is_empty());
        let (auth, hint) = match &settings.service_account {
            Some(json) => {
                let key = ServiceAccountKey::from_json(json.expose())
                    .map_err(|d| config_error(&provider, format!("service_account: {d}")))?;
                if project.is_none() {
                    project = key.project_id.clone();
                }
                let token_url = settings.token_url.clone().unwrap_or_else(|| key.token_uri.clone());
                let token_url =
                    check_base_url(&token_url, "token_url").map_err(|d| config_error(&provider, d))?;
                let hint = format!(
                    "check service_account (lego: GCE_SERVICE_ACCOUNT_FILE): the key of {} must be active and the account needs the DNS Administrator role (roles/dns.admin) in the project",
                    key.client_email
                );
                let endpoint = Api::new(&provider, &token_url, client.clone())?;
                (Auth::Key(JwtTokenSource::new(endpoint, key, SCOPE, &hint)), hint)
            }
            None => {
                let hint = "the instance's service account (metadata server) needs the DNS Administrator role (roles/dns.admin) and the cloud-platform scope; or set service_account (lego: GCE_SERVICE_ACCOUNT_FILE)".to_string();
                let endpoint = Api::new(
                    &provider,
                    &format!("{metadata_url}/instance/service-accounts/default/token"),
                    client.clone(),
                )?;
                (Auth::Metadata(MetadataToken::google(endpoint, &hint)), hint)
            }
        };
        let cell = match project {
            Some(p) => OnceCell::new_with(Some(p.trim().to_string())),
            None => OnceCell::new(),
        };
        Ok(Gcloud {
            inner: Arc::new(Inner {
                api,
                auth,
                metadata,
                project: cell,
                zone_id: settings.zone_id.clone().filter(|z| !z.trim().is_empty()),
                allow_private_zone: settings.allow_private_zone,
                hint,
                wait: settings.timeout.saturating_mul(4),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> &str {
        self.inner.api.provider()
    }

    async fn token(&self) -> Result<Secret, ProviderError> {
        match &self.inner.auth {
            Auth::Key(source) => source.token().await,
            Auth::Metadata(source) => source.token().await,
        }
    }

    async fn invalidate(&self) {
        match &self.inner.auth {
            Auth::Key(source) => source.invalidate().await,
            Auth::Metadata(source) => source.invalidate().await,
        }
    }

    /// One API call with a current token. A refused token is forgotten, so the next call
    /// fetches a fresh one.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: &Body,
    ) -> Result<(Response, Secret), ProviderError> {
        let token = self.token().await?;
        let value = bearer(&token).ok_or_else(|| {
            config_error(self.provider(), "the token endpoint returned a token an HTTP header cannot carry")
        })?;
        let response = self.inner.api.call(method, path, body, &[(AUTHORIZATION, value)]).await?;
        if response.status.as_u16() == 401 {
            self.invalidate().await;
        }
        Ok((response, token))
    }

    fn error(&self, action: &str, response: &Response, token: &Secret) -> ProviderError {
        let mut secrets = self.inner.api.secrets();
        secrets.push(token);
        status_error(self.provider(), action, response, &secrets, &self.inner.hint)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Body,
    ) -> Result<T, ProviderError> {
        let action = format!("{method} {}", path.split('?').next().unwrap_or_default());
        let (response, token) = self.call(method, path, body).await?;
        if classify(response.status) != StatusClass::Success {
            return Err(self.error(&action, &response, &token));
        }
        self.inner.api.clone().with_redacted(&token).parse(&action, &response, &self.inner.hint)
    }

    /// The project: the setting, the key file's, or the metadata server's (asked once).
    async fn project(&self) -> Result<String, ProviderError> {
        let metadata = &self.inner.metadata;
        self.inner
            .project
            .get_or_try_init(|| async {
                let flavor = (HeaderName::from_static("metadata-flavor"), HeaderValue::from_static("Google"));
                let response = metadata.call(Method::GET, "/project/project-id", &Body::Empty, &[flavor]).await;
                let fail = |detail: String| {
                    config_error(
                        metadata.provider(),
                        format!("no project set and the metadata server did not name one ({detail}); set project (lego: GCE_PROJECT)"),
                    )
                };
                let response = response.map_err(|e| fail(e.to_string()))?;
                let text = String::from_utf8_lossy(&response.body).trim().to_string();
                let valid = !text.is_empty()
                    && text.len() <= 100
                    && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.'));
                if classify(response.status) != StatusClass::Success || !valid {
                    return Err(fail(format!("HTTP {}", response.status)));
                }
                Ok(text)
            })
            .await
            .cloned()
    }

    /// The managed zone that holds the record: `zone_id` when set, else the zone whose DNS
    /// name is the longest suffix of the record's name (public ones first; private ones only
    /// with `allow_private_zone`).
    async fn zone_for(&self, project: &str, record: &TxtRecord) -> Result<Zone, ProviderError> {
        let fqdn = normalize(&record.fqdn);
        if let Some(id) = &self.inner.zone_id {
            let path = format!("/projects/{}/managedZones/{}", encode(project), encode(id));
            let zone: ManagedZone = self.json(Method::GET, &path, &Body::Empty).await?;
            let dns_name = normalize(&zone.dns_name);
            if !wildcert_dns_api::is_within(&fqdn, &dns_name) {
                return Err(ProviderError::ZoneNotFound {
                    provider: self.provider().to_string(),
                    fqdn: record.fqdn.clone(),
                    detail: format!("zone_id {id} is the zone {dns_name}, which does not hold the name"),
                });
            }
            return Ok(Zone { name: zone.name, dns_name });
        }
        let mut skipped_private = None;
        for candidate in candidates(record) {
            let dns_name = format!("{candidate}.");
            let mut page_token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let mut path =
                    format!("/projects/{}/managedZones?dnsName={}", encode(project), encode(&dns_name));
                if let Some(t) = &page_token {
                    path.push_str(&format!("&pageToken={}", encode(t)));
                }
                let list: ZoneList = self.json(Method::GET, &path, &Body::Empty).await?;
                for zone in list.managed_zones {
                    if normalize(&zone.dns_name) != dns_name {
                        continue;
                    }
                    if zone.visibility.eq_ignore_ascii_case("private") && !self.inner.allow_private_zone {
                        skipped_private = Some(zone.name);
                        continue;
                    }
                    return Ok(Zone { name: zone.name, dns_name });
                }
                page_token = list.next_page_token.filter(|t| !t.is_empty());
                if page_token.is_none() {
                    break;
                }
            }
        }
        let detail = match skipped_private {
            Some(name) => format!(
                "only the private managed zone {name} holds it; set allow_private_zone = true (lego: GCE_ALLOW_PRIVATE_ZONE) to use it"
            ),
            None => format!(
                "no public managed zone of project {project} holds the name; create one under Network services > Cloud DNS"
            ),
        };
        Err(ProviderError::ZoneNotFound {
            provider: self.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail,
        })
    }

    /// The TXT record set at `fqdn`, if there is one.
    async fn read_set(&self, project: &str, zone: &Zone, fqdn: &str) -> Result<Option<RrSet>, ProviderError> {
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut path = format!(
                "/projects/{}/managedZones/{}/rrsets?name={}&type=TXT",
                encode(project),
                encode(&zone.name),
                encode(fqdn)
            );
            if let Some(t) = &page_token {
                path.push_str(&format!("&pageToken={}", encode(t)));
            }
            let list: RrSetList = self.json(Method::GET, &path, &Body::Empty).await?;
            if let Some(set) = list
                .rrsets
                .into_iter()
                .find(|s| s.rtype.eq_ignore_ascii_case("TXT") && normalize(&s.name) == fqdn)
            {
                return Ok(Some(set));
            }
            page_token = list.next_page_token.filter(|t| !t.is_empty());
            if page_token.is_none() {
                break;
            }
        }
        Ok(None)
    }

    /// Sends one change and waits until Cloud DNS applied it. `Ok(false)`: the set changed
    /// under us (409 already exists, 412 precondition failed); read again.
    async fn change(
        &self,
        project: &str,
        zone: &Zone,
        additions: &[RrSet],
        deletions: &[RrSet],
    ) -> Result<bool, ProviderError> {
        let base = format!("/projects/{}/managedZones/{}/changes", encode(project), encode(&zone.name));
        let body = Body::json(&NewChange { additions, deletions });
        let (response, token) = self.call(Method::POST, &base, &body).await?;
        if matches!(response.status.as_u16(), 409 | 412) {
            tracing::debug!(
                zone = zone.dns_name,
                status = response.status.as_u16(),
                "gcloud: the record set changed meanwhile"
            );
            return Ok(false);
        }
        if classify(response.status) != StatusClass::Success {
            return Err(self.error(&format!("POST {base}"), &response, &token));
        }
        let mut change: Change = self.inner.api.clone().with_redacted(&token).parse(
            &format!("POST {base}"),
            &response,
            &self.inner.hint,
        )?;
        let mut wait = JobWait::new(self.inner.wait, Duration::from_millis(200), Duration::from_secs(2));
        while change.status != "done" {
            if !wait.pause().await {
                return Err(ProviderError::Timeout {
                    provider: self.provider().to_string(),
                    after: wait.limit(),
                    detail: format!(
                        "change {} in zone {} is still {}",
                        change.id, zone.dns_name, change.status
                    ),
                });
            }
            let path = format!("{base}/{}", encode(&change.id));
            change = self.json(Method::GET, &path, &Body::Empty).await?;
        }
        Ok(true)
    }

    async fn update(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let project = self.project().await?;
        let zone = self.zone_for(&project, record).await?;
        let fqdn = normalize(&record.fqdn);
        for _ in 0..CHANGE_ATTEMPTS {
            let current = self.read_set(&project, &zone, &fqdn).await?;
            let mut next: Vec<String> = current.as_ref().map(|s| s.rrdatas.clone()).unwrap_or_default();
            if !rrset::edit(&mut next, add, |d| txt_text(d) == record.value, || quote_txt(&record.value)) {
                if add {
                    tracing::debug!(fqdn = %record.fqdn, "gcloud: value already present");
                }
                return Ok(());
            }
            let deletions: Vec<RrSet> = current.into_iter().collect();
            let additions: Vec<RrSet> = if next.is_empty() {
                Vec::new()
            } else {
                vec![RrSet {
                    name: fqdn.clone(),
                    rtype: "TXT".into(),
                    ttl: record.ttl.max(MIN_TTL),
                    rrdatas: next,
                }]
            };
            if self.change(&project, &zone, &additions, &deletions).await? {
                tracing::debug!(fqdn = %record.fqdn, zone = zone.dns_name, add, "gcloud: record set changed");
                return Ok(());
            }
        }
        Err(ProviderError::Temporary {
            provider: self.provider().to_string(),
            detail: format!("the TXT record set at {fqdn} kept changing during {CHANGE_ATTEMPTS} attempts"),
            retry_after: None,
        })
    }
}

impl DnsProvider for Gcloud {
    fn describe(&self) -> String {
        self.provider().to_string()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.update(record, true).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.update(record, false).await
    }
}

impl ProviderSpec for Gcloud {
    type Config = GcloudConfig;
    const CODE: &'static str = "gcloud";
    const NAME: &'static str = "Google Cloud DNS";
    const PERMISSIONS: &'static str = "a service account with dns.managedZones.list, dns.resourceRecordSets.list and dns.changes.create/get on the project (the DNS Administrator role has them)";
    const SECRETS: &'static [&'static str] = &["service_account"];
    const ENV: &'static [EnvName] = &[
        env("GCE_PROJECT", "project", Kind::Text),
        env("GCE_SERVICE_ACCOUNT", "service_account", Kind::Secret),
        env("GCE_ALLOW_PRIVATE_ZONE", "allow_private_zone", Kind::Bool),
        env("GCE_ZONE_ID", "zone_id", Kind::Text),
        ignored("GCE_TTL", TTL),
        ignored("GCE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("GCE_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &GcloudConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        checks.url("api_url", &config.api_url)?;
        if let Some(url) = &config.token_url {
            checks.url("token_url", url)?;
        }
        // The metadata server is plain http:// on a link-local name by design.
        check_base_url(&config.metadata_url, "metadata_url")
            .map_err(|m| SettingError::new("metadata_url", m))?;
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        if config.project.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err(SettingError::new("project", "is empty; omit it to take the key file's project_id"));
        }
        if config.service_account.is_none() {
            checks.warn(
                "service_account",
                "is not set: the instance's service account is used through the metadata server",
            );
        }
        Ok(())
    }

    fn build(config: &GcloudConfig, secrets: &mut dyn SecretReader) -> Result<Gcloud, ProviderError> {
        let service_account = read_optional(secrets, "gcloud", "service_account", &config.service_account)?;
        Gcloud::new(GcloudSettings {
            project: config.project.clone(),
            service_account,
            allow_private_zone: config.allow_private_zone,
            zone_id: config.zone_id.clone(),
            api_url: config.api_url.clone(),
            token_url: config.token_url.clone(),
            metadata_url: config.metadata_url.clone(),
            timeout: config.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(key: Option<&str>) -> GcloudSettings {
        GcloudSettings {
            project: None,
            service_account: key.map(Secret::new),
            allow_private_zone: false,
            zone_id: None,
            api_url: DEFAULT_API_URL.into(),
            token_url: None,
            metadata_url: DEFAULT_METADATA_URL.into(),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_bad_key_file_is_a_configuration_error_naming_the_setting() {
        let err = Gcloud::new(settings(Some("{\"type\":\"service_account\",\"private_key\":\"hunter2\"}")))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Config { .. }) && text.contains("service_account"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        // Without a key the metadata server is the source; nothing is asked yet.
        let p = Gcloud::new(settings(None)).unwrap();
        assert!(p.describe().contains("dns.googleapis.com"));
        let mut bad = settings(None);
        bad.metadata_url = "ftp://x".into();
        assert!(Gcloud::new(bad).unwrap_err().to_string().contains("metadata_url"));
    }

    #[test]
    fn change_body_omits_empty_halves() {
        let set = RrSet {
            name: "a.example.com.".into(),
            rtype: "TXT".into(),
            ttl: 60,
            rrdatas: vec!["\"v\"".into()],
        };
        let body = serde_json::to_value(NewChange { additions: &[], deletions: std::slice::from_ref(&set) })
            .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"deletions": [{"name": "a.example.com.", "type": "TXT", "ttl": 60, "rrdatas": ["\"v\""]}]})
        );
    }
}
