//! Storage against real S3-compatible servers on loopback: moto (started by `scripts/stack`)
//! and s3s-fs (which checks SigV4 signatures, so wrong credentials are really refused), and
//! the shared-directory backend.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::KeyPair;
use support::{Stack, stderr, stdout};
use wildcert::bundle::CheckedPair;
use wildcert::config::Config;
use wildcert::store::{
    BucketOutcome, CertFiles, CertStore, DirStore, Layout, Origin, Overwrite, PutCondition, S3Store,
    SaveOutcome, Storage, StoreError,
};

/// A leaf for `*.gradient.example.com` + apex from a throw-away root and intermediate,
/// valid for `days`; the bundle is the leaf and the intermediate.
fn pair_expiring_in(days: i64) -> CheckedPair {
    let names = ["*.gradient.example.com", "gradient.example.com"];
    support::pairs::checked_pair("wildcert test", &names, KeyPair::generate().unwrap(), 1, days)
}

fn wildcert(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wildcert"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("WILDCERT_LOG")
        .output()
        .expect("run wildcert")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

fn setup_bucket(stack: &Stack) {
    let out = stack.wildcert(&["bucket", "setup"]);
    assert!(out.status.success(), "bucket setup: {}{}", stdout(&out), stderr(&out));
}

fn load(path: &Path) -> Config {
    Config::load(path).expect("config loads")
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A storage-only configuration (no certificates, so no [acme] needed).
fn storage_config(dir: &Path, endpoint: &str, bucket: &str, access_key: &str, secret: &str) -> PathBuf {
    let secret_file = dir.join("s3.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"[storage]
local_dir = "{dir}/live"
state_dir = "{dir}/state"
bucket = "{bucket}"
endpoint = "{endpoint}"
region = "us-east-1"
prefix = "team-demo"
path_style = true
access_key_id = "{access_key}"
secret_access_key_file = "{secret}"
request_timeout = "10s"
"#,
        dir = dir.display(),
        secret = secret_file.display(),
    );
    let path = dir.join("storage.toml");
    std::fs::write(&path, text).unwrap();
    path
}

// ---------------------------------------------------------------------------------------
// The CertStore contract, run against every backend.

fn is_condition_failed<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::ConditionFailed { .. }))
}

async fn contract<S: CertStore>(store: &S) {
    let a = "contract/a.txt";
    assert!(store.get(a).await.unwrap().is_none(), "absent key reads as None");

    // put (any), read back with the same ETag
    let e1 = store.put(a, b"one".to_vec(), PutCondition::Any).await.unwrap();
    let got = store.get(a).await.unwrap().unwrap();
    assert_eq!(got.bytes, b"one");
    assert_eq!(got.etag, e1);
    let e1b = store.put(a, b"one, again".to_vec(), PutCondition::Any).await.unwrap();
    assert_ne!(e1b, e1);

    // if-absent twice: the second fails and changes nothing
    let b = "contract/b.txt";
    store.put(b, b"first".to_vec(), PutCondition::IfAbsent).await.unwrap();
    let second = store.put(b, b"second".to_vec(), PutCondition::IfAbsent).await;
    assert!(is_condition_failed(&second), "second if-absent put: {second:?}");
    assert_eq!(store.get(b).await.unwrap().unwrap().bytes, b"first");

    // if-match: the current ETag wins, a stale one fails
    let e2 = store.put(a, b"two".to_vec(), PutCondition::IfMatch(e1b.clone())).await.unwrap();
    let stale = store.put(a, b"stale".to_vec(), PutCondition::IfMatch(e1b.clone())).await;
    assert!(is_condition_failed(&stale), "stale if-match put: {stale:?}");
    assert_eq!(
        store.get(a).await.unwrap().unwrap(),
        wildcert::store::Object { bytes: b"two".to_vec(), etag: e2.clone() }
    );
    let missing = store.put("contract/none.txt", b"x".to_vec(), PutCondition::IfMatch(e2.clone())).await;
    assert!(is_condition_failed(&missing), "if-match on an absent key: {missing:?}");

    // list is recursive and relative to the store's root
    store.put("contract/sub/c.txt", b"c".to_vec(), PutCondition::Any).await.unwrap();
    assert_eq!(
        store.list("contract/").await.unwrap(),
        ["contract/a.txt", "contract/b.txt", "contract/sub/c.txt"]
    );
    assert_eq!(store.list("contract/sub/").await.unwrap(), ["contract/sub/c.txt"]);
    assert!(store.list("nothing-here/").await.unwrap().is_empty());

    // delete: with the current ETag, unconditionally, and of an absent key
    store.delete(a, Some(&e2)).await.unwrap();
    assert!(store.get(a).await.unwrap().is_none());
    store.delete(b, None).await.unwrap();
    store.delete(b, None).await.unwrap();
    store.delete("contract/sub/c.txt", None).await.unwrap();
    assert!(store.list("contract/").await.unwrap().is_empty());
}

