//! The configured DNS adapter, chosen from a `[dns.NAME]` table. An enum forwards to the
//! adapter crates under `providers/`, so each adapter stays one small file that knows nothing
//! of the configuration format.

use std::net::SocketAddr;

use wildcert_dns_api::{DnsProvider, ProviderError, TxtRecord};
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

use crate::config::{DnsAdapterConfig, DnsSection, read_secret};

/// A ready-to-use adapter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Provider {
    Rfc2136(Rfc2136),
}

impl Provider {
    /// Builds the adapter, reading its secrets now so that a missing file fails early.
    pub fn from_section(section: &DnsSection, warnings: &mut Vec<String>) -> Result<Provider, ProviderError> {
        let config_error =
            |detail: String| ProviderError::Config { provider: format!("dns.{}", section.name), detail };
        match &section.adapter {
            DnsAdapterConfig::Rfc2136(cfg) => {
                let secret =
                    read_secret(&cfg.tsig_secret_keys(), "tsig_secret", warnings).map_err(config_error)?;
                let server = crate::dns::parse_server(&cfg.nameserver).map_err(config_error)?;
                Ok(Provider::Rfc2136(Rfc2136::new(Rfc2136Settings {
                    server: server.to_string(),
                    key_name: cfg.tsig_key.clone(),
                    algorithm: cfg.tsig_algorithm.clone(),
                    secret,
                    zone: cfg.zone.clone(),
                    timeout: cfg.timeout,
                })?))
            }
        }
    }

    /// A server known to be authoritative for the zones this adapter updates (the RFC 2136
    /// primary): used for discovery and always checked for propagation.
    pub async fn authoritative_server(&self) -> Option<SocketAddr> {
        match self {
            Provider::Rfc2136(p) => {
                let spec = crate::dns::parse_server(&p.settings().server).ok()?;
                tokio::net::lookup_host((spec.host.as_str(), spec.port)).await.ok()?.next()
            }
        }
    }
}

impl DnsProvider for Provider {
    fn describe(&self) -> String {
        match self {
            Provider::Rfc2136(p) => p.describe(),
        }
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        match self {
            Provider::Rfc2136(p) => p.present(record).await,
        }
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        match self {
            Provider::Rfc2136(p) => p.cleanup(record).await,
        }
    }
}
