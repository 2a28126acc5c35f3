//! The state machines a node serves by name: the project's flows, fixed for the life of the
//! process, and those created, updated and deleted through the API.
//!
//! The names of the API's state machines, with the stored definition each serves, can be kept
//! in a file (`state-machines.json` in the data directory): every change rewrites it (a new
//! file renamed over the old) before it takes effect, and the next process restores them from
//! it and the store. Each node keeps its own file; nodes sharing a store do not share it.

use crate::ServedFlow;
use serde_json::{Map, Value, json};
use sluice_engine::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// The most state machines served at once (the Step Functions quota per account and region).
pub const MAX_STATE_MACHINES: usize = 10_000;
/// The largest state machines file read back.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Why a state machine could not be added.
#[derive(Debug, PartialEq)]
pub enum AddError {
    /// The name is taken by another definition.
    Exists,
    /// [`MAX_STATE_MACHINES`] are served already.
    Full,
    /// The state machines file could not be written.
    Unsaved(String),
}

/// The served state machines, shared by every request (cheap to clone).
#[derive(Clone, Default)]
pub struct StateMachines {
    by_name: Arc<RwLock<BTreeMap<String, ServedFlow>>>,
    file: Option<Arc<PathBuf>>,
}

impl StateMachines {
    /// The project's flows by name, and no others kept across restarts.
    pub fn new(flows: BTreeMap<String, ServedFlow>) -> StateMachines {
        StateMachines {
            by_name: Arc::new(RwLock::new(flows)),
            file: None,
        }
    }

    /// The project's flows by name, and the API's state machines saved in `file` (their
    /// definitions read from `store`); changes are saved there. Returns the warnings about
    /// saved state machines left out: one whose name a project flow took, one whose definition
    /// is gone from the store or no longer compiles.
    pub fn kept_in(
        mut flows: BTreeMap<String, ServedFlow>,
        file: PathBuf,
        store: &dyn Store,
    ) -> Result<(StateMachines, Vec<String>), String> {
        let mut warnings = Vec::new();
        for (name, saved) in read_saved(&file)? {
            if flows.contains_key(&name) {
                warnings.push(format!(
                    "state machine '{name}' is left out: a flow of the project has its name"
                ));
                continue;
            }
            match restore(store, &name, &saved) {
                Ok(flow) => {
                    flows.insert(name, flow);
                }
                Err(why) => warnings.push(format!("state machine '{name}' is left out: {why}")),
            }
        }
        let machines = StateMachines {
            by_name: Arc::new(RwLock::new(flows)),
            file: Some(Arc::new(file)),
        };
        Ok((machines, warnings))
    }

    /// The state machine named `name`.
    pub fn get(&self, name: &str) -> Option<ServedFlow> {
        let map = self.by_name.read().unwrap_or_else(PoisonError::into_inner);
        map.get(name).cloned()
    }

    /// How many state machines are served.
    pub fn len(&self) -> usize {
        self.by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
                let mut next = map.clone();
                next.insert(name.to_string(), flow.clone());
                self.save(&next).map_err(AddError::Unsaved)?;
                *map = next;
                Ok(flow)
            }
        }
    }

    /// Replaces the state machine named `name`, if there is one; returns the one replaced.
    pub fn replace(&self, name: &str, flow: ServedFlow) -> Result<Option<ServedFlow>, String> {
        let mut map = self.by_name.write().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(name) {
            return Ok(None);
        }
        let mut next = map.clone();
        let old = next.insert(name.to_string(), flow);
        self.save(&next)?;
        *map = next;
        Ok(old)
    }

    /// Stops serving the state machine named `name`; returns it.
    pub fn remove(&self, name: &str) -> Result<Option<ServedFlow>, String> {
        let mut map = self.by_name.write().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(name) {
            return Ok(None);
        }
        let mut next = map.clone();
        let old = next.remove(name);
        self.save(&next)?;
        *map = next;
        Ok(old)
    }

    /// Writes the API's state machines of `map` to the file, if there is one.
    fn save(&self, map: &BTreeMap<String, ServedFlow>) -> Result<(), String> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let saved: Map<String, Value> = map
            .iter()
            .filter(|(_, f)| !f.from_project)
            .map(|(name, f)| {
                let entry = json!({"definitionId": f.definition_id, "createdMs": f.created_ms});
                (name.clone(), entry)
            })
            .collect();
        let text = json!({ "stateMachines": saved }).to_string();
        let partial = file.with_extension("json.partial");
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, file.as_path()))
            .map_err(|e| format!("saving the state machines to {}: {e}", file.display()))
    }
}

