//! Prometheus metrics and `/healthz` on `[daemon] metrics_listen`: a tiny HTTP/1.1 server
//! (GET only, one response per connection), enough for a scraper and a load balancer check.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Upper bounds (seconds) of the order duration histogram.
const ORDER_BUCKETS: [f64; 9] = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// What the metrics endpoint shows for one certificate (label `cert`); the daemon updates it
/// after every plan and every renewal attempt.
#[derive(Debug, Clone, Default)]
pub struct CertMetrics {
    /// Expiry of the installed certificate (`wildcert_certificate_not_after_seconds`): alert on it.
    pub not_after: Option<OffsetDateTime>,
    /// When the plan renews next (`wildcert_certificate_next_renewal_seconds`).
    pub next_renewal: Option<OffsetDateTime>,
    /// Last renewal that stored a certificate (`wildcert_renewal_last_success_seconds`).
    pub last_success: Option<OffsetDateTime>,
    /// Failed attempts since the last success (`wildcert_renewal_consecutive_failures`).
    pub consecutive_failures: u32,
    /// Failed attempts since start (`wildcert_renewal_failures_total`).
    pub failures_total: u64,
    /// Certificates stored since start (`wildcert_renewals_total`).
    pub renewals_total: u64,
    /// Deploy hooks that failed after a store (`wildcert_deploy_hook_failures_total`).
    pub hook_failures_total: u64,
    /// Times the order ceiling held a due certificate back.
    pub ceiling_trips_total: u64,
    /// When the order ceiling allows the next order, while it holds orders back.
    pub orders_blocked_until: Option<OffsetDateTime>,
    /// New orders inside the ceiling's window.
    pub recent_orders: u32,
}

#[derive(Debug, Default)]
struct Inner {
    certs: BTreeMap<String, CertMetrics>,
    order_buckets: [u64; ORDER_BUCKETS.len()],
    order_count: u64,
    order_sum: f64,
    last_loop: Option<OffsetDateTime>,
}

/// Shared between the daemon loop (writer) and the HTTP server (reader).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

impl Metrics {
    /// Changes the metrics of certificate `name` (created on first use) under the lock.
    pub fn update(&self, name: &str, f: impl FnOnce(&mut CertMetrics)) {
        let mut inner = self.inner.lock().expect("metrics lock");
        f(inner.certs.entry(name.to_string()).or_default());
    }

    /// Forgets certificates no longer configured (after a reload).
    pub fn retain(&self, names: &[&str]) {
        self.inner.lock().expect("metrics lock").certs.retain(|k, _| names.contains(&k.as_str()));
    }

