//! End-to-end tests: the real `alice` binary as a child process, the real filesystem.
