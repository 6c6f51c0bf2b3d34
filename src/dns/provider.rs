//! The configured DNS adapter, chosen from a `[dns.NAME]` table.
//!
//! Each adapter is a crate under `providers/` that implements `DnsProvider` and
//! `ProviderSpec` (its code, settings struct, lego variable names, checks and constructor)
//! and knows nothing of the configuration format. `registry!` turns one line per adapter
//! (in `dns/registry.rs`) into everything wildcert needs: the `Provider` and
//! `ProviderConfig` enums that forward to the adapters, the list behind `wildcert
//! providers`, and the crates whose logs are shown.

use wildcert_dns_api::ProviderError;
use wildcert_dns_api::spec::{Checks, EnvName, Kind, ProviderSpec, SecretReader, SettingError, Target};

use crate::config::DnsSection;
use crate::config::secret::ConfigSecrets;

/// Builds the registry from lines `Variant("code") => crate_name::Type,`; a line may carry
/// `#[cfg(feature = "...")]` for an adapter behind a cargo feature.
macro_rules! registry {
    ($( $(#[cfg(feature = $feature:literal)])? $variant:ident($code:literal) => $krate:ident :: $ty:ident, )*) => {
        use $crate::dns::provider::Builtin;
        use wildcert_dns_api::spec::{ProviderSpec as _Spec, SecretReader as _Reader};
        use wildcert_dns_api::{DnsProvider as _Dns, ProviderError as _Error, TxtRecord as _Record};

        /// A ready-to-use adapter.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum Provider {
            $( $(#[cfg(feature = $feature)])?
            #[doc = concat!("The `", $code, "` adapter (crate `", stringify!($krate), "`).")]
            $variant($krate::$ty), )*
        }

        /// The checked settings of one `[dns.NAME]` table, secrets not yet read.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum ProviderConfig {
            $( $(#[cfg(feature = $feature)])?
            #[doc = concat!("Settings of a `provider = \"", $code, "\"` table.")]
            $variant(<$krate::$ty as _Spec>::Config), )*
        }

        impl ProviderConfig {
            /// The canonical code of the adapter.
            pub fn code(&self) -> &'static str {
                match self {
                    $( $(#[cfg(feature = $feature)])? ProviderConfig::$variant(_) => <$krate::$ty as _Spec>::CODE, )*
                }
            }

            pub(crate) fn build(&self, secrets: &mut dyn _Reader) -> Result<Provider, _Error> {
                match self {
                    $( $(#[cfg(feature = $feature)])? ProviderConfig::$variant(config) =>
                        <$krate::$ty as _Spec>::build(config, secrets).map(Provider::$variant), )*
                }
            }
        }

        impl Provider {
            /// The adapter's own authoritative server, `host:port`, if it has one.
            pub fn server(&self) -> Option<String> {
                match self {
                    $( $(#[cfg(feature = $feature)])? Provider::$variant(p) => p.authoritative_server(), )*
                }
            }

            /// A person creates the records (`ProviderSpec::INTERACTIVE`).
            pub fn interactive(&self) -> bool {
                match self {
                    $( $(#[cfg(feature = $feature)])? Provider::$variant(_) => <$krate::$ty as _Spec>::INTERACTIVE, )*
                }
            }

            /// The adapter's own propagation deadline, when longer waits are its nature.
            pub fn propagation_deadline(&self) -> Option<std::time::Duration> {
                match self {
                    $( $(#[cfg(feature = $feature)])? Provider::$variant(p) => p.propagation_deadline(), )*
                }
            }
        }

        impl _Dns for Provider {
            fn describe(&self) -> String {
                match self {
                    $( $(#[cfg(feature = $feature)])? Provider::$variant(p) => p.describe(), )*
                }
            }

            async fn present(&self, record: &_Record) -> Result<(), _Error> {
                match self {
                    $( $(#[cfg(feature = $feature)])? Provider::$variant(p) => p.present(record).await, )*
                }
            }

            async fn cleanup(&self, record: &_Record) -> Result<(), _Error> {
                match self {
                    $( $(#[cfg(feature = $feature)])? Provider::$variant(p) => p.cleanup(record).await, )*
                }
            }
        }

        /// Every adapter in this build, in registry order.
        pub fn builtins() -> &'static [Builtin] {
            static ALL: std::sync::LazyLock<Vec<Builtin>> = std::sync::LazyLock::new(|| {
                #[allow(unused_mut)]
                let mut all = Vec::new();
                $(
                    $(#[cfg(feature = $feature)])?
                    all.push(Builtin::of::<$krate::$ty>($code, stringify!($krate), |table, checks| {
                        $crate::config::dns::parse_settings::<$krate::$ty>(table, checks)
                            .map(ProviderConfig::$variant)
                    }));
                )*
                all
            });
            &ALL
        }

        /// Adapters of this source tree left out of this build: (code, cargo feature).
        pub fn left_out() -> Vec<(&'static str, &'static str)> {
            #[allow(unused_mut)]
            let mut out = Vec::new();
            $( $(
                #[cfg(not(feature = $feature))]
                out.push(($code, $feature));
            )? )*
            out
        }
    };
}

pub(crate) use registry;

pub use super::registry::{Provider, ProviderConfig, builtins, left_out};

/// Parses a table (TOML, already normalized by the config glue) into an adapter's settings.
pub type ParseFn = fn(toml::Table, &mut dyn Checks) -> Result<ProviderConfig, SettingError>;

/// What the registry knows about one built-in adapter, without its types.
pub struct Builtin {
    /// The `provider = "..."` code (lego's), the key of dispatch and `wildcert providers`.
    pub code: &'static str,
    /// The provider's name, for people (`wildcert providers`, docs/providers.md).
    pub name: &'static str,
    /// Other codes accepted for it (later lego names), so lego configurations carry over.
    pub aliases: &'static [&'static str],
    /// lego's environment variable names.
    pub env: &'static [EnvName],
    /// Settings fields that are secrets (each also spelled `<key>_file`, `<key>_env`).
    pub secrets: &'static [&'static str],
    /// Every field of the settings struct.
    pub fields: &'static [&'static str],
    /// The adapter's crate, for the log filter.
    pub crate_name: &'static str,
    /// Turns its `[dns.NAME]` table into the adapter's checked settings.
    pub parse: ParseFn,
    /// What the credentials must be allowed to do (`ProviderSpec::PERMISSIONS`).
    pub permissions: &'static str,
    /// TTL floors, propagation behaviour (`ProviderSpec::NOTES`).
    pub notes: &'static str,
    /// Needs a person at the terminal (`ProviderSpec::INTERACTIVE`).
    pub interactive: bool,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin").field("code", &self.code).finish_non_exhaustive()
    }
}

impl Builtin {
    /// The entry for adapter `T`, as one registry line builds it; panics when the line's
    /// `code` is not `T::CODE`, so a typo cannot route a code to the wrong adapter.
    pub fn of<T: ProviderSpec>(code: &'static str, crate_name: &'static str, parse: ParseFn) -> Builtin {
        assert_eq!(code, T::CODE, "the registry line's code must be the adapter's CODE");
        Builtin {
            code: T::CODE,
            name: T::NAME,
            aliases: T::ALIASES,
            env: T::ENV,
            secrets: T::SECRETS,
            fields: wildcert_dns_api::spec::struct_fields::<T::Config>(),
            crate_name,
            parse,
            permissions: T::PERMISSIONS,
            notes: T::NOTES,
            interactive: T::INTERACTIVE,
        }
    }

    /// Every key its `[dns.NAME]` table accepts besides `provider` and `settings`: the
    /// fields, with each secret's `_file` and `_env` spellings.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for field in self.fields {
            keys.push(field.to_string());
            if self.secrets.contains(field) {
                keys.push(format!("{field}_file"));
                keys.push(format!("{field}_env"));
            }
        }
        keys
    }

    /// What an environment variable name stands for: lego's `X_FILE` form of a secret `X`
    /// gives the secret's key with `from_file` set.
    pub fn env_target(&self, env: &str) -> Option<(Target, bool)> {
        if let Some(found) = self.env.iter().find(|e| e.env == env) {
            return Some((found.target, false));
        }
        let base = env.strip_suffix("_FILE")?;
        self.env
            .iter()
            .find(|e| e.env == base && matches!(e.target, Target::Key(_, Kind::Secret)))
            .map(|e| (e.target, true))
    }
}

/// The built-in adapter for a code or alias (case-insensitive), also through the installer
/// table's later names.
pub fn find(code: &str) -> Option<&'static Builtin> {
    let code = code.trim().to_ascii_lowercase();
    let canonical = crate::config::provider_codes::lookup(&code).map(|p| p.code);
    builtins()
        .iter()
        .find(|b| b.code == code || b.aliases.contains(&code.as_str()) || Some(b.code) == canonical)
}

/// The crates whose logs follow wildcert's verbosity: the shared ones and every adapter's.
pub fn log_targets() -> Vec<&'static str> {
    let mut targets = vec!["wildcert", "wildcert_dns_api", "wildcert_dns_http"];
    targets.extend(builtins().iter().map(|b| b.crate_name));
    targets
}

/// The adapters built so far in this process, by `[dns.NAME]`, with the settings they were
/// built from.
static SHARED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, (String, Provider)>>> =
    std::sync::LazyLock::new(Default::default);

impl Provider {
    /// The one adapter of this process for `section`: every order, cleanup and recovery that
    /// goes through one `[dns.NAME]` table shares it, and with it the adapter's per-name
    /// serialization (two certificates sharing a challenge name through one Route53 or
    /// PowerDNS table cannot overwrite each other's values) and its caches. Built on first
    /// use, and again when the table's settings change (a reloaded configuration).
    pub fn shared(section: &DnsSection) -> Result<Provider, ProviderError> {
        let settings = format!("{section:?}");
        let mut shared = SHARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((built_from, provider)) = shared.get(&section.name)
            && *built_from == settings
        {
            return Ok(provider.clone());
        }
        let mut warnings = Vec::new();
        let provider = Provider::from_section(section, &mut warnings)?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        shared.insert(section.name.clone(), (settings, provider.clone()));
        Ok(provider)
    }

    /// Forgets the shared adapters, so that the next use reads secrets again (after a reload;
    /// orders still running keep the adapter they have).
    pub fn forget_shared() {
        SHARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// Builds the adapter, reading its secrets now so that a missing file fails early.
    pub fn from_section(section: &DnsSection, warnings: &mut Vec<String>) -> Result<Provider, ProviderError> {
        let mut secrets = ConfigSecrets { warnings };
        section.config.build(&mut secrets as &mut dyn SecretReader)
    }

    /// A server known to be authoritative for the zones this adapter updates (the RFC 2136
    /// primary): used for discovery and always checked for propagation. API-driven adapters
    /// know no DNS server; `[propagation]` covers them.
    pub async fn authoritative_server(&self) -> Option<std::net::SocketAddr> {
        let spec = crate::dns::parse_server(&self.server()?).ok()?;
        tokio::net::lookup_host((spec.host.as_str(), spec.port)).await.ok()?.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn section(dir: &std::path::Path, table: &str) -> DnsSection {
        let secret = dir.join("tsig.secret");
        std::fs::write(&secret, "c2VjcmV0c2VjcmV0c2VjcmV0\n").unwrap();
        let text = format!(
            "[storage]\nlocal_dir = \"{d}/live\"\nstate_dir = \"{d}/state\"\n\
             [dns.{table}]\nprovider = \"rfc2136\"\nnameserver = \"127.0.0.1:53\"\n\
             tsig_key = \"wildcert.\"\ntsig_secret_file = \"{s}\"\n",
            d = dir.display(),
            s = secret.display()
        );
        let path = dir.join("wildcert.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap().dns.get(table).unwrap().clone()
    }

    #[test]
    fn one_adapter_per_table_until_forgotten_or_changed() {
        let dir = tempfile::tempdir().unwrap();
        let table = format!("shared{}", std::process::id());
        let office = section(dir.path(), &table);
        Provider::shared(&office).unwrap();
        // The secret is read once, when the table's adapter is built; later users share it.
        std::fs::remove_file(dir.path().join("tsig.secret")).unwrap();
        Provider::shared(&office).unwrap();
        // Changed settings build a new adapter (and read the secret again).
        let mut moved = office.clone();
        if let ProviderConfig::Rfc2136(cfg) = &mut moved.config {
            cfg.nameserver = "127.0.0.1:5353".into();
        }
        assert!(Provider::shared(&moved).is_err(), "changed settings reuse the old adapter");
        Provider::forget_shared();
        assert!(Provider::shared(&office).is_err(), "a forgotten adapter is built again");
    }
}
