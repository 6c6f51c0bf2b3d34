//! `CertStore` on a local directory: a share mounted on every host (NFS, SMB) or a single
//! host without a bucket. Same keys, same condition semantics as the bucket.
//!
//! The ETag of an object is the SHA-256 of its content. Conditional writes and deletes take
//! an exclusive `flock` on `<root>/.wildcert.lock`, compare, then write a temporary file and
//! `rename` it into place, so two processes (or two hosts on a share with working locks)
//! cannot both win an if-absent or if-match race, and a reader sees the old or the new
//! bytes, never a partial file. Files are created 0600 and folders 0700: they hold private
//! keys.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::backend::{CertStore, Object, PutCondition};
use super::{StoreError, sha256_hex};
use crate::private_file::write_private_atomic;

const LOCK_FILE: &str = ".wildcert.lock";

/// The shared-directory backend (`storage.shared_dir`), for hosts that share a file system
/// instead of a bucket.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> DirStore {
        DirStore { root: root.into() }
    }

    /// The directory the keys live under (`shared_dir` joined with `prefix`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || f(&root)).await.expect("blocking store task panicked")
    }
}

/// Keys are relative, `/`-separated, without empty, `.` or `..` parts.
fn check_key(key: &str) -> Result<(), StoreError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.split('/').any(|p| p.is_empty() || p == "." || p == ".." || p.starts_with('.'));
    if bad {
        return Err(StoreError::Corrupt {
            what: format!("key `{key}`"),
            detail: "not a relative path of plain names".into(),
        });
    }
    Ok(())
}

fn read_object(path: &Path) -> Result<Option<Object>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => {
            let etag = sha256_hex(&bytes);
            Ok(Some(Object { bytes, etag }))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path, "read")(e)),
    }
}

fn private_dirs(dir: &Path) -> Result<(), StoreError> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(StoreError::io(dir, "create directory"))
}

/// Holds the store-wide lock until dropped.
struct Locked(File);

fn lock(root: &Path) -> Result<Locked, StoreError> {
    private_dirs(root)?;
    let path = root.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(StoreError::io(&path, "open lock file"))?;
    file.lock().map_err(StoreError::io(&path, "lock"))?;
    Ok(Locked(file))
}

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_private_atomic(path, bytes).map_err(StoreError::from)
}

/// Removes now-empty folders from `dir` up to (not including) `root`.
fn remove_empty_parents(root: &Path, mut dir: &Path) {
    while dir != root && dir.starts_with(root) {
        if fs::remove_dir(dir).is_err() {
            break;
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(dir, "list")(e)),
    };
    for entry in entries {
        let entry = entry.map_err(StoreError::io(dir, "list"))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(StoreError::io(&path, "stat"))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).expect("walk stays below root");
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

impl CertStore for DirStore {
    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        let path = self.path(key)?;
        self.blocking(move |_| read_object(&path)).await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, condition: PutCondition) -> Result<String, StoreError> {
        let path = self.path(key)?;
        let key = key.to_string();
        self.blocking(move |root| {
            let _lock = lock(root)?;
            let existing = read_object(&path)?;
            let holds = match (&condition, &existing) {
                (PutCondition::Any, _) => true,
                (PutCondition::IfAbsent, current) => current.is_none(),
                (PutCondition::IfMatch(etag), Some(current)) => &current.etag == etag,
                (PutCondition::IfMatch(_), None) => false,
            };
            if !holds {
                return Err(StoreError::ConditionFailed { key });
            }
            write_atomic(&path, &bytes)?;
            Ok(sha256_hex(&bytes))
        })
        .await
    }

    async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let key = key.to_string();
        let if_match = if_match.map(str::to_string);
        self.blocking(move |root| {
            let _lock = lock(root)?;
            if let Some(etag) = if_match {
                match read_object(&path)? {
                    Some(current) if current.etag != etag => {
                        return Err(StoreError::ConditionFailed { key });
                    }
                    None => return Ok(()),
                    Some(_) => {}
                }
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(StoreError::io(&path, "delete")(e)),
            }
            if let Some(parent) = path.parent() {
                remove_empty_parents(root, parent);
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let prefix = prefix.to_string();
        self.blocking(move |root| {
            // Walk only the deepest folder the prefix names, then filter on the full prefix.
            let folder = match prefix.rfind('/') {
                Some(i) => root.join(&prefix[..i]),
                None => root.to_path_buf(),
            };
            let mut keys = Vec::new();
            walk(root, &folder, &mut keys)?;
            keys.retain(|k| k.starts_with(&prefix));
            keys.sort();
            Ok(keys)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keys_must_be_plain_relative_paths() {
        for bad in ["", "/abs", "a//b", "a/../b", "./a", "a/.hidden", "a/"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        check_key("team/certificates/gradient/current.json").unwrap();
    }

    #[tokio::test]
    async fn files_are_private_and_etag_is_content_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path().join("share"));
        let etag = store.put("a/b/key.pem", b"secret".to_vec(), PutCondition::Any).await.unwrap();
        assert_eq!(etag, sha256_hex(b"secret"));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("share/a/b/key.pem")), 0o600);
        assert_eq!(mode(&dir.path().join("share/a/b")), 0o700);
        assert_eq!(store.list("").await.unwrap(), vec!["a/b/key.pem"]);
        store.delete("a/b/key.pem", None).await.unwrap();
        assert!(!dir.path().join("share/a").exists(), "empty folders are removed");
    }
}
