use crate::cli::VerifyArgs;
use crate::config::Config;
use crate::exit::Status;

pub async fn run(_config: Option<Config>, _args: VerifyArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert verify` is not available in this build yet")
}
