//! The driver against a store it can watch: a refused commit is retried with backoff, nothing is
//! lost or written twice, the process does not stop, and a group commit stays bounded.

use serde_json::json;
use sluice_engine::callback::StoredSignal;
use sluice_engine::effects::HistoryEvent;
use sluice_engine::invoke::NoFunctions;
use sluice_engine::items::NoStorage;
use sluice_engine::model::Status;
use sluice_engine::objects::{ObjectChange, ObjectClassRecord, PendingObjectEvent};
use sluice_engine::queue::{NewMessage, QueueMessage, QueueStats, Settlement};
use sluice_engine::run_info::RunInfo;
use sluice_engine::store::{
    Batch, ClaimRequest, Claimed, CommitReport, ExecutionSummary, ItemRecord, Lease, MapRunRecord,
    ScopeValue, StopRequest, Store, StoreError, StoredDefinition, StoredExecution,
};
use sluice_engine::{ClockMode, Engine, EngineOptions, StartRequest};
use sluice_store::SqliteStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A SQLite store whose commits fail as unavailable on the calls numbered in `failing`, and
/// which records the most history events one commit carried and the largest state it wrote for a
/// running execution.
struct FlakyStore {
    inner: SqliteStore,
    commits: AtomicU64,
    failing: Vec<u64>,
    refused: AtomicU64,
    most_events: AtomicU64,
    most_state_bytes: AtomicU64,
}

impl FlakyStore {
    /// A store in `dir` whose commits numbered in `failing` fail.
    fn open(dir: &std::path::Path, failing: Vec<u64>) -> FlakyStore {
        FlakyStore {
            inner: SqliteStore::open(&dir.join("sluice.db")).unwrap(),
            commits: AtomicU64::new(0),
            failing,
            refused: AtomicU64::new(0),
            most_events: AtomicU64::new(0),
            most_state_bytes: AtomicU64::new(0),
        }
    }
}

