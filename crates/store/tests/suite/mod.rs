//! The cases, written against the `Store` trait only.

use crate::backend::Backend;
use serde_json::{Value, json};
use sluice_engine::callback::{StoredSignal, TaskSignal};
use sluice_engine::effects::HistoryEvent;
use sluice_engine::map_run::{ItemSource, MapRunSpec};
use sluice_engine::model::{ExecutionState, Fanout, Frame, Status, Step, TaskOutcome};
use sluice_engine::objects::{ObjectChange, ObjectClassRecord, ObjectEvent};
use sluice_engine::queue::{NewMessage, QueueMessage, QueueStats, Settle, Settlement};
use sluice_engine::run_info::{ParentRun, RunInfo};
use sluice_engine::scopes::{Persisted, externalize};
use sluice_engine::store::{
    Batch, ClaimRequest, CommitReport, ExecutionWrite, ItemRecord, Lease, MapRunProgress,
    MapRunRecord, MapRunWrite, ScopeValue, StopRequest, Store, StoreError, StoredExecution,
    ValueKind,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Two definitions in a store: most executions belong to `a`.
struct Flows {
    a: String,
    b: String,
    /// Just `a`, as claims take it.
    just_a: Vec<String>,
}

fn flows(store: &dyn Store) -> Flows {
    let a = store.put_definition("a", "a.json", "{}", None).unwrap();
    let b = store.put_definition("b", "b.json", "{}", None).unwrap();
    Flows {
        just_a: vec![a.clone()],
        a,
        b,
    }
}

fn state(status: Status) -> ExecutionState {
    serde_json::from_value(json!({
        "status": status,
        "output": null,
        "error": null,
        "cause": null,
        "root": null,
        "next_event_id": 1,
        "next_token": 0,
        "globals": {},
        "deadline_ms": null,
    }))
    .unwrap()
}

/// A top-level execution of `definition`, not stored yet.
fn root(id: &str, definition: &str, start_ms: i64) -> StoredExecution {
    StoredExecution {
        id: id.into(),
        root_id: id.into(),
        version: 0,
        definition_id: definition.into(),
        info: RunInfo::local("flow", id, start_ms),
        input: json!({"id": id}),
        state: state(Status::Running),
        stop_ms: None,
    }
}

/// A Distributed Map child of `root` run by map run `run`.
fn child(id: &str, root_id: &str, run: &str, definition: &str, start_ms: i64) -> StoredExecution {
    let mut e = root(id, definition, start_ms);
    e.root_id = root_id.into();
    e.info.parent = Some(ParentRun {
        run: run.into(),
        index: 0,
        processor: Vec::new(),
    });
    e
}

fn finished(mut e: StoredExecution, status: Status) -> StoredExecution {
    e.state.status = status;
    e.stop_ms = Some(e.info.start_ms + 1);
    e
}

fn events(from: u64, to: u64) -> Vec<HistoryEvent> {
    (from..=to)
        .map(|id| HistoryEvent {
            id,
            timestamp_ms: 1000 + id as i64,
            kind: "PassStateEntered".into(),
            details: json!({"name": format!("S{id}")}),
        })
        .collect()
}

fn map_run(id: &str, execution: &str, done: bool) -> MapRunRecord {
    MapRunRecord {
        spec: MapRunSpec {
            id: id.into(),
            arn: format!("arn:aws:states:local:000000000000:mapRun:{id}"),
            state: "Map".into(),
            label: "Map".into(),
            source: ItemSource::Inline(vec![json!(1), json!(2)]),
            selector: None,
            batcher: None,
            max_concurrency: 0,
            tolerated_count: None,
            tolerated_percent: None,
            writer: None,
            processor: Vec::new(),
            fdl: false,
            express: false,
        },
        execution: execution.into(),
        path: vec![0, 1],
        token: 3,
        progress: MapRunProgress::default(),
        done,
    }
}

fn item(run: &str, index: u64, status: &str) -> ItemRecord {
    ItemRecord {
        run: run.into(),
        index,
        status: status.into(),
        input: json!({"i": index}),
        output: json!({"o": index}),
        execution: None,
        start_ms: 1,
        stop_ms: 2,
    }
}

fn lease(owner: &str, until_ms: i64) -> Lease<'_> {
    Lease { owner, until_ms }
}

/// A Map child's result `{"r": idx}` in `scope`.
fn scope_value(scope: &str, idx: u32) -> ScopeValue {
    ScopeValue {
        scope: scope.into(),
        kind: ValueKind::Result,
        idx,
        value: json!({ "r": idx }),
    }
}

/// An execution's state as written, its values inline.
fn state_of(e: &StoredExecution) -> Value {
    serde_json::to_value(&e.state).unwrap()
}

/// Writes executions (new when their version is 0), each with the given history.
fn write(
    store: &dyn Store,
    lease: Lease<'_>,
    executions: &[(&StoredExecution, &[HistoryEvent])],
) -> CommitReport {
    let states: Vec<Value> = executions.iter().map(|(e, _)| state_of(e)).collect();
    let batch = Batch {
        executions: executions
            .iter()
            .zip(&states)
            .map(|((e, history), state)| ExecutionWrite {
                execution: e,
                new: e.version == 0,
                history,
                state,
                values: &[],
            })
            .collect(),
        ..Batch::default()
    };
    store.commit(lease, &batch).unwrap()
}

/// Stores executions under an owner whose lease ended long ago, so that anyone may claim them.
fn seed(store: &dyn Store, executions: &[StoredExecution]) {
    let writes: Vec<_> = executions.iter().map(|e| (e, &[][..])).collect();
    assert!(write(store, lease("seeder", 0), &writes).lost.is_empty());
}

fn claim(
    store: &dyn Store,
    owner: &str,
    until_ms: i64,
    now_ms: i64,
    definitions: &[String],
    limit: usize,
) -> Vec<StoredExecution> {
    store
        .claim(ClaimRequest {
            lease: lease(owner, until_ms),
            now_ms,
            definitions,
            limit,
            root: None,
        })
        .unwrap()
        .executions
}

fn ids(executions: &[StoredExecution]) -> Vec<&str> {
    executions.iter().map(|e| e.id.as_str()).collect()
}

