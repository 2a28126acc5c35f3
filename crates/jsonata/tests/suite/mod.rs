//! Test modules.

mod common;
mod expressions;
