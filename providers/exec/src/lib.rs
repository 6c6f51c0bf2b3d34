//! Any DNS provider, scripted: run a program to add and remove the TXT value, with lego's
//! `exec` contract, so scripts written for lego (and the Gradient installer) keep working.
//!
//! Default mode:
//!
//! ```text
//! PROGRAM present FQDN VALUE      e.g. present _acme-challenge.example.com. <digest>
//! PROGRAM cleanup FQDN VALUE
//! ```
//!
//! `FQDN` has a trailing dot and is the record to write (already the CNAME target when
//! `_acme-challenge` is delegated); `VALUE` is the TXT value. `present` must add the value
//! without removing others (the apex and the wildcard share the name) and `cleanup` must
//! remove only that value.
//!
//! `RAW` mode hands over the ACME challenge instead, for scripts that compute the record
//! themselves:
//!
//! ```text
//! PROGRAM present -- DOMAIN TOKEN KEY_AUTH
//! PROGRAM cleanup -- DOMAIN TOKEN KEY_AUTH
//! ```
//!
//! `DOMAIN` is the identifier without `*.` and without a trailing dot. A record carries these
//! only when it was made for an ACME challenge (`TxtRecord::raw`); a probe without one (such
//! as `wildcert dns check`) is refused in this mode. As with lego, the key authorization is
//! visible on the command line to local users who can list processes.
//!
//! The program inherits wildcert's environment and runs in its own process group with no
//! stdin. Exit status 0 is success; 75 (`EX_TEMPFAIL`) reports a temporary failure worth
//! retrying; anything else is an error that quotes the last lines of stderr. A program that
//! runs longer than the timeout is killed together with everything it started.

#![warn(missing_docs)]

mod spec;
pub use spec::ExecConfig;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use wildcert_dns_api::{DnsProvider, ProviderError, TxtRecord};

/// Exit status that asks for a retry later (sysexits.h `EX_TEMPFAIL`).
pub const EXIT_TEMPFAIL: i32 = 75;

/// Output kept per stream, from the end.
const TAIL_BYTES: usize = 64 * 1024;
/// Lines of stderr quoted in an error.
const TAIL_LINES: usize = 8;
/// How long to wait for the output pipes to close after the program exited (a background
/// child may hold them open).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Default or RAW, as in lego.
pub use wildcert_dns_api::LegoMode as Mode;

/// Settings of the exec adapter, as plain values (the caller owns the config format).
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// The program: a path, or a name looked up in `PATH`.
    pub program: PathBuf,
    /// What the program is given: the record (default) or lego's raw challenge (`RAW`).
    pub mode: Mode,
    /// How long one run may take before it and its process group are killed.
    pub timeout: Duration,
}

/// The exec adapter.
#[derive(Debug, Clone)]
pub struct Exec {
    settings: ExecSettings,
}

impl Exec {
    /// Checks that the program exists and is executable.
    pub fn new(settings: ExecSettings) -> Result<Exec, ProviderError> {
        let config = |detail: String| ProviderError::Config { provider: describe(&settings), detail };
        let program = &settings.program;
        if program.as_os_str().is_empty() {
            return Err(config("program is empty; set it to the script's path".into()));
        }
        if program.components().count() > 1 {
            check_executable(program).map_err(config)?;
        } else if find_in_path(program).is_none() {
            return Err(config(format!(
                "program `{}` is not found in PATH; give its full path",
                program.display()
            )));
        }
        if settings.timeout.is_zero() {
            return Err(config("timeout must be longer than zero".into()));
        }
        Ok(Exec { settings })
    }

    /// The settings it was built from, for messages and tests.
    pub fn settings(&self) -> &ExecSettings {
        &self.settings
    }

