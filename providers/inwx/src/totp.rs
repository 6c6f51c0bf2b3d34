//! Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30-second steps), for INWX's
//! two-factor unlock, and the base32 (RFC 4648) form authenticator apps show the shared
//! secret in.

use wildcert_dns_http::sign::{Hash, hmac};

/// The code for `unix_time` with `digits` digits, from the raw shared key.
pub fn totp(key: &[u8], unix_time: u64, digits: u32) -> String {
    let counter = unix_time / 30;
    let mac = hmac(Hash::Sha1, key, &counter.to_be_bytes());
    // RFC 4226 dynamic truncation.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    let code = u64::from(value) % 10u64.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// Decodes base32 (RFC 4648 alphabet, any case, spaces, dashes and padding ignored).
pub fn base32(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0u32);
    for c in text.chars().filter(|c| !matches!(c, ' ' | '-' | '=')) {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return Err("the shared secret is not base32 (letters A-Z and digits 2-7)".into()),
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if out.is_empty() {
        return Err("the shared secret is empty".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, the SHA-1 column (8 digits, key "12345678901234567890").
    #[test]
    fn rfc6238_test_vectors() {
        let key = b"12345678901234567890";
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp(key, time, 8), code, "T = {time}");
        }
        assert_eq!(totp(key, 59, 6), "287082");
    }

    /// RFC 4648 section 10, and the key above as authenticator apps show it.
    #[test]
    fn base32_decodes() {
        assert_eq!(base32("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32("mzxw 6ytb oi").unwrap(), b"foobar");
        assert_eq!(base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(), b"12345678901234567890");
        assert!(base32("not base32!").is_err());
        assert!(base32("").is_err());
    }
}
