//! What the watcher last said about each file it reported, kept small enough for a million
//! files: per folder, a map of 64-bit name hashes to 64-bit digests of the report (about 20
//! bytes per file, where a map of full paths to identities took about 230).
//!
//! A report only ever saves work (an unchanged file is not hashed or emitted again after a
//! rescan), so a hash collision costs at most a file emitted once more, which the pipeline
//! finds already handled. It never makes a changed file count as unchanged: the digest covers
//! the whole identity (device, inode, size, mtime, ctime).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

use crate::model::{FileIdentity, Stamp};

/// The last thing said about a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Reported {
    /// Emitted in this version. The identity includes ctime, so a chmod or other metadata
    /// change makes the file count as a new version: it is hashed again (content unchanged,
    /// same asset id) and the pipeline finds it already handled. The price of telling a reused
    /// inode from the file it replaced.
    Emitted(FileIdentity),
    /// Reported failed in this version; any inode change (e.g. a chmod fixing permissions,
    /// which changes ctime) makes it worth another try.
    Failed(FileIdentity),
}

impl Reported {
    pub(crate) fn new(stamp: Stamp, failed: bool) -> Self {
        if failed {
            Self::Failed(stamp.id)
        } else {
            Self::Emitted(stamp.id)
        }
    }
}

/// Reports by folder and name hash.
#[derive(Default)]
pub(crate) struct Reports {
    folders: BTreeMap<PathBuf, HashMap<u64, u64>>,
    count: usize,
    keys: RandomState,
}

impl Reports {
    /// The key a file name is kept under.
    pub(crate) fn key_of(&self, name: &OsStr) -> u64 {
        self.name_key(name)
    }

    fn name_key(&self, name: &OsStr) -> u64 {
        self.keys.hash_one(name)
    }

    fn digest(&self, r: &Reported) -> u64 {
        self.keys.hash_one(r)
    }

    fn split(path: &Path) -> Option<(&Path, &OsStr)> {
        Some((path.parent()?, path.file_name()?))
    }

    /// How many paths have a report.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// True when the report of `path` says this very version was emitted or failed already.
    pub(crate) fn covers(&self, path: &Path, stamp: &Stamp) -> bool {
        let Some((folder, name)) = Self::split(path) else {
            return false;
        };
        let Some(stored) = self
            .folders
            .get(folder)
            .and_then(|m| m.get(&self.name_key(name)))
        else {
            return false;
        };
        [Reported::Emitted(stamp.id), Reported::Failed(stamp.id)]
            .iter()
            .any(|r| self.digest(r) == *stored)
    }

    /// Records `r` for `path`; true when exactly `r` was recorded already.
    pub(crate) fn insert(&mut self, path: &Path, r: Reported) -> bool {
        let Some((folder, name)) = Self::split(path) else {
            return false;
        };
        let (key, digest) = (self.name_key(name), self.digest(&r));
        // Most inserts land in a folder already known: no key allocated for those.
        let files = match self.folders.get_mut(folder) {
            Some(files) => files,
            None => self.folders.entry(folder.to_path_buf()).or_default(),
        };
        let before = files.insert(key, digest);
        if before.is_none() {
            self.count += 1;
        }
        before == Some(digest)
    }

    /// Forgets `path`.
    pub(crate) fn remove(&mut self, path: &Path) {
        let Some((folder, name)) = Self::split(path) else {
            return;
        };
        let key = self.name_key(name);
        if let Some(files) = self.folders.get_mut(folder) {
            if files.remove(&key).is_some() {
                self.count -= 1;
            }
            if files.is_empty() {
                self.folders.remove(folder);
            }
        }
    }

    /// Forgets `path` and, if it is a folder, everything below it.
    pub(crate) fn remove_tree(&mut self, path: &Path) {
        self.remove(path);
        let below: Vec<PathBuf> = self
            .folders
            .range(path.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(p, _)| p.clone())
            .collect();
        for folder in below {
            if let Some(files) = self.folders.remove(&folder) {
                self.count -= files.len();
            }
        }
    }

    /// Forgets the files of `folder` kept under `keys`.
    pub(crate) fn forget_keys(&mut self, folder: &Path, keys: &HashSet<u64>) {
        if let Some(files) = self.folders.get_mut(folder) {
            for k in keys {
                if files.remove(k).is_some() {
                    self.count -= 1;
                }
            }
            if files.is_empty() {
                self.folders.remove(folder);
            }
        }
    }