    async fn run(&self, action: &str, record: &TxtRecord) -> Result<(), ProviderError> {
        let provider = self.describe();
        let program = &self.settings.program;
        let mut command = tokio::process::Command::new(program);
        // Shown in messages: never the value or the key authorization.
        let shown;
        let mut secrets: Vec<&str> = Vec::new();
        match self.settings.mode {
            Mode::Default => {
                let fqdn = if record.fqdn.ends_with('.') {
                    record.fqdn.clone()
                } else {
                    format!("{}.", record.fqdn)
                };
                shown = format!("{} {action} {fqdn}", program.display());
                command.arg(action).arg(&fqdn).arg(&record.value);
            }
            Mode::Raw => {
                let Some(raw) = &record.raw else {
                    return Err(ProviderError::Config {
                        provider,
                        detail: format!(
                            "mode RAW needs the ACME challenge (domain, token, key authorization), and the record for {} has none (it is not part of an ACME order); use the default mode to write plain records",
                            record.fqdn
                        ),
                    });
                };
                shown = format!("{} {action} -- {}", program.display(), raw.domain);
                secrets.push(raw.key_authorization.expose());
                command
                    .arg(action)
                    .arg("--")
                    .arg(&raw.domain)
                    .arg(&raw.token)
                    .arg(raw.key_authorization.expose());
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);

        let mut child = spawn(&mut command).await.map_err(|e| ProviderError::Config {
            provider: provider.clone(),
            detail: format!("cannot start `{shown}`: {e}"),
        })?;
        let mut group = GroupGuard::new(child.id());
        let stdout = child.stdout.take().map(|out| tokio::spawn(read_tail(out)));
        let stderr = child.stderr.take().map(|err| tokio::spawn(read_tail(err)));

        let waited = tokio::time::timeout(self.settings.timeout, child.wait()).await;
        let status = match waited {
            Ok(Ok(status)) => {
                group.disarm();
                status
            }
            Ok(Err(e)) => {
                return Err(ProviderError::Unreachable {
                    provider,
                    detail: format!("waiting for `{shown}`: {e}"),
                });
            }
            Err(_) => {
                group.kill();
                let _ = child.wait().await;
                let tail = collect(stderr).await;
                return Err(ProviderError::Timeout {
                    provider,
                    after: self.settings.timeout,
                    detail: format!(
                        "`{shown}` did not finish and was killed with its process group{}",
                        stderr_suffix(&tail, &secrets)
                    ),
                });
            }
        };
        let out = collect(stdout).await;
        let err = collect(stderr).await;
        for line in String::from_utf8_lossy(&out).lines().filter(|l| !l.trim().is_empty()) {
            tracing::debug!(program = %program.display(), action, "stdout: {}", redact(line, &secrets));
        }
        if status.success() {
            for line in String::from_utf8_lossy(&err).lines().filter(|l| !l.trim().is_empty()) {
                tracing::debug!(program = %program.display(), action, "stderr: {}", redact(line, &secrets));
            }
            tracing::debug!(program = %program.display(), action, fqdn = %record.fqdn, "exec succeeded");
            return Ok(());
        }
        let detail = format!("`{shown}` {}{}", describe_status(status), stderr_suffix(&err, &secrets));
        if status.code() == Some(EXIT_TEMPFAIL) {
            Err(ProviderError::Temporary { provider, detail, retry_after: None })
        } else {
            Err(ProviderError::Rejected { provider, detail })
        }
    }
}

/// Starts the program, retrying briefly while the kernel reports it busy (ETXTBSY): that
/// happens when the script was just written and another process, such as a configuration
/// manager or a concurrent fork in this one, still holds a write descriptor to it for a moment.
async fn spawn(command: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let mut delay = Duration::from_millis(10);
    for _ in 0..6 {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    command.spawn()
}

fn describe(settings: &ExecSettings) -> String {
    match settings.mode {
        Mode::Default => format!("exec ({})", settings.program.display()),
        Mode::Raw => format!("exec ({}, RAW)", settings.program.display()),
    }
}

impl DnsProvider for Exec {
    fn describe(&self) -> String {
        describe(&self.settings)
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.run("present", record).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.run("cleanup", record).await
    }
}

fn check_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("program {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("program {} is not a file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("program {} is not executable; run chmod +x on it", path.display()));
    }
    Ok(())
}

