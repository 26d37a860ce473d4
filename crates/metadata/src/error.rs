//! The typed error a file's content can produce.

use std::io;
use std::path::PathBuf;

/// What went wrong while reading one file's metadata.
///
/// Only [`MetadataError::Io`] from opening the file makes [`crate::extract_path`] fail; every
/// other variant travels inside [`crate::Extraction::error`] next to whatever was learned
/// before the problem, so a corrupt file still gets its media type, format and fallback date.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source} (check that the file exists and is readable)", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The file has no bytes at all, typically an interrupted download or copy.
    #[error("file is empty (0 bytes); it is probably an interrupted download or copy")]
    Empty,
    /// A structure the header announces ends past the end of the file.
    #[error("{format} file is truncated: {what}")]
    Truncated {
        /// Format as sniffed from the magic bytes (`jpeg`, `png`, …).
        format: &'static str,
        /// Which structure is cut short and where, e.g. `chunk IHDR ends at byte 33 but the
        /// file has 20 bytes`.
        what: String,
    },
    /// The bytes contradict the format's rules.
    #[error("{format} file is corrupt: {reason}")]
    Corrupt {
        /// Format as sniffed from the magic bytes.
        format: &'static str,
        /// What rule is broken and where.
        reason: String,
    },
    /// A length field asks for more than this reader accepts for that structure. The limit
    /// keeps memory per file bounded whatever the file claims.
    #[error("{format} file: {what} claims {size} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// Format as sniffed from the magic bytes.
        format: &'static str,
        /// The structure, e.g. `chunk tEXt at byte 33`.
        what: String,
        /// Size the file claims.
        size: u64,
        /// Largest size accepted for that structure.
        limit: u64,
    },
    /// The file has more chunks, boxes, segments or elements than any real file of its
    /// format, which would otherwise cost unbounded time.
    #[error("{format} file: more than {limit} {what}; stopped reading there")]
    TooMany {
        /// Format as sniffed from the magic bytes.
        format: &'static str,
        /// What was counted, e.g. `chunks`.
        what: &'static str,
        /// The count at which reading stopped.
        limit: usize,
    },
}

impl MetadataError {
    pub(crate) fn truncated(format: &'static str, what: impl Into<String>) -> Self {
        MetadataError::Truncated {
            format,
            what: what.into(),
        }
    }

    pub(crate) fn corrupt(format: &'static str, reason: impl Into<String>) -> Self {
        MetadataError::Corrupt {
            format,
            reason: reason.into(),
        }
    }
}
