//! OCI request signatures: the HTTP Signatures draft (draft-cavage-http-signatures-08) as
//! Oracle Cloud Infrastructure profiles it.
//!
//! The signing string is one `name: value` line per signed header, in the order the
//! `headers` parameter lists them: `(request-target)` (lower-case method, space, path and
//! query), `date` and `host` always; `x-content-sha256` (base64 SHA-256 of the body),
//! `content-type` and `content-length` as well for POST, PUT and PATCH. It is signed with
//! RSA PKCS#1 v1.5 over SHA-256 (`rsa-sha256`) under the API key, named by `keyId =
//! "<tenancy OCID>/<user OCID>/<key fingerprint>"`.
//!
//! Spec: <https://docs.oracle.com/en-us/iaas/Content/API/Concepts/signingrequests.htm>.

use http::Method;
use wildcert_dns_http::clock;
use wildcert_dns_http::rsa_key::{Digest, RsaKey};
use wildcert_dns_http::sign::{Hash, base64, digest};

/// The parts of a request that are signed.
pub struct Request<'a> {
    /// The request's method, signed as `(request-target)`.
    pub method: &'a Method,
    /// Host (and port, when the URL names one), as in the `Host` header.
    pub host: &'a str,
    /// Path and query, as sent, signed as `(request-target)`.
    pub path_and_query: &'a str,
    /// The JSON body, for POST, PUT and PATCH.
    pub body: Option<&'a [u8]>,
}

/// The headers to send: `authorization`, `date`, and for a body `x-content-sha256` and
/// `content-length` (the caller sends `content-type: application/json`).
#[derive(Debug)]
pub struct Headers {
    /// `authorization`: the signature and the headers it covers.
    pub authorization: String,
    /// `date`: the time signed.
    pub date: String,
    /// `x-content-sha256`: the body's hash, for a request with a body.
    pub content_sha256: Option<String>,
    /// `content-length`, for a request with a body.
    pub content_length: Option<String>,
}

/// `Thu, 03 Dec 2026 08:10:00 GMT` (RFC 7231 IMF-fixdate).
pub fn http_date(at: std::time::SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = clock::utc(at);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday as usize],
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

/// Signs `request` at `date` with `key`, named `key_id`.
pub fn sign(key_id: &str, key: &RsaKey, request: &Request<'_>, date: &str) -> Result<Headers, String> {
    let mut names = vec!["(request-target)", "date", "host"];
    let mut lines = vec![
        format!(
            "(request-target): {} {}",
            request.method.as_str().to_ascii_lowercase(),
            request.path_and_query
        ),
        format!("date: {date}"),
        format!("host: {}", request.host),
    ];
    let (mut content_sha256, mut content_length) = (None, None);
    if let Some(body) = request.body {
        let sha = base64(&digest(Hash::Sha256, body));
        names.extend(["x-content-sha256", "content-type", "content-length"]);
        lines.push(format!("x-content-sha256: {sha}"));
        lines.push("content-type: application/json".into());
        lines.push(format!("content-length: {}", body.len()));
        content_sha256 = Some(sha);
        content_length = Some(body.len().to_string());
    }
    let signature = base64(&key.sign(Digest::Sha256, lines.join("\n").as_bytes())?);
    Ok(Headers {
        authorization: format!(
            "Signature version=\"1\",keyId=\"{key_id}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{signature}\"",
            names.join(" ")
        ),
        date: date.to_string(),
        content_sha256,
        content_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(1_376_707_753)),
            "Sat, 17 Aug 2013 02:49:13 GMT"
        );
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
