//! The HTTPS client for the CA: the system's roots, or only `[acme] ca_certificates`, and a
//! timeout on every request (instant-acme's default client has none, so a CA that accepts
//! the connection and never answers would hang an order forever). The deadline covers the
//! whole answer, body included, and the body is size-limited: a CA that sends headers and
//! then stalls, or streams without end, fails the request instead of hanging the order.
//!
//! It also reads every response's `Retry-After` (instant-acme's errors do not carry the
//! headers): the value of the last response is kept for the task that made the request
//! (`capture_retry_after`), and the header instant-acme sees is bounded, since it adds the
//! value to the clock without checking (a huge value would panic).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Through the proxy in force (`[network] proxy`, else `HTTPS_PROXY`/`NO_PROXY`).
type Https = hyper_rustls::HttpsConnector<ProxyConnector>;
use wildcert_dns_http::proxy::ProxyConnector;

/// The largest Retry-After handed on to instant-acme; the scheduler caps its own copy at
/// `[daemon] retry_max` anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30 * 86_400);

tokio::task_local! {
    /// The Retry-After of the last response the current task received, if it had one.
    static LAST_RETRY_AFTER: std::cell::Cell<Option<Duration>>;
}

/// Runs `fut` remembering the Retry-After of each CA response it receives, so that an
/// error built right after a response can say how long the CA asked to wait.
pub async fn capture_retry_after<F: Future>(fut: F) -> F::Output {
    LAST_RETRY_AFTER.scope(std::cell::Cell::new(None), fut).await
}

/// The Retry-After of the last response within `capture_retry_after`; `None` outside it or
/// when that response had none.
pub fn last_retry_after() -> Option<Duration> {
    LAST_RETRY_AFTER.try_with(|c| c.get()).ok().flatten()
}

/// Parses a Retry-After value (RFC 9110: delay-seconds or an HTTP-date) as a delay from
/// `now`; a date in the past is zero, a number too large for `u64` is `Duration::MAX`.
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse::<u64>().map(Duration::from_secs).unwrap_or(Duration::MAX));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format).ok()?.assume_utc();
    Some((at - now).try_into().unwrap_or(Duration::ZERO))
}

/// Records the response's Retry-After for the task and bounds the header instant-acme reads.
fn note_retry_after(parts: &mut http::response::Parts) {
    let parsed = parts
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, time::OffsetDateTime::now_utc()));
    let _ = LAST_RETRY_AFTER.try_with(|c| c.set(parsed));
    match parsed {
        Some(delay) => {
            let bounded = delay.min(MAX_RETRY_AFTER).as_secs().to_string();
            parts.headers.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_str(&bounded).expect("digits are a valid header value"),
            );
        }
        None => {
            parts.headers.remove(http::header::RETRY_AFTER);
        }
    }
}

/// The largest answer read from the CA: a certificate chain or a directory is a few KiB.
const MAX_BODY: usize = 1024 * 1024;

/// An instant-acme HTTP client with bounded requests.
pub struct AcmeHttp {
    client: HyperClient<Https, BodyWrapper<Bytes>>,
    proxy: ProxyConnector,
    timeout: Duration,
    /// `[acme] allow_http`: plain `http://` to another host (loopback is always allowed).
    allow_http: bool,
}

