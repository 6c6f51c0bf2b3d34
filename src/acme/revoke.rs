//! Revocation signed with the certificate's own key (RFC 8555 §7.6, second form): the JWS
//! carries the certificate's public key as `jwk`, so the CA needs no account. For a key
//! that is known to have leaked, or when the account that ordered the certificate is gone.
//! instant-acme signs only with the account key, hence this small JWS of our own, sent
//! through the same HTTP client (proxy, deadlines, roots) as every ACME request.
//!
//! ECDSA keys (P-256 → ES256, P-384 → ES384), which is what wildcert orders by default; an
//! RSA certificate is revoked with the account key instead.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http::{Method, Request};
use instant_acme::{BodyWrapper, HttpClient};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

use super::AcmeError;
use super::http::AcmeHttp;

/// The certificate key as a JWS signer.
struct Signer {
    key: EcdsaKeyPair,
    alg: &'static str,
    crv: &'static str,
}

impl Signer {
    /// Reads a PKCS#8 ECDSA key (P-256 or P-384) from PEM.
    fn from_pem(pem: &[u8]) -> Result<Signer, String> {
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("the certificate's key: {e}"))?;
        let PrivateKeyDer::Pkcs8(der) = key else {
            return Err(
                "the certificate's key is not PKCS#8; revoke with the account key (without --with-cert-key)"
                    .into(),
            );
        };
        let der = der.secret_pkcs8_der();
        if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            return Ok(Signer { key, alg: "ES256", crv: "P-256" });
        }
        if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der) {
            return Ok(Signer { key, alg: "ES384", crv: "P-384" });
        }
        Err("--with-cert-key signs with ECDSA P-256/P-384 keys only; revoke this certificate with the account key (without --with-cert-key)".into())
    }

    fn jwk(&self) -> serde_json::Value {
        // Uncompressed point: 0x04 || X || Y.
        let point = self.key.public_key().as_ref();
        let half = (point.len() - 1) / 2;
        json!({
            "crv": self.crv,
            "kty": "EC",
            "x": B64.encode(&point[1..1 + half]),
            "y": B64.encode(&point[1 + half..]),
        })
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.key
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| "signing with the certificate's key failed".to_string())
    }
}

/// One request's whole answer.
async fn send(
    http: &AcmeHttp,
    method: Method,
    url: &str,
    body: Vec<u8>,
) -> Result<(http::response::Parts, Bytes), AcmeError> {
    let mut builder = Request::builder().method(method).uri(url);
    if !body.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/jose+json");
    }
    let request = builder
        .body(BodyWrapper::from(body))
        .map_err(|e| AcmeError::Refused { url: url.into(), detail: format!("bad URL from the CA: {e}") })?;
    let mut response = http.request(request).await.map_err(|e| AcmeError::from_client(e, url))?;
    let bytes = response
        .body
        .into_bytes()
        .await
        .map_err(|e| AcmeError::Unreachable { url: url.into(), detail: e.to_string() })?;
    Ok((response.parts, bytes))
}

fn problem(url: &str, parts: &http::response::Parts, body: &[u8]) -> AcmeError {
    match serde_json::from_slice::<instant_acme::Problem>(body) {
        Ok(p) => AcmeError::from_client(instant_acme::Error::Api(p), url),
        Err(_) => AcmeError::Refused { url: url.into(), detail: format!("HTTP {}", parts.status) },
    }
}

/// Asks the CA behind `directory` to revoke the certificate `leaf_der`, signing with its key
/// `key_pem`. `reason` is the RFC 5280 reason code.
pub async fn with_cert_key(
    http: &AcmeHttp,
    directory: &str,
    leaf_der: &[u8],
    key_pem: &[u8],
    reason: Option<u8>,
) -> Result<(), AcmeError> {
    let signer =
        Signer::from_pem(key_pem).map_err(|detail| AcmeError::Refused { url: directory.into(), detail })?;
    let (parts, body) = send(http, Method::GET, directory, Vec::new()).await?;
    if !parts.status.is_success() {
        return Err(problem(directory, &parts, &body));
    }
    let dir: serde_json::Value = serde_json::from_slice(&body).map_err(|e| AcmeError::Refused {
        url: directory.into(),
        detail: format!("the directory is not JSON ({e}); is the URL right?"),
    })?;
    let field = |name: &str| {
        dir[name].as_str().map(str::to_string).ok_or_else(|| AcmeError::Refused {
            url: directory.into(),
            detail: format!("the directory has no {name}"),
        })
    };
    let (new_nonce, revoke_url) = (field("newNonce")?, field("revokeCert")?);

    let mut payload = json!({ "certificate": B64.encode(leaf_der) });
    if let Some(reason) = reason {
        payload["reason"] = json!(reason);
    }
    let payload = B64.encode(payload.to_string());
    // A nonce the CA refused (badNonce) is retried once with the fresh one it sent.
    let mut nonce = None;
    for _ in 0..2 {
        let current = match nonce.take() {
            Some(n) => n,
            None => {
                let (parts, _) = send(http, Method::HEAD, &new_nonce, Vec::new()).await?;
                replay_nonce(&parts).ok_or_else(|| AcmeError::Refused {
                    url: new_nonce.clone(),
                    detail: "no Replay-Nonce in the answer".into(),
                })?
            }
        };
        let protected =
            json!({ "alg": signer.alg, "jwk": signer.jwk(), "nonce": current, "url": revoke_url })
                .to_string();
        let protected = B64.encode(protected);
        let signature = signer
            .sign(format!("{protected}.{payload}").as_bytes())
            .map_err(|detail| AcmeError::Refused { url: revoke_url.clone(), detail })?;
        let jws = json!({ "protected": protected, "payload": payload, "signature": B64.encode(signature) });
        let (parts, body) = send(http, Method::POST, &revoke_url, jws.to_string().into_bytes()).await?;
        if parts.status.is_success() {
            return Ok(());
        }
        let err = problem(&revoke_url, &parts, &body);
        if matches!(err, AcmeError::Unavailable { .. }) && body.windows(8).any(|w| w == b"badNonce") {
            nonce = replay_nonce(&parts);
            continue;
        }
        return Err(err);
    }
    Err(AcmeError::Unavailable {
        url: revoke_url,
        detail: "the CA refused two nonces in a row".into(),
        retry_after: None,
    })
}

fn replay_nonce(parts: &http::response::Parts) -> Option<String> {
    parts.headers.get("replay-nonce").and_then(|v| v.to_str().ok()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_keys_sign_verifiably_and_rsa_keys_are_refused_with_a_way_out() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let signer = Signer::from_pem(key.serialize_pem().as_bytes()).unwrap();
        assert_eq!(signer.alg, "ES256");
        let jwk = signer.jwk();
        assert_eq!(B64.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
        let sig = signer.sign(b"header.payload").unwrap();
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            signer.key.public_key().as_ref(),
        );
        public.verify(b"header.payload", &sig).unwrap();

        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        assert_eq!(Signer::from_pem(key.serialize_pem().as_bytes()).unwrap().alg, "ES384");

        let rsa =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
        let err = Signer::from_pem(rsa.serialize_pem().as_bytes()).err().unwrap();
        assert!(err.contains("with the account key"), "{err}");
    }
}
