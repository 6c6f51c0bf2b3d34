//! `provider = "exec"`: settings, lego's variable names and the registry's view.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use wildcert_dns_api::ProviderError;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SEQUENCE, SecretReader, SettingError, env,
    ignored,
};

use crate::{Exec, ExecSettings, Mode};

/// A program adds and removes the record (lego's contract: `PROGRAM present|cleanup FQDN
/// VALUE`, or `PROGRAM present|cleanup -- DOMAIN TOKEN KEY_AUTH` in RAW mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// The program: a path, or a name looked up in `PATH`.
    pub program: PathBuf,
    /// `"RAW"` for lego's raw mode; default: FQDN and value.
    #[serde(default)]
    pub mode: Mode,
    /// How long one run may take before it and every process it started are killed.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

impl ProviderSpec for Exec {
    type Config = ExecConfig;
    const CODE: &'static str = "exec";
    const NAME: &'static str = "External program";
    const PERMISSIONS: &'static str = "whatever the program uses";
    const NOTES: &'static str =
        "the program must exit only once the record is applied; lego's EXEC_* contract";
    const ENV: &'static [EnvName] = &[
        env("EXEC_PATH", "program", Kind::Text),
        env("EXEC_MODE", "mode", Kind::Text),
        ignored("EXEC_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("EXEC_POLLING_INTERVAL", POLLING),
        ignored("EXEC_SEQUENCE_INTERVAL", SEQUENCE),
    ];

    fn check(config: &ExecConfig, _: &mut dyn Checks) -> Result<(), SettingError> {
        if config.program.as_os_str().is_empty() {
            return Err(SettingError::new("program", "empty; set the path of the script"));
        }
        if config.timeout.is_zero() {
            return Err(SettingError::new("timeout", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(config: &ExecConfig, _: &mut dyn SecretReader) -> Result<Exec, ProviderError> {
        Exec::new(ExecSettings {
            program: config.program.clone(),
            mode: config.mode,
            timeout: config.timeout,
        })
    }
}
