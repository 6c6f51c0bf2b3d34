//! CAA (RFC 8659): may this CA issue for this name? Checked by `wildcert dns check` so a
//! forgotten `issue` record fails before an order, not at validation.

use hickory_proto::rr::{Name, RData, RecordType};

use super::DnsError;
use super::zone::Resolvers;

/// One `issue`/`issuewild` property as found in DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaProperty {
    /// `issuewild` (true) or `issue` (false): for a wildcard name `issuewild` wins when present.
    pub wildcard: bool,
    /// The CA domain it names; empty means "no CA may issue".
    pub issuer: String,
}

/// The verdict for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaaVerdict {
    /// No CAA record at or above the name: any CA may issue.
    NoRecords,
    /// Records exist and allow one of the CA's identities.
    Allowed {
        /// The name the deciding records are at (the name itself or a parent).
        at: String,
    },
    /// Records exist and none allows the CA.
    Forbidden {
        /// The name the deciding records are at (the name itself or a parent).
        at: String,
        /// The CA domains the records do allow, for the message.
        allowed: Vec<String>,
    },
    /// Records exist but the CA's identities are unknown (a private CA's directory may not say).
    Unknown {
        /// The name the deciding records are at (the name itself or a parent).
        at: String,
        /// The CA domains the records allow, for the operator to compare with the CA.
        allowed: Vec<String>,
    },
}

/// Applies RFC 8659 §4 to the properties found at the closest name that has any: for a
/// wildcard name `issuewild` properties win when present.
pub fn evaluate(
    found_at: Option<&str>,
    properties: &[CaaProperty],
    wildcard: bool,
    identities: &[String],
) -> CaaVerdict {
    let Some(at) = found_at else { return CaaVerdict::NoRecords };
    let wild: Vec<&CaaProperty> = properties.iter().filter(|p| p.wildcard).collect();
    let relevant: Vec<&CaaProperty> =
        if wildcard && !wild.is_empty() { wild } else { properties.iter().filter(|p| !p.wildcard).collect() };
    if relevant.is_empty() {
        return CaaVerdict::NoRecords;
    }
    let allowed: Vec<String> = relevant.iter().map(|p| p.issuer.clone()).filter(|i| !i.is_empty()).collect();
    if identities.is_empty() {
        return CaaVerdict::Unknown { at: at.to_string(), allowed };
    }
    if relevant.iter().any(|p| identities.iter().any(|id| id.eq_ignore_ascii_case(&p.issuer))) {
        CaaVerdict::Allowed { at: at.to_string() }
    } else {
        CaaVerdict::Forbidden { at: at.to_string(), allowed }
    }
}

/// Climbs from `name` towards the root and returns the first non-empty CAA property set.
pub async fn lookup(
    resolvers: &Resolvers,
    name: &Name,
) -> Result<(Option<String>, Vec<CaaProperty>), DnsError> {
    let mut candidate = name.clone();
    loop {
        let answer = resolvers.ask(&candidate, RecordType::CAA).await?;
        let properties: Vec<CaaProperty> = answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::CAA(caa) => {
                    let wildcard = caa.tag.eq_ignore_ascii_case("issuewild");
                    if !wildcard && !caa.tag.eq_ignore_ascii_case("issue") {
                        return None;
                    }
                    let issuer = caa
                        .value_as_issue()
                        .ok()
                        .and_then(|(n, _)| n)
                        .map(|n| n.to_string().trim_end_matches('.').to_string())
                        .unwrap_or_default();
                    Some(CaaProperty { wildcard, issuer })
                }
                _ => None,
            })
            .collect();
        let any_caa = answer.answers.iter().any(|r| r.record_type() == RecordType::CAA);
        if any_caa {
            return Ok((Some(candidate.to_string()), properties));
        }
        if candidate.num_labels() <= 1 {
            return Ok((None, Vec::new()));
        }
        candidate = candidate.base_name();
    }
}

/// The CAA identities of well-known CAs, for directories that do not announce them.
pub fn known_identities(directory_url: &str) -> Vec<String> {
    let known = [
        ("letsencrypt.org", "letsencrypt.org"),
        ("zerossl.com", "sectigo.com"),
        ("pki.goog", "pki.goog"),
        ("buypass", "buypass.com"),
    ];
    known.iter().filter(|(host, _)| directory_url.contains(host)).map(|(_, id)| id.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(wildcard: bool, issuer: &str) -> CaaProperty {
        CaaProperty { wildcard, issuer: issuer.into() }
    }

    #[test]
    fn no_records_allow_everyone() {
        assert_eq!(evaluate(None, &[], true, &["letsencrypt.org".into()]), CaaVerdict::NoRecords);
    }

    #[test]
    fn issue_allows_or_forbids() {
        let le = vec!["letsencrypt.org".to_string()];
        let props = [p(false, "letsencrypt.org")];
        assert_eq!(
            evaluate(Some("example.com."), &props, false, &le),
            CaaVerdict::Allowed { at: "example.com.".into() }
        );
        let props = [p(false, "digicert.com")];
        assert!(matches!(evaluate(Some("example.com."), &props, false, &le), CaaVerdict::Forbidden { .. }));
    }

    #[test]
    fn issuewild_wins_for_wildcards_only() {
        let le = vec!["letsencrypt.org".to_string()];
        let props = [p(false, "letsencrypt.org"), p(true, "digicert.com")];
        assert!(matches!(evaluate(Some("x."), &props, true, &le), CaaVerdict::Forbidden { .. }));
        assert!(matches!(evaluate(Some("x."), &props, false, &le), CaaVerdict::Allowed { .. }));
        // `issue ";"` forbids everyone.
        let props = [p(false, "")];
        assert!(matches!(evaluate(Some("x."), &props, false, &le), CaaVerdict::Forbidden { .. }));
    }

    #[test]
    fn unknown_identity_is_reported_not_guessed() {
        let props = [p(false, "letsencrypt.org")];
        assert!(matches!(evaluate(Some("x."), &props, false, &[]), CaaVerdict::Unknown { .. }));
        assert_eq!(
            known_identities("https://acme-v02.api.letsencrypt.org/directory"),
            vec!["letsencrypt.org"]
        );
    }
}
