//! The cases every backend must pass.

use crate::backend::{BUCKET, Backend};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use object_store::GetRange;
use serde_json::{Map, Value, json};
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target, TaskError};
use sluice_engine::items::{ItemOutcome, ItemStore, ReadItem};
use sluice_io::writer::WriterOptions;
use sluice_io::{
    BuiltinFunction, BuiltinFunctions, ClassMode, Handler, ObjectIntegrations, ObjectItemStore,
    ObjectOptions, ObjectRef, ReadOptions, RestoreStarted, RestoreStatus, Storage, StorageClass,
    StorageError,
};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn object(key: &str) -> ObjectRef {
    ObjectRef::new(BUCKET, key).unwrap()
}

fn put(b: &Backend, key: &str, data: impl Into<Bytes>) {
    b.runtime
        .block_on(b.storage.put(&object(key), data.into()))
        .unwrap();
}

fn get(b: &Backend, key: &str) -> Bytes {
    b.runtime
        .block_on(b.storage.get(&object(key)))
        .unwrap()
        .data
}

fn store(b: &Backend) -> ObjectItemStore {
    ObjectItemStore::new(b.storage.clone(), b.runtime.handle().clone())
}

fn get_object_reader(key: &str, config: Value) -> Value {
    json!({
        "Resource": "arn:aws:states:::s3:getObject",
        "Parameters": {"Bucket": BUCKET, "Key": key},
        "ReaderConfig": config,
    })
}

fn read_with(
    store: &ObjectItemStore,
    reader: &Value,
    skip: u64,
) -> Vec<Result<ReadItem, TaskError>> {
    store.read(reader, skip).unwrap().collect()
}

/// Well-formed items; panics on anything else.
fn items(b: &Backend, reader: &Value) -> Vec<Value> {
    read_with(&store(b), reader, 0)
        .into_iter()
        .map(|r| match r {
            Ok(ReadItem::Item(v)) => v,
            other => panic!("{}: {other:?}", b.name),
        })
        .collect()
}

pub fn csv_rows_become_objects_of_strings(b: &Backend) {
    put(
        b,
        "in/people.csv",
        "name,city,note\r\n\
         \"Smith, Jo\",\"Paris\",\"said \"\"hi\"\"\"\r\n\
         Lee,Oslo,\"two\nlines\"\r\n\
         \r\n\
         short,row\r\n\
         long,row,x,extra\r\n",
    );
    let got = items(
        b,
        &get_object_reader("in/people.csv", json!({"InputType": "CSV"})),
    );
    assert_eq!(
        got,
        vec![
            json!({"name": "Smith, Jo", "city": "Paris", "note": "said \"hi\""}),
            json!({"name": "Lee", "city": "Oslo", "note": "two\nlines"}),
            json!({"name": "short", "city": "row", "note": ""}),
            json!({"name": "long", "city": "row", "note": "x"}),
        ],
        "{}",
        b.name
    );
}

