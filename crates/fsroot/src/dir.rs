//! [`Root`] and [`Dir`]: directory handles, and everything done relative to them.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::resolve::{Strategy, check_name, check_relative, is_symlink_refusal, open_beneath};

/// Flags of a folder handle: readable (listing, `fsync`), never a symlink.
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY);
/// Flags of a file opened for reading: never blocks on a FIFO swapped in, never becomes a
/// controlling terminal.
const READ_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::NONBLOCK).union(OFlags::NOCTTY);
/// Flags of a handle used only to `fstat` (works on anything, opens nothing for I/O).
const STAT_FLAGS: OFlags = OFlags::PATH;

/// Device and inode of a folder: what stays the same when the folder is renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DirId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl DirId {
    /// The id of whatever `meta` describes.
    pub fn of(meta: &Metadata) -> DirId {
        DirId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// What a folder entry is, as listed (a symlink is a symlink, never its target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// One entry of a listing ([`Dir::entries`]); never `.` or `..`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The file name, byte-exact.
    pub name: OsString,
    /// Its kind.
    pub kind: EntryKind,
}

/// What a no-replace rename did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReplace {
    /// The entry now has the new name.
    Renamed,
    /// The new name was taken; nothing changed.
    Exists,
}

/// An open folder. Every operation names a single entry of it (no `/`, `.` or `..`) and
/// never follows a symlink at that entry. The path is kept for messages only: nothing is
/// ever resolved through it.
#[derive(Debug)]
pub struct Dir {
    file: File,
    path: PathBuf,
}

/// An entry's type, identity and times, from [`Dir::stat_entry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryStat {
    /// A regular file (not a folder, symlink, socket, ...).
    pub is_file: bool,
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time: seconds and nanoseconds since the Unix epoch.
    pub mtime: (i64, i64),
    /// Inode change time: seconds and nanoseconds since the Unix epoch.
    pub ctime: (i64, i64),
}

impl Dir {
    fn from_fd(fd: OwnedFd, path: PathBuf) -> Dir {
        Dir {
            file: File::from(fd),
            path,
        }
    }

