//! The human log format: one short line per record, for a terminal.
//!
//! A file's outcome reads `organized  IMG_1234.JPG → 2024-03-15/…` (inbox paths relative to
//! their inbox, output paths relative to the organized root). Ids, 64-hex hashes and empty
//! fields are left out, and routine records (discoveries, workflow events, schema
//! migrations, the bus draining) are hidden, unless debug records are enabled: then every
//! record shows with every non-empty field. JSON and journald output are not affected.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The folders paths are shortened against.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    inboxes: Vec<PathBuf>,
    organized: PathBuf,
    /// Duplicates and quarantine folders: shown as `<folder name>/<rest>`.
    others: Vec<PathBuf>,
}

impl Paths {
    /// The inboxes and output folders of `cfg`.
    pub fn of(cfg: &daemon::Config) -> Paths {
        Paths {
            inboxes: cfg.inboxes.clone(),
            organized: cfg.organized.clone(),
            others: cfg
                .outputs()
                .into_iter()
                .filter(|p| *p != cfg.organized)
                .collect(),
        }
    }

    /// An inbox file: relative to its inbox (for a top-level file, its name).
    fn input(&self, path: &str) -> String {
        let p = Path::new(path);
        self.inboxes
            .iter()
            .find_map(|inbox| p.strip_prefix(inbox).ok())
            .filter(|rel| !rel.as_os_str().is_empty())
            .map_or_else(|| path.to_owned(), |rel| rel.display().to_string())
    }

    /// A file the daemon wrote: relative to the organized root; in the duplicates or
    /// quarantine folder, under that folder's name.
    fn output(&self, path: &str) -> String {
        let p = Path::new(path);
        if let Ok(rel) = p.strip_prefix(&self.organized)
            && !rel.as_os_str().is_empty()
        {
            return rel.display().to_string();
        }
        for dir in &self.others {
            if let (Ok(rel), Some(name)) = (p.strip_prefix(dir), dir.file_name()) {
                return Path::new(name).join(rel).display().to_string();
            }
        }
        path.to_owned()
    }
}

/// The [`FormatEvent`] of `--log-format human`.
pub struct Human {
    /// Shortens paths in per-file lines.
    pub paths: Paths,
    /// Start each line with the local time (long-running commands).
    pub time: bool,
}

impl<S, N> FormatEvent<S, N> for Human
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut record = Record::default();
        event.record(&mut record);
        let verbose = LevelFilter::current() >= LevelFilter::DEBUG;
        let style = Style(w.has_ansi_escapes());
        let level = *event.metadata().level();
        let Some(line) = render(level, &record, &self.paths, verbose, style) else {
            return Ok(());
        };
        if self.time {
            let now = chrono::Local::now().format("%H:%M:%S").to_string();
            write!(w, "{} ", style.paint(DIM, &now))?;
        }
        writeln!(w, "{line}")
    }
}