pub fn csv_given_headers_and_delimiters(b: &Backend) {
    put(b, "in/pipe.csv", "1|a b|x\n2|c|\n");
    let reader = get_object_reader(
        "in/pipe.csv",
        json!({"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["id", "text", "tag"], "CSVDelimiter": "PIPE"}),
    );
    assert_eq!(
        items(b, &reader),
        vec![
            json!({"id": "1", "text": "a b", "tag": "x"}),
            json!({"id": "2", "text": "c", "tag": ""}),
        ]
    );
    put(b, "in/tab.tsv", "k\tv\nx\t1,2\n");
    let reader = get_object_reader(
        "in/tab.tsv",
        json!({"InputType": "CSV", "CSVDelimiter": "TAB"}),
    );
    assert_eq!(items(b, &reader), vec![json!({"k": "x", "v": "1,2"})]);
    put(b, "in/semi.csv", "a;b\n1;2\n");
    let reader = get_object_reader(
        "in/semi.csv",
        json!({"InputType": "CSV", "CSVDelimiter": "SEMICOLON"}),
    );
    assert_eq!(items(b, &reader), vec![json!({"a": "1", "b": "2"})]);
    put(b, "in/space.csv", "a b\n1 \"2 3\"\n");
    let reader = get_object_reader(
        "in/space.csv",
        json!({"InputType": "CSV", "CSVDelimiter": "SPACE"}),
    );
    assert_eq!(items(b, &reader), vec![json!({"a": "1", "b": "2 3"})]);
}

pub fn malformed_records_fail_alone_and_reading_goes_on(b: &Backend) {
    let mut csv = b"id,v\n1,ok\n2,\"closed\"junk\n3,\xff\xfe\n4,fine\n".to_vec();
    csv.extend_from_slice(b"5,\"never closed\n");
    put(b, "in/bad.csv", csv);
    let got = read_with(
        &store(b),
        &get_object_reader("in/bad.csv", json!({"InputType": "CSV"})),
        0,
    );
    assert_eq!(got.len(), 5, "{}: {got:?}", b.name);
    assert_eq!(got[0], Ok(ReadItem::Item(json!({"id": "1", "v": "ok"}))));
    for (i, line) in [(1, 3), (2, 4), (4, 6)] {
        match &got[i] {
            Ok(ReadItem::Malformed(e)) => {
                assert_eq!(e.error, "States.ItemReaderFailed");
                let expected = format!("{BUCKET}/in/bad.csv line {line}: ");
                assert!(e.cause.starts_with(&expected), "{}", e.cause);
            }
            other => panic!("{}: item {i}: {other:?}", b.name),
        }
    }
    assert_eq!(got[3], Ok(ReadItem::Item(json!({"id": "4", "v": "fine"}))));

    put(b, "in/bad.jsonl", "{\"n\": 1}\n{\"n\": \n{\"n\": 3}\n");
    let got = read_with(
        &store(b),
        &get_object_reader("in/bad.jsonl", json!({"InputType": "JSONL"})),
        0,
    );
    assert_eq!(got[0], Ok(ReadItem::Item(json!({"n": 1}))));
    match &got[1] {
        Ok(ReadItem::Malformed(e)) => assert!(
            e.cause
                .starts_with(&format!("{BUCKET}/in/bad.jsonl line 2: ")),
            "{}",
            e.cause
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(got[2], Ok(ReadItem::Item(json!({"n": 3}))));
}

pub fn json_arrays_stream_element_by_element(b: &Backend) {
    put(
        b,
        "in/a.json",
        "[{\"id\": 1, \"s\": \"],\"}, [2], \"three\", 4]",
    );
    let got = items(
        b,
        &get_object_reader("in/a.json", json!({"InputType": "JSON"})),
    );
    assert_eq!(
        got,
        vec![
            json!({"id": 1, "s": "],"}),
            json!([2]),
            json!("three"),
            json!(4)
        ]
    );
    put(
        b,
        "in/nested.json",
        r#"{"meta": {"n": 2}, "data": {"rows": [{"r": 1}, {"r": 2}]}}"#,
    );
    let got = items(
        b,
        &get_object_reader(
            "in/nested.json",
            json!({"InputType": "JSON", "ItemsPointer": "/data/rows"}),
        ),
    );
    assert_eq!(got, vec![json!({"r": 1}), json!({"r": 2})]);
    put(b, "in/lines.jsonl", "{\"a\": 1}\n\n[1, 2]\n\"x\"\n");
    let got = items(
        b,
        &get_object_reader("in/lines.jsonl", json!({"InputType": "JSONL"})),
    );
    assert_eq!(got, vec![json!({"a": 1}), json!([1, 2]), json!("x")]);
    let reader = json!({
        "SourceType": "OSS_JSON_LIST",
        "SourceParameters": {"Bucket": BUCKET, "ObjectName": "in/a.json"},
        "MaxItems": 2,
    });
    assert_eq!(items(b, &reader).len(), 2);
}

/// A Parquet file of two row groups (snappy pages): `id` int64, `name` optional UTF-8 (a null
/// in the second group), `score` double, `ok` boolean.
fn parquet_file() -> Vec<u8> {
    use parquet::basic::Compression;
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = parse_message_type(
        "message rows { required int64 id; optional binary name (UTF8); required double score; required boolean ok; }",
    )
    .unwrap();
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut writer =
        SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(properties)).unwrap();
    for group in 0..2i64 {
        let ids: Vec<i64> = (group * 3..group * 3 + 3).collect();
        let names: Vec<ByteArray> = ["ada", "bo", "cy", "dee", "eve"]
            .iter()
            .skip(group as usize * 3)
            .take(if group == 0 { 3 } else { 2 })
            .map(|n| ByteArray::from(*n))
            .collect();
        let defined: Vec<i16> = if group == 0 {
            vec![1, 1, 1]
        } else {
            vec![1, 0, 1]
        };
        let scores: Vec<f64> = ids.iter().map(|i| *i as f64 + 0.5).collect();
        let oks: Vec<bool> = ids.iter().map(|i| i % 2 == 0).collect();
        let mut row_group = writer.next_row_group().unwrap();
        let mut column = 0;
        while let Some(mut writer) = row_group.next_column().unwrap() {
            match column {
                0 => writer.typed::<Int64Type>().write_batch(&ids, None, None),
                1 => writer
                    .typed::<ByteArrayType>()
                    .write_batch(&names, Some(&defined), None),
                2 => writer
                    .typed::<DoubleType>()
                    .write_batch(&scores, None, None),
                _ => writer.typed::<BoolType>().write_batch(&oks, None, None),
            }
            .unwrap();
            writer.close().unwrap();
            column += 1;
        }
        row_group.close().unwrap();
    }
    writer.close().unwrap();
    out
}

pub fn parquet_rows_become_typed_objects(b: &Backend) {
    put(b, "in/rows.parquet", parquet_file());
    put(b, "in/not.parquet", "id,name\n1,x\n");
    let reader = get_object_reader("in/rows.parquet", json!({"InputType": "PARQUET"}));
    if cfg!(not(feature = "parquet")) {
        let e = store(b).read(&reader, 0).err().expect("no Parquet reader");
        assert!(e.cause.contains("`parquet` feature"), "{}", e.cause);
        return;
    }
    assert_eq!(
        items(b, &reader),
        vec![
            json!({"id": 0, "name": "ada", "score": 0.5, "ok": true}),
            json!({"id": 1, "name": "bo", "score": 1.5, "ok": false}),
            json!({"id": 2, "name": "cy", "score": 2.5, "ok": true}),
            json!({"id": 3, "name": "dee", "score": 3.5, "ok": false}),
            json!({"id": 4, "name": null, "score": 4.5, "ok": true}),
            json!({"id": 5, "name": "eve", "score": 5.5, "ok": false}),
        ]
    );
    // Resuming skips what a previous run took, across the row groups.
    let rest: Vec<Value> = read_with(&store(b), &reader, 4)
        .into_iter()
        .map(|r| match r {
            Ok(ReadItem::Item(v)) => v["id"].clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(rest, vec![json!(4), json!(5)]);
    let bad = get_object_reader("in/not.parquet", json!({"InputType": "PARQUET"}));
    let e = store(b).read(&bad, 0).err().expect("not a Parquet file");
    assert!(
        e.cause
            .starts_with(&format!("{BUCKET}/in/not.parquet: not a Parquet file")),
        "{}",
        e.cause
    );
}

pub fn max_items_and_skip(b: &Backend) {
    let lines: String = (0..10).map(|i| format!("{{\"i\": {i}}}\n")).collect();
    put(b, "in/ten.jsonl", lines);
    let reader = get_object_reader("in/ten.jsonl", json!({"InputType": "JSONL", "MaxItems": 6}));
    let got: Vec<Value> = read_with(&store(b), &reader, 4)
        .into_iter()
        .map(|r| match r {
            Ok(ReadItem::Item(v)) => v,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, vec![json!({"i": 4}), json!({"i": 5})]);
    let reader = get_object_reader("in/ten.jsonl", json!({"InputType": "JSONL"}));
    assert_eq!(read_with(&store(b), &reader, 8).len(), 2);
    assert_eq!(read_with(&store(b), &reader, 50).len(), 0);
}

pub fn a_missing_object_fails_the_read(b: &Backend) {
    let reader = get_object_reader("in/absent.csv", json!({"InputType": "CSV"}));
    let e = match store(b).read(&reader, 0) {
        Err(e) => e,
        Ok(mut items) => items.next().unwrap().unwrap_err(),
    };
    assert_eq!(e.error, "States.ItemReaderFailed");
    assert!(
        e.cause.contains("bkt/in/absent.csv"),
        "{}: {}",
        b.name,
        e.cause
    );
    assert!(
        e.cause.contains("no such object"),
        "{}: {}",
        b.name,
        e.cause
    );
}

pub fn a_large_object_is_read_in_ranges(b: &Backend) {
    const CHUNK: u64 = 1024 * 1024;
    let line = |i: usize| format!("{{\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(1000));
    let lines = 50 * 1024;
    let object = object("big/data.jsonl");
    b.runtime.block_on(async {
        let mut writer = b.storage.writer(&object, 5 * 1024 * 1024);
        for i in 0..lines {
            writer.write_all(line(i).as_bytes()).await.unwrap();
        }
        writer.shutdown().await.unwrap();
    });
    let size = b
        .runtime
        .block_on(b.storage.head(&object, None))
        .unwrap()
        .size;
    assert!(size > 50_000_000, "{size}");
    b.clear_reads();
    let store = store(b).with_read_options(ReadOptions {
        chunk_bytes: CHUNK,
        ..ReadOptions::default()
    });
    let reader = get_object_reader("big/data.jsonl", json!({"InputType": "JSONL"}));
    let mut count = 0;
    for item in store.read(&reader, 0).unwrap() {
        match item {
            Ok(ReadItem::Item(v)) => assert_eq!(v["i"], count),
            other => panic!("{other:?}"),
        }
        count += 1;
    }
    assert_eq!(count, lines);
    let reads = b.recorded_reads();
    assert_eq!(reads.len() as u64, size.div_ceil(CHUNK), "{}", b.name);
    for (n, range) in reads.iter().enumerate() {
        match range {
            Some(GetRange::Bounded(r)) => {
                assert_eq!(r.start, n as u64 * CHUNK);
                assert!(r.end - r.start <= CHUNK);
            }
            other => panic!("{}: read {n} was not a bounded range: {other:?}", b.name),
        }
    }
}

pub fn listings_come_in_key_order_over_pages(b: &Backend) {
    for key in [
        "list/b.txt",
        "list/a/2.txt",
        "list/a-1.txt",
        "list/a/1.txt",
        "list/c/d/e.txt",
        "list/a0.txt",
        "listing-other.txt",
        "lis.txt",
    ] {
        put(b, key, format!("{key}\n"));
    }
    let store = store(b).with_read_options(ReadOptions {
        page_size: 2,
        ..ReadOptions::default()
    });
    let reader = json!({
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Arguments": {"Bucket": BUCKET, "Prefix": "list/"},
    });
    let got: Vec<Value> = read_with(&store, &reader, 0)
        .into_iter()
        .map(|r| match r {
            Ok(ReadItem::Item(v)) => v,
            other => panic!("{other:?}"),
        })
        .collect();
    let keys: Vec<&str> = got.iter().map(|v| v["Key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "list/a-1.txt",
            "list/a/1.txt",
            "list/a/2.txt",
            "list/a0.txt",
            "list/b.txt",
            "list/c/d/e.txt"
        ],
        "{}",
        b.name
    );
    let first = got[0].as_object().unwrap();
    let fields: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        ["Etag", "Key", "LastModified", "Size", "StorageClass"]
    );
    assert_eq!(first["Size"], json!("list/a-1.txt\n".len()));
    assert!(first["LastModified"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(first["StorageClass"], "STANDARD");

    let partial = json!({
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": BUCKET, "Prefix": "list/a"},
        "ReaderConfig": {"MaxItems": 3},
    });
    let keys: Vec<String> = read_with(&store, &partial, 1)
        .into_iter()
        .map(|r| match r {
            Ok(ReadItem::Item(v)) => v["Key"].as_str().unwrap().to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(keys, ["list/a/1.txt", "list/a/2.txt"]);

    let loaded = json!({
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": BUCKET, "Prefix": "list/a/"},
        "ReaderConfig": {"Transformation": "LOAD_AND_FLATTEN", "InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["line"]},
    });
    assert_eq!(
        items(b, &loaded),
        vec![
            json!({"line": "list/a/1.txt"}),
            json!({"line": "list/a/2.txt"})
        ]
    );
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

pub fn path_listings_span_buckets(b: &Backend) {
    use futures_util::TryStreamExt;
    for (bucket, key) in [
        (BUCKET, "p/2.txt"),
        (BUCKET, "p/1.txt"),
        ("bkt2", "p/3.txt"),
        ("other", "x.txt"),
    ] {
        let object = ObjectRef::new(bucket, key).unwrap();
        b.runtime
            .block_on(b.storage.put(&object, Bytes::from_static(b"x")))
            .unwrap();
    }
    let list = |prefix: &str, after: Option<&str>| -> Vec<String> {
        let listing = b.storage.list_paths(prefix, after).unwrap();
        b.runtime
            .block_on(listing.map_ok(|o| o.key).try_collect())
            .unwrap()
    };
    assert_eq!(
        list("bkt", None),
        ["bkt/p/1.txt", "bkt/p/2.txt", "bkt2/p/3.txt"],
        "{}",
        b.name
    );
    assert_eq!(
        list("", Some("bkt2/p/3.txt")),
        ["other/x.txt"],
        "{}",
        b.name
    );
    assert!(b.storage.list_paths("../x", None).is_err(), "{}", b.name);
}

pub fn inventory_manifests_list_csv_data_files(b: &Backend) {
    put(
        b,
        "inv/data/1.csv",
        "\"src\",\"a/1.txt\",\"10\"\n\"src\",\"a/2.txt\",\"20\"\n",
    );
    put(b, "inv/data/2.csv.gz", gzip("\"src\",\"b/3.txt\",\"30\"\n"));
    let manifest = json!({
        "sourceBucket": "src",
        "destinationBucket": format!("arn:aws:s3:::{BUCKET}"),
        "version": "2016-11-30",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": [
            {"key": "inv/data/1.csv", "size": 40, "MD5checksum": "x"},
            {"key": "inv/data/2.csv.gz", "size": 20, "MD5checksum": "y"},
        ]
    });
    put(b, "inv/manifest.json", manifest.to_string());
    let reader = get_object_reader("inv/manifest.json", json!({"InputType": "MANIFEST"}));
    assert_eq!(
        items(b, &reader),
        vec![
            json!({"Bucket": "src", "Key": "a/1.txt", "Size": "10"}),
            json!({"Bucket": "src", "Key": "a/2.txt", "Size": "20"}),
            json!({"Bucket": "src", "Key": "b/3.txt", "Size": "30"}),
        ],
        "{}",
        b.name
    );
    let fdl = json!({
        "SourceType": "OSS_INVENTORY_FILES",
        "SourceParameters": {"Bucket": BUCKET, "ObjectName": "inv/manifest.json"},
    });
    assert_eq!(items(b, &fdl).len(), 3);

    put(b, "athena/part-0", "{\"r\": 0}\n");
    put(b, "athena/part-1", "{\"r\": 1}\n{\"r\": 2}\n");
    put(
        b,
        "athena/run-manifest.csv",
        format!("s3://{BUCKET}/athena/part-0\ns3://{BUCKET}/athena/part-1\n"),
    );
    let reader = get_object_reader(
        "athena/run-manifest.csv",
        json!({"ManifestType": "ATHENA_DATA", "InputType": "JSONL"}),
    );
    assert_eq!(
        items(b, &reader),
        vec![json!({"r": 0}), json!({"r": 1}), json!({"r": 2})]
    );
}

fn outcome(status: &str, i: usize) -> ItemOutcome {
    ItemOutcome {
        status: status.to_string(),
        entry: json!({
            "ExecutionArn": format!("arn:aws:states:us-east-1:000000000000:execution:sm/Map:{i}"),
            "Input": format!("{{\"i\":{i}}}"),
            "Output": format!("[{i},{}]", i * 10),
            "Status": status,
        }),
    }
}

/// `WriterConfig.OutputType: PARQUET`: successful outputs become typed columns (inferred from
/// the first row group: a field with mixed kinds is JSON text), failed entries are written whole,
/// and the PARQUET ItemReader reads every record back in order.
pub fn results_in_parquet_read_back_as_items(b: &Backend) {
    let writer = json!({
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": BUCKET, "Prefix": "pq"},
        "WriterConfig": {"OutputType": "PARQUET", "Transformation": "COMPACT"},
    });
    let run = "arn:aws:states:us-east-1:000000000000:mapRun:sm/Map:pq-1";
    let success = |output: Value| ItemOutcome {
        status: "SUCCEEDED".into(),
        entry: json!({"Output": output.to_string(), "Status": "SUCCEEDED"}),
    };
    let mut outcomes: Vec<ItemOutcome> = (0..20)
        .map(|i| success(json!({"word": format!("w{i}"), "count": i, "share": 0.5})))
        .collect();
    outcomes.push(success(json!({"word": "late", "count": "many"})));
    outcomes.push(outcome("FAILED", 21));
    let written = store(b).write_results(&writer, run, &mut outcomes.into_iter());
    if cfg!(not(feature = "parquet")) {
        let e = written.expect_err("no Parquet writer");
        assert!(e.cause.contains("cargo feature 'parquet'"), "{}", e.cause);
        return;
    }
    written.unwrap();
    let manifest = read_json(b, "pq/pq-1/manifest.json");
    let keys = |status: &str| -> Vec<String> {
        manifest["ResultFiles"][status]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["Key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(keys("SUCCEEDED"), ["pq/pq-1/SUCCEEDED_0.parquet"]);
    let rows = |key: &str| items(b, &get_object_reader(key, json!({"InputType": "PARQUET"})));
    let succeeded = rows("pq/pq-1/SUCCEEDED_0.parquet");
    assert_eq!(succeeded.len(), 21);
    assert_eq!(
        succeeded[7],
        json!({"word": "w7", "count": "7", "share": 0.5})
    );
    assert_eq!(
        succeeded[20],
        json!({"word": "late", "count": "\"many\"", "share": null})
    );
    let failed = rows(&keys("FAILED")[0]);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["Status"], "FAILED");
    assert_eq!(failed[0]["Input"], "{\"i\":21}");
}

fn read_json(b: &Backend, key: &str) -> Value {
    serde_json::from_slice(&get(b, key)).unwrap()
}

pub fn results_are_written_as_step_functions_lays_them_out(b: &Backend) {
    let statuses = [
        "SUCCEEDED",
        "FAILED",
        "SUCCEEDED",
        "PENDING",
        "SUCCEEDED",
        "TIMED_OUT",
    ];
    let outcomes: Vec<ItemOutcome> = (0..30).map(|i| outcome(statuses[i % 6], i)).collect();
    let store = store(b).with_writer_options(WriterOptions {
        max_file_bytes: 500,
        ..WriterOptions::default()
    });
    let arn =
        "arn:aws:states:us-east-1:000000000000:mapRun:sm/Map:6dbfba93-bcff-410b-9b5c-abf41ae9eddb";
    let writer = json!({
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": BUCKET, "Prefix": "results/"},
    });
    let result = store
        .write_results(&writer, arn, &mut outcomes.clone().into_iter())
        .unwrap();
    let manifest_key = "results/6dbfba93-bcff-410b-9b5c-abf41ae9eddb/manifest.json";
    assert_eq!(
        result,
        json!({"MapRunArn": arn, "ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}})
    );
    let manifest = read_json(b, manifest_key);
    assert_eq!(manifest["DestinationBucket"], BUCKET);
    assert_eq!(manifest["MapRunArn"], arn);
    let files = manifest["ResultFiles"].as_object().unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["FAILED", "PENDING", "SUCCEEDED"]
    );
    for (status, expected) in [("SUCCEEDED", 15), ("FAILED", 10), ("PENDING", 5)] {
        let listed = files[status].as_array().unwrap();
        let mut records = Vec::new();
        for (n, file) in listed.iter().enumerate() {
            let key = file["Key"].as_str().unwrap();
            assert_eq!(
                key,
                format!("results/6dbfba93-bcff-410b-9b5c-abf41ae9eddb/{status}_{n}.json")
            );
            let bytes = get(b, key);
            assert_eq!(file["Size"], json!(bytes.len()), "{key}");
            assert!(bytes.len() <= 500, "{key} is {} bytes", bytes.len());
            let array: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
            records.extend(array);
        }
        assert!(
            listed.len() > 1,
            "{status}: the files should have been split"
        );
        let wanted: Vec<Value> = outcomes
            .iter()
            .filter(|o| match status {
                "FAILED" => o.status == "FAILED" || o.status == "TIMED_OUT",
                s => o.status == s,
            })
            .map(|o| o.entry.clone())
            .collect();
        assert_eq!(records.len(), expected);
        assert_eq!(records, wanted, "{status} records in item order");
    }

    let writer = json!({
        "Resource": "arn:aws:states:::s3:putObject",
        "Arguments": {"Bucket": BUCKET, "Prefix": "flat"},
        "WriterConfig": {"OutputType": "JSONL", "Transformation": "FLATTEN"},
    });
    let run = "arn:aws:states:us-east-1:000000000000:mapRun:sm/Map:run-2";
    let mut few = vec![outcome("SUCCEEDED", 1), outcome("SUCCEEDED", 2)].into_iter();
    store.write_results(&writer, run, &mut few).unwrap();
    let manifest = read_json(b, "flat/run-2/manifest.json");
    assert_eq!(manifest["ResultFiles"]["FAILED"], json!([]));
    let text = get(b, "flat/run-2/SUCCEEDED_0.json");
    assert_eq!(std::str::from_utf8(&text).unwrap(), "1\n10\n2\n20\n");
}

/// Records what reached it; answers `{"fallback": true}`.
struct Fallback(Mutex<Vec<String>>);

impl Invoker for Fallback {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let name = match &request.target {
            Target::Function { name, .. } => name.clone(),
            Target::Integration(resource) => resource.clone(),
        };
        self.0.lock().unwrap().push(name);
        Box::pin(async { Ok(json!({"fallback": true})) })
    }
}

fn call(
    b: &Backend,
    invoker: &ObjectIntegrations,
    resource: &str,
    payload: Value,
) -> Result<Value, TaskError> {
    b.runtime.block_on(invoker.invoke(InvokeRequest {
        target: Target::Integration(resource.to_string()),
        resource: resource.to_string(),
        payload,
        idempotency_key: "k".into(),
        execution: "e".into(),
        timeout_seconds: None,
    }))
}

pub fn object_integrations_get_put_copy_list(b: &Backend) {
    let fallback = Arc::new(Fallback(Mutex::new(Vec::new())));
    let s3 = ObjectIntegrations::new(b.storage.clone(), fallback.clone());
    let sdk = |action: &str| format!("arn:aws:states:::aws-sdk:s3:{action}");

    let put = call(
        b,
        &s3,
        &sdk("putObject"),
        json!({"Bucket": BUCKET, "Key": "io/a.txt", "Body": "hello"}),
    )
    .unwrap();
    assert!(put["ETag"].as_str().unwrap().starts_with('"'), "{put}");
    call(
        b,
        &s3,
        &sdk("putObject"),
        json!({"Bucket": BUCKET, "Key": "io/doc.json", "Body": {"n": 1}}),
    )
    .unwrap();
    assert_eq!(read_json(b, "io/doc.json"), json!({"n": 1}));

    let got = call(
        b,
        &s3,
        &sdk("getObject"),
        json!({"Bucket": BUCKET, "Key": "io/a.txt"}),
    )
    .unwrap();
    assert_eq!(got["Body"], "hello");
    assert_eq!(got["ContentLength"], 5);
    let part = call(
        b,
        &s3,
        "arn:aws:states:::s3:getObject",
        json!({"Bucket": BUCKET, "Key": "io/a.txt", "Range": "bytes=1-3"}),
    )
    .unwrap();
    assert_eq!(part["Body"], "ell");

    let copied = call(b, &s3, &sdk("copyObject"), json!({"Bucket": BUCKET, "Key": "io/sub/b.txt", "CopySource": format!("{BUCKET}/io/a.txt")})).unwrap();
    assert!(copied["CopyObjectResult"]["ETag"].is_string(), "{copied}");
    assert_eq!(get(b, "io/sub/b.txt"), "hello");

    let head = call(
        b,
        &s3,
        &sdk("headObject"),
        json!({"Bucket": BUCKET, "Key": "io/sub/b.txt"}),
    )
    .unwrap();
    assert_eq!(head["ContentLength"], 5);

    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut params = json!({"Bucket": BUCKET, "Prefix": "io/", "MaxKeys": 2});
        if let Some(t) = &token {
            params["ContinuationToken"] = json!(t);
        }
        let page = call(b, &s3, &sdk("listObjectsV2"), params).unwrap();
        pages += 1;
        assert_eq!(page["Name"], BUCKET);
        assert_eq!(page["KeyCount"], page["Contents"].as_array().unwrap().len());
        keys.extend(
            page["Contents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["Key"].as_str().unwrap().to_string()),
        );
        match page["IsTruncated"].as_bool().unwrap() {
            true => token = Some(page["NextContinuationToken"].as_str().unwrap().to_string()),
            false => break,
        }
    }
    assert_eq!(keys, ["io/a.txt", "io/doc.json", "io/sub/b.txt"]);
    assert_eq!(pages, 2);
    let folders = call(
        b,
        &s3,
        &sdk("listObjectsV2"),
        json!({"Bucket": BUCKET, "Prefix": "io/", "Delimiter": "/"}),
    )
    .unwrap();
    assert_eq!(folders["CommonPrefixes"], json!([{"Prefix": "io/sub/"}]));
    assert_eq!(folders["KeyCount"], 3);

    call(
        b,
        &s3,
        &sdk("deleteObject"),
        json!({"Bucket": BUCKET, "Key": "io/sub/b.txt"}),
    )
    .unwrap();
    let missing = call(
        b,
        &s3,
        &sdk("getObject"),
        json!({"Bucket": BUCKET, "Key": "io/sub/b.txt"}),
    )
    .unwrap_err();
    assert_eq!(missing.error, "S3.NoSuchKeyException", "{}", missing.cause);
    call(
        b,
        &s3,
        &sdk("deleteObject"),
        json!({"Bucket": BUCKET, "Key": "io/sub/b.txt"}),
    )
    .unwrap();

    let passed = call(b, &s3, "arn:aws:states:::sqs:sendMessage", json!({})).unwrap();
    assert_eq!(passed, json!({"fallback": true}));
    assert_eq!(
        *fallback.0.lock().unwrap(),
        ["arn:aws:states:::sqs:sendMessage"]
    );
}

pub fn key_escapes_are_refused(b: &Backend) {
    let s3 = ObjectIntegrations::new(
        b.storage.clone(),
        Arc::new(Fallback(Mutex::new(Vec::new()))),
    );
    let put = "arn:aws:states:::aws-sdk:s3:putObject";
    for (bucket, key) in [
        (BUCKET, "../escaped.txt"),
        (BUCKET, "a/../../escaped.txt"),
        ("..", "escaped.txt"),
        (BUCKET, "/etc/escaped.txt"),
        ("a/..", "escaped.txt"),
        (BUCKET, "a\\..\\escaped.txt"),
    ] {
        let e = call(
            b,
            &s3,
            put,
            json!({"Bucket": bucket, "Key": key, "Body": "x"}),
        )
        .unwrap_err();
        assert_eq!(e.error, "S3.S3Exception", "{bucket}/{key}: {}", e.cause);
    }
    let e = call(
        b,
        &s3,
        "arn:aws:states:::aws-sdk:s3:copyObject",
        json!({"Bucket": BUCKET, "Key": "copy.txt", "CopySource": "bkt/..%2F..%2Fescaped.txt"}),
    )
    .unwrap_err();
    assert_eq!(e.error, "S3.S3Exception", "{}", e.cause);
    let e = call(
        b,
        &s3,
        "arn:aws:states:::aws-sdk:s3:listObjectsV2",
        json!({"Bucket": BUCKET, "Prefix": "../"}),
    )
    .unwrap_err();
    assert_eq!(e.error, "S3.S3Exception", "{}", e.cause);

    let reader = get_object_reader("../../escaped.csv", json!({"InputType": "CSV"}));
    let e = store(b)
        .read(&reader, 0)
        .err()
        .expect("an escaping reader must fail");
    assert_eq!(e.error, "States.ItemReaderFailed");
    let writer = json!({"Parameters": {"Bucket": BUCKET, "Prefix": "../out"}});
    let e = store(b)
        .write_results(&writer, "arn:x:run", &mut std::iter::empty())
        .unwrap_err();
    assert_eq!(e.error, "States.ResultWriterFailed");

    let escaped = walk(b.root.parent().unwrap())
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("escaped"))
        })
        .collect::<Vec<_>>();
    assert!(
        escaped.is_empty(),
        "{}: written outside: {escaped:?}",
        b.name
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

pub fn functions_see_the_same_namespace(b: &Backend) {
    put(b, "shared/x.txt", "from a flow");
    let store = b.storage.object_store();
    let path = object_store::path::Path::from(format!("{BUCKET}/shared/x.txt"));
    let data = b
        .runtime
        .block_on(async {
            object_store::ObjectStoreExt::get(store.as_ref(), &path)
                .await?
                .bytes()
                .await
        })
        .unwrap();
    assert_eq!(data, "from a flow", "{} ({})", b.name, b.url);
}

fn call_function(
    b: &Backend,
    invoker: &BuiltinFunctions,
    name: &str,
    payload: Value,
) -> Result<Value, TaskError> {
    b.runtime.block_on(invoker.invoke(InvokeRequest {
        target: Target::Function {
            name: name.to_string(),
            wrap: false,
        },
        resource: format!("sluice:function:{name}"),
        payload,
        idempotency_key: "k".into(),
        execution: "e".into(),
        timeout_seconds: None,
    }))
}

pub fn builtin_count_by_counts_an_object_and_names_malformed_lines(b: &Backend) {
    let fallback = Arc::new(Fallback(Mutex::new(Vec::new())));
    let count = BuiltinFunction {
        name: "count".into(),
        handler: Handler::parse("count-by").unwrap(),
        options: json!({"field": "value"}).as_object().unwrap().clone(),
        concurrency: 2,
    };
    let builtins = BuiltinFunctions::new(b.storage.clone(), vec![count], fallback.clone());
    // More than one 8 MiB range, with a record whose value is not a string and one without it,
    // the last without a newline.
    let mut text = String::new();
    for i in 0..200_000 {
        let value = if i % 4 == 0 { "data_2" } else { "data_1" };
        text.push_str(&format!(
            "{{\"id\": {i}, \"user\": \"u{i:06}\", \"pad\": \"{}\", \"value\": \"{value}\"}}\n",
            "x".repeat(20)
        ));
    }
    text.push_str("{\"value\": 7}\n\n{\"id\": -1}");
    put(b, "counts/big.jsonl", text);
    let out = call_function(
        b,
        &builtins,
        "count",
        json!({"key": format!("{BUCKET}/counts/big.jsonl")}),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "key": format!("{BUCKET}/counts/big.jsonl"),
            "records": 200_002,
            "counts": {"7": 1, "data_1": 150_000, "data_2": 50_000},
            "missing": 1
        })
    );

    put(
        b,
        "counts/bad.jsonl",
        "{\"value\": \"a\"}\n{\"value\": \"b\"\n{\"value\": \"c\"}\n",
    );
    let bad = call_function(
        b,
        &builtins,
        "count",
        json!({"Bucket": BUCKET, "Key": "counts/bad.jsonl", "field": "value"}),
    )
    .unwrap_err();
    assert_eq!(bad.error, "Sluice.MalformedRecord");
    assert!(
        bad.cause
            .starts_with(&format!("{BUCKET}/counts/bad.jsonl line 2: ")),
        "{}",
        bad.cause
    );

    let missing = call_function(
        b,
        &builtins,
        "count",
        json!({"key": format!("{BUCKET}/counts/none.jsonl")}),
    )
    .unwrap_err();
    assert_eq!(missing.error, "Sluice.StorageError");
    let no_object = call_function(b, &builtins, "count", json!({})).unwrap_err();
    assert_eq!(no_object.error, "Sluice.InvalidEvent");

    let other = call_function(b, &builtins, "other", json!({})).unwrap();
    assert_eq!(other, json!({"fallback": true}));
    assert_eq!(*fallback.0.lock().unwrap(), vec!["other".to_string()]);
}

pub fn builtin_ack_acknowledges_every_batch(b: &Backend) {
    let fallback = Arc::new(Fallback(Mutex::new(Vec::new())));
    let ack = BuiltinFunction {
        name: "ack".into(),
        handler: Handler::parse("ack").unwrap(),
        options: Map::new(),
        concurrency: 1,
    };
    let builtins = BuiltinFunctions::new(b.storage.clone(), vec![ack], fallback.clone());
    let event = json!({"Records": [
        {"messageId": "m1", "body": "a", "eventSource": "aws:sqs"},
        {"messageId": "m2", "body": "b", "eventSource": "aws:sqs"}
    ]});
    for payload in [event, json!([1, 2]), json!({})] {
        let out = call_function(b, &builtins, "ack", payload).unwrap();
        assert_eq!(out, json!({"batchItemFailures": []}));
    }
    assert!(fallback.0.lock().unwrap().is_empty());
    let unknown = Handler::parse("nack").unwrap_err();
    assert!(unknown.contains("count-by, ack"), "{unknown}");
}

/// Keys under `prefix` of the test bucket.
fn keys_under(b: &Backend, prefix: &str) -> Vec<String> {
    let page = b
        .runtime
        .block_on(b.storage.list_page(BUCKET, prefix, None, 1000))
        .unwrap();
    page.objects.into_iter().map(|o| o.key).collect()
}

pub fn builtin_append_objects_writes_a_replayed_batch_to_the_same_key(b: &Backend) {
    let fallback = Arc::new(Fallback(Mutex::new(Vec::new())));
    let function = |name: &str, format: &str| BuiltinFunction {
        name: name.into(),
        handler: Handler::parse("append-objects").unwrap(),
        options: json!({"prefix": format!("{BUCKET}/audit/{format}"), "format": format})
            .as_object()
            .unwrap()
            .clone(),
        concurrency: 1,
    };
    let builtins = BuiltinFunctions::new(
        b.storage.clone(),
        vec![function("jsonl", "jsonl"), function("parquet", "parquet")],
        fallback,
    );
    // Two Canal-JSON messages of one transaction, committed 2026-12-06T18:41:23.501Z.
    let message = |i: u64| {
        json!({"id": 1, "database": "public", "table": "orders", "isDdl": false, "type": "INSERT",
               "es": 1_796_582_483_501i64, "data": [{"id": i.to_string()}], "old": null,
               "_cdc": {"id": format!("0000000005A5C798-{i}")}})
    };
    let batch = json!([message(0), message(1)]);
    let first = call_function(b, &builtins, "jsonl", batch.clone()).unwrap();
    let key = "audit/jsonl/2026/12/06/0000000005A5C798-0_0000000005A5C798-1.jsonl";
    assert_eq!(
        first,
        json!({"key": format!("{BUCKET}/{key}"), "records": 2, "bytes": get(b, key).len()})
    );
    let replayed = call_function(
        b,
        &builtins,
        "jsonl",
        json!({"source": "orders", "records": batch}),
    )
    .unwrap();
    assert_eq!(
        replayed, first,
        "a replayed batch (as a flow's input) is the same object"
    );
    assert_eq!(keys_under(b, "audit/jsonl/"), [key]);
    let lines: Vec<Value> = std::str::from_utf8(&get(b, key))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, [message(0), message(1)]);

    let written = call_function(b, &builtins, "parquet", batch.clone());
    if cfg!(not(feature = "parquet")) {
        let e = written.expect_err("no Parquet writer");
        assert!(e.cause.contains("cargo feature 'parquet'"), "{}", e.cause);
        return;
    }
    let written = written.unwrap();
    let key = "audit/parquet/2026/12/06/0000000005A5C798-0_0000000005A5C798-1.parquet";
    assert_eq!(written["key"], format!("{BUCKET}/{key}"));
    call_function(b, &builtins, "parquet", batch).unwrap();
    assert_eq!(keys_under(b, "audit/parquet/"), [key]);
    let rows = items(b, &get_object_reader(key, json!({"InputType": "PARQUET"})));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["table"], "orders");
    assert_eq!(rows[1]["es"], 1_796_582_483_501i64);
    assert_eq!(rows[1]["_cdc"], "{\"id\":\"0000000005A5C798-1\"}");

    let e = call_function(b, &builtins, "jsonl", json!([{"es": 1}])).unwrap_err();
    assert_eq!(e.error, "Sluice.InvalidEvent");
    assert!(
        e.cause.contains("record 0") && e.cause.contains("_cdc.id"),
        "{}",
        e.cause
    );
}

pub fn builtin_unzip_reads_ranges_and_writes_every_entry(b: &Backend) {
    let fallback = Arc::new(Fallback(Mutex::new(Vec::new())));
    let unzip = BuiltinFunction {
        name: "unzip".into(),
        handler: Handler::parse("unzip").unwrap(),
        options: json!({"max_entries": 150}).as_object().unwrap().clone(),
        concurrency: 1,
    };
    let builtins = BuiltinFunctions::new(b.storage.clone(), vec![unzip], fallback);
    // 400 small entries and one of 9 MiB (a multipart write), in a 10 MiB-ish archive.
    let mut files: Vec<(String, Vec<u8>)> = (0..400)
        .map(|i| {
            (
                format!("d{}/f{i}.txt", i % 9),
                format!("{i}\n").repeat(i + 1).into_bytes(),
            )
        })
        .collect();
    let big: Vec<u8> = (0..9 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    files.insert(200, ("media/big.bin".into(), big));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in &files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    put(b, "zips/a.zip", zip.finish().unwrap().into_inner());
    b.clear_reads();
    let mut marker = Value::Null;
    let mut calls = 0;
    loop {
        let out = call_function(
            b,
            &builtins,
            "unzip",
            json!({"archive": format!("{BUCKET}/zips/a.zip"), "to": format!("{BUCKET}/out/a/"), "marker": marker}),
        )
        .unwrap();
        calls += 1;
        if out["done"] == true {
            break;
        }
        marker = out["marker"].clone();
    }
    // Only the archive was read so far, and only by ranges.
    let reads = b.recorded_reads();
    assert!(!reads.is_empty());
    for read in reads {
        match read {
            Some(GetRange::Bounded(r)) => assert!(r.end - r.start <= 4 * 1024 * 1024, "{r:?}"),
            other => panic!("the archive is read in bounded ranges, not {other:?}"),
        }
    }
    assert_eq!(calls, 3, "{} ({})", b.name, b.url);
    for (name, data) in &files {
        assert!(
            get(b, &format!("out/a/{name}")) == data.as_slice(),
            "{name} on {}",
            b.name
        );
    }
}

pub fn oss_actions_use_the_same_integrations(b: &Backend) {
    let fallback = Arc::new(Fallback(Mutex::new(Vec::new())));
    let oss = ObjectIntegrations::new(b.storage.clone(), fallback.clone());
    call(
        b,
        &oss,
        "OSS:PutObject",
        json!({"bucket": BUCKET, "objectName": "oss/a.txt", "content": "hi"}),
    )
    .unwrap();
    let got = call(
        b,
        &oss,
        "OSS:GetObject",
        json!({"bucket": BUCKET, "key": "oss/a.txt"}),
    )
    .unwrap();
    assert_eq!(got["Body"], "hi");
    let listed = call(
        b,
        &oss,
        "OSS:ListObjects",
        json!({"bucket": BUCKET, "prefix": "oss/"}),
    )
    .unwrap();
    assert_eq!(listed["Contents"][0]["Key"], "oss/a.txt", "{listed}");
    call(
        b,
        &oss,
        "OSS:DeleteObject",
        json!({"Bucket": BUCKET, "Key": "oss/a.txt"}),
    )
    .unwrap();
    let gone = call(
        b,
        &oss,
        "OSS:GetObject",
        json!({"bucket": BUCKET, "key": "oss/a.txt"}),
    )
    .unwrap_err();
    assert_eq!(gone.error, "S3.NoSuchKeyException");
    assert!(fallback.0.lock().unwrap().is_empty());
}

/// The suite's storage keeping classes in a fresh SQLite store, restores taking `delay`.
fn classified(b: &Backend, dir: &tempfile::TempDir, delay: Duration) -> Storage {
    let store = sluice_store::SqliteStore::open(&dir.path().join("state.db")).unwrap();
    // s3s-fs keeps no classes and has no RestoreObject: they are emulated on every backend.
    let options = ObjectOptions {
        classes: ClassMode::Emulated,
        restore_delay: delay,
        ..ObjectOptions::default()
    };
    b.storage
        .clone()
        .with_classes(Arc::new(store), options)
        .unwrap()
}

/// An object put in GLACIER cannot be read (nor copied) until restored; the restore is ongoing
/// for the delay, then done with an expiry; a second request while ongoing is refused; a
/// replaced object is STANDARD again; a STANDARD object cannot be restored.
pub fn archived_objects_are_read_only_once_restored(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let storage = classified(b, &dir, Duration::from_millis(300));
    let cold = object("cold/a.txt");
    b.runtime
        .block_on(storage.put_in(&cold, Bytes::from("frozen"), StorageClass::Glacier))
        .unwrap();
    let info = b.runtime.block_on(storage.head(&cold, None)).unwrap();
    assert_eq!(info.storage_class, StorageClass::Glacier);
    assert_eq!(info.restore, None);
    let refused = b.runtime.block_on(storage.get(&cold)).unwrap_err();
    assert!(
        matches!(refused, StorageError::InvalidObjectState { .. }),
        "{refused}"
    );
    let copy = b
        .runtime
        .block_on(storage.copy(&cold, &object("cold/copy.txt")))
        .unwrap_err();
    assert!(
        matches!(copy, StorageError::InvalidObjectState { .. }),
        "{copy}"
    );
    assert_eq!(
        b.runtime.block_on(storage.restore(&cold, 2)).unwrap(),
        RestoreStarted::Started
    );
    let info = b.runtime.block_on(storage.head(&cold, None)).unwrap();
    assert_eq!(info.restore, Some(RestoreStatus::Ongoing));
    assert_eq!(info.restore.unwrap().header(), "ongoing-request=\"true\"");
    let again = b.runtime.block_on(storage.restore(&cold, 2)).unwrap_err();
    assert!(
        matches!(again, StorageError::RestoreInProgress { .. }),
        "{again}"
    );
    assert!(b.runtime.block_on(storage.get(&cold)).is_err());
    std::thread::sleep(Duration::from_millis(400));
    let info = b.runtime.block_on(storage.head(&cold, None)).unwrap();
    let Some(RestoreStatus::Restored { expiry }) = info.restore else {
        panic!("not restored: {:?}", info.restore);
    };
    let days = (expiry - chrono::Utc::now()).num_hours();
    assert!((47..=48).contains(&days), "expires in {days} hours");
    assert!(
        info.restore
            .unwrap()
            .header()
            .starts_with("ongoing-request=\"false\", expiry-date=\"")
    );
    assert_eq!(
        &b.runtime.block_on(storage.get(&cold)).unwrap().data[..],
        b"frozen"
    );
    assert_eq!(
        b.runtime.block_on(storage.restore(&cold, 3)).unwrap(),
        RestoreStarted::AlreadyRestored
    );
    // Replaced by a plain write (any writer), the object is STANDARD and readable.
    b.runtime
        .block_on(b.storage.put(&cold, Bytes::from("thawed")))
        .unwrap();
    let info = b.runtime.block_on(storage.head(&cold, None)).unwrap();
    assert_eq!(info.storage_class, StorageClass::Standard);
    assert_eq!(
        &b.runtime.block_on(storage.get(&cold)).unwrap().data[..],
        b"thawed"
    );
    let standard = b.runtime.block_on(storage.restore(&cold, 1)).unwrap_err();
    assert!(
        matches!(standard, StorageError::InvalidObjectState { .. }),
        "{standard}"
    );
    // A copy into STANDARD over an archived copy is STANDARD, even where copies share the
    // source's entity tag (local hard links).
    let hot = object("cold/hot.txt");
    let copy = object("cold/hot-copy.txt");
    b.runtime
        .block_on(storage.put(&hot, Bytes::from("hot")))
        .unwrap();
    b.runtime
        .block_on(storage.copy_in(&hot, &copy, StorageClass::DeepArchive))
        .unwrap();
    b.runtime.block_on(storage.copy(&hot, &copy)).unwrap();
    let info = b.runtime.block_on(storage.head(&copy, None)).unwrap();
    assert_eq!(info.storage_class, StorageClass::Standard);
    // Without a store, only STANDARD can be written.
    let none = b.runtime.block_on(b.storage.put_in(
        &cold,
        Bytes::from("x"),
        StorageClass::DeepArchive,
    ));
    assert!(
        matches!(none, Err(StorageError::Unsupported { .. })),
        "{none:?}"
    );
}

/// `copyObject` with a `StorageClass`, `headObject` showing the class and the restore,
/// `getObject` refused with the SDK's error name, `restoreObject` (and OSS's names), and
/// `listObjectsV2` showing each object's class.
pub fn integrations_copy_into_a_class_and_restore(b: &Backend) {
    let dir = tempfile::tempdir().unwrap();
    let storage = classified(b, &dir, Duration::from_millis(200));
    let fallback = Arc::new(Fallback(Mutex::new(Vec::new())));
    let s3 = ObjectIntegrations::new(storage, fallback);
    let sdk = |action: &str| format!("arn:aws:states:::aws-sdk:s3:{action}");
    put(b, "hot/a.csv", "a,b\n");
    put(b, "hot/b.csv", "c,d\n");
    let copied = call(
        b,
        &s3,
        &sdk("copyObject"),
        json!({"Bucket": BUCKET, "Key": "cold/a.csv", "CopySource": format!("{BUCKET}/hot/a.csv"), "StorageClass": "ARCHIVE"}),
    )
    .unwrap();
    assert!(copied["CopyObjectResult"]["ETag"].is_string(), "{copied}");
    call(
        b,
        &s3,
        "OSS:CopyObject",
        json!({"bucket": BUCKET, "key": "cold/b.csv", "copySource": format!("{BUCKET}/hot/b.csv"), "storageClass": "ColdArchive"}),
    )
    .unwrap();
    let head = call(
        b,
        &s3,
        &sdk("headObject"),
        json!({"Bucket": BUCKET, "Key": "cold/a.csv"}),
    )
    .unwrap();
    assert_eq!(head["StorageClass"], json!("ARCHIVE"));
    assert_eq!(head.get("Restore"), None);
    let refused = call(
        b,
        &s3,
        &sdk("getObject"),
        json!({"Bucket": BUCKET, "Key": "cold/a.csv"}),
    )
    .unwrap_err();
    assert_eq!(
        refused.error, "S3.InvalidObjectStateException",
        "{}",
        refused.cause
    );
    let listed = call(
        b,
        &s3,
        &sdk("listObjectsV2"),
        json!({"Bucket": BUCKET, "Prefix": "cold/"}),
    )
    .unwrap();
    let classes: Vec<&Value> = listed["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["StorageClass"])
        .collect();
    assert_eq!(classes, vec![&json!("ARCHIVE"), &json!("COLD_ARCHIVE")]);
    let restored = call(
        b,
        &s3,
        &sdk("restoreObject"),
        json!({"Bucket": BUCKET, "Key": "cold/a.csv", "RestoreRequest": {"Days": 1}}),
    )
    .unwrap();
    assert_eq!(restored, json!({}));
    let again = call(
        b,
        &s3,
        &sdk("restoreObject"),
        json!({"Bucket": BUCKET, "Key": "cold/a.csv"}),
    )
    .unwrap_err();
    assert_eq!(again.error, "S3.S3Exception");
    assert!(
        again.cause.contains("RestoreAlreadyInProgress"),
        "{}",
        again.cause
    );
    let head = call(
        b,
        &s3,
        &sdk("headObject"),
        json!({"Bucket": BUCKET, "Key": "cold/a.csv"}),
    )
    .unwrap();
    assert_eq!(head["Restore"], json!("ongoing-request=\"true\""));
    call(
        b,
        &s3,
        "OSS:RestoreObject",
        json!({"bucket": BUCKET, "key": "cold/b.csv", "days": 2}),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let head = call(
        b,
        &s3,
        &sdk("headObject"),
        json!({"Bucket": BUCKET, "Key": "cold/a.csv"}),
    )
    .unwrap();
    assert!(
        head["Restore"]
            .as_str()
            .unwrap()
            .starts_with("ongoing-request=\"false\", expiry-date="),
        "{head}"
    );
    let read = call(
        b,
        &s3,
        &sdk("getObject"),
        json!({"Bucket": BUCKET, "Key": "cold/b.csv"}),
    )
    .unwrap();
    assert_eq!(read["Body"], json!("c,d\n"));
    let standard = call(
        b,
        &s3,
        &sdk("restoreObject"),
        json!({"Bucket": BUCKET, "Key": "hot/a.csv"}),
    )
    .unwrap_err();
    assert_eq!(standard.error, "S3.InvalidObjectStateException");
    let missing = call(
        b,
        &s3,
        &sdk("restoreObject"),
        json!({"Bucket": BUCKET, "Key": "cold/none"}),
    )
    .unwrap_err();
    assert_eq!(missing.error, "S3.NoSuchKeyException");
    let bad = call(b, &s3, &sdk("copyObject"), json!({"Bucket": BUCKET, "Key": "x", "CopySource": format!("{BUCKET}/hot/a.csv"), "StorageClass": "FROZEN"})).unwrap_err();
    assert_eq!(bad.error, "S3.S3Exception");
    assert!(
        bad.cause.contains("unknown storage class 'FROZEN'"),
        "{}",
        bad.cause
    );
}
