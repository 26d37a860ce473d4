//! The one error type of the crate.

use std::path::PathBuf;

/// Why an asset could not be given thumbnails or a fingerprint.
///
/// Every variant is a runtime error about one file: the caller reports it and carries on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VisualError {
    /// Reading or writing a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `write thumbnail`, …).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The image declares more pixels than [`crate::Limits::max_pixels`] allows; it was
    /// rejected from its header, before any pixel was decoded.
    #[error("image is {width}x{height}, more than the {max_pixels} pixels allowed")]
    TooLarge {
        /// Width the header declares.
        width: u32,
        /// Height the header declares.
        height: u32,
        /// The configured bound.
        max_pixels: u64,
    },
    /// The image could not be decoded (corrupt, truncated, or a variant the decoder lacks).
    #[error("cannot decode image: {0}")]
    Decode(String),
    /// Encoding a thumbnail failed.
    #[error("cannot encode thumbnail: {0}")]
    Encode(String),
    /// The cache key is not 1 to 128 lowercase letters or digits, so it cannot name a cache
    /// file.
    #[error("thumbnail key {0:?} is not 1 to 128 lowercase letters or digits")]
    BadKey(String),
    /// Stored fingerprint bytes are not a [`crate::Fingerprint`] of this version (compute it
    /// again from the file).
    #[error(
        "fingerprint of {len} bytes, version {version:?}, is not a version {} fingerprint",
        crate::FINGERPRINT_VERSION
    )]
    BadFingerprint {
        /// Length of the bytes given.
        len: usize,
        /// Their first byte, the version, if any.
        version: Option<u8>,
    },
    /// The configuration cannot be used (no sizes, a zero size, …).
    #[error("invalid visual configuration: {0}")]
    Config(&'static str),
}

impl VisualError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VisualError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
