use std::path::Path;

use crate::cli::BucketCommand;
use crate::exit::Status;

pub async fn run(_config_path: &Path, _cmd: BucketCommand) -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert bucket` is not available in this build yet")
}
