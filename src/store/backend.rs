//! `CertStore`: the few operations a storage backend must offer. Versions, `current.json`
//! and locks are built on top of these, once, not inside each backend.

use std::future::Future;

use super::StoreError;

/// An object as read from a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The object's content, untrusted until the layout has checked it.
    pub bytes: Vec<u8>,
    /// Opaque version tag for conditional writes (S3 ETag, a content hash locally).
    pub etag: String,
}

/// When a put may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCondition {
    /// Unconditionally.
    Any,
    /// Only if no object exists under the key (`If-None-Match: *`).
    IfAbsent,
    /// Only if the object still carries this ETag (`If-Match`).
    IfMatch(String),
}

/// Keys and bytes with conditions; nothing about certificates.
pub trait CertStore: Send + Sync {
    /// Human description for messages, e.g. `s3://bucket/prefix at https://endpoint`.
    fn describe(&self) -> String;

    /// The object under `key`, or `None` when absent.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Object>, StoreError>> + Send;

    /// Writes `bytes` under `key` if `condition` holds; returns the new ETag.
    /// A failed condition is `StoreError::ConditionFailed`.
    fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        condition: PutCondition,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Deletes `key`; with `Some(etag)` only while it still carries that ETag. Absent is fine.
    fn delete(
        &self,
        key: &str,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Keys below `prefix` (recursively).
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}