    /// The path this handle was opened as (for messages; it may have moved since).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of entry `name` (for messages).
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// A second handle on the same folder.
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir {
            file: self.file.try_clone()?,
            path: self.path.clone(),
        })
    }

    /// The descriptor, for system calls this type does not wrap.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The folder's own metadata (`fstat`).
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.file.metadata()
    }

    /// Makes the folder's entries (creations, renames, removals) durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    /// Opens sub-folder `name`; a symlink is refused (`ELOOP`).
    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        check_name(name)?;
        let fd = self.open_folder(Path::new(name))?;
        Ok(Dir::from_fd(fd, self.join(name)))
    }

    /// Opens file `name` read-only, without blocking; a symlink is refused (`ELOOP`). The
    /// caller checks the kind with `metadata()`.
    pub fn open_file(&self, name: &OsStr) -> io::Result<File> {
        check_name(name)?;
        self.open_rel(Path::new(name), READ_FLAGS, Strategy::Auto)
    }

    /// Metadata of entry `name` itself (a symlink is described, not followed), like `lstat`.
    pub fn stat(&self, name: &OsStr) -> io::Result<Metadata> {
        check_name(name)?;
        self.open_rel(Path::new(name), STAT_FLAGS, Strategy::Auto)?
            .metadata()
    }

    /// What a scan needs to know of entry `name` itself (a symlink is described, not
    /// followed), in one `fstatat` relative to this folder: cheaper than [`Dir::stat`] (an
    /// open, an `fstat` and a close), and just as confined, since `name` is one component.
    pub fn stat_entry(&self, name: &OsStr) -> io::Result<EntryStat> {
        check_name(name)?;
        let st = rustix::fs::statat(&self.file, name, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(EntryStat {
            is_file: FileType::from_raw_mode(st.st_mode) == FileType::RegularFile,
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        })
    }

    /// Creates file `name` for writing with `O_EXCL`: fails with `AlreadyExists` whatever is
    /// there, a symlink included, so it can never open an existing file.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        check_name(name)?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL;
        let fd = rustix::fs::openat(
            &self.file,
            name,
            flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_bits_truncate(mode),
        )?;
        Ok(File::from(fd))
    }

    /// Creates sub-folder `name` (`mkdirat`); fails with `AlreadyExists` if anything is there.
    pub fn create_dir(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        check_name(name)?;
        Ok(rustix::fs::mkdirat(
            &self.file,
            name,
            Mode::from_bits_truncate(mode),
        )?)
    }

    /// Removes file `name` (`unlinkat`); a symlink is removed itself, never its target.
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        check_name(name)?;
        Ok(rustix::fs::unlinkat(&self.file, name, AtFlags::empty())?)
    }

    /// Renames entry `from` of this folder to `to` in `dest` unless `to` exists. Never
    /// replaces, whatever the filesystem: `renameat2(RENAME_NOREPLACE)`, or where that is
    /// missing (`EINVAL`, `ENOSYS`) `linkat` then `unlinkat`, which also fails rather than
    /// replace. A crash between those two leaves both names for one file, which is safe.
    pub fn rename_noreplace(&self, from: &OsStr, dest: &Dir, to: &OsStr) -> io::Result<NoReplace> {
        check_name(from)?;
        check_name(to)?;
        match rustix::fs::renameat_with(&self.file, from, &dest.file, to, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(NoReplace::Renamed),
            Err(Errno::EXIST) => Ok(NoReplace::Exists),
            Err(Errno::INVAL) | Err(Errno::NOSYS) => self.link_then_unlink(from, dest, to),
            Err(e) => Err(e.into()),
        }
    }

    /// The fallback of [`Dir::rename_noreplace`]; public so it can be tested on any filesystem.
    pub fn link_then_unlink(&self, from: &OsStr, dest: &Dir, to: &OsStr) -> io::Result<NoReplace> {
        check_name(from)?;
        check_name(to)?;
        match rustix::fs::linkat(&self.file, from, &dest.file, to, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Ok(NoReplace::Exists),
            Err(e) => return Err(e.into()),
        }
        // The file is safely at `to`; an extra name left behind is only clutter.
        let _ = rustix::fs::unlinkat(&self.file, from, AtFlags::empty());
        Ok(NoReplace::Renamed)
    }

    /// Every entry but `.` and `..`, in directory order. Kinds the filesystem does not
    /// report in the listing are looked up (without following symlinks); an entry that
    /// vanished in between is left out.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.file)? {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::RegularFile => EntryKind::File,
                FileType::Directory => EntryKind::Dir,
                FileType::Symlink => EntryKind::Symlink,
                FileType::Unknown => match self.stat(name) {
                    Ok(meta) => kind_of(&meta),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                },
                _ => EntryKind::Other,
            };
            out.push(Entry {
                name: name.to_owned(),
                kind,
            });
        }
        Ok(out)
    }

    /// Opens folder `rel`. `O_DIRECTORY | O_NOFOLLOW` refuses a final symlink with
    /// `ENOTDIR`; it is reported as the `ELOOP` a symlink gets everywhere else.
    fn open_folder(&self, rel: &Path) -> io::Result<OwnedFd> {
        let dir = self.file.as_fd();
        match open_beneath(dir, rel, DIR_FLAGS, Mode::empty(), Strategy::Auto) {
            Err(e) if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => {
                match self.open_rel(rel, STAT_FLAGS, Strategy::Auto)?.metadata() {
                    Ok(meta) if meta.file_type().is_symlink() => Err(Errno::LOOP.into()),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    fn open_rel(&self, rel: &Path, flags: OFlags, strategy: Strategy) -> io::Result<File> {
        let fd = open_beneath(self.file.as_fd(), rel, flags, Mode::empty(), strategy)?;
        Ok(File::from(fd))
    }
}

/// The [`EntryKind`] of `meta` (from `lstat`-like metadata).
pub fn kind_of(meta: &Metadata) -> EntryKind {
    let t = meta.file_type();
    if t.is_file() {
        EntryKind::File
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::Other
    }
}

/// A folder the daemon was configured to use (an inbox, the organized tree, the duplicates
/// or quarantine folder), opened once. Everything below it is reached through this handle
/// with no symlink followed on the way: whatever is renamed or swapped inside it, nothing
/// outside it is opened, created, renamed or removed.
///
/// The configured path itself may contain symlinks (the user chose it); it is resolved once,
/// by [`Root::open`].
#[derive(Debug)]
pub struct Root {
    dir: Dir,
    id: DirId,
}

impl Root {
    /// Opens the folder at `path` (symlinks in `path` itself are followed: it is the
    /// configured location). Fails with `NotADirectory` for anything but a folder.
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(path, DIR_FLAGS | OFlags::CLOEXEC, Mode::empty())?;
        let dir = Dir::from_fd(fd, path.to_path_buf());
        let id = DirId::of(&dir.metadata()?);
        Ok(Root { dir, id })
    }

    /// The path it was opened as.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Device and inode of the root folder, as opened.
    pub fn id(&self) -> DirId {
        self.id
    }

    /// The root folder itself as a [`Dir`].
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// A second handle on the same root.
    pub fn try_clone(&self) -> io::Result<Root> {
        Ok(Root {
            dir: self.dir.try_clone()?,
            id: self.id,
        })
    }

    /// `full` relative to this root: it must start with [`Root::path`] and continue with
    /// plain names only (`InvalidInput` otherwise).
    pub fn relative<'a>(&self, full: &'a Path) -> io::Result<&'a Path> {
        let rel = full.strip_prefix(self.path()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not inside {}", full.display(), self.path().display()),
            )
        })?;
        check_relative(rel)?;
        Ok(rel)
    }

    /// Opens folder `rel` below the root (`""` is the root itself); a symlink anywhere on the
    /// way is refused (`ELOOP`).
    pub fn open_dir(&self, rel: &Path) -> io::Result<Dir> {
        let fd = self.dir.open_folder(rel)?;
        Ok(Dir::from_fd(fd, self.path().join(rel)))
    }

    /// Opens file `rel` below the root read-only, without blocking; a symlink anywhere on
    /// the way is refused (`ELOOP`).
    pub fn open_file(&self, rel: &Path) -> io::Result<File> {
        self.dir.open_rel(rel, READ_FLAGS, Strategy::Auto)
    }

    /// Metadata of `rel` itself, like `lstat`, but a symlink on the way to it is refused
    /// (`ELOOP`) rather than followed.
    pub fn stat(&self, rel: &Path) -> io::Result<Metadata> {
        self.dir
            .open_rel(rel, STAT_FLAGS, Strategy::Auto)?
            .metadata()
    }

    /// The folder holding `rel` and the last name of `rel` (`InvalidInput` for `""`).
    pub fn parent_of<'a>(&self, rel: &'a Path) -> io::Result<(Dir, &'a OsStr)> {
        let name = rel
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a file name is needed"))?;
        let folder = rel.parent().unwrap_or(Path::new(""));
        Ok((self.open_dir(folder)?, name))
    }

    /// For messages: the first symlink on the way to `rel` (root-relative), if there is one
    /// now. Reads only.
    pub fn find_symlink(&self, rel: &Path) -> Option<PathBuf> {
        let mut prefix = PathBuf::new();
        for name in rel.iter() {
            prefix.push(name);
            match self.stat(&prefix) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Some(self.path().join(&prefix));
                }
                Err(e) if is_symlink_refusal(&e) => return Some(self.path().join(&prefix)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    #[cfg(test)]
    pub(crate) fn open_file_with(&self, rel: &Path, strategy: Strategy) -> io::Result<File> {
        self.dir.open_rel(rel, READ_FLAGS, strategy)
    }
}
