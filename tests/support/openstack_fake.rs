//! What the contract fakes of the OpenStack family share, each piece as its documents
//! describe it for every provider that uses it:
//! - the tokens a fake issued and the `X-Auth-Token` check of every DNS call (Designate, OTC,
//!   Selectel on Keystone v3; ConoHa and Rackspace on identity v2.0);
//! - Keystone v3 (<https://docs.openstack.org/api-ref/identity/v3/#password-authentication-with-scoped-authorization>):
//!   the password method's check, the 201 answer with the token in `X-Subject-Token`, and the
//!   401 `{"error": {"code", "title", "message"}}` refusal;
//! - identity v2.0: the 401 `{"unauthorized": {"code", "message"}}` refusal;
//! - the Designate DNS API v2 record set (<https://docs.openstack.org/api-ref/dns/dns-api-v2-index.html>),
//!   which OTC's DNS serves too: its fields, the quoted TXT `records` of a request body, and the
//!   `GET /v2/zones/{id}/recordsets?name=&type=` filter.
//!
//! Each provider's own error bodies, catalog and routes stay in its test file.

use serde_json::{Value, json};
use wildcert_dns_api::txt_text;

use super::HttpRequest;
use super::fake_api::{Change, Reply, diff};

/// The tokens a fake issued; a DNS call must carry one of them.
#[derive(Default)]
pub struct Tokens {
    issued: Vec<String>,
    next: u64,
}

impl Tokens {
    /// A new token, `prefix` followed by a counter (the prefix lets a test look for tokens in
    /// logs).
    pub fn issue(&mut self, prefix: &str) -> String {
        self.next += 1;
        let token = format!("{prefix}{}", self.next);
        self.issued.push(token.clone());
        token
    }

    /// Whether the request's `X-Auth-Token` is one the fake issued and has not revoked.
    pub fn accepts(&self, request: &HttpRequest) -> bool {
        request.header("x-auth-token").is_some_and(|t| self.issued.iter().any(|k| k == t))
    }

    /// Revokes every token: the next call with one is refused.
    pub fn revoke_all(&mut self) {
        self.issued.clear();
    }
}

/// Keystone v3's check of the password method: the only method is `password`, the user is
/// `user` named within one of `domains`, the password is `password`, and the scope is one
/// of `scopes`.
pub fn keystone_password(
    body: &Value,
    user: &str,
    domains: &[Value],
    password: &str,
    scopes: &[Value],
) -> bool {
    let identity = &body["auth"]["identity"];
    let named = &identity["password"]["user"];
    identity["methods"] == json!(["password"])
        && named["name"] == user
        && domains.contains(&named["domain"])
        && named["password"] == password
        && scopes.contains(&body["auth"]["scope"])
}

/// Keystone v3's answer to a token request: 201, `{"token": token_body}`, the token itself in
/// `X-Subject-Token`.
pub fn keystone_token(token: String, token_body: Value) -> Reply {
    Reply::json(201, json!({ "token": token_body })).header("X-Subject-Token", token)
}

/// Keystone v3's refusal of credentials: 401 `{"error": {"code", "title", "message"}}`.
pub fn keystone_refusal(message: &str) -> Reply {
    Reply::json(401, json!({"error": {"code": 401, "title": "Unauthorized", "message": message}}))
}

/// Identity v2.0's refusal of credentials: 401 `{"unauthorized": {"code", "message"}}`.
pub fn identity_v2_refusal(message: &str) -> Reply {
    Reply::json(401, json!({"unauthorized": {"code": 401, "message": message}}))
}

/// Whether a TXT record's text is in double quotes, as the record set APIs require.
pub fn quoted(record: &str) -> bool {
    record.len() >= 2 && record.starts_with('"') && record.ends_with('"')
}

/// The changes that turn a record set's quoted `records` from `before` into `after`.
pub fn txt_changes(name: &str, before: &[String], after: &[String]) -> Vec<Change> {
    diff(name, before, after, |r| txt_text(r))
}

/// A Designate v2 record set; `records` as the API holds them (TXT values quoted).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSet {
    pub id: String,
    pub zone_id: String,
    pub name: String,
    pub kind: String,
    pub records: Vec<String>,
    pub ttl: u64,
}

