//! The progress bar of `alice scan` on a terminal (stderr), and [`above`], through which log
//! lines are written so they scroll above the bar instead of tearing it.
//!
//! While the inboxes are still being counted the line shows files done and bytes hashed so
//! far; once the count is done (long before hashing ends: the count reads no file) it has
//! fixed totals: a bar of files with an outcome out of files found, with an ETA, and bytes
//! identified (hashed, or known by identity from an earlier run without being read) out of
//! bytes found, with the hashing rate. Files are the unit of the bar because a file is done only once organized:
//! hashing from a warm cache runs far ahead of copying.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use daemon::scan::{ProgressFn, ScanProgress};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

/// The bar on screen, if any: log writes lift it.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn shown() -> MutexGuard<'static, Option<ProgressBar>> {
    SHOWN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` (a write to stderr) with the progress bar, when one is shown, cleared for the
/// duration and drawn again below what `f` wrote.
pub fn above<R>(f: impl FnOnce() -> R) -> R {
    let bar = shown().clone();
    match bar {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// The two looks of the bar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Totals not known yet: no bar, no ETA.
    Counting,
    /// Files with an outcome of files found, with an ETA.
    Counted,
}

impl Phase {
    fn style(self) -> ProgressStyle {
        let template = match self {
            Phase::Counting => "{spinner:.cyan} {elapsed:>3} {msg}",
            Phase::Counted => {
                "{spinner:.cyan} {elapsed:>3} [{wide_bar:.cyan/blue}] {pos}/{len} files, {msg}, ETA {eta}"
            }
        };
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
    }
}

/// The bytes part of the line: identified so far (hashed, or known by identity without
/// being read), of how much once counted, and the hashing rate.
fn bytes_text(p: &ScanProgress) -> String {
    let rate = p.bytes_hashed as f64 / p.elapsed.as_secs_f64().max(0.001);
    let rate = HumanBytes(rate as u64);
    let done = p.bytes_hashed + p.bytes_known;
    if p.walking {
        let found = p.files_found.max(p.started);
        let done = HumanBytes(done);
        format!(
            "{}/{found}+ files, {done} identified, {rate}/s (counting)",
            p.finished
        )
    } else {
        // A file changed while hashed is read twice: the total grows rather than overflow.
        let total = HumanBytes(p.bytes_found.max(done));
        format!("{}/{total} identified, {rate}/s", HumanBytes(done))
    }
}

/// The scan's progress bar on stderr.
pub struct Bar {
    bar: ProgressBar,
    phase: Mutex<Option<Phase>>,
}

impl Bar {
    /// A bar on stderr, or `None` when stderr is not a terminal.
    pub fn start() -> Option<Arc<Bar>> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new(0).with_style(Phase::Counting.style());
        bar.set_message("counting files");
        bar.enable_steady_tick(Duration::from_millis(120));
        *shown() = Some(bar.clone());
        Some(Arc::new(Bar {
            bar,
            phase: Mutex::new(Some(Phase::Counting)),
        }))
    }

    /// The callback the scan reports to.
    pub fn callback(self: &Arc<Bar>) -> ProgressFn {
        let me = self.clone();
        Box::new(move |p| me.show(&p))
    }

    fn show(&self, p: &ScanProgress) {
        let phase = if p.walking {
            Phase::Counting
        } else {
            Phase::Counted
        };
        // Files written meanwhile can finish beyond the count: the total grows then.
        self.bar.set_length(p.files_found.max(p.finished));
        self.bar.set_position(p.finished);
        self.bar.set_message(bytes_text(p));
        let mut current = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        if *current != Some(phase) {
            self.bar.set_style(phase.style());
            *current = Some(phase);
        }
    }

    /// Leaves the last figures (the scan reports its final ones last) on screen; log lines
    /// no longer lift the bar.
    pub fn finish(&self) {
        self.bar.finish();
        *shown() = None;
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.abandon();
        }
        *shown() = None;
    }
}
