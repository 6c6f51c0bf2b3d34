use crate::exit::Status;

pub async fn run() -> anyhow::Result<Status> {
    anyhow::bail!("`wildcert providers` is not available in this build yet")
}
