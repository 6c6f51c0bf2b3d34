//! The one way wildcert replaces a private file on disk: the account key, journals, the
//! status and alert memory, queued uploads and the directory store all hold secrets or
//! records that must survive a power loss whole.
//!
//! A reader sees the old content or the new, never a mix: the bytes go to a temporary file
//! in the same directory (created 0600 whatever the umask, so a secret is never readable by
//! others, not even for a moment), which is synced and renamed over the target. The
//! directory is synced after the rename: without it a power loss can undo the rename, and a
//! journal entry for a TXT record already written at the DNS provider would be lost.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Which step of [`write_private_atomic`] failed, and on which path; callers with their own
/// error type keep both in their messages.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} {}: {source}", path.display())]
pub struct PrivateWriteError {
    /// What was being done: `create directory`, `create`, `write`, `sync`,
    /// `rename into place` or `sync directory`.
    pub step: &'static str,
    /// The file or directory the step worked on.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}

impl From<PrivateWriteError> for std::io::Error {
    /// Callers that report plain I/O errors keep the kind and message they always had.
    fn from(e: PrivateWriteError) -> std::io::Error {
        e.source
    }
}

/// Writes `bytes` to `path` atomically and durably, readable by the owner only. Missing
/// parent directories are created 0700. A failed write leaves no temporary file behind.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<(), PrivateWriteError> {
    write_with(path, bytes, sync_dir)
}

/// [`write_private_atomic`] with the directory sync passed in, so a test can watch it.
fn write_with(
    path: &Path,
    bytes: &[u8],
    sync_dir: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), PrivateWriteError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let err = |step: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| PrivateWriteError { step, path, source }
    };
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(err("create directory", dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err("create", &tmp))?;
        f.write_all(bytes).map_err(err("write", &tmp))?;
        f.sync_all().map_err(err("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(err("rename into place", path))?;
        sync_dir(dir).map_err(err("sync directory", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename or removal in `dir` survive a power loss.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_under_umask_zero_and_replaces_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/secret.json");
        // SAFETY: umask is process-wide; this test restores it and no other test in this
        // module creates files while it runs.
        let old = unsafe { libc::umask(0) };
        let first = write_private_atomic(&path, b"one");
        let second = write_private_atomic(&path, b"two, longer");
        unsafe { libc::umask(old) };
        first.unwrap();
        second.unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two, longer");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        let left: Vec<_> =
            fs::read_dir(dir.path().join("a/b")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("secret.json")], "no temporary file is left");
    }

    #[test]
    fn a_relative_path_without_directory_syncs_the_current_one() {
        // `Path::parent` of a bare name is empty: the directory to sync is then ".".
        assert!(sync_dir(Path::new(".")).is_ok());
        let err = sync_dir(Path::new("/nonexistent-wildcert-dir")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_failed_rename_names_the_step_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way: the rename over it fails after the temp file was written.
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        let err = write_private_atomic(&path, b"bytes").unwrap_err();
        assert_eq!(err.step, "rename into place");
        assert_eq!(err.path, path);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("taken")]);
        let io: std::io::Error = err.into();
        assert!(io.raw_os_error().is_some(), "the OS error survives the conversion");
    }

    #[test]
    fn the_directory_is_synced_after_the_rename_and_its_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/journal.json");
        let mut synced = None;
        write_with(&path, b"entry", |d| {
            // Called once the rename is done, on the file's own directory.
            synced = Some((d.to_path_buf(), fs::read(&path).unwrap()));
            sync_dir(d)
        })
        .unwrap();
        assert_eq!(synced, Some((dir.path().join("sub"), b"entry".to_vec())));

        let err = write_with(&path, b"next", |_| Err(std::io::Error::other("disk gone"))).unwrap_err();
        assert_eq!(err.step, "sync directory");
        assert_eq!(err.path, dir.path().join("sub"));
        assert_eq!(
            err.to_string(),
            format!("cannot sync directory {}: disk gone", dir.path().join("sub").display())
        );
    }
}
