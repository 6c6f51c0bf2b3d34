//! Where a challenge record must be written and who must serve it: follow
//! `_acme-challenge` CNAMEs (acme-dns style delegation), find the zone through its SOA, and
//! list the zone's authoritative servers with their addresses.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};

use super::DnsError;
use super::query::{Answer, query};

/// How many CNAMEs we follow before calling it a loop.
const MAX_CNAME_HOPS: usize = 8;

/// The servers used to look things up (recursive resolvers, or an authoritative server that
/// knows the zone): tried in order until one answers.
#[derive(Debug, Clone)]
pub struct Resolvers {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Resolvers {
    /// Servers to ask in order (`[propagation] resolvers`, else the adapter's own server and
    /// the system's), each with `timeout` per question.
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Resolvers {
        Resolvers { servers, timeout }
    }

    /// The `nameserver` lines of `/etc/resolv.conf`.
    pub fn system_servers() -> Vec<SocketAddr> {
        std::fs::read_to_string("/etc/resolv.conf")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect()
    }

    /// The servers asked, in order, for messages that say where a lookup went.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Asks each server in turn; REFUSED and silence move on to the next.
    pub async fn ask(&self, name: &Name, rtype: RecordType) -> Result<Answer, DnsError> {
        let mut tried = Vec::new();
        for server in &self.servers {
            match query(*server, name, rtype, self.timeout).await {
                Ok(answer) if answer.code == ResponseCode::Refused => {
                    tried.push(format!("{server}: REFUSED"))
                }
                Ok(answer) if answer.code == ResponseCode::ServFail => {
                    tried.push(format!("{server}: SERVFAIL"))
                }
                Ok(answer) => {
                    // REFUSED is normal (an authoritative server asked about another zone);
                    // silence is worth a warning.
                    if tried.iter().any(|t| !t.ends_with("REFUSED")) {
                        tracing::warn!(name = %name, failed = %tried.join("; "), answered = %server, "some resolvers did not answer");
                    } else if !tried.is_empty() {
                        tracing::debug!(name = %name, refused = %tried.join("; "), answered = %server, "asked the next resolver");
                    }
                    return Ok(answer);
                }
                Err(e) => tried.push(format!("{server}: {e}")),
            }
        }
        Err(DnsError::Unreachable {
            server: if tried.is_empty() { "(no resolver configured)".into() } else { tried.join("; ") },
            detail: format!(
                "no server answered {name} {rtype}; set [propagation] resolvers to servers that can resolve it"
            ),
        })
    }
}

/// An authoritative server of the challenge's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthServer {
    /// The NS host name, or `configured` for servers given in the configuration.
    pub name: String,
    /// The address asked directly (port included: a test or split-horizon server may not
    /// listen on 53).
    pub addr: SocketAddr,
}

impl std::fmt::Display for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name == self.addr.to_string() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{} ({})", self.name, self.addr)
        }
    }
}

/// Where one challenge's TXT record goes.
#[derive(Debug, Clone)]
pub struct ChallengeTarget {
    /// `_acme-challenge.<domain>.` as the CA will look it up.
    pub requested: Name,
    /// Where the TXT record must be written (the end of the CNAME chain).
    pub target: Name,
    /// The CNAMEs followed, in order (empty without delegation).
    pub chain: Vec<Name>,
    /// The zone holding `target`.
    pub zone: Name,
    /// Servers that must all serve the value before the CA is asked to look.
    pub servers: Vec<AuthServer>,
    /// The zone's negative-caching TTL: how long a resolver may remember "no such record".
    pub negative_ttl: Option<u32>,
}

/// Parses an absolute name, adding the final dot.
pub fn fqdn(name: &str) -> Result<Name, DnsError> {
    let mut n = Name::from_str(name).map_err(|e| DnsError::BadAnswer {
        name: name.to_string(),
        detail: format!("not a DNS name: {e}"),
    })?;
    n.set_fqdn(true);
    Ok(n)
}

/// Finds where `requested` really lives and who serves it.
///
/// `extra` are servers that are authoritative by configuration (the RFC 2136 primary that
/// takes our updates); `explicit` replaces the NS-derived list entirely.
pub async fn locate(
    resolvers: &Resolvers,
    requested: &Name,
    extra: &[SocketAddr],
    explicit: Option<&[SocketAddr]>,
) -> Result<ChallengeTarget, DnsError> {
    let (target, chain) = follow_cnames(resolvers, requested).await?;
    let (zone, negative_ttl) = find_zone(resolvers, &target).await?;
    let servers = match explicit {
        Some(list) => list.iter().map(|a| AuthServer { name: a.to_string(), addr: *a }).collect(),
        None => {
            let mut servers = zone_servers(resolvers, &zone).await?;
            for addr in extra {
                if !servers.iter().any(|s| s.addr == *addr) {
                    servers.push(AuthServer { name: addr.to_string(), addr: *addr });
                }
            }
            servers
        }
    };
    Ok(ChallengeTarget { requested: requested.clone(), target, chain, zone, servers, negative_ttl })
}

