//! Log output: human text on stderr by default, JSON lines with `--log-format json`.
//! `WILDCERT_LOG` (an env-filter directive) overrides the level given by `-v`/`-q`.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber. `verbosity`: -1 quiet, 0 info, 1 debug, 2+ trace.
pub fn init(verbosity: i8, format: LogFormat) {
    let level = match verbosity {
        i8::MIN..=-1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Our own crates at the chosen level; dependencies one step quieter unless tracing.
    let default = if verbosity >= 2 {
        "trace".to_string()
    } else {
        let mut filter = String::from("warn");
        for target in crate::dns::provider::log_targets() {
            filter.push_str(&format!(",{target}={level}"));
        }
        filter
    };
    let filter = EnvFilter::try_from_env("WILDCERT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => {
            builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
        }
    };
}