pub fn definitions_are_idempotent_by_content_and_project(b: &Backend) {
    let store = b.open();
    let a = store
        .put_definition("flow", "flow.json", "{}", Some("/p"))
        .unwrap();
    let again = store
        .put_definition("flow", "flow.json", "{}", Some("/p"))
        .unwrap();
    assert_eq!(a, again);
    let other_project = store
        .put_definition("flow", "flow.json", "{}", Some("/q"))
        .unwrap();
    let single = store
        .put_definition("flow", "flow.json", "{}", None)
        .unwrap();
    let edited = store
        .put_definition("flow", "flow.json", "{ }", Some("/p"))
        .unwrap();
    let distinct: HashSet<_> = [&a, &other_project, &single, &edited].into_iter().collect();
    assert_eq!(distinct.len(), 4);
    let mut of_p = vec![a.clone(), edited];
    of_p.sort();
    assert_eq!(store.definitions_of(Some("/p")).unwrap(), of_p);
    assert_eq!(store.definitions_of(Some("/q")).unwrap(), [other_project]);
    assert_eq!(store.definitions_of(None).unwrap(), [single]);
    assert!(store.definitions_of(Some("/none")).unwrap().is_empty());
    let d = store.definition(&a).unwrap().unwrap();
    assert_eq!(
        (
            d.id.as_str(),
            d.name.as_str(),
            d.file.as_str(),
            d.source.as_str()
        ),
        (a.as_str(), "flow", "flow.json", "{}")
    );
    assert_eq!(d.project.as_deref(), Some("/p"));
    assert!(store.definition("missing").unwrap().is_none());
}

pub fn an_insert_then_compare_and_swap_updates_bump_the_version(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    let mut e = root("e1", &f.a, 10);
    let report = write(&*store, lease("w", 5000), &[(&e, &events(1, 2))]);
    assert_eq!(report, CommitReport::default());
    let stored = store.execution("e1").unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.input, json!({"id": "e1"}));
    assert_eq!(stored.info.execution_name, "e1");
    e.version = 1;
    let e = finished(e, Status::Succeeded);
    assert!(
        write(&*store, lease("w", 5000), &[(&e, &events(3, 3))])
            .lost
            .is_empty()
    );
    let stored = store.execution("e1").unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.state.status, Status::Succeeded);
    assert_eq!(stored.stop_ms, Some(11));
    assert_eq!(store.history("e1", 0, 100).unwrap(), events(1, 3));
    assert!(store.execution("missing").unwrap().is_none());
}

pub fn a_stale_write_is_lost_with_its_history_map_runs_and_items(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(&*store, &[root("stale", &f.a, 1), root("fresh", &f.a, 2)]);
    // `stale` is written against a version it no longer has.
    let mut stale = root("stale", &f.a, 1);
    stale.version = 5;
    let mut fresh = root("fresh", &f.a, 2);
    fresh.version = 1;
    let stale_history = events(1, 2);
    let fresh_history = events(1, 1);
    let stale_run = map_run("stale/Map:1", "stale", false);
    let fresh_run = map_run("fresh/Map:1", "fresh", false);
    let items = [
        item("stale/Map:1", 0, "SUCCEEDED"),
        item("fresh/Map:1", 0, "SUCCEEDED"),
    ];
    let (stale_state, fresh_state) = (state_of(&stale), state_of(&fresh));
    let stale_values = [scope_value("1.0.0", 0)];
    let fresh_values = [scope_value("1.0.0", 1)];
    let batch = Batch {
        executions: vec![
            ExecutionWrite {
                execution: &stale,
                new: false,
                history: &stale_history,
                state: &stale_state,
                values: &stale_values,
            },
            ExecutionWrite {
                execution: &fresh,
                new: false,
                history: &fresh_history,
                state: &fresh_state,
                values: &fresh_values,
            },
        ],
        map_runs: vec![
            MapRunWrite {
                record: &stale_run,
                new: true,
            },
            MapRunWrite {
                record: &fresh_run,
                new: true,
            },
        ],
        items: &items,
    };
    let report = store.commit(lease("w", 5000), &batch).unwrap();
    assert_eq!(report.lost, ["stale"]);
    assert_eq!(store.execution("stale").unwrap().unwrap().version, 1);
    assert!(store.history("stale", 0, 10).unwrap().is_empty());
    assert!(store.map_runs_of("stale").unwrap().is_empty());
    assert!(store.map_items("stale/Map:1", 0, 10).unwrap().is_empty());
    assert!(store.scope_values("stale").unwrap().is_empty());
    assert_eq!(store.scope_values("fresh").unwrap(), fresh_values);
    assert_eq!(store.execution("fresh").unwrap().unwrap().version, 2);
    assert_eq!(store.history("fresh", 0, 10).unwrap(), fresh_history);
    assert_eq!(store.map_runs_of("fresh").unwrap(), [fresh_run]);
    assert_eq!(
        store.map_items("fresh/Map:1", 0, 10).unwrap(),
        [items[1].clone()]
    );
}

pub fn inserting_a_taken_id_is_lost(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(&*store, &[root("taken", &f.a, 1)]);
    let again = root("taken", &f.b, 7);
    let report = write(&*store, lease("w", 5000), &[(&again, &events(1, 1))]);
    assert_eq!(report.lost, ["taken"]);
    let stored = store.execution("taken").unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.definition_id.as_str()),
        (1, f.a.as_str())
    );
    assert!(store.history("taken", 0, 10).unwrap().is_empty());
}

