//! `wildcert status`: per certificate, where it comes from, what it covers, when it expires,
//! what happens next and what went wrong last. Reads local state only (no network).

use serde::Serialize;
use time::OffsetDateTime;

use crate::cli::StatusArgs;
use crate::commands::error::CommandError;
use wildcert::config::{Config, Source};
use wildcert::exit::Status;
use wildcert::plan::show;
use wildcert::renewal::Session;
use wildcert::state;

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    source: &'static str,
    names: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    not_after: Option<OffsetDateTime>,
    serial: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    next_action_at: Option<OffsetDateTime>,
    next_action: String,
    failures: u32,
    /// What kind of failure the last one was (`validation`: what the CA saw is in
    /// `last_error`; retried on the slower schedule).
    failure_kind: Option<state::FailureKind>,
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_success: Option<OffsetDateTime>,
    /// Who holds the renewal lock in the bucket right now, if anyone.
    lock: Option<wildcert::store::lock::LockRecord>,
    /// A certificate waits in the local queue for the bucket to accept it.
    pending_upload: bool,
    /// New orders within the order ceiling's window, and the ceiling.
    orders_recent: usize,
    max_orders: u32,
    orders_window: String,
    /// While the ceiling holds orders back: when it allows the next one.
    #[serde(with = "time::serde::rfc3339::option")]
    orders_blocked_until: Option<OffsetDateTime>,
}

pub async fn run(config: Config, args: StatusArgs) -> Result<Status, CommandError> {
    let ctx = Session::read_only(&config);
    let storage = &ctx.storage;
    let now = OffsetDateTime::now_utc();
    let pending = storage.pending().unwrap_or_default();
    let mut rows = Vec::new();
    for cert in &config.certificates {
        let mut st = state::load(&config.storage.state_dir, &cert.name);
        let (info, plan) = ctx.plan_offline(cert, &mut st, now).await;
        let (next_at, next_action) = match cert.source {
            Source::Acme if plan.is_due(now) => {
                (Some(plan.at), format!("renew now ({})", plan.reason.describe()))
            }
            Source::Acme => (Some(plan.at), format!("renew ({})", plan.reason.describe())),
            Source::Files => (
                info.as_ref().map(|i| i.not_after),
                "replace the supplied files (no automatic renewal)".into(),
            ),
        };
        let ceiling = ctx.retry_policy().ceiling;
        rows.push(Row {
            orders_recent: ceiling.recent(&st.orders, now),
            max_orders: ceiling.max_orders,
            orders_window: wildcert::ceiling::show_duration(ceiling.window),
            orders_blocked_until: ceiling.next_allowed(&st.orders, now),
            name: cert.name.clone(),
            source: match cert.source {
                Source::Acme => "acme",
                Source::Files => "files",
            },
            names: info.as_ref().map(|i| i.names.clone()).unwrap_or_else(|| cert.domains.clone()),
            not_after: info.as_ref().map(|i| i.not_after),
            serial: info.as_ref().map(|i| i.serial.clone()),
            next_action_at: next_at,
            next_action,
            failures: st.failures,
            failure_kind: st.failure_kind.filter(|_| st.last_error.is_some()),
            last_error: st.last_error.clone(),
            last_success: st.last_success,
            lock: storage.lock_holder(&cert.name).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the renewal lock");
                None
            }),
            pending_upload: pending.contains(&cert.name),
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "certificates": rows }))?);
        return Ok(Status::Ok);
    }
    for r in &rows {
        let expiry = match r.not_after {
            Some(t) if t <= now => format!("EXPIRED {}", t.date()),
            Some(t) => format!("{} ({} days left)", show(t), (t - now).whole_days()),
            None => "none stored".into(),
        };
        println!("{} [{}] {}", r.name, r.source, r.names.join(", "));
        println!("  expires:  {expiry}");
        if let Some(at) = r.next_action_at {
            println!("  next:     {}: {}", show(at), r.next_action);
        }
        if let Some(t) = r.last_success {
            println!("  last ok:  {}", show(t));
        }
        if let Some(lock) = &r.lock {
            println!("  locked:   being renewed by {}", lock.describe());
        }
        if r.orders_recent > 0 {
            let blocked = match r.orders_blocked_until {
                Some(t) => format!("; CEILING REACHED, no new order until {}", show(t)),
                None => String::new(),
            };
            println!(
                "  orders:   {} in the last {} (ceiling {}){blocked}",
                r.orders_recent, r.orders_window, r.max_orders
            );
        }
        if r.pending_upload {
            println!("  pending:  a new certificate waits for the bucket (uploaded on the next run)");
        }
        if let Some(e) = &r.last_error {
            let kind = match r.failure_kind {
                Some(state::FailureKind::Validation) => {
                    " (the CA could not validate; retried hourly, doubling)"
                }
                Some(state::FailureKind::Ceiling) => " (order ceiling)",
                _ => "",
            };
            println!("  FAILING:  {} attempt(s) in a row{kind}; last error: {e}", r.failures);
        }
    }
    if rows.is_empty() {
        println!("no certificates configured in {}", config.path.display());
    }
    Ok(Status::Ok)
}
