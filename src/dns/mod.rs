//! DNS as wildcert sees it: asking servers directly, finding a name's zone and its
//! authoritative servers, following `_acme-challenge` CNAMEs, and waiting until every
//! authoritative server serves a TXT value.

pub mod caa;
pub mod name_lock;
pub mod propagation;
pub mod provider;
pub mod query;
pub mod registry;
pub mod zone;

pub use wildcert_dns_api::{ServerSpec, parse_server};

/// Failures of the DNS checks (not of the adapters, which have `ProviderError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    #[error("DNS server {server} did not answer: {detail}")]
    Unreachable { server: String, detail: String },
    #[error("no zone found for {name}: {detail}")]
    NoZone { name: String, detail: String },
    #[error("{name}: {detail}")]
    BadAnswer { name: String, detail: String },
    #[error(
        "{name} is answered by the wildcard CNAME {wildcard} -> {target}: a TXT written there would land in the zone of {target}, and the CA would not find it. Create an explicit record for {name} (a TXT, or a CNAME to a zone you control) so it is not covered by the wildcard"
    )]
    WildcardCname { name: String, wildcard: String, target: String },
    #[error("CNAME chain from {name} is too long or loops: {chain}")]
    CnameLoop { name: String, chain: String },
    #[error(
        "TXT record {fqdn} not visible on {lagging} after {waited}s (seen on: {seen}); the DNS provider has not published it there yet. Raise [propagation] timeout, or list the servers that really serve the zone in [propagation] nameservers"
    )]
    NotPropagated { fqdn: String, lagging: String, seen: String, waited: u64 },
}

impl DnsError {
    pub fn is_transient(&self) -> bool {
        matches!(self, DnsError::Unreachable { .. } | DnsError::NotPropagated { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_forms() {
        assert_eq!(
            parse_server("127.0.0.1:5353").unwrap(),
            ServerSpec { host: "127.0.0.1".into(), port: 5353 }
        );
        assert_eq!(parse_server("10.0.0.1").unwrap().port, 53);
        assert_eq!(parse_server("[::1]:53").unwrap().host, "::1");
        assert_eq!(parse_server("ns1.example.com.").unwrap().host, "ns1.example.com");
        assert_eq!(parse_server("ns1.example.com:5300").unwrap().port, 5300);
        assert!(parse_server("ns1:abc").is_err());
        assert!(parse_server("").is_err());
        assert!(parse_server("a b").is_err());
    }
}
