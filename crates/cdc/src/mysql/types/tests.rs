//! Every MySQL type, field by field: the binlog's value and the text protocol's give the same
//! text, and a Canal-JSON message carries it with Canal's `sqlType` and the declared type.

use super::*;
use crate::change::{BeforeImage, Change, Column, EventId, Kind, Table};
use crate::format::Format;
use mysql_async::Value as V;
use serde_json::Value;
use serde_json::json;
use std::sync::Arc;

/// `(name, DATA_TYPE, COLUMN_TYPE, charset, precision)` of one column of each type.
const COLUMNS: &[(&str, &str, &str, Option<&str>, u32)] = &[
    ("id", "bigint", "bigint(20) unsigned", None, 0),
    ("small", "smallint", "smallint(6)", None, 0),
    ("tiny", "tinyint", "tinyint(3) unsigned", None, 0),
    ("medium", "mediumint", "mediumint(8) unsigned", None, 0),
    ("num", "int", "int(11)", None, 0),
    ("amount", "decimal", "decimal(10,2)", None, 0),
    ("ratio", "float", "float", None, 0),
    ("score", "double", "double", None, 0),
    ("born", "date", "date", None, 0),
    ("at", "datetime", "datetime(3)", None, 3),
    ("stamp", "timestamp", "timestamp(6)", None, 6),
    ("span", "time", "time", None, 0),
    ("yr", "year", "year(4)", None, 0),
    ("code", "char", "char(3)", Some("utf8mb4"), 0),
    ("name", "varchar", "varchar(64)", Some("utf8mb4"), 0),
    ("note", "text", "text", Some("utf8mb4"), 0),
    ("old", "varchar", "varchar(8)", Some("latin1"), 0),
    ("doc", "json", "json", None, 0),
    ("raw", "varbinary", "varbinary(8)", Some("binary"), 0),
    ("blob_col", "blob", "blob", None, 0),
    (
        "mood",
        "enum",
        "enum('sad','ok','it''s')",
        Some("utf8mb4"),
        0,
    ),
    ("tags", "set", "set('a','b','c')", Some("utf8mb4"), 0),
    ("bits", "bit", "bit(10)", None, 0),
];

fn kinds() -> Vec<ValueKind> {
    COLUMNS
        .iter()
        .map(|(_, d, c, cs, p)| ValueKind::of(d, c, *cs, *p))
        .collect()
}

/// The binlog's values of one row (as mysql_common decodes them, without signedness metadata).
fn binlog_row() -> Vec<BinlogValue<'static>> {
    [
        V::Int(-1),
        V::Int(-32768),
        V::Int(-1),
        V::Int(16_777_215),
        V::Int(-7),
        V::Bytes(b"10.50".to_vec()),
        V::Float(5.18),
        V::Double(0.1),
        V::Date(2024, 2, 29, 0, 0, 0, 0),
        V::Date(2026, 11, 22, 11, 39, 34, 62_000),
        V::Bytes(b"1795347574.123456".to_vec()),
        V::Time(true, 34, 22, 59, 59, 0),
        V::Bytes(b"2024".to_vec()),
        V::Bytes("é".as_bytes().to_vec()),
        V::Bytes("zoë ✓ 日本".as_bytes().to_vec()),
        V::NULL,
        V::Bytes(vec![0xE9]),
        V::Bytes(br#"{"a": [1, 2]}"#.to_vec()),
        V::Bytes(vec![0x00, 0xFF]),
        V::Bytes(vec![0xDE, 0xAD]),
        V::Int(3),
        V::Bytes(vec![0b101]),
        V::Bytes(vec![0x02, 0x05]),
    ]
    .into_iter()
    .map(BinlogValue::Value)
    .collect()
}

