//! Log output: human text on stderr by default, JSON lines with `--log-format json`.
//!
//! Colour only when stderr is a terminal and `NO_COLOR` is not set, so a pipe, a file or the
//! journal never receives escape sequences (journald stores such lines as blobs). Under
//! systemd (stderr is the stream named by `JOURNAL_STREAM`) every line starts with a syslog
//! priority prefix (`<3>` error, `<4>` warn, `<6>` info, `<7>` debug), which journald turns
//! into the entry's priority, so `journalctl -p warning` works.
//!
//! Dependencies log at `warn` by default and never above `debug` unless `WILDCERT_LOG` (an
//! env-filter directive, used as given) asks: at `trace` some HTTP and SDK crates log request
//! and response bodies, and a body can hold a private key.

use std::fmt;
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written: for people (`text`, with journald priorities when stderr is
/// the journal) or for machines (`json`, one object a line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The filter for a verbosity (-1 quiet, 0 info, 1 debug, 2+ trace): our crates at that
/// level, dependencies at `warn`, and at most `debug` even with `-vv`.
pub fn default_filter(verbosity: i8) -> String {
    let (own, deps) = match verbosity {
        i8::MIN..=-1 => ("warn", "warn"),
        0 => ("info", "warn"),
        1 => ("debug", "warn"),
        _ => ("trace", "debug"),
    };
    let mut filter = deps.to_string();
    for krate in crate::dns::provider::log_targets() {
        filter.push_str(&format!(",{krate}={own}"));
    }
    filter
}

/// Whether text output may carry ANSI colours: only to a terminal, and never with
/// `NO_COLOR` set to anything non-empty (<https://no-color.org>).
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Whether stderr is the journal stream systemd connected: `JOURNAL_STREAM` holds
/// `DEVICE:INODE` of that stream, and it must match stderr (a child whose stderr was
/// redirected inherits the variable but not the stream).
pub fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    use std::os::fd::AsFd;
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else { return false };
    match std::fs::File::from(fd).metadata() {
        Ok(meta) => meta.dev() == dev && meta.ino() == ino,
        Err(_) => false,
    }
}

/// The syslog priority journald reads from a `<N>` line prefix.
pub fn syslog_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Wraps an event formatter so every output line starts with the event's `<N>` priority
/// (continuation lines of a multi-line message too, or journald would log them at the
/// default priority).
struct SyslogPrefix<F> {
    inner: F,
}

impl<S, N, F> FormatEvent<S, N> for SyslogPrefix<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        let prefix = format!("<{}>", syslog_priority(event.metadata().level()));
        for part in line.split_inclusive('\n') {
            writer.write_str(&prefix)?;
            writer.write_str(part)?;
        }
        Ok(())
    }
}

/// Installs the global subscriber. `verbosity`: -1 quiet, 0 info, 1 debug, 2+ trace.
pub fn init(verbosity: i8, format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("WILDCERT_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter(verbosity)));
    let journal = stderr_is_journal();
    let colour = format == LogFormat::Text
        && !journal
        && use_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let text = tracing_subscriber::fmt::format().with_target(false).with_ansi(colour);
    // journald stamps every entry itself.
    let journal_text = tracing_subscriber::fmt::format().with_target(false).with_ansi(false).without_time();
    let json = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false);
    let _ = match (format, journal) {
        (LogFormat::Text, false) => builder.event_format(text).try_init(),
        (LogFormat::Text, true) => builder.event_format(SyslogPrefix { inner: journal_text }).try_init(),
        (LogFormat::Json, false) => builder.json().event_format(json).try_init(),
        (LogFormat::Json, true) => builder.json().event_format(SyslogPrefix { inner: json }).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(!use_colour(false, None));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(use_colour(true, Some(OsStr::new(""))));
    }

    #[test]
    fn dependencies_never_above_debug_by_default() {
        for v in [-1, 0, 1, 2, 3] {
            let filter = default_filter(v);
            let deps = filter.split(',').next().unwrap();
            assert!(deps == "warn" || deps == "debug", "{v}: {filter}");
            assert!(!deps.contains("trace"), "{filter}");
        }
        assert!(default_filter(2).contains("wildcert=trace"));
        assert!(default_filter(0).contains("wildcert_dns_rfc2136=info"));
    }

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(syslog_priority(&Level::ERROR), 3);
        assert_eq!(syslog_priority(&Level::WARN), 4);
        assert_eq!(syslog_priority(&Level::INFO), 6);
        assert_eq!(syslog_priority(&Level::DEBUG), 7);
        assert_eq!(syslog_priority(&Level::TRACE), 7);
    }
}
