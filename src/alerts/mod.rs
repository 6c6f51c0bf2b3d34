//! Telling a person (`[notify]`): a failed renewal, a certificate close to expiry, an order
//! ceiling that stopped new orders, and (opt-in) a renewal. Since 2025 Let's Encrypt sends
//! no expiry e-mails, so without metrics this is how a failing host gets noticed.
//!
//! Events go to webhooks (JSON, or Slack's `{"text"}`) and/or a command, in the background:
//! `send` never waits, a full queue drops the event (logged), and every delivery is retried
//! with backoff a bounded number of times. Webhook URLs carry secrets, so logs name only
//! their scheme and host. (systemd's `sd_notify` is `daemon::notify`, unrelated.)

mod command;
mod webhook;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::config::{Config, ConfigError, WebhookFormat, read_secret};
use crate::plan;

/// Events waiting for delivery; beyond this, new ones are dropped (and logged).
const QUEUE: usize = 64;
/// Deliveries (event × destination) in flight at once; beyond this, new ones are dropped.
const IN_FLIGHT: usize = 32;
/// Waits before the 2nd, 3rd, ... attempt of one delivery.
const BACKOFF: [Duration; 4] =
    [Duration::from_secs(2), Duration::from_secs(10), Duration::from_secs(60), Duration::from_secs(300)];
/// An expiry warning is repeated at most this often per certificate.
const EXPIRY_REPEAT: time::Duration = time::Duration::DAY;

/// Something a person should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A renewal attempt failed; `attempts` failures in a row so far.
    RenewalFailed {
        /// The `[[certificate]] name` the event is about.
        certificate: String,
        /// The error that stopped the renewal, as logged (never a secret).
        cause: String,
        /// Failures in a row, counting this one.
        attempts: u32,
        /// When the scheduler tries again (after backoff).
        next_attempt: OffsetDateTime,
        /// When the certificate in use expires, if there is one: how much time is left to fix it.
        not_after: Option<OffsetDateTime>,
    },
    /// The certificate in use expires within `warn_before` (or has expired) and nothing
    /// replaced it. `supplied`: a `source = "files"` certificate, which only a person renews.
    ExpiresSoon {
        /// The `[[certificate]] name` the event is about.
        certificate: String,
        /// When the certificate in use expires: how urgent the event is.
        not_after: OffsetDateTime,
        /// Whether it is a `source = "files"` certificate, which only a person can renew.
        supplied: bool,
    },
    /// The per-certificate order ceiling tripped: `orders` new orders within `window`; no new
    /// order before `resume_at`.
    OrderCeiling {
        /// The `[[certificate]] name` the event is about.
        certificate: String,
        /// New orders counted within the window (`[daemon] max_orders` reached).
        orders: u32,
        /// The ceiling's window (`[daemon] orders_window`).
        window: Duration,
        /// When the ceiling allows the next new order.
        resume_at: OffsetDateTime,
        /// When the certificate in use expires, if there is one.
        not_after: Option<OffsetDateTime>,
    },
    /// A new certificate was stored (sent only with `on_renewed = true`).
    Renewed {
        /// The `[[certificate]] name` the event is about.
        certificate: String,
        /// Expiry of the new certificate.
        not_after: OffsetDateTime,
        /// Serial of the new certificate, to match it with what servers present.
        serial: String,
    },
}

/// The JSON object a `format = "json"` webhook receives (and, as `WILDCERT_*` variables, the
/// command). Optional fields are `null` when they do not apply to the event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payload {
    /// `renewal_failed`, `expires_soon`, `order_ceiling` or `renewed`.
    pub event: String,
    /// The `[[certificate]] name` the event is about.
    pub certificate: String,
    /// One sentence for a person.
    pub message: String,
    /// `renewal_failed`: the error that stopped the renewal.
    pub cause: Option<String>,
    /// `renewal_failed`: failures in a row so far.
    pub attempts: Option<u32>,
    /// RFC 3339.
    pub next_attempt: Option<String>,
    /// RFC 3339: when the certificate in use expires.
    pub not_after: Option<String>,
    /// The host that sends it (`WILDCERT_HOSTNAME` or the system's name).
    pub host: String,
}

