//! The challenger: writes the DNS-01 TXT records of one order through the adapter, waits
//! until every authoritative server serves them, and removes them again. Each record is noted
//! in the [`CrashJournal`] before it is written and leaves it only once removed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use wildcert_dns_api::{DnsProvider, ProviderError, RawChallenge, TxtRecord};

use super::crash_journal::{CHALLENGE_TTL, CrashJournal, JournalEntry};

use crate::config::{Config, DnsSection};
use crate::dns::propagation::{PropagationReport, wait_until_served};
use crate::dns::provider::Provider;
use crate::dns::zone::{self, ChallengeTarget, Resolvers};
use crate::dns::{DnsError, parse_server};
use crate::store::Storage;

/// Timeout of one discovery question.
const DISCOVERY_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// One value the CA wants to see.
#[derive(Debug, Clone)]
pub struct ChallengeRecord {
    /// The identifier as ordered, e.g. `*.gradient.example.com`.
    pub identifier: String,
    /// `_acme-challenge.<base>.`
    pub fqdn: String,
    /// The TXT value: the digest of the key authorization.
    pub value: String,
    /// Domain, token and key authorization, for adapters in lego's RAW mode.
    pub raw: Option<RawChallenge>,
}

/// Why the challenge records could not be put in place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The DNS adapter failed to write or remove a record.
    #[error(transparent)]
    Provider(ProviderError),
    /// Locating the zone or waiting for the authoritative servers failed.
    #[error(transparent)]
    Dns(DnsError),
    /// The crash journal could not be written: no record is written without its note.
    #[error("challenge journal {path}: {detail}")]
    Journal {
        /// The local journal file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

impl ChallengeError {
    /// Whether a later attempt may succeed without a change (a DNS API outage, a server
    /// that did not answer in time).
    pub fn is_transient(&self) -> bool {
        match self {
            ChallengeError::Provider(e) => e.is_transient(),
            ChallengeError::Dns(e) => e.is_transient(),
            ChallengeError::Journal { .. } => false,
        }
    }

    /// How long the DNS provider asked to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ChallengeError::Provider(ProviderError::Temporary { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }
}

/// Writes and removes the challenge records of one certificate.
pub struct Challenger {
    provider: Provider,
    dns_name: String,
    resolvers: Resolvers,
    extra_servers: Vec<SocketAddr>,
    explicit_servers: Option<Vec<SocketAddr>>,
    check: bool,
    timeout: Duration,
    settle: Duration,
    journal: CrashJournal,
    /// For the host-wide lock of each record name written.
    state_dir: PathBuf,
    written: Mutex<Vec<JournalEntry>>,
}

async fn resolve_all(specs: &[String]) -> Result<Vec<SocketAddr>, ChallengeError> {
    let mut out = Vec::new();
    for text in specs {
        let spec = parse_server(text)
            .map_err(|detail| ChallengeError::Dns(DnsError::BadAnswer { name: text.clone(), detail }))?;
        let addrs = tokio::net::lookup_host((spec.host.as_str(), spec.port)).await.map_err(|e| {
            ChallengeError::Dns(DnsError::Unreachable {
                server: spec.to_string(),
                detail: format!("cannot resolve: {e}"),
            })
        })?;
        out.extend(addrs);
    }
    Ok(out)
}

impl Challenger {
    /// A challenger for certificate `cert` through the adapter of `section`, with the
    /// `[propagation]` resolvers and servers resolved once.
    pub async fn new(
        config: &Config,
        section: &DnsSection,
        cert: &str,
    ) -> Result<Challenger, ChallengeError> {
        let provider = Provider::shared(section).map_err(ChallengeError::Provider)?;
        let propagation = &config.propagation;
        let primary = provider.authoritative_server().await;
        let mut resolver_addrs = resolve_all(&propagation.resolvers).await?;
        if resolver_addrs.is_empty() {
            resolver_addrs.extend(primary);
            resolver_addrs.extend(Resolvers::system_servers());
        }
        let explicit = resolve_all(&propagation.nameservers).await?;
        // A person typing the records (manual) gets the adapter's longer deadline.
        let timeout =
            provider.propagation_deadline().map_or(propagation.timeout, |d| d.max(propagation.timeout));
        Ok(Challenger {
            provider,
            dns_name: section.name.clone(),
            resolvers: Resolvers::new(resolver_addrs, DISCOVERY_QUERY_TIMEOUT),
            extra_servers: primary.into_iter().collect(),
            explicit_servers: if explicit.is_empty() { None } else { Some(explicit) },
            check: propagation.check,
            timeout,
            settle: propagation.settle,
            journal: CrashJournal::local(&config.storage.state_dir, cert),
            state_dir: config.storage.state_dir.clone(),
            written: Mutex::new(Vec::new()),
        })
    }

    /// Also journals to the bucket (when `storage` has one).
    pub fn with_remote_journal(mut self, storage: &Storage, cert: &str) -> Challenger {
        self.journal = self.journal.with_remote(storage, cert);
        self
    }

    /// The adapter, for `dns check`.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The resolvers used to find zones, for `dns check`.
    pub fn resolvers(&self) -> &Resolvers {
        &self.resolvers
    }

    /// Where a challenge name's TXT record must go and who serves it.
    pub async fn locate(&self, fqdn: &str) -> Result<ChallengeTarget, ChallengeError> {
        let requested = zone::fqdn(fqdn).map_err(ChallengeError::Dns)?;
        zone::locate(&self.resolvers, &requested, &self.extra_servers, self.explicit_servers.as_deref())
            .await
            .map_err(ChallengeError::Dns)
    }

    /// Publishes every record and waits until all authoritative servers serve them.
    pub async fn present(
        &self,
        records: &[ChallengeRecord],
    ) -> Result<Option<PropagationReport>, ChallengeError> {
        let mut targets: Vec<(String, Option<ChallengeTarget>)> = Vec::new();
        for record in records {
            if targets.iter().any(|(f, _)| *f == record.fqdn) {
                continue;
            }
            let target = if self.check { Some(self.locate(&record.fqdn).await?) } else { None };
            targets.push((record.fqdn.clone(), target));
        }
        let mut expected = Vec::new();
        for record in records {
            let target = targets.iter().find(|(f, _)| *f == record.fqdn).and_then(|(_, t)| t.clone());
            let txt = TxtRecord {
                fqdn: target.as_ref().map(|t| t.target.to_ascii()).unwrap_or_else(|| record.fqdn.clone()),
                zone: target.as_ref().map(|t| t.zone.to_ascii()),
                value: record.value.clone(),
                ttl: CHALLENGE_TTL,
                raw: record.raw.clone(),
            };
            // A record written at the end of a CNAME chain notes the name it stands for, so
            // that a later cleanup can confirm the delegation instead of trusting the note.
            let delegated = target.as_ref().is_some_and(|t| t.target != t.requested);
            self.journal_add(&txt, delegated.then(|| record.fqdn.clone())).await?;
            let span = tracing::info_span!("dns", provider = %self.provider.describe(), fqdn = %txt.fqdn);
            let _enter = span.enter();
            tracing::info!(identifier = %record.identifier, "writing challenge TXT record");
            let _name = crate::dns::name_lock::lock(&self.state_dir, &txt.fqdn).await;
            self.provider.present(&txt).await.map_err(ChallengeError::Provider)?;
            if let Some(target) = target {
                expected.push((target, record.value.clone()));
            }
        }
        if !self.check {
            tracing::warn!(
                "propagation check is off ([propagation] check = false): the CA may look before the record is served"
            );
            return Ok(None);
        }
        let report = wait_until_served(&expected, self.timeout).await.map_err(ChallengeError::Dns)?;
        tracing::info!(
            waited_ms = report.waited.as_millis() as u64,
            servers = %report.seen_on.join(", "),
            "every authoritative name server serves the challenge records"
        );
        if !self.settle.is_zero() {
            crate::progress::bounded_wait(tokio::time::sleep(self.settle)).await;
        }
        Ok(Some(report))
    }

    /// Removes every record this challenger wrote. Failures are logged and returned; the
    /// records stay journaled and are retried (`recover_leftovers`).
    pub async fn cleanup(&self) -> Vec<ProviderError> {
        let entries: Vec<JournalEntry> = std::mem::take(&mut *self.written.lock().expect("journal lock"));
        if entries.is_empty() {
            return Vec::new();
        }
        let mut failed = Vec::new();
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        for entry in entries {
            let txt = entry.txt();
            let name = crate::dns::name_lock::lock(&self.state_dir, &txt.fqdn).await;
            let result = self.provider.cleanup(&txt).await;
            drop(name);
            match result {
                Ok(()) => {
                    tracing::debug!(fqdn = %entry.fqdn, "challenge TXT record removed");
                    removed.push(entry);
                }
                Err(e) => {
                    tracing::warn!(fqdn = %entry.fqdn, error = %e, "could not remove a challenge TXT record; will retry");
                    failed.push(entry);
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            tracing::info!("challenge TXT records removed");
        }
        *self.written.lock().expect("journal lock") = failed;
        if let Err(e) = self.journal_update(&[], &removed).await {
            tracing::warn!(error = %e, "could not update the challenge journal");
        }
        errors
    }

    async fn journal_add(&self, txt: &TxtRecord, requested: Option<String>) -> Result<(), ChallengeError> {
        let entry = JournalEntry {
            dns: self.dns_name.clone(),
            fqdn: txt.fqdn.clone(),
            requested,
            zone: txt.zone.clone(),
            value: txt.value.clone(),
            raw_domain: txt.raw.as_ref().map(|r| r.domain.clone()),
            raw_token: txt.raw.as_ref().map(|r| r.token.clone()),
            raw_key_authorization: txt.raw.as_ref().map(|r| r.key_authorization.clone()),
        };
        {
            let mut written = self.written.lock().expect("journal lock");
            if !written.iter().any(|e| e.same_record(&entry)) {
                written.push(entry.clone());
            }
        }
        self.journal_update(&[entry], &[]).await
    }

    async fn journal_update(
        &self,
        add: &[JournalEntry],
        remove: &[JournalEntry],
    ) -> Result<(), ChallengeError> {
        self.journal.update(add, remove).await
    }
}