impl RecordSet {
    /// The record set as the API answers it, with its `status` and the provider's further
    /// fields (`extra`, an object).
    pub fn json(&self, status: &str, extra: Value) -> Value {
        let mut out = json!({"id": self.id, "zone_id": self.zone_id, "name": self.name, "type": self.kind, "records": self.records, "ttl": self.ttl, "status": status});
        if let (Some(out), Some(extra)) = (out.as_object_mut(), extra.as_object()) {
            out.extend(extra.clone());
        }
        out
    }
}

/// The `records` strings of a request body (absent or not a list: none).
pub fn records_in(body: &Value) -> Vec<String> {
    body["records"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).map(String::from).collect()
}

/// The record sets of `zone` that a `GET .../recordsets?name=&type=` selects (an absent
/// parameter selects all).
pub fn listed<'a>(sets: &'a [RecordSet], zone: &str, request: &HttpRequest) -> Vec<&'a RecordSet> {
    let (name, kind) = (request.param("name"), request.param("type"));
    sets.iter()
        .filter(|s| s.zone_id == zone)
        .filter(|s| name.as_deref().is_none_or(|n| n == s.name))
        .filter(|s| kind.as_deref().is_none_or(|k| k == s.kind))
        .collect()
}

/// The TXT values (unquoted) the record sets hold at `name` (any case): the conformance
/// reader.
pub fn txt_values(sets: &[RecordSet], name: &str) -> Vec<String> {
    sets.iter()
        .filter(|s| s.kind == "TXT" && s.name.eq_ignore_ascii_case(name))
        .flat_map(|s| s.records.iter().map(|r| txt_text(r)))
        .collect()
}

/// The body of a `GET /v2/zones/{id}/recordsets` answer: the sets, `links` and `metadata`'s
/// `total_count`.
pub fn listing(sets: Vec<Value>) -> Value {
    let count = sets.len();
    json!({"recordsets": sets, "links": {"self": "x"}, "metadata": {"total_count": count}})
}

/// Why a change to a record set was refused; each fake answers it in its provider's error
/// shape.
#[derive(Debug)]
pub enum Refusal {
    /// No record set with that id in that zone.
    NotFound,
    /// The new `records` are empty or not quoted.
    Invalid,
}

/// `PUT /v2/zones/{zone}/recordsets/{id}`: the set's `records` become those of `body`
/// (not empty, each quoted); the set as it is now and the changes to mirror.
pub fn replace(
    sets: &mut [RecordSet],
    zone: &str,
    id: &str,
    body: &Value,
) -> Result<(RecordSet, Vec<Change>), Refusal> {
    let set = sets.iter_mut().find(|s| s.zone_id == zone && s.id == id).ok_or(Refusal::NotFound)?;
    let records = records_in(body);
    if records.is_empty() || records.iter().any(|r| !r.starts_with('"')) {
        return Err(Refusal::Invalid);
    }
    let before = std::mem::replace(&mut set.records, records.clone());
    let changes = txt_changes(&set.name, &before, &records);
    Ok((set.clone(), changes))
}

/// `DELETE /v2/zones/{zone}/recordsets/{id}`: the set removed and the changes to mirror, or
/// none when there is no such set.
pub fn remove(sets: &mut Vec<RecordSet>, zone: &str, id: &str) -> Option<(RecordSet, Vec<Change>)> {
    let at = sets.iter().position(|s| s.zone_id == zone && s.id == id)?;
    let gone = sets.remove(at);
    let changes = txt_changes(&gone.name, &gone.records, &[]);
    Some((gone, changes))
}

/// Whether `zone` already holds a TXT record set named `name` (creating it again is a
/// conflict).
pub fn has_txt(sets: &[RecordSet], zone: &str, name: &str) -> bool {
    sets.iter().any(|s| s.zone_id == zone && s.name == name && s.kind == "TXT")
}

/// `POST /v2/zones/{zone}/recordsets` once the provider's own checks passed: the new TXT set
/// (`id` and `ttl` as that provider gives them) and the changes to mirror.
pub fn create(
    sets: &mut Vec<RecordSet>,
    zone: &str,
    id: String,
    name: &str,
    records: Vec<String>,
    ttl: u64,
) -> (RecordSet, Vec<Change>) {
    let changes = txt_changes(name, &[], &records);
    let set =
        RecordSet { id, zone_id: zone.to_string(), name: name.to_string(), kind: "TXT".into(), records, ttl };
    sets.push(set.clone());
    (set, changes)
}