impl Event {
    /// The `event` field's value, stable for receivers that filter on it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RenewalFailed { .. } => "renewal_failed",
            Event::ExpiresSoon { .. } => "expires_soon",
            Event::OrderCeiling { .. } => "order_ceiling",
            Event::Renewed { .. } => "renewed",
        }
    }

    /// The certificate the event is about, for the payload and log lines.
    pub fn certificate(&self) -> &str {
        match self {
            Event::RenewalFailed { certificate, .. }
            | Event::ExpiresSoon { certificate, .. }
            | Event::OrderCeiling { certificate, .. }
            | Event::Renewed { certificate, .. } => certificate,
        }
    }

    /// The event as delivered, with `now` for "expires in N days".
    pub fn payload(&self, host: &str, now: OffsetDateTime) -> Payload {
        let stamp = |t: &OffsetDateTime| plan::stamp(*t);
        let mut p = Payload {
            event: self.kind().into(),
            certificate: self.certificate().into(),
            message: String::new(),
            cause: None,
            attempts: None,
            next_attempt: None,
            not_after: None,
            host: host.into(),
        };
        match self {
            Event::RenewalFailed { certificate, cause, attempts, next_attempt, not_after } => {
                p.message = format!(
                    "renewal of certificate {certificate} failed ({attempts} failure(s) in a row); next attempt {}{}: {cause}",
                    stamp(next_attempt),
                    not_after
                        .map(|t| format!("; the current certificate expires {}", stamp(&t)))
                        .unwrap_or_default()
                );
                p.cause = Some(cause.clone());
                p.attempts = Some(*attempts);
                p.next_attempt = Some(stamp(next_attempt));
                p.not_after = not_after.as_ref().map(stamp);
            }
            Event::ExpiresSoon { certificate, not_after, supplied } => {
                let left = *not_after - now;
                let when = if left <= time::Duration::ZERO {
                    format!("EXPIRED at {}", stamp(not_after))
                } else {
                    format!("expires {} (in {} day(s))", stamp(not_after), left.whole_days())
                };
                let what = if *supplied {
                    "it is supplied (source = \"files\") and only renewed when its files are replaced"
                } else {
                    "no renewal has succeeded; see `wildcert status`"
                };
                p.message = format!("certificate {certificate} {when}; {what}");
                p.not_after = Some(stamp(not_after));
            }
            Event::OrderCeiling { certificate, orders, window, resume_at, not_after } => {
                p.message = format!(
                    "no new order for certificate {certificate} until {}: {orders} orders within {}h reached the ceiling",
                    stamp(resume_at),
                    window.as_secs() / 3600
                );
                p.cause = Some(format!("order ceiling: {orders} orders within {}s", window.as_secs()));
                p.next_attempt = Some(stamp(resume_at));
                p.not_after = not_after.as_ref().map(stamp);
            }
            Event::Renewed { certificate, not_after, serial } => {
                p.message = format!(
                    "certificate {certificate} renewed (serial {serial}), valid until {}",
                    stamp(not_after)
                );
                p.not_after = Some(stamp(not_after));
            }
        }
        p
    }
}

/// Where events go; built once per command from `[notify]`.
enum Destination {
    Webhook(Box<webhook::Webhook>),
    Command { command: String, timeout: Duration },
}

impl Destination {
    fn label(&self) -> String {
        match self {
            Destination::Webhook(w) => format!("webhook {}", w.target()),
            Destination::Command { .. } => "notify command".into(),
        }
    }

    async fn deliver(&self, payload: &Payload) -> Result<(), Failure> {
        match self {
            Destination::Webhook(w) => w.post(payload).await,
            Destination::Command { command, timeout } => command::run(command, payload, *timeout).await,
        }
    }
}

/// Why one delivery attempt failed; `retry` false when trying again cannot help.
#[derive(Debug)]
pub(crate) struct Failure {
    detail: String,
    retry: bool,
}

enum Msg {
    Event(Event),
    Finish(oneshot::Sender<()>),
}

/// The handle commands and the daemon send events through. Cheap to clone; a handle
/// without destinations does nothing.
#[derive(Clone)]
pub struct Alerts {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    on_renewed: bool,
    warn_before: Duration,
    state_dir: PathBuf,
}

impl Alerts {
    /// Nothing configured: every call is a no-op.
    pub fn disabled() -> Alerts {
        Alerts { inner: None }
    }

