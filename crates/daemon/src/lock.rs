//! Exclusive locks held for the life of a process (flock): one daemon per state dir, one
//! worker per consumer name. The lock file stays; the lock goes with the process, however it
//! ends.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::layout::StateLayout;

/// A held lock; released when dropped or when the process ends.
pub struct InstanceLock(#[allow(dead_code)] File);

/// Takes `path` (created if missing) with a non-blocking exclusive flock; `None` when another
/// process holds it.
pub fn try_lock(path: &Path) -> Result<Option<InstanceLock>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at(|| "cannot open lock file".into(), path)?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    Ok((rc == 0).then_some(InstanceLock(file)))
}

/// One daemon per state dir: two would share one catalog.
pub fn lock_state_dir(layout: &StateLayout) -> Result<InstanceLock> {
    let path = layout.lock();
    try_lock(&path)?.ok_or_else(|| {
        Error::Busy(format!(
            "another alice process is using state_dir {} (lock {} is held); stop it, or give this instance its own state_dir",
            layout.root().display(),
            path.display()
        ))
    })
}

/// True when a daemon holds the state dir's lock. Opens the lock file read-only and never
/// creates it, so asking changes nothing.
pub fn daemon_running(layout: &StateLayout) -> bool {
    let Ok(file) = File::open(layout.lock()) else {
        return false;
    };
    // SAFETY: flock on a descriptor we own.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        // SAFETY: as above; releasing our own lock.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    }
    !free
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_seen_as_running() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path());
        assert!(!daemon_running(&layout));
        let held = lock_state_dir(&layout).unwrap();
        assert!(daemon_running(&layout));
        let err = lock_state_dir(&layout).err().unwrap();
        assert!(err.to_string().contains("another alice process"), "{err}");
        drop(held);
        assert!(!daemon_running(&layout));
        assert!(lock_state_dir(&layout).is_ok());
    }
}
