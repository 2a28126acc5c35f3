//! The store suite: every case runs against the [`Store`](sluice_engine::store::Store) trait on
//! SQLite (a temporary file) and on PostgreSQL (a schema of its own on the server at
//! `$SLUICE_TEST_POSTGRES`; skipped when that server cannot be reached, unless
//! `SLUICE_REQUIRE_SERVICES=1`).

mod backend;
mod suite;

/// Runs each suite case on both backends: `sqlite::CASE` and `postgres::CASE`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    crate::suite::$case(&crate::backend::Backend::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    if let Some(backend) = crate::backend::Backend::postgres() {
                        crate::suite::$case(&backend);
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    definitions_are_idempotent_by_content_and_project,
    an_insert_then_compare_and_swap_updates_bump_the_version,
    a_stale_write_is_lost_with_its_history_map_runs_and_items,
    inserting_a_taken_id_is_lost,
    a_claim_takes_free_running_roots_with_descendants_and_open_runs,
    concurrent_claims_never_take_the_same_root,
    renew_extends_only_the_owners_leases,
    release_frees_the_owners_executions,
    after_a_lease_ends_another_owner_claims_and_the_first_loses,
    history_comes_in_pages,
    list_with_and_without_children,
    map_runs_and_items_come_back_in_order_and_pages,
    reopening_is_idempotent_and_concurrent_first_opens_agree,
    a_newer_schema_is_refused_as_corrupt,
    calls_work_inside_and_outside_a_tokio_runtime,
    a_dropped_connection_is_opened_again,
    a_claim_for_one_root_takes_that_root_only,
    stop_requests_reach_the_owner_and_end_with_the_execution,
    map_values_complete_the_stored_state_and_are_replaced_in_place,
    task_signals_reach_the_owner_in_order_until_dropped,
    queue_messages_are_received_in_order_and_leased,
    queue_settlements_retry_move_fail_and_redrive,
    a_send_onto_many_queues_keeps_all_or_none,
    concurrent_receivers_split_a_queue,
    schedule_due_times_are_taken_once,
    object_changes_apply_once_and_queue_their_events,
    known_objects_come_in_pages_in_key_order,
    cdc_checkpoints_are_leased_fenced_and_reset,
    object_classes_are_kept_replaced_and_swapped_once,
);
