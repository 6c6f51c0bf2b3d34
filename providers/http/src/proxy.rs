//! Outbound proxies for every HTTP client wildcert has (the CA, ARI, the bucket, Route53, the
//! DNS APIs, webhooks): one resolution of `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` /
//! `NO_PROXY` (upper case first, then lower case, as curl reads them) or of the config's
//! `[network] proxy` / `no_proxy`, and one connector that applies it.
//!
//! - `https://` destinations go through an HTTP `CONNECT` tunnel; TLS still runs end to end,
//!   so the proxy sees only the host name and port.
//! - `http://` destinations are sent to the proxy in absolute form (`GET http://host/path`).
//! - Credentials in the proxy URL (`http://user:pass@proxy:3128`) become
//!   `Proxy-Authorization: Basic …` (a header marked sensitive); messages show the proxy
//!   without them.
//! - `NO_PROXY`: comma-separated host names (matching the name and its subdomains, a leading
//!   dot optional), IP addresses, CIDR ranges, `*` (everything), and any of these with
//!   `:port` to exempt only that port.
//! - Loopback is **not** exempt unless `NO_PROXY` names it, as with curl: a proxy set for the
//!   whole process applies to `127.0.0.1` too. Add `localhost,127.0.0.1,::1` to `NO_PROXY`
//!   for local services.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Uri};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where proxies come from: the raw URLs (which may hold credentials: never printed) and the
/// name of the setting each came from, for messages.
#[derive(Clone, Default)]
pub struct ProxySettings {
    http: Option<(String, String)>,
    https: Option<(String, String)>,
    no_proxy: String,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("http", &self.http.as_ref().map(|(url, from)| (redacted(url), from)))
            .field("https", &self.https.as_ref().map(|(url, from)| (redacted(url), from)))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// The first of `names` that is set (even to an empty value, which then disables it).
fn first_env(names: &[&'static str]) -> Option<(String, &'static str)> {
    names.iter().find_map(|name| std::env::var(name).ok().map(|value| (value, *name)))
}

impl ProxySettings {
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, each upper case before lower
    /// case. Under CGI (`REQUEST_METHOD` set) `HTTP_PROXY` is ignored: a client could set it
    /// through a `Proxy:` request header ("httpoxy").
    pub fn from_env() -> ProxySettings {
        let all = first_env(&["ALL_PROXY", "all_proxy"]);
        let https = first_env(&["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone());
        let http = if std::env::var_os("REQUEST_METHOD").is_some() {
            None
        } else {
            first_env(&["HTTP_PROXY", "http_proxy"]).or(all)
        };
        let keep = |v: Option<(String, &'static str)>| {
            v.filter(|(url, _)| !url.trim().is_empty())
                .map(|(url, from)| (url.trim().to_string(), from.to_string()))
        };
        ProxySettings {
            http: keep(http),
            https: keep(https),
            no_proxy: first_env(&["NO_PROXY", "no_proxy"]).map(|(v, _)| v).unwrap_or_default(),
        }
    }

    /// One proxy for `http://` and `https://` (the config's `[network] proxy`), with its own
    /// exemptions, else the environment's `NO_PROXY`.
    pub fn configured(proxy: &str, no_proxy: Option<&str>, setting: &str) -> ProxySettings {
        let proxy = Some((proxy.trim().to_string(), setting.to_string()));
        let no_proxy = match no_proxy {
            Some(list) => list.to_string(),
            None => first_env(&["NO_PROXY", "no_proxy"]).map(|(v, _)| v).unwrap_or_default(),
        };
        ProxySettings { http: proxy.clone(), https: proxy, no_proxy }
    }

    /// Checks the proxy URLs: `http://host:port` (a TLS or SOCKS proxy is not supported),
    /// with optional `user:password@`.
    pub fn validate(&self) -> Result<(), String> {
        for (url, from) in self.http.iter().chain(self.https.iter()) {
            check_proxy_url(url).map_err(|detail| format!("{from} = {}: {detail}", redacted(url)))?;
        }
        Ok(())
    }

    /// One line for operators (`config check`): which proxy serves which scheme, from which
    /// setting, and the exemptions; `None` without a proxy. Credentials are left out.
    pub fn describe(&self) -> Option<String> {
        if self.http.is_none() && self.https.is_none() {
            return None;
        }
        let show = |v: &Option<(String, String)>| match v {
            Some((url, from)) => format!("{} (from {from})", redacted(url)),
            None => "direct".into(),
        };
        let no = if self.no_proxy.trim().is_empty() { "none".to_string() } else { self.no_proxy.clone() };
        Some(format!(
            "proxy: https:// through {}, http:// through {}; no proxy for: {no} (loopback included only when listed)",
            show(&self.https),
            show(&self.http)
        ))
    }

    /// Checks the settings and builds the per-destination decision from them.
    pub fn resolver(&self) -> Result<Resolver, String> {
        self.validate()?;
        let mut builder = Matcher::builder();
        if let Some((url, _)) = &self.http {
            builder = builder.http(with_scheme(url));
        }
        if let Some((url, _)) = &self.https {
            builder = builder.https(with_scheme(url));
        }
        let (plain, with_port) = split_no_proxy(&self.no_proxy);
        let matcher = builder.no(plain.join(",")).build();
        let port_rules = with_port
            .into_iter()
            .map(|(host, port)| {
                let m =
                    Matcher::builder().http("http://0.0.0.0:1").https("http://0.0.0.0:1").no(host).build();
                (m, port)
            })
            .collect();
        Ok(Resolver {
            matcher,
            port_rules,
            http_from: self.http.as_ref().map(|(_, from)| from.clone()).unwrap_or_default(),
            https_from: self.https.as_ref().map(|(_, from)| from.clone()).unwrap_or_default(),
        })
    }
}

fn with_scheme(url: &str) -> String {
    if url.contains("://") { url.to_string() } else { format!("http://{url}") }
}

fn check_proxy_url(url: &str) -> Result<(), String> {
    let full = with_scheme(url);
    let uri: Uri = full.parse().map_err(|_| "not a URL; write http://host:port".to_string())?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "{other}:// proxies are not supported; use an http:// proxy (https:// destinations are tunnelled through it with CONNECT)"
            ));
        }
        None => return Err("not a URL; write http://host:port".into()),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => Err("no proxy host; write http://host:port".into()),
    }
}

