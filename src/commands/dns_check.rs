use crate::config::Config;
use crate::exit::Status;

pub async fn run(_config: Config, _cert: Option<String>) -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert dns check` is not available in this build yet")
}
