//! Test modules.

mod ambient;
mod common;
mod expressions;