impl Store for FlakyStore {
    fn put_definition(
        &self,
        name: &str,
        file: &str,
        source: &str,
        project: Option<&str>,
    ) -> Result<String, StoreError> {
        self.inner.put_definition(name, file, source, project)
    }
    fn definition(&self, id: &str) -> Result<Option<StoredDefinition>, StoreError> {
        self.inner.definition(id)
    }
    fn definitions_of(&self, project: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.inner.definitions_of(project)
    }
    fn commit(&self, lease: Lease<'_>, batch: &Batch<'_>) -> Result<CommitReport, StoreError> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if self.failing.contains(&n) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Unavailable("disk I/O error (injected)".into()));
        }
        let events: usize = batch.executions.iter().map(|w| w.history.len()).sum();
        self.most_events.fetch_max(events as u64, Ordering::SeqCst);
        for w in batch
            .executions
            .iter()
            .filter(|w| w.execution.state.status == Status::Running)
        {
            let bytes = serde_json::to_string(w.state).unwrap().len();
            self.most_state_bytes
                .fetch_max(bytes as u64, Ordering::SeqCst);
        }
        self.inner.commit(lease, batch)
    }
    fn claim(&self, request: ClaimRequest<'_>) -> Result<Claimed, StoreError> {
        self.inner.claim(request)
    }
    fn renew(&self, owner: &str, until_ms: i64) -> Result<u64, StoreError> {
        self.inner.renew(owner, until_ms)
    }
    fn release(&self, owner: &str) -> Result<(), StoreError> {
        self.inner.release(owner)
    }
    fn request_stop(&self, id: &str, request: &StopRequest) -> Result<bool, StoreError> {
        self.inner.request_stop(id, request)
    }
    fn stop_requests(&self, owner: &str) -> Result<Vec<(String, StopRequest)>, StoreError> {
        self.inner.stop_requests(owner)
    }
    fn put_signal(&self, execution: &str, signal: &StoredSignal) -> Result<(), StoreError> {
        self.inner.put_signal(execution, signal)
    }
    fn signals(&self, owner: &str) -> Result<Vec<(u64, String, StoredSignal)>, StoreError> {
        self.inner.signals(owner)
    }
    fn drop_signals(&self, seqs: &[u64]) -> Result<(), StoreError> {
        self.inner.drop_signals(seqs)
    }
    fn queue_send(&self, q: &str, m: &[NewMessage], now: i64) -> Result<(), StoreError> {
        self.inner.queue_send(q, m, now)
    }
    fn queue_send_many(&self, m: &[(String, NewMessage)], now: i64) -> Result<(), StoreError> {
        self.inner.queue_send_many(m, now)
    }
    fn queue_receive(
        &self,
        q: &str,
        max: usize,
        now: i64,
        until: i64,
    ) -> Result<Vec<QueueMessage>, StoreError> {
        self.inner.queue_receive(q, max, now, until)
    }
    fn queue_settle(&self, q: &str, s: &[Settlement], now: i64) -> Result<u64, StoreError> {
        self.inner.queue_settle(q, s, now)
    }
    fn queue_peek(&self, q: &str, n: usize, failed: bool) -> Result<Vec<QueueMessage>, StoreError> {
        self.inner.queue_peek(q, n, failed)
    }
    fn queue_stats(&self, q: &str, now: i64) -> Result<QueueStats, StoreError> {
        self.inner.queue_stats(q, now)
    }
    fn queue_purge(&self, q: &str) -> Result<u64, StoreError> {
        self.inner.queue_purge(q)
    }
    fn queue_redrive(&self, from: &str, to: &str, now: i64) -> Result<u64, StoreError> {
        self.inner.queue_redrive(from, to, now)
    }
    fn trigger_next(&self, t: &str) -> Result<Option<i64>, StoreError> {
        self.inner.trigger_next(t)
    }
    fn trigger_advance(&self, t: &str, from: Option<i64>, to: i64) -> Result<bool, StoreError> {
        self.inner.trigger_advance(t, from, to)
    }
    fn object_known(&self, w: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.object_known(w, key)
    }
    fn object_known_page(
        &self,
        w: &str,
        after: Option<&str>,
        n: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.object_known_page(w, after, n)
    }
    fn object_record(&self, w: &str, changes: &[ObjectChange]) -> Result<u64, StoreError> {
        self.inner.object_record(w, changes)
    }
    fn object_events(&self, w: &str, n: usize) -> Result<Vec<PendingObjectEvent>, StoreError> {
        self.inner.object_events(w, n)
    }
    fn object_events_done(&self, w: &str, seqs: &[i64]) -> Result<(), StoreError> {
        self.inner.object_events_done(w, seqs)
    }
    fn running_roots(&self) -> Result<Vec<ExecutionSummary>, StoreError> {
        self.inner.running_roots()
    }
    fn object_class(&self, path: &str) -> Result<Option<ObjectClassRecord>, StoreError> {
        self.inner.object_class(path)
    }
    fn object_class_put(
        &self,
        path: &str,
        record: Option<&ObjectClassRecord>,
    ) -> Result<(), StoreError> {
        self.inner.object_class_put(path, record)
    }
    fn object_class_swap(
        &self,
        path: &str,
        before: &ObjectClassRecord,
        after: &ObjectClassRecord,
    ) -> Result<bool, StoreError> {
        self.inner.object_class_swap(path, before, after)
    }
    fn cdc_checkpoint(
        &self,
        source: &str,
    ) -> Result<Option<sluice_engine::store::CdcCheckpoint>, StoreError> {
        self.inner.cdc_checkpoint(source)
    }
    fn cdc_checkpoints(&self) -> Result<Vec<sluice_engine::store::CdcCheckpoint>, StoreError> {
        self.inner.cdc_checkpoints()
    }
    fn cdc_lease(
        &self,
        source: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        self.inner.cdc_lease(source, owner, now, until)
    }
    fn cdc_save(
        &self,
        owner: &str,
        checkpoint: &sluice_engine::store::CdcCheckpoint,
    ) -> Result<bool, StoreError> {
        self.inner.cdc_save(owner, checkpoint)
    }
    fn cdc_release(&self, source: &str, owner: &str) -> Result<(), StoreError> {
        self.inner.cdc_release(source, owner)
    }
    fn cdc_reset(&self, source: &str) -> Result<bool, StoreError> {
        self.inner.cdc_reset(source)
    }

    fn scope_values(&self, execution: &str) -> Result<Vec<ScopeValue>, StoreError> {
        self.inner.scope_values(execution)
    }
    fn execution(&self, id: &str) -> Result<Option<StoredExecution>, StoreError> {
        self.inner.execution(id)
    }
    fn list(&self, limit: usize, with_children: bool) -> Result<Vec<ExecutionSummary>, StoreError> {
        self.inner.list(limit, with_children)
    }
    fn history(&self, id: &str, after: u64, limit: usize) -> Result<Vec<HistoryEvent>, StoreError> {
        self.inner.history(id, after, limit)
    }
    fn map_runs_of(&self, execution: &str) -> Result<Vec<MapRunRecord>, StoreError> {
        self.inner.map_runs_of(execution)
    }
    fn map_items(&self, run: &str, from: u64, limit: usize) -> Result<Vec<ItemRecord>, StoreError> {
        self.inner.map_items(run, from, limit)
    }
}

