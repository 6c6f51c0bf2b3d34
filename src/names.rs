//! DNS names on certificates: what may be requested, and which SAN covers which name.
//!
//! Wildcards follow RFC 6125 §6.4.3 as CAs and browsers apply it: `*.a.example.com` covers
//! exactly one extra label (`x.a.example.com`), never the apex `a.example.com` and never two
//! labels (`x.y.a.example.com`).

/// Checks a name an operator asks a certificate for: a host name, optionally with one leading
/// `*.` label. Returns a message that says what to write instead.
pub fn validate_requested(name: &str) -> Result<(), String> {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    if name.ends_with('.') {
        return Err(format!("`{name}`: write the name without the trailing dot"));
    }
    if bare.contains('*') {
        return Err(format!(
            "`{name}`: a wildcard may only be the whole first label, as in \"*.gradient.example.com\""
        ));
    }
    if name != name.to_ascii_lowercase() {
        return Err(format!("`{name}`: write the name in lower case"));
    }
    if bare.len() > 253 {
        return Err(format!("`{name}` is longer than 253 characters"));
    }
    let labels: Vec<&str> = bare.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("`{name}` is not a fully qualified domain name"));
    }
    for label in &labels {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!(
                "`{name}`: label `{label}` is not a valid DNS label (letters, digits, '-', at most 63)"
            ));
        }
    }
    Ok(())
}

/// Checks a `[[certificate]] name`: it names a folder locally and a key part in the bucket.
pub fn validate_certificate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` must be 1-64 characters of a-z, 0-9, '-', '_' or '.', not starting with '.' (it names a folder)"
        ))
    }
}

/// The name whose `_acme-challenge` label proves control of `name`: the name itself, or for
/// `*.a.example.com` the base `a.example.com` (RFC 8555 §8.4). The apex and the wildcard of
/// one domain therefore share a challenge name.
pub fn challenge_base(name: &str) -> &str {
    name.strip_prefix("*.").unwrap_or(name)
}

/// `_acme-challenge.<base>.` as an absolute name.
pub fn challenge_fqdn(name: &str) -> String {
    format!("_acme-challenge.{}.", challenge_base(name).trim_end_matches('.'))
}

/// Whether a certificate name (a SAN dNSName, possibly `*.`-prefixed) covers `name`.
/// `name` may itself be a wildcard: then only the identical wildcard covers it.
pub fn covers(san: &str, name: &str) -> bool {
    let san = san.trim_end_matches('.').to_ascii_lowercase();
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if san == name {
        return true;
    }
    match san.strip_prefix("*.") {
        Some(base) if !name.starts_with("*.") => match name.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == base,
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_covers_exactly_one_label() {
        assert!(covers("*.gradient.example.com", "a.gradient.example.com"));
        assert!(!covers("*.gradient.example.com", "gradient.example.com"));
        assert!(!covers("*.gradient.example.com", "a.b.gradient.example.com"));
        assert!(covers("*.gradient.example.com", "*.gradient.example.com"));
        assert!(!covers("a.gradient.example.com", "*.gradient.example.com"));
        assert!(covers("Gradient.Example.com", "gradient.example.com."));
    }

    #[test]
    fn challenge_name_is_shared_by_apex_and_wildcard() {
        assert_eq!(challenge_fqdn("*.gradient.example.com"), "_acme-challenge.gradient.example.com.");
        assert_eq!(challenge_fqdn("gradient.example.com"), "_acme-challenge.gradient.example.com.");
    }

    #[test]
    fn requested_names() {
        assert!(validate_requested("*.gradient.example.com").is_ok());
        assert!(validate_requested("gradient.example.com").is_ok());
        assert!(validate_requested("a.*.example.com").unwrap_err().contains("first label"));
        assert!(validate_requested("localhost").unwrap_err().contains("fully qualified"));
        assert!(validate_requested("Example.com").unwrap_err().contains("lower case"));
        assert!(validate_requested("-a.example.com").is_err());
    }
}
