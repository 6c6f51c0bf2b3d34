//! Joker's DMAPI: form POSTs to `<api_url>/<request>` answered with MIME-like header lines
//! (`Status-Code` 0 when all went well, `Status-Text`, `Error`, `Auth-Sid`), a blank line,
//! and a body. `login` (user name and password, or an API key) gives the session ID every
//! other request carries as `auth-sid`; a session lapses after an hour of inactivity, so a
//! refused session is renewed once. `dns-zone-get` reads the zone text, `dns-zone-put`
//! writes it whole: one change per zone at a time, under a lock, with every line but ours
//! sent back as read.

use std::time::{Duration, Instant};

use http::Method;
use tokio::sync::Mutex;
use wildcert_dns_api::{NameLocks, ProviderError, Secret, TxtRecord, normalize};
use wildcert_dns_http::zone::{candidates, relative_name};
use wildcert_dns_http::{Api, Body, Response, StatusClass, classify, redact};

use crate::zonefile;

/// Reuse a session this long (Joker ends it after an hour without requests).
const SESSION_REUSE: Duration = Duration::from_secs(50 * 60);

/// Joker's shortest TTL for TXT records.
pub const MIN_TTL: u32 = 60;

/// How the account logs in.
#[derive(Clone)]
pub enum Login {
    /// A DMAPI key from the account's profile (lego's `JOKER_API_KEY`).
    ApiKey(Secret),
    /// The Joker.com account's login (lego's `JOKER_USERNAME` / `JOKER_PASSWORD`).
    Password {
        /// The account's user name.
        username: String,
        /// The account's password, sent only to the login call.
        password: Secret,
    },
}

impl Login {
    fn hint(&self) -> &'static str {
        match self {
            Login::ApiKey(_) => {
                "check api_key (lego: JOKER_API_KEY): a DMAPI key from My Profile, not restricted to read-only"
            }
            Login::Password { .. } => {
                "check username and password (lego: JOKER_USERNAME, JOKER_PASSWORD): the Joker.com account's login"
            }
        }
    }
}

/// One parsed DMAPI answer.
#[derive(Debug, Default)]
struct Answer {
    status_code: Option<i64>,
    status_text: String,
    errors: Vec<String>,
    auth_sid: Option<String>,
    body: String,
}

impl Answer {
    fn parse(text: &str) -> Answer {
        let text = text.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
        let mut answer = Answer { body: body.to_string(), ..Answer::default() };
        for line in head.lines() {
            let Some((key, value)) = line.split_once(':') else { continue };
            let value = value.trim().to_string();
            match key.trim().to_ascii_lowercase().as_str() {
                "status-code" => answer.status_code = value.parse().ok(),
                "status-text" => answer.status_text = value,
                "error" => answer.errors.push(value),
                "auth-sid" => answer.auth_sid = Some(value).filter(|v| !v.is_empty()),
                _ => {}
            }
        }
        answer
    }

    fn ok(&self) -> bool {
        self.status_code == Some(0) && self.errors.is_empty()
    }

    fn said(&self) -> String {
        let mut parts = Vec::new();
        if let Some(code) = self.status_code {
            parts.push(format!("Status-Code {code}"));
        }
        if !self.status_text.is_empty() {
            parts.push(self.status_text.clone());
        }
        parts.extend(self.errors.iter().cloned());
        if parts.is_empty() { "no Status-Code in the answer".into() } else { parts.join("; ") }
    }

    /// Whether the answer says the session is not (or no longer) valid.
    fn session_refused(&self) -> bool {
        let text = self.said().to_ascii_lowercase();
        text.contains("session") || text.contains("authoriz") || text.contains("authentic")
    }
}

/// The DMAPI side of the adapter.
pub struct Dmapi {
    api: Api,
    login: Login,
    zone: Option<String>,
    session: Mutex<Option<(Secret, Instant)>>,
    locks: NameLocks,
}

