//! Request-signing helpers for APIs that authenticate each request with a digest of it
//! rather than a bearer token (OVH, DNS Made Easy, Alibaba, ...). aws-lc-rs, the
//! cryptography rustls already uses here.

use aws_lc_rs::{digest, hmac};
use base64::Engine;

/// Which hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1: only where an API's documented signature demands it (OVH, DNS Made Easy).
    Sha1,
    /// SHA-256: what most HMAC-signed APIs use.
    Sha256,
    /// SHA-512, where an API asks for it.
    Sha512,
}

impl Hash {
    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => hmac::HMAC_SHA256,
            Hash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha512 => &digest::SHA512,
        }
    }
}

/// HMAC of `message` under `key`.
pub fn hmac(hash: Hash, key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hash.hmac(), key), message).as_ref().to_vec()
}

/// Plain digest of `message`.
pub fn digest(hash: Hash, message: &[u8]) -> Vec<u8> {
    digest::digest(hash.digest(), message).as_ref().to_vec()
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 and RFC 2202 test case 2; FIPS 180 "abc".
    #[test]
    fn known_answers() {
        assert_eq!(
            hex(&hmac(Hash::Sha256, b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac(Hash::Sha1, b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(hex(&digest(Hash::Sha1, b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(base64(b"hi"), "aGk=");
    }
}
