//! Azure DNS: add and remove one TXT value in a public (`Microsoft.Network/dnsZones`) or
//! private (`Microsoft.Network/privateDnsZones`) zone through Azure Resource Manager.
//!
//! A name's TXT values are one record set, written as a whole: `present` reads the set, adds
//! our value and writes it back with `If-Match` on the etag it read (`If-None-Match: *` when
//! there was none); `cleanup` writes back the others, or deletes the set when ours was the
//! last. A set changed meanwhile by someone else answers 412, and the round is repeated.
//! Calls on one name are serialized inside the adapter.
//!
//! Credentials: a client secret (OAuth2 client credentials at the tenant's token endpoint),
//! or the VM's managed identity through the Instance Metadata Service. lego's `azure` code
//! (its deprecated name for this provider) is served as well. See README.md.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderValue, Method};
use serde::Deserialize;
use serde_json::{Value, json};
use wildcert_dns_api::rrset;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    env, ignored, read_optional,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::api::check_base_url;
use wildcert_dns_http::default_timeout;
use wildcert_dns_http::metadata::MetadataToken;
use wildcert_dns_http::oauth::{ClientCredentials, TokenSource};
use wildcert_dns_http::zone::{candidates, relative_name};
use wildcert_dns_http::{
    Api, Body, HttpClient, Response, StatusClass, bearer, classify, encode, status_error,
};

/// The Instance Metadata Service's token URL.
pub const DEFAULT_METADATA_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// api-version of the public DNS record-set API.
pub const PUBLIC_API_VERSION: &str = "2018-05-01";

/// api-version of the private DNS record-set API.
pub const PRIVATE_API_VERSION: &str = "2020-06-01";

/// Azure DNS accepts TTLs from 1 s.
pub const MIN_TTL: u32 = 1;

/// Read-merge-write rounds before a set that keeps changing under us is reported.
const ATTEMPTS: u32 = 4;

/// An Azure cloud: where its management API and its token service live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    /// Azure's public cloud (`public`, the default).
    #[default]
    Public,
    /// Azure China (`china`).
    China,
    /// Azure US Government (`usgovernment`).
    UsGovernment,
}

impl Environment {
    /// lego's names (`public`, `china`, `usgovernment`) and the SDK's (`AzurePublicCloud`, ...).
    pub fn parse(text: &str) -> Result<Environment, SettingError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "default" | "public" | "azurepubliccloud" => Ok(Environment::Public),
            "china" | "azurechinacloud" => Ok(Environment::China),
            "usgovernment" | "azureusgovernment" | "azureusgovernmentcloud" => Ok(Environment::UsGovernment),
            other => Err(SettingError::new(
                "environment",
                format!("`{other}` is not an Azure cloud; use public, china or usgovernment"),
            )),
        }
    }

    /// The management endpoint, also the token's resource.
    pub fn management(self) -> &'static str {
        match self {
            Environment::Public => "https://management.azure.com",
            Environment::China => "https://management.chinacloudapi.cn",
            Environment::UsGovernment => "https://management.usgovcloudapi.net",
        }
    }

    /// The Microsoft Entra ID (Azure AD) authority.
    pub fn login(self) -> &'static str {
        match self {
            Environment::Public => "https://login.microsoftonline.com",
            Environment::China => "https://login.chinacloudapi.cn",
            Environment::UsGovernment => "https://login.microsoftonline.us",
        }
    }
}

/// How the adapter gets its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// The client secret when one is set, else the managed identity.
    #[default]
    Default,
    /// lego's `env`: client ID, client secret and tenant ID.
    Env,
    /// The VM's managed identity (IMDS).
    Msi,
}

