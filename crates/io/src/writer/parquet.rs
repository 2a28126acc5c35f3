//! Result files in Parquet (`WriterConfig.OutputType: PARQUET`, a Sluice extension): records are
//! buffered into row groups and each group is encoded as soon as it is full, so that memory
//! holds one group, never the file.
//!
//! A file's schema is inferred from its first row group. Each top-level field of an object
//! record is an optional column (in order of first appearance): booleans `BOOLEAN`, integers
//! `INT64`, other numbers `DOUBLE`, strings `STRING`, and objects, arrays, mixed kinds or only
//! nulls `JSON` text. Records that are not objects go into one column named `value`. A record
//! that does not fit the schema (a new field, a string where an integer was) ends the file and
//! starts the next one, whose schema is inferred again: nothing is dropped or coerced.

use bytes::Bytes;
use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::errors::Result as ParquetResult;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::types::Type;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Most records in one row group.
const ROW_GROUP_ROWS: usize = 16 * 1024;

/// Most bytes (of the records' JSON) buffered for one row group.
const ROW_GROUP_BYTES: usize = 16 * 1024 * 1024;

/// The column of records that are not objects.
const VALUE_COLUMN: &str = "value";

/// A column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Double,
    Text,
    Json,
}

impl Kind {
    /// The narrowest kind that holds `value`, or `None` for null.
    fn of(value: &Value) -> Option<Kind> {
        match value {
            Value::Null => None,
            Value::Bool(_) => Some(Kind::Bool),
            Value::Number(n) if n.is_i64() => Some(Kind::Int),
            Value::Number(_) => Some(Kind::Double),
            Value::String(_) => Some(Kind::Text),
            Value::Array(_) | Value::Object(_) => Some(Kind::Json),
        }
    }

    /// The kind that holds values of both `self` and `other`.
    fn widen(self, other: Kind) -> Kind {
        match (self, other) {
            (a, b) if a == b => a,
            (Kind::Int, Kind::Double) | (Kind::Double, Kind::Int) => Kind::Double,
            _ => Kind::Json,
        }
    }

    /// Whether a column of this kind holds `value`.
    fn holds(self, value: &Value) -> bool {
        match Kind::of(value) {
            None => true,
            Some(kind) => {
                kind == self || self == Kind::Json || (self, kind) == (Kind::Double, Kind::Int)
            }
        }
    }

    fn column(self, name: &str) -> ParquetResult<Type> {
        let (physical, logical) = match self {
            Kind::Bool => (PhysicalType::BOOLEAN, None),
            Kind::Int => (PhysicalType::INT64, None),
            Kind::Double => (PhysicalType::DOUBLE, None),
            Kind::Text => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            Kind::Json => (PhysicalType::BYTE_ARRAY, Some(LogicalType::Json)),
        };
        Type::primitive_type_builder(name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical)
            .build()
    }
}

/// The columns of a file: objects' fields, or one column of plain values.
#[derive(Clone, Debug, PartialEq)]
struct Schema {
    /// Whether records are objects (else each is the `value` column).
    fields: bool,
    columns: Vec<(String, Kind)>,
}

impl Schema {
    /// The schema that holds every record of `records`.
    fn infer(records: &[Value]) -> Schema {
        let fields = records.iter().all(Value::is_object);
        let mut columns: Vec<(String, Option<Kind>)> = Vec::new();
        let mut note = |name: &str, value: &Value| {
            let at = match columns.iter().position(|(n, _)| n == name) {
                Some(at) => at,
                None => {
                    columns.push((name.to_string(), None));
                    columns.len() - 1
                }
            };
            let slot = &mut columns[at].1;
            *slot = match (*slot, Kind::of(value)) {
                (Some(a), Some(b)) => Some(a.widen(b)),
                (a, b) => a.or(b),
            };
        };
        for record in records {
            match record.as_object().filter(|_| fields) {
                Some(object) => object.iter().for_each(|(k, v)| note(k, v)),
                None => note(VALUE_COLUMN, record),
            }
        }
        Schema {
            fields,
            columns: columns
                .into_iter()
                .map(|(name, kind)| (name, kind.unwrap_or(Kind::Json)))
                .collect(),
        }
    }

    /// Whether `record` fits: its fields are columns and its values their kinds.
    fn holds(&self, record: &Value) -> bool {
        match (self.fields, record.as_object()) {
            (true, Some(object)) => object.iter().all(|(name, value)| {
                self.columns
                    .iter()
                    .any(|(n, kind)| n == name && kind.holds(value))
            }),
            (false, _) => self.columns[0].1.holds(record),
            (true, None) => false,
        }
    }

    fn parquet(&self) -> ParquetResult<Type> {
        let columns = self
            .columns
            .iter()
            .map(|(name, kind)| kind.column(name).map(Arc::new))
            .collect::<ParquetResult<Vec<_>>>()?;
        Type::group_type_builder("schema")
            .with_fields(columns)
            .build()
    }

