//! Which paths are candidates, and which project they belong to. Pure functions on bytes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::WatchError;

/// Name suffixes that browsers, download managers and editors use for files still being
/// written or for backups.
const TEMP_SUFFIXES: [&[u8]; 3] = [b".part", b".crdownload", b".tmp"];

/// Compiles ignore patterns; use it to validate a config before handing it over.
pub fn ignore_set(globs: &[String]) -> Result<GlobSet, WatchError> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let compiled = Glob::new(glob).map_err(|source| WatchError::BadGlob {
            glob: glob.clone(),
            source,
        })?;
        builder.add(compiled);
    }
    builder.build().map_err(|source| WatchError::BadGlob {
        glob: globs.join(", "),
        source,
    })
}

/// True when `rel` (a path relative to its inbox) must never be emitted: any component that
/// is a dotfile/dot-folder (covers `.syncthing.*` and the organizer's `.alice-tmp-*`), starts
/// with `~`, ends with `~`, `.part`, `.crdownload` or `.tmp`; or `rel` or one of its parent
/// folders matches `globs`. Components are checked, not just the file name, so the answer
/// for a file agrees with the answer for the folder a scan would have skipped.
pub fn is_ignored(rel: &Path, globs: &GlobSet) -> bool {
    let mut prefix = std::path::PathBuf::new();
    for component in rel.components() {
        let Component::Normal(name) = component else {
            continue;
        };
        if is_temp_name(name) {
            return true;
        }
        prefix.push(name);
        if !globs.is_empty() && globs.is_match(&prefix) {
            return true;
        }
    }
    false
}

fn is_temp_name(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    if bytes.starts_with(b".") || bytes.starts_with(b"~") || bytes.ends_with(b"~") {
        return true;
    }
    TEMP_SUFFIXES.iter().any(|suffix| {
        bytes.len() >= suffix.len()
            && bytes[bytes.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    })
}

/// The project a file belongs to: the first folder below the inbox, `None` for files directly
/// in the inbox.
pub(crate) fn project_of(rel: &Path) -> Option<String> {
    let mut components = rel.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name),
        _ => None,
    });
    let first = components.next()?;
    components.next()?;
    Some(first.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::path::PathBuf;

    fn none() -> GlobSet {
        GlobSet::empty()
    }

    #[test]
    fn temporary_and_hidden_names_are_ignored() {
        for p in [
            "a.part",
            "a.PART",
            "x/a.crdownload",
            "a.tmp",
            "~lock.png",
            "backup.png~",
            ".hidden.png",
            ".syncthing.a.png.tmp",
            ".alice-tmp-123",
            "proj/.git/config",
            "proj/.alice-tmp-9/a.png",
            "dl.part/inside.png",
        ] {
            assert!(is_ignored(Path::new(p), &none()), "{p} should be ignored");
        }
    }

    #[test]
    fn ordinary_names_are_not_ignored() {
        for p in [
            "a.png",
            "proj/x/y.png",
            "a.partial.png",
            "tmp/a.png",
            "a~b.png",
            "a.tmpl",
        ] {
            assert!(
                !is_ignored(Path::new(p), &none()),
                "{p} should not be ignored"
            );
        }
    }

    #[test]
    fn globs_match_relative_path_and_parent_folders() {
        let globs = ignore_set(&["*.psd".into(), "drafts".into()]).unwrap();
        assert!(is_ignored(Path::new("a.psd"), &globs));
        assert!(is_ignored(Path::new("p/q/a.psd"), &globs));
        assert!(is_ignored(Path::new("drafts/a.png"), &globs));
        assert!(!is_ignored(Path::new("p/drafts.png"), &globs));
        assert!(!is_ignored(Path::new("p/a.png"), &globs));
    }

    #[test]
    fn bad_glob_names_the_pattern() {
        let err = ignore_set(&["a[".into()]).unwrap_err();
        assert!(err.to_string().contains("a["), "{err}");
    }

    #[test]
    fn non_utf8_names_are_checked_bytewise() {
        let name = PathBuf::from(OsString::from_vec(b"\xff\xfe.part".to_vec()));
        assert!(is_ignored(&name, &none()));
        let name = PathBuf::from(OsString::from_vec(b"\xff\xfe.png".to_vec()));
        assert!(!is_ignored(&name, &none()));
    }

    #[test]
    fn project_is_first_folder_level() {
        assert_eq!(
            project_of(Path::new("cyberpunk/x/y.png")).as_deref(),
            Some("cyberpunk")
        );
        assert_eq!(
            project_of(Path::new("cyberpunk/y.png")).as_deref(),
            Some("cyberpunk")
        );
        assert_eq!(project_of(Path::new("y.png")), None);
    }
}
