//! Which configured folders may lie inside which: compared on where they really are.
//!
//! Comparing path text is not enough: `/x/state/../inbox/org` is inside `/x/inbox`, and so is
//! `/x/org` when `/x/org` is a symlink to `/x/inbox/org`. Each path is resolved through its
//! nearest existing ancestor (symlinks and `..` resolved by the kernel), and the part that
//! does not exist yet is appended with `.` and `..` applied to the text (a folder that does
//! not exist cannot be a symlink).

use std::io;
use std::path::{Component, Path, PathBuf};

/// The folders of a configuration, as the user wrote them.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    /// Inbox folders (watched; in move mode, emptied).
    pub inboxes: &'a [PathBuf],
    /// The organized tree.
    pub organized: &'a Path,
    /// Where duplicates go in move mode.
    pub duplicates: &'a Path,
    /// Where files that fail go, if configured.
    pub quarantine: Option<&'a Path>,
    /// The daemon's own state (catalog, lock).
    pub state_dir: &'a Path,
}

/// Why a layout is refused. Each message names both folders, as written and as resolved.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A path is relative; the daemon's working folder must not decide where files go.
    #[error("key `{key}`: {} is not an absolute path; write it in full (e.g. /home/me/inbox)", path.display())]
    NotAbsolute {
        /// The config key.
        key: &'static str,
        /// The path as written.
        path: PathBuf,
    },
    /// A path cannot be resolved (an existing ancestor is unreadable).
    #[error("key `{key}`: cannot resolve {}: {source}", path.display())]
    Unresolvable {
        /// The config key.
        key: &'static str,
        /// The path as written.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// Two folders lie inside one another (or are the same folder).
    #[error("{0}")]
    Nested(Box<Nesting>),
}

/// Two configured folders of which one lies inside the other.
#[derive(Debug)]
pub struct Nesting {
    /// Key of the containing folder.
    pub outer_key: &'static str,
    /// The containing folder as written.
    pub outer: PathBuf,
    /// Where it really is.
    pub outer_real: PathBuf,
    /// Key of the contained folder.
    pub inner_key: &'static str,
    /// The contained folder as written.
    pub inner: PathBuf,
    /// Where it really is.
    pub inner_real: PathBuf,
    /// What would go wrong.
    pub why: &'static str,
}

impl std::fmt::Display for Nesting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key `{}` ({}, which is {}) and key `{}` ({}, which is {}) are inside one another; {}.",
            self.inner_key,
            self.inner.display(),
            self.inner_real.display(),
            self.outer_key,
            self.outer.display(),
            self.outer_real.display(),
            self.why
        )
    }
}

struct Named<'a> {
    key: &'static str,
    path: &'a Path,
    real: PathBuf,
}

/// Refuses a layout in which the daemon would read its own output or write into its input:
/// an inbox inside (or equal to) the organized tree, the duplicates or quarantine folder or
/// the state dir, or any of those inside an inbox; or one inbox inside another. Folders that
/// do not exist yet are judged by where they will be created. The organized tree may hold
/// the duplicates and quarantine folders.
pub fn check_layout(layout: &Layout<'_>) -> Result<(), LayoutError> {
    let mut inboxes = Vec::with_capacity(layout.inboxes.len());
    for inbox in layout.inboxes {
        inboxes.push(named("inboxes", inbox)?);
    }
    let mut outputs = vec![
        named("organized", layout.organized)?,
        named("duplicates", layout.duplicates)?,
        named("state_dir", layout.state_dir)?,
    ];
    if let Some(q) = layout.quarantine {
        outputs.push(named("quarantine", q)?);
    }
    for inbox in &inboxes {
        for out in &outputs {
            let why = if out.key == "state_dir" {
                "the daemon would treat its own catalog as inbox files, or store it in its output; put them side by side"
            } else {
                "the daemon would organize its own output, or move its input into itself; put them side by side"
            };
            refuse_nesting(inbox, out, why)?;
        }
    }
    for (i, a) in inboxes.iter().enumerate() {
        for b in &inboxes[i + 1..] {
            refuse_nesting(a, b, "files would be seen twice; list only the outer one")?;
        }
    }
    Ok(())
}

