//! Keeps a repeating failure from flooding the log: the first few records of one kind in a
//! window are logged, the rest are counted and reported as one line when the window ends.
//! The events themselves are all recorded in the catalog; only log lines are limited.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Records of one kind logged per window before the rest are only counted.
const BURST: u32 = 5;
/// Length of a window.
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(crate) struct LogLimiter {
    kinds: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// True when a record of `kind` may be logged now. Logs the count of records suppressed
    /// in the previous window of that kind when a new window starts.
    pub(crate) fn allow(&self, kind: &str) -> bool {
        let Ok(mut kinds) = self.kinds.lock() else {
            return true;
        };
        let now = Instant::now();
        let w = kinds.entry(kind.to_owned()).or_insert(Window {
            started: now,
            logged: 0,
            suppressed: 0,
        });
        if now.duration_since(w.started) >= WINDOW {
            if w.suppressed > 0 {
                tracing::warn!(
                    kind,
                    suppressed = w.suppressed,
                    "more failures like this were not logged (they are in the catalog: alice show / alice search)"
                );
            }
            *w = Window {
                started: now,
                logged: 0,
                suppressed: 0,
            };
        }
        if w.logged < BURST {
            w.logged += 1;
            true
        } else {
            if w.suppressed == 0 {
                tracing::warn!(
                    kind,
                    "this failure keeps repeating; further ones are counted for a minute"
                );
            }
            w.suppressed += 1;
            false
        }
    }

    /// Reports every pending count (at shutdown).
    pub(crate) fn flush(&self) {
        let Ok(mut kinds) = self.kinds.lock() else {
            return;
        };
        for (kind, w) in kinds.drain() {
            if w.suppressed > 0 {
                tracing::warn!(kind = %kind, suppressed = w.suppressed, "more failures like this were not logged (they are in the catalog: alice show / alice search)");
            }
        }
    }
}

/// The kind of a failure for rate limiting: its stage and message with the file's own path
/// taken out, so the same problem on many files counts as one kind.
pub(crate) fn failure_kind(stage: &str, error: &str, path: &std::path::Path) -> String {
    let p = path.display().to_string();
    format!("{stage}: {}", error.replace(&p, "<file>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_pass_then_repeats_are_counted_per_kind() {
        let l = LogLimiter::default();
        let allowed = (0..20).filter(|_| l.allow("organize: disk full")).count();
        assert_eq!(allowed, BURST as usize);
        assert!(
            l.allow("metadata: truncated"),
            "another kind has its own budget"
        );
        let kinds = l.kinds.lock().unwrap();
        assert_eq!(kinds["organize: disk full"].suppressed, 15);
    }

    #[test]
    fn the_file_path_does_not_make_a_new_kind() {
        let a = failure_kind(
            "organize",
            "cannot write /in/a.png: disk full",
            std::path::Path::new("/in/a.png"),
        );
        let b = failure_kind(
            "organize",
            "cannot write /in/b.png: disk full",
            std::path::Path::new("/in/b.png"),
        );
        assert_eq!(a, b);
    }
}
