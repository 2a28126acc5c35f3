//! Map states: the item processor, item sources, concurrency and distributed-mode settings.

use super::super::report::{At, Report};
use super::super::values;
use super::data::{self, jsonata_or};
use super::states::exclusive;
use super::{Ql, ScopeKind, StateCx, scope};

/// Longest Map `Label` accepted.
const MAX_LABEL: usize = 40;
/// Largest `MaxItems` an item reader accepts.
const MAX_ITEMS: i64 = 100_000_000;
/// Largest batch size in bytes (256 KiB).
const MAX_BATCH_BYTES: i64 = 262_144;

const READER_FIELDS: &[&str] = &["Resource", "Parameters", "Arguments", "ReaderConfig"];
const READER_CONFIG_FIELDS: &[&str] = &[
    "InputType",
    "CSVHeaderLocation",
    "CSVHeaders",
    "CSVDelimiter",
    "ItemsPointer",
    "Transformation",
    "ManifestType",
    "MaxItems",
    "MaxItemsPath",
];
const BATCHER_FIELDS: &[&str] = &[
    "MaxItemsPerBatch",
    "MaxItemsPerBatchPath",
    "MaxInputBytesPerBatch",
    "MaxInputBytesPerBatchPath",
    "BatchInput",
];
const WRITER_FIELDS: &[&str] = &["Resource", "Parameters", "Arguments", "WriterConfig"];

/// Checks a Map state.
pub(super) fn map(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    processor(r, cx);
    if let Some(at) = cx.field("ItemsPath") {
        data::path(r, &at, true);
    }
    if let Some(at) = cx.field("Items") {
        data::jsonata_value(r, &at);
    }
    if let Some(at) = cx.field("ItemSelector") {
        payload(r, &at, cx.ql);
    }
    number_pair(r, cx, "MaxConcurrency", |r, at| {
        values::integer(r, at, 0, i64::MAX);
    });
    number_pair(r, cx, "ToleratedFailurePercentage", |r, at| {
        values::number(r, at, 0.0, 100.0);
    });
    number_pair(r, cx, "ToleratedFailureCount", |r, at| {
        values::integer(r, at, 0, i64::MAX);
    });
    if let Some(at) = cx.field("Label")
        && let Some(label) = values::non_empty_string(r, &at)
        && label.chars().count() > MAX_LABEL
    {
        r.error(&at, format!("longer than {MAX_LABEL} characters"));
    }
    if let Some(at) = cx.field("ItemReader") {
        item_reader(r, &at, cx.ql);
    }
    if let Some(at) = cx.field("ItemBatcher") {
        item_batcher(r, &at, cx.ql);
    }
    if let Some(at) = cx.field("ResultWriter") {
        result_writer(r, &at, cx.ql);
    }
}

/// A JSONPath payload template or a JSONata value, by query language.
fn payload(r: &mut Report<'_>, at: &At<'_>, ql: Ql) {
    match ql {
        Ql::JsonPath => data::template(r, at),
        Ql::Jsonata => data::jsonata_value(r, at),
    }
}

/// A numeric field (JSONata expression allowed) and its exclusive `...Path` twin on the state.
fn number_pair(
    r: &mut Report<'_>,
    cx: &StateCx<'_, '_>,
    key: &str,
    typed: impl FnOnce(&mut Report<'_>, &At<'_>),
) {
    let path_key = format!("{key}Path");
    let literal = cx.field(key);
    let path = cx.field(&path_key);
    field_pair(r, literal, path, key, &path_key, cx.ql, typed);
}

/// Checks a literal field and its `...Path` twin, which are mutually exclusive.
fn field_pair(
    r: &mut Report<'_>,
    literal: Option<At<'_>>,
    path: Option<At<'_>>,
    key: &str,
    path_key: &str,
    ql: Ql,
    typed: impl FnOnce(&mut Report<'_>, &At<'_>),
) {
    if let (Some(_), Some(path)) = (&literal, &path) {
        exclusive(r, path, key, path_key);
    }
    if let Some(path) = path {
        data::path(r, &path, true);
    }
    if let Some(literal) = literal {
        jsonata_or(r, &literal, ql, typed);
    }
}