/// The fields of one record, in the order they were given.
#[derive(Debug, Default)]
pub(crate) struct Record {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl Record {
    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn push(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for Record {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

const GREEN: &str = "32";
const YELLOW: &str = "33";
const RED: &str = "31";
const CYAN: &str = "36";
const DIM: &str = "2";

/// ANSI colours, or none.
#[derive(Clone, Copy)]
pub(crate) struct Style(pub bool);

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// A file's outcome, by the `event_type` of its record (the stable names of docs/events.md).
fn outcome(event_type: &str) -> Option<(&'static str, &'static str)> {
    Some(match event_type {
        "alice.asset.organized.v1" => ("organized", GREEN),
        "alice.asset.duplicate.v1" => ("duplicate", CYAN),
        "alice.asset.skipped.v1" => ("skipped", DIM),
        "alice.asset.failed.v1" => ("failed", RED),
        "alice.asset.discovered.v1" => ("discovered", DIM),
        _ => return None,
    })
}

/// Info records that help a log reader but are noise on a terminal: shown with debug on.
fn routine(r: &Record) -> bool {
    match r.message.as_str() {
        "discovered" | "catalog schema migrated" | "bus shutting down; draining subscribers" => {
            true
        }
        "bus shut down" => r.get("clean") == "true",
        // The catch-all record of events without a line of their own.
        "event" => r.get("event_type").starts_with("alice.workflow."),
        _ => false,
    }
}

/// Identifiers: useful to correlate records, unreadable on a terminal.
fn is_id(name: &str, value: &str) -> bool {
    matches!(
        name,
        "event_id" | "correlation_id" | "asset_id" | "failed_event_id"
    ) || (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The line for one record, or `None` when it is hidden.
pub(crate) fn render(
    level: Level,
    r: &Record,
    paths: &Paths,
    verbose: bool,
    style: Style,
) -> Option<String> {
    if !verbose && level >= Level::INFO && routine(r) {
        return None;
    }
    let (mut line, used) = match outcome(r.get("event_type")) {
        Some((verb, colour)) => {
            let (text, used) = outcome_text(r, paths);
            (
                format!("{} {text}", style.paint(colour, &format!("{verb:<10}"))),
                used,
            )
        }
        None => (general_head(level, r, style), &[][..]),
    };
    let rest = r.fields.iter().filter(|(name, value)| {
        !value.is_empty() && !used.contains(name) && (verbose || !is_id(name, value))
    });
    let quiet_rest = !verbose && !used.is_empty();
    if !quiet_rest {
        for (name, value) in rest {
            let _ = write!(line, " {}={}", style.paint(DIM, name), quoted(value));
        }
    }
    Some(line)
}

/// The text of a per-file line and the fields it shows.
fn outcome_text(r: &Record, paths: &Paths) -> (String, &'static [&'static str]) {
    let path = paths.input(r.get("path"));
    match r.get("event_type") {
        "alice.asset.organized.v1" => (
            format!("{path} → {}", paths.output(r.get("destination"))),
            &["event_type", "path", "destination"],
        ),
        "alice.asset.duplicate.v1" => {
            let mut text = format!("{path} (same as {})", paths.output(r.get("existing")));
            let moved = r.get("destination");
            if !moved.is_empty() {
                let _ = write!(text, ", moved to {}", paths.output(moved));
            }
            (text, &["event_type", "path", "existing", "destination"])
        }
        "alice.asset.skipped.v1" => (
            format!("{path}: {}", r.get("reason")),
            &["event_type", "path", "reason"],
        ),
        "alice.asset.failed.v1" => (
            format!("{path}: {}", r.get("error")),
            &["event_type", "path", "error"],
        ),
        _ => (path, &["event_type", "path"]),
    }
}

/// `warning: message` (no label for info).
fn general_head(level: Level, r: &Record, style: Style) -> String {
    let label = match level {
        Level::ERROR => style.paint(RED, "error: "),
        Level::WARN => style.paint(YELLOW, "warning: "),
        Level::INFO => String::new(),
        Level::DEBUG => style.paint(DIM, "debug: "),
        Level::TRACE => style.paint(DIM, "trace: "),
    };
    format!("{label}{}", r.message)
}

/// A value as is, or quoted when it holds spaces (so `key=value` pairs stay apart).
fn quoted(value: &str) -> String {
    if value.contains(char::is_whitespace) {
        format!("{value:?}")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &str, fields: &[(&'static str, &str)]) -> Record {
        Record {
            message: message.into(),
            fields: fields.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        }
    }

    fn paths() -> Paths {
        Paths {
            inboxes: vec!["/in".into()],
            organized: "/out/organized".into(),
            others: vec!["/out/duplicates".into()],
        }
    }

    fn show(level: Level, r: &Record, verbose: bool) -> Option<String> {
        render(level, r, &paths(), verbose, Style(false))
    }

    const HASH: &str = "8e9afa41a1c219e6fdac7291398e8d372facb5f46cfcbb74b0b633f217306279";

    fn organized() -> Record {
        record(
            "organized",
            &[
                ("event_type", "alice.asset.organized.v1"),
                ("event_id", "01a25061-318c-720f-aa38-42a9c31fa5ca"),
                ("correlation_id", "01a25061-3172-7423-a9fb-220435df8e5f"),
                ("asset_id", HASH),
                ("path", "/in/IMG_1234.JPG"),
                (
                    "destination",
                    "/out/organized/2024-03-15/camera/IMG_1234.JPG",
                ),
                ("mode", "Copy"),
            ],
        )
    }

    #[test]
    fn an_organized_file_is_one_short_line_without_ids() {
        assert_eq!(
            show(Level::INFO, &organized(), false).unwrap(),
            "organized  IMG_1234.JPG → 2024-03-15/camera/IMG_1234.JPG"
        );
    }

    #[test]
    fn with_debug_on_the_ids_follow() {
        let line = show(Level::INFO, &organized(), true).unwrap();
        assert!(line.starts_with("organized  IMG_1234.JPG → 2024-03-15/camera/IMG_1234.JPG "));
        assert!(line.contains(&format!("asset_id={HASH}")), "{line}");
        assert!(line.contains("mode=Copy"), "{line}");
    }

    #[test]
    fn a_duplicate_names_what_it_matches_and_where_it_went() {
        let mut r = record(
            "duplicate",
            &[
                ("event_type", "alice.asset.duplicate.v1"),
                ("path", "/in/sub/copy.jpg"),
                ("existing", "/out/organized/2024-03-15/camera/IMG_1234.JPG"),
                ("destination", ""),
            ],
        );
        assert_eq!(
            show(Level::INFO, &r, false).unwrap(),
            "duplicate  sub/copy.jpg (same as 2024-03-15/camera/IMG_1234.JPG)"
        );
        r.fields[3].1 = "/out/duplicates/2024-03-15/copy.jpg".into();
        assert_eq!(
            show(Level::INFO, &r, true).unwrap(),
            "duplicate  sub/copy.jpg (same as 2024-03-15/camera/IMG_1234.JPG), moved to duplicates/2024-03-15/copy.jpg"
        );
    }

    #[test]
    fn skipped_and_failed_say_why() {
        let skipped = record(
            "skipped",
            &[
                ("event_type", "alice.asset.skipped.v1"),
                ("path", "/in/notes.txt"),
                ("reason", "not an image or video"),
            ],
        );
        assert_eq!(
            show(Level::INFO, &skipped, false).unwrap(),
            "skipped    notes.txt: not an image or video"
        );
        let failed = record(
            "failed",
            &[
                ("event_type", "alice.asset.failed.v1"),
                ("path", "/elsewhere/broken.png"),
                ("stage", "metadata"),
                ("error", "png file is truncated"),
            ],
        );
        assert_eq!(
            show(Level::WARN, &failed, false).unwrap(),
            "failed     /elsewhere/broken.png: png file is truncated"
        );
    }

    #[test]
    fn routine_records_show_only_with_debug_on() {
        let discovered = record(
            "discovered",
            &[
                ("event_type", "alice.asset.discovered.v1"),
                ("path", "/in/a.png"),
                ("size", "3"),
            ],
        );
        assert_eq!(show(Level::INFO, &discovered, false), None);
        assert_eq!(
            show(Level::INFO, &discovered, true).unwrap(),
            "discovered a.png size=3"
        );
        let migrated = record("catalog schema migrated", &[("version", "3")]);
        assert_eq!(show(Level::INFO, &migrated, false), None);
        let workflow = record(
            "event",
            &[
                ("event_type", "alice.workflow.run_started.v1"),
                ("asset_id", ""),
            ],
        );
        assert_eq!(show(Level::INFO, &workflow, false), None);
        assert_eq!(
            show(Level::INFO, &workflow, true).unwrap(),
            "event event_type=alice.workflow.run_started.v1"
        );
        let unclean = record("bus shut down", &[("clean", "false")]);
        assert_eq!(
            show(Level::INFO, &unclean, false).unwrap(),
            "bus shut down clean=false"
        );
    }

    #[test]
    fn other_records_keep_their_fields_but_no_ids_or_empty_ones() {
        let r = record(
            "stage failed",
            &[
                ("group", "organize"),
                ("event_id", "01a25061"),
                ("note", ""),
                ("error", "disk full"),
            ],
        );
        assert_eq!(
            show(Level::WARN, &r, false).unwrap(),
            "warning: stage failed group=organize error=\"disk full\""
        );
    }

    #[test]
    fn paths_outside_every_root_stay_whole() {
        let p = paths();
        assert_eq!(p.input("/in"), "/in");
        assert_eq!(p.output("/out/organizedx/a.png"), "/out/organizedx/a.png");
        assert_eq!(p.output("/out/organized/a.png"), "a.png");
    }
}
