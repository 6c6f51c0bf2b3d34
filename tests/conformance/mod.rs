//! The conformance suite every DNS adapter runs against its server (a real one, or a
//! contract fake of a third-party API): what `DnsProvider` promises, checked the same way
//! for all of them.
//!
//! - the apex's and the wildcard's values coexist at one name;
//! - cleanup removes only our value, and cleanup of an absent value succeeds;
//! - concurrent presents on one name all land;
//! - refused credentials are an `Auth` error that names the setting to fix;
//! - an API that answers 429/5xx is retried, and when it keeps doing so the error is
//!   transient;
//! - no secret appears in any log line (at trace level) or error message;
//! - an API that holds one TXT value per name refuses a second one and says why, and keeps
//!   the first.
//!
//! An adapter's test file builds a [`Subject`] and calls the checks that apply to it.

#![allow(dead_code)]

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};

use wildcert_dns_api::{DnsProvider, ProviderError, TxtRecord};

/// Reads the values the provider's server holds at a name (by `dig`, or from a fake's
/// state).
pub use super::support::fake_api::Reader;

/// One adapter under test.
pub struct Subject<P> {
    pub provider: P,
    /// A name inside the zone the adapter may write, with a trailing dot; the suite uses it
    /// and names below it.
    pub fqdn: String,
    /// The zone, as wildcert's SOA discovery would hand it over.
    pub zone: Option<String>,
    pub read: Reader,
    /// Every secret the adapter holds, to search logs and errors for.
    pub secrets: Vec<String>,
}

/// Log lines captured at trace level.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

tokio::task_local! {
    /// Where the events of the test task running under [`traced`] go.
    static CAPTURE: Captured;
}

/// Writes a formatted event into the capture of the task that emitted it.
struct TaskWriter;

