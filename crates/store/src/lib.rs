//! Durable storage for Sluice: implementations of [`sluice_engine::store::Store`].

mod codec;
mod migrations;
mod sqlite;

pub use sqlite::SqliteStore;