/// An engine on `store` with `options`, and the runtime it runs on.
fn start(store: &Arc<FlakyStore>, options: EngineOptions) -> (tokio::runtime::Runtime, Engine) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let loader: sluice_engine::driver::DefinitionLoader = Arc::new(|file: &str, src: &str| {
        sluice_lang::compile::compile(file, src).map_err(|d| format!("{d:?}"))
    });
    let engine = Engine::start(
        store.clone(),
        Arc::new(NoFunctions),
        Arc::new(NoStorage),
        runtime.handle().clone(),
        loader,
        options,
    )
    .unwrap();
    (runtime, engine)
}

#[test]
fn refused_commits_are_retried_and_the_execution_finishes_with_a_complete_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FlakyStore::open(dir.path(), vec![1, 2, 3, 5, 6]));
    let source = json!({
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Result": {"n": 1}, "Next": "Nap"},
            "Nap": {"Type": "Wait", "Seconds": 30, "Next": "Last"},
            "Last": {"Type": "Pass", "Parameters": {"done.$": "$.n"}, "End": true}
        }
    })
    .to_string();
    let definition = Arc::new(sluice_lang::compile::compile("flaky.json", &source).unwrap());
    let virtual_clock = EngineOptions {
        clock: ClockMode::Virtual,
        ..Default::default()
    };
    let (runtime, engine) = start(&store, virtual_clock);
    let definition_id = store
        .put_definition("flaky", "flaky.json", &source, None)
        .unwrap();
    let outcome = runtime.block_on(async {
        let id = engine
            .start_execution(StartRequest {
                id: "survivor".into(),
                definition_id,
                definition,
                info: RunInfo::local("flaky", "survivor", 0),
                input: json!({}),
            })
            .await
            .unwrap();
        engine.wait(&id).await.unwrap()
    });
    engine.shutdown();
    assert_eq!(outcome.status, Status::Succeeded);
    assert_eq!(outcome.output, Some(json!({"done": 1})));
    assert_eq!(
        store.refused.load(Ordering::SeqCst),
        5,
        "every injected failure was hit"
    );
    let history = store.history("survivor", 0, 1000).unwrap();
    let ids: Vec<u64> = history.iter().map(|h| h.id).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    let kinds: Vec<&str> = history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"ExecutionStarted"));
    assert_eq!(kinds.last(), Some(&"ExecutionSucceeded"));
    assert_eq!(
        kinds.iter().filter(|k| **k == "WaitStateEntered").count(),
        1
    );
}

#[test]
fn a_group_commit_carries_a_bounded_number_of_history_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FlakyStore::open(dir.path(), Vec::new()));
    // 40 executions of a 1,000-iteration loop: 80,000 history events in all.
    let source = json!({
        "StartAt": "Inc",
        "States": {
            "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 1000, "Next": "Inc"}], "Default": "Done"},
            "Done": {"Type": "Succeed"}
        }
    })
    .to_string();
    let definition = Arc::new(sluice_lang::compile::compile("loop.json", &source).unwrap());
    let (runtime, engine) = start(&store, EngineOptions::default());
    let definition_id = store
        .put_definition("loop", "loop.json", &source, None)
        .unwrap();
    let outcomes = runtime.block_on(async {
        let mut ids = Vec::new();
        for i in 0..40 {
            let id = format!("loop-{i}");
            let request = StartRequest {
                id: id.clone(),
                definition_id: definition_id.clone(),
                definition: definition.clone(),
                info: RunInfo::local("loop", &id, 0),
                input: json!({"i": 0}),
            };
            ids.push(engine.start_execution(request).await.unwrap());
        }
        let mut outcomes = Vec::new();
        for id in ids {
            outcomes.push(engine.wait(&id).await.unwrap());
        }
        outcomes
    });
    engine.shutdown();
    assert!(
        outcomes
            .iter()
            .all(|o| o.output == Some(json!({"i": 1000})))
    );
    let most = store.most_events.load(Ordering::SeqCst);
    assert!(most > 0);
    assert!(
        most <= 21_000,
        "a commit carried {most} history events: at most 20,000 and one step more"
    );
}

