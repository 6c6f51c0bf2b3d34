//! One question to one DNS server, with a hard timeout. Everything else in `dns/` is built
//! on this: discovery asks resolvers, propagation asks authoritative servers directly.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The parts of an answer wildcert looks at.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response code: NXDOMAIN, REFUSED and SERVFAIL are answers the callers judge.
    pub code: ResponseCode,
    /// The AA bit: propagation trusts only authoritative answers.
    pub authoritative: bool,
    /// The answer section (TXT values, CNAMEs, NS, SOA).
    pub answers: Vec<Record>,
    /// The authority section: the SOA that names the zone of a negative answer, referrals.
    pub authorities: Vec<Record>,
    /// The additional section: glue addresses of the name servers.
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
            // BIND sends TTL 0 on the SOA of a negative answer to an SOA question.
            RData::SOA(soa) => Some(if r.ttl == 0 { soa.minimum } else { soa.minimum.min(r.ttl) }),
            _ => None,
        })
    }
}

/// Why a server gave no usable answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum QueryFailure {
    /// Silence until the timeout (given): the server may be slow or filtered.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Nothing listens there (ICMP port unreachable, TCP reset): not worth waiting for.
    #[error("connection refused (nothing listens on that address and port)")]
    Refused,
    /// Any other socket error, as the system reported it.
    #[error("{0}")]
    Network(String),
}

/// Asks `server` for `name`/`rtype` over UDP (TCP if the answer was truncated).
/// Error response codes (NXDOMAIN, REFUSED, SERVFAIL) are answers, not failures.
///
/// The UDP socket is connected, so an ICMP "port unreachable" (an address where no DNS
/// server listens) fails the query at once instead of after the timeout.
pub async fn query(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Answer, QueryFailure> {
    let mut message = Message::query();
    message.metadata.id = rand::random();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.edns = Some(edns);
    let bytes = message.to_vec().map_err(|e| QueryFailure::Network(e.to_string()))?;
    let id = message.metadata.id;
    let response = tokio::time::timeout(timeout, exchange_udp(server, &bytes, id, timeout))
        .await
        .map_err(|_| QueryFailure::Timeout(timeout))??;
    let response = if response.metadata.truncation {
        tokio::time::timeout(timeout, exchange_tcp(server, &bytes, id))
            .await
            .map_err(|_| QueryFailure::Timeout(timeout))??
    } else {
        response
    };
    Ok(Answer {
        code: response.metadata.response_code,
        authoritative: response.metadata.authoritative,
        answers: response.answers,
        authorities: response.authorities,
        additionals: response.additionals,
    })
}

fn io_failure(e: std::io::Error) -> QueryFailure {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => QueryFailure::Refused,
        _ => QueryFailure::Network(e.to_string()),
    }
}

async fn exchange_udp(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Message, QueryFailure> {
    let local: SocketAddr =
        if server.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let socket = UdpSocket::bind(local).await.map_err(io_failure)?;
    socket.connect(server).await.map_err(io_failure)?;
    socket.send(bytes).await.map_err(io_failure)?;
    // One retransmission for a lost datagram.
    let resend_at = tokio::time::Instant::now() + timeout / 3;
    let mut resent = false;
    let mut buf = vec![0u8; 4096];
    loop {
        let received = if resent {
            socket.recv(&mut buf).await
        } else {
            match tokio::time::timeout_at(resend_at, socket.recv(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    resent = true;
                    socket.send(bytes).await.map_err(io_failure)?;
                    continue;
                }
            }
        };
        let len = received.map_err(io_failure)?;
        match Message::from_vec(&buf[..len]) {
            Ok(message) if message.metadata.id == id => return Ok(message),
            // A stray or malformed datagram: keep waiting for ours.
            _ => continue,
        }
    }
}

async fn exchange_tcp(server: SocketAddr, bytes: &[u8], id: u16) -> Result<Message, QueryFailure> {
    let mut stream = TcpStream::connect(server).await.map_err(io_failure)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(io_failure)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io_failure)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).await.map_err(io_failure)?;
    let message =
        Message::from_vec(&buf).map_err(|e| QueryFailure::Network(format!("malformed answer: {e}")))?;
    if message.metadata.id != id {
        return Err(QueryFailure::Network("answer to another question".into()));
    }
    Ok(message)
}
