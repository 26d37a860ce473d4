//! The local spool: an append-only file of events that could not reach Redis yet.
//!
//! One JSON object per line (`{"id":..,"type":..,"event":"<event JSON>"}`), fsynced once per
//! batch before `append` reports `Spooled`. Lines are appended to the stream in file order and
//! the file is truncated only once every line is in Redis; the in-memory `drained` offset
//! keeps a half-drained spool from being appended twice within one process. A crash between
//! the last `XADD` and the truncation appends those lines again on the next start: consumers
//! de-duplicate on the event id.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One event as the writer handles it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Record {
    pub id: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(rename = "event")]
    pub json: String,
}

/// A chunk read from the spool, with the position to resume from once it is in Redis.
pub(crate) struct Chunk {
    pub records: Vec<Record>,
    pub end_offset: u64,
    pub lines: u64,
    pub at_end: bool,
}

pub(crate) struct Spool {
    path: PathBuf,
    file: File,
    /// Bytes at the front of the file already appended to the stream.
    drained: u64,
    /// Lines after `drained`.
    count: u64,
}

impl Spool {
    /// Opens (creating) the spool and cuts a torn last line: it was being written when the
    /// process died, so its `append` never returned and nobody was told it was kept.
    pub fn open(path: &Path) -> io::Result<(Spool, Option<u64>)> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        // A spool after a long outage can be large: count lines in fixed-size blocks, never
        // holding the whole file in memory.
        file.seek(SeekFrom::Start(0))?;
        let (mut count, mut total, mut last_newline_end, mut buf) =
            (0u64, 0u64, 0u64, vec![0u8; 64 * 1024]);
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                if *b == b'\n' {
                    count += 1;
                    last_newline_end = total + i as u64 + 1;
                }
            }
            total += n as u64;
        }
        let mut torn = None;
        if total > last_newline_end {
            torn = Some(total - last_newline_end);
            file.set_len(last_newline_end)?;
            file.sync_all()?;
        }
        Ok((
            Spool {
                path: path.to_owned(),
                file,
                drained: 0,
                count,
            },
            torn,
        ))
    }

    /// Events waiting in the spool.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends a batch and fsyncs once.
    pub fn append(&mut self, records: &[Record]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 256);
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.count += records.len() as u64;
        Ok(())
    }

    /// Reads up to `max` events after the drained part. A line that does not parse (the file
    /// was edited or damaged) is copied to `<spool>.bad` and skipped, so one bad line cannot
    /// hold back every event behind it.
    pub fn read_chunk(&mut self, max: usize) -> io::Result<Chunk> {
        let mut reader = BufReader::new(File::open(&self.path)?);
        reader.seek(SeekFrom::Start(self.drained))?;
        let mut records = Vec::new();
        let mut offset = self.drained;
        let mut lines = 0;
        let mut line = Vec::new();
        while records.len() < max {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                // End of what was fully written.
                break;
            }
            offset += n as u64;
            lines += 1;
            match serde_json::from_slice::<Record>(&line) {
                Ok(r) => records.push(r),
                Err(e) => {
                    let bad = self.bad_path();
                    tracing::error!(
                        spool = %self.path.display(),
                        bad_lines = %bad.display(),
                        offset = offset - n as u64,
                        error = %e,
                        "spool line is not an event; moved aside"
                    );
                    let mut f = OpenOptions::new().append(true).create(true).open(&bad)?;
                    f.write_all(&line)?;
                    f.sync_data()?;
                }
            }
        }
        let len = self.file.metadata()?.len();
        Ok(Chunk {
            records,
            end_offset: offset,
            lines,
            at_end: offset >= len,
        })
    }

    /// Records that everything before `offset` is in Redis.
    pub fn advance(&mut self, offset: u64, lines: u64) {
        self.drained = offset;
        self.count = self.count.saturating_sub(lines);
    }

    /// Empties the file once every line is in Redis.
    pub fn truncate(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.drained = 0;
        self.count = 0;
        Ok(())
    }

    fn bad_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".bad");
        PathBuf::from(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u32) -> Record {
        Record {
            id: format!("id-{i}"),
            type_name: "alice.test.v1".into(),
            json: format!("{{\"id\":\"id-{i}\",\"text\":\"line\\nbreak\"}}"),
        }
    }

    #[test]
    fn appends_reads_in_order_and_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/alice.spool.jsonl");
        let (mut s, torn) = Spool::open(&path).unwrap();
        assert_eq!(torn, None);
        s.append(&[rec(1), rec(2)]).unwrap();
        s.append(&[rec(3)]).unwrap();
        assert_eq!(s.count(), 3);
        let c = s.read_chunk(2).unwrap();
        assert_eq!(c.records, vec![rec(1), rec(2)]);
        assert!(!c.at_end);
        s.advance(c.end_offset, c.lines);
        let c = s.read_chunk(2).unwrap();
        assert_eq!(c.records, vec![rec(3)]);
        assert!(c.at_end);
        s.advance(c.end_offset, c.lines);
        assert_eq!(s.count(), 0);
        s.truncate().unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_torn_last_line_is_cut_and_a_bad_line_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.spool.jsonl");
        let mut text = String::new();
        text.push_str(&serde_json::to_string(&rec(1)).unwrap());
        text.push_str("\nnot json\n");
        text.push_str(&serde_json::to_string(&rec(2)).unwrap());
        text.push_str("\n{\"id\":\"torn");
        fs::write(&path, &text).unwrap();
        let (mut s, torn) = Spool::open(&path).unwrap();
        assert_eq!(torn, Some(11));
        assert_eq!(s.count(), 3);
        let c = s.read_chunk(10).unwrap();
        assert_eq!(c.records, vec![rec(1), rec(2)]);
        assert_eq!(c.lines, 3);
        assert!(c.at_end);
        let bad = fs::read_to_string(dir.path().join("alice.spool.jsonl.bad")).unwrap();
        assert_eq!(bad, "not json\n");
    }
}
