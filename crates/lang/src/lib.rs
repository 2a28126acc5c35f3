//! Flow definitions: parsing, validation and the pure evaluation pieces the engine builds on.
//!
//! Nothing here does I/O or async work: a definition goes in as text, an [`ir::Definition`] comes
//! out, and the evaluation helpers ([`jsonpath`], [`intrinsics`], [`dataflow`], [`choice`]) turn
//! JSON values into JSON values.

pub mod choice;
pub mod compile;
pub mod dataflow;
pub mod diagnostic;
pub mod intrinsics;
pub mod ir;
pub mod jsonpath;
pub mod lower;
pub mod source;
pub mod timestamp;
pub mod validate;
