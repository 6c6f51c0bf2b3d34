//! RSA private keys from PEM files, for APIs whose requests (OCI) or logins (TransIP) are
//! signed with the account's RSA key (PKCS#1 v1.5). aws-lc-rs, the cryptography rustls
//! already uses here, does the work.
//!
//! Accepted: `RSA PRIVATE KEY` (PKCS#1), `PRIVATE KEY` (PKCS#8) and `ENCRYPTED PRIVATE KEY`
//! (PKCS#8 with PBES2: PBKDF2 with HMAC-SHA1/256/384/512 and AES-128/192/256-CBC, what
//! `openssl genrsa -aes128` and `openssl pkcs8 -topk8` write), with a passphrase. The older
//! OpenSSL encryption (`Proc-Type: 4,ENCRYPTED` headers) is refused with the command that
//! converts it. Errors say what is wrong with the file, never what is in it.

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PKCS1_SHA512, RsaKeyPair};
use base64::Engine;
use wildcert_dns_api::Secret;

/// Which digest a signature is made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// RSASSA-PKCS1-v1_5 with SHA-256, what most APIs ask for.
    Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-512, where an API asks for it.
    Sha512,
}

/// An RSA private key, ready to sign.
pub struct RsaKey {
    pair: RsaKeyPair,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey").field("bits", &(self.pair.public_modulus_len() * 8)).finish_non_exhaustive()
    }
}

const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const OID_HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const OID_HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const OID_HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
const OID_HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
const OID_AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
const OID_AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

impl RsaKey {
    /// Reads the first private key block of a PEM file's text. `passphrase` opens an
    /// encrypted key and is ignored for a plain one.
    pub fn from_pem(pem: &Secret, passphrase: Option<&Secret>) -> Result<RsaKey, String> {
        let text = pem.expose();
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err("the key uses OpenSSL's legacy PEM encryption (Proc-Type: 4,ENCRYPTED); convert it with `openssl pkcs8 -topk8 -v2 aes256 -in OLD.pem -out NEW.pem` (keeps it encrypted) and use the new file".into());
        }
        let (label, der) = pem_block(text)?;
        let pair = match label.as_str() {
            "RSA PRIVATE KEY" => {
                RsaKeyPair::from_der(&der).map_err(|e| format!("not a usable RSA key ({e})"))?
            }
            "PRIVATE KEY" => {
                RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("not a usable RSA key ({e})"))?
            }
            "ENCRYPTED PRIVATE KEY" => {
                let Some(passphrase) = passphrase.filter(|p| !p.expose().is_empty()) else {
                    return Err("the key is encrypted and no passphrase is set".into());
                };
                let plain = decrypt_pkcs8(&der, passphrase.expose().as_bytes())?;
                RsaKeyPair::from_pkcs8(&plain).map_err(|e| format!("not a usable RSA key ({e})"))?
            }
            other => return Err(format!("a PEM block `{other}` is no private key; expect `PRIVATE KEY`")),
        };
        Ok(RsaKey { pair })
    }

    /// The PKCS#1 v1.5 signature of `message`.
    pub fn sign(&self, digest: Digest, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        let padding = match digest {
            Digest::Sha256 => &RSA_PKCS1_SHA256,
            Digest::Sha512 => &RSA_PKCS1_SHA512,
        };
        self.pair
            .sign(padding, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| "RSA signing failed".to_string())?;
        Ok(signature)
    }
}

/// The label and DER of the first PEM block holding a private key.
fn pem_block(text: &str) -> Result<(String, Vec<u8>), String> {
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            continue;
        };
        if !label.ends_with("PRIVATE KEY") {
            continue;
        }
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        for line in lines.by_ref() {
            if line == end {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(body.as_bytes())
                    .map_err(|_| format!("the {label} block is not valid base64"))?;
                return Ok((label.to_string(), der));
            }
            if !line.contains(':') {
                body.push_str(line);
            }
        }
        return Err(format!("the {label} block has no END line"));
    }
    Err("no PEM private key block (-----BEGIN PRIVATE KEY-----) found".into())
}

/// A DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "the encrypted key is not valid DER".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), String> {
    let (found, contents, rest) = der(input)?;
    if found != tag {
        return Err("the encrypted key is not a PKCS#8 EncryptedPrivateKeyInfo".into());
    }
    Ok((contents, rest))
}

