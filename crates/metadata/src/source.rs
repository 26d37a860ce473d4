//! Bounded random access to one file.
//!
//! Every parser reads through [`Source`], which checks each length a file claims against the
//! real file size and against a per-structure cap *before* allocating, so memory per file stays
//! bounded whatever the file says. Small reads go through one cached window because the
//! parsers hop between many tiny headers (PNG chunk headers, JPEG markers, ISO-BMFF boxes).

use std::fmt::Display;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::MetadataError;

/// Size of the read-ahead window for small reads.
const WINDOW: usize = 8 * 1024;

pub(crate) struct Source<'a, R> {
    reader: &'a mut R,
    path: &'a Path,
    len: u64,
    format: &'static str,
    window: Vec<u8>,
    window_start: u64,
    bytes_read: u64,
}

impl<'a, R: Read + Seek> Source<'a, R> {
    pub(crate) fn new(reader: &'a mut R, path: &'a Path) -> Result<Self, MetadataError> {
        let len = reader
            .seek(SeekFrom::End(0))
            .map_err(|source| MetadataError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Source {
            reader,
            path,
            len,
            format: "unknown",
            window: Vec::new(),
            window_start: 0,
            bytes_read: 0,
        })
    }

    /// File size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Bytes actually pulled from the underlying reader so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The format named in errors from now on.
    pub(crate) fn set_format(&mut self, format: &'static str) {
        self.format = format;
    }

    pub(crate) fn truncated(&self, what: impl Display, end: u64) -> MetadataError {
        MetadataError::truncated(
            self.format,
            format!(
                "{what} ends at byte {end} but the file has {} bytes",
                self.len
            ),
        )
    }

    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> MetadataError {
        MetadataError::corrupt(self.format, reason)
    }

    pub(crate) fn too_large(&self, what: impl Display, size: u64, limit: u64) -> MetadataError {
        MetadataError::TooLarge {
            format: self.format,
            what: what.to_string(),
            size,
            limit,
        }
    }

    pub(crate) fn too_many(&self, what: &'static str, limit: usize) -> MetadataError {
        MetadataError::TooMany {
            format: self.format,
            what,
            limit,
        }
    }

    /// Reads `len` bytes at `offset`, refusing sizes over `cap` and ranges past the end.
    pub(crate) fn bytes(
        &mut self,
        offset: u64,
        len: u64,
        cap: u64,
        what: impl Display,
    ) -> Result<Vec<u8>, MetadataError> {
        if len > cap {
            return Err(self.too_large(format_args!("{what} at byte {offset}"), len, cap));
        }
        let end = offset.saturating_add(len);
        if end > self.len {
            return Err(self.truncated(what, end));
        }
        // `len <= cap` and caps are small, so the cast cannot truncate.
        let mut buf = vec![0u8; len as usize];
        self.fill(offset, &mut buf)?;
        Ok(buf)
    }

    /// Reads a fixed-size header at `offset`.
    pub(crate) fn array<const N: usize>(
        &mut self,
        offset: u64,
        what: impl Display,
    ) -> Result<[u8; N], MetadataError> {
        let end = offset.saturating_add(N as u64);
        if end > self.len {
            return Err(self.truncated(what, end));
        }
        let mut buf = [0u8; N];
        self.fill(offset, &mut buf)?;
        Ok(buf)
    }

    /// Reads up to `buf.len()` bytes at `offset`, fewer at the end of the file; returns how
    /// many were read.
    pub(crate) fn read_upto(
        &mut self,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, MetadataError> {
        let avail = self.len.saturating_sub(offset).min(buf.len() as u64) as usize;
        self.fill(offset, &mut buf[..avail])?;
        Ok(avail)
    }

    fn fill(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MetadataError> {
        if buf.is_empty() {
            return Ok(());
        }
        let n = buf.len() as u64;
        let in_window = offset >= self.window_start
            && offset + n <= self.window_start + self.window.len() as u64;
        if !in_window && buf.len() <= WINDOW / 2 {
            let want = (self.len - offset).min(WINDOW as u64) as usize;
            let mut window = std::mem::take(&mut self.window);
            window.resize(want, 0);
            let res = self.raw_read(offset, &mut window);
            self.window = window;
            if let Err(e) = res {
                self.window.clear();
                return Err(e);
            }
            self.window_start = offset;
        } else if !in_window {
            return self.raw_read(offset, buf);
        }
        let start = (offset - self.window_start) as usize;
        buf.copy_from_slice(&self.window[start..start + buf.len()]);
        Ok(())
    }

    fn raw_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MetadataError> {
        let res = self
            .reader
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.reader.read_exact(buf));
        match res {
            Ok(()) => {
                self.bytes_read += buf.len() as u64;
                Ok(())
            }
            // The file shrank while we read it (or the reader lied about its size).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.truncated("read", offset + buf.len() as u64))
            }
            Err(source) => Err(MetadataError::Io {
                path: self.path.to_path_buf(),
                source,
            }),
        }
    }
}
