//! Test harness: the real servers of `scripts/stack` (Pebble, BIND, S3/Route53 API) on
//! free loopback ports, stopped again when the `Stack` is dropped (also on panic).
#![allow(dead_code)]

pub mod fake_api;
pub mod openstack_fake;
pub mod pairs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Stack {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Stack {
    /// The stack with its bucket set up (`wildcert bucket setup`).
    pub fn with_bucket() -> Stack {
        let stack = Stack::up();
        let out = stack.wildcert(&["bucket", "setup"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stack
    }

    /// A configuration for another "host" sharing the stack's bucket: its own local and
    /// state directories under `<stack>/<folder>`, a deploy hook that appends the
    /// certificate's name to `<folder>/hook.log`, `cert_keys` added to the certificate's
    /// table, the team folder `prefix` when given, and `extra` appended.
    pub fn host_config(&self, folder: &str, prefix: Option<&str>, cert_keys: &str, extra: &str) -> PathBuf {
        let dir = self.dir().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        let text = self
            .config_text()
            .replace(
                &format!("local_dir = \"{}\"", self.dir().join("live").display()),
                &format!("local_dir = \"{}\"", dir.join("live").display()),
            )
            .replace(
                &format!("state_dir = \"{}\"", self.dir().join("state").display()),
                &format!("state_dir = \"{}\"", dir.join("state").display()),
            )
            .replace(
                "key_type = \"ec256\"",
                &format!(
                    "key_type = \"ec256\"\ndeploy_hook = \"echo $WILDCERT_NAME >> {}\"{cert_keys}",
                    dir.join("hook.log").display()
                ),
            );
        let text = match prefix {
            Some(p) => text.replace("prefix = \"team-demo\"", &format!("prefix = \"{p}\"")),
            None => text,
        };
        let path = dir.join("wildcert.toml");
        std::fs::write(&path, format!("{text}{extra}")).unwrap();
        path
    }

    /// Starts Pebble + BIND + the S3 server.
    pub fn up() -> Stack {
        Stack::up_with(&[])
    }

    /// Starts the stack with extra `STACK_*` settings (see `scripts/stack`).
    pub fn up_with(settings: &[(&str, &str)]) -> Stack {
        let dir = tempfile::Builder::new().prefix("wildcert-stack-").tempdir().expect("tempdir");
        let out = Command::new(repo().join("scripts/stack"))
            .arg("up")
            .arg(dir.path())
            .envs(settings.iter().copied())
            .output()
            .expect("run scripts/stack");
        assert!(
            out.status.success(),
            "scripts/stack up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join("stack.env")).expect("stack.env");
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Stack { dir, env }
    }

    pub fn get(&self, key: &str) -> &str {
        self.env.get(key).unwrap_or_else(|| panic!("stack.env has no {key}"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration `scripts/stack` wrote for this stack.
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("wildcert.toml")
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(self.config_path()).expect("read wildcert.toml")
    }

    /// Writes a changed configuration next to the stack's and returns its path.
    pub fn write_config(&self, file: &str, text: &str) -> PathBuf {
        let path = self.dir().join(file);
        std::fs::write(&path, text).expect("write config");
        path
    }

    pub fn live_dir(&self) -> PathBuf {
        self.dir().join("live")
    }

    /// Runs the built binary with the stack's configuration.
    pub fn wildcert(&self, args: &[&str]) -> Output {
        self.wildcert_with(&self.config_path(), args)
    }

    pub fn wildcert_with(&self, config: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wildcert"))
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("WILDCERT_LOG")
            .output()
            .expect("run wildcert")
    }

    /// TXT values at `name` as BIND serves them right now.
    pub fn dig_txt(&self, name: &str) -> Vec<String> {
        let out = Command::new("dig")
            .args(["+short", "+time=2", "+tries=1", "-p", self.get("DNS_PORT"), "@127.0.0.1", "TXT", name])
            .output()
            .expect("run dig");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().trim_matches('"').to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Runs an nsupdate script signed with the stack's admin key (may change any record).
    pub fn nsupdate_admin(&self, commands: &str) {
        let secret = std::fs::read_to_string(self.get("ADMIN_SECRET_FILE")).expect("admin secret");
        let script = format!("server 127.0.0.1 {}\n{commands}\nsend\n", self.get("DNS_PORT"));
        let mut child = Command::new("nsupdate")
            .arg("-y")
            .arg(format!("hmac-sha256:admin.:{}", secret.trim()))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("run nsupdate");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "nsupdate failed for:\n{script}");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/stack")).arg("down").arg(self.dir.path()).output();
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `wildcert run` process with its JSON log in a file and a `NOTIFY_SOCKET` the test
/// reads. Killed when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub log: PathBuf,
    notify: std::os::unix::net::UnixDatagram,
    _notify_dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start(config: &Path, log: PathBuf) -> Daemon {
        Daemon::start_with_env(config, log, &[])
    }

    pub fn start_with_env(config: &Path, log: PathBuf, env: &[(&str, &str)]) -> Daemon {
        let command = Command::new(env!("CARGO_BIN_EXE_wildcert"));
        Daemon::spawn(command, config, log, env, "start wildcert run")
    }

    /// `wildcert run` as the only program of a namespaced "host" (see `Host`), without
    /// `WILDCERT_HOSTNAME` or `HOSTNAME`: it must find out who it is by itself.
    pub fn start_on_host(host: &Host, config: &Path, log: PathBuf, env: &[(&str, &str)]) -> Daemon {
        let command = host.command(std::path::Path::new(env!("CARGO_BIN_EXE_wildcert")));
        Daemon::spawn(
            command,
            config,
            log,
            env,
            "start wildcert run in its own namespaces (needs root and util-linux unshare)",
        )
    }

    /// Spawns `command` (wildcert itself, or wildcert inside a host's namespaces) as
    /// `--config CONFIG --log-format json run` with `env`, its log written to `log` and a
    /// notify socket of its own; `what` names the start in the panic if it fails.
    fn spawn(mut command: Command, config: &Path, log: PathBuf, env: &[(&str, &str)], what: &str) -> Daemon {
        let notify_dir = tempfile::tempdir().unwrap();
        let socket_path = notify_dir.path().join("notify.sock");
        let notify = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
        notify.set_nonblocking(true).unwrap();
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .arg("--config")
            .arg(config)
            .args(["--log-format", "json", "run"])
            .env("NOTIFY_SOCKET", &socket_path)
            .env_remove("WILDCERT_LOG")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .expect(what);
        Daemon { child, log, notify, _notify_dir: notify_dir }
    }

    /// Log lines parsed as JSON.
    pub fn events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn count(&self, message: &str) -> usize {
        self.events().iter().filter(|e| e["message"] == message).count()
    }

    /// Waits until `message` was logged `n` times.
    pub fn wait_for(&self, message: &str, n: usize, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.count(message) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "waited {timeout:?} for {n}x {message:?}; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// sd_notify messages received so far.
    pub fn notifications(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    pub fn signal(&self, sig: &str) {
        let ok =
            Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(ok.success());
    }

    /// Sends SIGTERM and waits for the exit; returns the status and how long it took.
    pub fn stop(&mut self) -> (std::process::ExitStatus, std::time::Duration) {
        let started = std::time::Instant::now();
        self.signal("TERM");
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "did not stop after SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback (bound and released: good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Fetches `http://127.0.0.1:port/path` with a bare HTTP/1.0 request.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut text = String::new();
    for attempt in 0..3 {
        let fetched = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
            let mut t = String::new();
            s.read_to_string(&mut t)?;
            Ok(t)
        });
        match fetched {
            Ok(t) => {
                text = t;
                break;
            }
            Err(e) if attempt == 2 => panic!("GET 127.0.0.1:{port}{path}: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// One HTTP/1.1 request as a test server received it.
pub struct HttpRequest {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The whole request as text.
    pub raw: String,
}

/// Reads one request (head and a Content-Length body) from a test server's socket; `None`
/// when the client closed the connection first.
pub async fn read_http_request(socket: &mut tokio::net::TcpStream) -> Option<HttpRequest> {
    use tokio::io::AsyncReadExt;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_end, length) = loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end, length);
        }
    };
    while data.len() < head_end + 4 + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(HttpRequest {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&data[head_end + 4..]).to_string(),
        raw: String::from_utf8_lossy(&data).into_owned(),
    })
}

/// A "host" of a fleet on this one machine: its own mount, PID and UTS namespaces
/// (`unshare`, as root), `/proc` mounted `subset=pid,hidepid=invisible` (what the shipped
/// unit's `ProcSubset=pid` and `ProtectProc=invisible` give: no `/proc/sys`, other users'
/// processes invisible), its own `/etc/machine-id` (a generated file bind-mounted over it)
/// and its own host name. Loopback networking stays shared, so the stack's servers answer.
/// The same `Host` started twice is a restart of the same machine.
pub struct Host {
    pub name: String,
    pub machine_id: String,
    machine_id_file: PathBuf,
}

impl Host {
    /// A host named `name` with a fresh machine id; its files live under `dir`.
    pub fn new(dir: &Path, name: &str) -> Host {
        let machine_id = format!("{:032x}", rand::random::<u128>() | 1);
        std::fs::create_dir_all(dir).unwrap();
        let machine_id_file = dir.join(format!("{name}.machine-id"));
        std::fs::write(&machine_id_file, format!("{machine_id}\n")).unwrap();
        Host { name: name.to_string(), machine_id, machine_id_file }
    }

    /// A command that runs `program` as PID 1 of this host's namespaces; killing the
    /// returned child (SIGKILL) kills everything in them (`--kill-child`).
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--pid", "--uts", "--fork", "--kill-child", "--mount-proc", "sh", "-c"])
            .arg(
                "set -e; mount -t proc -o subset=pid,hidepid=invisible proc /proc; \
                 mount --bind \"$1\" /etc/machine-id; hostname \"$2\"; shift 2; exec \"$@\"",
            )
            .arg("sh")
            .arg(&self.machine_id_file)
            .arg(&self.name)
            .arg(program)
            .env_remove("WILDCERT_HOSTNAME")
            .env_remove("HOSTNAME");
        c
    }
}

/// A test server script from `tests/support` (Python), started with `args` after its
/// PORT_FILE argument; it writes the port it listens on to that file. Killed when dropped.
pub struct ScriptServer {
    child: std::process::Child,
    pub port: u16,
}

impl ScriptServer {
    pub fn start(stack: &Stack, script: &str, args: &[&str]) -> ScriptServer {
        let port_file = stack.dir().join(format!("{script}.port"));
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new("python3")
            .arg(repo().join("tests/support").join(script))
            .arg(&port_file)
            .args(args)
            .spawn()
            .expect("start a test server script");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p.trim().parse().expect("port number");
            }
            assert!(std::time::Instant::now() < deadline, "{script} did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        ScriptServer { child, port }
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many orders the JSON logs at `logs` say were created (a missing log counts none).
pub fn orders_created(logs: &[&Path]) -> usize {
    logs.iter()
        .map(|l| {
            std::fs::read_to_string(l)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("\"order created\""))
                .count()
        })
        .sum()
}

/// Polls `f` every 50 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: std::time::Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