impl Dmapi {
    pub fn new(api: Api, login: Login, zone: Option<String>) -> Dmapi {
        let api = match &login {
            Login::ApiKey(key) => api.with_redacted(key),
            Login::Password { password, .. } => api.with_redacted(password),
        };
        Dmapi { api, login, zone, session: Mutex::new(None), locks: NameLocks::default() }
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    fn provider(&self) -> String {
        self.api.provider().to_string()
    }

    async fn post(
        &self,
        request: &str,
        fields: &[(&str, &str)],
    ) -> Result<(Response, Answer), ProviderError> {
        let response = self.api.call(Method::POST, &format!("/{request}"), &Body::form(fields), &[]).await?;
        let answer = Answer::parse(&String::from_utf8_lossy(&response.body));
        Ok((response, answer))
    }

    async fn log_in(&self) -> Result<Secret, ProviderError> {
        let fields: Vec<(&str, &str)> = match &self.login {
            Login::ApiKey(key) => vec![("api-key", key.expose().trim())],
            Login::Password { username, password } => {
                vec![("username", username.as_str()), ("password", password.expose())]
            }
        };
        let (response, answer) = self.post("login", &fields).await?;
        let class = classify(response.status);
        if class == StatusClass::Temporary {
            return Err(self.api.error("POST /login", &response, self.login.hint()));
        }
        match answer.auth_sid.clone() {
            Some(sid) if class == StatusClass::Success && answer.ok() => Ok(Secret::new(sid)),
            _ => Err(ProviderError::Auth {
                provider: self.provider(),
                detail: format!(
                    "POST /login: HTTP {}: {}; {}",
                    response.status,
                    redact(&answer.said(), &self.api.secrets()),
                    self.login.hint()
                ),
            }),
        }
    }

    async fn session(&self, fresh: bool) -> Result<Secret, ProviderError> {
        let mut session = self.session.lock().await;
        if !fresh
            && let Some((sid, since)) = session.as_ref()
            && since.elapsed() < SESSION_REUSE
        {
            return Ok(sid.clone());
        }
        let sid = self.log_in().await?;
        *session = Some((sid.clone(), Instant::now()));
        Ok(sid)
    }

    /// A request inside the session; a refused session is renewed once. Returns the answer,
    /// successful or not, for the caller to judge.
    async fn request(&self, request: &str, fields: &[(&str, &str)]) -> Result<Answer, ProviderError> {
        let action = format!("POST /{request}");
        for attempt in 0..2 {
            let sid = self.session(attempt > 0).await?;
            let mut all = fields.to_vec();
            all.push(("auth-sid", sid.expose()));
            let (response, answer) = self.post(request, &all).await?;
            let class = classify(response.status);
            let refused = class == StatusClass::Auth || (!answer.ok() && answer.session_refused());
            if refused {
                if attempt == 0 {
                    tracing::debug!(request, "joker: session refused, logging in again");
                    continue;
                }
                return Err(ProviderError::Auth {
                    provider: self.provider(),
                    detail: format!(
                        "{action}: HTTP {}: {}; {}",
                        response.status,
                        redact(&answer.said(), &self.api.secrets()),
                        self.login.hint()
                    ),
                });
            }
            if class != StatusClass::Success {
                return Err(self.api.error(&action, &response, self.login.hint()));
            }
            return Ok(answer);
        }
        unreachable!("the loop returns on its second pass")
    }

    fn rejected(&self, action: &str, answer: &Answer) -> ProviderError {
        ProviderError::Rejected {
            provider: self.provider(),
            detail: format!("{action}: {}", redact(&answer.said(), &self.api.secrets())),
        }
    }

    /// The zone's text, or `None` when Joker does not serve a zone of that name for the
    /// account.
    async fn zone_text(&self, zone: &str) -> Result<Result<String, String>, ProviderError> {
        let answer = self.request("dns-zone-get", &[("domain", zone)]).await?;
        if answer.ok() { Ok(Ok(answer.body)) } else { Ok(Err(redact(&answer.said(), &self.api.secrets()))) }
    }

    /// The zone holding the record: the `zone` setting, else the first candidate Joker
    /// serves.
    async fn find_zone(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let names = match &self.zone {
            Some(z) => vec![z.clone()],
            None => candidates(record),
        };
        let mut said = Vec::new();
        for name in &names {
            match self.zone_text(name).await? {
                Ok(_) => return Ok(name.clone()),
                Err(why) => said.push(format!("{name}: {why}")),
            }
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!(
                "Joker serves none of these zones for the account ({}); set zone, and check that the domain uses Joker's name servers",
                said.join("; ")
            ),
        })
    }

    pub async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let zone = self.find_zone(record).await?;
        let _guard = self.locks.lock(&zone).await;
        let label = relative_name(record, &zone);
        let text = self.zone_text(&zone).await?.map_err(|why| ProviderError::Rejected {
            provider: self.provider(),
            detail: format!("POST /dns-zone-get {zone}: {why}"),
        })?;
        let changed = if add {
            zonefile::with_txt(&text, &label, &record.value, record.ttl.max(MIN_TTL))
        } else {
            zonefile::without_txt(&text, &label, &record.value)
        };
        let Some(changed) = changed else {
            tracing::debug!(fqdn = %record.fqdn, zone, add, "joker: nothing to change");
            return Ok(());
        };
        let answer = self.request("dns-zone-put", &[("domain", &zone), ("zone", changed.trim_end())]).await?;
        if !answer.ok() {
            return Err(self.rejected(&format!("POST /dns-zone-put {zone}"), &answer));
        }
        tracing::debug!(fqdn = %record.fqdn, zone, add, "joker: zone written");
        Ok(())
    }
}

/// The zone name as Joker spells it: lower case, no trailing dot.
pub fn zone_name(zone: &str) -> String {
    normalize(zone).trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        let a = Answer::parse(
            "Tracking-Id: 1\nStatus-Code: 0\nStatus-Text: Command completed successfully\nAuth-Sid: abc\n\ncom\nnet\n",
        );
        assert!(a.ok());
        assert_eq!(a.auth_sid.as_deref(), Some("abc"));
        assert_eq!(a.body, "com\nnet\n");
        let b = Answer::parse(
            "Status-Code: 2200\r\nStatus-Text: Authentication error\r\nError: Invalid or expired session\r\n\r\n",
        );
        assert!(!b.ok() && b.session_refused());
        assert!(b.said().contains("2200"), "{}", b.said());
        assert!(!Answer::parse("").ok());
    }
}