fn named<'a>(key: &'static str, path: &'a Path) -> Result<Named<'a>, LayoutError> {
    if !path.is_absolute() {
        return Err(LayoutError::NotAbsolute {
            key,
            path: path.to_path_buf(),
        });
    }
    let real = resolve(path).map_err(|source| LayoutError::Unresolvable {
        key,
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Named { key, path, real })
}

fn refuse_nesting(a: &Named<'_>, b: &Named<'_>, why: &'static str) -> Result<(), LayoutError> {
    let (outer, inner) = if b.real.starts_with(&a.real) {
        (a, b)
    } else if a.real.starts_with(&b.real) {
        (b, a)
    } else {
        return Ok(());
    };
    Err(LayoutError::Nested(Box::new(Nesting {
        outer_key: outer.key,
        outer: outer.path.to_path_buf(),
        outer_real: outer.real.clone(),
        inner_key: inner.key,
        inner: inner.path.to_path_buf(),
        inner_real: inner.real.clone(),
        why,
    })))
}

/// Where an absolute `path` is or will be: the canonical form of its longest existing
/// prefix, followed by the rest with `.` and `..` applied to the text.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let parts: Vec<Component<'_>> = path.components().collect();
    for split in (1..=parts.len()).rev() {
        let prefix: PathBuf = parts[..split].iter().collect();
        match std::fs::canonicalize(&prefix) {
            Ok(mut real) => {
                for c in &parts[split..] {
                    match c {
                        Component::ParentDir => {
                            real.pop();
                        }
                        Component::Normal(name) => real.push(name),
                        _ => {}
                    }
                }
                return Ok(real);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => return Err(e),
        }
    }
    // Only `/` is left, and it always exists; this is reached only for an empty path.
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "an empty path has no location",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Fixture {
        tmp: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            let tmp = tempfile::tempdir().unwrap();
            for d in ["inbox", "state", "elsewhere"] {
                std::fs::create_dir(tmp.path().join(d)).unwrap();
            }
            Fixture { tmp }
        }

        fn p(&self, rel: &str) -> PathBuf {
            self.tmp.path().join(rel)
        }

        fn check(&self, organized: &Path) -> Result<(), LayoutError> {
            self.check_with(&[self.p("inbox")], organized, &self.p("dups"))
        }

        fn check_with(
            &self,
            inboxes: &[PathBuf],
            organized: &Path,
            duplicates: &Path,
        ) -> Result<(), LayoutError> {
            check_layout(&Layout {
                inboxes,
                organized,
                duplicates,
                quarantine: None,
                state_dir: &self.p("state"),
            })
        }
    }

    fn nested_keys(r: Result<(), LayoutError>) -> (&'static str, &'static str) {
        match r {
            Err(LayoutError::Nested(n)) => (n.outer_key, n.inner_key),
            other => panic!("expected Nested, got {other:?}"),
        }
    }

    #[test]
    fn side_by_side_folders_pass_whether_or_not_they_exist() {
        let f = Fixture::new();
        f.check(&f.p("organized")).unwrap();
        std::fs::create_dir(f.p("organized")).unwrap();
        f.check(&f.p("organized")).unwrap();
        // The duplicates and quarantine folders may live in the organized tree.
        f.check_with(&[f.p("inbox")], &f.p("organized"), &f.p("organized/dups"))
            .unwrap();
    }

    #[test]
    fn dot_dot_through_a_missing_folder_is_seen_through() {
        let f = Fixture::new();
        let organized = f.p("state/../inbox/org");
        assert_eq!(nested_keys(f.check(&organized)), ("inboxes", "organized"));
        // `..` after a folder that does not exist yet, too.
        let organized = f.p("nowhere/yet/../../inbox/org");
        assert_eq!(nested_keys(f.check(&organized)), ("inboxes", "organized"));
        // And `..` that leads out again is fine.
        f.check(&f.p("inbox/../organized")).unwrap();
    }

    #[test]
    fn a_symlink_into_an_inbox_is_seen_through() {
        let f = Fixture::new();
        std::fs::create_dir(f.p("inbox/real-org")).unwrap();
        symlink(f.p("inbox/real-org"), f.p("org-link")).unwrap();
        assert_eq!(
            nested_keys(f.check(&f.p("org-link"))),
            ("inboxes", "organized")
        );
        // A symlink to the inbox as the parent of a folder that does not exist yet.
        symlink(f.p("inbox"), f.p("inbox-link")).unwrap();
        assert_eq!(
            nested_keys(f.check(&f.p("inbox-link/new/org"))),
            ("inboxes", "organized")
        );
        // The inbox given through a symlink, organized inside the real one.
        assert_eq!(
            nested_keys(f.check_with(&[f.p("inbox-link")], &f.p("inbox/o"), &f.p("dups"))),
            ("inboxes", "organized")
        );
    }

    #[test]
    fn organized_equal_to_an_inbox_is_refused() {
        let f = Fixture::new();
        let err = f.check(&f.p("inbox")).unwrap_err();
        assert!(err.to_string().contains("organize its own output"), "{err}");
        assert!(err.to_string().contains("`organized`"), "{err}");
    }

    #[test]
    fn inbox_inside_organized_or_duplicates_is_refused() {
        let f = Fixture::new();
        std::fs::create_dir_all(f.p("organized/in")).unwrap();
        assert_eq!(
            nested_keys(f.check_with(&[f.p("organized/in")], &f.p("organized"), &f.p("d"))),
            ("organized", "inboxes")
        );
        assert_eq!(
            nested_keys(f.check_with(&[f.p("inbox")], &f.p("o"), &f.p("inbox/dups"))),
            ("inboxes", "duplicates")
        );
    }

    #[test]
    fn state_dir_and_inboxes_must_not_nest_nor_inboxes_each_other() {
        let f = Fixture::new();
        let inboxes = [f.p("state/in")];
        assert_eq!(
            nested_keys(f.check_with(&inboxes, &f.p("o"), &f.p("d"))),
            ("state_dir", "inboxes")
        );
        let inboxes = [f.p("inbox"), f.p("inbox/sub")];
        assert_eq!(
            nested_keys(f.check_with(&inboxes, &f.p("o"), &f.p("d"))),
            ("inboxes", "inboxes")
        );
    }

    #[test]
    fn relative_paths_are_refused_by_key() {
        let f = Fixture::new();
        match f.check(Path::new("organized")) {
            Err(LayoutError::NotAbsolute { key, .. }) => assert_eq!(key, "organized"),
            other => panic!("expected NotAbsolute, got {other:?}"),
        }
    }

    #[test]
    fn resolve_keeps_the_missing_tail_and_applies_dot_dot() {
        let f = Fixture::new();
        let real = std::fs::canonicalize(f.tmp.path()).unwrap();
        assert_eq!(resolve(&f.p("a/./b/../c")).unwrap(), real.join("a/c"));
        assert_eq!(resolve(&f.p("inbox")).unwrap(), real.join("inbox"));
        assert_eq!(resolve(Path::new("/")).unwrap(), PathBuf::from("/"));
    }
}
