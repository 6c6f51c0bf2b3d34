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
    pub level: Level,
    pub what: String,
    /// Set when the failure may go away by itself (unreachable, throttled).
    pub transient: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Info,
    Fail,
    Skipped,
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
    fn skipped(what: impl Into<String>) -> Finding {
        Finding { level: Level::Skipped, what: what.into(), transient: false }
    }
}

/// Checks, with the configured credentials: the bucket is there; listing, writing, reading,
/// conditional writes and deleting under the prefix work (with a probe object); the CORS rules
/// let the console GET and PUT; and reports the versioning state.
pub async fn check(store: &S3Store, origin: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    match store.bucket_exists().await {
        Ok(true) => findings.push(Finding::ok("the bucket exists and these credentials reach it")),
        Ok(false) => {
            findings.push(Finding::fail(format!(
                "bucket {} does not exist at {}: run `wildcert bucket setup` or create it",
                store.bucket(),
                store.endpoint()
            )));
            findings.push(Finding::skipped("object access, CORS and versioning"));
            return findings;
        }
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
        Err(e) => findings.push(Finding::error(&format!("list under {folder}"), &e)),
    }
    findings.extend(probe(store).await);

    match store.cors_rules().await {
        Ok(rules) => {
            let missing = cors_missing(&rules, origin);
            if missing.is_empty() {
                findings.push(Finding::ok(format!("CORS allows GET and PUT from {origin}")));
            } else {
                findings.push(Finding::fail(format!(
                    "CORS: no rule allows {} from {origin} (with AllowedHeaders \"*\"); run `wildcert bucket setup` or add the rule {{\"AllowedHeaders\": [\"*\"], \"AllowedMethods\": [\"GET\", \"PUT\"], \"AllowedOrigins\": [\"{origin}\"], \"MaxAgeSeconds\": 3000}}",
                    missing.join(" and ")
                )));
            }
        }
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
        Err(e) => findings.push(Finding::info(format!("versioning state unknown: {e}"))),
    }
    findings
}

/// Put, get, conditional puts and delete of a probe object under the prefix.
async fn probe(store: &S3Store) -> Vec<Finding> {
    let key = format!("wildcert-probe-{:016x}", rand::random::<u64>());
    let full = store.full_key(&key);
    let body = format!("wildcert bucket check probe {}\n", sha256_hex(key.as_bytes())).into_bytes();
    let mut findings = Vec::new();
    let etag = match store.put(&key, body.clone(), PutCondition::Any).await {
        Ok(etag) => etag,
        Err(e) => {
            findings.push(Finding::error(&format!("write {full}"), &e));
            return findings;
        }
    };
    match store.get(&key).await {
        Ok(Some(obj)) if obj.bytes == body => {
            findings.push(Finding::ok(format!("write and read back {full}")))
        }
        Ok(_) => findings.push(Finding::fail(format!("{full} read back differently from what was written"))),
        Err(e) => findings.push(Finding::error(&format!("read {full}"), &e)),
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
        findings.push(Finding::error("conditional writes", e));
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
            Err(e) => findings.push(Finding::error(&format!("read {full} after deleting it"), &e)),
        },
        Err(e) => findings.push(Finding::error(&format!("delete {full}"), &e)),
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
