//! Logging: JSON lines when stdout is not a terminal (journald, `jq`), human format on one.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` wins over `level`. Daemon commands log to stdout
/// (journald reads it); one-shot commands log to stderr so their stdout stays clean.
pub fn init(format: LogFormat, level: &str, to_stdout: bool) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !terminal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = match (json, to_stdout) {
        (true, true) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(std::io::stdout)
            .try_init(),
        (true, false) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(std::io::stderr)
            .try_init(),
        (false, true) => builder
            .with_ansi(terminal)
            .with_writer(std::io::stdout)
            .try_init(),
        (false, false) => builder
            .with_ansi(terminal)
            .with_writer(std::io::stderr)
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("alice: cannot set up logging: {e}");
    }
}