/// The proxy URL without credentials, for messages.
pub fn redacted(url: &str) -> String {
    let full = with_scheme(url);
    match full.parse::<Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            let host = uri.host().unwrap_or("?");
            let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}://{host}{port}")
        }
        Err(_) => "(unparsable proxy URL)".into(),
    }
}

/// `NO_PROXY` entries without a port, and `(host, port)` for entries with one
/// (`host:8443`, `10.0.0.1:80`, `[::1]:9000`).
fn split_no_proxy(list: &str) -> (Vec<String>, Vec<(String, u16)>) {
    let mut plain = Vec::new();
    let mut ported = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let split = if let Some(rest) = entry.strip_prefix('[') {
            rest.split_once("]:").map(|(h, p)| (h.to_string(), p))
        } else if entry.matches(':').count() == 1 {
            entry.split_once(':').map(|(h, p)| (h.to_string(), p))
        } else {
            None
        };
        match split.and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p))) {
            Some((host, port)) => ported.push((host, port)),
            None => plain.push(entry.trim_start_matches('[').trim_end_matches(']').to_string()),
        }
    }
    (plain, ported)
}

/// Decides, per destination, whether and through which proxy to connect.
pub struct Resolver {
    matcher: Matcher,
    port_rules: Vec<(Matcher, u16)>,
    http_from: String,
    https_from: String,
}

/// The proxy a destination goes through.
pub struct Route {
    /// `http://host:port/` of the proxy, without credentials.
    pub proxy: Uri,
    /// `Proxy-Authorization` when the proxy URL had credentials (marked sensitive).
    pub auth: Option<HeaderValue>,
    /// The setting it came from (`HTTPS_PROXY`, `[network] proxy`, ...), for messages.
    pub setting: String,
}

impl Route {
    /// `http://proxy:3128 (from HTTPS_PROXY)`.
    pub fn describe(&self) -> String {
        let host = self.proxy.host().unwrap_or("?");
        let port = self.proxy.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
        format!("http://{host}{port} (from {})", self.setting)
    }
}

impl Resolver {
    /// No proxy at all.
    pub fn direct() -> Resolver {
        Resolver {
            matcher: Matcher::builder().build(),
            port_rules: Vec::new(),
            http_from: String::new(),
            https_from: String::new(),
        }
    }

    /// The proxy for `dst`, or `None` to connect directly (`no_proxy`, or no proxy set).
    pub fn route(&self, dst: &Uri) -> Option<Route> {
        let default_port = if dst.scheme_str() == Some("https") { 443 } else { 80 };
        let port = dst.port_u16().unwrap_or(default_port);
        if self.port_rules.iter().any(|(m, p)| *p == port && m.intercept(dst).is_none()) {
            return None;
        }
        let intercept = self.matcher.intercept(dst)?;
        let setting = if dst.scheme_str() == Some("https") { &self.https_from } else { &self.http_from };
        Some(Route {
            proxy: intercept.uri().clone(),
            auth: intercept.basic_auth().cloned(),
            setting: setting.clone(),
        })
    }
}

