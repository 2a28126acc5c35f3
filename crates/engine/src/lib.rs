//! The Sluice flow interpreter.
//!
//! [`interpreter`] is the pure transition function over [`model::ExecutionState`];
//! [`driver`] commits its effects through a [`store::Store`] in groups and dispatches the
//! commands they carry to an [`invoke::Invoker`].

pub mod callback;
pub mod driver;
pub mod effects;
pub mod interpreter;
pub mod invoke;
pub mod items;
pub mod map_run;
pub mod model;
pub mod objects;
pub mod payload;
pub mod queue;
pub mod run_info;
pub mod scopes;
pub mod store;
pub mod testing;

pub use driver::{ClockMode, Engine, EngineError, EngineOptions, Outcome, StartRequest};
