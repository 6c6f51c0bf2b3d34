//! `CertStore` on an S3-compatible bucket (AWS S3, MinIO, Ceph, anything speaking the S3 API
//! with conditional writes).
//!
//! Keys are relative to `storage.prefix` (the team folder). Conditional writes use
//! `If-None-Match: *` and `If-Match: <etag>`; a 412 (or AWS's 409 for a concurrent
//! conditional write) is `StoreError::ConditionFailed`. Objects are written without an ACL
//! (private), with server-side encryption when configured, and without user metadata.
//! Errors name the bucket and endpoint and say what to change, never the secret.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CorsConfiguration, CorsRule, CreateBucketConfiguration,
    ServerSideEncryption,
};

use super::StoreError;
use super::backend::{CertStore, Object, PutCondition};
use crate::config::{StorageConfig, read_secret};

/// Region used when neither the configuration nor the environment names one.
const FALLBACK_REGION: &str = "us-east-1";

/// The S3-compatible bucket backend (`storage.bucket`): conditional writes give the
/// if-absent / if-match semantics the layout and the lease rely on.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// The team folder without leading or trailing `/` (may be empty).
    prefix: String,
    /// What messages call the endpoint.
    endpoint: String,
    region: String,
    sse: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
}

/// A failed S3 call, before it becomes a `StoreError`.
enum Failure {
    /// 404 for the object (not for the bucket).
    NotFound,
    NoSuchBucket(StoreError),
    /// 412, or 409 for a conflicting conditional write.
    Condition,
    Other(StoreError),
}

