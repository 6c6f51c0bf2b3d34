//! `provider = "rfc2136"`: settings, lego's variable names and the registry's view.

use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SEQUENCE, SecretReader, SecretSource,
    SettingError, TTL, env, ignored, read_required, required,
};
use wildcert_dns_api::{ProviderError, parse_server};

use crate::{Rfc2136, Rfc2136Settings, parse_algorithm};

/// Dynamic updates signed with TSIG.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rfc2136Config {
    /// The primary server that accepts updates, `host:port` (port 53 when omitted).
    pub nameserver: String,
    /// TSIG key name, e.g. `wildcert.` (as in the server's `key "wildcert." { ... }`).
    pub tsig_key: String,
    /// `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`; a trailing dot is accepted.
    #[serde(default = "default_algorithm")]
    pub tsig_algorithm: String,
    /// The key's base64 secret.
    pub tsig_secret: Option<SecretSource>,
    /// The zone to update; found through SOA discovery when absent.
    pub zone: Option<String>,
    /// Timeout of one update or query.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_algorithm() -> String {
    "hmac-sha256".into()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl ProviderSpec for Rfc2136 {
    type Config = Rfc2136Config;
    const CODE: &'static str = "rfc2136";
    const NAME: &'static str = "RFC 2136 dynamic update (BIND, Knot, PowerDNS, Windows DNS)";
    const PERMISSIONS: &'static str = "a TSIG key the primary allows to update TXT records in the zone (BIND: `update-policy { grant KEY zonesub TXT; }`)";
    const NOTES: &'static str = "written to `nameserver`, the primary; secondaries follow by NOTIFY and zone transfer, and wildcert waits for every NS";
    const SECRETS: &'static [&'static str] = &["tsig_secret"];
    const ENV: &'static [EnvName] = &[
        env("RFC2136_NAMESERVER", "nameserver", Kind::Text),
        env("RFC2136_TSIG_KEY", "tsig_key", Kind::Text),
        env("RFC2136_TSIG_SECRET", "tsig_secret", Kind::Secret),
        env("RFC2136_TSIG_ALGORITHM", "tsig_algorithm", Kind::Text),
        env("RFC2136_TIMEOUT", "timeout", Kind::Seconds),
        env("RFC2136_DNS_TIMEOUT", "timeout", Kind::Seconds),
        ignored("RFC2136_TTL", TTL),
        ignored("RFC2136_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("RFC2136_POLLING_INTERVAL", POLLING),
        ignored("RFC2136_SEQUENCE_INTERVAL", SEQUENCE),
    ];

    fn check(config: &Rfc2136Config, _: &mut dyn Checks) -> Result<(), SettingError> {
        parse_server(&config.nameserver).map_err(|m| SettingError::new("nameserver", m))?;
        required(&config.tsig_secret, "tsig_secret")?;
        if parse_algorithm(&config.tsig_algorithm).is_none() {
            return Err(SettingError::new(
                "tsig_algorithm",
                format!(
                    "`{}` is not supported; use hmac-sha256, hmac-sha384 or hmac-sha512",
                    config.tsig_algorithm
                ),
            ));
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &Rfc2136Config, secrets: &mut dyn SecretReader) -> Result<Rfc2136, ProviderError> {
        let provider = format!("rfc2136 ({})", config.nameserver);
        let secret = read_required(secrets, &provider, "tsig_secret", &config.tsig_secret)?;
        let server = parse_server(&config.nameserver)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        Rfc2136::new(Rfc2136Settings {
            server: server.to_string(),
            key_name: config.tsig_key.clone(),
            algorithm: config.tsig_algorithm.clone(),
            secret,
            zone: config.zone.clone(),
            timeout: config.timeout,
        })
    }

    fn authoritative_server(&self) -> Option<String> {
        Some(self.settings().server.clone())
    }
}
