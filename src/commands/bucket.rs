//! `wildcert bucket {policy, check, setup}`: the platform's pre-installation steps for the
//! artifact bucket.

use std::path::Path;

use crate::cli::BucketCommand;
use crate::commands::error::CommandError;
use wildcert::config::Config;
use wildcert::exit::Status;
use wildcert::store::bucket::{self, Level};
use wildcert::store::{S3Store, StoreError};

pub async fn run(config_path: &Path, cmd: BucketCommand) -> Result<Status, CommandError> {
    match cmd {
        BucketCommand::Policy { bucket } => policy(config_path, bucket),
        BucketCommand::Check { restricted } => check(&Config::load(config_path)?, restricted).await,
        BucketCommand::Setup { owner } => {
            let keys = if owner { Keys::OwnerChain } else { Keys::Configured };
            setup(&Config::load(config_path)?, keys).await
        }
    }
}

fn policy(config_path: &Path, bucket: Option<String>) -> Result<Status, CommandError> {
    let bucket = match bucket {
        Some(b) => b,
        None => {
            if !config_path.exists() {
                return Err(CommandError::PolicyWithoutConfig { config: config_path.to_owned() });
            }
            let config = Config::load(config_path)?;
            config
                .storage
                .bucket
                .ok_or_else(|| CommandError::PolicyWithoutBucket { config: config_path.to_owned() })?
        }
    };
    bucket::check_bucket_name(&bucket).map_err(CommandError::BucketName)?;
    println!("{}", serde_json::to_string_pretty(&bucket::policy(&bucket)).expect("serializable"));
    Ok(Status::Ok)
}

/// Whose credentials a bucket command signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// The configured keys (usually the restricted user's).
    Configured,
    /// The AWS credential chain (environment, profile): the bucket owner's, for the
    /// bucket-level calls a restricted user may not make.
    OwnerChain,
}

async fn connect(config: &Config, keys: Keys) -> Result<S3Store, CommandError> {
    if config.storage.bucket.is_none() {
        return Err(CommandError::NoBucket { config: config.path.clone() });
    }
    let mut storage = config.storage.clone();
    if keys == Keys::OwnerChain {
        storage.access_key_id = None;
        storage.secret_access_key = None;
        storage.secret_access_key_file = None;
        storage.secret_access_key_env = None;
    }
    Ok(S3Store::connect(&storage).await?)
}

fn owner_steps(config: &Config, store: &S3Store) -> String {
    bucket::owner_steps(store.bucket(), config.storage.endpoint.as_deref(), &config.storage.console_origin)
}

async fn check(config: &Config, restricted: bool) -> Result<Status, CommandError> {
    let store = connect(config, Keys::Configured).await?;
    println!("bucket {} at {} (prefix {:?})", store.bucket(), store.endpoint(), store.prefix());
    let findings = bucket::check(&store, &config.storage.console_origin, restricted).await;
    for f in &findings {
        let tag = match f.level {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Fail => "FAIL",
            Level::Skipped => "skip",
            Level::Owner => "owner",
        };
        println!("  {tag:<5} {}", f.what);
    }
    let failed: Vec<_> = findings.iter().filter(|f| f.level == Level::Fail).collect();
    let left_to_owner = findings.iter().any(|f| f.level == Level::Owner);
    if left_to_owner {
        println!("\n{}\n", owner_steps(config, &store));
    }
    if failed.is_empty() {
        if left_to_owner {
            println!("bucket check passed for these (restricted) credentials; the owner's steps are above");
        } else {
            println!("bucket check passed");
        }
        return Ok(Status::Ok);
    }
    eprintln!("error: bucket check found {} problem(s); see FAIL above", failed.len());
    Ok(if failed.iter().all(|f| f.transient) { Status::Temporary } else { Status::Failed })
}

async fn setup(config: &Config, keys: Keys) -> Result<Status, CommandError> {
    let store = connect(config, keys).await?;
    let changes = match bucket::setup(&store, &config.storage.console_origin).await {
        Ok(changes) => changes,
        Err(e @ StoreError::Denied { .. }) => {
            eprintln!("{}\n", owner_steps(config, &store));
            let hint = if keys == Keys::OwnerChain {
                "the credentials of the AWS chain are not the bucket owner's either"
            } else {
                "setup makes bucket-level calls (CreateBucket, PutBucketCors) the restricted user may not: run it with the owner's keys (`wildcert bucket setup --owner`, keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or have the owner run the commands above"
            };
            return Err(CommandError::SetupDenied { hint, source: e });
        }
        Err(e) => return Err(e.into()),
    };
    if changes.is_empty() {
        println!(
            "bucket {} at {}: already set up (bucket exists, CORS allows GET and PUT from {})",
            store.bucket(),
            store.endpoint(),
            config.storage.console_origin
        );
    } else {
        for change in changes {
            println!("bucket {} at {}: {change}", store.bucket(), store.endpoint());
        }
    }
    Ok(Status::Ok)
}