#[test]
fn a_process_that_lost_its_lease_stops_writing_and_learns_the_outcome_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("sluice.db")).unwrap());
    let source = json!({
        "StartAt": "Nap",
        "States": {
            "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Done": {"Type": "Pass", "Result": "rested", "End": true}
        }
    })
    .to_string();
    let definition = Arc::new(sluice_lang::compile::compile("nap.json", &source).unwrap());
    let definition_id = store
        .put_definition("nap", "nap.json", &source, None)
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let start_engine = || {
        let loader: sluice_engine::driver::DefinitionLoader = Arc::new(|file: &str, src: &str| {
            sluice_lang::compile::compile(file, src).map_err(|d| format!("{d:?}"))
        });
        Engine::start(
            store.clone(),
            Arc::new(NoFunctions),
            Arc::new(NoStorage),
            runtime.handle().clone(),
            loader,
            EngineOptions::default(),
        )
        .unwrap()
    };
    let first = start_engine();
    runtime.block_on(async {
        first
            .start_execution(StartRequest {
                id: "nap".into(),
                definition_id: definition_id.clone(),
                definition,
                info: RunInfo::local("nap", "nap", 0),
                input: json!({}),
            })
            .await
            .unwrap()
    });
    // The first process loses its lease, as if it had stalled past it; a second one claims the
    // execution. Both have the Wait's timer armed.
    let roots = store.running_roots().unwrap();
    let owner = roots[0].owner.clone().expect("the starter holds it");
    store.release(&owner).unwrap();
    let second = start_engine();
    runtime.block_on(second.serve(vec![definition_id])).unwrap();
    let taken = store.running_roots().unwrap();
    assert_ne!(
        taken[0].owner,
        Some(owner),
        "the second process holds it now"
    );

    let (by_first, by_second) = runtime.block_on(async {
        let a = first.wait("nap").await.unwrap();
        let b = second.wait("nap").await.unwrap();
        (a, b)
    });
    first.shutdown();
    second.shutdown();
    let finished = |e: &Engine| e.stats().finished.load(Ordering::SeqCst);
    assert_eq!(
        (finished(&first), finished(&second)),
        (0, 1),
        "only the holder finished it: the first one's write was refused"
    );
    assert_eq!(by_second.status, Status::Succeeded);
    assert_eq!(by_second.output, Some(json!("rested")));
    assert_eq!(
        by_first, by_second,
        "the first learns the outcome from the store"
    );
    let history = store.history("nap", 0, 100).unwrap();
    let kinds: Vec<&str> = history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "WaitStateExited").count(),
        1,
        "only the holder wrote the Wait's end: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"ExecutionSucceeded"));
    let ids: Vec<u64> = history.iter().map(|h| h.id).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
}

#[test]
fn the_state_written_per_commit_stays_small_while_a_map_holds_much_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FlakyStore::open(dir.path(), Vec::new()));
    let source = json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 10,
                "ItemProcessor": {
                    "StartAt": "Nap",
                    "States": {
                        "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Echo"},
                        "Echo": {"Type": "Pass", "Parameters": {"got.$": "$"}, "End": true}
                    }
                },
                "End": true
            }
        }
    })
    .to_string();
    let definition = Arc::new(sluice_lang::compile::compile("big.json", &source).unwrap());
    let virtual_clock = EngineOptions {
        clock: ClockMode::Virtual,
        ..Default::default()
    };
    let (runtime, engine) = start(&store, virtual_clock);
    let definition_id = store
        .put_definition("big", "big.json", &source, None)
        .unwrap();
    let pad = "x".repeat(200);
    let input: Vec<_> = (0..2000).map(|i| format!("{i}-{pad}")).collect();
    let outcome = runtime.block_on(async {
        let id = engine
            .start_execution(StartRequest {
                id: "big".into(),
                definition_id,
                definition,
                info: RunInfo::local("big", "big", 0),
                input: json!(input),
            })
            .await
            .unwrap();
        engine.wait(&id).await.unwrap()
    });
    engine.shutdown();
    assert_eq!(outcome.status, Status::Succeeded);
    let expected: Vec<_> = input.iter().map(|i| json!({ "got": i })).collect();
    assert_eq!(outcome.output, Some(json!(expected)));
    let data = serde_json::to_string(&expected).unwrap().len();
    assert!(data > 400 * 1024, "the Map's results take {data} bytes");
    let most = store.most_state_bytes.load(Ordering::SeqCst);
    assert!(
        most < 16 * 1024,
        "a commit wrote a running state of {most} bytes while the Map holds {data} bytes of results"
    );
    assert!(
        store.commits.load(Ordering::SeqCst) > 100,
        "the Map ran over many commits: {}",
        store.commits.load(Ordering::SeqCst)
    );
}
