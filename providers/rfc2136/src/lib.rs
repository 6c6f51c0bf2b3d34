//! RFC 2136 dynamic updates signed with TSIG (RFC 8945): BIND, Knot, PowerDNS, Windows DNS.
//!
//! `present` sends "add this TXT RR to the RRset" and `cleanup` sends "delete the RR with this
//! exact RDATA", so the apex's and the wildcard's values at the shared
//! `_acme-challenge.<domain>` coexist, and values written by others are never touched.
//! Updates go over UDP; a truncated answer is retried over TCP.

#![warn(missing_docs)]

mod spec;
pub use spec::Rfc2136Config;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsMultiplexer, DnsRequestSender};
use hickory_net::{DnsError as NetDnsError, NetError};
use hickory_proto::op::{DnsResponse, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, RData, Record, RecordSet, TSigner};
use wildcert_dns_api::{DnsProvider, ProviderError, Secret, TxtRecord};

/// Allowed clock difference between us and the server, in seconds (RFC 8945 recommends 300).
const TSIG_FUDGE: u16 = 300;

/// Settings of one RFC 2136 server, as plain values (the caller owns the config format).
#[derive(Debug, Clone)]
pub struct Rfc2136Settings {
    /// The primary that accepts updates: `host:port`.
    pub server: String,
    /// TSIG key name, e.g. `wildcert.`.
    pub key_name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512` (a trailing dot is accepted).
    pub algorithm: String,
    /// The key's secret, base64 as in BIND's `secret "..."`.
    pub secret: Secret,
    /// The zone to update; without it the caller's discovered zone is used.
    pub zone: Option<String>,
    /// Timeout of one update or query to the server.
    pub timeout: Duration,
}

/// An RFC 2136 adapter bound to one server and key.
#[derive(Clone)]
pub struct Rfc2136 {
    settings: Rfc2136Settings,
    signer: TSigner,
}

impl std::fmt::Debug for Rfc2136 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rfc2136").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// Maps `hmac-sha256`, `HMAC-SHA256.` and friends to the algorithm.
pub fn parse_algorithm(name: &str) -> Option<TsigAlgorithm> {
    match name.trim_end_matches('.').to_ascii_lowercase().as_str() {
        "hmac-sha256" => Some(TsigAlgorithm::HmacSha256),
        "hmac-sha384" => Some(TsigAlgorithm::HmacSha384),
        "hmac-sha512" => Some(TsigAlgorithm::HmacSha512),
        _ => None,
    }
}

impl Rfc2136 {
    /// Validates the settings (algorithm, base64 secret, key name) without any network I/O.
    pub fn new(settings: Rfc2136Settings) -> Result<Rfc2136, ProviderError> {
        let config = |detail: String| ProviderError::Config { provider: describe(&settings), detail };
        let algorithm = parse_algorithm(&settings.algorithm).ok_or_else(|| {
            config(format!(
                "TSIG algorithm `{}` is not supported; use hmac-sha256, hmac-sha384 or hmac-sha512",
                settings.algorithm
            ))
        })?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(settings.secret.expose().trim())
            .map_err(|_| {
                config(format!(
                    "the TSIG secret of key {} is not base64 (copy the `secret \"...\"` value of the server's key statement)",
                    settings.key_name
                ))
            })?;
        let key_name = Name::from_str(&settings.key_name)
            .map_err(|e| config(format!("TSIG key name `{}`: {e}", settings.key_name)))?;
        let signer = TSigner::new(key, algorithm, key_name, TSIG_FUDGE)
            .map_err(|e| config(format!("TSIG key {}: {e}", settings.key_name)))?;
        Ok(Rfc2136 { settings, signer })
    }

    /// The settings it was built from, for messages and tests.
    pub fn settings(&self) -> &Rfc2136Settings {
        &self.settings
    }

    fn zone_for(&self, record: &TxtRecord) -> Result<Name, ProviderError> {
        let zone = self.settings.zone.as_deref().or(record.zone.as_deref()).ok_or_else(|| {
            ProviderError::ZoneNotFound {
                provider: self.describe(),
                fqdn: record.fqdn.clone(),
                detail: "no zone configured and none discovered; set `zone` in the rfc2136 settings".into(),
            }
        })?;
        let mut zone = Name::from_str(zone).map_err(|e| ProviderError::Config {
            provider: self.describe(),
            detail: format!("zone `{zone}`: {e}"),
        })?;
        zone.set_fqdn(true);
        Ok(zone)
    }

    async fn server_addr(&self) -> Result<SocketAddr, ProviderError> {
        let server = &self.settings.server;
        let with_port = if server.parse::<SocketAddr>().is_ok()
            || server
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.ends_with(':') && p.parse::<u16>().is_ok() && !h.contains(':'))
        {
            server.clone()
        } else {
            format!("{server}:53")
        };
        let mut addrs =
            tokio::net::lookup_host(&with_port).await.map_err(|e| ProviderError::Unreachable {
                provider: self.describe(),
                detail: format!("cannot resolve the server name {server}: {e}"),
            })?;
        addrs.next().ok_or_else(|| ProviderError::Unreachable {
            provider: self.describe(),
            detail: format!("the server name {server} has no address"),
        })
    }

    /// Sends one update and interprets the answer.
    async fn update(&self, record: &TxtRecord, delete: bool) -> Result<(), ProviderError> {
        let zone = self.zone_for(record)?;
        let mut name = Name::from_str(&record.fqdn).map_err(|e| ProviderError::Config {
            provider: self.describe(),
            detail: format!("record name `{}`: {e}", record.fqdn),
        })?;
        name.set_fqdn(true);
        if !zone.zone_of(&name) {
            return Err(ProviderError::ZoneNotFound {
                provider: self.describe(),
                fqdn: record.fqdn.clone(),
                detail: format!("{name} is not inside the configured zone {zone}"),
            });
        }
        let txt = Record::from_rdata(name, record.ttl, RData::TXT(TXT::new(vec![record.value.clone()])));
        let rrset = RecordSet::from(txt);
        let addr = self.server_addr().await?;

        let response = match self.send_udp(addr, &rrset, &zone, delete).await {
            Ok(response) if response.metadata.truncation => {
                tracing::debug!(server = %addr, "update answer truncated, retrying over TCP");
                self.send_tcp(addr, &rrset, &zone, delete).await
            }
            other => other,
        };
        self.interpret(response, &zone, delete)
    }

    async fn send_udp(
        &self,
        addr: SocketAddr,
        rrset: &RecordSet,
        zone: &Name,
        delete: bool,
    ) -> Result<DnsResponse, NetError> {
        let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default())
            .with_timeout(Some(self.settings.timeout))
            .with_signer(Some(self.signer.clone()))
            .build();
        exchange(stream, rrset, zone, delete).await
    }

    async fn send_tcp(
        &self,
        addr: SocketAddr,
        rrset: &RecordSet,
        zone: &Name,
        delete: bool,
    ) -> Result<DnsResponse, NetError> {
        let (connect, handle) =
            TcpClientStream::new(addr, None, Some(self.settings.timeout), TokioRuntimeProvider::default());
        let stream =
            tokio::time::timeout(self.settings.timeout, connect).await.map_err(|_| NetError::Timeout)??;
        let multiplexer = DnsMultiplexer::new(stream, handle)
            .with_timeout(self.settings.timeout)
            .with_signer(self.signer.clone());
        exchange(multiplexer, rrset, zone, delete).await
    }

    fn interpret(
        &self,
        response: Result<DnsResponse, NetError>,
        zone: &Name,
        delete: bool,
    ) -> Result<(), ProviderError> {
        let provider = self.describe();
        let key = &self.settings.key_name;
        let code = match response {
            Ok(response) => response.metadata.response_code,
            Err(NetError::Dns(NetDnsError::ResponseCode(code))) => code,
            Err(NetError::Timeout) => {
                return Err(ProviderError::Unreachable {
                    provider,
                    detail: format!(
                        "no answer within {:?}; is the server running and reachable?",
                        self.settings.timeout
                    ),
                });
            }
            Err(NetError::Io(e)) => {
                return Err(ProviderError::Unreachable { provider, detail: format!("network error: {e}") });
            }
            Err(e) => {
                let text = e.to_string();
                // A reply whose TSIG does not verify, or an unsigned error reply, means the
                // server does not share our secret for this key.
                if text.contains("tsig") || text.contains("TSIG") || text.contains("signature") {
                    return Err(ProviderError::Auth {
                        provider,
                        detail: format!(
                            "the server's reply to TSIG key {key} could not be verified ({text}); check that tsig_secret and tsig_algorithm match the server's key \"{key}\""
                        ),
                    });
                }
                return Err(ProviderError::Unreachable { provider, detail: text });
            }
        };
        let action = if delete { "delete" } else { "add" };
        match code {
            ResponseCode::NoError => Ok(()),
            ResponseCode::NotAuth => Err(ProviderError::Auth {
                provider,
                detail: format!(
                    "NOTAUTH for zone {zone}: the server rejected TSIG key {key} (unknown key, wrong secret or algorithm, or clock skew over {TSIG_FUDGE}s), or it is not authoritative for the zone; check tsig_key, tsig_secret and tsig_algorithm against the server's key statement"
                ),
            }),
            ResponseCode::Refused => Err(ProviderError::Rejected {
                provider,
                detail: format!(
                    "REFUSED the {action} of a TXT record in zone {zone}: the server's update-policy (or allow-update) must grant key {key} TXT updates there, e.g. `update-policy {{ grant {key} zonesub TXT; }};`"
                ),
            }),
            ResponseCode::NotZone => Err(ProviderError::Rejected {
                provider,
                detail: format!(
                    "NOTZONE: the record is not inside zone {zone} on this server; set `zone` to the zone that holds it"
                ),
            }),
            ResponseCode::ServFail => Err(ProviderError::Temporary {
                provider,
                detail: format!(
                    "SERVFAIL while applying the {action} in zone {zone}; the server's log says why"
                ),
                retry_after: None,
            }),
            other => Err(ProviderError::Rejected {
                provider,
                detail: format!("the server answered {other} to the {action} in zone {zone}"),
            }),
        }
    }
}

