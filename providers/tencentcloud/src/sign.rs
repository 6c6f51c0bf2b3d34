//! Tencent Cloud API 3.0's request signature, TC3-HMAC-SHA256: a canonical request (method,
//! path `/`, empty query, the signed headers `content-type`, `host` and `x-tc-action` in
//! lower case, and the SHA-256 of the body), a string to sign naming the time and the
//! credential scope `<UTC date>/<service>/tc3_request`, and an HMAC-SHA256 chain from
//! `TC3<SecretKey>` through the date, the service and `tc3_request`.
//!
//! Reference: <https://www.tencentcloud.com/document/api/1157/49993> ("Signature v3").

use wildcert_dns_http::sign::{Hash, digest, hex, hmac};

/// The headers every request signs, in the order they are listed.
pub const SIGNED_HEADERS: &str = "content-type;host;x-tc-action";

/// What one signature covers.
pub struct Request<'a> {
    /// The `Content-Type` header exactly as sent (signed).
    pub content_type: &'a str,
    /// The API host, e.g. `dnspod.tencentcloudapi.com` (signed, lower-cased).
    pub host: &'a str,
    /// The `X-TC-Action`, e.g. `CreateRecord` (signed, lower-cased).
    pub action: &'a str,
    /// The request body, whose SHA-256 the signature covers.
    pub body: &'a [u8],
    /// The service of the credential scope, e.g. `dnspod`.
    pub service: &'a str,
    /// Unix time in seconds; also names the UTC date of the credential scope.
    pub timestamp: u64,
}

/// `YYYY-MM-DD` of a Unix time, in UTC.
pub fn utc_date(timestamp: u64) -> String {
    // Days to civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let days = (timestamp / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The canonical request.
pub fn canonical_request(r: &Request<'_>) -> String {
    format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\nx-tc-action:{}\n\n{SIGNED_HEADERS}\n{}",
        r.content_type,
        r.host.to_ascii_lowercase(),
        r.action.to_ascii_lowercase(),
        hex(&digest(Hash::Sha256, r.body))
    )
}

/// The `Authorization` header value.
pub fn authorization(secret_id: &str, secret_key: &str, r: &Request<'_>) -> String {
    let date = utc_date(r.timestamp);
    let scope = format!("{date}/{}/tc3_request", r.service);
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{}\n{scope}\n{}",
        r.timestamp,
        hex(&digest(Hash::Sha256, canonical_request(r).as_bytes()))
    );
    let key = hmac(Hash::Sha256, format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let key = hmac(Hash::Sha256, &key, r.service.as_bytes());
    let key = hmac(Hash::Sha256, &key, b"tc3_request");
    let signature = hex(&hmac(Hash::Sha256, &key, to_sign.as_bytes()));
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_798_761_599), "2026-12-31");
    }

    /// The shape of the header and of the canonical request; the signature itself is checked
    /// by the contract fake in `tests/providers_tencentcloud.rs`, computed there separately.
    #[test]
    fn header_and_canonical_request() {
        let r = Request {
            content_type: "application/json",
            host: "DNSPod.tencentcloudapi.com",
            action: "DescribeDomainList",
            body: b"{}",
            service: "dnspod",
            timestamp: 1_551_113_065,
        };
        let canonical = canonical_request(&r);
        assert!(
            canonical.starts_with(
                "POST\n/\n\ncontent-type:application/json\nhost:dnspod.tencentcloudapi.com\nx-tc-action:describedomainlist\n\ncontent-type;host;x-tc-action\n"
            ),
            "{canonical}"
        );
        // SHA-256 of "{}".
        assert!(canonical.ends_with("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"));
        let value = authorization("AKIDexample", "secret", &r);
        assert!(
            value.starts_with("TC3-HMAC-SHA256 Credential=AKIDexample/2019-02-25/dnspod/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature="),
            "{value}"
        );
        assert_eq!(value.rsplit('=').next().unwrap().len(), 64);
    }
}
