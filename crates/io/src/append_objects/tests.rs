use super::*;

/// A Canal-JSON message as a CDC trigger delivers it.
fn canal(id: &str, es: i64, order: u64) -> Value {
    json!({
        "id": 88, "database": "public", "table": "orders", "pkNames": ["id"], "isDdl": false,
        "type": "INSERT", "es": es, "ts": es + 5, "sql": "",
        "sqlType": {"id": -5, "customer": 12}, "mysqlType": {"id": "bigint", "customer": "text"},
        "data": [{"id": order.to_string(), "customer": format!("customer {order}")}], "old": null,
        "_cdc": {"id": id, "lsn": "0/5A5C798"}
    })
}

fn request(args: Value) -> Result<AppendRequest, String> {
    AppendRequest::from_args(args.as_object().unwrap())
}

/// 2026-12-06T18:41:23.501Z.
const ES: i64 = 1_796_582_483_501;

#[test]
fn a_batch_is_keyed_by_its_first_records_date_and_its_first_and_last_ids() {
    let r = request(json!({"prefix": "audit/orders/"})).unwrap();
    assert_eq!((r.bucket.as_str(), r.prefix.as_str()), ("audit", "orders"));
    let batch = [
        canal("0000000005A5C798-0", ES, 1),
        canal("0000000005A5C798-1", ES + 86_400_000, 2),
        canal("0000000005A5C900-0", ES + 86_400_000, 3),
    ];
    let key = r.key(&batch).unwrap();
    assert_eq!(
        key.to_string(),
        "audit/orders/2026/12/06/0000000005A5C798-0_0000000005A5C900-0.jsonl"
    );
    assert_eq!(r.key(&batch).unwrap(), key, "the same batch, the same key");
    assert_eq!(
        r.key(&batch[1..2]).unwrap().to_string(),
        "audit/orders/2026/12/07/0000000005A5C798-1_0000000005A5C798-1.jsonl"
    );
}

#[test]
fn parquet_objects_are_named_so_and_a_bucket_alone_is_a_prefix() {
    let r = request(json!({"prefix": "audit", "format": "parquet"}));
    if !cfg!(feature = "parquet") {
        assert!(r.unwrap_err().contains("cargo feature 'parquet'"));
        return;
    }
    let key = r.unwrap().key(&[canal("A-1", ES, 1)]).unwrap();
    assert_eq!(key.to_string(), "audit/2026/12/06/A-1_A-1.parquet");
}

#[test]
fn debezium_messages_and_other_records_name_their_id_and_time() {
    let debezium = json!({"op": "c", "ts_ms": 1, "source": {"ts_ms": ES}, "_cdc": {"id": "B-2"}});
    let r = request(json!({"prefix": "a/b"})).unwrap();
    assert_eq!(
        r.key(&[debezium]).unwrap().to_string(),
        "a/b/2026/12/06/B-2_B-2.jsonl"
    );
    let r = request(json!({"prefix": "a/b", "id_field": "event.seq", "time_field": "at"})).unwrap();
    let records = [
        json!({"event": {"seq": 7}, "at": "0"}),
        json!({"event": {"seq": "9/x y"}, "at": "1"}),
    ];
    assert_eq!(
        r.key(&records).unwrap().to_string(),
        "a/b/1970/01/01/7_9~x~y.jsonl",
        "an id is kept to one segment of the key"
    );
}

#[test]
fn a_record_without_an_id_or_a_time_is_named() {
    let r = request(json!({"prefix": "a"})).unwrap();
    let mut late = canal("C-1", ES, 2);
    late["_cdc"] = json!({});
    let e = r.key(&[canal("C-0", ES, 1), late]).unwrap_err();
    assert!(e.contains("record 1") && e.contains("_cdc.id"), "{e}");
    let e = r.key(&[json!({"_cdc": {"id": "C-0"}})]).unwrap_err();
    assert!(
        e.contains("record 0") && e.contains("es or source.ts_ms"),
        "{e}"
    );
    assert!(r.key(&[]).is_err());
}

#[test]
fn bad_options_are_named() {
    let e = request(json!({})).unwrap_err();
    assert!(e.contains("prefix"), "{e}");
    let e = request(json!({"prefix": "a/../b"})).unwrap_err();
    assert!(e.contains("'a/../b'"), "{e}");
    let e = request(json!({"prefix": "a", "format": "csv"})).unwrap_err();
    assert!(e.contains("'csv'"), "{e}");
    let e = request(json!({"prefix": 3})).unwrap_err();
    assert!(e.contains("prefix must be a string"), "{e}");
}

#[test]
fn an_event_is_a_list_a_flow_input_or_one_record() {
    let message = canal("D-0", ES, 1);
    assert_eq!(records(&json!([message, message])).len(), 2);
    assert_eq!(
        records(&json!({"source": "orders", "records": [message, message, message]})).len(),
        3
    );
    assert_eq!(records(&message), vec![message.clone()]);
}

#[test]
fn json_lines_hold_one_record_a_line() {
    let batch = vec![canal("E-0", ES, 1), canal("E-1", ES, 2)];
    let bytes = encode(ObjectFormat::JsonLines, batch.clone()).unwrap();
    let lines: Vec<Value> = std::str::from_utf8(&bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, batch);
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_holds_every_record_with_its_fields_as_columns() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let batch: Vec<Value> = (0..250).map(|i| canal(&format!("F-{i}"), ES, i)).collect();
    let bytes = encode(ObjectFormat::Parquet, batch).unwrap();
    let reader = SerializedFileReader::new(bytes).unwrap();
    let rows: Vec<Value> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| r.unwrap().to_json_value())
        .collect();
    assert_eq!(rows.len(), 250);
    assert_eq!(rows[249]["table"], "orders");
    assert_eq!(rows[249]["es"], ES);
    let data: Value = serde_json::from_str(rows[249]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data[0]["customer"], "customer 249");
}

#[cfg(feature = "parquet")]
#[test]
fn a_record_that_does_not_fit_the_columns_is_named() {
    // More records than one row group holds, so that the columns are fixed by the first ones.
    let mut batch: Vec<Value> = (0..16 * 1024).map(|i| json!({"n": i})).collect();
    batch.push(json!({"n": "text"}));
    let e = encode(ObjectFormat::Parquet, batch).unwrap_err();
    assert!(e.contains("record 16384"), "{e}");
}