    /// Column `at`'s value in `record` (null when missing).
    fn value<'a>(&self, record: &'a Value, at: usize) -> &'a Value {
        if !self.fields {
            return record;
        }
        record
            .as_object()
            .and_then(|o: &Map<String, Value>| o.get(&self.columns[at].0))
            .unwrap_or(&Value::Null)
    }
}

/// What [`ParquetFile::push`] did with a record.
#[derive(Debug, PartialEq)]
pub(crate) enum Pushed {
    /// Buffered; bytes of the file to append, when a row group was encoded.
    Taken(Option<Bytes>),
    /// Not taken: it does not fit the file's schema. Finish the file and push it to the next.
    Refused(Value),
}

/// One Parquet file being written.
pub(crate) struct ParquetFile {
    writer: Option<SerializedFileWriter<Vec<u8>>>,
    schema: Option<Schema>,
    rows: Vec<Value>,
    buffered_bytes: usize,
}

impl ParquetFile {
    /// An empty file.
    pub fn new() -> ParquetFile {
        ParquetFile {
            writer: None,
            schema: None,
            rows: Vec::new(),
            buffered_bytes: 0,
        }
    }

    /// Whether no record was taken yet.
    pub fn is_empty(&self) -> bool {
        self.writer.is_none() && self.rows.is_empty()
    }

    /// Takes `record` (`size`: the length of its JSON), encoding the row group once it is full.
    pub fn push(&mut self, record: Value, size: usize) -> Result<Pushed, String> {
        if let Some(schema) = &self.schema
            && !schema.holds(&record)
        {
            return Ok(Pushed::Refused(record));
        }
        self.rows.push(record);
        self.buffered_bytes += size;
        if self.rows.len() < ROW_GROUP_ROWS && self.buffered_bytes < ROW_GROUP_BYTES {
            return Ok(Pushed::Taken(None));
        }
        self.encode_group().map(Pushed::Taken)
    }

    /// Encodes what is buffered and the footer: the rest of the file.
    pub fn finish(mut self) -> Result<Bytes, String> {
        let mut tail = self.encode_group()?.map(Vec::from).unwrap_or_default();
        if let Some(writer) = self.writer.take() {
            let rest = writer.into_inner().map_err(|e| e.to_string())?;
            tail.extend_from_slice(&rest);
        }
        Ok(Bytes::from(tail))
    }

    /// Encodes the buffered records as a row group (fixing the schema with the first one) and
    /// returns the bytes written since the last call.
    fn encode_group(&mut self) -> Result<Option<Bytes>, String> {
        if self.rows.is_empty() {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.rows);
        self.buffered_bytes = 0;
        let schema = self.schema.get_or_insert_with(|| Schema::infer(&rows));
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let root = schema.parquet().map_err(|e| e.to_string())?;
                let writer = SerializedFileWriter::new(Vec::new(), Arc::new(root), Arc::new(props))
                    .map_err(|e| e.to_string())?;
                self.writer.insert(writer)
            }
        };
        write_group(writer, schema, &rows).map_err(|e| e.to_string())?;
        writer.flush().map_err(|e| e.to_string())?;
        Ok(Some(Bytes::from(std::mem::take(writer.inner_mut()))))
    }
}

/// Writes `rows` as one row group of `writer`, column by column.
fn write_group(
    writer: &mut SerializedFileWriter<Vec<u8>>,
    schema: &Schema,
    rows: &[Value],
) -> ParquetResult<()> {
    let mut group = writer.next_row_group()?;
    let mut at = 0;
    while let Some(mut column) = group.next_column()? {
        let kind = schema.columns[at].1;
        let values = rows.iter().map(|r| schema.value(r, at));
        write_column(&mut column, kind, values)?;
        column.close()?;
        at += 1;
    }
    group.close()?;
    Ok(())
}

