//! Errors of placement, removal, recovery and cleanup.

use std::io;
use std::path::PathBuf;

/// Why a placement (or removal, lookup, cleanup) failed.
///
/// Whatever the variant, the source file is where it was: no error path removes or changes
/// it. Every message names the path and the operation, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OrganizeError {
    /// The organized (or quarantine) root folder does not exist.
    #[error(
        "organized folder {path} does not exist — create it, or check that its drive is mounted"
    )]
    DestRootMissing {
        /// The missing folder.
        path: PathBuf,
    },

    /// Something that must be a folder is a file (or another non-folder).
    #[error("{path} exists but is not a folder — move it aside so the organized tree can use it")]
    NotAFolder {
        /// The offending path.
        path: PathBuf,
    },

    /// A symlink lies on the way to a file the daemon would read, write, move or remove (in
    /// an inbox, or a folder of the organized tree). Nothing is ever done through one.
    #[error(
        "{path} is a symlink — nothing is read or written through symlinks inside an inbox or the \
         organized tree; replace it with a real folder (or move it out)"
    )]
    SymlinkRefused {
        /// The symlink (or, if it was gone by the time it was looked for, the path that led
        /// through it).
        path: PathBuf,
    },

    /// The planned relative path is unusable (absolute, `..`, empty). A bug in the caller: it
    /// should come from [`crate::Template::render`].
    #[error("invalid planned path {path}: {reason} — plan destinations with Template::render")]
    InvalidRelative {
        /// The planned path.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The asset id is not a BLAKE3 hash in hex.
    #[error("invalid asset id {asset_id:?}: expected 64 hex digits (a BLAKE3 hash)")]
    InvalidAssetId {
        /// The id as given.
        asset_id: String,
    },

    /// A destination folder could not be created.
    #[error("cannot create folder {path}: {source} — check that the organized folder is writable")]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },

    /// The source could not be opened or examined.
    #[error("cannot read {path}: {source} — the file stays where it is")]
    ReadSource {
        /// The source file.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },

    /// The source is a symlink, folder, device or pipe; only regular files are placed.
    #[error("{path} is not a regular file (symlink, folder or special file) — it is left alone")]
    NotRegularFile {
        /// The source path.
        path: PathBuf,
    },

    /// The source differs from what was hashed: it was modified, truncated or replaced after
    /// the caller computed the asset id.
    #[error(
        "{path} changed since it was hashed ({detail}) — nothing was placed; \
         it will be hashed and organized again"
    )]
    SourceChanged {
        /// The source path.
        path: PathBuf,
        /// What differs.
        detail: String,
    },

    /// Writing the copy (creating, writing, syncing the temporary) failed.
    #[error(
        "cannot write {path}: {source} — check free space and that the organized folder is writable"
    )]
    WriteDestination {
        /// The file being written.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },

    /// Giving the placed file its final name failed.
    #[error(
        "cannot rename {from} to {to}: {source} — check that the organized folder is writable, and in move mode the inbox folder too (the file leaves it)"
    )]
    Rename {
        /// The file being renamed (a temporary, or the source in move mode).
        from: PathBuf,
        /// The final name.
        to: PathBuf,
        /// The system error.
        source: io::Error,
    },

    /// Making a folder (or a placed file) durable failed; the placement may not survive a
    /// power loss. The file may already be at its destination: [`crate::find_placed`] tells.
    #[error("cannot sync {path}: {source} — the storage may be failing; do not remove the source")]
    SyncFolder {
        /// The folder or file.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },

    /// An existing file in the organized tree could not be read to compare it.
    #[error("cannot read existing file {path} to compare it: {source} — check its permissions")]
    ReadExisting {
        /// The existing file.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },

    /// A folder of the organized tree could not be listed.
    #[error("cannot list folder {path}: {source} — check its permissions")]
    ReadFolder {
        /// The folder.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },

    /// Every collision name up to the bound is taken by different content.
    #[error(
        "{path} and its {attempts} collision variants are all taken by other files — \
         the template probably gives too many files the same name; add {{seq}} or {{hash8}}"
    )]
    TooManyCollisions {
        /// The planned path.
        path: PathBuf,
        /// How many names were tried.
        attempts: u32,
    },

    /// The placed file is not where the placement says, or not as large: the source is kept.
    #[error(
        "placed file {path} is missing or differs ({detail}) — the source was kept; organize it again"
    )]
    DestinationMissing {
        /// The destination of the placement.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },

    /// The source and the destination are the same directory entry: removing the source would
    /// remove the only copy.
    #[error(
        "{path} is the organized copy itself — not removed; keep inboxes outside the organized tree"
    )]
    SourceIsDestination {
        /// The path.
        path: PathBuf,
    },

    /// Removing the source (move mode) failed; the file is now in both places.
    #[error(
        "cannot remove {path} after placing it: {source} — it is safely organized; delete the inbox copy by hand"
    )]
    RemoveSource {
        /// The source path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
}

impl OrganizeError {
    /// True when retrying later may succeed without anyone changing the setup: the source
    /// changed under us (it will be rehashed) or the I/O error looks transient (interrupted,
    /// out of space, busy). False for configuration or permission problems and bad input.
    pub fn is_transient(&self) -> bool {
        let io = match self {
            OrganizeError::SourceChanged { .. } => return true,
            OrganizeError::CreateFolder { source, .. }
            | OrganizeError::ReadSource { source, .. }
            | OrganizeError::WriteDestination { source, .. }
            | OrganizeError::Rename { source, .. }
            | OrganizeError::SyncFolder { source, .. }
            | OrganizeError::ReadExisting { source, .. }
            | OrganizeError::ReadFolder { source, .. }
            | OrganizeError::RemoveSource { source, .. } => source,
            _ => return false,
        };
        matches!(
            io.kind(),
            io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::StorageFull
                | io::ErrorKind::ResourceBusy
                | io::ErrorKind::QuotaExceeded
        )
    }
}