/// `ItemProcessor` (or the older `Iterator`): a closed scope with an optional `ProcessorConfig`.
fn processor(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    let processor = match (cx.field("ItemProcessor"), cx.field("Iterator")) {
        (None, None) => {
            r.missing(
                &cx.at,
                "ItemProcessor",
                "a Map state needs ItemProcessor, {StartAt, States} run for each item",
            );
            return;
        }
        (Some(processor), Some(iterator)) => {
            exclusive(r, &iterator, "ItemProcessor", "Iterator");
            processor
        }
        (Some(processor), None) | (None, Some(processor)) => processor,
    };
    if let Some(config) = processor.get("ProcessorConfig") {
        processor_config(r, &config);
        let express = config.get("ExecutionType").map(|t| t.value.as_str());
        if express == Some(Some("EXPRESS")) {
            super::express::express_scope(r, &processor);
        }
    }
    scope(r, cx.machine, &processor, ScopeKind::Processor);
}

fn processor_config(r: &mut Report<'_>, at: &At<'_>) {
    if !values::object(r, at) {
        return;
    }
    r.unknown_fields(at, &["Mode", "ExecutionType"], &|_| None);
    let mode = at
        .get("Mode")
        .and_then(|mode| values::one_of(r, &mode, &["INLINE", "DISTRIBUTED"]));
    let execution_type = at.get("ExecutionType");
    if let Some(execution_type) = &execution_type {
        values::one_of(r, execution_type, &["STANDARD", "EXPRESS"]);
    }
    if mode == Some("DISTRIBUTED") && execution_type.is_none() {
        r.missing(
            at,
            "ExecutionType",
            "a DISTRIBUTED Map needs ExecutionType, STANDARD or EXPRESS",
        );
    }
}

/// `ItemReader`: where a distributed Map reads its items from.
fn item_reader(r: &mut Report<'_>, at: &At<'_>, ql: Ql) {
    if !values::object(r, at) {
        return;
    }
    r.unknown_fields(at, READER_FIELDS, &|_| None);
    resource_and_parameters(r, at, ql, "an ItemReader");
    let Some(config) = at.get("ReaderConfig") else {
        return;
    };
    if !values::object(r, &config) {
        return;
    }
    r.unknown_fields(&config, READER_CONFIG_FIELDS, &|_| None);
    let enums: [(&str, &[&str]); 5] = [
        (
            "InputType",
            &["CSV", "JSON", "JSONL", "PARQUET", "MANIFEST"],
        ),
        ("CSVHeaderLocation", &["FIRST_ROW", "GIVEN"]),
        (
            "CSVDelimiter",
            &["COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"],
        ),
        ("Transformation", &["NONE", "LOAD_AND_FLATTEN"]),
        ("ManifestType", &["S3_INVENTORY", "ATHENA_DATA"]),
    ];
    for (key, allowed) in enums {
        if let Some(field) = config.get(key) {
            values::one_of(r, &field, allowed);
        }
    }
    if let Some(headers) = config.get("CSVHeaders") {
        for header in values::array(r, &headers, true).unwrap_or_default() {
            values::string(r, &header);
        }
    }
    let given = config
        .value
        .get("CSVHeaderLocation")
        .and_then(|v| v.as_str())
        == Some("GIVEN");
    if given && config.get("CSVHeaders").is_none() {
        r.missing(
            &config,
            "CSVHeaders",
            "CSVHeaderLocation GIVEN needs CSVHeaders, the column names",
        );
    }
    if let Some(pointer) = config.get("ItemsPointer") {
        values::string(r, &pointer);
    }
    field_pair(
        r,
        config.get("MaxItems"),
        config.get("MaxItemsPath"),
        "MaxItems",
        "MaxItemsPath",
        ql,
        |r, at| {
            values::integer(r, at, 0, MAX_ITEMS);
        },
    );
}

