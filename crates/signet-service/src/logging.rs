//! Logging set-up: `tracing` to stderr as text or JSON lines, filtered by `SIGNET_LOG` (an
//! `EnvFilter` directive) or a default level. Colours only when stderr is a terminal.

use std::io::IsTerminal as _;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. `default_level` (e.g. `info`, `debug`) applies when
/// `SIGNET_LOG` is unset or invalid. Calling it twice leaves the first subscriber in place.
pub fn init(format: LogFormat, default_level: Option<&str>) {
    // rustls warns once per connection from clients that send an IP address as SNI (wrk,
    // some proxies); that is noise at the default level.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGNET_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{},rustls=error",
            default_level.unwrap_or("info")
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
