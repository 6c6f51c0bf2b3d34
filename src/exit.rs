//! Exit codes, and which error means which. Scripts and timers branch on these, so they are
//! part of the interface (listed in `wildcert --help` and the README).

use std::process::ExitCode;

/// What a finished command reports to its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done (including "nothing was due").
    Ok = 0,
    /// Failed; the message says why.
    Failed = 1,
    /// Bad command line or configuration.
    Usage = 2,
    /// The certificate or key is unusable (`verify`, `import`).
    Invalid = 3,
    /// A temporary failure (CA, DNS or bucket unreachable, rate limited): try again later.
    Temporary = 4,
    /// `pull`: the local copy was already current, nothing changed.
    Unchanged = 10,
    /// Stopped by SIGINT before finishing (128 + 2): the order in flight was cancelled and
    /// its challenge records removed; nothing half-done is left. Run it again.
    Interrupted = 130,
    /// Stopped by SIGTERM before finishing (128 + 15), as `Interrupted`.
    Terminated = 143,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

impl From<&crate::renewal::Error> for Status {
    /// A failed renewal: one `match`, every variant decided here.
    fn from(e: &crate::renewal::Error) -> Status {
        use crate::renewal::Error;
        match e {
            Error::Bundle(_) => Status::Invalid,
            // The order ceiling lifts by itself once its window allows: retry later.
            Error::Ceiling(_) => Status::Temporary,
            Error::Acme(_)
            | Error::Challenge(_)
            | Error::Order { .. }
            | Error::Store(_)
            | Error::Lock(_)
            | Error::Stopped
            | Error::Hook(_) => {
                if e.is_transient() {
                    Status::Temporary
                } else {
                    Status::Failed
                }
            }
        }
    }
}

/// Text for `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0   success (also: nothing was due)
  1   failed (the message says why)
  2   bad command line or configuration
  3   certificate or key unusable (verify, import)
  4   temporary failure (CA, DNS or bucket unreachable, rate limited): retry later
  10  pull: already current, nothing changed
  130 stopped by SIGINT, 143 stopped by SIGTERM (the order in flight was cancelled and
      its challenge records removed; no further certificate was started)";
