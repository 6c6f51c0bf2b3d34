//! The RPC request signature of Alibaba Cloud (signature version 1.0, HMAC-SHA1): every
//! parameter except `Signature`, sorted by name, percent-encoded per RFC 3986 and joined as
//! a query string; the string to sign is `METHOD&%2F&<that query string, encoded again>`;
//! the signature is the base64 HMAC-SHA1 of it under `<AccessKey secret>&`.
//!
//! Reference: <https://www.alibabacloud.com/help/doc-detail/163279.htm> ("Request
//! signatures" of the RPC APIs).

use std::collections::BTreeMap;

use wildcert_dns_http::encode;
use wildcert_dns_http::sign::{Hash, base64, hmac};

/// The canonical query string: parameters in byte order of their names, names and values
/// percent-encoded.
pub fn canonical(params: &BTreeMap<String, String>) -> String {
    params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The `Signature` parameter for `params` sent with HTTP `method`.
pub fn signature(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    let to_sign = format!("{method}&{}&{}", encode("/"), encode(&canonical(params)));
    base64(&hmac(Hash::Sha1, format!("{secret}&").as_bytes(), to_sign.as_bytes()))
}

/// The whole signed request: the canonical parameters followed by `Signature`.
pub fn signed_form(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    format!("{}&Signature={}", canonical(params), encode(&signature(method, params, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Alibaba's signature documentation (DescribeRegions of ECS with
    /// the key `testid` / `testsecret`) gives the documented signature.
    #[test]
    fn documented_example() {
        let params: BTreeMap<String, String> = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(signature("GET", &params, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
        let form = signed_form("GET", &params, "testsecret");
        assert!(form.starts_with("AccessKeyId=testid&Action=DescribeRegions&"), "{form}");
        assert!(form.contains("Timestamp=2016-02-23T12%3A46%3A24Z"), "{form}");
        assert!(form.ends_with("&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D"), "{form}");
    }
}
