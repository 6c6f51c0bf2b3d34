//! Termination signals, caught once for the whole command: the first SIGINT or SIGTERM stops
//! the order in flight (its challenge records are removed) and no further certificate is
//! started, so `systemctl stop` or Ctrl-C ends a multi-certificate `issue` or `renew` within
//! seconds instead of skipping to the next certificate.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Which signal asked us to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (systemd stopping the unit).
    Terminate,
}

impl Stop {
    /// The signal's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// The conventional exit status of a process ended by this signal (128 + its number).
    pub fn status(self) -> crate::exit::Status {
        match self {
            Stop::Interrupt => crate::exit::Status::Interrupted,
            Stop::Terminate => crate::exit::Status::Terminated,
        }
    }
}

/// A shutdown request shared by every part of one command. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<Option<Stop>>,
}

impl Shutdown {
    /// Starts listening for SIGINT and SIGTERM (must run inside the runtime).
    pub fn listen() -> Shutdown {
        let (tx, rx) = watch::channel(None);
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        tokio::spawn(async move {
            let stop = match (term, int) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => Stop::Terminate,
                    _ = int.recv() => Stop::Interrupt,
                },
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    Stop::Interrupt
                }
            };
            tracing::warn!(
                signal = stop.name(),
                "stopping: an order in flight is cancelled and its challenge records removed; no further certificate is started"
            );
            let _ = tx.send(Some(stop));
            // Keep the handlers installed: a second signal must not kill us mid-cleanup.
            std::future::pending::<()>().await;
        });
        Shutdown { rx }
    }

    /// The signal received so far, if any.
    pub fn requested(&self) -> Option<Stop> {
        *self.rx.borrow()
    }

    /// Completes once a signal arrived (at once if one already did).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|s| s.is_some()).await;
    }
}
