use crate::cli::PullArgs;
use crate::config::Config;
use crate::exit::Status;

pub async fn run(_config: Config, _args: PullArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert pull` is not available in this build yet")
}
