//! Sluice store.