async fn follow_cnames(resolvers: &Resolvers, start: &Name) -> Result<(Name, Vec<Name>), DnsError> {
    let mut name = start.clone();
    let mut chain = Vec::new();
    loop {
        let answer = resolvers.ask(&name, RecordType::CNAME).await?;
        let Some(target) = answer.cname_target(&name) else {
            return Ok((name, chain));
        };
        check_wildcard_trap(resolvers, &name, &target).await?;
        if chain.len() >= MAX_CNAME_HOPS || chain.contains(&target) || target == *start {
            let mut all: Vec<String> = vec![start.to_string()];
            all.extend(chain.iter().map(|n| n.to_string()));
            all.push(target.to_string());
            return Err(DnsError::CnameLoop { name: start.to_string(), chain: all.join(" -> ") });
        }
        tracing::info!(from = %name, to = %target, "following CNAME delegation of the challenge record");
        chain.push(target.clone());
        name = target;
    }
}

/// A CNAME that exists only because a wildcard matches the name (`*.gradient.example.com
/// CNAME lb.example.net`) would send the TXT record into someone else's zone. A random
/// sibling name answered with the same target gives the wildcard away.
async fn check_wildcard_trap(resolvers: &Resolvers, name: &Name, target: &Name) -> Result<(), DnsError> {
    let parent = name.base_name();
    let probe_label = format!("_wildcert-probe-{:08x}", rand::random::<u32>());
    let Ok(probe) = Name::from_str(&probe_label).and_then(|l| l.append_domain(&parent)) else {
        return Ok(());
    };
    let answer = resolvers.ask(&probe, RecordType::CNAME).await?;
    if answer.cname_target(&probe).as_ref() == Some(target) {
        let wildcard = Name::from_str("*").and_then(|w| w.append_domain(&parent)).map(|w| w.to_string());
        return Err(DnsError::WildcardCname {
            name: name.to_string(),
            wildcard: wildcard.unwrap_or_else(|_| format!("*.{parent}")),
            target: target.to_string(),
        });
    }
    Ok(())
}

/// The zone that holds `name`: the owner of the SOA record in the answer or authority section,
/// walking up one label at a time if a server answers without one.
async fn find_zone(resolvers: &Resolvers, name: &Name) -> Result<(Name, Option<u32>), DnsError> {
    let mut candidate = name.clone();
    loop {
        let answer = resolvers.ask(&candidate, RecordType::SOA).await?;
        if let Some(owner) = answer.soa_owner() {
            return Ok((owner, answer.soa_negative_ttl()));
        }
        if candidate.num_labels() <= 1 {
            return Err(DnsError::NoZone {
                name: name.to_string(),
                detail: format!(
                    "no SOA record found at or above it through {:?}; check that the zone exists and the resolvers can see it, or set [propagation] resolvers",
                    resolvers.servers()
                ),
            });
        }
        candidate = candidate.base_name();
    }
}

/// The zone's NS hosts with their addresses (glue first, then lookups). A host whose address
/// cannot be found is skipped with a warning rather than failing the order.
async fn zone_servers(resolvers: &Resolvers, zone: &Name) -> Result<Vec<AuthServer>, DnsError> {
    let answer = resolvers.ask(zone, RecordType::NS).await?;
    let hosts: Vec<Name> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect();
    let mut servers = Vec::new();
    for host in hosts {
        let mut addrs: Vec<SocketAddr> = answer
            .additionals
            .iter()
            .filter(|r| r.name == host)
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(SocketAddr::new(a.0.into(), 53)),
                RData::AAAA(a) => Some(SocketAddr::new(a.0.into(), 53)),
                _ => None,
            })
            .collect();
        if addrs.is_empty() {
            for rtype in [RecordType::A, RecordType::AAAA] {
                if let Ok(a) = resolvers.ask(&host, rtype).await {
                    addrs.extend(a.answers.iter().filter_map(|r| match &r.data {
                        RData::A(a) => Some(SocketAddr::new(a.0.into(), 53)),
                        RData::AAAA(a) => Some(SocketAddr::new(a.0.into(), 53)),
                        _ => None,
                    }));
                }
            }
        }
        if addrs.is_empty() {
            tracing::warn!(ns = %host, zone = %zone, "no address found for this name server; it will not be checked");
        }
        for addr in addrs {
            servers.push(AuthServer { name: host.to_string(), addr });
        }
    }
    Ok(servers)
}