/// The saved state machines: name, then `{definitionId, createdMs}`.
fn read_saved(file: &Path) -> Result<Map<String, Value>, String> {
    let shown = file.display();
    let text = match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(format!("reading {shown}: {e}")),
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            return Err(format!("{shown} is larger than {MAX_FILE_BYTES} bytes"));
        }
        Ok(_) => std::fs::read_to_string(file).map_err(|e| format!("reading {shown}: {e}"))?,
    };
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{shown} is not valid JSON: {e}"))?;
    match value.get("stateMachines") {
        Some(Value::Object(saved)) => Ok(saved.clone()),
        _ => Err(format!("{shown} has no stateMachines object")),
    }
}

/// A saved state machine, compiled again from its stored definition.
fn restore(store: &dyn Store, name: &str, saved: &Value) -> Result<ServedFlow, String> {
    let id = saved
        .get("definitionId")
        .and_then(Value::as_str)
        .ok_or("its entry has no definitionId")?;
    let created_ms = saved.get("createdMs").and_then(Value::as_i64).unwrap_or(0);
    let stored = store
        .definition(id)
        .map_err(|e| format!("reading its definition: {e}"))?
        .ok_or_else(|| format!("its definition {id} is not in the store"))?;
    let definition = sluice_lang::compile::compile(name, &stored.source)
        .map_err(|ds| sluice_lang::diagnostic::render(&ds))?;
    Ok(ServedFlow {
        definition_id: stored.id,
        source: stored.source,
        definition: Arc::new(definition),
        created_ms,
        from_project: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}"#;

    fn flow(store: &dyn Store, name: &str, from_project: bool) -> ServedFlow {
        let id = store.put_definition(name, name, SOURCE, None).unwrap();
        ServedFlow {
            definition_id: id,
            source: SOURCE.into(),
            definition: Arc::new(sluice_lang::compile::compile(name, SOURCE).unwrap()),
            created_ms: 1_700_000_000_000,
            from_project,
        }
    }

    #[test]
    fn the_api_state_machines_come_back_from_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let location = sluice_store::StoreLocation::Sqlite(tmp.path().join("s.db"));
        let store = sluice_store::open(&location).unwrap();
        let file = tmp.path().join("state-machines.json");
        let project = || BTreeMap::from([("p".to_string(), flow(store.as_ref(), "p", true))]);

        let (machines, warnings) =
            StateMachines::kept_in(project(), file.clone(), store.as_ref()).unwrap();
        assert!(warnings.is_empty());
        machines.add("a", flow(store.as_ref(), "a", false)).unwrap();
        machines.add("b", flow(store.as_ref(), "b", false)).unwrap();
        machines.remove("b").unwrap();
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let names: Vec<&String> = saved["stateMachines"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["a"]);

        let (again, warnings) =
            StateMachines::kept_in(project(), file.clone(), store.as_ref()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<String> = again.list().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "p"]);
        let a = again.get("a").unwrap();
        assert!(!a.from_project);
        assert_eq!(a.created_ms, 1_700_000_000_000);

        // Entries whose name a project flow took, or whose definition is gone, are left out.
        let edited = json!({"stateMachines": {
            "p": {"definitionId": a.definition_id, "createdMs": 1},
            "gone": {"definitionId": "nothing", "createdMs": 1},
        }});
        std::fs::write(&file, edited.to_string()).unwrap();
        let (left, warnings) =
            StateMachines::kept_in(project(), file.clone(), store.as_ref()).unwrap();
        assert_eq!(left.list().len(), 1);
        assert!(left.get("p").unwrap().from_project);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        for name in ["'gone'", "'p'"] {
            assert!(warnings.iter().any(|w| w.contains(name)), "{warnings:?}");
        }

        std::fs::write(&file, "{not json").unwrap();
        let error = StateMachines::kept_in(project(), file, store.as_ref())
            .err()
            .unwrap();
        assert!(error.contains("not valid JSON"), "{error}");
    }
}
