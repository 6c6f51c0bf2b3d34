use crate::cli::StatusArgs;
use crate::config::Config;
use crate::exit::Status;

pub async fn run(_config: Config, _args: StatusArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert status` is not available in this build yet")
}
