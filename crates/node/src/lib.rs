//! The Sluice project model: a directory whose `sluice.yaml` declares storage, where executions
//! are kept (`state:`), functions, flows and connections.
//!
//! [`load`] reads the file into the typed [`ProjectFile`] ([`de`] places every problem at its
//! line and column, and unknown keys are refused), then checks it against the directory and
//! returns a [`Project`] the command line and the server run. Every problem is reported at once.
//!
//! A project may declare only functions (to call them with `sluice invoke`, or from flows
//! served later) or only flows.

mod calls;
pub mod de;
mod messaging;
pub mod model;
mod project;
mod settings;
pub mod substitute;

pub use model::{ConnectionSpec, FlowSpec, FunctionSpec, ProjectFile, Secret};
pub use project::{Flow, HTTP_FUNCTION_TIMEOUT, PROJECT_FILE, Project, load, state_in};
