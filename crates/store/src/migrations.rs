//! Versioned schema migrations, one list per backend. A store records how many it applied and
//! applies the rest, in order, when opened; it refuses a store written by a newer binary.

/// The migrations still to apply to a store that applied `current` of `all`, with their numbers
/// (1-based); a store that applied more than this binary knows is refused.
pub(crate) fn pending<'a>(
    all: &'a [&'a str],
    current: i64,
) -> Result<impl Iterator<Item = (usize, &'a str)>, sluice_engine::store::StoreError> {
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > all.len() {
        return Err(sluice_engine::store::StoreError::Corrupt(format!(
            "the store has schema version {current}, newer than this binary knows ({}); upgrade sluice",
            all.len()
        )));
    }
    Ok(all
        .iter()
        .enumerate()
        .skip(current)
        .map(|(i, step)| (i + 1, *step)))
}

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
    // 3: the inputs and results of inline Map and Parallel states, one row each, written once.
    "
CREATE TABLE scope_values (
    execution_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    idx INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (execution_id, scope, kind, idx)
) WITHOUT ROWID;
",
    // 4: workers' reports on callback Tasks, kept until the execution's owner applies them.
    "
CREATE TABLE task_signals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    signal TEXT NOT NULL
);
CREATE INDEX task_signals_execution ON task_signals(execution_id);
",
    // 5: durable queues: messages with their visible time, receive count and failure.
    "
CREATE TABLE queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    failed TEXT
);
CREATE INDEX queue_messages_ready ON queue_messages(queue, visible_ms, seq) WHERE failed IS NULL;
",
    // 6: the next due time of each schedule.
    "
CREATE TABLE trigger_state (
    name TEXT PRIMARY KEY,
    next_ms INTEGER NOT NULL
);
",
    // 7: object-upload triggers: the objects each watch knows, and its undelivered events.
    "
CREATE TABLE object_state (
    watch TEXT NOT NULL,
    key TEXT NOT NULL,
    e_tag TEXT NOT NULL,
    PRIMARY KEY (watch, key)
) WITHOUT ROWID;
CREATE TABLE object_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    watch TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (watch, id)
);
",
    // 8: where each change-data-capture source is, and who streams it.
    "
CREATE TABLE cdc_checkpoints (
    source TEXT PRIMARY KEY,
    phase TEXT NOT NULL,
    position INTEGER NOT NULL,
    progress TEXT NOT NULL,
    error TEXT,
    owner TEXT,
    lease_until_ms INTEGER,
    updated_ms INTEGER NOT NULL
);
",
    // 9: the storage class of objects written in one other than the default, and their restores.
    "
CREATE TABLE object_classes (
    path TEXT PRIMARY KEY,
    e_tag TEXT NOT NULL,
    class TEXT NOT NULL,
    restore_ready_ms INTEGER,
    restore_expiry_ms INTEGER
) WITHOUT ROWID;
",
];

/// PostgreSQL migrations (tracked in the `schema_migrations` table, one row per step applied).
/// PostgreSQL support started with the schema SQLite has after its step 2, so its step 1 is that
/// schema whole; later steps of both lists follow the same changes.
///
/// JSON is kept as `text`, not `jsonb`: it is only ever read back whole, and `jsonb` would
/// reorder object keys the engine keeps in order. Text keys use the "C" collation, so that
/// ordering by id is by bytes as in SQLite. Times are epoch milliseconds and versions counters,
/// both `BIGINT`.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: &[&str] = &[
    // 1: definitions, executions with their state and lease, history, map runs and their items.
    r#"
CREATE TABLE definitions (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    file TEXT NOT NULL,
    source TEXT NOT NULL,
    project TEXT COLLATE "C"
);
CREATE INDEX definitions_project ON definitions(project);
CREATE TABLE executions (
    id TEXT COLLATE "C" PRIMARY KEY,
    root_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    owner TEXT COLLATE "C",
    lease_until BIGINT,
    stop_request TEXT,
    definition_id TEXT COLLATE "C" NOT NULL REFERENCES definitions(id),
    flow TEXT NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    start_ms BIGINT NOT NULL,
    stop_ms BIGINT,
    info TEXT NOT NULL,
    input TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX executions_status ON executions(status);
CREATE INDEX executions_start ON executions(start_ms);
CREATE INDEX executions_root ON executions(root_id, status);
CREATE INDEX executions_owner ON executions(owner, status);
CREATE TABLE history (
    execution_id TEXT COLLATE "C" NOT NULL,
    event_id BIGINT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (execution_id, event_id)
);
CREATE TABLE map_runs (
    id TEXT COLLATE "C" PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    execution_id TEXT COLLATE "C" NOT NULL,
    done BOOLEAN NOT NULL,
    spec TEXT NOT NULL,
    path TEXT NOT NULL,
    token BIGINT NOT NULL,
    progress TEXT NOT NULL
);
CREATE INDEX map_runs_execution ON map_runs(execution_id, seq);
CREATE TABLE map_items (
    run_id TEXT COLLATE "C" NOT NULL,
    idx BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
"#,
    // 3: the inputs and results of inline Map and Parallel states, one row each, written once.
    r#"
CREATE TABLE scope_values (
    execution_id TEXT COLLATE "C" NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    idx BIGINT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (execution_id, scope, kind, idx)
);
"#,
    // 4: workers' reports on callback Tasks, kept until the execution's owner applies them.
    r#"
CREATE TABLE task_signals (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id TEXT COLLATE "C" NOT NULL,
    signal TEXT NOT NULL
);
CREATE INDEX task_signals_execution ON task_signals(execution_id);
"#,
    // 5: durable queues: messages with their visible time, receive count and failure.
    r#"
CREATE TABLE queue_messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL UNIQUE,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    sent_ms BIGINT NOT NULL,
    visible_ms BIGINT NOT NULL,
    receive_count BIGINT NOT NULL DEFAULT 0,
    failed TEXT
);
CREATE INDEX queue_messages_ready ON queue_messages(queue, visible_ms, seq) WHERE failed IS NULL;
"#,
    // 6: the next due time of each schedule.
    r#"
CREATE TABLE trigger_state (
    name TEXT COLLATE "C" PRIMARY KEY,
    next_ms BIGINT NOT NULL
);
"#,
    // 7: object-upload triggers: the objects each watch knows, and its undelivered events.
    r#"
CREATE TABLE object_state (
    watch TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    e_tag TEXT NOT NULL,
    PRIMARY KEY (watch, key)
);
CREATE TABLE object_events (
    seq BIGSERIAL PRIMARY KEY,
    watch TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (watch, id)
);
"#,
    // 8: where each change-data-capture source is, and who streams it.
    r#"
CREATE TABLE cdc_checkpoints (
    source TEXT COLLATE "C" PRIMARY KEY,
    phase TEXT NOT NULL,
    position BIGINT NOT NULL,
    progress TEXT NOT NULL,
    error TEXT,
    owner TEXT,
    lease_until_ms BIGINT,
    updated_ms BIGINT NOT NULL
);
"#,
    // 9: the storage class of objects written in one other than the default, and their restores.
    r#"
CREATE TABLE object_classes (
    path TEXT COLLATE "C" PRIMARY KEY,
    e_tag TEXT NOT NULL,
    class TEXT NOT NULL,
    restore_ready_ms BIGINT,
    restore_expiry_ms BIGINT
);
"#,
];