/// Proxy settings from the configuration (`[network]`), which replace the environment's for
/// every client built afterwards; `None` goes back to the environment. Set once when the
/// configuration is loaded (and again on reload).
static CONFIGURED: RwLock<Option<ProxySettings>> = RwLock::new(None);

/// Makes `settings` (from `[network]`) the ones every client built afterwards uses; `None`
/// returns to the environment's.
pub fn configure(settings: Option<ProxySettings>) {
    *CONFIGURED.write().unwrap_or_else(|e| e.into_inner()) = settings;
}

/// The configuration's proxy settings when it has any, else the environment's.
pub fn current() -> ProxySettings {
    CONFIGURED.read().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(ProxySettings::from_env)
}

/// Connects directly, or through the proxy the settings name for this destination.
#[derive(Clone)]
pub struct ProxyConnector {
    direct: HttpConnector,
    resolver: Arc<Resolver>,
}

impl ProxyConnector {
    /// A connector that asks `resolver` for each destination.
    pub fn new(resolver: Resolver) -> ProxyConnector {
        let mut direct = HttpConnector::new();
        direct.enforce_http(false);
        direct.set_nodelay(true);
        ProxyConnector { direct, resolver: Arc::new(resolver) }
    }

    /// The proxy settings in force (`current()`).
    pub fn from_current() -> Result<ProxyConnector, String> {
        Ok(ProxyConnector::new(current().resolver()?))
    }

    /// A deadline for each TCP connection (to the proxy or the destination).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> ProxyConnector {
        self.direct.set_connect_timeout(Some(timeout));
        self
    }

    /// The per-destination decisions it follows, for a caller that needs the route too.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Adds `Proxy-Authorization` to a plain `http://` request that goes to a proxy with
    /// credentials (a CONNECT tunnel carries them itself).
    pub fn authorize<B>(&self, request: &mut Request<B>) {
        if request.uri().scheme_str() != Some("http") {
            return;
        }
        if let Some(Route { auth: Some(auth), .. }) = self.resolver.route(request.uri()) {
            request.headers_mut().insert(http::header::PROXY_AUTHORIZATION, auth);
        }
    }
}

/// A TCP connection, marked as going to a proxy when `http://` requests on it must be sent
/// in absolute form.
pub struct ProxyStream {
    inner: TokioIo<TcpStream>,
    to_proxy: bool,
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.inner.connected().proxy(self.to_proxy)
    }
}

impl hyper::rt::Read for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ProxyStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An error and its sources on one line.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
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

