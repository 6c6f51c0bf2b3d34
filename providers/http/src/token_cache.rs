//! One token shared by every call of an adapter, fetched again shortly before it expires or
//! after a service refused it. Every token source of the toolkit (OAuth2 client credentials,
//! JWT bearer, cloud metadata services, Keystone v3, identity v2.0) keeps its token here
//! rather than each holding its own lock-check-fetch-store sequence.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use wildcert_dns_api::ProviderError;

/// A token is fetched anew this long before it expires, so no call sends one that lapses in
/// flight.
pub const MARGIN: Duration = Duration::from_secs(120);

/// The cached token and when it expires. The lock is held while a token is fetched, so
/// concurrent callers wait for one fetch instead of each making their own.
#[derive(Debug)]
pub struct TokenCache<T> {
    slot: Mutex<Option<(Arc<T>, Instant)>>,
}

impl<T> Default for TokenCache<T> {
    fn default() -> Self {
        TokenCache { slot: Mutex::new(None) }
    }
}

impl<T> TokenCache<T> {
    /// The cached token while it is valid for more than [`MARGIN`], else the one `fetch`
    /// returns (with its expiry), which is then cached.
    pub async fn get_or_fetch<F>(&self, fetch: impl FnOnce() -> F) -> Result<Arc<T>, ProviderError>
    where
        F: Future<Output = Result<(T, Instant), ProviderError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((token, until)) = slot.as_ref()
            && Instant::now() + MARGIN < *until
        {
            return Ok(token.clone());
        }
        let (token, until) = fetch().await?;
        let token = Arc::new(token);
        *slot = Some((token.clone(), until));
        Ok(token)
    }

    /// Forgets the cached token (a service refused it: revoked, or expired early).
    pub async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fetches_once_while_valid_and_again_when_near_expiry_or_invalidated() {
        let cache = TokenCache::default();
        let fetches = std::sync::atomic::AtomicU32::new(0);
        let fetch = |lifetime: Duration| {
            let n = fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { Ok((n, Instant::now() + lifetime)) }
        };
        let hour = Duration::from_secs(3600);
        assert_eq!(*cache.get_or_fetch(|| fetch(hour)).await.unwrap(), 0);
        assert_eq!(*cache.get_or_fetch(|| fetch(hour)).await.unwrap(), 0, "still valid");
        cache.invalidate().await;
        assert_eq!(*cache.get_or_fetch(|| fetch(MARGIN / 2)).await.unwrap(), 1, "invalidated");
        assert_eq!(*cache.get_or_fetch(|| fetch(hour)).await.unwrap(), 2, "within the margin of expiry");
    }
}
