//! Wait until every authoritative server serves every challenge value, under a hard deadline.
//!
//! Asking the CA to validate before all authoritative servers answer risks a failed
//! authorization (the CA may ask any of them, and resolvers cache "no such record" for the
//! SOA's negative TTL). Servers are asked directly, never through a cache. A server that
//! cannot be reached at all (connection refused, an address where nothing listens) is
//! reported and skipped instead of stalling the order; one that answers without the value
//! is waited for.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

use super::DnsError;
use super::query::query;
use super::zone::ChallengeTarget;

/// Failures in a row after which a server that never answered is skipped.
const DEAD_AFTER_FAILURES: u32 = 2;
const FIRST_POLL_DELAY: Duration = Duration::from_millis(25);
const MAX_POLL_DELAY: Duration = Duration::from_secs(2);
const MAX_QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a long wait says how far it got (a record typed by hand takes minutes).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Seen,
    /// Never answered (refused or silent) `DEAD_AFTER_FAILURES` times.
    Dead,
    /// Answered REFUSED/NOTAUTH: it does not serve this zone.
    NotAuthoritative,
}

struct Check {
    server: SocketAddr,
    server_name: String,
    name: Name,
    values: Vec<String>,
    state: State,
    failures: u32,
    last_failure: Option<String>,
}

/// What the wait found, for logs and `dns check`.
#[derive(Debug, Clone, Default)]
pub struct PropagationReport {
    /// The servers that served every value.
    pub seen_on: Vec<String>,
    /// The servers given up on (never answered, or not authoritative for the zone): the
    /// operator may want to fix or drop them.
    pub skipped: Vec<String>,
    /// How long the wait took, to tune `[propagation]` timeouts.
    pub waited: Duration,
}

/// Blocks until each `(target, value)` is served by all of the target's servers.
pub async fn wait_until_served(
    expected: &[(ChallengeTarget, String)],
    timeout: Duration,
) -> Result<PropagationReport, DnsError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut grouped: BTreeMap<(SocketAddr, String), Check> = BTreeMap::new();
    for (target, value) in expected {
        if target.servers.is_empty() {
            return Err(DnsError::NoZone {
                name: target.target.to_string(),
                detail: format!(
                    "zone {} has no authoritative server with a known address; list them in [propagation] nameservers",
                    target.zone
                ),
            });
        }
        for server in &target.servers {
            let check = grouped.entry((server.addr, target.target.to_ascii())).or_insert_with(|| Check {
                server: server.addr,
                server_name: server.to_string(),
                name: target.target.clone(),
                values: Vec::new(),
                state: State::Waiting,
                failures: 0,
                last_failure: None,
            });
            if !check.values.contains(value) {
                check.values.push(value.clone());
            }
        }
    }
    let mut checks: Vec<Check> = grouped.into_values().collect();
    let mut delay = FIRST_POLL_DELAY;
    let mut next_progress = started + PROGRESS_EVERY;
    loop {
        let now = Instant::now();
        let query_timeout =
            MAX_QUERY_TIMEOUT.min(deadline.saturating_duration_since(now)).max(Duration::from_millis(100));
        let pending: Vec<usize> = (0..checks.len()).filter(|i| checks[*i].state == State::Waiting).collect();
        let results = futures_util::future::join_all(pending.iter().map(|i| {
            let c = &checks[*i];
            query(c.server, &c.name, hickory_proto::rr::RecordType::TXT, query_timeout)
        }))
        .await;
        for (i, result) in pending.into_iter().zip(results) {
            let check = &mut checks[i];
            match result {
                Ok(answer) if matches!(answer.code, ResponseCode::Refused | ResponseCode::NotAuth) => {
                    tracing::warn!(server = %check.server_name, name = %check.name, code = %answer.code, "name server does not serve this zone; not waiting for it");
                    check.state = State::NotAuthoritative;
                }
                Ok(answer) => {
                    check.failures = 0;
                    let served = answer.txt_values(&check.name);
                    if check.values.iter().all(|v| served.contains(v)) {
                        tracing::debug!(server = %check.server_name, name = %check.name, "challenge value served");
                        check.state = State::Seen;
                    }
                }
                Err(failure) => {
                    check.failures += 1;
                    check.last_failure = Some(failure.to_string());
                    if check.failures >= DEAD_AFTER_FAILURES {
                        tracing::warn!(server = %check.server_name, error = %failure, "name server does not answer; skipping it (list the servers that really serve the zone in [propagation] nameservers)");
                        check.state = State::Dead;
                    }
                }
            }
        }

        let all_settled = checks.iter().all(|c| c.state != State::Waiting);
        let every_name_seen =
            expected.iter().all(|(t, _)| checks.iter().any(|c| c.name == t.target && c.state == State::Seen));
        if all_settled && every_name_seen {
            return Ok(report(&checks, started.elapsed()));
        }
        if all_settled {
            // Nobody serves it and nobody is left to ask.
            let dead: Vec<String> = checks
                .iter()
                .map(|c| {
                    format!(
                        "{} ({})",
                        c.server_name,
                        c.last_failure.as_deref().unwrap_or("not authoritative")
                    )
                })
                .collect();
            return Err(DnsError::Unreachable {
                server: dead.join(", "),
                detail: "none of the zone's authoritative servers could be asked; list reachable ones in [propagation] nameservers".into(),
            });
        }
        if Instant::now() + delay > deadline {
            let lagging: Vec<String> = checks
                .iter()
                .filter(|c| c.state == State::Waiting)
                .map(|c| match &c.last_failure {
                    Some(f) => format!("{} ({f})", c.server_name),
                    None => c.server_name.clone(),
                })
                .collect();
            let seen: Vec<String> =
                checks.iter().filter(|c| c.state == State::Seen).map(|c| c.server_name.clone()).collect();
            let fqdn = checks
                .iter()
                .find(|c| c.state == State::Waiting)
                .map(|c| c.name.to_string())
                .unwrap_or_default();
            return Err(DnsError::NotPropagated {
                fqdn,
                lagging: lagging.join(", "),
                seen: if seen.is_empty() { "none".into() } else { seen.join(", ") },
                waited: started.elapsed().as_secs(),
            });
        }
        if Instant::now() >= next_progress {
            next_progress += PROGRESS_EVERY;
            let waiting: Vec<&str> =
                checks.iter().filter(|c| c.state == State::Waiting).map(|c| c.server_name.as_str()).collect();
            tracing::info!(
                served_by = checks.iter().filter(|c| c.state == State::Seen).count(),
                of = checks.len(),
                waiting_for = %waiting.join(", "),
                left_s = deadline.saturating_duration_since(Instant::now()).as_secs(),
                "still waiting for the challenge records on every authoritative name server"
            );
        }
        // A full pass over the servers finished: the wait is alive, only not done yet.
        crate::progress::tick();
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(MAX_POLL_DELAY);
    }
}

fn report(checks: &[Check], waited: Duration) -> PropagationReport {
    PropagationReport {
        seen_on: checks.iter().filter(|c| c.state == State::Seen).map(|c| c.server_name.clone()).collect(),
        skipped: checks
            .iter()
            .filter(|c| matches!(c.state, State::Dead | State::NotAuthoritative))
            .map(|c| c.server_name.clone())
            .collect(),
        waited,
    }
}
