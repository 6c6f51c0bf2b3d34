//! Deploy hooks: a command run after a new certificate is stored, so the web server can
//! reload. Its failure is logged and reported, never undoes the stored certificate.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::store::live::LivePaths;

/// Why a deploy hook failed. The certificate stays stored either way; the failure is
/// counted, reported and the hook is not retried until the next new certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// `/bin/sh` could not be started.
    #[error("deploy hook for {name} could not start: {detail}")]
    Spawn {
        /// The certificate.
        name: String,
        /// Why.
        detail: String,
    },
    /// It ran past `hook_timeout` and was killed with its children.
    #[error("deploy hook for {name} was killed after {timeout:?}")]
    Timeout {
        /// The certificate.
        name: String,
        /// The limit it ran into.
        timeout: Duration,
    },
    /// It exited unsuccessfully.
    #[error("deploy hook for {name} exited with {status}: {stderr}")]
    Failed {
        /// The certificate.
        name: String,
        /// The exit status or signal.
        status: String,
        /// The end of what it wrote to stderr.
        stderr: String,
    },
}

/// Runs `command` with `/bin/sh -c`, giving it the certificate's paths in `WILDCERT_*`
/// variables; kills it (and its children) after `timeout`.
pub async fn run_deploy_hook(
    name: &str,
    command: &str,
    paths: &LivePaths,
    timeout: Duration,
) -> Result<(), HookError> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env("WILDCERT_NAME", name)
        .env("WILDCERT_FULLCHAIN", &paths.fullchain)
        .env("WILDCERT_KEY", &paths.privkey)
        .env("WILDCERT_CERT", &paths.cert)
        .env("WILDCERT_CHAIN", &paths.chain)
        .env("WILDCERT_DIR", &paths.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HookError::Spawn { name: name.into(), detail: e.to_string() })?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let pid = child.id();
    let waited = crate::progress::bounded_wait(tokio::time::timeout(timeout, async {
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err).await;
        (child.wait().await, err)
    }))
    .await;
    match waited {
        Err(_) => {
            if let Some(pid) = pid {
                // The whole process group: a shell's children must not outlive the timeout.
                let _ = std::process::Command::new("kill").arg("-KILL").arg(format!("-{pid}")).status();
            }
            Err(HookError::Timeout { name: name.into(), timeout })
        }
        Ok((Ok(status), _)) if status.success() => {
            tracing::info!(cert = name, "deploy hook finished");
            Ok(())
        }
        Ok((status, err)) => {
            let text = String::from_utf8_lossy(&err);
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            Err(HookError::Failed {
                name: name.into(),
                status: match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                },
                stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
            })
        }
    }
}
