//! Joker's SVC endpoint (the dynamic-DNS credentials of a zone): a form POST of `username`,
//! `password`, `zone`, `label`, `type=TXT` and one `value` per TXT value *replaces* every
//! TXT value at the label (an empty `value` removes them); the answer starts with `OK`.
//!
//! The endpoint cannot be read, so the adapter keeps the values it has presented at each
//! label and sends them all with every call: the apex's and the wildcard's values then
//! coexist. A TXT value another tool put at the same `_acme-challenge` label is replaced;
//! DMAPI mode keeps such values.

use std::collections::HashMap;

use http::Method;
use tokio::sync::Mutex;
use wildcert_dns_api::{ProviderError, Secret, TxtRecord};
use wildcert_dns_http::zone::relative_name;
use wildcert_dns_http::{Api, Body, StatusClass, classify, excerpt};

const AUTH_HINT: &str = "check username and password (lego: JOKER_USERNAME, JOKER_PASSWORD): the zone's Dynamic DNS credentials from Joker.com's DNS settings";

/// The SVC side of the adapter.
pub struct Svc {
    api: Api,
    username: String,
    password: Secret,
    zone: Option<String>,
    /// (zone, label) -> the values this process presented there, in order.
    held: Mutex<HashMap<(String, String), Vec<String>>>,
}

impl Svc {
    pub fn new(api: Api, username: String, password: Secret, zone: Option<String>) -> Svc {
        let api = api.with_redacted(&password);
        Svc { api, username, password, zone, held: Mutex::new(HashMap::new()) }
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    fn provider(&self) -> String {
        self.api.provider().to_string()
    }

    fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        self.zone.clone().or_else(|| record.zone.as_deref().map(crate::dmapi::zone_name)).ok_or_else(|| {
            ProviderError::Config {
                provider: self.provider(),
                detail: format!(
                    "the zone of {} is not known; set zone (SVC mode cannot look zones up)",
                    record.fqdn
                ),
            }
        })
    }

    async fn replace(&self, zone: &str, label: &str, values: &[String]) -> Result<(), ProviderError> {
        let mut fields: Vec<(&str, &str)> = vec![
            ("username", self.username.as_str()),
            ("password", self.password.expose()),
            ("zone", zone),
            ("label", label),
            ("type", "TXT"),
        ];
        if values.is_empty() {
            fields.push(("value", ""));
        }
        for value in values {
            fields.push(("value", value));
        }
        let response = self.api.call(Method::POST, "", &Body::form(&fields), &[]).await?;
        let body = String::from_utf8_lossy(&response.body);
        let action = format!("POST {}", self.api.base());
        match classify(response.status) {
            StatusClass::Success if body.trim_start().starts_with("OK") => Ok(()),
            StatusClass::Success | StatusClass::Rejected => {
                let said = excerpt(&response.body, &self.api.secrets());
                let lower = said.to_ascii_lowercase();
                if lower.contains("auth") || lower.contains("password") || lower.contains("login") {
                    return Err(ProviderError::Auth {
                        provider: self.provider(),
                        detail: format!("{action}: HTTP {}: {said}; {AUTH_HINT}", response.status),
                    });
                }
                Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: format!("{action} for {label} in {zone}: HTTP {}: {said}", response.status),
                })
            }
            _ => Err(self.api.error(&action, &response, AUTH_HINT)),
        }
    }

    pub async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let zone = self.zone_for(record)?;
        let label = relative_name(record, &zone);
        // One call at a time: each sends the whole set, so the set and the call stay together.
        let mut held = self.held.lock().await;
        let key = (zone.clone(), label.clone());
        let mut values = held.get(&key).cloned().unwrap_or_default();
        let present = values.contains(&record.value);
        match (add, present) {
            (true, false) => values.push(record.value.clone()),
            (false, true) => values.retain(|v| *v != record.value),
            // A cleanup of a value this process does not hold: after a restart nothing is
            // known, so the label's values are removed (SVC cannot remove one value).
            (false, false) if values.is_empty() => {}
            _ => return Ok(()),
        }
        self.replace(&zone, &label, &values).await?;
        if values.is_empty() {
            held.remove(&key);
        } else {
            held.insert(key, values);
        }
        tracing::debug!(fqdn = %record.fqdn, zone, add, "joker: SVC values replaced");
        Ok(())
    }
}