impl Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<ProxyStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut direct = self.direct.clone();
        let route = self.resolver.route(&dst);
        Box::pin(async move {
            let Some(route) = route else {
                let inner = direct.call(dst).await?;
                return Ok(ProxyStream { inner, to_proxy: false });
            };
            let through = |e: &(dyn std::error::Error + 'static)| -> BoxError {
                format!("through the proxy {}: {}", route.describe(), chain(e)).into()
            };
            if dst.scheme_str() == Some("https") {
                let mut tunnel = Tunnel::new(route.proxy.clone(), direct);
                if let Some(auth) = &route.auth {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let inner = tunnel.call(dst).await.map_err(|e| through(&e))?;
                Ok(ProxyStream { inner, to_proxy: false })
            } else {
                let inner = direct.call(route.proxy.clone()).await.map_err(|e| through(&e))?;
                Ok(ProxyStream { inner, to_proxy: true })
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn settings(https: &str, http: &str, no: &str) -> ProxySettings {
        let s = |v: &str, from: &str| (!v.is_empty()).then(|| (v.to_string(), from.to_string()));
        ProxySettings { https: s(https, "HTTPS_PROXY"), http: s(http, "HTTP_PROXY"), no_proxy: no.into() }
    }

    fn routed(r: &Resolver, url: &str) -> Option<String> {
        r.route(&url.parse().unwrap()).map(|route| route.describe())
    }

    #[test]
    fn no_proxy_names_suffixes_ips_cidrs_ports_and_star() {
        let r = settings(
            "http://proxy:3128",
            "http://plain:8080",
            "skip.example, .internal.example,10.1.2.3, 192.168.0.0/16, svc.example:8443, [::1]:9000",
        )
        .resolver()
        .unwrap();
        assert_eq!(
            routed(&r, "https://api.example.com/").as_deref(),
            Some("http://proxy:3128 (from HTTPS_PROXY)")
        );
        assert_eq!(
            routed(&r, "http://api.example.com/").as_deref(),
            Some("http://plain:8080 (from HTTP_PROXY)")
        );
        for bypass in [
            "https://skip.example/",
            "https://a.skip.example/",
            "https://b.internal.example/",
            "https://10.1.2.3/",
            "http://192.168.4.5:9000/",
            "https://svc.example:8443/",
            "http://[::1]:9000/",
        ] {
            assert_eq!(routed(&r, bypass), None, "{bypass}");
        }
        for proxied in
            ["https://notskip.example/", "https://svc.example/", "https://10.1.2.4/", "http://[::1]:9001/"]
        {
            assert!(routed(&r, proxied).is_some(), "{proxied}");
        }
        // Loopback is proxied unless listed, as curl does.
        assert!(routed(&r, "https://127.0.0.1:14000/dir").is_some());
        let star = settings("http://proxy:3128", "", "*").resolver().unwrap();
        assert_eq!(routed(&star, "https://anything.example/"), None);
        let none = settings("", "", "").resolver().unwrap();
        assert_eq!(routed(&none, "https://anything.example/"), None);
    }

    #[test]
    fn configured_proxy_covers_both_schemes_and_bad_urls_name_the_setting() {
        let s = ProxySettings::configured(
            "http://u:secret@proxy.corp:3128",
            Some("localhost"),
            "[network] proxy",
        );
        let r = s.resolver().unwrap();
        let route = r.route(&"https://acme.example/dir".parse().unwrap()).unwrap();
        assert_eq!(route.describe(), "http://proxy.corp:3128 (from [network] proxy)");
        assert!(route.auth.unwrap().is_sensitive());
        assert!(r.route(&"http://s3.example/b".parse().unwrap()).is_some());
        assert!(r.route(&"https://localhost/".parse().unwrap()).is_none());
        assert!(!format!("{s:?}").contains("secret"), "{s:?}");
        let err = ProxySettings::configured("socks5://u:secret@p:1080", None, "[network] proxy")
            .validate()
            .unwrap_err();
        assert!(
            err.contains("[network] proxy") && err.contains("socks5") && !err.contains("secret"),
            "{err}"
        );
    }

    #[test]
    fn plain_http_through_a_proxy_gets_proxy_authorization() {
        let connector =
            ProxyConnector::new(settings("", "http://user:pw@127.0.0.1:9", "").resolver().unwrap());
        let mut request = Request::get("http://s3.example/bucket").body(()).unwrap();
        connector.authorize(&mut request);
        assert_eq!(request.headers()[http::header::PROXY_AUTHORIZATION], "Basic dXNlcjpwdw==");
        let mut request = Request::get("https://s3.example/bucket").body(()).unwrap();
        connector.authorize(&mut request);
        assert!(request.headers().get(http::header::PROXY_AUTHORIZATION).is_none());
    }

    /// An https:// request goes to the proxy as CONNECT host:443 with the proxy's
    /// credentials; a refused tunnel names the proxy and its setting, not the password.
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
        let connector = ProxyConnector::new(settings(&proxy_url, "", "skip.example").resolver().unwrap());
        let client = HttpClient::with_connector(Duration::from_secs(5), None, connector).unwrap();
        let request =
            http::Request::get("https://api.example.com/v2/domains").body(Full::new(Bytes::new())).unwrap();
        let err = client.send("test", request).await.unwrap_err().to_string();
        assert!(err.contains("through the proxy http://127.0.0.1:") && err.contains("HTTPS_PROXY"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
        let seen = proxy.await.unwrap();
        assert!(seen.starts_with("CONNECT api.example.com:443 HTTP/1.1"), "{seen}");
        assert!(seen.contains("Basic dXNlcjpwdw=="), "{seen}");
    }

    /// An http:// request goes to the proxy in absolute form, with Proxy-Authorization.
    #[tokio::test]
    async fn plain_http_goes_to_the_proxy_in_absolute_form() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://user:pw@{}", listener.local_addr().unwrap());
        let proxy = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        let connector = ProxyConnector::new(settings("", &proxy_url, "").resolver().unwrap());
        let client = HttpClient::with_connector(Duration::from_secs(5), None, connector).unwrap();
        let request = http::Request::get("http://dns-api.example:8081/zones?x=1")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.send("test", request).await.unwrap();
        assert_eq!(&response.body[..], b"ok");
        let seen = proxy.await.unwrap();
        assert!(seen.starts_with("GET http://dns-api.example:8081/zones?x=1 HTTP/1.1"), "{seen}");
        assert!(seen.to_ascii_lowercase().contains("proxy-authorization: basic dxnlcjpwdw=="), "{seen}");
    }
}