    /// Records one order's duration, from new order to stored certificate, in the histogram.
    pub fn observe_order(&self, seconds: f64) {
        let mut inner = self.inner.lock().expect("metrics lock");
        for (i, bound) in ORDER_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                inner.order_buckets[i] += 1;
            }
        }
        inner.order_count += 1;
        inner.order_sum += seconds;
    }

    /// Records that a daemon round finished at `now`; `/healthz` judges liveness by it.
    pub fn loop_ran(&self, now: OffsetDateTime) {
        self.inner.lock().expect("metrics lock").last_loop = Some(now);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        let ts = |t: &Option<OffsetDateTime>| t.map(|t| t.unix_timestamp() as f64);
        let gauge =
            |out: &mut String, name: &str, help: &str, kind: &str, values: Vec<(&String, Option<f64>)>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (cert, v) in values {
                    if let Some(v) = v {
                        let _ = writeln!(out, "{name}{{cert=\"{}\"}} {v}", escape(cert));
                    }
                }
            };
        let certs: Vec<(&String, &CertMetrics)> = inner.certs.iter().collect();
        gauge(
            &mut out,
            "wildcert_certificate_not_after_seconds",
            "Expiry of the stored certificate (Unix time).",
            "gauge",
            certs.iter().map(|(n, m)| (*n, ts(&m.not_after))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_certificate_next_renewal_seconds",
            "Planned next renewal attempt (Unix time).",
            "gauge",
            certs.iter().map(|(n, m)| (*n, ts(&m.next_renewal))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_renewal_last_success_seconds",
            "Last successful renewal or import (Unix time).",
            "gauge",
            certs.iter().map(|(n, m)| (*n, ts(&m.last_success))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_renewal_consecutive_failures",
            "Failed renewal attempts in a row.",
            "gauge",
            certs.iter().map(|(n, m)| (*n, Some(m.consecutive_failures as f64))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_renewals_total",
            "Certificates obtained since start.",
            "counter",
            certs.iter().map(|(n, m)| (*n, Some(m.renewals_total as f64))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_renewal_failures_total",
            "Failed renewal attempts since start.",
            "counter",
            certs.iter().map(|(n, m)| (*n, Some(m.failures_total as f64))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_deploy_hook_failures_total",
            "Failed deploy hooks since start.",
            "counter",
            certs.iter().map(|(n, m)| (*n, Some(m.hook_failures_total as f64))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_order_ceiling_trips_total",
            "Times the order ceiling held a due certificate back since start.",
            "counter",
            certs.iter().map(|(n, m)| (*n, Some(m.ceiling_trips_total as f64))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_orders_recent",
            "New orders within the order ceiling's window ([daemon] orders_window).",
            "gauge",
            certs.iter().map(|(n, m)| (*n, Some(m.recent_orders as f64))).collect(),
        );
        gauge(
            &mut out,
            "wildcert_order_ceiling_until_seconds",
            "While the order ceiling holds orders back: when it allows the next (Unix time).",
            "gauge",
            certs.iter().map(|(n, m)| (*n, ts(&m.orders_blocked_until))).collect(),
        );
        let _ = writeln!(
            out,
            "# HELP wildcert_order_duration_seconds Time from new order to stored certificate.\n# TYPE wildcert_order_duration_seconds histogram"
        );
        for (i, bound) in ORDER_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "wildcert_order_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                inner.order_buckets[i]
            );
        }
        let _ = writeln!(out, "wildcert_order_duration_seconds_bucket{{le=\"+Inf\"}} {}", inner.order_count);
        let _ = writeln!(out, "wildcert_order_duration_seconds_sum {}", inner.order_sum);
        let _ = writeln!(out, "wildcert_order_duration_seconds_count {}", inner.order_count);
        let _ = writeln!(
            out,
            "# HELP wildcert_build_info Version of the running wildcert.\n# TYPE wildcert_build_info gauge\nwildcert_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }

    /// Healthy when the loop ran recently and no certificate is expired.
    fn health(&self, stale_after: time::Duration) -> (bool, String) {
        let inner = self.inner.lock().expect("metrics lock");
        let now = OffsetDateTime::now_utc();
        let mut problems = Vec::new();
        match inner.last_loop {
            Some(t) if now - t <= stale_after => {}
            Some(t) => problems.push(format!("the renewal loop last ran at {t}")),
            None => problems.push("the renewal loop has not run yet".into()),
        }
        for (name, m) in &inner.certs {
            if m.not_after.is_some_and(|t| t <= now) {
                problems.push(format!("{name}: certificate expired"));
            }
        }
        if problems.is_empty() { (true, "ok\n".into()) } else { (false, problems.join("\n") + "\n") }
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Binds and serves until the task is dropped. Binding errors are returned (the daemon fails
/// to start rather than running without the metrics it was told to serve).
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    stale_after: time::Duration,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics and /healthz");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                // Read the request head (up to 8 KiB), then answer.
                let mut buf = Vec::with_capacity(1024);
                let head = async {
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                };
                if tokio::time::timeout(std::time::Duration::from_secs(5), head).await.is_err() {
                    return;
                }
                let request = String::from_utf8_lossy(&buf);
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, content_type, body) = match path {
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                    "/healthz" => {
                        let (ok, body) = metrics.health(stale_after);
                        (if ok { "200 OK" } else { "503 Service Unavailable" }, "text/plain", body)
                    }
                    _ => ("404 Not Found", "text/plain", "try /metrics or /healthz\n".into()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_certificate_series_and_histogram() {
        let m = Metrics::default();
        m.update("gradient", |c| {
            c.not_after = Some(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap());
            c.consecutive_failures = 2;
        });
        m.observe_order(0.3);
        m.observe_order(7.0);
        let text = m.render();
        assert!(
            text.contains("wildcert_certificate_not_after_seconds{cert=\"gradient\"} 1800000000"),
            "{text}"
        );
        assert!(text.contains("wildcert_renewal_consecutive_failures{cert=\"gradient\"} 2"));
        assert!(text.contains("wildcert_order_duration_seconds_bucket{le=\"0.5\"} 1"));
        assert!(text.contains("wildcert_order_duration_seconds_bucket{le=\"10\"} 2"));
        assert!(text.contains("wildcert_order_duration_seconds_count 2"));
    }

    #[test]
    fn unhealthy_until_the_loop_runs_and_when_expired() {
        let m = Metrics::default();
        assert!(!m.health(time::Duration::hours(1)).0);
        m.loop_ran(OffsetDateTime::now_utc());
        assert!(m.health(time::Duration::hours(1)).0);
        m.update("old", |c| c.not_after = Some(OffsetDateTime::now_utc() - time::Duration::days(1)));
        let (ok, body) = m.health(time::Duration::hours(1));
        assert!(!ok && body.contains("old: certificate expired"));
    }
}
