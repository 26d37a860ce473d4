//! A few read-only catalog connections, so that page requests do not queue behind one
//! connection's lock; each query runs on the blocking pool.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use catalog::{Catalog, CatalogError};

use crate::html::Failure;

/// Read-only connections, handed out in turn.
pub(crate) struct Readers {
    pool: Vec<Arc<Catalog>>,
    next: AtomicUsize,
}

impl Readers {
    /// Opens `n` read-only connections to the catalog at `path`.
    pub fn open(path: &Path, n: usize) -> Result<Readers, CatalogError> {
        let pool = (0..n.max(1))
            .map(|_| Catalog::open_readonly(path).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Readers {
            pool,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `f` with a connection on the blocking pool.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Catalog) -> Result<T, CatalogError> + Send + 'static,
    ) -> Result<T, Failure> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        let catalog = self.pool[i].clone();
        tokio::task::spawn_blocking(move || f(&catalog))
            .await
            .map_err(|e| Failure::Internal(format!("a catalog reader task failed: {e}")))?
            .map_err(|e| Failure::Internal(e.to_string()))
    }
}
