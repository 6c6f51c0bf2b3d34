//! `wildcert run`: see `crate::daemon`.

use std::path::PathBuf;

use crate::exit::Status;

pub async fn run(config_path: PathBuf) -> anyhow::Result<Status> {
    crate::daemon::run(config_path).await
}
