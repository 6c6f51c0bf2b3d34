//! Webhook delivery: one JSON POST per event over the project's hyper + rustls stack, with a
//! deadline over the whole exchange and a bounded answer. The URL is a secret (Slack's
//! carries its token in the path), so only its scheme and host ever reach a log line.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use wildcert_dns_http::proxy::ProxyConnector;

use super::{Failure, Payload};
use crate::config::{Secret, WebhookFormat};

/// How much of an answer is read (and then ignored): receivers answer `ok` or a short error.
const MAX_ANSWER: usize = 64 * 1024;

pub(super) struct Webhook {
    uri: Uri,
    format: WebhookFormat,
    timeout: Duration,
    client: Client<HttpsConnector<ProxyConnector>, Full<Bytes>>,
    proxy: ProxyConnector,
}

impl Webhook {
    pub(super) fn new(
        url: &Secret,
        format: WebhookFormat,
        extra_roots: Option<&Path>,
        timeout: Duration,
    ) -> Result<Webhook, String> {
        let uri: Uri = url.expose().trim().parse().map_err(|_| "not a valid URL".to_string())?;
        let tls = crate::acme::http::tls_config(extra_roots)?;
        let proxy = ProxyConnector::from_current()?.with_connect_timeout(timeout);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(proxy.clone());
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Webhook { uri, format, timeout, client, proxy })
    }

    /// `scheme://host[:port]`: all of the URL a log line may show.
    pub(super) fn target(&self) -> String {
        redacted(&self.uri)
    }

    pub(super) async fn post(&self, payload: &Payload) -> Result<(), Failure> {
        let body = serde_json::to_vec(&super::body(self.format, payload)).expect("payload serializes");
        let mut request = Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, concat!("wildcert/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Failure { detail: format!("cannot build the request: {e}"), retry: false })?;
        self.proxy.authorize(&mut request);
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| Failure {
                // hyper's errors name the failure (refused, TLS, DNS), never the URL.
                detail: error_chain(&e),
                retry: true,
            })?;
            let status = response.status();
            let _ = Limited::new(response.into_body(), MAX_ANSWER).collect().await;
            Ok::<_, Failure>(status)
        };
        let status = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(Failure {
                    detail: format!("no complete answer within {:?}", self.timeout),
                    retry: true,
                });
            }
        };
        if status.is_success() {
            return Ok(());
        }
        let retry = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        Err(Failure { detail: format!("answered HTTP {status}"), retry })
    }
}

/// `scheme://host[:port]` of `uri`.
pub(super) fn redacted(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let host = uri.host().unwrap_or("?");
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}")
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_and_host_are_shown() {
        let uri: Uri =
            "https://user:pw@hooks.slack.com/services/T000/B000/XXXXSECRET?token=abc".parse().unwrap();
        assert_eq!(redacted(&uri), "https://hooks.slack.com");
        let uri: Uri = "http://127.0.0.1:8080/hook".parse().unwrap();
        assert_eq!(redacted(&uri), "http://127.0.0.1:8080");
    }
}
