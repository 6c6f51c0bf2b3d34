//! Command line: parse, set up logging, run one command, map the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;
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
            let status = classify(&err);
            eprintln!("error: {}", chain_message(&err));
            status.into()
        }
    }
}

/// Maps an error to its exit status by the first classified error in its chain.
fn classify(err: &anyhow::Error) -> Status {
    for cause in err.chain() {
        if cause.downcast_ref::<wildcert::config::ConfigError>().is_some() {
            return Status::Usage;
        }
        if let Some(e) = cause.downcast_ref::<wildcert::renewal::Error>() {
            return Status::from(e);
        }
        if cause.downcast_ref::<wildcert::bundle::BundleRejected>().is_some() {
            return Status::Invalid;
        }
        if let Some(e) = cause.downcast_ref::<wildcert::challenge::ChallengeError>() {
            return if e.is_transient() { Status::Temporary } else { Status::Failed };
        }
        if let Some(e) = cause.downcast_ref::<wildcert::acme::AcmeError>() {
            return if e.is_transient() { Status::Temporary } else { Status::Failed };
        }
        if let Some(e) = cause.downcast_ref::<wildcert_dns_api::ProviderError>() {
            return if e.is_transient() { Status::Temporary } else { Status::Failed };
        }
        if let Some(e) = cause.downcast_ref::<wildcert::dns::DnsError>() {
            return if e.is_transient() { Status::Temporary } else { Status::Failed };
        }
        if let Some(e) = cause.downcast_ref::<wildcert::store::StoreError>() {
            return if e.is_transient() { Status::Temporary } else { Status::Failed };
        }
    }
    Status::Failed
}

/// `outer: inner: innermost`, skipping causes whose text the outer message already contains.
pub fn chain_message(err: &anyhow::Error) -> String {
    wildcert::error_chain::message(err.as_ref())
}

async fn dispatch(cli: Cli) -> anyhow::Result<Status> {
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
