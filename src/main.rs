//! The `wildcert` command: parses the command line, runs one command of `commands` on the
//! library, and turns its outcome into an exit code. Everything that is not about the
//! command line lives in the library (`wildcert::*`).

// The renewal future nests the ACME, DNS discovery and storage futures deeply enough to pass
// the default query depth when its layout is computed.
#![recursion_limit = "256"]

mod cli;
mod commands;

fn main() -> std::process::ExitCode {
    cli::main()
}
