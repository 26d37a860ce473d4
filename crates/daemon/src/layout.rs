//! The state dir's layout: every file the daemon keeps there, named once.
//!
//! ```text
//! state_dir/
//!   alice.lock            flock held by the running daemon (one daemon per state dir)
//!   catalog.sqlite3       the catalog (+ -wal, -shm while open)
//!   control.socket        the path of the running daemon's control socket
//!   control.sock          the socket itself when there is no $XDG_RUNTIME_DIR
//!   web.secret            the web gallery's secret (0600): sessions and login tokens
//!   thumbnails/           the visual stage's thumbnail cache (size-bounded, rebuilt as needed)
//!   redis-spool.jsonl     events waiting for Redis (streams crate, with [redis])
//!   workers/<consumer>/   one folder per `alice worker`: worker.lock and its own spool
//! ```

use std::path::{Path, PathBuf};

/// The paths of one instance's state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLayout {
    root: PathBuf,
}

impl StateLayout {
    /// The layout of `state_dir` (nothing is created).
    pub fn new(state_dir: &Path) -> StateLayout {
        StateLayout {
            root: state_dir.to_path_buf(),
        }
    }

    /// The state dir itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The daemon's instance lock.
    pub fn lock(&self) -> PathBuf {
        self.root.join("alice.lock")
    }

    /// The catalog database.
    pub fn catalog(&self) -> PathBuf {
        self.root.join("catalog.sqlite3")
    }

    /// The catalog's write-ahead log (non-empty after an unclean stop).
    pub fn catalog_wal(&self) -> PathBuf {
        self.root.join("catalog.sqlite3-wal")
    }

    /// The file naming the running daemon's control socket.
    pub fn socket_advertisement(&self) -> PathBuf {
        self.root.join("control.socket")
    }

    /// Where the control socket lives: in `$XDG_RUNTIME_DIR/alice/` (private to the user,
    /// cleared at logout), named after the state dir so several instances can run side by
    /// side; `state_dir/control.sock` when there is no runtime dir.
    pub fn socket(&self, runtime_dir: Option<&Path>) -> PathBuf {
        match runtime_dir.filter(|p| p.is_dir()) {
            Some(run) => run.join("alice").join(format!(
                "{:016x}.sock",
                fnv1a(self.root.as_os_str().as_encoded_bytes())
            )),
            None => self.root.join("control.sock"),
        }
    }

    /// The web gallery's secret (sessions and one-time login tokens derive from it).
    pub fn web_secret(&self) -> PathBuf {
        self.root.join("web.secret")
    }

    /// The thumbnail cache (with `[visual]` or `[web]`).
    pub fn thumbnails(&self) -> PathBuf {
        self.root.join("thumbnails")
    }

    /// The folder of the `alice worker` named `consumer`.
    pub fn worker_dir(&self, consumer: &str) -> PathBuf {
        self.root.join("workers").join(consumer)
    }

    /// A worker's lock, inside its folder.
    pub fn worker_lock(worker_dir: &Path) -> PathBuf {
        worker_dir.join("worker.lock")
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_lives_in_the_state_dir_and_sockets_differ_per_instance() {
        let a = StateLayout::new(Path::new("/s/a"));
        let b = StateLayout::new(Path::new("/s/b"));
        for p in [
            a.lock(),
            a.catalog(),
            a.catalog_wal(),
            a.socket_advertisement(),
            a.web_secret(),
            a.thumbnails(),
        ] {
            assert!(p.starts_with("/s/a"), "{}", p.display());
        }
        assert_eq!(a.socket(None), Path::new("/s/a/control.sock"));
        let run = tempfile::tempdir().unwrap();
        assert_ne!(a.socket(Some(run.path())), b.socket(Some(run.path())));
        assert!(
            a.socket(Some(run.path()))
                .starts_with(run.path().join("alice"))
        );
    }
}
