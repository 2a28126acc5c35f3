//! The project file, as the command line uses it: the model and its loading live in
//! `sluice-node`.

pub use sluice_node::{Project, load};
use sluice_store::StoreLocation;
use std::path::Path;

/// The `state:` of the project file in `dir`, if there is a project file, read without loading
/// the rest of the project.
pub fn state_in(dir: &Path) -> anyhow::Result<Option<StoreLocation>> {
    sluice_node::state_in(dir).map_err(|ds| {
        let lines: Vec<String> = ds.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(lines.join("\n"))
    })
}
