//! The progress line of `alice scan` on a terminal (stderr).

use daemon::scan::ScanProgress;

/// Draws one progress line over the last.
pub fn draw(p: ScanProgress) {
    let secs = p.elapsed.as_secs_f64().max(0.001);
    let rate = p.finished as f64 / secs;
    let left = p.started.saturating_sub(p.finished);
    let eta = if rate > 0.0 && !p.walking {
        format!("{:.0} s", left as f64 / rate)
    } else {
        "?".into()
    };
    let total = if p.walking {
        format!("{}+", p.started)
    } else {
        p.started.to_string()
    };
    eprint!(
        "\r\x1b[2K{}/{total} files  {rate:.0} files/s  {:.1} MB/s  ETA {eta}",
        p.finished,
        p.bytes_hashed as f64 / 1e6 / secs
    );
}

/// Clears the progress line.
pub fn clear() {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprint!("\r\x1b[2K");
    }
}