    /// Reads the webhook URLs (secrets), checks them and starts the delivery task. Must run
    /// inside the runtime.
    pub fn start(config: &Config) -> Result<Alerts, ConfigError> {
        let notify = &config.notify;
        if !notify.is_enabled() {
            return Ok(Alerts::disabled());
        }
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: config.path.clone(),
            line: None,
            key,
            message,
        };
        let mut destinations = Vec::new();
        for (i, hook) in notify.webhooks.iter().enumerate() {
            let key = format!("notify.webhook[{i}].url");
            let url =
                read_secret(&hook.url_keys(), "url", &mut Vec::new()).map_err(|m| invalid(key.clone(), m))?;
            crate::config::transport::check(url.expose(), hook.allow_http, &key)
                .map_err(|m| invalid(key.clone(), m))?;
            let w = webhook::Webhook::new(&url, hook.format, hook.ca_certificates.as_deref(), hook.timeout)
                .map_err(|m| invalid(key.clone(), m))?;
            destinations.push(Destination::Webhook(Box::new(w)));
        }
        if let Some(command) = &notify.command {
            destinations
                .push(Destination::Command { command: command.clone(), timeout: notify.command_timeout });
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(worker(rx, Arc::new(destinations)));
        Ok(Alerts {
            inner: Some(Arc::new(Inner {
                tx,
                on_renewed: notify.on_renewed,
                warn_before: notify.warn_before,
                state_dir: config.storage.state_dir.clone(),
            })),
        })
    }

    /// Queues `event` for delivery without waiting. `Renewed` is sent only with
    /// `on_renewed = true`.
    pub fn send(&self, event: Event) {
        let Some(inner) = &self.inner else { return };
        if matches!(event, Event::Renewed { .. }) && !inner.on_renewed {
            return;
        }
        let (kind, cert) = (event.kind(), event.certificate().to_string());
        if inner.tx.try_send(Msg::Event(event)).is_err() {
            tracing::warn!(cert = %cert, event = kind, "too many notifications queued; dropping this one");
        }
    }

    /// Sends an expiry warning when `not_after` is within `warn_before` of `now`, at most
    /// once a day per certificate (remembered in `<state_dir>/alerts/<name>.json`). The
    /// certificate's `source` decides the advice: a supplied one only a person renews.
    pub fn check_expiry(
        &self,
        certificate: &str,
        not_after: Option<OffsetDateTime>,
        source: crate::config::Source,
        now: OffsetDateTime,
    ) {
        let supplied = source == crate::config::Source::Files;
        let (Some(inner), Some(not_after)) = (&self.inner, not_after) else { return };
        let Ok(warn_before) = time::Duration::try_from(inner.warn_before) else { return };
        if not_after - now > warn_before {
            return;
        }
        let mut memory = Memory::load(&inner.state_dir, certificate);
        if memory.expiry_warned_at.is_some_and(|at| now - at < EXPIRY_REPEAT && at <= now) {
            return;
        }
        memory.expiry_warned_at = Some(now);
        if let Err(e) = memory.save(&inner.state_dir, certificate) {
            tracing::warn!(cert = certificate, error = %e, "cannot remember the expiry warning; it may repeat");
        }
        self.send(Event::ExpiresSoon { certificate: certificate.into(), not_after, supplied });
    }

    /// A `renewal_failed` event for `cert`, with the attempt count its state now holds and
    /// the expiry of the certificate still in use; an `order_ceiling` event instead when the
    /// order ceiling held the certificate back.
    pub async fn renewal_failed(
        &self,
        ctx: &crate::renewal::Session<'_>,
        cert: &crate::config::CertificateConfig,
        error: &crate::renewal::Error,
        next_attempt: OffsetDateTime,
    ) {
        if self.inner.is_none() {
            return;
        }
        if let Some(tripped) = error.ceiling_tripped() {
            self.send(Event::OrderCeiling {
                certificate: cert.name.clone(),
                orders: u32::try_from(tripped.recent).unwrap_or(u32::MAX),
                window: ctx.config.daemon.orders_window,
                resume_at: tripped.until,
                not_after: ctx.current_info(&cert.name).await.map(|i| i.not_after),
            });
            return;
        }
        let attempts = crate::state::load(&ctx.config.storage.state_dir, &cert.name).failures.max(1);
        self.send(Event::RenewalFailed {
            certificate: cert.name.clone(),
            cause: crate::error_chain::message(error),
            attempts,
            next_attempt,
            not_after: ctx.current_info(&cert.name).await.map(|i| i.not_after),
        });
    }