/// `ItemBatcher`: at least one size limit, and an optional `BatchInput`.
fn item_batcher(r: &mut Report<'_>, at: &At<'_>, ql: Ql) {
    if !values::object(r, at) {
        return;
    }
    r.unknown_fields(at, BATCHER_FIELDS, &|_| None);
    let sizes = [
        "MaxItemsPerBatch",
        "MaxItemsPerBatchPath",
        "MaxInputBytesPerBatch",
        "MaxInputBytesPerBatchPath",
    ];
    if !sizes.iter().any(|key| at.get(key).is_some()) {
        r.error(
            at,
            "an ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch (or their Path forms)",
        );
    }
    let items = (at.get("MaxItemsPerBatch"), at.get("MaxItemsPerBatchPath"));
    field_pair(
        r,
        items.0,
        items.1,
        "MaxItemsPerBatch",
        "MaxItemsPerBatchPath",
        ql,
        |r, at| {
            values::integer(r, at, 1, i64::MAX);
        },
    );
    let bytes = (
        at.get("MaxInputBytesPerBatch"),
        at.get("MaxInputBytesPerBatchPath"),
    );
    field_pair(
        r,
        bytes.0,
        bytes.1,
        "MaxInputBytesPerBatch",
        "MaxInputBytesPerBatchPath",
        ql,
        |r, at| {
            values::integer(r, at, 1, MAX_BATCH_BYTES);
        },
    );
    if let Some(input) = at.get("BatchInput") {
        payload(r, &input, ql);
    }
}

/// `ResultWriter`: `WriterConfig`, `Resource` with its parameters, or all of them.
fn result_writer(r: &mut Report<'_>, at: &At<'_>, ql: Ql) {
    if !values::object(r, at) {
        return;
    }
    r.unknown_fields(at, WRITER_FIELDS, &|_| None);
    let has_resource = at.get("Resource").is_some();
    let has_config = at.get("WriterConfig").is_some();
    if !has_resource && !has_config {
        r.error(
            at,
            "a ResultWriter needs WriterConfig, or Resource with its parameters",
        );
    }
    if has_resource || at.get("Parameters").is_some() || at.get("Arguments").is_some() {
        resource_and_parameters(r, at, ql, "a ResultWriter");
    }
    if let Some(config) = at.get("WriterConfig")
        && values::object(r, &config)
    {
        r.unknown_fields(&config, &["OutputType", "Transformation"], &|_| None);
        if let Some(field) = config.get("OutputType") {
            values::one_of(r, &field, &["JSON", "JSONL", "PARQUET"]);
        }
        if let Some(field) = config.get("Transformation") {
            values::one_of(r, &field, &["NONE", "COMPACT", "FLATTEN"]);
        }
    }
}

/// `Resource` (required) with `Parameters` (JSONPath) or `Arguments` (JSONata).
fn resource_and_parameters(r: &mut Report<'_>, at: &At<'_>, ql: Ql, what: &str) {
    match at.get("Resource") {
        Some(resource) => {
            values::non_empty_string(r, &resource);
        }
        None => r.missing(
            at,
            "Resource",
            &format!("{what} needs Resource, e.g. \"arn:aws:states:::s3:getObject\""),
        ),
    }
    let (own, other) = match ql {
        Ql::JsonPath => ("Parameters", "Arguments"),
        Ql::Jsonata => ("Arguments", "Parameters"),
    };
    if let Some(field) = at.get(other) {
        r.error(&field, format!("not allowed in a {} state", ql.name()))
            .hint(format!("use {own}"));
    }
    if let Some(field) = at.get(own) {
        payload(r, &field, ql);
    }
}
