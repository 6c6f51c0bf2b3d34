//! `wildcert run`: see `wildcert::daemon`.

use std::path::PathBuf;

use crate::commands::error::CommandError;
use wildcert::exit::Status;

pub async fn run(config_path: PathBuf) -> Result<Status, CommandError> {
    Ok(wildcert::daemon::run(config_path).await?)
}