pub fn a_claim_takes_free_running_roots_with_descendants_and_open_runs(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(
        &*store,
        &[
            root("r1", &f.a, 1),
            root("r2", &f.a, 2),
            root("other", &f.b, 0),
            finished(root("done", &f.a, 0), Status::Succeeded),
            child("r1/c1", "r1", "r1/Map:1", &f.a, 3),
            finished(child("r1/c2", "r1", "r1/Map:1", &f.a, 4), Status::Failed),
            child("r2/c1", "r2", "r2/Map:1", &f.a, 5),
        ],
    );
    let runs = [
        map_run("r1/Map:1", "r1", false),
        map_run("r1/Map:0", "r1", true),
        map_run("r1/c1/Map:1", "r1/c1", false),
        map_run("r2/Map:1", "r2", false),
    ];
    let batch = Batch {
        map_runs: runs
            .iter()
            .map(|record| MapRunWrite { record, new: true })
            .collect(),
        ..Batch::default()
    };
    // Map runs go in for executions their owner holds: the seeder's, whatever its lease.
    assert!(
        store
            .commit(lease("seeder", 0), &batch)
            .unwrap()
            .lost
            .is_empty()
    );
    let claimed = store
        .claim(ClaimRequest {
            lease: lease("a", 5000),
            now_ms: 1000,
            definitions: &f.just_a,
            limit: 1,
            root: None,
        })
        .unwrap();
    assert_eq!(ids(&claimed.executions), ["r1", "r1/c1"]);
    assert!(claimed.executions.iter().all(|e| e.version == 2));
    let open: Vec<_> = claimed
        .map_runs
        .iter()
        .map(|r| r.spec.id.as_str())
        .collect();
    assert_eq!(open, ["r1/Map:1", "r1/c1/Map:1"]);
    assert_eq!(claimed.map_runs[0], runs[0]);
    let roots = store.running_roots().unwrap();
    let r1 = roots.iter().find(|s| s.id == "r1").unwrap();
    assert_eq!(
        (r1.owner.as_deref(), r1.lease_until_ms),
        (Some("a"), Some(5000))
    );
    // r1 is held; `other` is another definition's; `done` is not running.
    let next = claim(&*store, "b", 5000, 1000, &f.just_a, 10);
    assert_eq!(ids(&next), ["r2", "r2/c1"]);
    assert!(claim(&*store, "c", 5000, 1000, &f.just_a, 10).is_empty());
    assert!(claim(&*store, "c", 5000, 1000, &[], 10).is_empty());
    let both = vec![f.a.clone(), f.b.clone()];
    assert_eq!(ids(&claim(&*store, "c", 5000, 1000, &both, 10)), ["other"]);
}

pub fn concurrent_claims_never_take_the_same_root(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    let roots: Vec<_> = (0..24)
        .map(|i| root(&format!("r{i:02}"), &f.a, i))
        .collect();
    seed(&*store, &roots);
    let stores: Vec<Arc<dyn Store>> = (0..4).map(|_| b.open()).collect();
    let definitions = &f.just_a;
    let taken: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(n, store)| {
                s.spawn(move || {
                    let owner = format!("owner-{n}");
                    let mut mine = Vec::new();
                    loop {
                        let got = claim(&**store, &owner, 5000, 1000, definitions, 2);
                        if got.is_empty() {
                            return mine;
                        }
                        mine.extend(got.into_iter().map(|e| e.id));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&String> = taken.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), 24, "{taken:?}");
    assert_eq!(distinct.len(), 24, "{taken:?}");
    for s in store.running_roots().unwrap() {
        let holder = taken.iter().position(|mine| mine.contains(&s.id)).unwrap();
        assert_eq!(s.owner, Some(format!("owner-{holder}")));
    }
}

pub fn renew_extends_only_the_owners_leases(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(
        &*store,
        &[
            root("r1", &f.a, 1),
            child("r1/c1", "r1", "r1/Map:1", &f.a, 2),
            root("r2", &f.a, 3),
        ],
    );
    assert_eq!(
        ids(&claim(&*store, "a", 2000, 1000, &f.just_a, 1)),
        ["r1", "r1/c1"]
    );
    assert_eq!(ids(&claim(&*store, "b", 2000, 1000, &f.just_a, 1)), ["r2"]);
    assert_eq!(store.renew("a", 9000).unwrap(), 2);
    assert_eq!(store.renew("nobody", 9000).unwrap(), 0);
    let leases: Vec<_> = store
        .running_roots()
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.owner, s.lease_until_ms))
        .collect();
    assert_eq!(
        leases,
        [
            ("r1".into(), Some("a".into()), Some(9000)),
            ("r2".into(), Some("b".into()), Some(2000)),
        ]
    );
    // Renewing does not change versions: the owner's next write still goes through.
    let mut r1 = store.execution("r1").unwrap().unwrap();
    assert_eq!(r1.version, 2);
    r1.state.next_token = 1;
    assert!(
        write(&*store, lease("a", 9000), &[(&r1, &[])])
            .lost
            .is_empty()
    );
}

pub fn release_frees_the_owners_executions(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(&*store, &[root("r1", &f.a, 1), root("r2", &f.a, 2)]);
    claim(&*store, "a", 9000, 1000, &f.just_a, 1);
    claim(&*store, "b", 9000, 1000, &f.just_a, 1);
    store.release("a").unwrap();
    let roots = store.running_roots().unwrap();
    let owners: Vec<_> = roots.iter().map(|s| s.owner.as_deref()).collect();
    assert_eq!(owners, [None, Some("b")]);
    assert_eq!(store.execution("r1").unwrap().unwrap().version, 3);
    // Long before the old lease would have ended, another owner takes it.
    let taken = claim(&*store, "c", 9000, 1000, &f.just_a, 10);
    assert_eq!(ids(&taken), ["r1"]);
}

pub fn after_a_lease_ends_another_owner_claims_and_the_first_loses(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(&*store, &[root("r1", &f.a, 1)]);
    let mut held_by_a = claim(&*store, "a", 2000, 1000, &f.just_a, 1);
    assert!(claim(&*store, "b", 4000, 1999, &f.just_a, 1).is_empty());
    let mut held_by_b = claim(&*store, "b", 4000, 2001, &f.just_a, 1);
    assert_eq!(ids(&held_by_b), ["r1"]);
    let run = map_run("r1/Map:1", "r1", false);
    let items = [item("r1/Map:1", 0, "SUCCEEDED")];
    let a_history = events(1, 1);
    let a_write = &mut held_by_a[0];
    a_write.state.next_token = 7;
    let a_state = state_of(a_write);
    let batch = Batch {
        executions: vec![ExecutionWrite {
            execution: a_write,
            new: false,
            history: &a_history,
            state: &a_state,
            values: &[],
        }],
        map_runs: vec![MapRunWrite {
            record: &run,
            new: true,
        }],
        items: &items,
    };
    assert_eq!(store.commit(lease("a", 6000), &batch).unwrap().lost, ["r1"]);
    assert!(store.history("r1", 0, 10).unwrap().is_empty());
    assert!(store.map_runs_of("r1").unwrap().is_empty());
    assert!(store.map_items("r1/Map:1", 0, 10).unwrap().is_empty());
    // A map run of an execution held by someone else is not written either.
    let batch = Batch {
        map_runs: vec![MapRunWrite {
            record: &run,
            new: true,
        }],
        items: &items,
        ..Batch::default()
    };
    store.commit(lease("a", 6000), &batch).unwrap();
    assert!(store.map_runs_of("r1").unwrap().is_empty());
    let b_write = &mut held_by_b[0];
    b_write.state.next_token = 9;
    assert!(
        write(&*store, lease("b", 4000), &[(b_write, &[])])
            .lost
            .is_empty()
    );
    let stored = store.execution("r1").unwrap().unwrap();
    assert_eq!((stored.version, stored.state.next_token), (4, 9));
}

