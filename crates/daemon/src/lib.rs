//! The alice daemon as a library: its lifecycle (start, reload by config diff, stop), the
//! state dir's layout, the control socket, `alice scan` and its dry run, `alice worker`,
//! undo, and read-only queries. The `alice` binary parses flags, loads the config file,
//! calls into this crate and prints; it holds no business logic and no data path.
//!
//! ```text
//! running::start(config, host) ─▶ Running ─serve─▶ reload(new) ─▶ ReloadOutcome
//!                                        └─stop(deadline)─▶ StopReport
//! scan::scan(config, progress) ─▶ StopReport          dry_run::dry_run(config, on_item)
//! worker::run(config, spec, signals)                   undo::undo(config, n)
//! ```

pub mod config;
mod consume;
pub mod control;
mod core;
mod creative;
pub mod diff;
pub mod dry_run;
pub mod error;
pub mod gallery;
pub mod layout;
pub mod lock;
mod metrics;
pub mod near;
pub mod notify;
pub mod preflight;
pub mod query;
mod redis;
mod retry;
pub mod running;
pub mod scan;
pub mod signals;
pub mod similar;
pub mod status;
pub mod undo;
pub mod views;
mod watching;
pub mod worker;

pub use config::{Config, LogFormat};
pub use control::ReloadOutcome;
pub use core::StopReport;
pub use error::{Error, Result};
pub use layout::StateLayout;
pub use running::{Host, Running};

/// The stages a process can run, by name (`alice worker <stage>`).
pub use pipeline::Stage;
/// Test-only faults (`ALICE_TEST_FAULT` in the binary): see [`pipeline::Fault`].
pub use pipeline::{Fault, set_fault};
