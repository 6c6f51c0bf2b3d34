//! What a provider tells wildcert about itself: its code, its settings (a serde struct the
//! provider owns), the lego environment variable names those settings accept, its offline
//! checks and how it is built. wildcert's registry derives everything else from this: the
//! code list, `wildcert providers`, dispatch and the log filter.
//!
//! A provider never sees the configuration file format. The caller turns whatever it reads
//! into the provider's `Config` through serde, having already folded each secret's three
//! spellings (`x`, `x_file`, `x_env`, and lego's `X_FILE`) into one [`SecretSource`]; the
//! provider asks the caller to read a secret through [`SecretReader`] and to judge a URL
//! through [`Checks::url`], so that those rules live in one place.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::{DnsProvider, ProviderError, Secret};

/// How an environment variable's value (always a string, as lego reads them) becomes the
/// value of a settings field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Copied as a string.
    Text,
    /// A secret: `NAME` is the inline value, `NAME_FILE` (lego's file form) a path.
    Secret,
    /// lego's whole seconds (`"60"`) become a duration (`"60s"`); a value with a unit is kept.
    Seconds,
    /// A whole number.
    Number,
    /// `true`/`false` (lego also accepts `1`/`0`).
    Bool,
}

/// Where one environment variable goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This settings field.
    Key(&'static str, Kind),
    /// Accepted for compatibility but without effect in wildcert, for the reason given.
    Ignored(&'static str),
}

/// One environment variable lego's provider understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvName {
    /// lego's variable name, e.g. `CLOUDFLARE_DNS_API_TOKEN`.
    pub env: &'static str,
    /// The setting it fills, or why it is ignored.
    pub target: Target,
}

/// `env` sets field `key`.
pub const fn env(env: &'static str, key: &'static str, kind: Kind) -> EnvName {
    EnvName { env, target: Target::Key(key, kind) }
}

/// `env` is accepted and ignored, for reason `why`.
pub const fn ignored(env: &'static str, why: &'static str) -> EnvName {
    EnvName { env, target: Target::Ignored(why) }
}

/// Reasons shared by many providers' ignored variables.
pub const PROPAGATION: &str = "wildcert checks propagation itself; see [propagation] timeout";
/// Reason for ignoring lego's polling-interval variables.
pub const POLLING: &str = "wildcert polls the authoritative servers itself; see [propagation]";
/// Reason for ignoring lego's sequence-interval variables.
pub const SEQUENCE: &str = "wildcert does not serialize challenges between names";
/// Reason for ignoring lego's TTL variables.
pub const TTL: &str = "wildcert sets a short challenge TTL itself";

/// Where one secret comes from. The caller builds it from the `x` / `x_file` / `x_env`
/// spellings (exactly one) and reads it; a provider only passes it to [`SecretReader`].
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretSource {
    /// Written in the configuration itself (discouraged).
    Inline(Secret),
    /// In this file (mode 0600).
    File(PathBuf),
    /// In this environment variable.
    Env(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("Inline([redacted])"),
            SecretSource::File(path) => write!(f, "File({})", path.display()),
            SecretSource::Env(var) => write!(f, "Env({var})"),
        }
    }
}

/// A setting the provider cannot use: which key, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingError {
    /// The setting at fault, as written in `[dns.NAME]`.
    pub key: String,
    /// What is wrong and what to write instead; never a secret value.
    pub message: String,
}

impl SettingError {
    /// The error for setting `key`.
    pub fn new(key: &str, message: impl Into<String>) -> SettingError {
        SettingError { key: key.to_string(), message: message.into() }
    }
}

/// The message for a required secret that is not set, the same for every provider.
pub fn missing_secret(key: &str) -> SettingError {
    SettingError::new(
        key,
        format!("missing secret: set {key}_file = \"/path\" (mode 0600) or {key}_env = \"VARIABLE\""),
    )
}

/// A required secret: its source, or the standard message saying how to set it.
pub fn required<'a>(source: &'a Option<SecretSource>, key: &str) -> Result<&'a SecretSource, SettingError> {
    source.as_ref().ok_or_else(|| missing_secret(key))
}

/// A required text setting (a user or account name, an ID): set and not blank, or the error
/// `message` for `key`. Blank counts as missing because a name of spaces is never valid and
/// would otherwise only fail at the provider's API, with a less helpful answer.
pub fn required_text(value: &Option<String>, key: &str, message: &str) -> Result<(), SettingError> {
    if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
        return Err(SettingError::new(key, message));
    }
    Ok(())
}

