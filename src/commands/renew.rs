use crate::cli::RenewArgs;
use crate::config::Config;
use crate::exit::Status;

pub async fn run(_config: Config, _args: RenewArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert renew` is not available in this build yet")
}
