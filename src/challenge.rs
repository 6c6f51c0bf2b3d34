//! DNS-01 challenges end to end: where each TXT record goes (CNAME delegation, zone),
//! writing it through the adapter, waiting until every authoritative server serves it, and
//! removing it again.
//!
//! Every record is journaled in `<state_dir>/journal/<cert>.json` *before* it is written, and
//! leaves the journal only once it has been removed. A crash, a kill or a failed cleanup
//! therefore leaves a note that `recover_leftovers` acts on at the next start.

use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wildcert_dns_api::{DnsProvider, ProviderError, RawChallenge, Secret, TxtRecord};

use crate::config::{Config, DnsSection};
use crate::dns::propagation::{PropagationReport, wait_until_served};
use crate::dns::provider::Provider;
use crate::dns::zone::{self, ChallengeTarget, Resolvers};
use crate::dns::{DnsError, parse_server};
use crate::store::Storage;

/// TTL of challenge records: short, so a retried challenge is not answered from a cache.
const CHALLENGE_TTL: u32 = 60;
/// Timeout of one discovery question.
const DISCOVERY_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// One value the CA wants to see.
#[derive(Debug, Clone)]
pub struct ChallengeRecord {
    /// The identifier as ordered, e.g. `*.gradient.example.com`.
    pub identifier: String,
    /// `_acme-challenge.<base>.`
    pub fqdn: String,
    pub value: String,
    /// Domain, token and key authorization, for adapters in lego's RAW mode.
    pub raw: Option<RawChallenge>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    #[error("{0}")]
    Provider(#[source] ProviderError),
    #[error("{0}")]
    Dns(#[source] DnsError),
    #[error("challenge journal {path}: {detail}")]
    Journal { path: PathBuf, detail: String },
}

impl ChallengeError {
    pub fn is_transient(&self) -> bool {
        match self {
            ChallengeError::Provider(e) => e.is_transient(),
            ChallengeError::Dns(e) => e.is_transient(),
            ChallengeError::Journal { .. } => false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct JournalEntry {
    /// The `[dns.NAME]` table whose adapter wrote it.
    dns: String,
    fqdn: String,
    zone: Option<String>,
    value: String,
    /// RAW-mode adapters (exec/httpreq) get the domain and token too. The key authorization
    /// is kept in memory only: after a crash such an adapter cleans up by domain and token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw_token: Option<String>,
    #[serde(skip)]
    raw_key_authorization: Option<Secret>,
}

impl JournalEntry {
    fn txt(&self) -> TxtRecord {
        TxtRecord {
            fqdn: self.fqdn.clone(),
            zone: self.zone.clone(),
            value: self.value.clone(),
            ttl: CHALLENGE_TTL,
            raw: match (&self.raw_domain, &self.raw_token) {
                (Some(domain), Some(token)) => Some(RawChallenge {
                    domain: domain.clone(),
                    token: token.clone(),
                    key_authorization: self.raw_key_authorization.clone().unwrap_or_default(),
                }),
                _ => None,
            },
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
    journal_path: PathBuf,
    /// A copy of the journal in the bucket, so that the host that takes over an expired
    /// renewal lock can remove records the dead holder left.
    remote_journal: Option<(Storage, String)>,
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

fn journal_path(state_dir: &Path, cert: &str) -> PathBuf {
    state_dir.join("journal").join(format!("{cert}.json"))
}

impl Challenger {
    pub async fn new(
        config: &Config,
        section: &DnsSection,
        cert: &str,
    ) -> Result<Challenger, ChallengeError> {
        let mut warnings = Vec::new();
        let provider = Provider::from_section(section, &mut warnings).map_err(ChallengeError::Provider)?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        let propagation = &config.propagation;
        let primary = provider.authoritative_server().await;
        let mut resolver_addrs = resolve_all(&propagation.resolvers).await?;
        if resolver_addrs.is_empty() {
            resolver_addrs.extend(primary);
            resolver_addrs.extend(Resolvers::system_servers());
        }
        let explicit = resolve_all(&propagation.nameservers).await?;
        Ok(Challenger {
            provider,
            dns_name: section.name.clone(),
            resolvers: Resolvers::new(resolver_addrs, DISCOVERY_QUERY_TIMEOUT),
            extra_servers: primary.into_iter().collect(),
            explicit_servers: if explicit.is_empty() { None } else { Some(explicit) },
            check: propagation.check,
            timeout: propagation.timeout,
            settle: propagation.settle,
            journal_path: journal_path(&config.storage.state_dir, cert),
            remote_journal: None,
            written: Mutex::new(Vec::new()),
        })
    }

    /// Also journals to the bucket (when `storage` has one).
    pub fn with_remote_journal(mut self, storage: &Storage, cert: &str) -> Challenger {
        if storage.has_remote() {
            self.remote_journal = Some((storage.clone(), remote_journal_key(cert)));
        }
        self
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

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
            self.journal_add(&txt).await?;
            let span = tracing::info_span!("dns", provider = %self.provider.describe(), fqdn = %txt.fqdn);
            let _enter = span.enter();
            tracing::info!(identifier = %record.identifier, "writing challenge TXT record");
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
    /// records stay journaled for the next start.
    pub async fn cleanup(&self) -> Vec<ProviderError> {
        let entries: Vec<JournalEntry> = std::mem::take(&mut *self.written.lock().expect("journal lock"));
        if entries.is_empty() {
            return Vec::new();
        }
        let mut failed = Vec::new();
        let mut errors = Vec::new();
        for entry in entries {
            let txt = entry.txt();
            match self.provider.cleanup(&txt).await {
                Ok(()) => tracing::debug!(fqdn = %entry.fqdn, "challenge TXT record removed"),
                Err(e) => {
                    tracing::warn!(fqdn = %entry.fqdn, error = %e, "could not remove a challenge TXT record; will retry at the next start");
                    failed.push(entry);
                    errors.push(e);
                }
            }
        }
        if errors.is_empty() {
            tracing::info!("challenge TXT records removed");
        }
        *self.written.lock().expect("journal lock") = failed;
        if let Err(e) = self.journal_save().await {
            tracing::warn!(error = %e, "could not update the challenge journal");
        }
        errors
    }

    async fn journal_add(&self, txt: &TxtRecord) -> Result<(), ChallengeError> {
        let entry = JournalEntry {
            dns: self.dns_name.clone(),
            fqdn: txt.fqdn.clone(),
            zone: txt.zone.clone(),
            value: txt.value.clone(),
            raw_domain: txt.raw.as_ref().map(|r| r.domain.clone()),
            raw_token: txt.raw.as_ref().map(|r| r.token.clone()),
            raw_key_authorization: txt.raw.as_ref().map(|r| r.key_authorization.clone()),
        };
        {
            let mut written = self.written.lock().expect("journal lock");
            if !written.contains(&entry) {
                written.push(entry);
            }
        }
        self.journal_save().await
    }

    async fn journal_save(&self) -> Result<(), ChallengeError> {
        let entries = self.written.lock().expect("journal lock").clone();
        let mut all = read_journal(&self.journal_path).unwrap_or_default();
        all.retain(|e| e.dns != self.dns_name);
        all.extend(entries.iter().cloned());
        write_journal(&self.journal_path, &all).map_err(|e| ChallengeError::Journal {
            path: self.journal_path.clone(),
            detail: e.to_string(),
        })?;
        if let Some((storage, key)) = &self.remote_journal {
            let body =
                (!entries.is_empty()).then(|| serde_json::to_vec_pretty(&entries).expect("serializable"));
            if let Err(e) = storage.put_note(key, body).await {
                tracing::warn!(error = %e, "could not copy the challenge journal to the bucket (the local copy is kept)");
            }
        }
        Ok(())
    }
}

fn read_journal(path: &Path) -> std::io::Result<Vec<JournalEntry>> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

fn write_journal(path: &Path, entries: &[JournalEntry]) -> std::io::Result<()> {
    if entries.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let dir = path.parent().expect("journal has a directory");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    use std::io::Write;
    f.write_all(&serde_json::to_vec_pretty(entries).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn remote_journal_key(cert: &str) -> String {
    format!("journal/{cert}.json")
}

/// Removes records listed in the bucket's copy of a certificate's challenge journal: left by
/// a holder of the renewal lock that died (call with the lock held). Returns how many.
pub async fn recover_remote(config: &Config, storage: &Storage, cert: &str) -> usize {
    let key = remote_journal_key(cert);
    let entries: Vec<JournalEntry> = match storage.get_note(&key).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Ok(None) => return 0,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the challenge journal in the bucket");
            return 0;
        }
    };
    let (removed, left) = remove_entries(config, entries).await;
    if removed > 0 {
        tracing::info!(removed, "removed challenge records a stopped holder of the renewal lock left");
    }
    let body = (!left.is_empty()).then(|| serde_json::to_vec_pretty(&left).expect("serializable"));
    if let Err(e) = storage.put_note(&key, body).await {
        tracing::warn!(error = %e, "could not update the challenge journal in the bucket");
    }
    removed
}

/// Removes each journaled record through its `[dns]` table's adapter; returns how many were
/// removed and the ones that are left.
async fn remove_entries(config: &Config, entries: Vec<JournalEntry>) -> (usize, Vec<JournalEntry>) {
    let mut removed = 0;
    let mut left = Vec::new();
    for entry in entries {
        let Some(section) = config.dns.get(&entry.dns) else {
            tracing::warn!(dns = %entry.dns, fqdn = %entry.fqdn, "journaled challenge record refers to a [dns] table that no longer exists; remove it by hand");
            left.push(entry);
            continue;
        };
        let provider = match Provider::from_section(section, &mut Vec::new()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot clean up a leftover challenge record");
                left.push(entry);
                continue;
            }
        };
        let txt = entry.txt();
        match provider.cleanup(&txt).await {
            Ok(()) => {
                tracing::info!(fqdn = %entry.fqdn, "removed a challenge TXT record left by an earlier run");
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(fqdn = %entry.fqdn, error = %e, "could not remove a leftover challenge TXT record");
                left.push(entry);
            }
        }
    }
    (removed, left)
}

/// Removes challenge records left behind by an earlier run that crashed or was killed.
/// Returns how many were removed; ones that still fail stay journaled.
pub async fn recover_leftovers(config: &Config) -> usize {
    let dir = config.storage.state_dir.join("journal");
    let Ok(entries) = std::fs::read_dir(&dir) else { return 0 };
    let mut removed = 0;
    for file in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        if file.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(records) = read_journal(&file) else {
            tracing::warn!(path = %file.display(), "unreadable challenge journal; remove it by hand after checking the DNS");
            continue;
        };
        let (n, left) = remove_entries(config, records).await;
        removed += n;
        if let Err(e) = write_journal(&file, &left) {
            tracing::warn!(path = %file.display(), error = %e, "could not update the challenge journal");
        }
    }
    removed
}
