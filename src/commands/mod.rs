//! One file per command. Each wires configuration, planning, ordering and storage together;
//! no logic below this layer imports it.

pub mod account;
pub mod bucket;
pub mod completions;
pub mod config_check;
pub mod daemon;
pub mod dns_check;
pub mod error;
pub mod import;
pub mod init;
pub mod issue;
pub mod providers;
pub mod pull;
pub mod renew;
pub mod revoke;
pub mod status;
pub mod verify;
