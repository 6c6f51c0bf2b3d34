//! The `[notify] command`: run by `/bin/sh -c` with the event in `WILDCERT_*` variables (as
//! the deploy hook gets its paths), killed with its children after the timeout.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{Failure, Payload};

pub(super) async fn run(command: &str, payload: &Payload, timeout: Duration) -> Result<(), Failure> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env("WILDCERT_EVENT", &payload.event)
        .env("WILDCERT_NAME", &payload.certificate)
        .env("WILDCERT_MESSAGE", &payload.message)
        .env("WILDCERT_CAUSE", opt(&payload.cause))
        .env("WILDCERT_ATTEMPTS", payload.attempts.map(|a| a.to_string()).unwrap_or_default())
        .env("WILDCERT_NEXT_ATTEMPT", opt(&payload.next_attempt))
        .env("WILDCERT_NOT_AFTER", opt(&payload.not_after))
        .env("WILDCERT_HOST", &payload.host)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure { detail: format!("could not start: {e}"), retry: false })?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let pid = child.id();
    let waited = tokio::time::timeout(timeout, async {
        let mut err = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut err).await;
        (child.wait().await, err)
    })
    .await;
    match waited {
        Err(_) => {
            if let Some(pid) = pid {
                // The whole process group: a shell's children must not outlive the timeout.
                let _ = std::process::Command::new("kill").arg("-KILL").arg(format!("-{pid}")).status();
            }
            Err(Failure { detail: format!("killed after {timeout:?}"), retry: true })
        }
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((status, err)) => {
            let text = String::from_utf8_lossy(&err);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            let status = match status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            };
            Err(Failure {
                detail: format!(
                    "exited with {status}: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ),
                retry: true,
            })
        }
    }
}