pub fn history_comes_in_pages(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    let e = root("e1", &f.a, 1);
    write(&*store, lease("w", 5000), &[(&e, &events(1, 10))]);
    let page = |after, limit| -> Vec<u64> {
        store
            .history("e1", after, limit)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect()
    };
    assert_eq!(page(0, 4), [1, 2, 3, 4]);
    assert_eq!(page(4, 4), [5, 6, 7, 8]);
    assert_eq!(page(8, 4), [9, 10]);
    assert!(page(10, 4).is_empty());
    assert_eq!(page(0, usize::MAX).len(), 10);
    assert_eq!(store.history("e1", 2, 1).unwrap(), events(3, 3));
    assert!(store.history("missing", 0, 10).unwrap().is_empty());
}

pub fn list_with_and_without_children(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(
        &*store,
        &[
            finished(root("old", &f.a, 1), Status::Failed),
            child("old/c1", "old", "old/Map:1", &f.a, 2),
            root("new", &f.b, 3),
        ],
    );
    let listed = |limit, children| -> Vec<String> {
        store
            .list(limit, children)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    assert_eq!(listed(10, false), ["new", "old"]);
    assert_eq!(listed(10, true), ["new", "old/c1", "old"]);
    assert_eq!(listed(1, false), ["new"]);
    assert_eq!(listed(usize::MAX, true).len(), 3);
    let old = store
        .list(10, false)
        .unwrap()
        .into_iter()
        .find(|s| s.id == "old")
        .unwrap();
    assert_eq!(
        (old.flow.as_str(), old.status, old.start_ms, old.stop_ms),
        ("flow", Status::Failed, 1, Some(2))
    );
    assert_eq!(
        (old.owner.as_deref(), old.lease_until_ms),
        (Some("seeder"), Some(0))
    );
    let running: Vec<_> = store
        .running_roots()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(running, ["new"]);
}

pub fn map_runs_and_items_come_back_in_order_and_pages(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(&*store, &[root("p", &f.a, 1)]);
    let second = map_run("p/Map:2", "p", false);
    let first = map_run("p/Map:1", "p", false);
    let items: Vec<_> = (0..5).map(|i| item("p/Map:2", i, "SUCCEEDED")).collect();
    let batch = Batch {
        map_runs: vec![
            MapRunWrite {
                record: &second,
                new: true,
            },
            MapRunWrite {
                record: &first,
                new: true,
            },
        ],
        items: &items,
        ..Batch::default()
    };
    store.commit(lease("seeder", 0), &batch).unwrap();
    // Insertion order, not id order.
    assert_eq!(store.map_runs_of("p").unwrap(), [second.clone(), first]);
    let page = |from, limit| -> Vec<u64> {
        store
            .map_items("p/Map:2", from, limit)
            .unwrap()
            .into_iter()
            .map(|i| i.index)
            .collect()
    };
    assert_eq!(page(0, 2), [0, 1]);
    assert_eq!(page(2, 2), [2, 3]);
    assert_eq!(page(4, 10), [4]);
    assert!(page(5, 10).is_empty());
    // Progress moves; an item written again replaces the first; an item of a run that is in
    // the store but not in the batch finds its execution there.
    let mut progressed = second.clone();
    progressed.progress.started = 6;
    progressed.progress.succeeded = 5;
    progressed.done = true;
    let again = [
        item("p/Map:2", 1, "FAILED"),
        item("p/Map:2", 5, "SUCCEEDED"),
    ];
    let batch = Batch {
        map_runs: vec![MapRunWrite {
            record: &progressed,
            new: false,
        }],
        items: &again,
        ..Batch::default()
    };
    store.commit(lease("seeder", 0), &batch).unwrap();
    let runs = store.map_runs_of("p").unwrap();
    assert_eq!(runs[0], progressed);
    assert_eq!(
        store.map_items("p/Map:2", 1, 1).unwrap(),
        [again[0].clone()]
    );
    let later = [item("p/Map:2", 6, "SUCCEEDED")];
    let batch = Batch {
        items: &later,
        ..Batch::default()
    };
    store.commit(lease("seeder", 0), &batch).unwrap();
    assert_eq!(page(0, 100), [0, 1, 2, 3, 4, 5, 6]);
    assert!(store.map_items("unknown", 0, 10).unwrap().is_empty());
}

pub fn reopening_is_idempotent_and_concurrent_first_opens_agree(b: &Backend) {
    std::thread::scope(|s| {
        let opens: Vec<_> = (0..3).map(|_| s.spawn(|| b.open())).collect();
        for open in opens {
            open.join().unwrap();
        }
    });
    let store = b.open();
    let id = store.put_definition("flow", "f.json", "{}", None).unwrap();
    seed(&*store, &[root("kept", &id, 1)]);
    drop(store);
    let store = b.open();
    assert_eq!(store.definitions_of(None).unwrap(), [id]);
    assert_eq!(store.execution("kept").unwrap().unwrap().version, 1);
}

pub fn a_newer_schema_is_refused_as_corrupt(b: &Backend) {
    drop(b.open());
    b.set_newer_schema();
    match b.try_open() {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("newer"), "{message}"),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("a store with a newer schema was opened"),
    }
}