    /// The folders under `root` holding reports of files that are not in `seen`, with the
    /// keys ([`Reports::key_of`]) of those files.
    pub(crate) fn unseen_under(
        &self,
        root: &Path,
        seen: &HashSet<PathBuf>,
    ) -> Vec<(PathBuf, HashSet<u64>)> {
        let mut seen_keys: HashMap<&Path, HashSet<u64>> = HashMap::new();
        for p in seen {
            if let Some((folder, name)) = Self::split(p) {
                seen_keys
                    .entry(folder)
                    .or_default()
                    .insert(self.name_key(name));
            }
        }
        self.folders
            .range(root.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(root))
            .filter_map(|(folder, files)| {
                let seen_here = seen_keys.get(folder.as_path());
                let unseen: HashSet<u64> = files
                    .keys()
                    .filter(|k| !seen_here.is_some_and(|s| s.contains(k)))
                    .copied()
                    .collect();
                (!unseen.is_empty()).then(|| (folder.clone(), unseen))
            })
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, path: &Path) -> bool {
        Self::split(path).is_some_and(|(folder, name)| {
            self.folders
                .get(folder)
                .is_some_and(|m| m.contains_key(&self.name_key(name)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(ino: u64, ctime_ns: i64) -> Stamp {
        let id = FileIdentity {
            dev: 1,
            ino,
            size: 10,
            mtime_ns: 5,
            ctime_ns,
        };
        Stamp {
            id,
            ctime_ns: i128::from(ctime_ns),
        }
    }

    #[test]
    fn a_report_covers_only_the_version_it_was_made_for() {
        let mut r = Reports::default();
        let p = Path::new("/in/a/f.png");
        assert!(!r.covers(p, &stamp(1, 1)));
        assert!(!r.insert(p, Reported::new(stamp(1, 1), false)));
        assert!(
            r.insert(p, Reported::new(stamp(1, 1), false)),
            "the same again"
        );
        assert!(r.covers(p, &stamp(1, 1)));
        assert!(!r.covers(p, &stamp(1, 2)), "a new ctime is a new version");
        assert!(!r.covers(Path::new("/in/a/g.png"), &stamp(1, 1)));
        assert!(
            !r.insert(p, Reported::new(stamp(1, 1), true)),
            "failed differs"
        );
        assert!(
            r.covers(p, &stamp(1, 1)),
            "a failure covers its version too"
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn removing_a_folder_forgets_everything_below_it_and_nothing_beside_it() {
        let mut r = Reports::default();
        for p in ["/in/a/1", "/in/a/b/2", "/in/a/b/c/3", "/in/ab/4", "/in/5"] {
            r.insert(Path::new(p), Reported::new(stamp(1, 1), false));
        }
        assert_eq!(r.len(), 5);
        r.remove_tree(Path::new("/in/a"));
        assert_eq!(r.len(), 2);
        assert!(r.contains(Path::new("/in/ab/4")));
        assert!(r.contains(Path::new("/in/5")));
        r.remove_tree(Path::new("/in/5"));
        r.remove(Path::new("/in/ab/4"));
        assert_eq!(r.len(), 0);
        assert!(r.folders.is_empty());
    }

    #[test]
    fn unseen_files_are_found_by_folder_and_name() {
        let mut r = Reports::default();
        for p in ["/in/a/1", "/in/a/2", "/in/b/3"] {
            r.insert(Path::new(p), Reported::new(stamp(1, 1), false));
        }
        let seen: HashSet<PathBuf> = ["/in/a/1", "/in/b/3"].iter().map(PathBuf::from).collect();
        let unseen = r.unseen_under(Path::new("/in"), &seen);
        assert_eq!(unseen.len(), 1);
        assert_eq!(unseen[0].0, Path::new("/in/a"));
        assert!(unseen[0].1.contains(&r.key_of(OsStr::new("2"))));
        assert!(!unseen[0].1.contains(&r.key_of(OsStr::new("1"))));
        r.forget_keys(Path::new("/in/a"), &unseen[0].1);
        assert_eq!(r.len(), 2);
        assert!(!r.contains(Path::new("/in/a/2")));
    }
}
