//! Sluice engine.
