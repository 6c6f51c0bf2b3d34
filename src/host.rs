//! Who this host is, decided the way the shipped systemd unit lets us see it.
//!
//! The unit runs with `ProcSubset=pid` and `ProtectProc=invisible`: `/proc/sys` is hidden,
//! and `/proc/<pid>` of another user's process is invisible; systemd sets no `$HOSTNAME`.
//! So the host name comes from `gethostname(2)` (or `/etc/hostname`), "this host" is decided
//! from `/etc/machine-id`, and whether a process lives is asked of the kernel
//! (`kill(pid, 0)`), never of `/proc`.

use std::sync::OnceLock;
use std::time::Duration;

use time::OffsetDateTime;

/// Who this host is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The host name: `WILDCERT_HOSTNAME`, else `gethostname(2)`, else `/etc/hostname`,
    /// else `unknown`. Shown to people (lease holders, `meta.json`), and part of the key
    /// that decides "this host".
    pub name: String,
    /// `/etc/machine-id` (32 lower-case hex digits), `None` when missing or malformed.
    pub machine_id: Option<String>,
}

impl Identity {
    /// Reads it afresh (the process-wide value is `identity()`).
    pub fn read() -> Identity {
        let name = std::env::var("WILDCERT_HOSTNAME")
            .ok()
            .and_then(clean_name)
            .or_else(kernel_host_name)
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok().and_then(clean_name))
            .unwrap_or_else(|| "unknown".into());
        let machine_id = std::fs::read_to_string("/etc/machine-id").ok().and_then(|t| parse_machine_id(&t));
        Identity { name, machine_id }
    }

    /// Whether a lease recorded by `(machine_id, name)` was written on this host. Without a
    /// machine id on either side the answer is no: waiting out a lease is always safe, taking
    /// over a live one is not. The name must match too, so that containers cloned from one
    /// image (same baked-in machine id, different host names) are told apart.
    pub fn is_this_host(&self, machine_id: Option<&str>, name: &str) -> bool {
        match (&self.machine_id, machine_id) {
            (Some(ours), Some(theirs)) => ours == theirs && self.name == name,
            _ => false,
        }
    }

    /// The seed of this host's renewal jitter: what really differs between hosts (the
    /// machine id), plus the name.
    pub fn jitter_seed(&self) -> String {
        format!("{}/{}", self.machine_id.as_deref().unwrap_or("-"), self.name)
    }
}

/// This process's identity, read once.
pub fn identity() -> &'static Identity {
    static IDENTITY: OnceLock<Identity> = OnceLock::new();
    IDENTITY.get_or_init(Identity::read)
}

/// This machine's name: who wrote a version, who holds a lock.
pub fn host_name() -> String {
    identity().name.clone()
}

fn clean_name(text: String) -> Option<String> {
    let t = text.trim();
    (!t.is_empty() && t.len() <= 255 && !t.chars().any(char::is_control)).then(|| t.to_string())
}

fn kernel_host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the kernel writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    clean_name(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// `/etc/machine-id` holds 32 hex digits and a newline; anything else (empty on a fresh image,
/// `uninitialized`) is no machine id.
pub fn parse_machine_id(text: &str) -> Option<String> {
    let id = text.trim().to_ascii_lowercase();
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()) && id.chars().any(|c| c != '0'))
        .then_some(id)
}

/// Whether process `pid` of this host (this PID namespace) exists. `kill(pid, 0)` answers even
/// where `/proc/<pid>` is hidden: `EPERM` means it exists but belongs to someone else.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The wall clock as lease records state it: now, shifted by `WILDCERT_TEST_CLOCK_OFFSET`
/// (for tests only: e.g. `600s` runs this process as if its clock were 10 minutes ahead,
/// `-600s` behind). Nothing decides a takeover from it; it is shown to people.
pub fn wall_clock() -> OffsetDateTime {
    OffsetDateTime::now_utc() + clock_offset()
}

fn clock_offset() -> time::Duration {
    static OFFSET: OnceLock<time::Duration> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var("WILDCERT_TEST_CLOCK_OFFSET").ok().and_then(|v| parse_offset(&v)).unwrap_or_default()
    })
}

fn parse_offset(text: &str) -> Option<time::Duration> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let d: Duration = crate::config::duration::parse(rest).ok()?;
    let d = time::Duration::try_from(d).ok()?;
    Some(if negative { -d } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_ids_are_32_hex_digits() {
        assert_eq!(
            parse_machine_id("0123456789ABCDEF0123456789abcdef\n").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        for bad in [
            "",
            "uninitialized\n",
            "0123",
            "00000000000000000000000000000000",
            "g123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(parse_machine_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn this_host_needs_the_same_machine_id_and_name() {
        let me = Identity { name: "h1".into(), machine_id: Some("a".repeat(32)) };
        assert!(me.is_this_host(Some(&"a".repeat(32)), "h1"));
        assert!(!me.is_this_host(Some(&"b".repeat(32)), "h1"), "another machine with the same name");
        assert!(!me.is_this_host(Some(&"a".repeat(32)), "h2"), "a clone of the same image");
        assert!(!me.is_this_host(None, "h1"), "a record without a machine id");
        let anonymous = Identity { name: "h1".into(), machine_id: None };
        assert!(!anonymous.is_this_host(None, "h1"));
    }

    #[test]
    fn jitter_seeds_differ_between_machines_with_one_name() {
        let a = Identity { name: "unknown".into(), machine_id: Some("a".repeat(32)) };
        let b = Identity { name: "unknown".into(), machine_id: Some("b".repeat(32)) };
        assert_ne!(a.jitter_seed(), b.jitter_seed());
    }

    #[test]
    fn the_kernel_answers_for_pids() {
        assert!(pid_alive(std::process::id()));
        // PID 1 exists in every namespace (as root it is ours, otherwise EPERM: still alive).
        assert!(pid_alive(1));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid), "a reaped child is gone");
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }

    #[test]
    fn the_host_name_comes_without_proc() {
        // gethostname(2) answers even where /proc/sys is hidden.
        assert!(kernel_host_name().is_some());
    }

    #[test]
    fn clock_offsets_parse_with_a_sign() {
        assert_eq!(parse_offset("600s"), Some(time::Duration::seconds(600)));
        assert_eq!(parse_offset("-10m"), Some(time::Duration::minutes(-10)));
        assert_eq!(parse_offset("+1h"), Some(time::Duration::hours(1)));
        assert_eq!(parse_offset("soon"), None);
    }
}
