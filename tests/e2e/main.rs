//! End-to-end tests: the real `alice` binary as a child process, the real filesystem.
//!
//! Every test has its own temp dir (inbox, organized tree, state dir, config) so the tests
//! run in parallel; conditions are polled with a generous timeout, never timed.

mod harness;
mod media;
mod pictures;
#[path = "../support/png_bomb.rs"]
mod png_bomb;

mod bad_input;
mod cli;
mod crash;
mod dedup;
mod dry_run;
mod first_hour;
mod groups;
mod hostile;
mod organize;
mod scale;
mod sidecars;
mod terminal;
mod undo;
mod visual;
mod writes;