impl AuthMethod {
    /// lego's `AZURE_AUTH_METHOD` values that are built in.
    pub fn parse(text: &str) -> Result<AuthMethod, SettingError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "default" => Ok(AuthMethod::Default),
            "env" => Ok(AuthMethod::Env),
            "msi" => Ok(AuthMethod::Msi),
            other => Err(SettingError::new(
                "auth_method",
                format!(
                    "`{other}` is not built in; use env (client_id, client_secret, tenant_id) or msi (the VM's managed identity)"
                ),
            )),
        }
    }
}

/// Azure DNS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// The application (client) ID of the service principal; with a managed identity, picks
    /// a user-assigned identity.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The service principal's client secret.
    #[serde(default)]
    pub client_secret: Option<SecretSource>,
    /// The directory (tenant) ID the service principal belongs to.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The subscription that holds the zone.
    pub subscription_id: String,
    /// The resource group that holds the zone.
    pub resource_group: String,
    /// The zone, skipping the zone lookup.
    #[serde(default)]
    pub zone_name: Option<String>,
    /// The zone is a private DNS zone.
    #[serde(default)]
    pub private_zone: bool,
    /// The Azure cloud: public (default), china or usgovernment.
    #[serde(default)]
    pub environment: Option<String>,
    /// default (client secret when set, else managed identity), env, or msi.
    #[serde(default)]
    pub auth_method: Option<String>,
    /// Timeout of the managed identity's token request.
    #[serde(default = "default_msi_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub msi_timeout: Duration,
    /// Base URL of the management API; default: the environment's.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The client-credentials token URL; default: the environment's authority,
    /// `/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The IMDS token URL (plain http:// by design).
    #[serde(default = "default_metadata_url")]
    pub metadata_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_metadata_url() -> String {
    DEFAULT_METADATA_URL.into()
}

fn default_msi_timeout() -> Duration {
    Duration::from_secs(2)
}

/// What the adapter is built from, secrets read.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    /// The service principal's application id, or the user-assigned identity to use.
    pub client_id: Option<String>,
    /// The service principal's secret; without it the managed identity is used.
    pub client_secret: Option<Secret>,
    /// The tenant the service principal belongs to.
    pub tenant_id: Option<String>,
    /// The subscription that holds the zone.
    pub subscription_id: String,
    /// The resource group that holds the zone.
    pub resource_group: String,
    /// The zone, skipping the lookup.
    pub zone_name: Option<String>,
    /// Whether the zone is a private DNS zone (another API path).
    pub private_zone: bool,
    /// Which Azure cloud: decides the default API and token URLs.
    pub environment: Environment,
    /// Client secret or managed identity.
    pub auth_method: AuthMethod,
    /// Timeout of the managed identity's token request (short: IMDS answers at once or never).
    pub msi_timeout: Duration,
    /// The management API's base URL; default the environment's.
    pub api_url: Option<String>,
    /// The client-credentials token URL; default the environment's authority.
    pub token_url: Option<String>,
    /// The IMDS token URL.
    pub metadata_url: String,
    /// Timeout of one API request.
    pub timeout: Duration,
}

/// The Azure DNS adapter. Cheap to clone; clones share connections, the token and
/// serialization.
#[derive(Clone)]
pub struct AzureDns {
    inner: Arc<Inner>,
}

enum Auth {
    Secret(TokenSource),
    Identity(MetadataToken),
}

struct Inner {
    api: Api,
    auth: Auth,
    /// `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Network/{dnsZones|privateDnsZones}`.
    zones_path: String,
    api_version: &'static str,
    private_zone: bool,
    zone_name: Option<String>,
    hint: String,
    locks: NameLocks,
}

impl std::fmt::Debug for AzureDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureDns")
            .field("api", &self.inner.api)
            .field("zones", &self.inner.zones_path)
            .finish_non_exhaustive()
    }
}

/// A record set as read: its etag and values (each value's strings joined).
#[derive(Debug, Default)]
struct Set {
    etag: Option<String>,
    values: Vec<String>,
}

fn config_error(provider: &str, detail: impl Into<String>) -> ProviderError {
    ProviderError::Config { provider: provider.to_string(), detail: detail.into() }
}

