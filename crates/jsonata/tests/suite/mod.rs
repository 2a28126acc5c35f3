//! Test modules.

mod common;
mod scratch;