impl S3Store {
    /// Builds a client from `[storage]`: endpoint, path style, region, static credentials
    /// (the secret read now from its file or variable) or else the standard AWS chain.
    pub async fn connect(cfg: &StorageConfig) -> Result<S3Store, StoreError> {
        let bucket = cfg.bucket.clone().ok_or_else(|| StoreError::Config {
            key: "storage.bucket".into(),
            detail: "no bucket configured".into(),
        })?;
        let region = cfg
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| FALLBACK_REGION.to_string());
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(5)))
            .operation_attempt_timeout(cfg.request_timeout)
            .build();
        let http_client = wildcert_dns_http::aws::sdk_http_client()
            .map_err(|detail| StoreError::Config { key: "network.proxy".into(), detail })?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .region(Region::new(region.clone()))
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(access_key_id) = &cfg.access_key_id {
            let mut warnings = Vec::new();
            let secret = read_secret(&cfg.secret_keys(), "storage.secret_access_key", &mut warnings)
                .map_err(|detail| StoreError::Config { key: "storage.secret_access_key".into(), detail })?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            loader = loader.credentials_provider(Credentials::new(
                access_key_id,
                secret.expose(),
                None,
                None,
                "wildcert-config",
            ));
        }
        let sdk = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(cfg.path_style)
            // Integrity is checked end to end with the SHA-256 sums in meta.json; the SDK's
            // own checksum headers trip up several S3-compatible servers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        let endpoint = match &cfg.endpoint {
            Some(url) => {
                builder = builder.endpoint_url(url.trim_end_matches('/'));
                url.trim_end_matches('/').to_string()
            }
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        Ok(S3Store {
            client: Client::from_conf(builder.build()),
            bucket,
            prefix: cfg.prefix.trim_matches('/').to_string(),
            endpoint,
            region,
            sse: cfg.server_side_encryption.as_deref().map(ServerSideEncryption::from),
            kms_key_id: cfg.kms_key_id.clone(),
        })
    }

    /// The SDK client, for bucket-level calls this type does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `storage.bucket`, for messages and bucket-level calls.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The endpoint as messages name it (`storage.endpoint` or the AWS default).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `storage.prefix` without leading or trailing `/` (may be empty): every key lives
    /// under it, and the bucket policy is scoped to it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full object key for a key relative to the prefix.
    pub fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) }
    }

    fn relative_key<'a>(&self, full: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            full
        } else {
            full.strip_prefix(&self.prefix).and_then(|k| k.strip_prefix('/')).unwrap_or(full)
        }
    }

    fn error(&self, detail: String, transient: bool) -> StoreError {
        StoreError::Bucket { bucket: self.bucket.clone(), endpoint: self.endpoint.clone(), detail, transient }
    }

    /// Sorts an SDK error into what the caller must do, with a message that says what to fix.
    fn failure<E>(&self, err: SdkError<E, HttpResponse>, doing: &str) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (detail, transient) = match &err {
            SdkError::TimeoutError(_) => (format!("timed out while {doing}; retry later"), true),
            SdkError::DispatchFailure(d) => (
                format!(
                    "cannot reach the endpoint while {doing} ({}); check storage.endpoint and the network",
                    causes(&err)
                ),
                d.is_io() || d.is_timeout(),
            ),
            SdkError::ResponseError(_) => (format!("broken response while {doing} ({})", causes(&err)), true),
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                let code = ctx.err().code().unwrap_or_default();
                let message = ctx.err().message().unwrap_or_default();
                let said = if code.is_empty() && message.is_empty() {
                    let reason = http::StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("unexpected response");
                    format!("{reason} (HTTP {status})")
                } else if message.is_empty() {
                    format!("{code} (HTTP {status})")
                } else {
                    format!("{code} (HTTP {status}): {message}")
                };
                match (status, code) {
                    (412, _) | (_, "PreconditionFailed") | (409, "ConditionalRequestConflict") => {
                        return Failure::Condition;
                    }
                    (_, "NoSuchBucket") => {
                        return Failure::NoSuchBucket(self.error(
                            format!("the bucket does not exist ({doing}); run `wildcert bucket setup` or create it"),
                            false,
                        ));
                    }
                    (404, "NoSuchKey" | "NotFound" | "") => return Failure::NotFound,
                    (
                        _,
                        "AccessDenied"
                        | "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "AllAccessDisabled"
                        | "InvalidToken"
                        | "ExpiredToken"
                        | "AccountProblem",
                    )
                    | (401 | 403, _) => {
                        return Failure::Other(StoreError::Denied {
                            bucket: self.bucket.clone(),
                            endpoint: self.endpoint.clone(),
                            detail: format!(
                                "access denied while {doing}: {said}; check storage.access_key_id / the secret access key and the bucket policy (`wildcert bucket policy` prints the one wildcert needs)"
                            ),
                        });
                    }
                    (301 | 307, _) | (_, "PermanentRedirect" | "AuthorizationHeaderMalformed") => (
                        format!(
                            "wrong region or endpoint while {doing}: {said}; set storage.region to the bucket's region (now {})",
                            self.region
                        ),
                        false,
                    ),
                    (429 | 500.., _)
                    | (_, "SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout") => {
                        (format!("the server failed while {doing}: {said}; retry later"), true)
                    }
                    _ => (format!("{said} while {doing}"), false),
                }
            }
            _ => (format!("cannot send the request while {doing} ({})", causes(&err)), false),
        };
        Failure::Other(self.error(detail, transient))
    }

    fn fail<E>(&self, err: SdkError<E, HttpResponse>, doing: &str, key: &str) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match self.failure(err, doing) {
            Failure::Other(e) | Failure::NoSuchBucket(e) => e,
            Failure::Condition => StoreError::ConditionFailed { key: key.to_string() },
            Failure::NotFound => self.error(format!("not found while {doing}"), false),
        }
    }

    /// `true` when the bucket exists and these credentials may use it.
    pub async fn bucket_exists(&self) -> Result<bool, StoreError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) => match self.failure(e, "looking up the bucket") {
                Failure::NotFound | Failure::NoSuchBucket(_) => Ok(false),
                Failure::Other(e) => Err(e),
                Failure::Condition => Err(self.error("unexpected precondition failure".into(), false)),
            },
        }
    }

    /// Creates the bucket in the configured region.
    pub async fn create_bucket(&self) -> Result<(), StoreError> {
        let mut req = self.client.create_bucket().bucket(&self.bucket);
        if self.region != FALLBACK_REGION {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) => Err(self.fail(e, "creating the bucket", &self.bucket)),
        }
    }

    /// The bucket's CORS rules (empty when it has none).
    pub async fn cors_rules(&self) -> Result<Vec<CorsRule>, StoreError> {
        match self.client.get_bucket_cors().bucket(&self.bucket).send().await {
            Ok(out) => Ok(out.cors_rules().to_vec()),
            Err(e) if e.code() == Some("NoSuchCORSConfiguration") => Ok(Vec::new()),
            Err(e) => match self.failure(e, "reading the CORS rules") {
                Failure::NotFound => Ok(Vec::new()),
                Failure::Other(e) | Failure::NoSuchBucket(e) => Err(e),
                Failure::Condition => Err(self.error("unexpected precondition failure".into(), false)),
            },
        }
    }

    /// Replaces the bucket's CORS rules with `rules`.
    pub async fn put_cors_rules(&self, rules: Vec<CorsRule>) -> Result<(), StoreError> {
        let config = CorsConfiguration::builder()
            .set_cors_rules(Some(rules))
            .build()
            .map_err(|e| self.error(format!("invalid CORS configuration: {e}"), false))?;
        self.client
            .put_bucket_cors()
            .bucket(&self.bucket)
            .cors_configuration(config)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.fail(e, "writing the CORS rules", &self.bucket))
    }

    /// `Some(Enabled | Suspended)`, or `None` when versioning was never turned on.
    pub async fn versioning(&self) -> Result<Option<BucketVersioningStatus>, StoreError> {
        match self.client.get_bucket_versioning().bucket(&self.bucket).send().await {
            Ok(out) => Ok(out.status().cloned()),
            // Some servers answer a never-versioned bucket with an empty document under
            // another root element, which the SDK cannot parse.
            Err(SdkError::ServiceError(ctx))
                if ctx.raw().status().as_u16() == 200 && ctx.err().code().is_none() =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(e, "reading the versioning state", &self.bucket)),
        }
    }
}