pub fn calls_work_inside_and_outside_a_tokio_runtime(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(&*store, &[root("r1", &f.a, 1)]);
    let read = |store: &dyn Store| store.execution("r1").unwrap().unwrap().version;
    assert_eq!(
        std::thread::scope(|s| s.spawn(|| read(&*store)).join().unwrap()),
        1
    );
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(multi.block_on(async { read(&*store) }), 1);
    let handle = multi.spawn({
        let store = store.clone();
        async move { read(&*store) }
    });
    assert_eq!(multi.block_on(handle).unwrap(), 1);
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(single.block_on(async { read(&*store) }), 1);
    // A store opened inside a runtime works outside it, and the other way round.
    let inner = single.block_on(async { b.open() });
    assert_eq!(read(&*inner), 1);
    drop(multi);
    drop(single);
    drop(inner);
}

pub fn a_dropped_connection_is_opened_again(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(&*store, &[root("r1", &f.a, 1)]);
    if !b.terminate_connections() {
        return;
    }
    // The next call may notice the broken connection (Unavailable, a retry may succeed); the
    // one after it connects again.
    let first = store.execution("r1");
    if let Err(e) = &first {
        assert!(e.is_transient(), "{e}");
    }
    let again = store.execution("r1").unwrap().unwrap();
    assert_eq!(again.version, 1);
    assert!(store.renew("nobody", 1).is_ok());
}

pub fn a_claim_for_one_root_takes_that_root_only(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(
        &*store,
        &[
            root("r1", &f.a, 1),
            root("r2", &f.a, 2),
            child("r2/c1", "r2", "r2/Map:1", &f.a, 3),
        ],
    );
    let take = |owner, root| {
        store
            .claim(ClaimRequest {
                lease: lease(owner, 5000),
                now_ms: 1000,
                definitions: &f.just_a,
                limit: 10,
                root: Some(root),
            })
            .unwrap()
            .executions
    };
    assert_eq!(ids(&take("a", "r2")), ["r2", "r2/c1"]);
    assert!(take("b", "r2").is_empty(), "held by a");
    assert!(
        take("b", "r2/c1").is_empty(),
        "a child is claimed with its root only"
    );
    assert_eq!(ids(&take("b", "r1")), ["r1"]);
}

pub fn stop_requests_reach_the_owner_and_end_with_the_execution(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(
        &*store,
        &[
            root("r1", &f.a, 1),
            child("r1/c1", "r1", "r1/Map:1", &f.a, 2),
            finished(root("done", &f.a, 0), Status::Succeeded),
        ],
    );
    let claimed = claim(&*store, "a", 5000, 1000, &f.just_a, 10);
    let request = StopRequest {
        error: Some("Bored".into()),
        cause: Some("enough".into()),
    };
    assert!(store.request_stop("r1", &request).unwrap());
    assert!(
        !store.request_stop("r1/c1", &request).unwrap(),
        "roots only"
    );
    assert!(
        !store.request_stop("done", &request).unwrap(),
        "not running"
    );
    assert!(!store.request_stop("missing", &request).unwrap());
    assert_eq!(
        store.stop_requests("a").unwrap(),
        [("r1".to_string(), request.clone())]
    );
    assert!(store.stop_requests("b").unwrap().is_empty());
    // The owner aborts it: the request is gone with the execution's run.
    let r1 = claimed.iter().find(|e| e.id == "r1").unwrap();
    let aborted = finished(r1.clone(), Status::Aborted);
    assert!(
        write(&*store, lease("a", 5000), &[(&aborted, &[])])
            .lost
            .is_empty()
    );
    assert!(store.stop_requests("a").unwrap().is_empty());
}

/// Task callbacks kept for an execution reach its owner only, in order, while it runs, and are
/// gone once dropped.
pub fn task_signals_reach_the_owner_in_order_until_dropped(b: &Backend) {
    let store = b.open();
    let f = flows(&*store);
    seed(
        &*store,
        &[
            root("r1", &f.a, 1),
            root("r2", &f.a, 2),
            finished(root("done", &f.a, 0), Status::Succeeded),
        ],
    );
    let claimed = claim(&*store, "a", 5000, 1000, &f.just_a, 1);
    assert_eq!(ids(&claimed), ["r1"]);
    let signal = |attempt: u64, signal: TaskSignal| StoredSignal {
        path: vec![0, attempt as u32],
        attempt,
        signal,
    };
    let success = signal(3, TaskSignal::Outcome(TaskOutcome::Ok(json!({"n": 1}))));
    let beat = signal(4, TaskSignal::Heartbeat);
    let failure = signal(
        5,
        TaskSignal::Outcome(TaskOutcome::Err {
            error: "E".into(),
            cause: "c".into(),
        }),
    );
    store.put_signal("r1", &success).unwrap();
    store.put_signal("r2", &beat).unwrap();
    store.put_signal("r1", &failure).unwrap();
    store.put_signal("done", &beat).unwrap();
    let kept = store.signals("a").unwrap();
    let of_a: Vec<(&str, &StoredSignal)> = kept.iter().map(|(_, e, s)| (e.as_str(), s)).collect();
    assert_eq!(of_a, [("r1", &success), ("r1", &failure)]);
    assert!(kept[0].0 < kept[1].0, "oldest first");
    assert!(store.signals("b").unwrap().is_empty(), "b holds nothing");
    store.drop_signals(&[kept[0].0]).unwrap();
    let left: Vec<u64> = store.signals("a").unwrap().iter().map(|k| k.0).collect();
    assert_eq!(left, [kept[1].0]);
    store.drop_signals(&[]).unwrap();
}

