use crate::cli::ImportArgs;
use crate::config::Config;
use crate::exit::Status;

pub async fn run(_config: Config, _args: ImportArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert import` is not available in this build yet")
}
