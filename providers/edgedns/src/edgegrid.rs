//! Akamai EdgeGrid v1 (`EG1-HMAC-SHA256`) request signatures and the `.edgerc` credentials
//! file.
//!
//! Every request carries `Authorization: EG1-HMAC-SHA256 client_token=..;access_token=..;
//! timestamp=..;nonce=..;signature=..`. The signature is the base64 HMAC-SHA256, under the
//! *signing key*, of the tab-joined method, scheme, host, path with query, canonical headers
//! (none are signed here), content hash (base64 SHA-256 of a POST body, at most `max-body`
//! bytes; empty otherwise) and the header value up to `signature=`. The signing key is the
//! base64 HMAC-SHA256 of the timestamp under the client secret.
//!
//! Spec: <https://techdocs.akamai.com/developer/docs/authenticate-with-edgegrid>.

use std::time::SystemTime;

use http::Method;
use wildcert_dns_api::Secret;
use wildcert_dns_http::sign::{Hash, base64, digest, hmac};

/// The largest body prefix that is hashed, unless `.edgerc` says otherwise (its `max-body`).
pub const MAX_BODY: usize = 131_072;

/// One API client's credentials.
#[derive(Clone)]
pub struct Credentials {
    /// `client_token`, sent in the Authorization header.
    pub client_token: Secret,
    /// `client_secret`, the HMAC key; never sent.
    pub client_secret: Secret,
    /// `access_token`, sent in the Authorization header.
    pub access_token: Secret,
}

/// The parts of a request that are signed.
pub struct Signed<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host (and port, when the URL names one), as in the `Host` header.
    pub host: &'a str,
    /// Path and query, as sent.
    pub path_and_query: &'a str,
    /// The body; its first `max_body` bytes are hashed into the signature (POST only).
    pub body: &'a [u8],
}