/// A Map's values are written as rows beside the state, which comes back complete; a value
/// written again under the same key replaces the stored one.
pub fn map_values_complete_the_stored_state_and_are_replaced_in_place(backend: &Backend) {
    let store = backend.open();
    let f = flows(&*store);
    let mut e = root("m", &f.a, 1);
    e.state.root = Some(Frame {
        vars: Default::default(),
        state: "Map".into(),
        input: json!([1, 2, 3]),
        entered_event: 2,
        entered_ms: 0,
        retries: Vec::new(),
        step: Step::Fanout(Box::new(Fanout {
            pending: [(2, json!(3))].into(),
            running: Default::default(),
            results: vec![Some(json!(10)), Some(Value::Null), None],
            max_concurrency: 0,
            failed: 0,
            tolerated_count: None,
            tolerated_percent: None,
            effective_input: json!([1, 2, 3]),
            failure: None,
        })),
        map_item: None,
    });
    let mut persisted = Persisted::default();
    let x = externalize(&mut e.state, &persisted);
    assert!(!x.state.to_string().contains("[1,2,3]"));
    let commit = |e: &StoredExecution, state: &Value, values: &[ScopeValue]| {
        let batch = Batch {
            executions: vec![ExecutionWrite {
                execution: e,
                new: e.version == 0,
                history: &[],
                state,
                values,
            }],
            ..Batch::default()
        };
        assert!(
            store
                .commit(lease("a", 1000), &batch)
                .unwrap()
                .lost
                .is_empty()
        );
    };
    commit(&e, &x.state, &x.values);
    assert_eq!(store.scope_values("m").unwrap().len(), 5);
    persisted.stored(&x);
    assert!(externalize(&mut e.state, &persisted).values.is_empty());
    let read = store.execution("m").unwrap().unwrap();
    let fan = |e: &StoredExecution| match e.state.root.as_ref().map(|f| &f.step) {
        Some(Step::Fanout(fan)) => (**fan).clone(),
        other => panic!("no fanout: {other:?}"),
    };
    assert_eq!(read.state.root.as_ref().unwrap().input, json!([1, 2, 3]));
    assert_eq!(
        fan(&read).results,
        [Some(json!(10)), Some(Value::Null), None]
    );
    assert_eq!(Vec::from(fan(&read).pending), [(2, json!(3))]);
    assert_eq!(fan(&read).effective_input, json!([1, 2, 3]));
    let again = ScopeValue {
        value: json!(11),
        ..x.values
            .into_iter()
            .find(|v| v.kind == ValueKind::Result)
            .unwrap()
    };
    e.version = 1;
    commit(&e, &x.state, &[again]);
    assert_eq!(store.scope_values("m").unwrap().len(), 5);
    let read = store.execution("m").unwrap().unwrap();
    assert_eq!(fan(&read).results[0], Some(json!(11)));
}

/// Messages to send: bodies `prefix-0`.. visible at `visible_ms`.
fn messages(prefix: &str, n: usize, visible_ms: i64) -> Vec<NewMessage> {
    (0..n)
        .map(|i| NewMessage {
            id: format!("{prefix}-{i}"),
            body: format!("body {prefix}-{i}"),
            attributes: json!({"n": {"DataType": "Number", "StringValue": i.to_string()}}),
            visible_ms,
        })
        .collect()
}

fn bodies(received: &[QueueMessage]) -> Vec<&str> {
    received.iter().map(|m| m.body.as_str()).collect()
}

fn settle(m: &QueueMessage, action: Settle) -> Settlement {
    Settlement {
        id: m.id.clone(),
        receive_count: m.receive_count,
        action,
    }
}

/// Messages visible earliest are taken first, a batch in the order they were sent, leased for a
/// while; a lease that ends
/// gives the message again with its receive counted; a settle of an older receive changes
/// nothing; delayed messages wait for their time.
pub fn queue_messages_are_received_in_order_and_leased(b: &Backend) {
    let store = b.open();
    store.queue_send("q", &messages("a", 3, 100), 100).unwrap();
    store
        .queue_send("q", &messages("late", 1, 5_000), 100)
        .unwrap();
    store
        .queue_send("other", &messages("o", 1, 100), 100)
        .unwrap();
    let first = store.queue_receive("q", 2, 1_000, 31_000).unwrap();
    assert_eq!(bodies(&first), ["body a-0", "body a-1"]);
    assert!(
        first
            .iter()
            .all(|m| m.receive_count == 1 && m.visible_ms == 31_000)
    );
    assert_eq!(first[0].attributes["n"]["StringValue"], "0");
    let rest = store.queue_receive("q", 10, 1_000, 31_000).unwrap();
    assert_eq!(
        bodies(&rest),
        ["body a-2"],
        "leased and delayed ones are not given"
    );
    let stats = store.queue_stats("q", 1_000).unwrap();
    assert_eq!((stats.ready, stats.delayed, stats.in_flight), (0, 1, 3));
    assert_eq!(stats.oldest_sent_ms, Some(100));
    // The lease of a-0 ends: it comes again, counted twice, with the delayed one now due.
    store
        .queue_settle("q", &[settle(&first[1], Settle::Delete)], 1_000)
        .unwrap();
    let again = store.queue_receive("q", 10, 40_000, 70_000).unwrap();
    assert_eq!(bodies(&again), ["body a-0", "body a-2", "body late-0"]);
    let a0 = again.iter().find(|m| m.id == "a-0").unwrap();
    assert_eq!(a0.receive_count, 2);
    // Settling the first receive of a-0 changes nothing; the second one deletes it.
    let stale = store
        .queue_settle("q", &[settle(&first[0], Settle::Delete)], 40_000)
        .unwrap();
    assert_eq!(stale, 0);
    let fresh = store
        .queue_settle("q", &[settle(a0, Settle::Delete)], 40_000)
        .unwrap();
    assert_eq!(fresh, 1);
    assert_eq!(store.queue_peek("q", 10, false).unwrap().len(), 2);
    assert_eq!(store.queue_peek("other", 10, false).unwrap().len(), 1);
}

/// A send onto many queues keeps every message on its queue, or, when one of them cannot be
/// kept (a taken id), none of them.
pub fn a_send_onto_many_queues_keeps_all_or_none(b: &Backend) {
    let store = b.open();
    let onto = |pairs: &[(&str, &str)]| -> Vec<(String, NewMessage)> {
        pairs
            .iter()
            .map(|(queue, id)| (queue.to_string(), messages(id, 1, 100).remove(0)))
            .collect()
    };
    store
        .queue_send_many(&onto(&[("a", "x"), ("b", "y"), ("a", "z")]), 100)
        .unwrap();
    let a = store.queue_receive("a", 10, 1_000, 2_000).unwrap();
    assert_eq!(bodies(&a), ["body x-0", "body z-0"]);
    assert_eq!(
        bodies(&store.queue_peek("b", 10, false).unwrap()),
        ["body y-0"]
    );
    let taken = store.queue_send_many(&onto(&[("c", "w"), ("d", "x")]), 100);
    assert!(taken.is_err(), "the id x-0 is taken");
    assert!(store.queue_peek("c", 10, false).unwrap().is_empty());
    assert!(store.queue_peek("d", 10, false).unwrap().is_empty());
}

