//! The local directory the web server reads: `<local_dir>/<name>/{privkey,fullchain,cert,chain}.pem`.
//!
//! `<local_dir>/<name>` is a symlink to an immutable version folder under
//! `<local_dir>/.archive/<name>/`. A new version is written and synced completely, then the
//! symlink is replaced with one `rename`, so a reader opening `privkey.pem` and
//! `fullchain.pem` sees the old pair or the new pair, never a mix.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::macros::format_description;

use super::StoreError;
use crate::bundle::CheckedPair;

/// File names inside a certificate folder (the same names certbot and lego users know).
/// The private key: 0600 (0640 with `live_group`).
pub const PRIVKEY: &str = "privkey.pem";
/// Leaf then intermediates: what nginx's `ssl_certificate` and most servers want.
pub const FULLCHAIN: &str = "fullchain.pem";
/// The leaf alone, for servers that take the chain separately.
pub const CERT: &str = "cert.pem";
/// The intermediates alone, for servers that take the leaf separately.
pub const CHAIN: &str = "chain.pem";

/// How many old local versions to keep for a quick manual rollback.
const KEEP_LOCAL_VERSIONS: usize = 5;

/// The local directory the web server reads (`storage.local_dir`): writes a new version
/// beside the old one and switches it atomically.
#[derive(Debug, Clone)]
pub struct LiveDir {
    root: PathBuf,
    /// `[storage] live_group`: the group that may read every file, key included.
    group: Option<u32>,
}

/// Where the files of one certificate are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePaths {
    /// `<local_dir>/<name>`: the symlink switched to each new version.
    pub dir: PathBuf,
    /// `<dir>/privkey.pem`, the path to give the web server for the key.
    pub privkey: PathBuf,
    /// `<dir>/fullchain.pem`, the path to give the web server for the certificate.
    pub fullchain: PathBuf,
    /// `<dir>/cert.pem`, the leaf alone.
    pub cert: PathBuf,
    /// `<dir>/chain.pem`, the intermediates alone.
    pub chain: PathBuf,
}

impl LivePaths {
    fn in_dir(dir: PathBuf) -> LivePaths {
        LivePaths {
            privkey: dir.join(PRIVKEY),
            fullchain: dir.join(FULLCHAIN),
            cert: dir.join(CERT),
            chain: dir.join(CHAIN),
            dir,
        }
    }
}

/// The bytes currently live for a certificate.
#[derive(Clone)]
pub struct LiveFiles {
    /// `privkey.pem` as installed (secret: never log it).
    pub privkey: Vec<u8>,
    /// `fullchain.pem` as installed, to plan from or re-check.
    pub fullchain: Vec<u8>,
}

impl LiveDir {
    /// The live directory rooted at `storage.local_dir` (created on first write).
    pub fn new(root: PathBuf) -> LiveDir {
        LiveDir { root, group: None }
    }

    /// Lets group `gid` read the files: directories 0750 and files 0640 (the key too), owned
    /// by that group, whatever the process umask.
    pub fn with_group(mut self, gid: Option<u32>) -> LiveDir {
        self.group = gid;
        self
    }

    /// `storage.local_dir`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the files of `name` are (whether or not they exist yet), for hooks and messages.
    pub fn paths(&self, name: &str) -> LivePaths {
        LivePaths::in_dir(self.root.join(name))
    }

    /// The live key and full chain, or `None` when nothing was stored yet.
    pub async fn read(&self, name: &str) -> Result<Option<LiveFiles>, StoreError> {
        let paths = self.paths(name);
        tokio::task::spawn_blocking(move || {
            let read = |p: &Path| match fs::read(p) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StoreError::io(p, "read")(e)),
            };
            match (read(&paths.privkey)?, read(&paths.fullchain)?) {
                (Some(privkey), Some(fullchain)) => Ok(Some(LiveFiles { privkey, fullchain })),
                _ => Ok(None),
            }
        })
        .await
        .expect("blocking read task panicked")
    }

    /// Writes a new version and switches the live symlink to it.
    pub async fn write(&self, name: &str, pair: &CheckedPair) -> Result<LivePaths, StoreError> {
        let files = [
            (PRIVKEY, pair.key_pem().as_bytes().to_vec(), 0o600),
            (FULLCHAIN, pair.fullchain_pem.as_bytes().to_vec(), 0o644),
            (CERT, pair.cert_pem.as_bytes().to_vec(), 0o644),
            (CHAIN, pair.chain_pem.as_bytes().to_vec(), 0o644),
        ];
        self.write_files(name, &pair.info.serial, files.to_vec()).await
    }

    /// Same as `write`, from raw file contents (a pull from the bucket).
    pub async fn write_files(
        &self,
        name: &str,
        serial: &str,
        files: Vec<(&'static str, Vec<u8>, u32)>,
    ) -> Result<LivePaths, StoreError> {
        let root = self.root.clone();
        let name = name.to_string();
        let serial = serial.to_string();
        let group = self.group;
        tokio::task::spawn_blocking(move || write_version(&root, &name, &serial, &files, group))
            .await
            .expect("blocking write task panicked")
    }
}

