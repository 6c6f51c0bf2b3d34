//! Finding the zone a record goes into, for APIs that address records by zone.
//!
//! wildcert's own SOA discovery (`TxtRecord::zone`) usually knows the zone; an API that needs
//! its own zone ID or spells zones differently is asked for the candidates from the longest
//! suffix of the record name down, or its account's zone list is matched against them.

use http::Method;
use wildcert_dns_api::{ProviderError, TxtRecord, is_within, normalize};

use crate::{Api, Body, StatusClass, classify};

/// The names that may be the record's zone, best first: the discovered zone, then every
/// suffix of the name with at least two labels, longest first. Without trailing dots.
pub fn candidates(record: &TxtRecord) -> Vec<String> {
    let fqdn = normalize(&record.fqdn);
    let mut out: Vec<String> = Vec::new();
    if let Some(zone) = &record.zone
        && is_within(&fqdn, zone)
    {
        out.push(normalize(zone).trim_end_matches('.').to_string());
    }
    let labels: Vec<&str> = fqdn.trim_end_matches('.').split('.').collect();
    for start in 0..labels.len().saturating_sub(1) {
        let name = labels[start..].join(".");
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The zone among `zones` (an account's list, any spelling) that holds the record: the
/// discovered zone when listed, else the longest suffix of the name.
pub fn pick<'a>(record: &TxtRecord, zones: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let zones: Vec<&str> = zones.into_iter().collect();
    candidates(record)
        .into_iter()
        .find_map(|c| zones.iter().copied().find(|z| normalize(z).trim_end_matches('.') == c))
}

/// The record's name relative to `zone`: `_acme-challenge.www` in `example.com`, `@` at the
/// apex. Many APIs want this instead of the full name.
pub fn relative_name(record: &TxtRecord, zone: &str) -> String {
    let fqdn = normalize(&record.fqdn);
    let zone = normalize(zone);
    if fqdn == zone {
        return "@".into();
    }
    fqdn.strip_suffix(&format!(".{zone}")).unwrap_or(fqdn.trim_end_matches('.')).to_string()
}

/// The record's name relative to `zone` as the APIs that write the apex as an empty host
/// name want it: [`relative_name`], with `@` as `""`.
pub fn host_name(record: &TxtRecord, zone: &str) -> String {
    match relative_name(record, zone) {
        at if at == "@" => String::new(),
        name => name,
    }
}

/// The zone for APIs that answer `GET` on a zone's own URL: the first of the record's
/// [`candidates`] for which `GET path(candidate)` succeeds. A 404, or a status in `absent`
/// (some APIs answer 422 for a name that is no domain), means "not this one"; any other
/// failure ends the search. `missing` says, when none is found, where zones are added.
pub async fn probe(
    api: &Api,
    record: &TxtRecord,
    path: impl Fn(&str) -> String,
    absent: &[u16],
    auth_hint: &str,
    missing: &str,
) -> Result<String, ProviderError> {
    for candidate in candidates(record) {
        let path = path(&candidate);
        let response = api.call(Method::GET, &path, &Body::Empty, &[]).await?;
        match classify(response.status) {
            StatusClass::Success => return Ok(candidate),
            StatusClass::NotFound => continue,
            _ if absent.contains(&response.status.as_u16()) => continue,
            _ => return Err(api.error(&format!("GET {path}"), &response, auth_hint)),
        }
    }
    Err(ProviderError::ZoneNotFound {
        provider: api.provider().to_string(),
        fqdn: record.fqdn.clone(),
        detail: missing.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fqdn: &str, zone: Option<&str>) -> TxtRecord {
        TxtRecord { fqdn: fqdn.into(), zone: zone.map(Into::into), value: "v".into(), ttl: 60, raw: None }
    }

    #[test]
    fn candidates_start_with_the_discovered_zone() {
        let r = record("_acme-challenge.a.example.co.uk.", Some("example.co.uk."));
        assert_eq!(
            candidates(&r),
            ["example.co.uk", "_acme-challenge.a.example.co.uk", "a.example.co.uk", "co.uk"]
        );
        let r = record("_acme-challenge.example.com.", None);
        assert_eq!(candidates(&r), ["_acme-challenge.example.com", "example.com"]);
    }

    #[test]
    fn picks_the_longest_listed_suffix() {
        let r = record("_acme-challenge.sub.example.com.", None);
        assert_eq!(pick(&r, ["example.com", "sub.example.com.", "other.org"]), Some("sub.example.com."));
        assert_eq!(pick(&r, ["other.org"]), None);
        assert_eq!(relative_name(&r, "example.com."), "_acme-challenge.sub");
        assert_eq!(relative_name(&record("example.com.", None), "example.com"), "@");
        assert_eq!(host_name(&r, "example.com."), "_acme-challenge.sub");
        assert_eq!(host_name(&record("example.com.", None), "example.com"), "");
    }
}
