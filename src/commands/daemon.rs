use std::path::PathBuf;

use crate::exit::Status;

pub async fn run(_config_path: PathBuf) -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert run` is not available in this build yet")
}
