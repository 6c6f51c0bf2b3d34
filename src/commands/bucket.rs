//! `wildcert bucket {policy, check, setup}`: the platform's pre-installation steps for the
//! artifact bucket.

use std::path::Path;

use anyhow::{Context, bail};

use crate::cli::BucketCommand;
use wildcert::config::Config;
use wildcert::exit::Status;
use wildcert::store::S3Store;
use wildcert::store::bucket::{self, Level};

pub async fn run(config_path: &Path, cmd: BucketCommand) -> anyhow::Result<Status> {
    match cmd {
        BucketCommand::Policy { bucket } => policy(config_path, bucket),
        BucketCommand::Check => check(&Config::load(config_path)?).await,
        BucketCommand::Setup => setup(&Config::load(config_path)?).await,
    }
}

fn policy(config_path: &Path, bucket: Option<String>) -> anyhow::Result<Status> {
    let bucket = match bucket {
        Some(b) => b,
        None => {
            if !config_path.exists() {
                bail!(
                    "give --bucket NAME, or a configuration with storage.bucket ({} does not exist)",
                    config_path.display()
                );
            }
            let config = Config::load(config_path)?;
            config.storage.bucket.with_context(|| {
                format!("{}: no storage.bucket; give --bucket NAME", config_path.display())
            })?
        }
    };
    if let Err(e) = bucket::check_bucket_name(&bucket) {
        bail!("{e}");
    }
    println!("{}", serde_json::to_string_pretty(&bucket::policy(&bucket)).expect("serializable"));
    Ok(Status::Ok)
}

async fn connect(config: &Config) -> anyhow::Result<S3Store> {
    if config.storage.bucket.is_none() {
        bail!("{}: [storage] names no bucket; add bucket = \"NAME\"", config.path.display());
    }
    Ok(S3Store::connect(&config.storage).await?)
}

async fn check(config: &Config) -> anyhow::Result<Status> {
    let store = connect(config).await?;
    println!("bucket {} at {} (prefix {:?})", store.bucket(), store.endpoint(), store.prefix());
    let findings = bucket::check(&store, &config.storage.console_origin).await;
    for f in &findings {
        let tag = match f.level {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Fail => "FAIL",
            Level::Skipped => "skip",
        };
        println!("  {tag:<5} {}", f.what);
    }
    let failed: Vec<_> = findings.iter().filter(|f| f.level == Level::Fail).collect();
    if failed.is_empty() {
        println!("bucket check passed");
        return Ok(Status::Ok);
    }
    eprintln!("error: bucket check found {} problem(s); see FAIL above", failed.len());
    Ok(if failed.iter().all(|f| f.transient) { Status::Temporary } else { Status::Failed })
}

async fn setup(config: &Config) -> anyhow::Result<Status> {
    let store = connect(config).await?;
    let changes = bucket::setup(&store, &config.storage.console_origin).await?;
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
