//! Destination planning, sanitizing, crash-safe copy/move, collisions and duplicates
