//! What the two OpenStack identity token sources ([`crate::keystone`] v3 and
//! [`crate::identity_v2`]) and the adapters using them share: posting the credentials to the
//! identity service, reading a token's lifetime from the answer's timestamps (and the
//! lifetime assumed when they cannot be read), the `X-Auth-Token` header every OpenStack
//! service takes the token in, and the one retry with a fresh token after a 401. The answers' shapes differ (v3 sends the token in a header),
//! so each source reads its own answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde_json::Value;
use wildcert_dns_api::{ProviderError, Secret};

use crate::api::{Api, Body};
use crate::{Response, StatusClass, classify};

/// A cached OpenStack token that can be dropped when a service refuses it: Keystone v3
/// ([`crate::keystone::Keystone`]) and identity v2.0 ([`crate::identity_v2::IdentityV2`]).
pub trait TokenSource: Sync {
    /// The token with its service catalog.
    type Token: Send + Sync;
    /// A valid token: the cached one, or a fresh one.
    fn token(&self) -> impl Future<Output = Result<Arc<Self::Token>, ProviderError>> + Send;
    /// Forgets the cached token.
    fn invalidate(&self) -> impl Future<Output = ()> + Send;
}

/// Sends a request with the current token; when the service answers 401 (a token can be
/// revoked before it expires), forgets the token and sends once more with a fresh one. A
/// second 401 is the caller's answer to judge. `send` returns the answer and whatever else
/// the caller needs from that attempt (the `Api` it built for the token's endpoint, say).
pub async fn with_token<S, R, F, Fut>(
    source: &S,
    provider: &str,
    send: F,
) -> Result<(R, Response), ProviderError>
where
    S: TokenSource,
    F: Fn(Arc<S::Token>) -> Fut,
    Fut: Future<Output = Result<(R, Response), ProviderError>>,
{
    let (extra, response) = send(source.token().await?).await?;
    if response.status != http::StatusCode::UNAUTHORIZED {
        return Ok((extra, response));
    }
    tracing::debug!(provider, "token refused, fetching a new one");
    source.invalidate().await;
    send(source.token().await?).await
}

/// The lifetime assumed when an answer's timestamps cannot be read (Keystone's default is
/// one hour).
const FALLBACK_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// `POST {identity}{path}` with the credentials' JSON `body`: the action (for messages) and
/// the successful answer, or the service's refusal with `hint` (which settings to check).
pub(crate) async fn request(
    identity: &Api,
    path: &str,
    body: &Value,
    hint: &str,
) -> Result<(String, Response), ProviderError> {
    let action = format!("POST {}{path}", identity.base());
    let response = identity.call(Method::POST, path, &Body::json(body), &[]).await?;
    if classify(response.status) != StatusClass::Success {
        return Err(identity.error(&action, &response, hint));
    }
    Ok((action, response))
}

/// The `X-Auth-Token` header carrying `token`, marked sensitive so that no log of the
/// request shows it. Both token sources check that their token fits a header, so the error
/// (a `Rejected` for `provider`) only guards against a source that did not.
pub fn x_auth_token(provider: &str, token: &Secret) -> Result<[(HeaderName, HeaderValue); 1], ProviderError> {
    let mut value = HeaderValue::from_str(token.expose()).map_err(|_| ProviderError::Rejected {
        provider: provider.to_string(),
        detail: "the identity service returned a token an HTTP header cannot carry".into(),
    })?;
    value.set_sensitive(true);
    Ok([(HeaderName::from_static("x-auth-token"), value)])
}

/// How long a token lives: `expires - issued` from the answer. Without both (or with an
/// expiry not after the issue) the local clock would have to be compared with the server's:
/// assume [`FALLBACK_LIFETIME`] instead (a refused token is replaced anyway).
pub(crate) fn lifetime(issued: Option<&str>, expires: Option<&str>) -> Duration {
    match (issued.and_then(timestamp), expires.and_then(timestamp)) {
        (Some(a), Some(b)) if b > a => Duration::from_secs((b - a) as u64),
        _ => FALLBACK_LIFETIME,
    }
}

