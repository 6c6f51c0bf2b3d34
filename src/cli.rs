//! Command line: parse, set up logging, run one command, map the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::commands::error::CommandError;
use wildcert::config::{Config, DEFAULT_CONFIG_PATH};
use wildcert::exit::{EXIT_CODES_HELP, Status};
use wildcert::logging;

#[derive(Debug, Parser)]
#[command(
    name = "wildcert",
    version,
    about = "Gets, renews, checks and stores wildcard TLS certificates",
    long_about = "Gets, renews, checks and stores wildcard TLS certificates.\n\n\
        Certificates come from an ACME CA (Let's Encrypt, ZeroSSL, Google, a private CA) proven \
        through DNS-01 TXT records, or from a key and full-chain bundle you supply. They are \
        checked, stored privately in an S3-compatible bucket and a local directory, and \
        renewed on time.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', global = true, env = "WILDCERT_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// More log output (-v debug, -vv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormatArg::Text, env = "WILDCERT_LOG_FORMAT")]
    pub log_format: LogFormatArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Get certificates now (skips ones not due yet: the schedule `status` shows).
    Issue(IssueArgs),
    /// Renew what is due now and exit (for a systemd timer or cron).
    Renew(RenewArgs),
    /// Run as a service: renew on schedule, pick up certificates other hosts stored.
    Run,
    /// Show each certificate: source, names, expiry, next action, last error.
    Status(StatusArgs),
    /// Check a private key and certificate bundle and say exactly what is wrong.
    Verify(VerifyArgs),
    /// Check a supplied key + bundle and store it like an issued certificate.
    Import(ImportArgs),
    /// Fetch the current certificate from the bucket into a directory.
    Pull(PullArgs),
    /// Bucket pre-installation helpers: policy, check, setup.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// DNS helpers.
    #[command(subcommand)]
    Dns(DnsCommand),
    /// List the DNS provider codes wildcert understands.
    Providers,
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Revoke the certificate in use (e.g. its key leaked); the next renewal replaces it.
    Revoke(commands::revoke::RevokeArgs),
    /// ACME account helpers.
    #[command(subcommand)]
    Account(commands::account::AccountCommand),
    /// Write a first configuration: by questions, or from the Gradient installer's Terraform.
    Init(commands::init::InitArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), made from the same definitions as --help.
    #[command(hide = true)]
    Manpage,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Only this certificate (default: every ACME certificate in the config).
    #[arg(long)]
    pub cert: Option<String>,
    /// Issue even if the current certificate is not due for renewal.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Only this certificate.
    #[arg(long)]
    pub cert: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 usable (warnings allowed), 3 unusable (each problem is printed), 2 bad arguments."
)]
pub struct VerifyArgs {
    /// The private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long)]
    pub key: PathBuf,
    /// Certificate bundle(s): the leaf and its intermediates, in any order across files.
    #[arg(long = "bundle", required = true)]
    pub bundles: Vec<PathBuf>,
    /// Names the certificate must cover (default: the configured certificate's, else the leaf's).
    #[arg(long = "domain")]
    pub domains: Vec<String>,
    /// Trust anchors (PEM) the chain must reach; default: the system store.
    #[arg(long, conflicts_with = "no_trust")]
    pub roots: Option<PathBuf>,
    /// Do not check that the chain reaches a trusted root (the path below the chain's top is
    /// still validated as TLS clients validate it).
    #[arg(long)]
    pub no_trust: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Write a corrected bundle (leaf, then intermediates) to --out.
    #[arg(long, requires = "out")]
    pub fix: bool,
    /// Where --fix writes the corrected bundle (atomically; never the key file).
    #[arg(long, requires = "fix")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The configured certificate name to store it as.
    #[arg(long)]
    pub cert: String,
    /// The private key (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long)]
    pub key: PathBuf,
    /// Certificate bundle(s): the leaf and its intermediates, in any order across files.
    #[arg(long = "bundle", required = true)]
    pub bundles: Vec<PathBuf>,
    /// Trust anchors (PEM) the chain must reach; default: the system store.
    #[arg(long, conflicts_with = "no_trust")]
    pub roots: Option<PathBuf>,
    /// Do not check that the chain reaches a trusted root (the path below the chain's top is
    /// still validated as TLS clients validate it).
    #[arg(long)]
    pub no_trust: bool,
    /// Store even if it expires sooner than the stored certificate (or is the same one).
    /// A pair that fails the checks is never stored.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[arg(long)]
    pub cert: String,
    /// Directory to write privkey.pem, fullchain.pem, cert.pem, chain.pem into.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum BucketCommand {
    /// Print the restricted-user IAM policy for the bucket.
    Policy {
        /// Bucket name (default: storage.bucket from the config).
        #[arg(long)]
        bucket: Option<String>,
    },
    /// Check object access under the prefix (what the restricted user needs), then CORS and
    /// versioning (what only the bucket owner may look at).
    Check {
        /// The configured keys are the restricted user's: check object access only and print
        /// the owner's steps (also chosen when the bucket denies the bucket-level calls).
        #[arg(long)]
        restricted: bool,
    },
    /// Create the bucket if missing and add the console's CORS rule (idempotent).
    Setup {
        /// Use the bucket owner's credentials from the AWS chain (AWS_ACCESS_KEY_ID /
        /// AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...) instead of the configured restricted keys.
        #[arg(long)]
        owner: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Pre-flight: zone, name servers, a probe TXT written, seen everywhere, removed.
    Check {
        #[arg(long)]
        cert: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Parse and validate the configuration, read its secrets, print warnings.
    Check,
}

/// `--log-format`: the command line's name for `logging::LogFormat` (the library does not
/// know clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

impl From<LogFormatArg> for logging::LogFormat {
    fn from(f: LogFormatArg) -> logging::LogFormat {
        match f {
            LogFormatArg::Text => logging::LogFormat::Text,
            LogFormatArg::Json => logging::LogFormat::Json,
        }
    }
}

/// Entry point for the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = if cli.quiet { -1 } else { cli.verbose.min(3) as i8 };
    logging::init(verbosity, cli.log_format.into());
    // One thread: the work is waiting on the network; key generation and file writes go to
    // the small blocking pool.
    let runtime =
        match tokio::runtime::Builder::new_current_thread().max_blocking_threads(4).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return Status::Failed.into();
            }
        };
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            eprintln!("error: {}", wildcert::error_chain::message(&err));
            exit_status(&err).into()
        }
    }
}

