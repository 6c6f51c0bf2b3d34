//! `provider = "route53"`: settings, lego's variable names and the registry's view.

use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::ProviderError;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_aws_keys, env, ignored, read_optional,
};

use crate::{Route53, Route53Settings};

/// AWS Route53 through its API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Config {
    /// Signing region; Route53 is global, so only other partitions (China, GovCloud) need
    /// it. Default: `AWS_REGION` from the environment, else us-east-1.
    pub region: Option<String>,
    /// The hosted zone to change (`Z0123...`); without it, the public hosted zone whose name
    /// is the longest suffix of the record name.
    pub hosted_zone_id: Option<String>,
    /// A named profile from `~/.aws/config` / `~/.aws/credentials`.
    pub profile: Option<String>,
    /// Static credentials: the access key ID (with `secret_access_key`). Without them the
    /// standard AWS chain is used (environment, profile, web identity, ECS task role, EC2
    /// instance profile).
    pub access_key_id: Option<String>,
    /// The secret access key of `access_key_id`.
    pub secret_access_key: Option<SecretSource>,
    /// Session token of temporary static credentials.
    pub session_token: Option<SecretSource>,
    /// A Route53-compatible endpoint instead of AWS's, e.g. `http://127.0.0.1:5000`
    /// (`endpoint` is accepted as well).
    #[serde(alias = "endpoint")]
    pub api_url: Option<String>,
    /// How long to wait for a change to become INSYNC.
    #[serde(default = "default_change_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub change_timeout: Duration,
    /// Timeout of one API request.
    #[serde(default = "default_request_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub request_timeout: Duration,
    /// Retries of a throttled or failed API call, with exponential backoff (lego's
    /// `AWS_MAX_RETRIES`).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

fn default_change_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max_retries() -> u32 {
    5
}

impl ProviderSpec for Route53 {
    type Config = Route53Config;
    const CODE: &'static str = "route53";
    const NAME: &'static str = "Amazon Route 53";
    const PERMISSIONS: &'static str = "IAM: route53:ListHostedZones, route53:ListResourceRecordSets and route53:ChangeResourceRecordSets on the hosted zone, route53:GetChange";
    const NOTES: &'static str = "waits until Route 53 reports the change INSYNC; credentials from the settings or the standard AWS chain";
    const SECRETS: &'static [&'static str] = &["secret_access_key", "session_token"];
    const ENV: &'static [EnvName] = &[
        env("AWS_ACCESS_KEY_ID", "access_key_id", Kind::Text),
        env("AWS_SECRET_ACCESS_KEY", "secret_access_key", Kind::Secret),
        env("AWS_SESSION_TOKEN", "session_token", Kind::Secret),
        env("AWS_REGION", "region", Kind::Text),
        env("AWS_HOSTED_ZONE_ID", "hosted_zone_id", Kind::Text),
        env("AWS_PROFILE", "profile", Kind::Text),
        env("AWS_MAX_RETRIES", "max_retries", Kind::Number),
        ignored("AWS_SDK_LOAD_CONFIG", "the AWS config file is always read"),
        ignored("AWS_TTL", TTL),
        ignored("AWS_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("AWS_POLLING_INTERVAL", POLLING),
    ];

    fn check(config: &Route53Config, checks: &mut dyn Checks) -> Result<(), SettingError> {
        check_aws_keys(&config.access_key_id, &config.secret_access_key, &config.profile)?;
        if config.session_token.is_some() && config.access_key_id.is_none() {
            return Err(SettingError::new(
                "session_token",
                "a session token belongs to static keys; set access_key_id and secret_access_key_file too",
            ));
        }
        if let Some(url) = &config.api_url {
            checks.url("api_url", url)?;
        }
        if config.max_retries > 20 {
            return Err(SettingError::new("max_retries", "at most 20 retries"));
        }
        Ok(())
    }

    fn build(config: &Route53Config, secrets: &mut dyn SecretReader) -> Result<Route53, ProviderError> {
        let provider = "route53";
        let secret_access_key =
            read_optional(secrets, provider, "secret_access_key", &config.secret_access_key)?;
        let session_token = read_optional(secrets, provider, "session_token", &config.session_token)?;
        Route53::new(Route53Settings {
            region: config.region.clone(),
            hosted_zone_id: config.hosted_zone_id.clone(),
            profile: config.profile.clone(),
            access_key_id: config.access_key_id.clone(),
            secret_access_key,
            session_token,
            endpoint: config.api_url.clone(),
            change_timeout: config.change_timeout,
            request_timeout: config.request_timeout,
            max_attempts: config.max_retries.saturating_add(1),
        })
    }
}
