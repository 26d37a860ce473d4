//! Logging: JSON lines when stdout is not a terminal (journald, `jq`), human format on one.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use daemon::LogFormat;

/// Changes the level filter of the running process (config reload).
pub struct LevelHandle(Option<reload::Handle<EnvFilter, Registry>>);

impl LevelHandle {
    /// Applies a new filter; `RUST_LOG`, when set, keeps winning.
    pub fn set(&self, level: &str) -> Result<(), String> {
        if std::env::var_os("RUST_LOG").is_some() {
            return Err("RUST_LOG is set and wins over log.level".into());
        }
        let filter =
            EnvFilter::try_new(level).map_err(|e| format!("bad log.level {level:?}: {e}"))?;
        match &self.0 {
            Some(h) => h.reload(filter).map_err(|e| e.to_string()),
            None => Err("logging is not set up".into()),
        }
    }
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber. `RUST_LOG` wins over `level`. Daemon commands log to stdout
/// (journald reads it); one-shot commands log to stderr so their stdout stays clean.
pub fn init(format: LogFormat, level: &str, to_stdout: bool) -> LevelHandle {
    let terminal = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let (filter, handle) = reload::Layer::new(filter(level));
    let mut journald_error = None;
    if format == LogFormat::Journald {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer: Box<dyn Layer<Registry> + Send + Sync> =
                    Box::new(layer.with_syslog_identifier("alice".into()));
                return match Registry::default()
                    .with(layer.with_filter(filter))
                    .try_init()
                {
                    Ok(()) => LevelHandle(Some(handle)),
                    Err(e) => {
                        eprintln!("alice: cannot set up logging: {e}");
                        LevelHandle(None)
                    }
                };
            }
            Err(e) => journald_error = Some(e),
        }
    }
    let json = match format {
        LogFormat::Json | LogFormat::Journald => true,
        LogFormat::Human => false,
        LogFormat::Auto => !terminal,
    };
    let writer = move || -> Box<dyn std::io::Write> {
        if to_stdout {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::stderr())
        }
    };
    let output: Box<dyn Layer<Registry> + Send + Sync> = if json {
        Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false)
                .with_writer(writer),
        )
    } else {
        Box::new(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(terminal)
                .with_writer(writer),
        )
    };
    // The filter wraps the output so one reload handle controls everything.
    match Registry::default()
        .with(output.with_filter(filter))
        .try_init()
    {
        Ok(()) => {
            if let Some(e) = journald_error {
                tracing::warn!(error = %e, "log format journald: no journal to write to; logging JSON lines instead");
            }
            LevelHandle(Some(handle))
        }
        Err(e) => {
            eprintln!("alice: cannot set up logging: {e}");
            LevelHandle(None)
        }
    }
}