/// The same row as the text protocol sends it (session time zone UTC).
fn text_row() -> Vec<V> {
    let t = |s: &str| V::Bytes(s.as_bytes().to_vec());
    vec![
        t("18446744073709551615"),
        t("-32768"),
        t("255"),
        t("16777215"),
        t("-7"),
        t("10.50"),
        t("5.18"),
        t("0.1"),
        t("2024-02-29"),
        t("2026-11-22 11:39:34.062"),
        t("2026-11-22 11:39:34.123456"),
        t("-838:59:59"),
        t("2024"),
        t("é"),
        t("zoë ✓ 日本"),
        V::NULL,
        V::Bytes(vec![0xE9]),
        t(r#"{"a": [1, 2]}"#),
        V::Bytes(vec![0x00, 0xFF]),
        V::Bytes(vec![0xDE, 0xAD]),
        t("it's"),
        t("a,c"),
        V::Bytes(vec![0x02, 0x05]),
    ]
}

/// What both give, column by column.
const WANT: &[Option<&str>] = &[
    Some("18446744073709551615"),
    Some("-32768"),
    Some("255"),
    Some("16777215"),
    Some("-7"),
    Some("10.50"),
    Some("5.18"),
    Some("0.1"),
    Some("2024-02-29"),
    Some("2026-11-22 11:39:34.062"),
    Some("2026-11-22 11:39:34.123456"),
    Some("-838:59:59"),
    Some("2024"),
    Some("é"),
    Some("zoë ✓ 日本"),
    None,
    Some("é"),
    Some(r#"{"a":[1,2]}"#),
    Some("\u{0}\u{ff}"),
    Some("\u{de}\u{ad}"),
    Some("it's"),
    Some("a,c"),
    Some("517"),
];

fn datum(want: Option<&str>) -> Datum {
    want.map_or(Datum::Null, |t| Datum::Text(t.to_string()))
}

#[test]
fn binlog_values_read_as_canal_text() {
    for ((kind, value), (want, column)) in kinds()
        .iter()
        .zip(binlog_row())
        .zip(WANT.iter().zip(COLUMNS))
    {
        let got = kind.from_binlog(&value).unwrap();
        let want = if column.1 == "json" {
            // MariaDB logs JSON as its text.
            datum(Some(r#"{"a": [1, 2]}"#))
        } else {
            datum(*want)
        };
        assert_eq!(got, want, "column {}", column.0);
    }
}

#[test]
fn snapshot_text_reads_as_the_binlog_does() {
    for ((kind, value), (want, column)) in
        kinds().iter().zip(text_row()).zip(WANT.iter().zip(COLUMNS))
    {
        assert_eq!(kind.from_text(&value), datum(*want), "column {}", column.0);
    }
}

#[test]
fn zero_values_and_fractions() {
    let ts = ValueKind::Timestamp(0);
    assert_eq!(
        ts.from_binlog(&BinlogValue::Value(V::Bytes(b"0".to_vec())))
            .unwrap(),
        datum(Some("0000-00-00 00:00:00"))
    );
    assert_eq!(
        ts.from_binlog(&BinlogValue::Value(V::Int(86_400))).unwrap(),
        datum(Some("1970-01-02 00:00:00"))
    );
    let time = ValueKind::Time(2);
    assert_eq!(
        time.from_binlog(&BinlogValue::Value(V::Time(false, 0, 1, 2, 3, 450_000)))
            .unwrap(),
        datum(Some("01:02:03.45"))
    );
    let tiny = ValueKind::of("tinyint", "tinyint(3) unsigned", None, 0);
    assert_eq!(
        tiny.from_binlog(&BinlogValue::Value(V::UInt(200))).unwrap(),
        datum(Some("200"))
    );
    let mood = ValueKind::of("enum", "enum('a','b')", None, 0);
    assert_eq!(
        mood.from_binlog(&BinlogValue::Value(V::Int(0))).unwrap(),
        datum(Some("")),
        "the empty value of an invalid enum"
    );
    assert_eq!(labels("set('x','y''z','a\\\\b')"), ["x", "y'z", "a\\b"]);
}

#[test]
fn canal_message_of_every_type() {
    let table = Arc::new(Table {
        catalog: "shop".into(),
        schema: "shop".into(),
        name: "orders".into(),
        columns: COLUMNS
            .iter()
            .map(|(n, d, c, _, _)| Column {
                name: n.to_string(),
                type_name: c.to_string(),
                sql_type: sql_type(d, c),
                key: *n == "id",
            })
            .collect(),
    });
    let change = Change {
        id: EventId {
            position: crate::position::binlog_position("mysql-bin.000003", 1234).unwrap(),
            part: 0,
            ordinal: 2,
        },
        txid: None,
        commit_ms: 1_795_347_574_000,
        table,
        kind: Kind::Insert,
        after: WANT.iter().map(|w| datum(*w)).collect(),
        before: None,
        before_image: BeforeImage::Full,
        truncate_options: Vec::new(),
        binlog: Some(Arc::from("mysql-bin.000003")),
        gtid: Some(Arc::from("0-1-42")),
        ddl: None,
    };
    let m = Format::CanalJson.message("orders", &change, 1_795_347_574_212);
    assert_eq!(m["database"], "shop");
    assert_eq!(m["pkNames"], json!(["id"]));
    assert_eq!(m["es"], 1_795_347_574_000i64);
    let want_sql_types = [
        ("id", 3),
        ("small", 5),
        ("tiny", 5),
        ("medium", 4),
        ("num", 4),
        ("amount", 3),
        ("ratio", 7),
        ("score", 8),
        ("born", 91),
        ("at", 93),
        ("stamp", 93),
        ("span", 92),
        ("yr", 12),
        ("code", 1),
        ("name", 12),
        ("note", 2005),
        ("old", 12),
        ("doc", 12),
        ("raw", 2004),
        ("blob_col", 2004),
        ("mood", 4),
        ("tags", -7),
        ("bits", -7),
    ];
    for ((column, code), want) in want_sql_types.iter().zip(WANT) {
        assert_eq!(m["sqlType"][column], *code, "sqlType of {column}");
        assert_eq!(m["data"][0][column], json!(want), "data of {column}");
    }
    assert_eq!(m["mysqlType"]["id"], "bigint(20) unsigned");
    assert_eq!(m["mysqlType"]["mood"], "enum('sad','ok','it''s')");
    assert_eq!(m["_cdc"]["file"], "mysql-bin.000003");
    assert_eq!(m["_cdc"]["pos"], 1234);
    assert!(m["_cdc"].get("lsn").is_none());
    assert_eq!(m["gtid"], "0-1-42", "the transaction's GTID");
    let d = Format::Debezium.message("orders", &change, 0);
    assert_eq!(d["source"]["connector"], "mysql");
    assert_eq!(d["source"]["gtid"], "0-1-42");
    assert_eq!(d["source"]["file"], "mysql-bin.000003");
    assert_eq!(d["source"]["pos"], 1234);
    assert_eq!(d["source"]["row"], 2);
    assert_eq!(d["after"]["raw"], "AP8=", "binary in base64");
    assert_eq!(d["after"]["small"], -32768);
    assert_eq!(d["after"]["tiny"], 255);
    assert_eq!(d["after"]["ratio"], 5.18);
    assert_eq!(
        d["after"]["id"], "18446744073709551615",
        "beyond i64: a string"
    );
}

#[test]
fn ddl_messages_carry_the_statement() {
    let table = Arc::new(Table {
        catalog: "shop".into(),
        schema: "shop".into(),
        name: "orders".into(),
        columns: Vec::new(),
    });
    let change = Change {
        id: EventId {
            position: 7,
            part: 0,
            ordinal: 0,
        },
        txid: None,
        commit_ms: 0,
        table,
        kind: Kind::Ddl,
        after: Vec::new(),
        before: None,
        before_image: BeforeImage::Full,
        truncate_options: Vec::new(),
        binlog: Some(Arc::from("mysql-bin.000001")),
        gtid: None,
        ddl: Some(crate::change::Ddl {
            kind: "ALTER",
            sql: "ALTER TABLE orders ADD COLUMN status VARCHAR(16)".into(),
        }),
    };
    let m = Format::CanalJson.message("s", &change, 0);
    assert_eq!(m["isDdl"], true);
    assert_eq!(m["type"], "ALTER");
    assert_eq!(m["sql"], "ALTER TABLE orders ADD COLUMN status VARCHAR(16)");
    assert_eq!(m["gtid"], "", "no GTID known");
    for key in ["pkNames", "sqlType", "mysqlType", "data", "old"] {
        assert_eq!(m[key], Value::Null, "{key}");
    }
    let d = Format::Debezium.message("s", &change, 0);
    assert_eq!(d["ddl"], "ALTER TABLE orders ADD COLUMN status VARCHAR(16)");
    assert_eq!(d["databaseName"], "shop");
    assert_eq!(d["source"]["gtid"], Value::Null);
}