/// A value as Azure stores it: strings of at most 255 characters.
fn chunks(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(255).map(|c| c.iter().collect()).collect()
}

impl AzureDns {
    /// Prepares the clients; no network I/O.
    pub fn new(settings: AzureSettings) -> Result<AzureDns, ProviderError> {
        let env = settings.environment;
        let api_url = settings.api_url.clone().unwrap_or_else(|| env.management().to_string());
        let provider = format!("azuredns ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(settings.timeout, None).map_err(|d| config_error(&provider, d))?;
        let api = Api::new(&provider, &api_url, client.clone())?;
        let nonempty =
            |v: &Option<String>| v.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let client_id = nonempty(&settings.client_id);
        let use_secret = match settings.auth_method {
            AuthMethod::Env => true,
            AuthMethod::Msi => false,
            AuthMethod::Default => settings.client_secret.is_some(),
        };
        let (auth, hint) = if use_secret {
            let (Some(id), Some(secret), Some(tenant)) =
                (client_id.clone(), settings.client_secret.clone(), nonempty(&settings.tenant_id))
            else {
                return Err(config_error(
                    &provider,
                    "a client secret needs client_id, client_secret and tenant_id (lego: AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID)",
                ));
            };
            if secret.expose().trim().is_empty() {
                return Err(config_error(&provider, "client_secret is empty"));
            }
            let token_url = settings
                .token_url
                .clone()
                .unwrap_or_else(|| format!("{}/{}/oauth2/v2.0/token", env.login(), encode(&tenant)));
            let token_url =
                check_base_url(&token_url, "token_url").map_err(|d| config_error(&provider, d))?;
            let endpoint = Api::new(&provider, &token_url, client)?;
            let credentials = ClientCredentials {
                client_id: id,
                client_secret: secret,
                scope: Some(format!("{}/.default", env.management())),
                extra: Vec::new(),
            };
            let hint = "check client_id, client_secret and tenant_id (lego: AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID); the application needs the DNS Zone Contributor role (Private DNS Zone Contributor for a private zone)".to_string();
            (Auth::Secret(TokenSource::new(endpoint, credentials)), hint)
        } else {
            let metadata_url = check_base_url(&settings.metadata_url, "metadata_url")
                .map_err(|d| config_error(&provider, d))?;
            let imds = HttpClient::new(settings.msi_timeout, None).map_err(|d| config_error(&provider, d))?;
            let endpoint = Api::new(&provider, &metadata_url, imds)?;
            let hint = "the VM's managed identity needs the DNS Zone Contributor role (Private DNS Zone Contributor for a private zone); client_id picks a user-assigned identity; or set client_id, client_secret and tenant_id".to_string();
            let resource = format!("{}/", env.management());
            (Auth::Identity(MetadataToken::azure(endpoint, &resource, client_id.as_deref(), &hint)), hint)
        };
        let subscription = settings.subscription_id.trim();
        let group = settings.resource_group.trim();
        if subscription.is_empty() || group.is_empty() {
            return Err(config_error(&provider, "subscription_id and resource_group must not be empty"));
        }
        let kind = if settings.private_zone { "privateDnsZones" } else { "dnsZones" };
        let zones_path = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/{kind}",
            encode(subscription),
            encode(group)
        );
        Ok(AzureDns {
            inner: Arc::new(Inner {
                api,
                auth,
                zones_path,
                api_version: if settings.private_zone { PRIVATE_API_VERSION } else { PUBLIC_API_VERSION },
                private_zone: settings.private_zone,
                zone_name: nonempty(&settings.zone_name)
                    .map(|z| z.trim_end_matches('.').to_ascii_lowercase()),
                hint,
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> &str {
        self.inner.api.provider()
    }

    async fn token(&self) -> Result<Secret, ProviderError> {
        match &self.inner.auth {
            Auth::Secret(source) => source.token().await,
            Auth::Identity(source) => source.token().await,
        }
    }

    async fn invalidate(&self) {
        match &self.inner.auth {
            Auth::Secret(source) => source.invalidate().await,
            Auth::Identity(source) => source.invalidate().await,
        }
    }

    /// One call with a current token; a refused token is forgotten.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: &Body,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<(Response, Secret), ProviderError> {
        let token = self.token().await?;
        let value = bearer(&token).ok_or_else(|| {
            config_error(self.provider(), "the token service returned a token an HTTP header cannot carry")
        })?;
        let mut headers = vec![(AUTHORIZATION, value)];
        headers.extend_from_slice(extra);
        let path = format!("{path}?api-version={}", self.inner.api_version);
        let response = self.inner.api.call(method, &path, body, &headers).await?;
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

    /// The zone: `zone_name` when set, else the first candidate the resource group holds.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        if let Some(zone) = &self.inner.zone_name {
            if !wildcert_dns_api::is_within(&normalize(&record.fqdn), zone) {
                return Err(ProviderError::ZoneNotFound {
                    provider: self.provider().to_string(),
                    fqdn: record.fqdn.clone(),
                    detail: format!("zone_name {zone} does not hold the name"),
                });
            }
            return Ok(zone.clone());
        }
        for candidate in candidates(record) {
            let path = format!("{}/{}", self.inner.zones_path, encode(&candidate));
            let (response, token) = self.call(Method::GET, &path, &Body::Empty, &[]).await?;
            match classify(response.status) {
                StatusClass::Success => return Ok(candidate),
                StatusClass::NotFound => continue,
                _ => return Err(self.error(&format!("GET {path}"), &response, &token)),
            }
        }
        let kind = if self.inner.private_zone { "private DNS zone" } else { "DNS zone" };
        Err(ProviderError::ZoneNotFound {
            provider: self.provider().to_string(),
            fqdn: record.fqdn.clone(),
            detail: format!(
                "no {kind} in {} holds the name; check subscription_id, resource_group and private_zone",
                self.inner.zones_path
            ),
        })
    }

    fn set_path(&self, zone: &str, record: &TxtRecord) -> String {
        format!("{}/{}/TXT/{}", self.inner.zones_path, encode(zone), encode(&relative_name(record, zone)))
    }

    async fn read(&self, path: &str) -> Result<Set, ProviderError> {
        let (response, token) = self.call(Method::GET, path, &Body::Empty, &[]).await?;
        match classify(response.status) {
            StatusClass::NotFound => return Ok(Set::default()),
            StatusClass::Success => {}
            _ => return Err(self.error(&format!("GET {path}"), &response, &token)),
        }
        let answer: Value = self.inner.api.clone().with_redacted(&token).parse(
            &format!("GET {path}"),
            &response,
            &self.inner.hint,
        )?;
        let properties = &answer["properties"];
        // Public zones spell it TXTRecords, private zones txtRecords.
        let records = properties.get("TXTRecords").or_else(|| properties.get("txtRecords"));
        let values = records
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|r| {
                        r["value"]
                            .as_array()
                            .map(|parts| parts.iter().filter_map(Value::as_str).collect::<String>())
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let etag = answer["etag"].as_str().map(str::to_string).or_else(|| {
            response.headers.get(http::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string)
        });
        Ok(Set { etag, values })
    }

    fn condition(etag: &Option<String>) -> Vec<(HeaderName, HeaderValue)> {
        match etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
            Some(value) => vec![(http::header::IF_MATCH, value)],
            None => vec![(http::header::IF_NONE_MATCH, HeaderValue::from_static("*"))],
        }
    }

    /// Writes `values` as the whole set (deleting it when empty) if it is still as read.
    /// `Ok(false)`: it changed meanwhile (412); read again.
    async fn write(&self, path: &str, set: &Set, values: &[String], ttl: u32) -> Result<bool, ProviderError> {
        let (method, body, condition) = if values.is_empty() {
            let condition = match set.etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
                Some(value) => vec![(http::header::IF_MATCH, value)],
                None => Vec::new(),
            };
            (Method::DELETE, Body::Empty, condition)
        } else {
            let records: Vec<Value> = values.iter().map(|v| json!({"value": chunks(v)})).collect();
            let properties = if self.inner.private_zone {
                json!({"ttl": ttl, "txtRecords": records})
            } else {
                json!({"TTL": ttl, "TXTRecords": records})
            };
            (Method::PUT, Body::json(&json!({"properties": properties})), AzureDns::condition(&set.etag))
        };
        let action = format!("{method} {path}");
        let (response, token) = self.call(method, path, &body, &condition).await?;
        match response.status.as_u16() {
            412 => {
                tracing::debug!(path, "azuredns: the record set changed meanwhile");
                Ok(false)
            }
            // A set that is already gone is what a deletion wanted.
            404 if values.is_empty() => Ok(true),
            _ if classify(response.status) == StatusClass::Success => Ok(true),
            _ => Err(self.error(&action, &response, &token)),
        }
    }

    async fn update(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let path = self.set_path(&zone, record);
        for _ in 0..ATTEMPTS {
            let set = self.read(&path).await?;
            let mut values = set.values.clone();
            if !rrset::edit(&mut values, add, |v| *v == record.value, || record.value.clone()) {
                return Ok(());
            }
            if self.write(&path, &set, &values, record.ttl.max(MIN_TTL)).await? {
                tracing::debug!(fqdn = %record.fqdn, zone, add, "azuredns: record set written");
                return Ok(());
            }
        }
        Err(ProviderError::Temporary {
            provider: self.provider().to_string(),
            detail: format!("the TXT record set {path} kept changing during {ATTEMPTS} attempts"),
            retry_after: None,
        })
    }
}

impl DnsProvider for AzureDns {
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

impl ProviderSpec for AzureDns {
    type Config = AzureConfig;
    const CODE: &'static str = "azuredns";
    const NAME: &'static str = "Azure DNS";
    const PERMISSIONS: &'static str = "DNS Zone Contributor on the zone or its resource group (Private DNS Zone Contributor for a private zone), for the client ID or the managed identity";
    const ALIASES: &'static [&'static str] = &["azure"];
    const SECRETS: &'static [&'static str] = &["client_secret"];
    const ENV: &'static [EnvName] = &[
        env("AZURE_CLIENT_ID", "client_id", Kind::Text),
        env("AZURE_CLIENT_SECRET", "client_secret", Kind::Secret),
        env("AZURE_TENANT_ID", "tenant_id", Kind::Text),
        env("AZURE_SUBSCRIPTION_ID", "subscription_id", Kind::Text),
        env("AZURE_RESOURCE_GROUP", "resource_group", Kind::Text),
        env("AZURE_ZONE_NAME", "zone_name", Kind::Text),
        env("AZURE_PRIVATE_ZONE", "private_zone", Kind::Bool),
        env("AZURE_ENVIRONMENT", "environment", Kind::Text),
        env("AZURE_AUTH_METHOD", "auth_method", Kind::Text),
        env("AZURE_AUTH_MSI_TIMEOUT", "msi_timeout", Kind::Seconds),
        env("AZURE_MSI_TIMEOUT", "msi_timeout", Kind::Seconds),
        ignored("AZURE_METADATA_ENDPOINT", "set metadata_url to the IMDS token URL instead"),
        ignored("AZURE_SERVICEDISCOVERY_FILTER", "the zone is looked up by name in resource_group"),
        ignored("AZURE_TTL", TTL),
        ignored("AZURE_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("AZURE_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &AzureConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        for (key, value) in
            [("subscription_id", &config.subscription_id), ("resource_group", &config.resource_group)]
        {
            if value.trim().is_empty() {
                return Err(SettingError::new(key, "must not be empty"));
            }
        }
        if let Some(url) = &config.api_url {
            checks.url("api_url", url)?;
        }
        if let Some(url) = &config.token_url {
            checks.url("token_url", url)?;
        }
        // IMDS is plain http:// on a link-local address by design.
        check_base_url(&config.metadata_url, "metadata_url")
            .map_err(|m| SettingError::new("metadata_url", m))?;
        let auth_method = AuthMethod::parse(config.auth_method.as_deref().unwrap_or_default())?;
        Environment::parse(config.environment.as_deref().unwrap_or_default())?;
        let secret_ready = config.client_secret.is_some()
            && config.client_id.as_deref().is_some_and(|s| !s.trim().is_empty())
            && config.tenant_id.as_deref().is_some_and(|s| !s.trim().is_empty());
        match auth_method {
            AuthMethod::Env if !secret_ready => {
                return Err(SettingError::new(
                    "auth_method",
                    "env needs client_id, client_secret and tenant_id (lego: AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID)",
                ));
            }
            AuthMethod::Default if config.client_secret.is_some() && !secret_ready => {
                return Err(SettingError::new(
                    "tenant_id",
                    "client_secret needs client_id and tenant_id as well",
                ));
            }
            AuthMethod::Msi if config.client_secret.is_some() => {
                checks.warn("client_secret", "has no effect with auth_method = \"msi\"");
            }
            _ => {}
        }
        if config.timeout.is_zero() || config.msi_timeout.is_zero() {
            return Err(SettingError::new("timeout", "timeout and msi_timeout must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &AzureConfig, secrets: &mut dyn SecretReader) -> Result<AzureDns, ProviderError> {
        let client_secret = read_optional(secrets, "azuredns", "client_secret", &config.client_secret)?;
        let invalid =
            |e: SettingError| ProviderError::Config { provider: "azuredns".into(), detail: e.to_string() };
        let auth_method =
            AuthMethod::parse(config.auth_method.as_deref().unwrap_or_default()).map_err(invalid)?;
        let environment =
            Environment::parse(config.environment.as_deref().unwrap_or_default()).map_err(invalid)?;
        AzureDns::new(AzureSettings {
            client_id: config.client_id.clone(),
            client_secret,
            tenant_id: config.tenant_id.clone(),
            subscription_id: config.subscription_id.clone(),
            resource_group: config.resource_group.clone(),
            zone_name: config.zone_name.clone(),
            private_zone: config.private_zone,
            environment,
            auth_method,
            msi_timeout: config.msi_timeout,
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

    fn settings() -> AzureSettings {
        AzureSettings {
            client_id: Some("app".into()),
            client_secret: Some(Secret::new("s3cret-value")),
            tenant_id: Some("tenant".into()),
            subscription_id: "sub".into(),
            resource_group: "rg".into(),
            zone_name: None,
            private_zone: false,
            environment: Environment::China,
            auth_method: AuthMethod::Default,
            msi_timeout: Duration::from_secs(2),
            api_url: None,
            token_url: None,
            metadata_url: DEFAULT_METADATA_URL.into(),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn environment_picks_the_endpoints_and_secrets_stay_hidden() {
        let p = AzureDns::new(settings()).unwrap();
        assert!(p.describe().contains("management.chinacloudapi.cn"), "{}", p.describe());
        assert!(!format!("{p:?}").contains("s3cret"));
        let mut partial = settings();
        partial.tenant_id = None;
        partial.auth_method = AuthMethod::Env;
        assert!(AzureDns::new(partial).unwrap_err().to_string().contains("tenant_id"));
    }

    #[test]
    fn long_values_are_split_in_255_character_strings() {
        assert_eq!(chunks("abc"), ["abc"]);
        let long = "x".repeat(300);
        assert_eq!(chunks(&long).iter().map(String::len).collect::<Vec<_>>(), [255, 45]);
    }
}
