//! Inbox watching, reconciliation scans, write-completion detection and BLAKE3 hashing
