//! How an error is told to a person: the error's own message, then each cause after a
//! colon, as `main` prints it and as the status file and the notifications record it.

use std::error::Error;

/// `err` and its causes joined by `": "`. A cause whose text the line already holds is
/// left out: some errors (from other crates) repeat their source in their own message.
pub fn message(err: &(dyn Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}
