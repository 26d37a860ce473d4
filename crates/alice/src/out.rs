//! Standard output that a closed pipe ends quietly: `alice status | head -3` is not an error.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

/// Line-oriented stdout; once the reader is gone, writes are dropped and [`Out::closed`]
/// says so, so long outputs can stop early.
pub struct Out {
    stdout: std::io::Stdout,
    closed: bool,
}

impl Out {
    /// Standard output.
    pub fn stdout() -> Out {
        Out {
            stdout: std::io::stdout(),
            closed: false,
        }
    }

    /// Writes `text` and a newline; a broken pipe marks the output closed, any other error
    /// is reported once on stderr.
    pub fn line(&mut self, text: &str) {
        if self.closed {
            return;
        }
        let mut lock = self.stdout.lock();
        if let Err(e) = writeln!(lock, "{text}").and_then(|()| lock.flush()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("alice: cannot write to standard output: {e}");
            }
            self.closed = true;
        }
    }

    /// Writes `text` as it is (no newline added).
    pub fn text(&mut self, text: &str) {
        if let Some(body) = text.strip_suffix('\n') {
            self.line(body);
        } else if !text.is_empty() {
            self.line(text);
        }
    }

    /// True once the reader has gone away.
    pub fn closed(&self) -> bool {
        self.closed
    }
}

/// Text from a file or its metadata, made safe for one terminal line: control characters
/// (newlines, tabs, escape sequences) are shown escaped instead of acting.
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

pub fn clean_path(path: &Path) -> String {
    clean(&path.to_string_lossy()).into_owned()
}