/// Decrypts a PKCS#8 `EncryptedPrivateKeyInfo` (PBES2) into the plain PKCS#8 DER.
fn decrypt_pkcs8(input: &[u8], passphrase: &[u8]) -> Result<Vec<u8>, String> {
    const SEQ: u8 = 0x30;
    const OID: u8 = 0x06;
    const OCTETS: u8 = 0x04;
    const INT: u8 = 0x02;
    let (info, _) = expect(input, SEQ)?;
    let (algorithm, rest) = expect(info, SEQ)?;
    let (encrypted, _) = expect(rest, OCTETS)?;
    let (oid, params) = expect(algorithm, OID)?;
    if oid != OID_PBES2 {
        return Err("the key is encrypted with a scheme other than PBES2; re-encrypt it with `openssl pkcs8 -topk8 -v2 aes256`".into());
    }
    let (params, _) = expect(params, SEQ)?;
    let (kdf, rest) = expect(params, SEQ)?;
    let (scheme, _) = expect(rest, SEQ)?;
    let (kdf_oid, kdf_params) = expect(kdf, OID)?;
    if kdf_oid != OID_PBKDF2 {
        return Err("the key's passphrase is derived with something other than PBKDF2 (scrypt?); re-encrypt it with `openssl pkcs8 -topk8 -v2 aes256`".into());
    }
    let (kdf_params, _) = expect(kdf_params, SEQ)?;
    let (salt, rest) = expect(kdf_params, OCTETS)?;
    let (iterations, mut rest) = expect(rest, INT)?;
    let iterations = iterations.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let iterations = u32::try_from(iterations)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or("the key's PBKDF2 iteration count is unusable")?;
    let mut prf = aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1;
    while !rest.is_empty() {
        let (tag, contents, next) = der(rest)?;
        if tag == SEQ {
            let (oid, _) = expect(contents, OID)?;
            prf = match oid {
                o if o == OID_HMAC_SHA1 => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA1,
                o if o == OID_HMAC_SHA256 => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
                o if o == OID_HMAC_SHA384 => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA384,
                o if o == OID_HMAC_SHA512 => aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512,
                _ => return Err("the key's PBKDF2 uses an unknown hash".into()),
            };
        }
        rest = next;
    }
    let (cipher_oid, iv) = expect(scheme, OID)?;
    let (cipher, key_len) = match cipher_oid {
        o if o == OID_AES128_CBC => (&AES_128, 16),
        o if o == OID_AES192_CBC => (&AES_192, 24),
        o if o == OID_AES256_CBC => (&AES_256, 32),
        _ => return Err("the key is encrypted with a cipher other than AES-CBC; re-encrypt it with `openssl pkcs8 -topk8 -v2 aes256`".into()),
    };
    let (iv, _) = expect(iv, OCTETS)?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| "the key's AES IV is not 16 bytes")?;
    let mut key = vec![0u8; key_len];
    aws_lc_rs::pbkdf2::derive(prf, iterations, salt, passphrase, &mut key);
    let wrong = || "cannot decrypt the key: wrong passphrase?".to_string();
    let key = UnboundCipherKey::new(cipher, &key).map_err(|_| wrong())?;
    let decrypting = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| wrong())?;
    let mut buffer = encrypted.to_vec();
    let plain = decrypting
        .decrypt(&mut buffer, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| wrong())?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_cannot_use_without_quoting_it() {
        let legacy = Secret::new(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        );
        assert!(RsaKey::from_pem(&legacy, None).unwrap_err().contains("openssl pkcs8 -topk8"));
        let cert = Secret::new("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n");
        assert!(RsaKey::from_pem(&cert, None).unwrap_err().contains("no PEM private key"));
        let junk =
            Secret::new("-----BEGIN PRIVATE KEY-----\nc2VrcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n");
        let err = RsaKey::from_pem(&junk, None).unwrap_err();
        assert!(err.contains("not a usable RSA key") && !err.contains("c2VrcmV0"), "{err}");
        let encrypted =
            Secret::new("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assert!(RsaKey::from_pem(&encrypted, None).unwrap_err().contains("no passphrase"));
    }

    /// Keys as `openssl` writes them: plain PKCS#1 and PKCS#8, and PKCS#8 encrypted with
    /// PBES2 under the ciphers and hashes OpenSSL offers; each signs, and the signature
    /// verifies with the key's public half.
    #[test]
    fn opens_what_openssl_writes() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl").args(args).current_dir(&dir).output().unwrap();
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["genrsa", "-traditional", "-out", "pkcs1.pem", "2048"]);
        run(&["pkcs8", "-topk8", "-nocrypt", "-in", "pkcs1.pem", "-out", "pkcs8.pem"]);
        run(&[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes256",
            "-v2prf",
            "hmacWithSHA512",
            "-passout",
            "pass:s3cr3t pass",
            "-in",
            "pkcs1.pem",
            "-out",
            "aes256.pem",
        ]);
        run(&[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes128",
            "-v2prf",
            "hmacWithSHA1",
            "-passout",
            "pass:s3cr3t pass",
            "-in",
            "pkcs1.pem",
            "-out",
            "aes128.pem",
        ]);
        run(&["genrsa", "-aes192", "-passout", "pass:s3cr3t pass", "-out", "genrsa.pem", "2048"]);
        let pass = Secret::new("s3cr3t pass");
        let read = |file: &str| Secret::new(std::fs::read_to_string(dir.join(file)).unwrap());
        for file in ["pkcs1.pem", "pkcs8.pem", "aes256.pem", "aes128.pem", "genrsa.pem"] {
            let key = RsaKey::from_pem(&read(file), Some(&pass)).unwrap_or_else(|e| panic!("{file}: {e}"));
            for (digest, algorithm) in [
                (Digest::Sha256, &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256),
                (Digest::Sha512, &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA512),
            ] {
                let signature = key.sign(digest, b"message").unwrap();
                let public = aws_lc_rs::signature::KeyPair::public_key(&key.pair);
                aws_lc_rs::signature::UnparsedPublicKey::new(algorithm, public.as_ref())
                    .verify(b"message", &signature)
                    .unwrap_or_else(|_| panic!("{file}: the signature does not verify"));
            }
        }
        let err = RsaKey::from_pem(&read("aes256.pem"), Some(&Secret::new("wrong"))).unwrap_err();
        assert!(err.contains("wrong passphrase") && !err.contains("s3cr3t"), "{err}");
    }
}
