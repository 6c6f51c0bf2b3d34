//! The one edit every adapter that writes a whole TXT record set makes: add our value and keep
//! every other, or remove exactly our value and keep every other. The apex and the wildcard of
//! a domain share `_acme-challenge.<domain>`, so a set may hold another challenge's value at
//! the same time; replacing or deleting the whole set would break that challenge. One copy of
//! the rule, so that no adapter gets it subtly wrong.

/// Adds (`add`) or removes our value in `items`, the record set's entries as the provider's
/// API shapes them. `is_ours` says whether an entry is our value (however the API quotes or
/// splits it) and `ours` makes the entry to add. Every other entry stays, in its order.
/// Returns `false` when there is nothing to change (ours is already there, or already gone),
/// so that the caller writes nothing.
pub fn edit<T>(
    items: &mut Vec<T>,
    add: bool,
    is_ours: impl Fn(&T) -> bool,
    ours: impl FnOnce() -> T,
) -> bool {
    let present = items.iter().any(&is_ours);
    match (add, present) {
        (true, true) | (false, false) => false,
        (true, false) => {
            items.push(ours());
            true
        }
        (false, true) => {
            items.retain(|item| !is_ours(item));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(start: &[&str], add: bool) -> (bool, Vec<String>) {
        let mut items: Vec<String> = start.iter().map(|s| s.to_string()).collect();
        let changed = edit(&mut items, add, |v| v.trim_matches('"') == "ours", || "\"ours\"".to_string());
        (changed, items)
    }

    #[test]
    fn adds_beside_others_and_removes_only_ours() {
        assert_eq!(run(&["other"], true), (true, vec!["other".into(), "\"ours\"".into()]));
        assert_eq!(run(&["\"ours\"", "other"], true), (false, vec!["\"ours\"".into(), "other".into()]));
        assert_eq!(run(&["a", "ours", "b", "\"ours\""], false), (true, vec!["a".into(), "b".into()]));
        assert_eq!(run(&["other"], false), (false, vec!["other".into()]));
        assert_eq!(run(&[], false), (false, vec![]));
        assert_eq!(run(&[], true), (true, vec!["\"ours\"".into()]));
    }
}