impl Write for TaskWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = CAPTURE.try_with(|captured| captured.0.lock().unwrap().extend_from_slice(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One process-wide subscriber at trace level that keeps the events of tasks running under
/// [`traced`]. A scoped subscriber per test is not enough: tests of one binary run on
/// parallel threads, and a callsite first reached while no scoped subscriber was alive keeps
/// a cached "never" interest, so a test could capture nothing (seen on a loaded CI machine).
/// A global subscriber that never goes away leaves no such window.
fn install_capturing_subscriber() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Asked at every event (a plain `filter_fn` caches its first answer per callsite, and
        // a callsite first reached outside a captured task would then stay silent).
        let only_captured_tasks =
            tracing_subscriber::filter::dynamic_filter_fn(|_, _| CAPTURE.try_with(|_| ()).is_ok());
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(|| TaskWriter)
            .with_ansi(false)
            .with_filter(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_filter(only_captured_tasks);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in a test binary");
    });
}

/// Runs `work` with every tracing event it emits, at every level, captured.
pub async fn traced<T>(captured: &Captured, work: impl Future<Output = T>) -> T {
    install_capturing_subscriber();
    CAPTURE.scope(captured.clone(), work).await
}

pub fn record(fqdn: &str, zone: &Option<String>, value: &str) -> TxtRecord {
    TxtRecord { fqdn: fqdn.into(), zone: zone.clone(), value: value.into(), ttl: 60, raw: None }
}

fn assert_no_secret(subject_secrets: &[String], text: &str, what: &str) {
    for secret in subject_secrets {
        assert!(!secret.is_empty() && !text.contains(secret.as_str()), "a secret appears in {what}:\n{text}");
    }
}

/// Present/cleanup behaviour: coexistence, exact cleanup, absent cleanup, concurrency, and
/// no secret in the trace-level log of all of it.
pub async fn records<P: DnsProvider>(subject: &Subject<P>) {
    let captured = Captured::default();
    traced(&captured, records_inner(subject)).await;
    let log = captured.text();
    assert!(!log.is_empty(), "no log line was captured at trace level");
    assert_no_secret(&subject.secrets, &log, "the trace log");
}

async fn records_inner<P: DnsProvider>(subject: &Subject<P>) {
    let p = &subject.provider;
    let name = subject.fqdn.clone();
    let apex = record(&name, &subject.zone, "conformance-apex-value");
    let wildcard = record(&name, &subject.zone, "conformance-wildcard-value");

    // Apex and wildcard values coexist at one name.
    p.present(&apex).await.unwrap_or_else(|e| panic!("present apex: {e}"));
    p.present(&wildcard).await.unwrap_or_else(|e| panic!("present wildcard: {e}"));
    let values = (subject.read)(name.clone()).await;
    assert!(values.contains(&apex.value) && values.contains(&wildcard.value), "{values:?}");

    // Presenting a value again is harmless.
    p.present(&apex).await.unwrap_or_else(|e| panic!("present apex again: {e}"));

    // Cleanup removes only our value.
    p.cleanup(&apex).await.unwrap_or_else(|e| panic!("cleanup apex: {e}"));
    let values = (subject.read)(name.clone()).await;
    assert!(!values.contains(&apex.value), "{values:?}");
    assert!(values.contains(&wildcard.value), "cleanup took the other value: {values:?}");
    p.cleanup(&wildcard).await.unwrap_or_else(|e| panic!("cleanup wildcard: {e}"));
    let values = (subject.read)(name.clone()).await;
    assert!(!values.contains(&wildcard.value), "{values:?}");

    // Cleanup of an absent value succeeds.
    p.cleanup(&apex).await.unwrap_or_else(|e| panic!("cleanup of an absent value: {e}"));

    // Concurrent presents on one name all land, and concurrent cleanups remove them all.
    let many: Vec<TxtRecord> =
        (0..4).map(|i| record(&name, &subject.zone, &format!("conformance-concurrent-{i}"))).collect();
    let results = futures_util::future::join_all(many.iter().map(|r| p.present(r))).await;
    for result in results {
        result.unwrap_or_else(|e| panic!("concurrent present: {e}"));
    }
    let values = (subject.read)(name.clone()).await;
    for r in &many {
        assert!(values.contains(&r.value), "{} lost: {values:?}", r.value);
    }
    let results = futures_util::future::join_all(many.iter().map(|r| p.cleanup(r))).await;
    for result in results {
        result.unwrap_or_else(|e| panic!("concurrent cleanup: {e}"));
    }
    let values = (subject.read)(name.clone()).await;
    assert!(many.iter().all(|r| !values.contains(&r.value)), "{values:?}");
}

/// For an API that holds one TXT value per name (Bindman, Dode, DuckDNS), in place of
/// [`records`]: a second value at `name` is refused as `Rejected`, saying `refusal` and that
/// two certificates are at stake, and the first value stays; cleanup of the refused value
/// leaves ours; cleanup of ours empties the name and succeeds again once it is absent; the
/// name is then free for the next challenge. With `other` (a name in the same zone), a value
/// there is independent of all this. Returns the refusal's text and the trace-level log of
/// it all, for the caller's checks for secrets.
pub async fn one_value_per_name<P: DnsProvider>(
    p: &P,
    read: &Reader,
    name: &str,
    other: Option<&str>,
    refusal: &str,
) -> (String, String) {
    let apex = record(name, &None, "apex-value");
    let wildcard = record(name, &None, "wildcard-value");
    let other = other.map(|fqdn| record(fqdn, &None, "www-value"));
    let captured = Captured::default();
    let text = traced(&captured, async {
        p.present(&apex).await.unwrap();
        p.present(&apex).await.unwrap();
        let err = p.present(&wildcard).await.unwrap_err();
        assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(refusal) && text.contains("two certificates"), "{text}");
        assert_eq!(read(name.into()).await, ["apex-value"]);
        if let Some(other) = &other {
            // Another name is independent.
            p.present(other).await.unwrap();
            assert_eq!(read(other.fqdn.clone()).await, ["www-value"]);
        }
        p.cleanup(&wildcard).await.unwrap();
        assert_eq!(read(name.into()).await, ["apex-value"], "cleanup of a value that is not there took ours");
        p.cleanup(&apex).await.unwrap();
        assert!(read(name.into()).await.is_empty());
        if let Some(other) = &other {
            assert_eq!(read(other.fqdn.clone()).await, ["www-value"], "cleanup touched another name");
        }
        // Absent already: fine.
        p.cleanup(&apex).await.unwrap();
        if let Some(other) = &other {
            p.cleanup(other).await.unwrap();
        }
        // Free again: the next challenge may use the name.
        p.present(&wildcard).await.unwrap();
        p.cleanup(&wildcard).await.unwrap();
        text
    })
    .await;
    (text, captured.text())
}