fn write_version(
    root: &Path,
    name: &str,
    serial: &str,
    files: &[(&'static str, Vec<u8>, u32)],
    group: Option<u32>,
) -> Result<LivePaths, StoreError> {
    let archive = root.join(".archive").join(name);
    fs::create_dir_all(&archive).map_err(StoreError::io(&archive, "create directory"))?;
    if let Some(gid) = group {
        // The root may belong to someone else (made by the operator); it only needs to be
        // traversable, which a failure here is reported for, not fatal.
        if let Err(e) = share_dir(root, gid) {
            tracing::warn!(error = %e, "cannot give the live directory to live_group; the web server may not reach it");
        }
        share_dir(&root.join(".archive"), gid)?;
        share_dir(&archive, gid)?;
    }
    let stamp = OffsetDateTime::now_utc()
        .format(format_description!("[year][month][day]T[hour][minute][second]Z"))
        .expect("static format");
    let short_serial: String = serial.chars().take(12).collect();
    let mut version = format!("{stamp}-{short_serial}");
    let mut n = 1;
    while archive.join(&version).exists() {
        n += 1;
        version = format!("{stamp}-{short_serial}-{n}");
    }
    let tmp = archive.join(format!(".{version}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(StoreError::io(&tmp, "create directory"))?;
    match group {
        Some(gid) => share_dir(&tmp, gid)?,
        None => fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))
            .map_err(StoreError::io(&tmp, "chmod"))?,
    }
    for (file, bytes, mode) in files {
        let path = tmp.join(file);
        // With a group every file is 0640; else the key stays 0600 and the rest 0644.
        let mode = if group.is_some() { 0o640 } else { *mode };
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o600)
            .open(&path)
            .map_err(StoreError::io(&path, "create"))?;
        if let Some(gid) = group {
            std::os::unix::fs::fchown(&f, None, Some(gid))
                .map_err(StoreError::io(&path, "chown to live_group"))?;
        }
        // Explicitly, after the group is set: the umask (0077 under the unit) must not narrow it.
        f.set_permissions(fs::Permissions::from_mode(mode)).map_err(StoreError::io(&path, "chmod"))?;
        f.write_all(bytes).map_err(StoreError::io(&path, "write"))?;
        f.sync_all().map_err(StoreError::io(&path, "sync"))?;
    }
    sync_dir(&tmp)?;
    let final_dir = archive.join(&version);
    fs::rename(&tmp, &final_dir).map_err(StoreError::io(&final_dir, "rename"))?;
    sync_dir(&archive)?;

    let link = root.join(name);
    // A real directory from an earlier manual setup is kept in the archive, not deleted.
    if let Ok(meta) = fs::symlink_metadata(&link)
        && meta.is_dir()
    {
        let kept = archive.join(format!("{stamp}-previous"));
        fs::rename(&link, &kept).map_err(StoreError::io(&link, "move aside"))?;
        tracing::warn!(kept = %kept.display(), "moved an existing directory aside to manage {} as a symlink", link.display());
    }
    let tmp_link = root.join(format!(".{name}.link.tmp"));
    let _ = fs::remove_file(&tmp_link);
    let target = Path::new(".archive").join(name).join(&version);
    std::os::unix::fs::symlink(&target, &tmp_link).map_err(StoreError::io(&tmp_link, "symlink"))?;
    fs::rename(&tmp_link, &link).map_err(StoreError::io(&link, "switch symlink"))?;
    sync_dir(root)?;
    prune(&archive, &version);
    Ok(LivePaths::in_dir(link))
}

/// Gives directory `dir` to group `gid`, mode 0750.
fn share_dir(dir: &Path, gid: u32) -> Result<(), StoreError> {
    std::os::unix::fs::chown(dir, None, Some(gid)).map_err(StoreError::io(dir, "chown to live_group"))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o750)).map_err(StoreError::io(dir, "chmod"))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    crate::private_file::sync_dir(dir).map_err(StoreError::io(dir, "sync directory"))
}

/// Removes the oldest versions beyond `KEEP_LOCAL_VERSIONS`, never the current one.
fn prune(archive: &Path, current: &str) {
    let Ok(entries) = fs::read_dir(archive) else { return };
    let mut versions: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    versions.sort();
    let excess = versions.len().saturating_sub(KEEP_LOCAL_VERSIONS);
    for old in versions.into_iter().take(excess) {
        if old != current {
            let _ = fs::remove_dir_all(archive.join(old));
        }
    }
}