/// Writes one column chunk: definition level 1 for a value, 0 for null.
fn write_column<'a>(
    column: &mut SerializedColumnWriter<'_>,
    kind: Kind,
    values: impl Iterator<Item = &'a Value>,
) -> ParquetResult<()> {
    let values: Vec<&Value> = values.collect();
    let levels: Vec<i16> = values.iter().map(|v| i16::from(!v.is_null())).collect();
    let present = values.iter().filter(|v| !v.is_null());
    match kind {
        Kind::Bool => {
            let data: Vec<bool> = present.map(|v| v.as_bool().unwrap_or_default()).collect();
            column
                .typed::<BoolType>()
                .write_batch(&data, Some(&levels), None)?;
        }
        Kind::Int => {
            let data: Vec<i64> = present.map(|v| v.as_i64().unwrap_or_default()).collect();
            column
                .typed::<Int64Type>()
                .write_batch(&data, Some(&levels), None)?;
        }
        Kind::Double => {
            let data: Vec<f64> = present.map(|v| v.as_f64().unwrap_or_default()).collect();
            column
                .typed::<DoubleType>()
                .write_batch(&data, Some(&levels), None)?;
        }
        Kind::Text | Kind::Json => {
            let data: Vec<ByteArray> = present
                .map(|v| match v {
                    Value::String(s) if kind == Kind::Text => ByteArray::from(s.as_str()),
                    other => ByteArray::from(other.to_string().into_bytes()),
                })
                .collect();
            column
                .typed::<ByteArrayType>()
                .write_batch(&data, Some(&levels), None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use serde_json::json;

    /// The rows of a whole file, as the PARQUET ItemReader turns them into JSON.
    fn rows_of(file: Bytes) -> Vec<Value> {
        let reader = SerializedFileReader::new(file).unwrap();
        reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap().to_json_value())
            .collect()
    }

    /// Writes `records` into as many files as their schemas need.
    fn write(records: Vec<Value>) -> Vec<Bytes> {
        let mut files = Vec::new();
        let mut file = ParquetFile::new();
        let mut parts = Vec::new();
        for record in records {
            let size = record.to_string().len();
            match file.push(record, size).unwrap() {
                Pushed::Taken(bytes) => parts.extend(bytes),
                Pushed::Refused(record) => {
                    parts.push(
                        std::mem::replace(&mut file, ParquetFile::new())
                            .finish()
                            .unwrap(),
                    );
                    files.push(Bytes::from(parts.concat()));
                    parts.clear();
                    assert!(matches!(
                        file.push(record, size).unwrap(),
                        Pushed::Taken(None)
                    ));
                }
            }
        }
        parts.push(file.finish().unwrap());
        files.push(Bytes::from(parts.concat()));
        files
    }

    #[test]
    fn objects_become_typed_columns() {
        let records = vec![
            json!({"word": "a", "count": 3, "share": 0.5, "ok": true, "tags": ["x"], "gone": null}),
            json!({"word": "b", "count": 4, "share": 1, "ok": false, "tags": {"y": 1}}),
            json!({"count": null}),
        ];
        let files = write(records.clone());
        assert_eq!(files.len(), 1);
        let rows = rows_of(files[0].clone());
        assert_eq!(rows[0]["word"], "a");
        assert_eq!(rows[0]["count"], 3);
        assert_eq!(rows[0]["share"], 0.5);
        assert_eq!(rows[1]["share"], 1.0);
        assert_eq!(rows[0]["ok"], true);
        assert_eq!(rows[0]["tags"], "[\"x\"]", "nested values are JSON text");
        assert_eq!(rows[1]["tags"], "{\"y\":1}");
        assert_eq!(rows[0]["gone"], Value::Null);
        assert_eq!(rows[2]["word"], Value::Null);
        let reader = SerializedFileReader::new(files[0].clone()).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr();
        let kinds: Vec<_> = schema
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.logical_type_ref().cloned()))
            .collect();
        assert_eq!(kinds[0], ("word".into(), Some(LogicalType::String)));
        assert_eq!(kinds[4], ("tags".into(), Some(LogicalType::Json)));
        assert_eq!(kinds[5], ("gone".into(), Some(LogicalType::Json)));
    }

    #[test]
    fn plain_values_go_into_one_column() {
        let files = write((0..5).map(|i| json!(i * 10)).collect());
        let rows = rows_of(files[0].clone());
        assert_eq!(
            rows,
            (0..5).map(|i| json!({"value": i * 10})).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_record_that_does_not_fit_starts_the_next_file() {
        let mut records: Vec<Value> = (0..ROW_GROUP_ROWS as i64)
            .map(|i| json!({"n": i}))
            .collect();
        records.push(json!({"n": "text now"}));
        records.push(json!({"n": 1, "extra": true}));
        let files = write(records);
        assert_eq!(
            files.len(),
            2,
            "the text value cannot go into an INT64 column"
        );
        assert_eq!(rows_of(files[0].clone()).len(), ROW_GROUP_ROWS);
        let second = rows_of(files[1].clone());
        assert_eq!(
            second[0]["n"], "\"text now\"",
            "inferred together: n is JSON text"
        );
        assert_eq!(second[1], json!({"n": "1", "extra": true}));
    }

    #[test]
    fn row_groups_are_encoded_as_they_fill() {
        let mut file = ParquetFile::new();
        let mut encoded = Vec::new();
        for i in 0..(2 * ROW_GROUP_ROWS + 10) {
            if let Pushed::Taken(Some(bytes)) = file.push(json!({"i": i}), 8).unwrap() {
                encoded.push(bytes);
            }
        }
        assert_eq!(encoded.len(), 2, "a group per {ROW_GROUP_ROWS} rows");
        encoded.push(file.finish().unwrap());
        let reader = SerializedFileReader::new(Bytes::from(encoded.concat())).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        assert_eq!(
            reader.metadata().file_metadata().num_rows(),
            2 * ROW_GROUP_ROWS as i64 + 10
        );
    }
}