/// What the caller offers a provider's offline checks.
pub trait Checks {
    /// Judges a URL setting (scheme, host, plain http:// rules) the same way for every
    /// provider.
    fn url(&mut self, key: &str, url: &str) -> Result<(), SettingError>;
    /// A warning about setting `key`, e.g. `("email", "has no effect with an API token")`.
    fn warn(&mut self, key: &str, message: &str);
}

/// The checks every HTTP-API adapter's settings share: `api_url` passes [`Checks::url`] and
/// `timeout` is longer than zero.
pub fn check_http(checks: &mut dyn Checks, api_url: &str, timeout: Duration) -> Result<(), SettingError> {
    checks.url("api_url", api_url)?;
    if timeout.is_zero() {
        return Err(SettingError::new("timeout", "must be longer than zero"));
    }
    Ok(())
}

/// The rules of the AWS adapters' (Route 53, Lightsail) static credentials, which follow the
/// AWS SDK's: `access_key_id` and `secret_access_key` come together or not at all (then the
/// SDK's credential chain answers), and static keys exclude a `profile`. What the session
/// token needs is each adapter's to say.
pub fn check_aws_keys(
    access_key_id: &Option<String>,
    secret_access_key: &Option<SecretSource>,
    profile: &Option<String>,
) -> Result<(), SettingError> {
    match (access_key_id, secret_access_key) {
        (Some(_), None) => return Err(missing_secret("secret_access_key")),
        (None, Some(_)) => {
            return Err(SettingError::new(
                "access_key_id",
                "a secret access key without access_key_id; give both, or neither to use the AWS credential chain",
            ));
        }
        _ => {}
    }
    if access_key_id.is_some() && profile.is_some() {
        return Err(SettingError::new("profile", "set either static keys or profile, not both"));
    }
    Ok(())
}

/// Reads secrets for a provider being built. Errors name the setting and the file or
/// variable, never the value.
pub trait SecretReader {
    /// The secret for setting `key` from `source`; the error says which file or variable
    /// failed, never the value.
    fn read(&mut self, key: &str, source: &SecretSource) -> Result<Secret, String>;
}

/// Reads an optional secret: `Ok(None)` when it is not set.
pub fn read_optional(
    reader: &mut dyn SecretReader,
    provider: &str,
    key: &str,
    source: &Option<SecretSource>,
) -> Result<Option<Secret>, ProviderError> {
    match source {
        Some(source) => reader
            .read(key, source)
            .map(Some)
            .map_err(|detail| ProviderError::Config { provider: provider.to_string(), detail }),
        None => Ok(None),
    }
}

/// Reads a required secret.
pub fn read_required(
    reader: &mut dyn SecretReader,
    provider: &str,
    key: &str,
    source: &Option<SecretSource>,
) -> Result<Secret, ProviderError> {
    read_optional(reader, provider, key, source)?.ok_or_else(|| ProviderError::Config {
        provider: provider.to_string(),
        detail: missing_secret(key).message,
    })
}

/// One DNS provider as wildcert's registry sees it. Implemented by each adapter type next to
/// its `DnsProvider` implementation.
pub trait ProviderSpec: DnsProvider + Sized + Clone + fmt::Debug + 'static {
    /// The settings, a serde struct with `#[serde(deny_unknown_fields)]` and a doc comment on
    /// every field. Secret fields are `Option<SecretSource>` and are named in
    /// [`ProviderSpec::SECRETS`].
    type Config: DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static;
    /// The `provider = "..."` code (lego's).
    const CODE: &'static str;
    /// The provider's name, for people.
    const NAME: &'static str;
    /// Later lego names accepted as well.
    const ALIASES: &'static [&'static str] = &[];
    /// The settings fields that are secrets (each also accepted as `<key>_file`, `<key>_env`).
    const SECRETS: &'static [&'static str] = &[];
    /// lego's environment variable names, for `settings = { ... }` and `wildcert providers`.
    const ENV: &'static [EnvName];
    /// The least the credentials must be allowed to do, for `docs/providers.md`, e.g. "an API
    /// token with Zone:DNS:Edit on the challenge zones". Empty: not documented yet.
    const PERMISSIONS: &'static str = "";
    /// What an operator should know about the provider's DNS: TTL floors, how fast changes
    /// reach its name servers, limits. For `docs/providers.md`; empty: nothing special.
    const NOTES: &'static str = "";
    /// The adapter needs a person at the terminal (`manual`): `wildcert issue` may use it,
    /// the daemon and `renew`, which run unattended, refuse a certificate that does.
    const INTERACTIVE: bool = false;
    /// How long to wait for the record to reach every authoritative server when it is longer
    /// than `[propagation] timeout` (a person typing the record needs minutes, not seconds).
    fn propagation_deadline(&self) -> Option<Duration> {
        None
    }

    /// Offline checks of the settings (no I/O): the first unusable setting, with its key.
    fn check(config: &Self::Config, checks: &mut dyn Checks) -> Result<(), SettingError>;

    /// Builds the adapter, reading its secrets now so that a missing file fails early.
    fn build(config: &Self::Config, secrets: &mut dyn SecretReader) -> Result<Self, ProviderError>;

    /// A DNS server (`host:port`) known to be authoritative for the zones this adapter
    /// updates, e.g. an RFC 2136 primary; API-driven adapters know none.
    fn authoritative_server(&self) -> Option<String> {
        None
    }
}

