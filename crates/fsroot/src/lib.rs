//! Filesystem roots: everything the daemon touches is reached beneath a checked folder
//! handle, never by walking a path string again.
//!
//! An inbox is written by whoever drops files into it, and such a writer can swap any folder
//! inside it for a symlink at any moment. A check of an entry's type followed by an open of
//! its path loses that race: the open follows the symlink the check never saw. So a
//! configured folder is opened once as a [`Root`], and every file or folder below it is
//! opened relative to that handle with no symlink followed anywhere on the way
//! (`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, or a walk of
//! `openat(O_NOFOLLOW)` per component on kernels without `openat2`). Creating, renaming and
//! removing go through an open [`Dir`] (`mkdirat`, `renameat2`, `unlinkat`), each naming one
//! entry of it.
//!
//! A symlink met on the way is refused with `ELOOP` ([`is_symlink_refusal`]): the daemon
//! never reads, writes, moves or removes anything through a symlink, in an inbox or in the
//! organized tree.
//!
//! [`check_layout`] answers the other half of the question: which configured folders may lie
//! inside which, judged on where they really are (symlinks and `..` resolved).
//!
//! # Layout
//!
//! - `resolve`: `openat2` and the component walk.
//! - `dir`: [`Root`], [`Dir`], listings ([`Entry`]), no-replace renames ([`NoReplace`]).
//! - `layout`: [`check_layout`], [`Layout`], [`LayoutError`].
//!
//! Linux only.

#![warn(missing_docs)]

mod ctime;
mod dir;
mod layout;
mod resolve;

#[cfg(test)]
mod race_tests;

pub use ctime::{CTIME_KEPT_HERE, ctime_kept_here};
pub use dir::{Dir, DirId, Entry, EntryKind, EntryStat, NoReplace, Root, kind_of};
pub use layout::{Layout, LayoutError, Nesting, check_layout, resolve as resolve_location};
pub use resolve::is_symlink_refusal;
