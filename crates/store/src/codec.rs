//! What both backends store the same way: JSON columns and content-addressed definition ids.

use sha2::{Digest, Sha256};
use sluice_engine::store::StoreError;

/// Encodes a value for a JSON text column.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("encoding: {e}")))
}

/// Decodes a JSON text column; a value that does not decode means the row is corrupt.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Corrupt(format!("decoding a stored value: {e}")))
}

/// The id of a definition: a hash of its name, its source and the project it belongs to.
pub(crate) fn definition_id(name: &str, source: &str, project: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(source.as_bytes());
    if let Some(project) = project {
        h.update([0]);
        h.update(project.as_bytes());
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
