//! One question to one DNS server, with a hard timeout. Everything else in `dns/` is built
//! on this: discovery asks resolvers, propagation asks authoritative servers directly.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::DnsMultiplexer;
use hickory_net::{DnsError as NetDnsError, NetError};
use hickory_proto::op::{DnsResponse, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// The parts of an answer wildcert looks at.
#[derive(Debug, Clone)]
pub struct Answer {
    pub code: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Answer {
    /// TXT strings at `name` in the answer section (multi-string TXT joined, as the CA does).
    pub fn txt_values(&self, name: &Name) -> Vec<String> {
        self.answers
            .iter()
            .filter(|r| r.name.eq_case(name) || r.name == *name)
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => {
                    Some(txt.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
                }
                _ => None,
            })
            .collect()
    }

    /// The CNAME target for `name`, if the answer has one.
    pub fn cname_target(&self, name: &Name) -> Option<Name> {
        self.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == *name => Some(target.0.clone()),
            _ => None,
        })
    }

    /// The owner name of an SOA record in the answer or authority section.
    pub fn soa_owner(&self) -> Option<Name> {
        self.answers
            .iter()
            .chain(self.authorities.iter())
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| r.name.clone())
    }

    /// SOA minimum field (negative-caching TTL, RFC 2308) if an SOA is present.
    pub fn soa_negative_ttl(&self) -> Option<u32> {
        self.answers.iter().chain(self.authorities.iter()).find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.minimum.min(r.ttl)),
            _ => None,
        })
    }
}

/// Why a server gave no usable answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum QueryFailure {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection refused (nothing listens on that address and port)")]
    Refused,
    #[error("{0}")]
    Network(String),
}

/// Asks `server` for `name`/`rtype` (UDP, then TCP if the answer was truncated).
/// Error response codes (NXDOMAIN, REFUSED, SERVFAIL) are answers, not failures.
pub async fn query(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Answer, QueryFailure> {
    let result = tokio::time::timeout(timeout, query_udp(server, name, rtype, timeout)).await;
    let answer = match result {
        Err(_) => return Err(QueryFailure::Timeout(timeout)),
        Ok(r) => r?,
    };
    if answer.metadata.truncation {
        let tcp = tokio::time::timeout(timeout, query_tcp(server, name, rtype, timeout))
            .await
            .map_err(|_| QueryFailure::Timeout(timeout))??;
        return Ok(to_answer(tcp));
    }
    Ok(to_answer(answer))
}

fn to_answer(response: DnsResponse) -> Answer {
    let message = response.into_message();
    Answer {
        code: message.metadata.response_code,
        authoritative: message.metadata.authoritative,
        answers: message.answers,
        authorities: message.authorities,
        additionals: message.additionals,
    }
}

fn classify(err: NetError, timeout: Duration) -> Result<DnsResponse, QueryFailure> {
    match err {
        NetError::Dns(NetDnsError::ResponseCode(code)) => {
            // Synthesize an empty answer carrying the code.
            let mut message = hickory_proto::op::Message::query();
            message.metadata.response_code = code;
            DnsResponse::from_message(message).map_err(|e| QueryFailure::Network(e.to_string()))
        }
        NetError::Dns(NetDnsError::NoRecordsFound(no_records)) => {
            let mut message = hickory_proto::op::Message::query();
            message.metadata.response_code = no_records.response_code;
            if let Some(authorities) = &no_records.authorities {
                message.authorities.extend(authorities.iter().cloned());
            } else if let Some(soa) = no_records.soa {
                message.authorities.push(soa.into_record_of_rdata());
            }
            // Negative answers from an authoritative server carry the zone's SOA.
            message.metadata.authoritative = !message.authorities.is_empty();
            DnsResponse::from_message(message).map_err(|e| QueryFailure::Network(e.to_string()))
        }
        NetError::Timeout => Err(QueryFailure::Timeout(timeout)),
        NetError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(QueryFailure::Refused),
        other => {
            let text = other.to_string();
            if text.contains("onnection refused") {
                Err(QueryFailure::Refused)
            } else {
                Err(QueryFailure::Network(text))
            }
        }
    }
}

async fn query_udp(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<DnsResponse, QueryFailure> {
    let stream =
        UdpClientStream::builder(server, TokioRuntimeProvider::default()).with_timeout(Some(timeout)).build();
    let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
    let task = tokio::spawn(background);
    let result = client.query(name.clone(), DNSClass::IN, rtype).await;
    task.abort();
    result.or_else(|e| classify(e, timeout))
}

async fn query_tcp(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<DnsResponse, QueryFailure> {
    let (connect, handle) =
        TcpClientStream::new(server, None, Some(timeout), TokioRuntimeProvider::default());
    let stream = connect.await.map_err(|e| classify(e, timeout).err().unwrap_or(QueryFailure::Refused))?;
    let multiplexer = DnsMultiplexer::new(stream, handle).with_timeout(timeout);
    let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(multiplexer);
    let task = tokio::spawn(background);
    let result = client.query(name.clone(), DNSClass::IN, rtype).await;
    task.abort();
    result.or_else(|e| classify(e, timeout))
}