/// Builds the rustls configuration: the PEM file's certificates when given (a private or
/// test CA), else the system's roots.
pub fn tls_config(extra_roots: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = extra_roots {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("ca_certificates {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("ca_certificates {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("ca_certificates {}: no PEM certificate in the file", path.display()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("ca_certificates {}: unusable certificate: {e}", path.display()))?;
        }
    }
    if extra_roots.is_none() {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
    }
    if roots.is_empty() {
        return Err(
            "no trusted root certificates: install the ca-certificates package or set [acme] ca_certificates"
                .into(),
        );
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl AcmeHttp {
    /// A client trusting `extra_roots` (`[acme] ca_certificates`) instead of the system's roots
    /// when given, with `timeout` per request (`[acme] request_timeout`) and the proxy
    /// in force (`[network] proxy`, else the environment).
    pub fn new(extra_roots: Option<&Path>, timeout: Duration) -> Result<AcmeHttp, String> {
        let proxy =
            ProxyConnector::from_current()?.with_connect_timeout(timeout.min(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(extra_roots)?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(proxy.clone());
        let client = HyperClient::builder(TokioExecutor::new()).build(https);
        Ok(AcmeHttp { client, proxy, timeout, allow_http: false })
    }

    /// Also talks plain `http://` to other hosts (`[acme] allow_http = true`).
    pub fn allowing_http(mut self, allow: bool) -> AcmeHttp {
        self.allow_http = allow;
        self
    }
}

/// Whether a request may go to `uri`: `https://`, or `http://` on loopback or when allowed.
/// Applies to every URL the CA hands out (order, authorization, certificate), not only the
/// directory the configuration names.
fn permitted(uri: &http::Uri, allow_http: bool) -> bool {
    match uri.scheme_str() {
        Some("https") => true,
        Some("http") => allow_http || uri.host().is_some_and(crate::config::transport::is_loopback_host),
        _ => false,
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        mut req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let timeout = self.timeout;
        let uri = req.uri().to_string();
        if !permitted(req.uri(), self.allow_http) {
            let refused = instant_acme::Error::Other(
                format!("refusing plain-HTTP URL {uri}: only https:// (or http:// on this host; [acme] allow_http = true for others)").into(),
            );
            return Box::pin(std::future::ready(Err(refused)));
        }
        self.proxy.authorize(&mut req);
        let fut = self.client.request(req);
        Box::pin(bounded(fut, uri, timeout, MAX_BODY))
    }
}

/// The whole answer (head and body) within `timeout`, with at most `limit` body bytes.
async fn bounded<B, E>(
    response: impl Future<Output = Result<http::Response<B>, E>>,
    uri: String,
    timeout: Duration,
    limit: usize,
) -> Result<BytesResponse, instant_acme::Error>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let whole = async {
        let response = response.await.map_err(|e| {
            let _ = LAST_RETRY_AFTER.try_with(|c| c.set(None));
            instant_acme::Error::Other(Box::new(e))
        })?;
        let (mut parts, body) = response.into_parts();
        note_retry_after(&mut parts);
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| instant_acme::Error::Other(format!("reading the answer from {uri}: {e}").into()))?;
        crate::progress::tick();
        Ok(BytesResponse { parts, body: Box::new(body.to_bytes()) })
    };
    match tokio::time::timeout(timeout, whole).await {
        Ok(result) => result,
        Err(_) => Err(instant_acme::Error::Other(
            format!("no complete answer from {uri} within {}s", timeout.as_secs()).into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    type Chunk = Result<Frame<Bytes>, std::io::Error>;

    fn answer(
        body: StreamBody<futures_util::stream::BoxStream<'static, Chunk>>,
    ) -> impl Future<
        Output = Result<
            http::Response<StreamBody<futures_util::stream::BoxStream<'static, Chunk>>>,
            std::io::Error,
        >,
    > {
        std::future::ready(Ok(http::Response::new(body)))
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        let uri = |u: &str| u.parse::<http::Uri>().unwrap();
        assert!(permitted(&uri("https://acme.example/dir"), false));
        assert!(permitted(&uri("http://127.0.0.1:14000/dir"), false));
        assert!(permitted(&uri("http://[::1]:14000/dir"), false));
        assert!(!permitted(&uri("http://acme.example/dir"), false));
        assert!(permitted(&uri("http://acme.example/dir"), true));
    }

    #[tokio::test]
    async fn a_body_that_stalls_after_the_headers_fails_within_the_deadline() {
        use futures_util::StreamExt;
        let first: Chunk = Ok(Frame::data(Bytes::from_static(b"{\"status\":")));
        let stalls = futures_util::stream::iter([first]).chain(futures_util::stream::pending()).boxed();
        let started = std::time::Instant::now();
        let result =
            bounded(answer(StreamBody::new(stalls)), "https://ca/x".into(), Duration::from_millis(200), 1024)
                .await;
        let err = result.err().expect("a stalled body fails").to_string();
        assert!(err.contains("no complete answer from https://ca/x"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_body_beyond_the_limit_is_refused() {
        use futures_util::StreamExt;
        let chunks: Vec<Chunk> = (0..10).map(|_| Ok(Frame::data(Bytes::from(vec![b'x'; 512])))).collect();
        let big = futures_util::stream::iter(chunks).boxed();
        let result =
            bounded(answer(StreamBody::new(big)), "https://ca/x".into(), Duration::from_secs(5), 1024).await;
        let err = result.err().expect("too large").to_string();
        assert!(err.contains("reading the answer from https://ca/x"), "{err}");

        let chunks: Vec<Chunk> = vec![Ok(Frame::data(Bytes::from_static(b"ok")))];
        let small = futures_util::stream::iter(chunks).boxed();
        let Ok(mut ok) =
            bounded(answer(StreamBody::new(small)), "https://ca/x".into(), Duration::from_secs(5), 1024)
                .await
        else {
            panic!("a small answer passes");
        };
        assert_eq!(ok.body.into_bytes().await.unwrap(), Bytes::from_static(b"ok"));
    }
}

/// `note_retry_after` for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn tests_note(parts: &mut http::response::Parts) {
    note_retry_after(parts)
}

#[cfg(test)]
mod retry_after_tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn retry_after_as_seconds_or_date_without_overflow() {
        let now = datetime!(2026-05-01 12:00 UTC);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("Fri, 01 May 2026 13:00:00 GMT", now), Some(Duration::from_secs(3600)));
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    proptest::proptest! {
        /// Whatever a CA sends, parsing and bounding it neither panics nor hands instant-acme
        /// more than `MAX_RETRY_AFTER`.
        #[test]
        fn any_retry_after_is_parsed_without_panic_and_bounded(value in "[0-9]{0,40}|[ -~]{0,40}") {
            let _ = parse_retry_after(&value, time::OffsetDateTime::now_utc());
            if let Ok(header) = http::HeaderValue::from_str(&value) {
                let (mut parts, ()) = http::Response::builder().body(()).unwrap().into_parts();
                parts.headers.insert(http::header::RETRY_AFTER, header);
                note_retry_after(&mut parts);
                if let Some(v) = parts.headers.get(http::header::RETRY_AFTER) {
                    let secs: u64 = v.to_str().unwrap().parse().unwrap();
                    proptest::prop_assert!(secs <= MAX_RETRY_AFTER.as_secs());
                }
            }
        }
    }

    #[test]
    fn the_header_instant_acme_reads_is_bounded() {
        let (mut parts, ()) = http::Response::builder()
            .header(http::header::RETRY_AFTER, "18446744073709551615")
            .body(())
            .unwrap()
            .into_parts();
        note_retry_after(&mut parts);
        assert_eq!(parts.headers[http::header::RETRY_AFTER], MAX_RETRY_AFTER.as_secs().to_string().as_str());
        let (mut parts, ()) = http::Response::builder()
            .header(http::header::RETRY_AFTER, "junk")
            .body(())
            .unwrap()
            .into_parts();
        note_retry_after(&mut parts);
        assert!(parts.headers.get(http::header::RETRY_AFTER).is_none());
    }

    #[tokio::test]
    async fn the_last_retry_after_is_kept_per_task() {
        assert_eq!(last_retry_after(), None);
        let seen = capture_retry_after(async {
            let (mut parts, ()) = http::Response::builder()
                .header(http::header::RETRY_AFTER, "7")
                .body(())
                .unwrap()
                .into_parts();
            note_retry_after(&mut parts);
            let first = last_retry_after();
            let (mut parts, ()) = http::Response::builder().body(()).unwrap().into_parts();
            note_retry_after(&mut parts);
            (first, last_retry_after())
        })
        .await;
        assert_eq!(seen, (Some(Duration::from_secs(7)), None));
    }
}