/// Retries wait for their delay; out of retries a message moves to a dead-letter queue (its
/// count reset) or is kept as failed; both come back with a redrive; a purge empties a queue.
pub fn queue_settlements_retry_move_fail_and_redrive(b: &Backend) {
    let store = b.open();
    store.queue_send("q", &messages("m", 3, 0), 0).unwrap();
    let got = store.queue_receive("q", 3, 10, 30_010).unwrap();
    let settled = store
        .queue_settle(
            "q",
            &[
                settle(&got[0], Settle::VisibleAt(5_000)),
                settle(&got[1], Settle::MoveTo("dlq".into())),
                settle(&got[2], Settle::Fail("bad JSON".into())),
            ],
            20,
        )
        .unwrap();
    assert_eq!(settled, 3);
    assert!(
        store
            .queue_receive("q", 10, 4_999, 9_999)
            .unwrap()
            .is_empty()
    );
    let retried = store.queue_receive("q", 10, 5_000, 35_000).unwrap();
    assert_eq!(
        (bodies(&retried), retried[0].receive_count),
        (vec!["body m-0"], 2)
    );
    let dead = store.queue_peek("dlq", 10, false).unwrap();
    assert_eq!((dead[0].id.as_str(), dead[0].receive_count), ("m-1", 0));
    let failed = store.queue_peek("q", 10, true).unwrap();
    assert_eq!(failed[0].failed.as_deref(), Some("bad JSON"));
    assert_eq!(store.queue_stats("q", 5_000).unwrap().failed, 1);
    assert_eq!(store.queue_redrive("dlq", "q", 6_000).unwrap(), 1);
    assert_eq!(
        store.queue_redrive("q", "q", 6_000).unwrap(),
        1,
        "the failed one"
    );
    let back = store.queue_receive("q", 10, 6_000, 36_000).unwrap();
    let mut ids: Vec<&str> = back.iter().map(|m| m.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["m-1", "m-2"]);
    assert!(
        back.iter()
            .all(|m| m.receive_count == 1 && m.failed.is_none())
    );
    assert_eq!(store.queue_purge("q").unwrap(), 3);
    assert_eq!(
        store.queue_stats("q", 6_000).unwrap(),
        QueueStats::default()
    );
}

/// Consumers receiving at once never get the same message within a lease.
pub fn concurrent_receivers_split_a_queue(b: &Backend) {
    let store = b.open();
    store.queue_send("q", &messages("c", 200, 0), 0).unwrap();
    let seen: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let got = store.queue_receive("q", 7, 10, 60_000).unwrap();
                        if got.is_empty() {
                            return mine;
                        }
                        mine.extend(got.into_iter().map(|m| m.id));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (200, 200));
}

/// Exactly one of the processes sharing a store takes each due time of a schedule.
pub fn schedule_due_times_are_taken_once(b: &Backend) {
    let store = b.open();
    assert_eq!(store.trigger_next("nightly").unwrap(), None);
    assert!(store.trigger_advance("nightly", None, 1_000).unwrap());
    assert!(
        !store.trigger_advance("nightly", None, 2_000).unwrap(),
        "set already"
    );
    assert_eq!(store.trigger_next("nightly").unwrap(), Some(1_000));
    let takers: usize = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                s.spawn(move || {
                    store
                        .trigger_advance("nightly", Some(1_000), 61_000)
                        .unwrap()
                })
            })
            .collect();
        racers
            .into_iter()
            .filter_map(|r| r.join().unwrap().then_some(()))
            .count()
    });
    assert_eq!(takers, 1);
    assert_eq!(store.trigger_next("nightly").unwrap(), Some(61_000));
    assert_eq!(store.trigger_next("other").unwrap(), None);
}

/// A change of `key` from `before` to `after`, with an event named after both.
fn change(key: &str, before: Option<&str>, after: Option<&str>) -> ObjectChange {
    ObjectChange {
        key: key.to_string(),
        before: before.map(str::to_string),
        after: after.map(str::to_string),
        event: Some(ObjectEvent {
            id: format!("{key}@{}", after.unwrap_or("gone")),
            body: format!("{{\"key\":\"{key}\"}}"),
        }),
    }
}

/// A watch's objects change only from what the recorder read; each change's event is queued
/// once, comes back oldest first, and is gone once delivered. Watches do not see each other's.
pub fn object_changes_apply_once_and_queue_their_events(b: &Backend) {
    let store = b.open();
    assert_eq!(store.object_known("w", "raw/a.log").unwrap(), None);
    let first = [
        change("raw/b.log", None, Some("t1")),
        change("raw/a.log", None, Some("t1")),
    ];
    assert_eq!(store.object_record("w", &first).unwrap(), 2);
    // Seen again (a watcher after the writer): nothing applies, nothing is queued again.
    assert_eq!(store.object_record("w", &first).unwrap(), 0);
    assert_eq!(
        store.object_known("w", "raw/a.log").unwrap().as_deref(),
        Some("t1")
    );
    let racers: u64 = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                s.spawn(move || {
                    let update = change("raw/a.log", Some("t1"), Some("t2"));
                    store.object_record("w", &[update]).unwrap()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).sum()
    });
    assert_eq!(racers, 1, "one of the recorders applies the change");
    let delete = change("raw/b.log", Some("t1"), None);
    assert_eq!(store.object_record("w", &[delete]).unwrap(), 1);
    assert_eq!(
        store.object_known_page("w", None, 10).unwrap(),
        [("raw/a.log".to_string(), "t2".to_string())]
    );
    let pending = store.object_events("w", 10).unwrap();
    let ids: Vec<&str> = pending.iter().map(|p| p.event.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "raw/b.log@t1",
            "raw/a.log@t1",
            "raw/a.log@t2",
            "raw/b.log@gone"
        ]
    );
    assert_eq!(pending[1].event.body, r#"{"key":"raw/a.log"}"#);
    assert!(store.object_events("other", 10).unwrap().is_empty());
    assert!(
        store
            .object_known_page("other", None, 10)
            .unwrap()
            .is_empty()
    );
    let first_two: Vec<i64> = pending[..2].iter().map(|p| p.seq).collect();
    store.object_events_done("w", &first_two).unwrap();
    let left = store.object_events("w", 1).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event.id, "raw/a.log@t2");
}

