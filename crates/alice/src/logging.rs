//! Logging: JSON lines when the log stream is not a terminal (journald, `jq`), the human
//! format of [`human`] on one. Log lines on stderr are written with the progress bar of
//! [`crate::progress`] lifted, so a line never tears it.

mod human;

use std::io::{IsTerminal, Write};

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

/// Standard error, with the progress bar (when one is shown) lifted while a record is
/// written. The formatter hands over each record in one write.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::progress::above(|| std::io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the global subscriber for a command run with `cfg` and the `--log-format` flag.
/// `RUST_LOG` wins over `[log] level`. Daemon commands log to stdout (journald reads it) with
/// the time on each human line; one-shot commands log to stderr so their stdout stays clean.
pub fn init(cfg: &daemon::Config, flag: Option<LogFormat>, to_stdout: bool) -> LevelHandle {
    let format = flag.unwrap_or(cfg.log.format);
    let terminal = if to_stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    let (filter, handle) = reload::Layer::new(filter(&cfg.log.level));
    let mut journald_error = None;
    if format == LogFormat::Journald {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer: Box<dyn Layer<Registry> + Send + Sync> =
                    Box::new(layer.with_syslog_identifier("alice".into()));
                return install(layer.with_filter(filter), handle, None);
            }
            Err(e) => journald_error = Some(e),
        }
    }
    let json = match format {
        LogFormat::Json | LogFormat::Journald => true,
        LogFormat::Human => false,
        LogFormat::Auto => !terminal,
    };
    let writer = move || -> Box<dyn Write> {
        if to_stdout {
            Box::new(std::io::stdout())
        } else {
            Box::new(Stderr)
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
                .event_format(human::Human {
                    paths: human::Paths::of(cfg),
                    time: to_stdout,
                })
                .with_ansi(terminal)
                .with_writer(writer),
        )
    };
    // The filter wraps the output so one reload handle controls everything.
    install(output.with_filter(filter), handle, journald_error)
}

fn install(
    layer: impl Layer<Registry> + Send + Sync,
    handle: reload::Handle<EnvFilter, Registry>,
    journald_error: Option<std::io::Error>,
) -> LevelHandle {
    match Registry::default().with(layer).try_init() {
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
