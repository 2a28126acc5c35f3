//! Storage, item readers, the result writer and the object integrations, run as one suite
//! against a local directory and against a real S3 server (`s3s-fs`).

mod backend;
mod suite;

/// Runs each suite case on both backends: `file::CASE` and `s3::CASE`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod file {
            $(
                #[test]
                fn $case() {
                    crate::suite::$case(&crate::backend::Backend::file());
                }
            )*
        }
        mod s3 {
            $(
                #[test]
                fn $case() {
                    if let Some(backend) = crate::backend::Backend::s3() {
                        crate::suite::$case(&backend);
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    csv_rows_become_objects_of_strings,
    csv_given_headers_and_delimiters,
    malformed_records_fail_alone_and_reading_goes_on,
    json_arrays_stream_element_by_element,
    max_items_and_skip,
    parquet_rows_become_typed_objects,
    a_missing_object_fails_the_read,
    a_large_object_is_read_in_ranges,
    listings_come_in_key_order_over_pages,
    path_listings_span_buckets,
    inventory_manifests_list_csv_data_files,
    results_are_written_as_step_functions_lays_them_out,
    results_in_parquet_read_back_as_items,
    object_integrations_get_put_copy_list,
    key_escapes_are_refused,
    functions_see_the_same_namespace,
    builtin_count_by_counts_an_object_and_names_malformed_lines,
    builtin_ack_acknowledges_every_batch,
    builtin_unzip_reads_ranges_and_writes_every_entry,
    builtin_append_objects_writes_a_replayed_batch_to_the_same_key,
    oss_actions_use_the_same_integrations,
    archived_objects_are_read_only_once_restored,
    integrations_copy_into_a_class_and_restore,
);