/// The objects a watch knows come back in pages, in byte order of their keys.
pub fn known_objects_come_in_pages_in_key_order(b: &Backend) {
    let store = b.open();
    let keys = ["raw/b", "raw/B", "raw/a/z", "raw/a-1", "raw/\u{e9}"];
    let changes: Vec<ObjectChange> = keys
        .iter()
        .map(|k| ObjectChange {
            event: None,
            ..change(k, None, Some("t"))
        })
        .collect();
    assert_eq!(store.object_record("w", &changes).unwrap(), 5);
    assert!(store.object_events("w", 10).unwrap().is_empty());
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.object_known_page("w", after.as_deref(), 2).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|(k, _)| k.clone());
        seen.extend(page.into_iter().map(|(k, _)| k));
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort();
    assert_eq!(seen, sorted);
}

pub fn cdc_checkpoints_are_leased_fenced_and_reset(b: &Backend) {
    use sluice_engine::store::CdcCheckpoint;
    let store = b.open();
    assert_eq!(store.cdc_checkpoint("orders").unwrap(), None);
    assert!(store.cdc_lease("orders", "node-a", 1_000, 31_000).unwrap());
    let fresh = store.cdc_checkpoint("orders").unwrap().unwrap();
    assert_eq!(fresh.phase, "new");
    assert_eq!(fresh.position, 0);
    assert_eq!(fresh.owner.as_deref(), Some("node-a"));
    assert!(
        !store.cdc_lease("orders", "node-b", 2_000, 32_000).unwrap(),
        "held by node-a"
    );
    assert!(
        store.cdc_lease("orders", "node-a", 2_000, 32_000).unwrap(),
        "renewed"
    );
    let saved = CdcCheckpoint {
        source: "orders".into(),
        phase: "streaming".into(),
        position: u64::MAX >> 1,
        progress: json!({"tables": {"public.orders": {"rows": 10, "total": 10}}}),
        error: Some("slot lost".into()),
        owner: None,
        lease_until_ms: Some(40_000),
        updated_ms: 3_000,
    };
    assert!(!store.cdc_save("node-b", &saved).unwrap(), "fenced");
    assert!(store.cdc_save("node-a", &saved).unwrap());
    let read = store.cdc_checkpoint("orders").unwrap().unwrap();
    assert_eq!(
        read,
        CdcCheckpoint {
            owner: Some("node-a".into()),
            ..saved.clone()
        }
    );
    // Only one of several nodes racing for a free lease takes it.
    store.cdc_release("orders", "node-a").unwrap();
    let takers: usize = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4)
            .map(|i| {
                let store = store.clone();
                s.spawn(move || {
                    store
                        .cdc_lease("orders", &format!("racer-{i}"), 50_000, 80_000)
                        .unwrap()
                })
            })
            .collect();
        racers
            .into_iter()
            .filter_map(|r| r.join().unwrap().then_some(()))
            .count()
    });
    assert_eq!(takers, 1);
    // A lease that ended is taken over; the old owner's writes are refused.
    let winner = store
        .cdc_checkpoint("orders")
        .unwrap()
        .unwrap()
        .owner
        .unwrap();
    assert!(
        store
            .cdc_lease("orders", "node-c", 90_000, 120_000)
            .unwrap()
    );
    assert!(!store.cdc_save(&winner, &saved).unwrap());
    assert_eq!(
        store.cdc_checkpoint("orders").unwrap().unwrap().position,
        u64::MAX >> 1
    );
    assert!(store.cdc_lease("other", "node-c", 0, 1).unwrap());
    let names: Vec<String> = store
        .cdc_checkpoints()
        .unwrap()
        .into_iter()
        .map(|c| c.source)
        .collect();
    assert_eq!(names, ["orders", "other"]);
    assert!(store.cdc_reset("orders").unwrap());
    assert!(!store.cdc_reset("orders").unwrap());
    assert_eq!(store.cdc_checkpoint("orders").unwrap(), None);
    assert!(
        !store.cdc_save("node-c", &saved).unwrap(),
        "the reset took the lease"
    );
}

/// A storage-class record is kept per path, replaced by a put, forgotten by a put of `None`, and
/// swapped only from the record the caller read: of two restores started from one record, one
/// wins.
pub fn object_classes_are_kept_replaced_and_swapped_once(b: &Backend) {
    let store = b.open();
    let path = "raw/archive/a.csv";
    assert_eq!(store.object_class(path).unwrap(), None);
    let archived = ObjectClassRecord {
        e_tag: "t1".into(),
        class: "GLACIER".into(),
        restore_ready_ms: None,
        restore_expiry_ms: None,
    };
    store.object_class_put(path, Some(&archived)).unwrap();
    assert_eq!(store.object_class(path).unwrap(), Some(archived.clone()));
    let restoring = ObjectClassRecord {
        restore_ready_ms: Some(1_000),
        restore_expiry_ms: Some(86_401_000),
        ..archived.clone()
    };
    let other = ObjectClassRecord {
        restore_ready_ms: Some(2_000),
        ..restoring.clone()
    };
    assert!(
        store
            .object_class_swap(path, &archived, &restoring)
            .unwrap()
    );
    assert!(!store.object_class_swap(path, &archived, &other).unwrap());
    assert_eq!(store.object_class(path).unwrap(), Some(restoring.clone()));
    let restored_again = ObjectClassRecord {
        restore_expiry_ms: Some(172_801_000),
        ..restoring.clone()
    };
    assert!(
        store
            .object_class_swap(path, &restoring, &restored_again)
            .unwrap()
    );
    let replaced = ObjectClassRecord {
        e_tag: "t2".into(),
        class: "DEEP_ARCHIVE".into(),
        restore_ready_ms: None,
        restore_expiry_ms: None,
    };
    store.object_class_put(path, Some(&replaced)).unwrap();
    assert_eq!(store.object_class(path).unwrap(), Some(replaced));
    store.object_class_put(path, None).unwrap();
    assert_eq!(store.object_class(path).unwrap(), None);
    assert!(
        !store
            .object_class_swap(path, &restoring, &archived)
            .unwrap()
    );
}
