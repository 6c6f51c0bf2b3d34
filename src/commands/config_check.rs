//! `wildcert config check`: parse, validate, read every secret, report warnings.

use crate::config::{Config, DnsAdapterConfig, SecretKeys, read_secret};
use crate::exit::Status;

pub async fn run(config: Config) -> anyhow::Result<Status> {
    let mut warnings = config.warnings.clone();
    let mut errors = Vec::new();
    for section in config.dns.values() {
        match &section.adapter {
            DnsAdapterConfig::Rfc2136(cfg) => {
                if let Err(e) = read_secret(&cfg.tsig_secret_keys(), "tsig_secret", &mut warnings) {
                    errors.push(format!("dns.{}: {e}", section.name));
                }
            }
        }
    }
    if let Some(eab) = &config.acme.eab {
        let keys = SecretKeys {
            inline: eab.hmac_key.clone(),
            file: eab.hmac_key_file.clone(),
            env: eab.hmac_key_env.clone(),
        };
        if let Err(e) = read_secret(&keys, "hmac_key", &mut warnings) {
            errors.push(format!("acme.eab: {e}"));
        }
    }
    for w in &warnings {
        println!("warning: {w}");
    }
    for e in &errors {
        println!("error: {e}");
    }
    if errors.is_empty() {
        println!(
            "{}: OK ({} certificate(s), {} DNS provider(s))",
            config.path.display(),
            config.certificates.len(),
            config.dns.len()
        );
        Ok(Status::Ok)
    } else {
        Ok(Status::Usage)
    }
}
