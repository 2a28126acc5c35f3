//! The two stores the suite runs against, each in a place of its own that goes away with it.

use sluice_engine::store::Store;
use sluice_store::StoreLocation;
use sluice_store::testing::TestSchema;
use std::sync::Arc;
use tempfile::TempDir;

/// A place for a store: a fresh SQLite file, or a fresh PostgreSQL schema.
pub struct Backend {
    location: StoreLocation,
    place: Place,
}

enum Place {
    Sqlite(TempDir),
    Postgres(TestSchema),
}

impl Backend {
    /// A SQLite file in a temporary directory.
    pub fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            location: StoreLocation::Sqlite(dir.path().join("sluice.db")),
            place: Place::Sqlite(dir),
        }
    }

    /// A schema of its own on the test server, or `None` when the test is skipped.
    pub fn postgres() -> Option<Backend> {
        let schema = TestSchema::create()?;
        Some(Backend {
            location: StoreLocation::Postgres(schema.url().to_string()),
            place: Place::Postgres(schema),
        })
    }

    /// Opens a store here (another connection each time).
    pub fn open(&self) -> Arc<dyn Store> {
        sluice_store::open(&self.location).unwrap()
    }

    /// Opens a store here, or says why not.
    pub fn try_open(&self) -> Result<Arc<dyn Store>, sluice_engine::store::StoreError> {
        sluice_store::open(&self.location)
    }

    /// Marks the store as migrated by a newer binary.
    pub fn set_newer_schema(&self) {
        match &self.place {
            Place::Sqlite(dir) => {
                rusqlite::Connection::open(dir.path().join("sluice.db"))
                    .unwrap()
                    .execute_batch("PRAGMA user_version = 99")
                    .unwrap();
            }
            Place::Postgres(schema) => schema
                .execute(&format!(
                    "INSERT INTO {}.schema_migrations (version, applied_ms) VALUES (99, 0)",
                    schema.name()
                ))
                .unwrap(),
        }
    }

    /// Ends the server side of every connection of the stores opened here, waiting until their
    /// server processes are gone (PostgreSQL only; `false` for SQLite, which has none).
    pub fn terminate_connections(&self) -> bool {
        match &self.place {
            Place::Sqlite(_) => false,
            Place::Postgres(schema) => {
                schema
                    .execute(&format!(
                        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
                         WHERE application_name = '{}'",
                        schema.name()
                    ))
                    .unwrap();
                true
            }
        }
    }
}
