//! Prints one JSON line per file with what `metadata::extract_path` found, or with `--count`
//! only the number of files and the rate (used by `scripts/bench_metadata.sh`).
//!
//!     cargo run --release -p metadata --example extract -- [--count] PATH...

use std::path::{Path, PathBuf};
use std::time::Instant;

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            walk(&e, out);
        }
    } else {
        out.push(p.to_path_buf());
    }
}

fn main() {
    let mut count_only = false;
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--count" {
            count_only = true;
        } else {
            walk(Path::new(&arg), &mut files);
        }
    }
    let start = Instant::now();
    let mut failed = 0usize;
    for f in &files {
        match metadata::extract_path(f) {
            Ok(x) if !count_only => {
                let line = serde_json::json!({
                    "file": f.display().to_string(),
                    "info": x.info,
                    "error": x.error.map(|e| e.to_string()),
                    "signals": format!("{:?}", x.signals),
                });
                println!("{line}");
            }
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", f.display());
            }
        }
    }
    if count_only {
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{} files in {secs:.3} s = {:.0} files/s ({failed} unreadable)",
            files.len(),
            files.len() as f64 / secs
        );
    }
}