fn find_in_path(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| check_executable(candidate).is_ok())
}

/// Kills the child's process group unless disarmed: on timeout, and when the run is
/// abandoned (its future dropped) while the program still runs.
struct GroupGuard {
    pgid: Option<libc::pid_t>,
}

impl GroupGuard {
    fn new(pid: Option<u32>) -> GroupGuard {
        GroupGuard { pgid: pid.and_then(|p| libc::pid_t::try_from(p).ok()).filter(|p| *p > 0) }
    }

    /// The program exited and was reaped: its group id may be reused, never signal it.
    fn disarm(&mut self) {
        self.pgid = None;
    }

    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) has no memory-safety preconditions. The group leader has not
            // been reaped yet (this runs before `wait` returned), so `pgid` still names the
            // group we created with `process_group(0)`.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a stream to its end, keeping the last `TAIL_BYTES`.
async fn read_tail(mut stream: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut tail = VecDeque::with_capacity(4096);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend(&buf[..n]);
                let excess = tail.len().saturating_sub(TAIL_BYTES);
                tail.drain(..excess);
            }
        }
    }
    tail.into()
}

/// The output a reader collected, waiting at most `DRAIN_GRACE` for the pipe to close.
async fn collect(task: Option<tokio::task::JoinHandle<Vec<u8>>>) -> Vec<u8> {
    let Some(mut task) = task else {
        return Vec::new();
    };
    match tokio::time::timeout(DRAIN_GRACE, &mut task).await {
        Ok(Ok(bytes)) => bytes,
        _ => {
            task.abort();
            Vec::new()
        }
    }
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(EXIT_TEMPFAIL), _) => format!("exited with status {EXIT_TEMPFAIL} (temporary failure)"),
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "failed".to_string(),
    }
}

fn redact(text: &str, secrets: &[&str]) -> String {
    secrets.iter().filter(|s| !s.is_empty()).fold(text.to_string(), |t, s| t.replace(s, "[redacted]"))
}

/// `; stderr (last lines): a | b` or a note that it was empty.
fn stderr_suffix(stderr: &[u8], secrets: &[&str]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return "; it wrote nothing to stderr".to_string();
    }
    let last = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    let mut joined = redact(&last.join(" | "), secrets);
    if joined.chars().count() > 2000 {
        joined = joined.chars().skip(joined.chars().count() - 2000).collect();
    }
    format!("; stderr (last lines): {joined}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_lego() {
        assert_eq!("RAW".parse::<Mode>().unwrap(), Mode::Raw);
        assert_eq!("".parse::<Mode>().unwrap(), Mode::Default);
        assert!("raw2".parse::<Mode>().unwrap_err().contains("RAW"));
    }

    #[test]
    fn refuses_missing_or_non_executable_program() {
        let settings = |p: &str| ExecSettings {
            program: p.into(),
            mode: Mode::Default,
            timeout: Duration::from_secs(1),
        };
        let err = Exec::new(settings("/nonexistent/hook.sh")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/hook.sh"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("hook.sh");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let err = Exec::new(settings(plain.to_str().unwrap())).unwrap_err().to_string();
        assert!(err.contains("chmod +x"), "{err}");
        let err = Exec::new(settings("no-such-program-wildcert")).unwrap_err().to_string();
        assert!(err.contains("not found in PATH"), "{err}");
        assert!(Exec::new(settings("sh")).is_ok());
    }

    #[test]
    fn stderr_suffix_keeps_last_lines_and_redacts() {
        let text = (1..=20).map(|i| format!("line {i} key.auth")).collect::<Vec<_>>().join("\n");
        let suffix = stderr_suffix(text.as_bytes(), &["key.auth"]);
        assert!(
            suffix.contains("line 20") && suffix.contains("line 13") && !suffix.contains("line 12 "),
            "{suffix}"
        );
        assert!(!suffix.contains("key.auth"), "{suffix}");
        assert_eq!(stderr_suffix(b"\n\n", &[]), "; it wrote nothing to stderr");
    }
}