/// The error and its sources, each once: `a: b: c`.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

impl CertStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{} at {}", self.bucket, self.prefix, self.endpoint)
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let full = self.full_key(key);
        let doing = format!("reading {full}");
        let out = match self.client.get_object().bucket(&self.bucket).key(&full).send().await {
            Ok(out) => out,
            Err(e) => {
                return match self.failure(e, &doing) {
                    Failure::NotFound => Ok(None),
                    Failure::Other(e) | Failure::NoSuchBucket(e) => Err(e),
                    Failure::Condition => Err(StoreError::ConditionFailed { key: full }),
                };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.error(format!("reading {full} broke off: {e}"), true))?
            .into_bytes()
            .to_vec();
        Ok(Some(Object { bytes, etag }))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, condition: PutCondition) -> Result<String, StoreError> {
        let full = self.full_key(key);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .content_type(if key.ends_with(".json") { "application/json" } else { "application/x-pem-file" })
            .set_server_side_encryption(self.sse.clone())
            .set_ssekms_key_id(self.kms_key_id.clone())
            .body(ByteStream::from(bytes));
        match &condition {
            PutCondition::Any => {}
            PutCondition::IfAbsent => req = req.if_none_match("*"),
            PutCondition::IfMatch(etag) => req = req.if_match(etag),
        }
        match req.send().await {
            Ok(out) => Ok(out.e_tag().unwrap_or_default().to_string()),
            Err(e) => match self.failure(e, &format!("writing {full}")) {
                Failure::Condition => Err(StoreError::ConditionFailed { key: full }),
                // S3 answers If-Match on an absent key with 404: the condition does not hold.
                Failure::NotFound if matches!(condition, PutCondition::IfMatch(_)) => {
                    Err(StoreError::ConditionFailed { key: full })
                }
                Failure::NotFound => Err(self.error(format!("not found while writing {full}"), false)),
                Failure::Other(e) | Failure::NoSuchBucket(e) => Err(e),
            },
        }
    }

    /// With `if_match`, the ETag is checked with a HEAD first and sent as `If-Match` too:
    /// atomic on servers that honour `If-Match` on DELETE (AWS S3), check-then-delete on
    /// those that ignore it (moto, s3s-fs).
    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<(), StoreError> {
        let full = self.full_key(key);
        if let Some(etag) = if_match {
            match self.client.head_object().bucket(&self.bucket).key(&full).send().await {
                Ok(head) if head.e_tag() != Some(etag) => {
                    return Err(StoreError::ConditionFailed { key: full });
                }
                Ok(_) => {}
                Err(e) => {
                    return match self.failure(e, &format!("looking up {full}")) {
                        Failure::NotFound => Ok(()),
                        Failure::Condition => Err(StoreError::ConditionFailed { key: full }),
                        Failure::Other(e) | Failure::NoSuchBucket(e) => Err(e),
                    };
                }
            }
        }
        let req = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .set_if_match(if_match.map(str::to_string));
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => match self.failure(e, &format!("deleting {full}")) {
                Failure::NotFound => Ok(()),
                Failure::Condition => Err(StoreError::ConditionFailed { key: full }),
                Failure::Other(e) | Failure::NoSuchBucket(e) => Err(e),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let full = self.full_key(prefix);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.fail(e, &format!("listing {full}"), &full))?;
            keys.extend(
                out.contents().iter().filter_map(|o| o.key()).map(|k| self.relative_key(k).to_string()),
            );
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}
