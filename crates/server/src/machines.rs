//! The state machines a node serves by name: the project's flows, fixed for the life of the
//! process, and those created, updated and deleted through the API.

use crate::ServedFlow;
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

/// The most state machines served at once (the Step Functions quota per account and region).
pub const MAX_STATE_MACHINES: usize = 10_000;

/// Why a state machine could not be added.
#[derive(Debug, PartialEq)]
pub enum AddError {
    /// The name is taken by another definition.
    Exists,
    /// [`MAX_STATE_MACHINES`] are served already.
    Full,
}

/// The served state machines, shared by every request (cheap to clone).
#[derive(Clone, Default)]
pub struct StateMachines {
    by_name: Arc<RwLock<BTreeMap<String, ServedFlow>>>,
}

impl StateMachines {
    /// The project's flows by name.
    pub fn new(flows: BTreeMap<String, ServedFlow>) -> StateMachines {
        StateMachines {
            by_name: Arc::new(RwLock::new(flows)),
        }
    }

    /// The state machine named `name`.
    pub fn get(&self, name: &str) -> Option<ServedFlow> {
        let map = self.by_name.read().unwrap_or_else(PoisonError::into_inner);
        map.get(name).cloned()
    }

    /// Every state machine, by name.
    pub fn list(&self) -> Vec<(String, ServedFlow)> {
        let map = self.by_name.read().unwrap_or_else(PoisonError::into_inner);
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Adds a state machine under a free name. Adding the same definition again under its
    /// name is not an error (creating a state machine is idempotent); the one served is
    /// returned.
    pub fn add(&self, name: &str, flow: ServedFlow) -> Result<ServedFlow, AddError> {
        let mut map = self.by_name.write().unwrap_or_else(PoisonError::into_inner);
        match map.get(name) {
            Some(served) if served.definition_id == flow.definition_id => Ok(served.clone()),
            Some(_) => Err(AddError::Exists),
            None if map.len() >= MAX_STATE_MACHINES => Err(AddError::Full),
            None => {
                map.insert(name.to_string(), flow.clone());
                Ok(flow)
            }
        }
    }

    /// Replaces the state machine named `name`, if there is one; returns the one replaced.
    pub fn replace(&self, name: &str, flow: ServedFlow) -> Option<ServedFlow> {
        let mut map = self.by_name.write().unwrap_or_else(PoisonError::into_inner);
        map.get_mut(name)
            .map(|served| std::mem::replace(served, flow))
    }

    /// Stops serving the state machine named `name`; returns it.
    pub fn remove(&self, name: &str) -> Option<ServedFlow> {
        let mut map = self.by_name.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(name)
    }
}