/// `yyyyMMddTHH:mm:ss+0000` in UTC, the timestamp EdgeGrid wants.
pub fn timestamp(now: SystemTime) -> String {
    let t = wildcert_dns_http::clock::utc(now);
    format!("{:04}{:02}{:02}T{:02}:{:02}:{:02}+0000", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

/// A fresh random nonce (128 bits, hexadecimal).
pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // The system generator does not fail on the platforms wildcert runs on; a zero nonce
    // would still be a valid (if weaker) request.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    wildcert_dns_http::sign::hex(&bytes)
}

/// The `Authorization` header value for `request`, signed at `timestamp` with `nonce`.
pub fn authorization(
    credentials: &Credentials,
    request: &Signed<'_>,
    max_body: usize,
    timestamp: &str,
    nonce: &str,
) -> String {
    let unsigned = format!(
        "EG1-HMAC-SHA256 client_token={};access_token={};timestamp={timestamp};nonce={nonce};",
        credentials.client_token.expose().trim(),
        credentials.access_token.expose().trim()
    );
    let content_hash = if *request.method == Method::POST && !request.body.is_empty() {
        let end = request.body.len().min(max_body);
        base64(&digest(Hash::Sha256, &request.body[..end]))
    } else {
        String::new()
    };
    let data = [
        request.method.as_str().to_ascii_uppercase(),
        request.scheme.to_ascii_lowercase(),
        request.host.to_ascii_lowercase(),
        request.path_and_query.to_string(),
        String::new(),
        content_hash,
        unsigned.clone(),
    ]
    .join("\t");
    let signing_key = base64(&hmac(
        Hash::Sha256,
        credentials.client_secret.expose().trim().as_bytes(),
        timestamp.as_bytes(),
    ));
    let signature = base64(&hmac(Hash::Sha256, signing_key.as_bytes(), data.as_bytes()));
    format!("{unsigned}signature={signature}")
}

/// One section of an `.edgerc` file. Every field may be missing; the caller says which it
/// needs.
#[derive(Default, Clone)]
pub struct EdgercSection {
    /// `host`: the API host of the client (`akab-….luna.akamaiapis.net`).
    pub host: Option<String>,
    /// `client_token`.
    pub client_token: Option<Secret>,
    /// `client_secret`.
    pub client_secret: Option<Secret>,
    /// `access_token`.
    pub access_token: Option<Secret>,
    /// `max-body`: how much of a body is signed.
    pub max_body: Option<usize>,
}

/// Reads section `section` of an `.edgerc` file (INI: `[section]`, `key = value`, comments
/// with `#` or `;`). Errors name the line number, never its content: the file holds secrets.
pub fn parse_edgerc(text: &str, section: &str) -> Result<EdgercSection, String> {
    let mut current: Option<String> = None;
    let mut found = false;
    let mut out = EdgercSection::default();
    let mut sections = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(format!("line {}: a section header must end with `]`", number + 1));
            };
            let name = name.trim().to_string();
            found |= name == section;
            sections.push(name.clone());
            current = Some(name);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected `key = value`", number + 1));
        };
        if current.as_deref() != Some(section) {
            continue;
        }
        let value = value.trim().trim_matches('"').trim().to_string();
        match key.trim() {
            "host" => out.host = Some(value),
            "client_token" => out.client_token = Some(Secret::new(value)),
            "client_secret" => out.client_secret = Some(Secret::new(value)),
            "access_token" => out.access_token = Some(Secret::new(value)),
            "max-body" | "max_body" => {
                out.max_body = Some(
                    value
                        .parse()
                        .map_err(|_| format!("line {}: max-body must be a number of bytes", number + 1))?,
                )
            }
            _ => {}
        }
    }
    if !found {
        let known = if sections.is_empty() { "none".to_string() } else { sections.join(", ") };
        return Err(format!("has no section [{section}] (sections: {known})"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn timestamps_are_utc_in_edgegrid_form() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_376_707_753);
        assert_eq!(timestamp(t), "20130817T02:49:13+0000");
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T00:00:00+0000");
        let leap = UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "20000229T00:00:00+0000");
    }

    /// The signed data as the specification lays it out, computed independently here.
    #[test]
    fn signs_as_specified() {
        let credentials = Credentials {
            client_token: Secret::new("akab-client"),
            client_secret: Secret::new("c2VjcmV0"),
            access_token: Secret::new("akab-access"),
        };
        let body = br#"{"name":"x"}"#;
        let request = Signed {
            method: &Method::POST,
            scheme: "https",
            host: "Akab-Host.luna.akamaiapis.net",
            path_and_query: "/config-dns/v2/zones/example.com?accountSwitchKey=K",
            body,
        };
        let ts = "20130817T02:49:13+0000";
        let value = authorization(&credentials, &request, MAX_BODY, ts, "n-1");
        let unsigned = format!(
            "EG1-HMAC-SHA256 client_token=akab-client;access_token=akab-access;timestamp={ts};nonce=n-1;"
        );
        let key = base64(&hmac(Hash::Sha256, b"c2VjcmV0", ts.as_bytes()));
        let data = format!(
            "POST\thttps\takab-host.luna.akamaiapis.net\t/config-dns/v2/zones/example.com?accountSwitchKey=K\t\t{}\t{unsigned}",
            base64(&digest(Hash::Sha256, body))
        );
        let signature = base64(&hmac(Hash::Sha256, key.as_bytes(), data.as_bytes()));
        assert_eq!(value, format!("{unsigned}signature={signature}"));
        // A PUT's body is not hashed; a body beyond max-body is hashed up to it.
        let put = Signed { method: &Method::PUT, ..request };
        let data = data.replace("POST", "PUT").replace(&base64(&digest(Hash::Sha256, body)), "");
        let signature = base64(&hmac(Hash::Sha256, key.as_bytes(), data.as_bytes()));
        assert_eq!(
            authorization(&credentials, &put, MAX_BODY, ts, "n-1"),
            format!("{unsigned}signature={signature}")
        );
        let short = authorization(&credentials, &Signed { method: &Method::POST, ..put }, 4, ts, "n-1");
        let long = authorization(
            &credentials,
            &Signed { method: &Method::POST, body: b"{\"na-different tail", ..put },
            4,
            ts,
            "n-1",
        );
        assert_eq!(short, long, "only max-body bytes are hashed");
        assert_ne!(nonce(), nonce());
    }

    #[test]
    fn reads_an_edgerc_section_without_quoting_it() {
        let text = "; Akamai credentials\n[default]\nhost = akab-one.luna.akamaiapis.net\nclient_token = ct-1\nclient_secret = cs/1+2==\naccess_token = at-1\nmax-body = 131072\n\n[dns]\nhost = \"akab-two.luna.akamaiapis.net\"\nclient_token=ct-2\nclient_secret=cs-2\naccess_token=at-2\n";
        let one = parse_edgerc(text, "default").unwrap();
        assert_eq!(one.host.as_deref(), Some("akab-one.luna.akamaiapis.net"));
        assert_eq!(one.client_secret.unwrap().expose(), "cs/1+2==");
        assert_eq!(one.max_body, Some(131_072));
        let two = parse_edgerc(text, "dns").unwrap();
        assert_eq!(two.host.as_deref(), Some("akab-two.luna.akamaiapis.net"));
        assert_eq!(two.access_token.unwrap().expose(), "at-2");
        let err = parse_edgerc(text, "other").err().unwrap();
        assert!(err.contains("[other]") && err.contains("default, dns"), "{err}");
        let err = parse_edgerc("[default]\nclient_secret sekrit-value\n", "default").err().unwrap();
        assert!(err.contains("line 2") && !err.contains("sekrit"), "{err}");
    }
}
