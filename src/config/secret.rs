//! Secrets from the configuration: inline, from a file, or from an environment variable.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use wildcert_dns_api::Secret;
use wildcert_dns_api::spec::{SecretReader, SecretSource};

/// The three places one secret may come from; exactly one must be used.
#[derive(Debug, Clone, Default)]
pub struct SecretKeys {
    /// `<key>`: the value written in the configuration (discouraged; `config check` warns).
    pub inline: Option<Secret>,
    /// `<key>_file`: a file holding it, best 0600 (a readable one draws a warning).
    pub file: Option<PathBuf>,
    /// `<key>_env`: the name of an environment variable holding it (e.g. set by the unit's
    /// `EnvironmentFile`).
    pub env: Option<String>,
}

impl SecretKeys {
    /// Fails unless exactly one source is set. `key` is the setting's name for messages.
    pub fn check_present(&self, key: &str) -> Result<(), String> {
        match self.count() {
            1 => Ok(()),
            0 => Err(format!(
                "missing secret: set {key}_file = \"/path\" (mode 0600) or {key}_env = \"VARIABLE\""
            )),
            _ => Err(format!("set only one of {key}, {key}_file and {key}_env")),
        }
    }

    fn count(&self) -> usize {
        [self.inline.is_some(), self.file.is_some(), self.env.is_some()].iter().filter(|b| **b).count()
    }

    /// Whether any source is set, for optional secrets.
    pub fn is_set(&self) -> bool {
        self.count() > 0
    }

    /// The one source that is set, if any; an error when more than one is.
    pub fn source(self, key: &str) -> Result<Option<SecretSource>, String> {
        if self.count() > 1 {
            return Err(format!("set only one of {key}, {key}_file and {key}_env"));
        }
        Ok(match (self.inline, self.file, self.env) {
            (Some(secret), _, _) => Some(SecretSource::Inline(secret)),
            (_, Some(path), _) => Some(SecretSource::File(path)),
            (_, _, Some(var)) => Some(SecretSource::Env(var)),
            _ => None,
        })
    }
}

/// Reads DNS adapters' secrets, collecting warnings (a secret file others can read).
pub struct ConfigSecrets<'a> {
    /// Where warnings go: the configuration's list, which `config check` prints.
    pub warnings: &'a mut Vec<String>,
}

impl SecretReader for ConfigSecrets<'_> {
    fn read(&mut self, key: &str, source: &SecretSource) -> Result<Secret, String> {
        read_source(source, key, self.warnings)
    }
}

/// Reads the secret now. Errors name the setting and the file or variable, never the value.
/// A secret file that others can read is accepted but reported in `warnings`.
pub fn read_secret(keys: &SecretKeys, key: &str, warnings: &mut Vec<String>) -> Result<Secret, String> {
    keys.check_present(key)?;
    let source = keys.clone().source(key)?.expect("exactly one source is set");
    read_source(&source, key, warnings)
}

/// Reads one secret from where it is. Errors name the setting and the file or variable,
/// never the value.
pub fn read_source(source: &SecretSource, key: &str, warnings: &mut Vec<String>) -> Result<Secret, String> {
    let path = match source {
        SecretSource::Inline(secret) => return Ok(secret.clone()),
        SecretSource::File(path) => path,
        SecretSource::Env(var) => {
            return match std::env::var(var) {
                Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim())),
                Ok(_) => Err(format!("{key}_env: environment variable {var} is empty")),
                Err(_) => Err(format!("{key}_env: environment variable {var} is not set")),
            };
        }
    };
    let meta = std::fs::metadata(path).map_err(|e| format!("{key}_file {}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        warnings
            .push(format!("{key}_file {} is readable by other users; run chmod 600 on it", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{key}_file {}: {e}", path.display()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("{key}_file {} is empty", path.display()));
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_file_and_warns_when_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "c2VjcmV0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let keys = SecretKeys { file: Some(path.clone()), ..Default::default() };
        let mut warnings = Vec::new();
        let s = read_secret(&keys, "tsig_secret", &mut warnings).unwrap();
        assert_eq!(s.expose(), "c2VjcmV0");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("chmod 600"));
    }

    #[test]
    fn missing_env_is_named_without_value() {
        let keys = SecretKeys { env: Some("WILDCERT_TEST_UNSET_VAR".into()), ..Default::default() };
        let err = read_secret(&keys, "tsig_secret", &mut Vec::new()).unwrap_err();
        assert!(err.contains("WILDCERT_TEST_UNSET_VAR is not set"), "{err}");
    }

    #[test]
    fn exactly_one_source() {
        let none = SecretKeys::default();
        assert!(none.check_present("k").unwrap_err().contains("k_file"));
        let both = SecretKeys { inline: Some(Secret::new("a")), env: Some("B".into()), ..Default::default() };
        assert!(both.check_present("k").is_err());
    }
}
