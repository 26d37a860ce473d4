//! Embedded SQLite catalog: assets, file identities, sequences, operation journal
