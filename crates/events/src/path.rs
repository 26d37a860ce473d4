//! Lossless JSON encoding of file-system paths.
//!
//! Linux file names are bytes, not text. A path that is valid UTF-8 is written as a plain
//! JSON string; any other path is written as an object `{"base64": "<standard base64 of the
//! raw bytes>"}`. Readers accept both forms, so a non-UTF-8 name survives a round trip
//! byte-for-byte and the common case stays readable.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Bytes { base64: String },
}

fn to_repr(path: &Path) -> Repr {
    match path.to_str() {
        Some(s) => Repr::Text(s.to_owned()),
        None => Repr::Bytes {
            base64: STANDARD.encode(path.as_os_str().as_bytes()),
        },
    }
}

fn from_repr<E: serde::de::Error>(repr: Repr) -> Result<PathBuf, E> {
    match repr {
        Repr::Text(s) => Ok(PathBuf::from(s)),
        Repr::Bytes { base64 } => {
            let bytes = STANDARD
                .decode(base64.as_bytes())
                .map_err(|e| E::custom(format!("path: invalid base64: {e}")))?;
            Ok(PathBuf::from(OsString::from_vec(bytes)))
        }
    }
}

/// `#[serde(with = "events::path")]` for a `PathBuf` field.
pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    to_repr(path).serialize(s)
}

/// `#[serde(with = "events::path")]` for a `PathBuf` field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    from_repr(Repr::deserialize(d)?)
}

/// `#[serde(with = "events::path::option")]` for an `Option<PathBuf>` field.
pub mod option {
    use super::*;

    /// Serializes `None` as `null`.
    pub fn serialize<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        path.as_deref().map(to_repr).serialize(s)
    }

    /// Accepts `null`, a string or a `{"base64": …}` object.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Option::<Repr>::deserialize(d)?.map(from_repr).transpose()
    }
}

/// `#[serde(with = "events::path::vec")]` for a `Vec<PathBuf>` field.
pub mod vec {
    use super::*;

    /// Serializes each path like [`super::serialize`].
    pub fn serialize<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        paths
            .iter()
            .map(|p| to_repr(p))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    /// Accepts a list of strings or `{"base64": …}` objects.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
        Vec::<Repr>::deserialize(d)?
            .into_iter()
            .map(from_repr)
            .collect()
    }
}

/// A path for display in logs: lossy, never used for identity.
pub fn display(path: &Path) -> std::borrow::Cow<'_, str> {
    path.to_string_lossy()
}
