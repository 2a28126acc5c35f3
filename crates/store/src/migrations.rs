//! Versioned schema migrations, one list per backend. A store records how many it applied and
//! applies the rest, in order, when opened; it refuses a store written by a newer binary.

/// SQLite migrations (tracked by `PRAGMA user_version`).
pub(crate) const SQLITE: &[&str] = &[
    // 1: definitions, executions with their state, history, map runs and their items.
    "
CREATE TABLE IF NOT EXISTS definitions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    file TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    definition_id TEXT NOT NULL REFERENCES definitions(id),
    flow TEXT NOT NULL,
    status TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    stop_ms INTEGER,
    info TEXT NOT NULL,
    input TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_status ON executions(status);
CREATE INDEX IF NOT EXISTS executions_start ON executions(start_ms);
CREATE TABLE IF NOT EXISTS history (
    execution_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (execution_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_runs (
    id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    done INTEGER NOT NULL,
    spec TEXT NOT NULL,
    path TEXT NOT NULL,
    token INTEGER NOT NULL,
    progress TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS map_runs_open ON map_runs(done);
CREATE INDEX IF NOT EXISTS map_runs_execution ON map_runs(execution_id);
CREATE TABLE IF NOT EXISTS map_items (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
",
    // 2: ownership. Every execution has a root (itself, or the execution whose Distributed Map
    // runs it), a version bumped by every write, and the lease of the process driving it.
    // A stop request waits on the execution for its owner. Definitions remember their project.
    "
ALTER TABLE definitions ADD COLUMN project TEXT;
ALTER TABLE executions ADD COLUMN root_id TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE executions ADD COLUMN owner TEXT;
ALTER TABLE executions ADD COLUMN lease_until INTEGER;
ALTER TABLE executions ADD COLUMN stop_request TEXT;
UPDATE executions SET root_id = id WHERE json_extract(info, '$.parent') IS NULL;
CREATE INDEX executions_root ON executions(root_id, status);
CREATE INDEX executions_owner ON executions(owner, status);
CREATE INDEX definitions_project ON definitions(project);
",
];