/// The exit code of a failed command: decided by the variant alone. A library error that can
/// pass (CA, DNS, bucket unreachable; rate limited) exits `Temporary`, so a timer or script
/// knows to try again later.
fn exit_status(err: &CommandError) -> Status {
    let transient = |yes: bool| if yes { Status::Temporary } else { Status::Failed };
    match err {
        CommandError::Config(_) => Status::Usage,
        CommandError::Renewal(e) => Status::from(e),
        CommandError::Bundle(_) | CommandError::PulledVersion { .. } => Status::Invalid,
        CommandError::Challenge(e) => transient(e.is_transient()),
        CommandError::Acme(e) => transient(e.is_transient()),
        CommandError::Provider(e) => transient(e.is_transient()),
        CommandError::Dns(e) => transient(e.is_transient()),
        CommandError::Store(e) | CommandError::SetupDenied { source: e, .. } => transient(e.is_transient()),
        // The service reads its configuration itself: a bad one is still a usage error.
        CommandError::Daemon(wildcert::daemon::Error::Config(_)) => Status::Usage,
        CommandError::Unfinished { first, .. } => exit_status(first),
        CommandError::Daemon(_)
        | CommandError::InitWrite(_)
        | CommandError::Json(_)
        | CommandError::Io(_)
        | CommandError::NotIssuedByAcme { .. }
        | CommandError::PolicyWithoutConfig { .. }
        | CommandError::PolicyWithoutBucket { .. }
        | CommandError::BucketName(_)
        | CommandError::NoBucket { .. }
        | CommandError::NothingToPullFrom { .. }
        | CommandError::NotInBucket { .. }
        | CommandError::OutDir { .. }
        | CommandError::OutNotADirectory { .. }
        | CommandError::OutHidden { .. }
        | CommandError::OutNotEmpty { .. }
        | CommandError::NotRevocable { .. }
        | CommandError::NothingToRevoke { .. }
        | CommandError::NoReadableLeaf { .. }
        | CommandError::NoPemCertificate
        | CommandError::UnreadablePem(_)
        | CommandError::RevokedNotRecorded { .. }
        | CommandError::NotAFileName { .. }
        | CommandError::Write { .. } => Status::Failed,
    }
}

