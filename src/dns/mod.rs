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
    /// No server answered: retried, since DNS outages pass.
    #[error("DNS server {server} did not answer: {detail}")]
    Unreachable {
        /// The servers tried, with what each did (or that none was configured).
        server: String,
        /// What was asked and which setting to change.
        detail: String,
    },
    /// The zone of a name, or an authoritative server of it to ask, cannot be found (no SOA at
    /// or above the name, no NS address).
    #[error("no zone found for {name}: {detail}")]
    NoZone {
        /// The name whose zone was looked for.
        name: String,
        /// What was missing and which setting helps.
        detail: String,
    },
    /// A name or server address that cannot be used as given (not a DNS name, a bad
    /// `host:port`).
    #[error("{name}: {detail}")]
    BadAnswer {
        /// The name or address as given.
        name: String,
        /// Why it cannot be used.
        detail: String,
    },
    /// `_acme-challenge` resolves through a wildcard CNAME, so the TXT would land in someone else's
    /// zone.
    #[error(
        "{name} is answered by the wildcard CNAME {wildcard} -> {target}: a TXT written there would land in the zone of {target}, and the CA would not find it. Create an explicit record for {name} (a TXT, or a CNAME to a zone you control) so it is not covered by the wildcard"
    )]
    WildcardCname {
        /// The `_acme-challenge` name covered by the wildcard.
        name: String,
        /// The wildcard owner, e.g. `*.example.com`.
        wildcard: String,
        /// Where the wildcard points: the zone the TXT would end up in.
        target: String,
    },
    /// Following `_acme-challenge` CNAMEs did not end within the hop limit.
    #[error("CNAME chain from {name} is too long or loops: {chain}")]
    CnameLoop {
        /// The name the chain starts at.
        name: String,
        /// The names followed, in order, to show the loop.
        chain: String,
    },
    /// Some authoritative servers still lack the TXT value at the deadline: retried later.
    #[error(
        "TXT record {fqdn} not visible on {lagging} after {waited}s (seen on: {seen}); the DNS provider has not published it there yet. Raise [propagation] timeout, or list the servers that really serve the zone in [propagation] nameservers"
    )]
    NotPropagated {
        /// The TXT record name that is not served everywhere yet.
        fqdn: String,
        /// The servers that do not serve it yet.
        lagging: String,
        /// The servers that do.
        seen: String,
        /// Seconds waited, to compare with `[propagation] timeout`.
        waited: u64,
    },
}

impl DnsError {
    /// Whether waiting and retrying may help (no answer, not yet propagated), as opposed to a
    /// DNS setup the operator must fix.
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
