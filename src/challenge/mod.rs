//! DNS-01 challenges end to end: where each TXT record goes (CNAME delegation, zone),
//! writing it through the adapter, waiting until every authoritative server serves it, and
//! removing it again.
//!
//! Two halves: the [`Challenger`] (`challenger`) does the work of one order; the crash journal
//! (`crash_journal`) notes every record *before* it is written and forgets it only once it has
//! been removed. A crash, a kill or a failed cleanup therefore leaves a note that
//! [`recover_leftovers`] acts on at the next start and in every round of the daemon (`recover`).

mod challenger;
mod crash_journal;
mod recover;

pub use challenger::{ChallengeError, ChallengeRecord, Challenger};
pub use recover::{challenge_names, is_key_authorization_digest, recover_leftovers, recover_remote};
