//! `wildcert account`: the ACME account's key.

use crate::commands::error::CommandError;
use wildcert::config::Config;
use wildcert::exit::Status;

#[derive(Debug, clap::Subcommand)]
pub enum AccountCommand {
    /// Replace the account key with a new one (RFC 8555 key change); the account, its
    /// orders and its certificates stay. Use it when the key may have leaked.
    Rollover,
}

pub async fn run(config: Config, command: AccountCommand) -> Result<Status, CommandError> {
    match command {
        AccountCommand::Rollover => {
            let path = wildcert::acme::account::rollover(&config).await?;
            println!("account key rolled over; the new credentials are in {}", path.display());
            Ok(Status::Ok)
        }
    }
}