    /// Expiry warnings for `certs`, from the certificate each one uses now (the bucket's
    /// current version, else the local copy).
    pub async fn check_expiry_all(
        &self,
        ctx: &crate::renewal::Session<'_>,
        certs: &[&crate::config::CertificateConfig],
    ) {
        if self.inner.is_none() {
            return;
        }
        for cert in certs {
            let not_after = ctx.current_info(&cert.name).await.map(|i| i.not_after);
            self.check_expiry(&cert.name, not_after, cert.source, OffsetDateTime::now_utc());
        }
    }

    /// Waits up to `grace` for queued and in-flight deliveries (a one-shot command calls
    /// this before exiting; what is still unsent then is dropped, and logged).
    pub async fn finish(&self, grace: Duration) {
        let Some(inner) = &self.inner else { return };
        let (done_tx, done_rx) = oneshot::channel();
        let wait = async {
            if inner.tx.send(Msg::Finish(done_tx)).await.is_ok() {
                let _ = done_rx.await;
            }
        };
        if tokio::time::timeout(grace, wait).await.is_err() {
            tracing::warn!(waited = ?grace, "exiting with notifications still undelivered");
        }
    }
}

async fn worker(mut rx: mpsc::Receiver<Msg>, destinations: Arc<Vec<Destination>>) {
    let host = crate::store::layout::host_name();
    let mut deliveries = JoinSet::new();
    while let Some(msg) = rx.recv().await {
        while deliveries.try_join_next().is_some() {}
        match msg {
            Msg::Event(event) => {
                let payload = event.payload(&host, OffsetDateTime::now_utc());
                for index in 0..destinations.len() {
                    if deliveries.len() >= IN_FLIGHT {
                        tracing::warn!(cert = %payload.certificate, event = %payload.event, "too many notifications in flight; dropping one");
                        continue;
                    }
                    let (destinations, payload) = (destinations.clone(), payload.clone());
                    deliveries.spawn(async move { deliver(&destinations[index], &payload).await });
                }
            }
            Msg::Finish(done) => {
                while deliveries.join_next().await.is_some() {}
                let _ = done.send(());
            }
        }
    }
    // Every handle is gone (a reload replaced them): finish what is under way.
    while deliveries.join_next().await.is_some() {}
}

/// One event to one destination, retried with backoff.
async fn deliver(destination: &Destination, payload: &Payload) {
    let label = destination.label();
    let mut waits = BACKOFF.iter();
    for attempt in 1.. {
        match destination.deliver(payload).await {
            Ok(()) => {
                tracing::info!(cert = %payload.certificate, event = %payload.event, to = %label, "notification sent");
                return;
            }
            Err(f) => match waits.next().filter(|_| f.retry) {
                Some(wait) => {
                    tracing::warn!(cert = %payload.certificate, event = %payload.event, to = %label, error = %f.detail, retry_in = ?wait, "notification failed; will retry");
                    tokio::time::sleep(*wait).await;
                }
                None => {
                    tracing::error!(cert = %payload.certificate, event = %payload.event, to = %label, error = %f.detail, attempts = attempt, "notification could not be delivered");
                    return;
                }
            },
        }
    }
}

/// What the alerts remember per certificate between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Memory {
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    expiry_warned_at: Option<OffsetDateTime>,
}

impl Memory {
    fn path(state_dir: &Path, name: &str) -> PathBuf {
        state_dir.join("alerts").join(format!("{name}.json"))
    }

    fn load(state_dir: &Path, name: &str) -> Memory {
        std::fs::read(Memory::path(state_dir, name))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, state_dir: &Path, name: &str) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        Ok(crate::private_file::write_private_atomic(&Memory::path(state_dir, name), &bytes)?)
    }
}

