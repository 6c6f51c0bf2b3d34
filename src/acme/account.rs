//! The ACME account: created once per CA directory, its credentials kept private (0600) in
//! `<state_dir>/accounts/`, reused afterwards.

use std::path::{Path, PathBuf};

use base64::Engine;
use instant_acme::{Account, AccountCredentials, ExternalAccountKey, NewAccount};

use super::AcmeError;
use super::http::AcmeHttp;
use crate::config::{Config, SecretKeys, directory_url, read_secret};
use crate::private_file::write_private_atomic;

/// The file holding the account for `directory` under `state_dir`.
pub fn account_path(state_dir: &Path, directory: &str) -> PathBuf {
    let slug: String = directory
        .trim_start_matches("https://")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    state_dir.join("accounts").join(slug).join("account.json")
}

/// The HTTP client for the configured CA (its roots, timeout, `allow_http`, the proxy).
pub fn client(config: &Config) -> Result<Box<AcmeHttp>, AcmeError> {
    let http = AcmeHttp::new(config.acme.ca_certificates.as_deref(), config.acme.request_timeout)
        .map_err(|detail| AcmeError::Refused { url: directory_url(&config.acme.directory).into(), detail })?
        .allowing_http(config.acme.allow_http);
    Ok(Box::new(http))
}

/// Loads the account for the configured CA, registering one on first use.
pub async fn load_or_create(config: &Config) -> Result<Account, AcmeError> {
    let url = directory_url(&config.acme.directory).to_string();
    let path = account_path(&config.storage.state_dir, &url);
    let account_error = |detail: String| AcmeError::Account { path: path.display().to_string(), detail };

    match std::fs::read(&path) {
        Ok(bytes) => {
            let credentials: AccountCredentials = serde_json::from_slice(&bytes).map_err(|e| {
                account_error(format!("unreadable ({e}); move it away to register a new account"))
            })?;
            let account = Account::builder_with_http(client(config)?)
                .from_credentials(credentials)
                .await
                .map_err(|e| AcmeError::from_client(e, &url))?;
            tracing::debug!(account = account.id(), "using the stored ACME account");
            return Ok(account);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(account_error(e.to_string())),
    }

    let contacts: Vec<&str> = config.acme.contact.iter().map(String::as_str).collect();
    let eab = match &config.acme.eab {
        Some(eab) => {
            let keys = SecretKeys {
                inline: eab.hmac_key.clone(),
                file: eab.hmac_key_file.clone(),
                env: eab.hmac_key_env.clone(),
            };
            let secret = read_secret(&keys, "acme.eab.hmac_key", &mut Vec::new())
                .map_err(|detail| AcmeError::Refused { url: url.clone(), detail })?;
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(secret.expose().trim().trim_end_matches('='))
                .map_err(|_| AcmeError::Refused {
                    url: url.clone(),
                    detail:
                        "acme.eab.hmac_key is not base64url; paste the HMAC key exactly as the CA shows it"
                            .into(),
                })?;
            Some(ExternalAccountKey::new(eab.kid.clone(), &key))
        }
        None => None,
    };
    let (account, credentials) = Account::builder_with_http(client(config)?)
        .create(
            &NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false },
            url.clone(),
            eab.as_ref(),
        )
        .await
        .map_err(|e| match AcmeError::from_client(e, &url) {
            AcmeError::Refused { url, detail } if detail.contains("externalAccountRequired") => AcmeError::Refused {
                url,
                detail: format!("{detail}; this CA needs External Account Binding: set [acme.eab] kid and hmac_key_file"),
            },
            other => other,
        })?;
    save_credentials(&path, &credentials).map_err(|e| account_error(format!("cannot save: {e}")))?;
    tracing::info!(account = account.id(), path = %path.display(), "registered a new ACME account");
    Ok(account)
}

/// Replaces the account key with a new one (RFC 8555 §7.3.5) and stores the new credentials
/// in place of the old (atomically, 0600). The old credentials stay next to them as
/// `account.json.old` (0600) until the new ones are written, so that a failure before the
/// CA answered leaves a usable account either way. Returns the account file's path.
pub async fn rollover(config: &Config) -> Result<PathBuf, AcmeError> {
    let url = directory_url(&config.acme.directory).to_string();
    let path = account_path(&config.storage.state_dir, &url);
    let account_error = |detail: String| AcmeError::Account { path: path.display().to_string(), detail };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(account_error(
                "no ACME account stored for this CA yet: there is no key to roll over".into(),
            ));
        }
        Err(e) => return Err(account_error(e.to_string())),
    };
    let credentials: AccountCredentials = serde_json::from_slice(&bytes)
        .map_err(|e| account_error(format!("unreadable ({e}); cannot roll over its key")))?;
    let backup = path.with_extension("json.old");
    write_private_atomic(&backup, &bytes).map_err(|e| account_error(format!("cannot keep a backup: {e}")))?;
    let mut account = Account::builder_with_http(client(config)?)
        .from_credentials(credentials)
        .await
        .map_err(|e| AcmeError::from_client(e, &url))?;
    let fresh = account.update_key().await.map_err(|e| AcmeError::from_client(e, &url))?;
    save_credentials(&path, &fresh).map_err(|e| {
        account_error(format!(
            "the CA accepted the new key but it could not be saved ({e}); the old key in {} no longer works",
            backup.display()
        ))
    })?;
    let _ = std::fs::remove_file(&backup);
    tracing::info!(account = account.id(), path = %path.display(), "rolled over the ACME account key");
    Ok(path)
}

fn save_credentials(path: &Path, credentials: &AccountCredentials) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(credentials).map_err(std::io::Error::other)?;
    Ok(write_private_atomic(path, &json)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_path_is_per_directory() {
        let a = account_path(Path::new("/s"), "https://127.0.0.1:14000/dir");
        assert_eq!(a, Path::new("/s/accounts/127.0.0.1_14000_dir/account.json"));
        assert_ne!(a, account_path(Path::new("/s"), "https://acme-v02.api.letsencrypt.org/directory"));
    }
}
