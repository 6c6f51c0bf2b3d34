use crate::cli::IssueArgs;
use crate::config::Config;
use crate::exit::Status;

pub async fn run(_config: Config, _args: IssueArgs) -> anyhow::Result<Status> {
    anyhow::bail!("not yet")
}
