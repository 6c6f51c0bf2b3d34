//! Bucket pre-installation, as the platform documents it: the restricted user's IAM policy,
//! the CORS rule the console needs, and a check that the configured credentials can really
//! list, write, read and delete under the team folder.

use aws_sdk_s3::types::{BucketVersioningStatus, CorsRule};
use serde_json::json;

use super::backend::{CertStore, PutCondition};
use super::s3::S3Store;
use super::{StoreError, sha256_hex};

/// The restricted-user policy the platform documents for `bucket`.
pub fn policy(bucket: &str) -> serde_json::Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowGeneratedUrls",
                "Effect": "Allow",
                "Action": "sts:GetFederationToken",
                "Resource": "*"
            },
            {
                "Sid": "AllowListBucket",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": format!("arn:aws:s3:::{bucket}")
            },
            {
                "Sid": "AllowBucketAccess",
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": format!("arn:aws:s3:::{bucket}/*")
            }
        ]
    })
}

/// S3 bucket naming rules (3-63 characters of a-z, 0-9, '.', '-', starting and ending with a
/// letter or digit).
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid bucket name: 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"
        ))
    }
}

/// The console's CORS rule: any header, GET and PUT, from `origin`, cached 3000 s.
pub fn console_rule(origin: &str) -> CorsRule {
    CorsRule::builder()
        .allowed_headers("*")
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_origins(origin)
        .max_age_seconds(3000)
        .build()
        .expect("methods and origins are set")
}

/// S3 origin patterns may hold one `*`.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(origin),
        Some((head, tail)) => {
            origin.len() >= head.len() + tail.len()
                && origin[..head.len()].eq_ignore_ascii_case(head)
                && origin[origin.len() - tail.len()..].eq_ignore_ascii_case(tail)
        }
    }
}

/// Methods (of GET and PUT) that no rule allows from `origin` with any header.
pub fn cors_missing(rules: &[CorsRule], origin: &str) -> Vec<&'static str> {
    ["GET", "PUT"]
        .into_iter()
        .filter(|method| {
            !rules.iter().any(|r| {
                r.allowed_origins().iter().any(|o| origin_matches(o, origin))
                    && r.allowed_methods().iter().any(|m| m.eq_ignore_ascii_case(method))
                    && r.allowed_headers().iter().any(|h| h == "*")
            })
        })
        .collect()
}

/// One line of `bucket check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How `bucket check` marks the line and whether it fails the command.
    pub level: Level,
    /// What was checked and what was found, with the fix when it failed.
    pub what: String,
    /// Set when the failure may go away by itself (unreachable, throttled).
    pub transient: bool,
}

/// The verdict of one `bucket check` line; only `Fail` makes the command fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// What wildcert needs works.
    Ok,
    /// Worth knowing, nothing to fix (e.g. whether versioning is on).
    Info,
    /// What wildcert needs does not work; the line says what to change.
    Fail,
    /// Not tried because an earlier check failed (e.g. no bucket, no object checks).
    Skipped,
    /// Left to the bucket owner: these credentials may not look (restricted user).
    Owner,
}

impl Finding {
    fn ok(what: impl Into<String>) -> Finding {
        Finding { level: Level::Ok, what: what.into(), transient: false }
    }
    fn info(what: impl Into<String>) -> Finding {
        Finding { level: Level::Info, what: what.into(), transient: false }
    }
    fn fail(what: impl Into<String>) -> Finding {
        Finding { level: Level::Fail, what: what.into(), transient: false }
    }
    fn error(what: &str, e: &StoreError) -> Finding {
        Finding { level: Level::Fail, what: format!("{what}: {e}"), transient: e.is_transient() }
    }
    fn owner(what: impl Into<String>) -> Finding {
        Finding { level: Level::Owner, what: what.into(), transient: false }
    }
    /// A failed object call; when access was denied, the right that is missing and where.
    fn access(what: &str, e: &StoreError, action: &str, resource: &str) -> Finding {
        match e {
            StoreError::Denied { detail, .. } => Finding::fail(format!(
                "{what}: {detail}; the policy must allow {action} on {resource} (the AllowBucketAccess / AllowListBucket statements of `wildcert bucket policy`)"
            )),
            other => Finding::error(what, other),
        }
    }
    fn skipped(what: impl Into<String>) -> Finding {
        Finding { level: Level::Skipped, what: what.into(), transient: false }
    }
}

/// Checks, with the configured credentials, what wildcert itself needs and the restricted
/// user of the platform's policy may do: the bucket is there; listing, writing, reading,
/// conditional writes and deleting under the prefix work (with a probe object). Then what
/// only the bucket owner may look at (the CORS rules the console needs, versioning): with
/// `restricted`, or when the bucket refuses these calls (AccessDenied), they are reported as
/// `Level::Owner`, left to the owner (see `owner_steps`), and are no failure.
pub async fn check(store: &S3Store, origin: &str, restricted: bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    let bucket = store.bucket();
    match store.bucket_exists().await {
        Ok(true) => findings.push(Finding::ok("the bucket exists and these credentials reach it")),
        Ok(false) => {
            findings.push(Finding::fail(format!(
                "bucket {bucket} does not exist at {}: the bucket owner creates it (`wildcert bucket setup --owner` with the owner's keys, or `aws s3api create-bucket --bucket {bucket}`)",
                store.endpoint()
            )));
            findings.push(Finding::skipped("object access, CORS and versioning"));
            return findings;
        }
        Err(StoreError::Denied { .. }) => findings.push(Finding::owner(
            "looking up the bucket itself (HeadBucket) is denied to these credentials; object access is checked below",
        )),
        Err(e) => {
            findings.push(Finding::error("cannot use the bucket", &e));
            findings.push(Finding::skipped("object access, CORS and versioning"));
            return findings;
        }
    }

    let folder = if store.prefix().is_empty() {
        "the bucket root".to_string()
    } else {
        format!("{}/", store.prefix())
    };
    match store.list("certificates/").await {
        Ok(_) => findings.push(Finding::ok(format!("list under {folder}"))),
        Err(e) => findings.push(Finding::access(
            &format!("list under {folder}"),
            &e,
            "s3:ListBucket",
            &bucket_arn(bucket),
        )),
    }
    findings.extend(probe(store).await);

    if restricted {
        findings.push(Finding::owner(format!("CORS for {origin}: checked by the bucket owner (see below)")));
        findings.push(Finding::owner("versioning: checked by the bucket owner (see below)"));
        return findings;
    }
    match store.cors_rules().await {
        Ok(rules) => {
            let missing = cors_missing(&rules, origin);
            if missing.is_empty() {
                findings.push(Finding::ok(format!("CORS allows GET and PUT from {origin}")));
            } else {
                findings.push(Finding::fail(format!(
                    "CORS: no rule allows {} from {origin} (with AllowedHeaders \"*\"); run `wildcert bucket setup` or add the rule {}",
                    missing.join(" and "),
                    cors_json(origin)
                )));
            }
        }
        Err(StoreError::Denied { .. }) => findings.push(Finding::owner(format!(
            "CORS for {origin}: reading the rules (GetBucketCors) is denied to these credentials, as the restricted policy intends; checked by the bucket owner (see below)"
        ))),
        Err(e) => findings.push(Finding::error("cannot read the CORS rules", &e)),
    }

    match store.versioning().await {
        Ok(Some(BucketVersioningStatus::Enabled)) => {
            findings.push(Finding::info("versioning is enabled: the bucket also keeps overwritten objects"))
        }
        Ok(Some(other)) => findings.push(Finding::info(format!(
            "versioning is {}: wildcert keeps its own last versions (storage.keep_versions)",
            other.as_str().to_lowercase()
        ))),
        Ok(None) => findings.push(Finding::info(
            "versioning is not enabled: wildcert keeps its own last versions (storage.keep_versions)",
        )),
        Err(StoreError::Denied { .. }) => findings.push(Finding::owner(
            "versioning: reading it (GetBucketVersioning) is denied to these credentials; checked by the bucket owner (see below)",
        )),
        Err(e) => findings.push(Finding::info(format!("versioning state unknown: {e}"))),
    }
    findings
}

fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

fn cors_json(origin: &str) -> String {
    format!(
        "{{\"AllowedHeaders\": [\"*\"], \"AllowedMethods\": [\"GET\", \"PUT\"], \"AllowedOrigins\": [\"{origin}\"], \"MaxAgeSeconds\": 3000}}"
    )
}

/// What the bucket owner runs (with the owner's credentials) to check and fix what restricted
/// credentials may not look at: the CORS rule the console needs and versioning, and the
/// restricted user's policy.
pub fn owner_steps(bucket: &str, endpoint: Option<&str>, origin: &str) -> String {
    let endpoint = endpoint.map(|e| format!(" --endpoint-url {e}")).unwrap_or_default();
    let policy = serde_json::to_string_pretty(&policy(bucket)).expect("serializable");
    format!(
        "For the bucket owner (owner credentials; the restricted user may not do these):\n\
         \x20 aws s3api get-bucket-cors --bucket {bucket}{endpoint}\n\
         \x20   expect a rule with AllowedOrigins [\"{origin}\"], AllowedMethods GET and PUT, AllowedHeaders [\"*\"]; if missing:\n\
         \x20 aws s3api put-bucket-cors --bucket {bucket}{endpoint} --cors-configuration '{{\"CORSRules\": [{cors}]}}'\n\
         \x20   (this replaces the bucket's rules: merge with those get-bucket-cors printed)\n\
         \x20 aws s3api get-bucket-versioning --bucket {bucket}{endpoint}\n\
         \x20   (optional: wildcert keeps its own last versions)\n\
         \x20 or both at once: AWS_ACCESS_KEY_ID=<owner> AWS_SECRET_ACCESS_KEY=<owner> wildcert bucket setup --owner\n\
         The restricted user's policy (`wildcert bucket policy`):\n{policy}",
        cors = cors_json(origin)
    )
}

/// Put, get, conditional puts and delete of a probe object under the prefix.
async fn probe(store: &S3Store) -> Vec<Finding> {
    let key = format!("wildcert-probe-{:016x}", rand::random::<u64>());
    let full = store.full_key(&key);
    let objects = format!("{}/*", bucket_arn(store.bucket()));
    let body = format!("wildcert bucket check probe {}\n", sha256_hex(key.as_bytes())).into_bytes();
    let mut findings = Vec::new();
    let etag = match store.put(&key, body.clone(), PutCondition::Any).await {
        Ok(etag) => etag,
        Err(e) => {
            findings.push(Finding::access(&format!("write {full}"), &e, "s3:PutObject", &objects));
            return findings;
        }
    };
    match store.get(&key).await {
        Ok(Some(obj)) if obj.bytes == body => {
            findings.push(Finding::ok(format!("write and read back {full}")))
        }
        Ok(_) => findings.push(Finding::fail(format!("{full} read back differently from what was written"))),
        Err(e) => findings.push(Finding::access(&format!("read {full}"), &e, "s3:GetObject", &objects)),
    }
    let refused_absent = store.put(&key, body.clone(), PutCondition::IfAbsent).await;
    let refused_stale = store.put(&key, body.clone(), PutCondition::IfMatch("\"0000\"".into())).await;
    let matched = store.put(&key, body, PutCondition::IfMatch(etag)).await;
    let refused = |r: &Result<String, StoreError>| matches!(r, Err(StoreError::ConditionFailed { .. }));
    let other_error = [&refused_absent, &refused_stale, &matched]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
        .find(|e| !matches!(e, StoreError::ConditionFailed { .. }));
    if let Some(e) = other_error {
        findings.push(Finding::access("conditional writes", e, "s3:PutObject", &objects));
    } else if refused(&refused_absent) && refused(&refused_stale) && matched.is_ok() {
        findings.push(Finding::ok("conditional writes (If-None-Match, If-Match) are honoured"));
    } else {
        findings.push(Finding::fail(
            "the server does not honour If-None-Match / If-Match on PUT: two hosts could overwrite each other's current.json; use a server with conditional writes",
        ));
    }
    match store.delete(&key, None).await {
        Ok(()) => match store.get(&key).await {
            Ok(None) => findings.push(Finding::ok(format!("delete {full}"))),
            Ok(Some(_)) => findings.push(Finding::fail(format!("{full} is still there after deleting it"))),
            Err(e) => findings.push(Finding::access(
                &format!("read {full} after deleting it"),
                &e,
                "s3:GetObject",
                &objects,
            )),
        },
        Err(e) => findings.push(Finding::access(&format!("delete {full}"), &e, "s3:DeleteObject", &objects)),
    }
    findings
}

/// What `setup` changed; empty when the bucket was already set up.
pub async fn setup(store: &S3Store, origin: &str) -> Result<Vec<String>, StoreError> {
    let mut changes = Vec::new();
    if !store.bucket_exists().await? {
        store.create_bucket().await?;
        changes.push(format!("created bucket {}", store.bucket()));
    }
    let mut rules = store.cors_rules().await?;
    if !cors_missing(&rules, origin).is_empty() {
        let kept = rules.len();
        rules.push(console_rule(origin));
        store.put_cors_rules(rules).await?;
        changes.push(format!(
            "added the CORS rule for {origin} (GET, PUT, any header, max age 3000 s){}",
            match kept {
                0 => String::new(),
                1 => ", kept the 1 rule already there".into(),
                n => format!(", kept the {n} rules already there"),
            }
        ));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_the_bucket() {
        let p = policy("my-bucket");
        assert_eq!(p["Statement"][1]["Resource"], "arn:aws:s3:::my-bucket");
        assert_eq!(p["Statement"][2]["Resource"], "arn:aws:s3:::my-bucket/*");
        assert_eq!(p["Statement"][0]["Action"], "sts:GetFederationToken");
    }

    #[test]
    fn bucket_names() {
        check_bucket_name("gradient-artifacts").unwrap();
        for bad in ["ab", "Upper", "-lead", "trail-", "a..b", "under_score"] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cors_rules_are_matched_per_method() {
        let origin = "https://console.paperspace.com";
        assert_eq!(cors_missing(&[], origin), ["GET", "PUT"]);
        assert!(cors_missing(&[console_rule(origin)], origin).is_empty());
        assert!(cors_missing(&[console_rule("https://*.paperspace.com")], origin).is_empty());
        assert_eq!(cors_missing(&[console_rule("https://other.example")], origin), ["GET", "PUT"]);
        let get_only = CorsRule::builder()
            .allowed_headers("*")
            .allowed_methods("GET")
            .allowed_origins("*")
            .build()
            .unwrap();
        assert_eq!(cors_missing(&[get_only], origin), ["PUT"]);
    }
}
