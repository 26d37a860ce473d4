//! The file-identity cache: `(dev, ino, size, mtime_ns, ctime_ns)` → asset id, so a restart does not
//! rehash files that did not change.
//!
//! One row per path. Hard links share an identity and therefore an asset, so a lookup by
//! identity may match several rows; any of them gives the right asset id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::params;

use crate::{Catalog, Result, path_bytes, sql_u64, u64_sql};

/// What identifies an unchanged file without reading it (the workspace's one identity type).
pub use ::events::FileIdentity;

/// A file whose content hash is known, for [`Catalog::remember_identities`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    /// Its identity.
    pub identity: FileIdentity,
    /// Its path.
    pub path: PathBuf,
    /// Its content hash.
    pub asset_id: String,
}

impl Catalog {
    /// Every known identity and its asset id, as a map (for tests and tools; the daemon
    /// keeps them in a compact form of its own, see [`Catalog::each_identity`]).
    pub fn load_identities(&self) -> Result<HashMap<FileIdentity, String>> {
        let mut map = HashMap::with_capacity(self.identity_count()?);
        self.each_identity(|identity, asset_id| {
            map.insert(identity, asset_id.to_owned());
        })?;
        Ok(map)
    }

    /// How many paths have a known identity.
    pub fn identity_count(&self) -> Result<usize> {
        self.read("counting file identities", |c| {
            let n: i64 = c
                .prepare_cached("SELECT count(*) FROM identities")?
                .query_row([], |row| row.get(0))?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    /// Every known identity and its asset id, handed to `each` one at a time, so a caller
    /// can keep them in a form of its own without a second copy of the whole set in memory.
    pub fn each_identity(&self, mut each: impl FnMut(FileIdentity, &str)) -> Result<()> {
        self.read("loading file identities", |c| {
            let mut stmt = c.prepare_cached(
                "SELECT dev, ino, size, mtime_ns, ctime_ns, asset_id FROM identities",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let identity = FileIdentity {
                    dev: sql_u64(row.get(0)?),
                    ino: sql_u64(row.get(1)?),
                    size: sql_u64(row.get(2)?),
                    mtime_ns: row.get(3)?,
                    ctime_ns: row.get(4)?,
                };
                let asset_id = row.get_ref(5)?.as_str().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        5,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?;
                each(identity, asset_id);
            }
            Ok(())
        })
    }

    /// Remembers that the file at `path` with `identity` has content `asset_id` (replacing
    /// whatever was known about that path).
    pub fn remember_identity(
        &self,
        identity: &FileIdentity,
        path: &Path,
        asset_id: &str,
    ) -> Result<()> {
        self.remember_identities(std::slice::from_ref(&KnownFile {
            identity: *identity,
            path: path.to_path_buf(),
            asset_id: asset_id.to_owned(),
        }))
    }

    /// [`Catalog::remember_identity`] for many files in one transaction (one fsync).
    pub fn remember_identities(&self, files: &[KnownFile]) -> Result<()> {
        const OP: &str = "remembering file identities";
        if files.is_empty() {
            return Ok(());
        }
        self.write(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO identities
                         (path, dev, ino, size, mtime_ns, ctime_ns, asset_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (path) DO UPDATE SET
                         dev = excluded.dev, ino = excluded.ino, size = excluded.size,
                         mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns,
                         asset_id = excluded.asset_id",
                )
                .map_err(self.db(OP))?;
            for file in files {
                let id = &file.identity;
                stmt.execute(params![
                    path_bytes(&file.path),
                    u64_sql(id.dev),
                    u64_sql(id.ino),
                    u64_sql(id.size),
                    id.mtime_ns,
                    id.ctime_ns,
                    file.asset_id,
                ])
                .map_err(self.db(OP))?;
            }
            Ok(())
        })
    }

    /// Forgets what was known about `path` (the file was removed or replaced). Returns
    /// whether anything was known.
    pub fn forget_identity(&self, path: &Path) -> Result<bool> {
        const OP: &str = "forgetting a file identity";
        self.write(OP, |tx| {
            tx.prepare_cached("DELETE FROM identities WHERE path = ?1")
                .and_then(|mut s| s.execute([path_bytes(path)]))
                .map(|n| n > 0)
                .map_err(self.db(OP))
        })
    }
}
