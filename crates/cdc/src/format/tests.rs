use super::*;
use crate::change::{BeforeImage, Column, EventId, Table};
use crate::pg::types::{normalize, oid, sql_type};
use std::sync::Arc;

/// A table with one column of each type the formats must get right.
fn table() -> Arc<Table> {
    let col = |name: &str, type_oid: u32, type_name: &str, key: bool| Column {
        name: name.into(),
        type_name: type_name.into(),
        sql_type: sql_type(type_oid, type_name),
        key,
    };
    Arc::new(Table {
        catalog: "test".into(),
        schema: "public".into(),
        name: "orders".into(),
        columns: vec![
            col("id", oid::INT8, "bigint", true),
            col("qty", oid::INT4, "integer", false),
            col("amount", oid::NUMERIC, "numeric(10,2)", false),
            col("ratio", oid::NUMERIC, "numeric", false),
            col("at", oid::TIMESTAMPTZ, "timestamp with time zone", false),
            col("doc", oid::JSONB, "jsonb", false),
            col("meta", oid::JSON, "json", false),
            col("raw", oid::BYTEA, "bytea", false),
            col("note", oid::TEXT, "text", false),
            col("paid", oid::BOOL, "boolean", false),
        ],
    })
}

fn text(type_oid: u32, t: &str) -> Datum {
    Datum::Text(normalize(type_oid, t.to_string()))
}