/// An adapter holding wrong credentials reports `Auth` naming `setting`, without secrets.
pub async fn auth_failure<P: DnsProvider>(
    wrong: &P,
    fqdn: &str,
    zone: &Option<String>,
    setting: &str,
    secrets: &[String],
) {
    let captured = Captured::default();
    let err = traced(&captured, wrong.present(&record(fqdn, zone, "conformance-auth"))).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "not an auth error: {err}");
    let text = err.to_string();
    assert!(text.contains(setting), "the error does not name {setting}: {text}");
    assert!(!err.is_transient());
    assert_no_secret(secrets, &text, "the error");
    assert_no_secret(secrets, &captured.text(), "the trace log");
}

/// An HTTP proxy in front of an API that answers the first `fail` requests with `status`
/// (`Retry-After: 0`) and forwards the rest: proves that adapters retry and classify.
pub struct FaultProxy {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
    seen: Arc<Mutex<u32>>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// `upstream` is `host:port`; `fail` of `u32::MAX` never forwards.
    pub async fn start(upstream: String, fail: u32, status: u16) -> FaultProxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(0u32));
        let counter = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let upstream = upstream.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    if let Some(request) = super::support::read_http_request(&mut socket).await {
                        let n = {
                            let mut seen = counter.lock().unwrap();
                            *seen += 1;
                            *seen
                        };
                        if n <= fail {
                            let answer = format!(
                                "HTTP/1.1 {status} Busy\r\nRetry-After: 0\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy"
                            );
                            let _ = socket.write_all(answer.as_bytes()).await;
                            return;
                        }
                        // Forward with Connection: close and relay the whole answer.
                        let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else { return };
                        let raw = request.raw.replacen("\r\n", "\r\nConnection: close\r\n", 1);
                        let raw = raw.replace("Connection: keep-alive\r\n", "");
                        if up.write_all(raw.as_bytes()).await.is_err() {
                            return;
                        }
                        let mut answer = Vec::new();
                        let _ = up.read_to_end(&mut answer).await;
                        let _ = socket.write_all(&answer).await;
                    }
                });
            }
        });
        FaultProxy { url, task, seen }
    }

    /// Requests received so far.
    pub fn seen(&self) -> u32 {
        *self.seen.lock().unwrap()
    }
}

/// `through(proxy_url)` builds the adapter pointed at a proxy in front of its API: two busy
/// answers are retried through, and an API that stays busy gives a transient error.
pub async fn busy_is_retried<P: DnsProvider, F: Fn(&str) -> P>(
    through: F,
    upstream: &str,
    fqdn: &str,
    zone: &Option<String>,
) {
    for status in [429u16, 503] {
        let proxy = FaultProxy::start(upstream.to_string(), 2, status).await;
        let p = through(&proxy.url);
        let r = record(fqdn, zone, &format!("conformance-busy-{status}"));
        p.present(&r).await.unwrap_or_else(|e| panic!("two {status} answers were not retried: {e}"));
        assert!(proxy.seen() > 2, "the proxy saw {} requests", proxy.seen());
        p.cleanup(&r).await.unwrap_or_else(|e| panic!("cleanup after busy: {e}"));

        let stuck = FaultProxy::start(upstream.to_string(), u32::MAX, status).await;
        let err = through(&stuck.url).present(&r).await.unwrap_err();
        assert!(err.is_transient(), "HTTP {status} forever is not transient: {err}");
        assert!(stuck.seen() > 1, "HTTP {status} was not retried at all");
    }
}

/// A reader that asks a DNS server on loopback with `dig` (values unquoted).
pub fn dig_reader(port: u16) -> Reader {
    Box::new(move |name: String| {
        let out = std::process::Command::new("dig")
            .args(["+short", "+time=2", "+tries=1", "-p", &port.to_string(), "@127.0.0.1", "TXT", &name])
            .output()
            .unwrap();
        let values: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().trim_matches('"').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        Box::pin(async move { values })
    })
}

/// The capture sees an event whose callsite was first reached outside any capture (by
/// another test, or a background task): the filter must not cache its first answer.
#[tokio::test]
async fn capture_sees_a_callsite_first_reached_outside_it() {
    fn emit() {
        tracing::debug!("capture-probe-event");
    }
    install_capturing_subscriber();
    emit();
    let captured = Captured::default();
    traced(&captured, async { emit() }).await;
    assert!(captured.text().contains("capture-probe-event"), "{}", captured.text());
}
