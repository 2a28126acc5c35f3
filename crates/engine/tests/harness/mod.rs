//! Helpers that compile a definition and drive the interpreter the way the driver does.

use serde_json::Value;
use sluice_engine::effects::{Command, Effects};
use sluice_engine::interpreter::{self, Event};
use sluice_engine::model::ExecutionState;
use sluice_engine::run_info::RunInfo;
use sluice_lang::ir::Definition;

/// Compiles an ASL definition given as JSON.
pub fn compile(definition: &Value) -> Definition {
    sluice_lang::compile::compile("flow.asl.json", &definition.to_string())
        .unwrap_or_else(|d| panic!("the definition does not compile: {d:?}"))
}

/// One execution under test: its definition, names, input and latest state.
pub struct Run {
    /// The definition.
    pub def: Definition,
    /// Names, start time and seed.
    pub info: RunInfo,
    /// Execution input.
    pub input: Value,
    /// State after the last step.
    pub state: ExecutionState,
}

impl Run {
    /// Starts an execution at `now_ms`; returns it with the effects of its first step.
    pub fn start(definition: &Value, info: RunInfo, input: Value, now_ms: i64) -> (Run, Effects) {
        let def = compile(definition);
        let (state, fx) = interpreter::start(&def, &info, input.clone(), now_ms);
        (
            Run {
                def,
                info,
                input,
                state,
            },
            fx,
        )
    }

    /// Applies one event at `now_ms`.
    pub fn apply(&mut self, event: Event, now_ms: i64) -> Effects {
        interpreter::apply(
            &self.def,
            &self.info,
            &self.input,
            &mut self.state,
            event,
            now_ms,
        )
    }

    /// The state as it comes back from the store: serialised and read again.
    pub fn reload(&mut self) {
        let text = serde_json::to_string(&self.state).expect("state serialises");
        self.state = serde_json::from_str(&text).expect("state deserialises");
    }
}

/// The `Continue` commands among `commands`, as the events that answer them.
pub fn continues(commands: &[Command]) -> Vec<Event> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Continue { path, token } => Some(Event::Continue {
                path: path.clone(),
                token: *token,
            }),
            _ => None,
        })
        .collect()
}
