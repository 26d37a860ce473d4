//! In-process publish/subscribe with per-subscriber bounded queues, retries, dead letters, acks and drain
