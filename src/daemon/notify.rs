//! systemd's notification protocol (`sd_notify`): READY, STATUS, WATCHDOG, STOPPING sent as
//! datagrams to `$NOTIFY_SOCKET`. Without the variable (not under systemd) nothing is sent.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// A connection to the service manager, if there is one.
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    /// Whether systemd expects watchdog pings from us (`WATCHDOG_USEC`).
    watchdog: bool,
}

impl Notifier {
    /// The notifier for `$NOTIFY_SOCKET` (and `$WATCHDOG_USEC`); one that sends nothing when
    /// not run by systemd, so callers need not check.
    pub fn from_env() -> Notifier {
        let watchdog = watchdog_interval().is_some();
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { socket: None, watchdog };
        };
        let path = path.to_string_lossy().into_owned();
        let addr = if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        } else {
            std::os::unix::net::SocketAddr::from_pathname(&path)
        };
        match (UnixDatagram::unbound(), addr) {
            // Non-blocking: a manager that does not read its socket must not freeze the
            // service (the runtime has one thread); a message that does not fit is dropped.
            (Ok(socket), Ok(addr)) if socket.set_nonblocking(true).is_ok() => {
                Notifier { socket: Some((socket, addr)), watchdog }
            }
            _ => {
                tracing::warn!(socket = %path, "NOTIFY_SOCKET is set but unusable; not notifying systemd");
                Notifier { socket: None, watchdog }
            }
        }
    }

    fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.socket
            && let Err(e) = socket.send_to_addr(message.as_bytes(), addr)
        {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }

    /// Start-up is done (Type=notify): `systemctl start` returns and dependents start.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// The one-line state `systemctl status` shows.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    /// A reload began (`systemctl reload`); `ready` ends it.
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    /// Shutdown began, so systemd does not count the time to stop as a hang.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// A watchdog ping, when systemd asked for them.
    pub fn watchdog(&self) {
        if self.watchdog {
            self.send("WATCHDOG=1");
        }
    }
}

/// The interval to ping the watchdog at: half of `WATCHDOG_USEC`, when it is meant for us.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let addr = std::os::unix::net::SocketAddr::from_pathname(&path).unwrap();
        let n = Notifier { socket: Some((UnixDatagram::unbound().unwrap(), addr)), watchdog: false };
        n.ready("watching 1 certificate");
        let mut buf = [0u8; 256];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=watching 1 certificate");
    }

    #[test]
    fn a_manager_that_does_not_read_never_blocks_us() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let _listener = UnixDatagram::bind(&path).unwrap();
        let addr = std::os::unix::net::SocketAddr::from_pathname(&path).unwrap();
        let socket = UnixDatagram::unbound().unwrap();
        socket.set_nonblocking(true).unwrap();
        let n = Notifier { socket: Some((socket, addr)), watchdog: true };
        // Far beyond the kernel's datagram queue (max_dgram_qlen, 10 by default).
        for _ in 0..1000 {
            n.watchdog();
        }
    }
}
