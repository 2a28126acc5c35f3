//! Durable storage for Sluice: implementations of [`sluice_engine::store::Store`].

mod sqlite;

pub use sqlite::SqliteStore;
