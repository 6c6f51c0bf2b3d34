//! wildcert: gets, renews, checks and stores wildcard TLS certificates.
//!
//! The way a certificate travels: configuration → plan (what is due, when) → either an ACME
//! order proven through DNS-01 or a bundle the operator supplied → the bundle checks (one
//! module for both paths) → storage (bucket version folder, `current.json`, local directory)
//! → deploy hook. The binary (`main.rs`, `cli.rs`, `commands/`) only wires these together:
//! the library knows nothing of the command line, and reports failures as typed errors.

// The renewal future nests the ACME, DNS discovery and storage futures deeply enough to pass
// the default query depth when its layout is computed.
#![recursion_limit = "256"]
#![warn(missing_docs)]

pub mod acme;
pub mod alerts;
pub mod bundle;
pub mod ceiling;
pub mod challenge;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod dns;
pub mod error_chain;
pub mod exit;
pub mod failpoint;
pub mod hooks;
pub mod host;
pub mod init;
pub mod logging;
pub mod names;
pub mod plan;
pub mod private_file;
pub mod progress;
pub mod renewal;
pub mod signals;
pub mod state;
pub mod store;
pub mod supplied;
