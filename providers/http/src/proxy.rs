//! `HTTPS_PROXY` / `NO_PROXY` (and their lower-case forms, as curl reads them): an https://
//! API behind a proxy is reached through an HTTP `CONNECT` tunnel, with the proxy's user info
//! as `Proxy-Authorization`. TLS still runs end to end with the API, so the proxy sees only
//! the host name. Plain http:// URLs (loopback test servers, internal APIs) go direct.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects directly, or through the proxy the environment names for this destination.
#[derive(Clone)]
pub struct ProxyConnector {
    direct: HttpConnector,
    matcher: Arc<Matcher>,
}

impl ProxyConnector {
    pub fn new(matcher: Matcher) -> ProxyConnector {
        let mut direct = HttpConnector::new();
        direct.enforce_http(false);
        ProxyConnector { direct, matcher: Arc::new(matcher) }
    }

    /// The proxy settings of the environment.
    pub fn from_env() -> ProxyConnector {
        ProxyConnector::new(Matcher::from_env())
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut direct = self.direct.clone();
        let intercept = if dst.scheme_str() == Some("https") { self.matcher.intercept(&dst) } else { None };
        Box::pin(async move {
            match intercept {
                Some(proxy) => {
                    let mut tunnel = Tunnel::new(proxy.uri().clone(), direct);
                    if let Some(auth) = proxy.basic_auth() {
                        tunnel = tunnel.with_auth(auth.clone());
                    }
                    tunnel.call(dst).await.map_err(|e| format!("through proxy: {e}").into())
                }
                None => direct.call(dst).await.map_err(Into::into),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpClient;
    use bytes::Bytes;
    use http_body_util::Full;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An https:// request goes to the proxy as CONNECT host:443 with the proxy's
    /// credentials; NO_PROXY hosts and http:// go direct.
    #[tokio::test]
    async fn https_goes_through_the_proxy() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://user:pw@{}", listener.local_addr().unwrap());
        let proxy = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            socket.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        let matcher = Matcher::builder().https(proxy_url).no("skip.example").build();
        let client =
            HttpClient::with_connector(Duration::from_secs(5), None, ProxyConnector::new(matcher)).unwrap();
        let request =
            http::Request::get("https://api.example.com/v2/domains").body(Full::new(Bytes::new())).unwrap();
        let err = client.send("test", request).await.unwrap_err();
        assert!(err.to_string().contains("proxy"), "{err}");
        let seen = proxy.await.unwrap();
        assert!(seen.starts_with("CONNECT api.example.com:443 HTTP/1.1"), "{seen}");
        assert!(seen.contains("Basic dXNlcjpwdw=="), "{seen}");
        assert!(
            ProxyConnector::new(Matcher::builder().https("http://127.0.0.1:9").no("skip.example").build())
                .matcher
                .intercept(&"https://skip.example/".parse().unwrap())
                .is_none()
        );
    }
}
