//! `wildcert config check`: parse, validate, read every secret, report warnings.

use crate::commands::error::CommandError;
use wildcert::config::{Config, SecretKeys, read_secret};
use wildcert::dns::provider::Provider;
use wildcert::exit::Status;

pub async fn run(config: Config) -> Result<Status, CommandError> {
    let mut warnings = config.warnings.clone();
    let mut errors = Vec::new();
    for section in config.dns.values() {
        // Building the adapter reads its secrets and checks what can be checked offline
        // (the exec program exists, URLs parse).
        if let Err(e) = Provider::from_section(section, &mut warnings) {
            let text = e.to_string();
            let prefix = format!("dns.{}", section.name);
            errors.push(if text.starts_with(&prefix) { text } else { format!("{prefix}: {text}") });
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
    for (i, hook) in config.notify.webhooks.iter().enumerate() {
        let key = format!("notify.webhook[{i}].url");
        match read_secret(&hook.url_keys(), "url", &mut warnings) {
            Ok(url) => {
                if let Err(e) = wildcert::config::transport::check(url.expose(), hook.allow_http, &key) {
                    errors.push(format!("{key}: {e}"));
                }
            }
            Err(e) => errors.push(format!("{key}: {e}")),
        }
    }
    let proxy = wildcert_dns_http::proxy::current();
    match proxy.validate() {
        Ok(()) => {
            if let Some(line) = proxy.describe() {
                println!("{line}");
            }
        }
        Err(e) => errors.push(format!("proxy: {e}")),
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