/// Seconds since the epoch of an ISO 8601 UTC time as Keystone writes it
/// (`2026-12-03T08:16:00.000000Z`, also `+00:00` or no zone). Only differences are used, so
/// the local clock never matters.
fn timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let time = time.split(['+', '.']).next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next().flatten().unwrap_or(0));
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(timestamp("2026-12-03T08:16:00.000000Z"), Some(1_796_285_760));
        assert_eq!(
            timestamp("2026-12-03T09:16:00+00:00").unwrap() - timestamp("2026-12-03T08:16:00Z").unwrap(),
            3600
        );
        assert_eq!(
            timestamp("2024-03-01T00:00:00Z").unwrap() - timestamp("2024-02-28T00:00:00Z").unwrap(),
            2 * 86_400
        );
        assert_eq!(timestamp("yesterday"), None);
    }

    #[test]
    fn auth_header_is_sensitive_and_refuses_what_a_header_cannot_carry() {
        let [(name, value)] = x_auth_token("otc", &Secret::new("gAAAA-token")).unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-auth-token", "gAAAA-token"));
        assert!(value.is_sensitive());
        let err = x_auth_token("otc", &Secret::new("bad\ntoken")).unwrap_err();
        assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");
        assert!(!format!("{err}").contains("bad"), "the token stays out of the message");
    }

    /// Hands out token 0, 1, 2, … and counts how often it was told to forget one.
    #[derive(Default)]
    struct Counter {
        next: std::sync::atomic::AtomicU32,
        dropped: std::sync::atomic::AtomicU32,
    }

    impl TokenSource for Counter {
        type Token = u32;
        fn token(&self) -> impl Future<Output = Result<Arc<u32>, ProviderError>> + Send {
            let n = self.next.load(std::sync::atomic::Ordering::SeqCst);
            async move { Ok(Arc::new(n)) }
        }
        fn invalidate(&self) -> impl Future<Output = ()> + Send {
            self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {}
        }
    }

    fn answer(status: u16) -> Response {
        Response {
            status: http::StatusCode::from_u16(status).unwrap(),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
        }
    }

    #[tokio::test]
    async fn a_401_is_retried_once_with_a_fresh_token() {
        // Token 0 is refused; token 1 works.
        let source = Counter::default();
        let send = |t: Arc<u32>| async move { Ok((*t, answer(if *t == 0 { 401 } else { 200 }))) };
        let (used, response) = with_token(&source, "otc", send).await.unwrap();
        assert_eq!((used, response.status.as_u16()), (1, 200));
        // Every token refused: one retry, then the second 401 goes back to the caller.
        let source = Counter::default();
        let (used, response) =
            with_token(&source, "otc", |t: Arc<u32>| async move { Ok((*t, answer(401))) }).await.unwrap();
        assert_eq!((used, response.status.as_u16()), (1, 401));
        assert_eq!(source.dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Other answers (a 403 included) are not retried.
        let source = Counter::default();
        let (_, response) =
            with_token(&source, "otc", |t: Arc<u32>| async move { Ok((*t, answer(403))) }).await.unwrap();
        assert_eq!(response.status.as_u16(), 403);
        assert_eq!(source.dropped.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn lifetimes() {
        let issued = Some("2026-12-03T08:16:00Z");
        assert_eq!(lifetime(issued, Some("2026-12-03T09:16:00.000000Z")), Duration::from_secs(3600));
        assert_eq!(lifetime(issued, issued), FALLBACK_LIFETIME, "no later expiry");
        assert_eq!(lifetime(None, Some("2026-12-03T09:16:00Z")), FALLBACK_LIFETIME);
        assert_eq!(lifetime(issued, Some("soon")), FALLBACK_LIFETIME);
    }
}
