//! `provider = "manual"`: a person creates the challenge TXT records.
//!
//! `present` prints the record to create (name, type, value, TTL) on standard output and
//! returns at once; wildcert's propagation check then polls every authoritative name server
//! until all of them serve it, under this adapter's own `deadline` (a person needs minutes).
//! `cleanup` prints the record that may be deleted. Nothing is written anywhere, so the only
//! state is on the terminal: the daemon and `renew`, which run without one, refuse a
//! certificate that uses this adapter (`ProviderSpec::INTERACTIVE`).

#![warn(missing_docs)]

use std::io::Write;
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::spec::{Checks, EnvName, ProviderSpec, SecretReader, SettingError};
use wildcert_dns_api::{DnsProvider, ProviderError, TxtRecord};

/// Settings of a `[dns.NAME]` table with `provider = "manual"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualConfig {
    /// How long `wildcert issue` waits for every authoritative name server to serve the
    /// records after printing them; the order fails (and its records may be deleted) after.
    #[serde(default = "default_deadline", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub deadline: Duration,
}

fn default_deadline() -> Duration {
    Duration::from_secs(30 * 60)
}

/// The manual adapter: instructions on standard output.
#[derive(Debug, Clone)]
pub struct Manual {
    deadline: Duration,
}

impl Manual {
    fn say(&self, text: &str) -> Result<(), ProviderError> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| ProviderError::Config {
            provider: "manual".into(),
            detail: format!("cannot print the record instructions on standard output: {e}"),
        })
    }
}

/// The lines that describe one record, in zone-file order of fields.
fn record_lines(record: &TxtRecord, with_ttl: bool) -> String {
    let mut text = format!("  name:  {}\n  type:  TXT\n  value: \"{}\"\n", record.fqdn, record.value);
    if with_ttl {
        text.push_str(&format!("  TTL:   {}\n", record.ttl));
    }
    text
}

impl DnsProvider for Manual {
    fn describe(&self) -> String {
        "manual".into()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.say(&format!(
            "Create this DNS record (keep any other TXT values at that name); wildcert waits up to {} min until every authoritative name server serves it:\n{}\n",
            self.deadline.as_secs().div_ceil(60),
            record_lines(record, true)
        ))
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.say(&format!(
            "Delete this DNS record now (it is no longer needed):\n{}\n",
            record_lines(record, false)
        ))
    }
}

impl ProviderSpec for Manual {
    type Config = ManualConfig;
    const CODE: &'static str = "manual";
    const NAME: &'static str = "Manual (a person creates the record)";
    const ENV: &'static [EnvName] = &[];
    const PERMISSIONS: &'static str = "none (whoever edits the zone by hand)";
    const NOTES: &'static str = "`wildcert issue` only: prints each TXT record, waits (`deadline`, default 30m) until every authoritative server serves it, then prints what to delete; `run` and `renew` refuse it";
    const INTERACTIVE: bool = true;

    fn check(config: &ManualConfig, _: &mut dyn Checks) -> Result<(), SettingError> {
        if config.deadline.is_zero() {
            return Err(SettingError::new("deadline", "must be longer than zero, e.g. \"30m\""));
        }
        Ok(())
    }

    fn build(config: &ManualConfig, _: &mut dyn SecretReader) -> Result<Manual, ProviderError> {
        Ok(Manual { deadline: config.deadline })
    }

    fn propagation_deadline(&self) -> Option<Duration> {
        Some(self.deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines_name_value_and_ttl() {
        let record = TxtRecord {
            fqdn: "_acme-challenge.example.com.".into(),
            zone: None,
            value: "abc".into(),
            ttl: 60,
            raw: None,
        };
        assert_eq!(
            record_lines(&record, true),
            "  name:  _acme-challenge.example.com.\n  type:  TXT\n  value: \"abc\"\n  TTL:   60\n"
        );
        assert!(!record_lines(&record, false).contains("TTL"));
    }
}
