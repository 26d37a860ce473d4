//! Destination planning and crash-safe placement of files.
//!
//! This crate is pure mechanism. It does not parse media, talk to the catalog or publish
//! events: the pipeline decides *what* goes *where* and records what happened; this crate
//! computes safe paths and moves bytes so that no file is ever lost or overwritten.
//!
//! # Layout
//!
//! - [`Template`] (`template.rs`): parse a destination template once, render a relative path
//!   per file from [`PlanVars`].
//! - [`sanitize_component`], [`sanitize_name`], [`collision_name`] (`sanitize.rs`): untrusted
//!   strings to safe path components.
//! - [`place_beneath`], [`remove_source_beneath`], [`find_placed_beneath`],
//!   [`cleanup_temporaries_beneath`] (`place.rs`, `recover.rs`, over `tree.rs`): the
//!   filesystem side, beneath folder handles ([`Root`]) opened once. [`stage_beneath`]
//!   (`staged.rs`) is the same placement in two halves, so a batch shares one durability
//!   barrier ([`sync_filesystem`]). Quarantine and
//!   duplicates folders are just other destination roots. [`place`], [`remove_source`],
//!   [`find_placed`] and [`cleanup_temporaries`] take paths and open the roots themselves.
//!
//! - [`candidates`], [`sidecar_of`], [`group_index`] (`sidecar.rs`): the files that travel
//!   with a media file, their names beside its new name, and a collision index free for the
//!   whole group.
//!
//! # Guarantees
//!
//! - **Nothing is overwritten.** Final names are only ever given with
//!   `renameat2(RENAME_NOREPLACE)` or, where the filesystem lacks it, `link` + `unlink`;
//!   both fail rather than replace. A name taken by different content gets the next
//!   collision name; one taken by identical content (same BLAKE3) is
//!   [`Outcome::AlreadyPresent`].
//! - **No file is lost.** A copy is written to a temporary in the destination folder, hashed
//!   while written (or cloned / copied by the kernel and hashed as written), compared with
//!   the asset id, made durable, renamed into place, and the folder made durable. The source is only removed by [`remove_source`], which the caller invokes after
//!   journaling the [`Placement`], and which re-checks the destination first. A move on one
//!   filesystem is a single no-replace rename.
//! - **Sources are never written.** They are opened read-only; symlinks are refused.
//! - **Paths stay inside the root.** Everything rendered is sanitized: no `..`, no absolute
//!   paths, no `/` or control characters in a component, at most 255 bytes per component.
//! - **No symlink is followed.** Sources are opened beneath their inbox's handle and every
//!   destination folder beneath the organized root's, with no symlink followed on the way
//!   (`fsroot`); a folder of the organized tree that is a symlink fails the placement with
//!   [`OrganizeError::SymlinkRefused`] naming it. A symlink at a file name is a taken name:
//!   never written through, never replaced.
//!
//! # Crash recovery, for the caller
//!
//! At start, call [`cleanup_temporaries`] on each root. For a journaled operation that did
//! not finish, call [`place`] again with the same request: an earlier copy or rename that
//! completed shows up as [`Outcome::AlreadyPresent`] (found by content), and its
//! [`Placement`] can be passed to [`remove_source`]. [`find_placed`] answers "where did it
//! go?" without placing anything.
//!
//! Linux only (`renameat2`, byte file names).

mod error;
mod place;
mod recover;
mod sanitize;
mod sidecar;
mod staged;
mod temp;
mod template;
mod tree;

pub use error::OrganizeError;
pub use fsroot::Root;
pub use place::{
    FileIdentity, MAX_COLLISION_ATTEMPTS, Mode, Outcome, PlaceBeneath, PlaceRequest, Placement,
    SourceRemoval, Via, place, place_beneath, stage_beneath,
};
pub use recover::{
    cleanup_temporaries, cleanup_temporaries_beneath, find_placed, find_placed_beneath,
    remove_source, remove_source_beneath,
};
pub use sanitize::{
    MAX_COMPONENT_BYTES, MAX_NAME_BYTES, camera_label, collision_name, sanitize_component,
    sanitize_name,
};
pub use sidecar::{
    Candidate, GroupFile, SidecarKind, candidates, group_index, group_label, has_sidecar_extension,
    has_sidecar_only_extension, is_still, media_names_for, member_kind, sidecar_of,
};
pub use staged::{Finished, Staged, sync_filesystem};
pub use temp::{TEMP_PREFIX, is_temporary_name};
pub use template::{
    CLASSIC_TEMPLATE, DEFAULT_TEMPLATE, PlanVars, Template, TemplateError, UNDATED,
};
