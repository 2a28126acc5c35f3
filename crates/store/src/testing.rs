//! Support for tests that run against a real PostgreSQL server (feature `test-support`).
//!
//! The server is `$SLUICE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Each test takes a [`TestSchema`] of its own, so tests run in parallel without seeing each
//! other. When the server cannot be reached, a test is skipped (said on stderr), unless
//! `SLUICE_REQUIRE_SERVICES=1`, where it fails instead.

use crate::postgres::connection::{Target, Worker, classify};
use sluice_engine::store::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};

/// The server tests run against.
pub fn postgres_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own on the test server, dropped with everything in it when this is dropped.
/// Stores opened at [`TestSchema::url`] create it and keep their tables in it.
pub struct TestSchema {
    name: String,
    url: String,
    admin: Worker,
}

impl TestSchema {
    /// A fresh schema name on the test server, or `None` when the server cannot be reached
    /// (after saying `skipped: PostgreSQL not reachable at URL` on stderr). Panics instead when
    /// `SLUICE_REQUIRE_SERVICES=1`.
    pub fn create() -> Option<TestSchema> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = postgres_url();
        let name = format!(
            "sluice_test_{}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros()),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let reached = Target::parse(&base)
            .map_err(StoreError::Unavailable)
            .and_then(Worker::start)
            .and_then(|admin| {
                run(&admin, "SELECT 1".into())?;
                Ok(admin)
            });
        let admin = match reached {
            Ok(admin) => admin,
            Err(e) => {
                sluice_engine::testing::skip(&format!("PostgreSQL not reachable at {base} ({e})"));
                return None;
            }
        };
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}schema={name}&application_name={name}");
        Some(TestSchema { name, url, admin })
    }

    /// The schema's name; stores opened at [`TestSchema::url`] also connect under it as their
    /// `application_name`, so that their connections can be found in `pg_stat_activity`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store URL that keeps the store's tables in this schema.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs SQL on a connection of its own (outside the schema's search path): to look into a
    /// store from the side, or to break it.
    pub fn execute(&self, sql: &str) -> Result<(), StoreError> {
        run(&self.admin, sql.to_string())
    }
}

fn run(admin: &Worker, sql: String) -> Result<(), StoreError> {
    admin.call(move |c| {
        Box::pin(async move { c.client().batch_execute(&sql).await.map_err(classify) })
    })
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let _ = self.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}
