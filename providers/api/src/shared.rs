//! Small pieces several adapters need: DNS name comparison, one read-modify-write at a time
//! per record name, and lego's argument mode.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError};

/// Lower case with a trailing dot: how DNS APIs (Route53, PowerDNS) spell names.
pub fn normalize(name: &str) -> String {
    let mut name = name.trim().to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

/// Whether two names are the same DNS name (case and the final dot do not matter).
pub fn same_name(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

/// Whether `name` (normalized) equals `zone` or lies below it.
pub fn is_within(name: &str, zone: &str) -> bool {
    let zone = normalize(zone);
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// Serializes read-modify-write cycles per record name, so that the apex's and the
/// wildcard's values at one name, written concurrently, do not overwrite each other.
#[derive(Default)]
pub struct NameLocks(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl NameLocks {
    /// Waits for and holds the lock of `name` (case and a trailing dot do not matter) until
    /// the guard is dropped.
    pub async fn lock(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            // Drop entries nobody holds or waits for.
            map.retain(|_, lock| Arc::strong_count(lock) > 1);
            map.entry(normalize(name)).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// What a lego-style bridge (exec, httpreq) hands over: the record (`Default`) or the
/// challenge's domain, token and key authorization (`Raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegoMode {
    /// The record's name and value (lego's default mode).
    #[default]
    Default,
    /// The domain, token and key authorization, for scripts that compute the value themselves.
    Raw,
}

impl std::str::FromStr for LegoMode {
    type Err = String;

    /// `RAW` (any case) or empty/`default`, like lego's `EXEC_MODE` / `HTTPREQ_MODE`.
    fn from_str(text: &str) -> Result<LegoMode, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "default" => Ok(LegoMode::Default),
            "raw" => Ok(LegoMode::Raw),
            other => Err(format!("mode `{other}` is not known; use \"RAW\" or leave it out")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for LegoMode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<LegoMode, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "default" => Ok(LegoMode::Default),
            "raw" => Ok(LegoMode::Raw),
            _ => Err(serde::de::Error::custom(format!(
                "mode `{text}` is not known; use \"RAW\" (domain, token, key authorization) or leave mode out (FQDN and value)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(same_name("Example.COM", "example.com."));
        assert!(is_within("_acme-challenge.example.com.", "Example.COM"));
        assert!(is_within("example.com.", "example.com."));
        assert!(!is_within("_acme-challenge.notexample.com.", "example.com."));
    }

    #[test]
    fn modes() {
        assert_eq!("RAW".parse::<LegoMode>().unwrap(), LegoMode::Raw);
        assert_eq!("".parse::<LegoMode>().unwrap(), LegoMode::Default);
        assert!("raw2".parse::<LegoMode>().unwrap_err().contains("RAW"));
    }

    #[tokio::test]
    async fn one_holder_per_name() {
        let locks = NameLocks::default();
        let held = locks.lock("a.example.com").await;
        let other =
            tokio::time::timeout(std::time::Duration::from_millis(20), locks.lock("A.example.com.")).await;
        assert!(other.is_err(), "the same name (spelled differently) waits");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), locks.lock("b.example.com"))
                .await
                .is_ok()
        );
        drop(held);
    }
}

/// A DNS server as configured: a host name or address, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerSpec {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port; 53 when the setting gives none.
    pub port: u16,
}

impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses `host`, `host:port`, `1.2.3.4:53`, `[::1]:53` (port 53 when omitted).
pub fn parse_server(text: &str) -> Result<ServerSpec, String> {
    let text = text.trim();
    let bad = || {
        format!("`{text}` is not a DNS server; write host:port, e.g. \"10.0.0.53:53\" or \"ns1.example.com\"")
    };
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return Ok(ServerSpec { host: addr.ip().to_string(), port: addr.port() });
    }
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(ServerSpec { host: ip.to_string(), port: 53 });
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (text, 53),
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(bad());
    }
    Ok(ServerSpec { host: host.to_string(), port })
}