/// The field names of a serde struct, read from its `Deserialize` implementation: the keys
/// a settings table accepts, for messages and listings, without writing them twice.
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields = None;
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields.unwrap_or(&[])
}

struct FieldProbe<'a>(&'a mut Option<&'static [&'static str]>);

#[derive(Debug)]
struct ProbeDone;

impl fmt::Display for ProbeDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for ProbeDone {}

impl de::Error for ProbeDone {
    fn custom<T: fmt::Display>(_: T) -> Self {
        ProbeDone
    }
}

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = ProbeDone;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeDone> {
        *self.0 = Some(fields);
        Err(ProbeDone)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Human durations in settings: `90s`, `2m`, `12h`, `30d`, `500ms`, or `1h30m`. A bare number
/// is refused: the unit is the part an operator gets wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"5m\", \"12h\" or \"7d\"".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration; write e.g. \"30s\", \"5m\", \"12h\""));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.saturating_mul(60)),
            "h" => Duration::from_secs(value.saturating_mul(3600)),
            "d" => Duration::from_secs(value.saturating_mul(86_400)),
            "" => return Err(format!("`{text}` has no unit; write e.g. \"{value}s\" or \"{value}m\"")),
            other => return Err(format!("`{text}`: unknown unit `{other}` (use ms, s, m, h or d)")),
        };
        total = total.saturating_add(part);
    }
    if total > MAX_DURATION {
        return Err(format!("`{text}` is longer than the 100 years wildcert can schedule"));
    }
    Ok(total)
}

/// The longest duration a setting accepts: anything added to "now" stays far inside the
/// calendar, so no scheduling arithmetic can overflow on a typo like `99999999999d`.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// serde adapter for `#[serde(deserialize_with = "wildcert_dns_api::spec::duration")]`.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct DurationVisitor;
    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"30s\", \"5m\", \"12h\" or \"7d\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(DurationVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        api_url: String,
        api_key: Option<SecretSource>,
        #[serde(default, deserialize_with = "duration")]
        timeout: Duration,
    }

    #[test]
    fn aws_keys_come_in_pairs_and_exclude_a_profile() {
        let id = Some("AKIDEXAMPLE".to_string());
        let secret = Some(SecretSource::Env("AWS_SECRET_ACCESS_KEY".into()));
        let profile = Some("dns".to_string());
        assert!(check_aws_keys(&None, &None, &profile).is_ok(), "the credential chain with a profile");
        assert!(check_aws_keys(&id, &secret, &None).is_ok());
        assert_eq!(check_aws_keys(&id, &None, &None).unwrap_err().key, "secret_access_key");
        assert_eq!(check_aws_keys(&None, &secret, &None).unwrap_err().key, "access_key_id");
        assert_eq!(check_aws_keys(&id, &secret, &profile).unwrap_err().key, "profile");
    }

    #[test]
    fn required_text_refuses_missing_and_blank() {
        assert!(required_text(&Some("cl12345".into()), "api_user", "set it").is_ok());
        for value in [None, Some(String::new()), Some(" \t".into())] {
            let err = required_text(&value, "api_user", "set the project").unwrap_err();
            assert_eq!(err, SettingError::new("api_user", "set the project"));
        }
    }

    #[test]
    fn fields_come_from_the_struct() {
        assert_eq!(struct_fields::<Sample>(), ["api_url", "api_key", "timeout"]);
        assert!(struct_fields::<String>().is_empty());
    }

    #[test]
    fn secret_source_debug_hides_inline_value() {
        let text = format!("{:?}", SecretSource::Inline(Secret::new("hunter2")));
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(missing_secret("api_key").key, "api_key");
        assert!(missing_secret("api_key").message.contains("api_key_file"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
    }
}