/// Sends one signed update over `sender` (UDP or TCP) and returns the answer.
async fn exchange<S: DnsRequestSender>(
    sender: S,
    rrset: &RecordSet,
    zone: &Name,
    delete: bool,
) -> Result<DnsResponse, NetError> {
    let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(sender);
    let task = tokio::spawn(background);
    let result = if delete {
        client.delete_by_rdata(rrset.clone(), zone.clone()).await
    } else {
        client.append(rrset.clone(), zone.clone(), false).await
    };
    task.abort();
    result
}

fn describe(settings: &Rfc2136Settings) -> String {
    format!("rfc2136 ({})", settings.server)
}

impl DnsProvider for Rfc2136 {
    fn describe(&self) -> String {
        describe(&self.settings)
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.update(record, false).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.update(record, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Rfc2136Settings {
        Rfc2136Settings {
            server: "127.0.0.1:53".into(),
            key_name: "wildcert.".into(),
            algorithm: "hmac-sha256".into(),
            secret: Secret::new("c2VjcmV0LXNlY3JldC1zZWNyZXQ="),
            zone: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn algorithms() {
        assert_eq!(parse_algorithm("HMAC-SHA512."), Some(TsigAlgorithm::HmacSha512));
        assert_eq!(parse_algorithm("hmac-md5"), None);
    }

    #[test]
    fn rejects_bad_secret_without_showing_it() {
        let mut s = settings();
        s.secret = Secret::new("not base64 !!");
        let err = Rfc2136::new(s).unwrap_err().to_string();
        assert!(err.contains("not base64"), "{err}");
        assert!(!err.contains("not base64 !!"), "{err}");
    }

    #[test]
    fn rejects_unknown_algorithm() {
        let mut s = settings();
        s.algorithm = "hmac-md5".into();
        assert!(Rfc2136::new(s).unwrap_err().to_string().contains("hmac-sha256"));
    }

    #[test]
    fn debug_hides_secret() {
        let r = Rfc2136::new(settings()).unwrap();
        assert!(!format!("{r:?}").contains("c2VjcmV0"));
    }

    #[tokio::test]
    async fn record_outside_zone_is_refused_locally() {
        let mut s = settings();
        s.zone = Some("example.org".into());
        let r = Rfc2136::new(s).unwrap();
        let record = TxtRecord {
            fqdn: "_acme-challenge.example.com.".into(),
            zone: None,
            value: "v".into(),
            ttl: 60,
            raw: None,
        };
        let err = r.present(&record).await.unwrap_err();
        assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    }
}
