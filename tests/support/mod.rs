//! Test harness: the real servers of `scripts/stack` (Pebble, BIND, S3/Route53 API) on
//! free loopback ports, stopped again when the `Stack` is dropped (also on panic).
#![allow(dead_code)]

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
