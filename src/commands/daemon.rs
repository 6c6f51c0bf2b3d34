//! `wildcert run`: see `wildcert::daemon`.

use std::path::PathBuf;

use wildcert::exit::Status;

pub async fn run(config_path: PathBuf) -> anyhow::Result<Status> {
    use wildcert::daemon::Error;
    // A bad configuration keeps its own type, so that it exits as a usage error.
    wildcert::daemon::run(config_path).await.map_err(|e| match e {
        Error::Config(config) => anyhow::Error::new(config),
        other => anyhow::Error::new(other),
    })
}