/// The body a webhook of `format` receives.
pub fn body(format: WebhookFormat, payload: &Payload) -> serde_json::Value {
    match format {
        WebhookFormat::Json => serde_json::to_value(payload).expect("payload serializes"),
        WebhookFormat::Slack => serde_json::json!({
            "text": format!("wildcert on {}: {}", payload.host, payload.message),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn failed() -> Event {
        Event::RenewalFailed {
            certificate: "gradient".into(),
            cause: "DNS provider office unreachable".into(),
            attempts: 3,
            next_attempt: datetime!(2026-01-02 03:04:05 UTC),
            not_after: Some(datetime!(2026-01-20 00:00:00 UTC)),
        }
    }

    #[test]
    fn json_payload_names_every_field() {
        let p = failed().payload("web-1", datetime!(2026-01-01 00:00:00 UTC));
        let v = body(WebhookFormat::Json, &p);
        assert_eq!(v["event"], "renewal_failed");
        assert_eq!(v["certificate"], "gradient");
        assert_eq!(v["cause"], "DNS provider office unreachable");
        assert_eq!(v["attempts"], 3);
        assert_eq!(v["next_attempt"], "2026-01-02T03:04:05Z");
        assert_eq!(v["not_after"], "2026-01-20T00:00:00Z");
        assert_eq!(v["host"], "web-1");
        assert!(v["message"].as_str().unwrap().contains("unreachable"), "{v}");
    }

    #[test]
    fn slack_payload_is_one_text_field() {
        let p = failed().payload("web-1", datetime!(2026-01-01 00:00:00 UTC));
        let v = body(WebhookFormat::Slack, &p);
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 1);
        assert!(
            obj["text"]
                .as_str()
                .unwrap()
                .starts_with("wildcert on web-1: renewal of certificate gradient failed")
        );
    }

    #[test]
    fn expiry_and_ceiling_messages() {
        let now = datetime!(2026-01-01 00:00:00 UTC);
        let p = Event::ExpiresSoon {
            certificate: "legacy".into(),
            not_after: now + time::Duration::days(5),
            supplied: true,
        }
        .payload("h", now);
        assert!(p.message.contains("in 5 day(s)") && p.message.contains("files"), "{}", p.message);
        let p = Event::OrderCeiling {
            certificate: "g".into(),
            orders: 3,
            window: Duration::from_secs(86_400),
            resume_at: now + time::Duration::hours(7),
            not_after: None,
        }
        .payload("h", now);
        assert_eq!(p.event, "order_ceiling");
        assert_eq!(p.next_attempt.as_deref(), Some("2026-01-01T07:00:00Z"));
    }

    #[tokio::test]
    async fn expiry_warning_at_most_once_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let alerts = Alerts {
            inner: Some(Arc::new(Inner {
                tx,
                on_renewed: false,
                warn_before: Duration::from_secs(14 * 86_400),
                state_dir: dir.path().to_path_buf(),
            })),
        };
        let now = datetime!(2026-01-01 00:00:00 UTC);
        let soon = Some(now + time::Duration::days(3));
        alerts.check_expiry("g", Some(now + time::Duration::days(30)), crate::config::Source::Acme, now);
        alerts.check_expiry("g", soon, crate::config::Source::Acme, now);
        alerts.check_expiry("g", soon, crate::config::Source::Acme, now + time::Duration::hours(23));
        alerts.check_expiry("g", soon, crate::config::Source::Acme, now + time::Duration::hours(25));
        alerts.send(Event::Renewed { certificate: "g".into(), not_after: now, serial: "1".into() });
        drop(alerts);
        let mut kinds = Vec::new();
        while let Some(Msg::Event(e)) = rx.recv().await {
            kinds.push(e.kind());
        }
        assert_eq!(kinds, ["expires_soon", "expires_soon"]);
    }

    /// A receiver that answers each connection with the next status of `statuses`, counting
    /// the requests it read.
    async fn receiver(statuses: Vec<u16>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/SECRET", listener.local_addr().unwrap());
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            for status in statuses {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buf).await;
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (url, count)
    }

    fn hook(url: &str) -> Destination {
        let w = webhook::Webhook::new(&Secret::new(url), WebhookFormat::Json, None, Duration::from_secs(5))
            .unwrap();
        Destination::Webhook(Box::new(w))
    }

    use crate::config::Secret;

    #[tokio::test]
    async fn a_failed_delivery_is_retried_after_a_backoff() {
        let (url, count) = receiver(vec![503, 200]).await;
        let payload = failed().payload("h", OffsetDateTime::now_utc());
        let started = std::time::Instant::now();
        deliver(&hook(&url), &payload).await;
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(started.elapsed() >= BACKOFF[0], "waited {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_refused_delivery_is_not_retried() {
        let (url, count) = receiver(vec![400, 200]).await;
        let payload = failed().payload("h", OffsetDateTime::now_utc());
        deliver(&hook(&url), &payload).await;
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