fn row() -> Vec<Datum> {
    vec![
        text(oid::INT8, "9007199254740993"),
        text(oid::INT4, "-7"),
        text(oid::NUMERIC, "10.50"),
        text(oid::NUMERIC, "0.000000000000000000001"),
        text(oid::TIMESTAMPTZ, "2026-11-22 11:37:58.600953+00"),
        text(oid::JSONB, r#"{"a": [1, 2]}"#),
        text(oid::JSON, r#"{ "b" : null }"#),
        text(oid::BYTEA, "\\x00ff"),
        text(oid::TEXT, "zoë ✓ 日本"),
        text(oid::BOOL, "t"),
    ]
}

fn change(kind: Kind, after: Vec<Datum>, before: Option<Vec<Datum>>) -> Change {
    Change {
        id: EventId {
            position: 0x152F690,
            part: 0,
            ordinal: 3,
        },
        txid: Some(727),
        commit_ms: 1_795_347_574_123,
        table: table(),
        kind,
        after,
        before,
        before_image: BeforeImage::Full,
        truncate_options: Vec::new(),
        binlog: None,
        gtid: None,
        ddl: None,
    }
}

#[test]
fn canal_insert_has_every_field_with_string_values() {
    let m = Format::CanalJson.message(
        "orders",
        &change(Kind::Insert, row(), None),
        1_795_347_574_200,
    );
    assert_eq!(m["id"], json!(0x152F690u64));
    assert_eq!(m["database"], "public");
    assert_eq!(m["table"], "orders");
    assert_eq!(m["pkNames"], json!(["id"]));
    assert_eq!(m["isDdl"], false);
    assert_eq!(m["type"], "INSERT");
    assert_eq!(m["es"], 1_795_347_574_123i64);
    assert_eq!(m["ts"], 1_795_347_574_200i64);
    assert_eq!(m["sql"], "");
    assert_eq!(m["old"], Value::Null);
    assert_eq!(m["gtid"], "");
    let data = &m["data"][0];
    assert_eq!(data["id"], "9007199254740993");
    assert_eq!(data["qty"], "-7");
    assert_eq!(data["amount"], "10.50");
    assert_eq!(data["ratio"], "0.000000000000000000001");
    assert_eq!(data["at"], "2026-11-22 11:37:58.600953+00");
    assert_eq!(data["doc"], r#"{"a": [1, 2]}"#);
    assert_eq!(data["meta"], r#"{ "b" : null }"#);
    assert_eq!(data["raw"], "\u{0}\u{ff}");
    assert_eq!(data["note"], "zoë ✓ 日本");
    assert_eq!(data["paid"], "true");
    assert_eq!(m["sqlType"]["id"], -5);
    assert_eq!(m["sqlType"]["qty"], 4);
    assert_eq!(m["sqlType"]["amount"], 2);
    assert_eq!(m["sqlType"]["at"], 93);
    assert_eq!(m["sqlType"]["doc"], 1111);
    assert_eq!(m["sqlType"]["raw"], -2);
    assert_eq!(m["sqlType"]["note"], 12);
    assert_eq!(m["sqlType"]["paid"], -7);
    assert_eq!(m["mysqlType"]["amount"], "numeric(10,2)");
    assert_eq!(m["mysqlType"]["at"], "timestamp with time zone");
    assert_eq!(m["_cdc"]["id"], "000000000152F690-3");
    assert_eq!(m["_cdc"]["lsn"], "0/152F690");
    assert_eq!(m["_cdc"]["txid"], 727);
    assert_eq!(m["_cdc"]["snapshot"], false);
    assert_eq!(m["_cdc"].get("unknown"), None);
}

#[test]
fn canal_null_is_null_and_unknown_is_left_out() {
    let mut after = row();
    after[8] = Datum::Null;
    after[5] = Datum::Unknown;
    let m = Format::CanalJson.message("s", &change(Kind::Insert, after, None), 0);
    assert_eq!(m["data"][0]["note"], Value::Null);
    assert!(m["data"][0].get("doc").is_none());
    assert_eq!(m["_cdc"]["unknown"], json!(["doc"]));
}

#[test]
fn canal_update_old_lists_changed_columns_with_previous_values() {
    let before = row();
    let mut after = row();
    after[2] = text(oid::NUMERIC, "11.00");
    after[8] = Datum::Null;
    after[9] = text(oid::BOOL, "f");
    let m = Format::CanalJson.message("s", &change(Kind::Update, after, Some(before)), 0);
    assert_eq!(m["type"], "UPDATE");
    assert_eq!(m["data"][0]["amount"], "11.00");
    assert_eq!(m["data"][0]["paid"], "false");
    assert_eq!(
        m["old"],
        json!([{"amount": "10.50", "note": "zoë ✓ 日本", "paid": "true"}])
    );
}

#[test]
fn canal_update_without_old_row_has_an_empty_old_entry() {
    let mut c = change(Kind::Update, row(), None);
    c.before_image = BeforeImage::None;
    let m = Format::CanalJson.message("s", &c, 0);
    assert_eq!(m["old"], json!([{}]));
    assert_eq!(m["_cdc"]["before_image"], "none");
}

#[test]
fn canal_delete_with_a_key_image_has_only_the_key() {
    let mut key_only = vec![Datum::Unknown; 10];
    key_only[0] = text(oid::INT8, "5");
    let mut c = change(Kind::Delete, Vec::new(), Some(key_only));
    c.before_image = BeforeImage::Key;
    let m = Format::CanalJson.message("s", &c, 0);
    assert_eq!(m["type"], "DELETE");
    assert_eq!(m["data"], json!([{"id": "5"}]));
    assert_eq!(m["old"], Value::Null);
    assert_eq!(m["_cdc"]["unknown"].as_array().map(Vec::len), Some(9));
}

#[test]
fn canal_snapshot_rows_are_inserts_marked_snapshot() {
    let mut c = change(Kind::Read, row(), None);
    c.id.part = 2;
    let m = Format::CanalJson.message("s", &c, 0);
    assert_eq!(m["type"], "INSERT");
    assert_eq!(m["_cdc"]["snapshot"], true);
    assert_eq!(m["_cdc"]["id"], "000000000152F690-s1-3");
}

#[test]
fn canal_truncate_is_ddl_with_sql() {
    let mut c = change(Kind::Truncate, Vec::new(), None);
    c.truncate_options = vec!["CASCADE"];
    let m = Format::CanalJson.message("s", &c, 0);
    assert_eq!(m["isDdl"], true);
    assert_eq!(m["type"], "TRUNCATE");
    assert_eq!(m["sql"], "TRUNCATE TABLE public.orders CASCADE");
    assert_eq!(m["data"], Value::Null);
    assert_eq!(m["pkNames"], Value::Null);
}

#[test]
fn debezium_values_are_typed() {
    let before = row();
    let mut after = row();
    after[1] = text(oid::INT4, "8");
    after[8] = Datum::Null;
    let m = Format::Debezium.message("orders", &change(Kind::Update, after, Some(before)), 42);
    assert_eq!(m["op"], "u");
    assert_eq!(m["ts_ms"], 42);
    assert_eq!(m["after"]["id"], json!(9_007_199_254_740_993i64));
    assert_eq!(m["after"]["qty"], 8);
    assert_eq!(m["before"]["qty"], -7);
    assert_eq!(m["after"]["amount"], "10.50");
    assert_eq!(m["after"]["at"], "2026-11-22 11:37:58.600953+00");
    assert_eq!(m["after"]["doc"], r#"{"a": [1, 2]}"#);
    assert_eq!(m["after"]["raw"], "\u{0}\u{ff}");
    assert_eq!(m["after"]["note"], Value::Null);
    assert_eq!(m["after"]["paid"], true);
    assert_eq!(m["source"]["connector"], "postgresql");
    assert_eq!(m["source"]["db"], "test");
    assert_eq!(m["source"]["schema"], "public");
    assert_eq!(m["source"]["table"], "orders");
    assert_eq!(m["source"]["txId"], 727);
    assert_eq!(m["source"]["lsn"], 0x152F690);
    assert_eq!(m["source"]["ts_ms"], 1_795_347_574_123i64);
    assert_eq!(m["source"]["snapshot"], "false");
    assert_eq!(m["_cdc"]["id"], "000000000152F690-3");
}

#[test]
fn debezium_ops_for_insert_delete_read_truncate() {
    let ins = Format::Debezium.message("s", &change(Kind::Insert, row(), None), 0);
    assert_eq!(
        (ins["op"].as_str(), ins["before"].is_null()),
        (Some("c"), true)
    );
    let del = Format::Debezium.message("s", &change(Kind::Delete, Vec::new(), Some(row())), 0);
    assert_eq!(
        (del["op"].as_str(), del["after"].is_null()),
        (Some("d"), true)
    );
    assert_eq!(del["before"]["id"], json!(9_007_199_254_740_993i64));
    let read = Format::Debezium.message("s", &change(Kind::Read, row(), None), 0);
    assert_eq!(
        (read["op"].as_str(), read["source"]["snapshot"].as_str()),
        (Some("r"), Some("true"))
    );
    let t = Format::Debezium.message("s", &change(Kind::Truncate, Vec::new(), None), 0);
    assert_eq!(t["op"], "t");
}

#[test]
fn format_names() {
    assert_eq!(Format::parse("canal-json"), Ok(Format::CanalJson));
    assert_eq!(Format::parse("debezium"), Ok(Format::Debezium));
    assert!(
        Format::parse("avro")
            .unwrap_err()
            .contains("canal-json, debezium")
    );
}

#[test]
fn canal_fields_come_in_canal_order_and_each_table_keeps_its_own_types() {
    let m = Format::CanalJson.message("s", &change(Kind::Insert, row(), None), 0);
    let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "database",
            "table",
            "pkNames",
            "isDdl",
            "type",
            "es",
            "ts",
            "sql",
            "sqlType",
            "mysqlType",
            "data",
            "old",
            "gtid",
            "_cdc"
        ]
    );
    let other = Arc::new(Table {
        name: "other".into(),
        columns: vec![Column {
            name: "k".into(),
            type_name: "text".into(),
            sql_type: 12,
            key: true,
        }],
        ..(*table()).clone()
    });
    let mut second = change(Kind::Insert, vec![text(oid::TEXT, "v")], None);
    second.table = other;
    let mut writer = Writer::new(Format::CanalJson);
    let mut out = Vec::new();
    for c in [change(Kind::Insert, row(), None), second.clone()] {
        out.clear();
        writer.write("s", &c, 0, &mut out);
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            Format::CanalJson.message("s", &c, 0)
        );
    }
    let last: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(last["sqlType"], json!({"k": 12}));
    assert_eq!(last["pkNames"], json!(["k"]));
}