async fn dispatch(cli: Cli) -> Result<Status, CommandError> {
    let load = || Config::load(&cli.config);
    match cli.command {
        Command::Issue(args) => commands::issue::run(load()?, args).await,
        Command::Renew(args) => commands::renew::run(load()?, args).await,
        Command::Run => commands::daemon::run(cli.config.clone()).await,
        Command::Status(args) => commands::status::run(load()?, args).await,
        Command::Verify(args) => {
            // The config is optional here: it only supplies default names to check.
            let config = if cli.config.exists() { Some(load()?) } else { None };
            commands::verify::run(config, args).await
        }
        Command::Import(args) => commands::import::run(load()?, args).await,
        Command::Pull(args) => commands::pull::run(load()?, args).await,
        Command::Bucket(cmd) => commands::bucket::run(&cli.config, cmd).await,
        Command::Dns(DnsCommand::Check { cert }) => commands::dns_check::run(load()?, cert).await,
        Command::Providers => commands::providers::run().await,
        Command::Config(ConfigCommand::Check) => commands::config_check::run(load()?).await,
        Command::Revoke(args) => commands::revoke::run(load()?, args).await,
        Command::Account(cmd) => commands::account::run(load()?, cmd).await,
        Command::Init(args) => commands::init::run(&cli.config, args).await,
        Command::Completions { shell } => commands::completions::completions(shell),
        Command::Manpage => commands::completions::manpage(),
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use wildcert::acme::AcmeError;
    use wildcert::challenge::ChallengeError;
    use wildcert::config::ConfigError;
    use wildcert::dns::DnsError;
    use wildcert::exit::Status;
    use wildcert::store::StoreError;
    use wildcert_dns_api::ProviderError;

    use super::{CommandError, exit_status};

    fn store(transient: bool) -> StoreError {
        StoreError::Bucket { bucket: "b".into(), endpoint: "e".into(), detail: "d".into(), transient }
    }

    fn acme(transient: bool) -> AcmeError {
        if transient {
            AcmeError::Unreachable { url: "u".into(), detail: "d".into() }
        } else {
            AcmeError::Refused { url: "u".into(), detail: "d".into() }
        }
    }

    fn provider(transient: bool) -> ProviderError {
        if transient {
            ProviderError::Unreachable { provider: "p".into(), detail: "d".into() }
        } else {
            ProviderError::Auth { provider: "p".into(), detail: "d".into() }
        }
    }

    fn dns(transient: bool) -> DnsError {
        if transient {
            DnsError::Unreachable { server: "s".into(), detail: "d".into() }
        } else {
            DnsError::NoZone { name: "n".into(), detail: "d".into() }
        }
    }

    fn config() -> ConfigError {
        ConfigError::Invalid { path: "c.toml".into(), line: None, key: "k".into(), message: "m".into() }
    }

    fn rejected() -> wildcert::bundle::BundleRejected {
        wildcert::bundle::BundleRejected { problems: Vec::new() }
    }

    fn io() -> io::Error {
        io::Error::other("disk full")
    }

    /// Every variant's exit code: the ones scripts and timers branch on (`wildcert --help`).
    #[test]
    fn each_variant_has_its_exit_code() {
        use wildcert::renewal::Error as Renewal;
        let path = || PathBuf::from("/x/y");
        let name = || "gradient".to_string();
        let cases: Vec<(CommandError, Status)> = vec![
            (config().into(), Status::Usage),
            (Renewal::Stopped.into(), Status::Failed),
            (Renewal::Acme(acme(true)).into(), Status::Temporary),
            (Renewal::Bundle(rejected()).into(), Status::Invalid),
            (Renewal::Lock(store(true)).into(), Status::Temporary),
            (rejected().into(), Status::Invalid),
            (ChallengeError::Dns(dns(true)).into(), Status::Temporary),
            (ChallengeError::Provider(provider(false)).into(), Status::Failed),
            (acme(true).into(), Status::Temporary),
            (acme(false).into(), Status::Failed),
            (provider(true).into(), Status::Temporary),
            (provider(false).into(), Status::Failed),
            (dns(true).into(), Status::Temporary),
            (dns(false).into(), Status::Failed),
            (store(true).into(), Status::Temporary),
            (store(false).into(), Status::Failed),
            (StoreError::Busy { name: name(), holder: "h".into() }.into(), Status::Temporary),
            (wildcert::daemon::Error::Config(config()).into(), Status::Usage),
            (wildcert::daemon::Error::Signal(io()).into(), Status::Failed),
            (wildcert::init::write::WriteError::Exists { paths: vec![path()] }.into(), Status::Failed),
            (serde_json::from_str::<u8>("x").unwrap_err().into(), Status::Failed),
            (CommandError::Io(io()), Status::Failed),
            (
                CommandError::Unfinished { summary: "s", first: Box::new(store(true).into()) },
                Status::Temporary,
            ),
            (CommandError::Unfinished { summary: "s", first: Box::new(config().into()) }, Status::Usage),
            (
                CommandError::Unfinished { summary: "s", first: Box::new(Renewal::Stopped.into()) },
                Status::Failed,
            ),
            (CommandError::NotIssuedByAcme { name: name() }, Status::Failed),
            (CommandError::PolicyWithoutConfig { config: path() }, Status::Failed),
            (CommandError::PolicyWithoutBucket { config: path() }, Status::Failed),
            (CommandError::BucketName("n".into()), Status::Failed),
            (CommandError::NoBucket { config: path() }, Status::Failed),
            (CommandError::SetupDenied { hint: "h", source: store(false) }, Status::Failed),
            (CommandError::SetupDenied { hint: "h", source: store(true) }, Status::Temporary),
            (CommandError::NothingToPullFrom { config: path() }, Status::Failed),
            (CommandError::NotInBucket { name: name(), at: "a".into() }, Status::Failed),
            (CommandError::PulledVersion { version: "v".into(), source: rejected() }, Status::Invalid),
            (CommandError::OutDir { out: path(), source: io() }, Status::Failed),
            (CommandError::OutNotADirectory { out: path() }, Status::Failed),
            (CommandError::OutHidden { out: path() }, Status::Failed),
            (CommandError::OutNotEmpty { out: path(), others: vec!["a".into()] }, Status::Failed),
            (CommandError::NotRevocable { name: name() }, Status::Failed),
            (CommandError::NothingToRevoke { name: name() }, Status::Failed),
            (CommandError::NoReadableLeaf { name: name() }, Status::Failed),
            (CommandError::NoPemCertificate, Status::Failed),
            (
                CommandError::UnreadablePem(rustls_pki_types::pem::Error::MissingSectionEnd {
                    end_marker: Vec::new(),
                }),
                Status::Failed,
            ),
            (
                CommandError::RevokedNotRecorded {
                    serial: "01".into(),
                    state_dir: path(),
                    name: name(),
                    source: io(),
                },
                Status::Failed,
            ),
            (CommandError::NotAFileName { path: path() }, Status::Failed),
            (CommandError::Write { path: path(), source: io() }, Status::Failed),
        ];
        for (err, status) in cases {
            assert_eq!(exit_status(&err), status, "{err:?}");
        }
    }

    /// A command's own context comes first and the library's message once after it, as the
    /// `anyhow` context printed it before.
    #[test]
    fn context_then_cause_each_once() {
        let message = |e: &CommandError| wildcert::error_chain::message(e);
        let busy = StoreError::Busy { name: "gradient".into(), holder: "host-b".into() };
        let unfinished = CommandError::Unfinished {
            summary: "not every certificate could be issued",
            first: Box::new(busy.into()),
        };
        assert_eq!(
            message(&unfinished),
            "not every certificate could be issued: gradient: another process is renewing it: host-b; try again later"
        );
        let write = CommandError::Write { path: "/x/y".into(), source: io() };
        assert_eq!(message(&write), "cannot write /x/y: disk full");
        let denied = CommandError::SetupDenied { hint: "ask the owner", source: store(false) };
        assert_eq!(message(&denied), "ask the owner: bucket b at e: d");
        assert_eq!(message(&CommandError::from(config())), "c.toml: k: m");
    }
}