/// A delete with a stale ETag is refused.
async fn stale_delete_is_refused<S: CertStore>(store: &S) {
    let k = "contract/d.txt";
    let e1 = store.put(k, b"1".to_vec(), PutCondition::Any).await.unwrap();
    store.put(k, b"2".to_vec(), PutCondition::Any).await.unwrap();
    let r = store.delete(k, Some(&e1)).await;
    assert!(is_condition_failed(&r), "delete with a stale ETag: {r:?}");
    assert!(store.get(k).await.unwrap().is_some());
    store.delete(k, None).await.unwrap();
}

#[tokio::test]
async fn cert_store_contract_on_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::new(dir.path().join("share/team-demo"));
    contract(&store).await;
    stale_delete_is_refused(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_store_contract_on_s3_moto() {
    let stack = Stack::up();
    setup_bucket(&stack);
    let store = S3Store::connect(&load(&stack.config_path()).storage).await.unwrap();
    contract(&store).await;
    stale_delete_is_refused(&store).await;
    // Objects land under the team folder.
    store.put("contract/x.txt", b"x".to_vec(), PutCondition::Any).await.unwrap();
    assert_eq!(store.full_key("contract/x.txt"), "team-demo/contract/x.txt");
    store.delete("contract/x.txt", None).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// s3s-fs: a real SigV4-checking server on a directory.

struct S3sFs {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl S3sFs {
    /// Starts `s3s-fs` (from `$S3S_FS`, cargo's bin folder or `PATH`; `scripts/stack install`
    /// installs it) with one key pair.
    fn start(access_key: &str, secret_key: &str) -> S3sFs {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
        let bin = std::env::var_os("S3S_FS")
            .map(PathBuf::from)
            .or_else(|| cargo_home.map(|c| c.join("bin/s3s-fs")).filter(|p| p.exists()))
            .unwrap_or_else(|| PathBuf::from("s3s-fs"));
        let dir = tempfile::Builder::new().prefix("wildcert-s3s-").tempdir().unwrap();
        let port = closed_port();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", access_key, "--secret-key", secret_key])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); install it with: cargo install s3s-fs@0.14.1 --locked --features binary",
                    bin.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start listening on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3sFs { child, endpoint: format!("http://127.0.0.1:{port}"), _dir: dir }
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const S3S_SECRET: &str = "s3s-right-secret-Zq7Xw2";
const WRONG_SECRET: &str = "wrong-secret-Jk4Pz9Qv";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_store_contract_on_s3s_fs_with_signature_checks() {
    let server = S3sFs::start("wildcert-test", S3S_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let config =
        storage_config(dir.path(), &server.endpoint, "gradient-artifacts", "wildcert-test", S3S_SECRET);
    let store = S3Store::connect(&load(&config).storage).await.unwrap();
    store.create_bucket().await.unwrap();
    contract(&store).await;
    stale_delete_is_refused(&store).await;
}

fn assert_no_secret(out: &Output, secrets: &[&str]) {
    let text = format!("{}{}", stdout(out), stderr(out));
    for s in secrets {
        assert!(!text.contains(s), "output shows a secret:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_name_bucket_and_endpoint_but_never_the_secret() {
    let server = S3sFs::start("wildcert-test", S3S_SECRET);
    let good_dir = tempfile::tempdir().unwrap();
    let good =
        storage_config(good_dir.path(), &server.endpoint, "gradient-artifacts", "wildcert-test", S3S_SECRET);
    S3Store::connect(&load(&good).storage).await.unwrap().create_bucket().await.unwrap();
    let pair = pair_expiring_in(90);
    Storage::new(&load(&good)).save("gradient", &pair, Origin::Files).await.unwrap();

    for (access_key, secret) in [("wildcert-test", WRONG_SECRET), ("no-such-key", S3S_SECRET)] {
        let dir = tempfile::tempdir().unwrap();
        let bad = storage_config(dir.path(), &server.endpoint, "gradient-artifacts", access_key, secret);
        let out = wildcert(
            &bad,
            &["pull", "--cert", "gradient", "--out", &dir.path().join("out").to_string_lossy()],
        );
        assert_eq!(code(&out), 1, "pull with wrong credentials: {}{}", stdout(&out), stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("bucket gradient-artifacts"), "{err}");
        assert!(err.contains(&server.endpoint), "{err}");
        assert!(err.contains("access_key_id") && err.contains("wildcert bucket policy"), "{err}");
        assert_no_secret(&out, &[WRONG_SECRET, S3S_SECRET]);

        let out = wildcert(&bad, &["bucket", "check"]);
        assert_ne!(code(&out), 0, "bucket check with wrong credentials passed: {}", stdout(&out));
        assert!(stdout(&out).contains("FAIL"), "{}", stdout(&out));
        assert!(stdout(&out).contains("access_key_id"), "{}", stdout(&out));
        assert_no_secret(&out, &[WRONG_SECRET, S3S_SECRET]);
        assert!(!dir.path().join("out").exists(), "nothing written on failure");
    }

    // A bucket that is not there, with the right credentials.
    let dir = tempfile::tempdir().unwrap();
    let missing = storage_config(dir.path(), &server.endpoint, "missing-bucket", "wildcert-test", S3S_SECRET);
    let out = wildcert(
        &missing,
        &["pull", "--cert", "gradient", "--out", &dir.path().join("out").to_string_lossy()],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("bucket missing-bucket") && err.contains(&server.endpoint), "{err}");
    assert!(err.contains("does not exist") && err.contains("wildcert bucket setup"), "{err}");
    assert_no_secret(&out, &[S3S_SECRET]);

    // The right credentials get the certificate.
    let out = wildcert(
        &good,
        &["pull", "--cert", "gradient", "--out", &good_dir.path().join("out").to_string_lossy()],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_no_secret(&out, &[S3S_SECRET]);
}

#[test]
fn a_missing_bucket_says_to_run_bucket_setup() {
    let stack = Stack::up();
    let out =
        stack.wildcert(&["pull", "--cert", "gradient", "--out", &stack.dir().join("out").to_string_lossy()]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("bucket gradient-artifacts") && err.contains(stack.get("S3_ENDPOINT")), "{err}");
    assert!(err.contains("does not exist") && err.contains("wildcert bucket setup"), "{err}");
    assert_no_secret(&out, &["demo-secret"]);
}

// ---------------------------------------------------------------------------------------
// Save and pull.

fn assert_dir_holds(dir: &Path, pair: &CheckedPair) {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(read("privkey.pem"), pair.key_pem());
    assert_eq!(read("fullchain.pem"), pair.fullchain_pem);
    assert_eq!(read("cert.pem"), pair.cert_pem);
    assert_eq!(read("chain.pem"), pair.chain_pem);
    let mode = std::fs::metadata(dir.join("privkey.pem")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_gives_the_stored_bytes_then_reports_unchanged() {
    let stack = Stack::up();
    setup_bucket(&stack);
    let storage = Storage::new(&load(&stack.config_path()));
    let pair = pair_expiring_in(90);
    let started = Instant::now();
    let saved = storage.save("gradient", &pair, Origin::Files).await.unwrap();
    eprintln!("save round-trip against moto: {:?}", started.elapsed());
    assert!(matches!(saved.bucket, BucketOutcome::Stored { .. }), "{:?}", saved.bucket);
    assert_dir_holds(&stack.live_dir().join("gradient"), &pair);

    let out_dir = stack.dir().join("pulled/gradient");
    let out_arg = out_dir.to_string_lossy().into_owned();
    let started = Instant::now();
    let out = stack.wildcert(&["pull", "--cert", "gradient", "--out", &out_arg]);
    eprintln!("pull against moto: {:?}", started.elapsed());
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&pair.info.serial), "{}", stdout(&out));
    assert_dir_holds(&out_dir, &pair);

    let out = stack.wildcert(&["pull", "--cert", "gradient", "--out", &out_arg]);
    assert_eq!(code(&out), 10, "second pull: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("already holds the current certificate"), "{}", stdout(&out));

    // A newer certificate in the bucket is pulled again; an older one is not stored.
    let newer = pair_expiring_in(120);
    storage.save("gradient", &newer, Origin::Acme).await.unwrap();
    let older = pair_expiring_in(60);
    let saved = storage.save("gradient", &older, Origin::Acme).await.unwrap();
    assert!(matches!(saved.bucket, BucketOutcome::Kept { .. }), "{:?}", saved.bucket);
    assert_dir_holds(&stack.live_dir().join("gradient"), &newer);
    let out = stack.wildcert(&["pull", "--cert", "gradient", "--out", &out_arg]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_dir_holds(&out_dir, &newer);

    // Planning sees the current version's meta.json.
    let meta = storage.current("gradient").await.unwrap().unwrap();
    assert_eq!(meta.serial, newer.info.serial);
    assert_eq!(meta.source, Origin::Acme);
    assert_eq!(meta.fencing, 0);

    // A directory that holds other files is not taken over.
    let busy = stack.dir().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("nginx.conf"), "x").unwrap();
    let out = stack.wildcert(&["pull", "--cert", "gradient", "--out", &busy.to_string_lossy()]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("holds other files"), "{}", stderr(&out));
    assert!(busy.join("nginx.conf").exists());

    let out = stack.wildcert(&["pull", "--cert", "nothing", "--out", &out_arg]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no certificate `nothing`"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_switch_current_json_one_at_a_time() {
    const WRITERS: usize = 12;
    let stack = Stack::up();
    setup_bucket(&stack);
    let config = load(&stack.config_path());
    let layout = Arc::new(Layout::new(S3Store::connect(&config.storage).await.unwrap(), 3));
    let pairs: Vec<CheckedPair> = (0..WRITERS).map(|i| pair_expiring_in(30 + i as i64)).collect();
    let by_serial: Arc<BTreeMap<String, CertFiles>> =
        Arc::new(pairs.iter().map(|p| (p.info.serial.clone(), CertFiles::from_pair(p))).collect());
    let best = pairs.last().unwrap().info.serial.clone();

    // A reader follows current.json the whole time: every read is one complete pair.
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (layout, done, reads, by_serial) =
            (layout.clone(), done.clone(), reads.clone(), by_serial.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                if let Some(stored) =
                    layout.read_current("gradient").await.expect("reader sees a complete version")
                {
                    assert_eq!(&stored.files, &by_serial[&stored.meta.serial], "files match their meta.json");
                    reads.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };

    let started = Instant::now();
    let mut writers = Vec::new();
    for pair in pairs.clone() {
        let layout = layout.clone();
        writers.push(tokio::spawn(async move {
            layout
                .save("gradient", &CertFiles::from_pair(&pair), &pair.info, Origin::Acme, Overwrite::IfNewer)
                .await
        }));
    }
    let mut stored = 0;
    let mut kept = 0;
    for w in writers {
        match w.await.unwrap().expect("every writer stores or reports a better current") {
            SaveOutcome::Stored { .. } => stored += 1,
            SaveOutcome::Kept { .. } => kept += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    eprintln!(
        "{WRITERS} concurrent writers: {stored} switched, {kept} kept a better one, in {:?}",
        started.elapsed()
    );
    done.store(true, Ordering::SeqCst);
    reader.await.unwrap();
    assert!(stored >= 1 && stored + kept == WRITERS);

    let current = layout.read_current("gradient").await.unwrap().unwrap();
    assert_eq!(current.meta.serial, best, "the latest-expiring certificate wins");
    assert_eq!(current.meta.sequence as usize, stored, "one switch per stored outcome");
    assert!(reads.load(Ordering::SeqCst) > 0);

    // No half-written or orphaned versions are left, and at most keep_versions remain.
    let keys = layout.store().list("certificates/gradient/").await.unwrap();
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for k in &keys {
        if let [_, _, version, file] = k.split('/').collect::<Vec<_>>()[..] {
            versions.entry(version.to_string()).or_default().insert(file.to_string());
        }
    }
    assert!(versions.len() <= 3, "{versions:?}");
    assert!(versions.contains_key(&current.meta.version));
    for (version, files) in &versions {
        assert_eq!(files.len(), 5, "{version} is complete: {files:?}");
    }

    // The same certificate saved twice at once: one stores, the other finds it current.
    let again = pair_expiring_in(400);
    let again_files = CertFiles::from_pair(&again);
    let (a, b) = tokio::join!(
        layout.save("gradient", &again_files, &again.info, Origin::Acme, Overwrite::IfNewer),
        layout.save("gradient", &again_files, &again.info, Origin::Acme, Overwrite::IfNewer),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| matches!(o, SaveOutcome::Stored { .. })).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(outcomes.iter().filter(|o| matches!(o, SaveOutcome::AlreadyCurrent { .. })).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_down_keeps_the_certificate_locally_and_uploads_it_later() {
    let stack = Stack::up();
    setup_bucket(&stack);
    let up = load(&stack.config_path());
    let down_path = stack.write_config(
        "down.toml",
        &stack
            .config_text()
            .replace(stack.get("S3_ENDPOINT"), &format!("http://127.0.0.1:{}", closed_port())),
    );
    let down = load(&down_path);
    let state = &up.storage.state_dir;

    // The bucket already holds a certificate valid for 60 days.
    let first = pair_expiring_in(60);
    Storage::new(&up).save("gradient", &first, Origin::Acme).await.unwrap();

    // While the bucket is away, a newer one is installed locally and queued.
    let newer = pair_expiring_in(90);
    let started = Instant::now();
    let saved = Storage::new(&down).save("gradient", &newer, Origin::Acme).await.unwrap();
    eprintln!("save with the bucket down: {:?}", started.elapsed());
    let BucketOutcome::Pending { reason } = &saved.bucket else { panic!("{:?}", saved.bucket) };
    assert!(reason.contains("bucket gradient-artifacts") && reason.contains("cannot reach"), "{reason}");
    assert_dir_holds(&stack.live_dir().join("gradient"), &newer);
    let record = state.join("pending/gradient.json");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&record), 0o600);
    assert_eq!(mode(&state.join("pending")), 0o700);
    assert_eq!(Storage::new(&down).pending().unwrap(), ["gradient"]);
    // The bucket still has the old one.
    assert_eq!(Storage::new(&up).current("gradient").await.unwrap().unwrap().serial, first.info.serial);

    // Still down: flushing keeps the record.
    let flushed = Storage::new(&down).flush_pending().await.unwrap();
    assert_eq!(flushed.len(), 1);
    assert!(flushed[0].result.as_ref().is_err_and(|e| e.is_transient()));
    assert!(record.exists());

    // Back up: the next run uploads it, and the record is gone.
    let storage = Storage::new(&up);
    let flushed = storage.flush_pending().await.unwrap();
    assert!(matches!(flushed[0].result, Ok(SaveOutcome::Stored { .. })), "{flushed:?}");
    assert!(!record.exists());
    assert_eq!(storage.current("gradient").await.unwrap().unwrap().serial, newer.info.serial);
    let out = stack.wildcert(&[
        "pull",
        "--cert",
        "gradient",
        "--out",
        &stack.dir().join("pulled").to_string_lossy(),
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_dir_holds(&stack.dir().join("pulled"), &newer);

    // A queued certificate that expires sooner than the bucket's never replaces it: the
    // next save uploads what is pending first, and the bucket keeps the better one.
    let worse = pair_expiring_in(30);
    Storage::new(&down).save("gradient", &worse, Origin::Acme).await.unwrap();
    let best = pair_expiring_in(100);
    let saved = storage.save("gradient", &best, Origin::Acme).await.unwrap();
    assert!(matches!(saved.bucket, BucketOutcome::Stored { .. }), "{:?}", saved.bucket);
    assert!(!record.exists(), "the pending record was handled by the save");
    assert_eq!(storage.current("gradient").await.unwrap().unwrap().serial, best.info.serial);
    let layout = storage.layout().await.unwrap().unwrap();
    let serials: BTreeSet<String> = {
        let mut s = BTreeSet::new();
        for k in layout.store().list("certificates/gradient/").await.unwrap() {
            if k.ends_with("/meta.json") {
                let meta: serde_json::Value =
                    serde_json::from_slice(&layout.store().get(&k).await.unwrap().unwrap().bytes).unwrap();
                s.insert(meta["serial"].as_str().unwrap().to_string());
            }
        }
        s
    };
    assert!(!serials.contains(&worse.info.serial), "the worse certificate was never uploaded");
}

#[tokio::test]
async fn a_shared_directory_works_like_a_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[storage]\nlocal_dir = \"{d}/live\"\nstate_dir = \"{d}/state\"\nshared_dir = \"{d}/share\"\nprefix = \"team-demo\"\n",
        d = dir.path().display()
    );
    let path = dir.path().join("wildcert.toml");
    std::fs::write(&path, text).unwrap();
    let pair = pair_expiring_in(90);
    let saved = Storage::new(&load(&path)).save("gradient", &pair, Origin::Files).await.unwrap();
    let BucketOutcome::Stored { version } = saved.bucket else { panic!("{:?}", saved.bucket) };
    let folder = dir.path().join("share/team-demo/certificates/gradient");
    assert!(folder.join("current.json").exists());
    assert!(folder.join(&version).join("meta.json").exists());
    let out_arg = dir.path().join("out").to_string_lossy().into_owned();
    let out = wildcert(&path, &["pull", "--cert", "gradient", "--out", &out_arg]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_dir_holds(&dir.path().join("out"), &pair);
    assert_eq!(code(&wildcert(&path, &["pull", "--cert", "gradient", "--out", &out_arg])), 10);
}

// ---------------------------------------------------------------------------------------
// End to end: ACME (Pebble, DNS-01 through BIND) → bucket → pull.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issued_certificate_is_stored_in_the_bucket_and_pulls_back_unchanged() {
    let stack = Stack::up();
    setup_bucket(&stack);
    let started = Instant::now();
    let out = stack.wildcert(&["issue"]);
    eprintln!("issue with the bucket: {:?}", started.elapsed());
    assert!(out.status.success(), "issue failed:\n{}{}", stdout(&out), stderr(&out));

    let live = stack.live_dir().join("gradient");
    let read = |dir: &Path, f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let storage = Storage::new(&load(&stack.config_path()));
    let stored = storage.fetch("gradient").await.unwrap().expect("the bucket holds the issued certificate");
    assert_eq!(stored.meta.source, Origin::Acme);
    assert_eq!(
        stored.files.fullchain,
        read(&live, "fullchain.pem"),
        "bucket and local directory hold the same bytes"
    );
    assert_eq!(stored.files.privkey, read(&live, "privkey.pem"));
    assert!(stored.meta.names.contains(&"*.gradient.example.com".to_string()), "{:?}", stored.meta.names);

    let pulled = stack.dir().join("elsewhere/gradient");
    let pulled_arg = pulled.to_string_lossy().into_owned();
    let out = stack.wildcert(&["pull", "--cert", "gradient", "--out", &pulled_arg]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    for f in ["privkey.pem", "fullchain.pem", "cert.pem", "chain.pem"] {
        assert_eq!(read(&pulled, f), read(&live, f), "{f}");
    }
    let out = stack.wildcert(&["pull", "--cert", "gradient", "--out", &pulled_arg]);
    assert_eq!(code(&out), 10, "{}{}", stdout(&out), stderr(&out));

    // A forced re-issue becomes the next version; pull picks it up.
    let out = stack.wildcert(&["issue", "--force"]);
    assert!(out.status.success(), "issue --force failed:\n{}{}", stdout(&out), stderr(&out));
    let meta = storage.current("gradient").await.unwrap().unwrap();
    assert_eq!(meta.sequence, 2);
    assert_ne!(meta.serial, stored.meta.serial);
    let out = stack.wildcert(&["pull", "--cert", "gradient", "--out", &pulled_arg]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(read(&pulled, "cert.pem"), read(&live, "cert.pem"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_private_encrypted_when_configured_and_carry_no_metadata() {
    let stack = Stack::up();
    setup_bucket(&stack);
    let path = stack.write_config(
        "sse.toml",
        &stack
            .config_text()
            .replace("path_style = true", "path_style = true\nserver_side_encryption = \"AES256\""),
    );
    let config = load(&path);
    let pair = pair_expiring_in(90);
    let saved = Storage::new(&config).save("gradient", &pair, Origin::Acme).await.unwrap();
    let BucketOutcome::Stored { version } = saved.bucket else { panic!("{:?}", saved.bucket) };

    let s3 = S3Store::connect(&config.storage).await.unwrap();
    for file in ["privkey.pem", "fullchain.pem", "meta.json"] {
        let key = s3.full_key(&format!("certificates/gradient/{version}/{file}"));
        let head = s3.client().head_object().bucket(s3.bucket()).key(&key).send().await.unwrap();
        assert_eq!(head.server_side_encryption().map(|s| s.as_str()), Some("AES256"), "{key}");
        assert!(
            head.metadata().is_none_or(|m| m.is_empty()),
            "{key} has user metadata: {:?}",
            head.metadata()
        );
        let acl = s3.client().get_object_acl().bucket(s3.bucket()).key(&key).send().await.unwrap();
        for grant in acl.grants() {
            let grantee = grant.grantee().expect("grantee");
            assert!(grantee.uri().is_none(), "{key} is granted to a group: {grant:?}");
            assert_eq!(grantee.id(), acl.owner().and_then(|o| o.id()), "{key} is granted to someone else");
        }
    }
}
