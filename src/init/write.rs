//! Puts a [`Draft`] on disk: nothing is overwritten without `force`, every file is written
//! whole (temporary file, then rename) with its final mode from the start, so a secret is
//! never readable by others even for a moment.
//!
//! Run as root on a host with the `wildcert` user (the package creates it), secret files
//! belong to that user (the service reads them) and the configuration to root with group
//! `wildcert` (0640).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Draft;

/// The user the packaged units run as.
pub const SERVICE_USER: &str = "wildcert";

/// Why the draft was not (completely) written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Files `init` would replace exist, and `--force` was not given.
    #[error(
        "{} already exist(s); rerun with --force to replace, or choose another --out / --secrets-dir",
        list(paths)
    )]
    Exists {
        /// Every file that exists, so the operator sees all of them at once.
        paths: Vec<PathBuf>,
    },
    /// A file or directory could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory at fault.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Who owns what was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The user that gets the secret files (the service user, so the service can read them).
    pub uid: u32,
    /// The group of the secret files, and of the configuration (read by the service, 0640).
    pub gid: u32,
}

impl Owner {
    /// The service user, when this process may hand files to it (it runs as root) and the
    /// user exists; otherwise files stay with the current user.
    pub fn service() -> Option<Owner> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        user_ids(SERVICE_USER)
    }
}

/// Writes the draft's files, then the configuration. Returns the paths written.
pub fn write(
    draft: &Draft,
    config: &Path,
    force: bool,
    owner: Option<Owner>,
) -> Result<Vec<PathBuf>, WriteError> {
    let targets: Vec<&Path> =
        draft.files.iter().map(|f| f.path.as_path()).chain(std::iter::once(config)).collect();
    let existing: Vec<PathBuf> =
        targets.iter().filter(|p| fs::symlink_metadata(p).is_ok()).map(|p| p.to_path_buf()).collect();
    if !existing.is_empty() && !force {
        return Err(WriteError::Exists { paths: existing });
    }
    let mut written = Vec::new();
    // The configuration's directory first: when the secrets go beside it, it stays 0750 for
    // the service's group (the secret files themselves are 0600).
    let config_dir = parent(config);
    create_dir(&config_dir, 0o750, owner.map(|o| Owner { uid: 0, gid: o.gid }))?;
    for file in &draft.files {
        let dir = parent(&file.path);
        create_dir(&dir, if file.secret { 0o700 } else { 0o750 }, owner.filter(|_| file.secret))?;
        let file_owner = owner.filter(|_| file.secret);
        write_file(&file.path, file.contents.expose().as_bytes(), file.mode, file_owner)?;
        written.push(file.path.clone());
    }
    // Readable by the service's group, never by others (it names where the secrets are).
    write_file(config, draft.config.as_bytes(), 0o640, owner.map(|o| Owner { uid: 0, gid: o.gid }))?;
    written.push(config.to_owned());
    Ok(written)
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` (and its parents) with `mode` when missing; an existing directory is left
/// as it is.
fn create_dir(dir: &Path, mode: u32, owner: Option<Owner>) -> Result<(), WriteError> {
    if dir.is_dir() {
        return Ok(());
    }
    let io = |source| WriteError::Io { path: dir.to_owned(), source };
    fs::DirBuilder::new().recursive(true).mode(mode).create(dir).map_err(io)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(io)?;
    if let Some(owner) = owner {
        std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid)).map_err(io)?;
    }
    Ok(())
}

/// Temporary file created with `mode` (and owner) in the same directory, synced, renamed.
fn write_file(path: &Path, bytes: &[u8], mode: u32, owner: Option<Owner>) -> Result<(), WriteError> {
    let io = |source| WriteError::Io { path: path.to_owned(), source };
    let dir = parent(path);
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.init-{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        // The umask may have taken bits away; never added any.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some(owner) = owner {
            std::os::unix::fs::fchown(&f, Some(owner.uid), Some(owner.gid))?;
        }
        f.write_all(bytes)?;
        if !bytes.ends_with(b"\n") {
            f.write_all(b"\n")?;
        }
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// The uid and primary gid of user `name`, if it exists.
fn user_ids(name: &str) -> Option<Owner> {
    let c_name = std::ffi::CString::new(name).ok()?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: every pointer is valid for the call; getpwnam_r writes only into `pwd` and
    // `buf` (bounded by its length) and sets `result` to `&pwd` or null.
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(Owner { uid: pwd.pw_uid, gid: pwd.pw_gid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::init::DraftFile;

    #[test]
    fn writes_private_files_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("etc/wildcert.toml");
        let secret = dir.path().join("private/x.secret");
        let draft = Draft {
            config: "# nothing\n".into(),
            files: vec![DraftFile {
                path: secret.clone(),
                contents: Secret::new("s"),
                mode: 0o600,
                secret: true,
            }],
            notes: Vec::new(),
        };
        write(&draft, &config, false, None).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&secret), 0o600);
        assert_eq!(mode(secret.parent().unwrap()), 0o700);
        assert_eq!(mode(&config), 0o640);
        assert_eq!(fs::read_to_string(&secret).unwrap(), "s\n");
        let err = write(&draft, &config, false, None).unwrap_err();
        assert!(matches!(&err, WriteError::Exists { paths } if paths.len() == 2), "{err}");
        write(&draft, &config, true, None).unwrap();
    }
}
