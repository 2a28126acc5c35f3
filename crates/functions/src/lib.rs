//! Sluice functions.
