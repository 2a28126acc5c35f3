//! What an `ItemReader` asks for, from its ASL or CloudFlow FDL form.

use super::failed;
use crate::location::ObjectRef;
use serde_json::{Map, Value};
use sluice_engine::invoke::TaskError;
use std::collections::HashSet;

/// The format of an object's items.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Format {
    /// One item per row.
    Csv(CsvOptions),
    /// One item per element of a JSON array (the top-level one, or the one a JSON Pointer names).
    Json {
        /// `ReaderConfig.ItemsPointer`.
        pointer: Option<String>,
    },
    /// One item per line.
    JsonLines,
    /// One item per row of a Parquet file.
    Parquet,
}

/// How CSV rows become items.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CsvOptions {
    /// The column names, or `None` to take them from the first row.
    pub headers: Option<Vec<String>>,
    /// The field separator.
    pub delimiter: u8,
}

/// Where the items come from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Source {
    /// The records of one object.
    Object {
        object: ObjectRef,
        version: Option<String>,
        format: Format,
    },
    /// Objects under a prefix: their metadata, or (`load`) the records of each.
    Listing {
        bucket: String,
        prefix: String,
        load: Option<Format>,
    },
    /// The rows of the CSV data files an S3 Inventory `manifest.json` lists.
    Inventory {
        manifest: ObjectRef,
        version: Option<String>,
        headers: Option<Vec<String>>,
    },
    /// The records of the data files an Athena `-manifest.csv` lists, one URI per line.
    Athena {
        manifest: ObjectRef,
        version: Option<String>,
        format: Format,
    },
}

/// A parsed `ItemReader`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReaderSpec {
    pub source: Source,
    /// `MaxItems`: read at most this many items.
    pub max_items: Option<u64>,
}

impl ReaderSpec {
    /// Parses an `ItemReader` whose parameters are evaluated: ASL
    /// `{Resource, Parameters|Arguments, ReaderConfig}` or FDL
    /// `{SourceType, SourceParameters, ReaderConfig, MaxItems}`.
    pub fn parse(reader: &Value) -> Result<ReaderSpec, TaskError> {
        let reader = reader
            .as_object()
            .ok_or_else(|| failed("ItemReader must be an object"))?;
        let empty = Map::new();
        let config = object_field(reader, "ReaderConfig")?.unwrap_or(&empty);
        let source = if reader.contains_key("SourceType") {
            fdl_source(reader, config)?
        } else {
            asl_source(reader, config)?
        };
        let max_items = match config.get("MaxItems").or_else(|| reader.get("MaxItems")) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(0) => None,
                Some(n) => Some(n),
                None => return Err(failed(format!("MaxItems must be a whole number, not {v}"))),
            },
        };
        Ok(ReaderSpec { source, max_items })
    }
}

fn asl_source(
    reader: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<Source, TaskError> {
    let resource = str_field(reader, "Resource")?
        .ok_or_else(|| failed("ItemReader needs a Resource (arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2)"))?;
    let params = match object_field(reader, "Parameters")? {
        Some(p) => p,
        None => object_field(reader, "Arguments")?
            .ok_or_else(|| failed("ItemReader needs Parameters (or Arguments) with a Bucket"))?,
    };
    let bucket = required(params, "Bucket")?;
    let input_type = str_field(config, "InputType")?;
    match resource.rsplit_once(":s3:").map(|(_, action)| action) {
        Some("getObject") => {
            let object = object_ref(bucket, required(params, "Key")?)?;
            let version = str_field(params, "VersionId")?.map(str::to_string);
            match str_field(config, "ManifestType")? {
                Some("S3_INVENTORY") => return inventory(object, version, config),
                Some("ATHENA_DATA") => {
                    let format = match input_type {
                        Some("CSV") | Some("JSONL") | Some("PARQUET") => {
                            format(input_type, config)?
                        }
                        _ => {
                            return Err(failed(
                                "ManifestType ATHENA_DATA needs InputType CSV, JSONL or PARQUET",
                            ));
                        }
                    };
                    return Ok(Source::Athena {
                        manifest: object,
                        version,
                        format,
                    });
                }
                Some(other) => {
                    return Err(failed(format!(
                        "unknown ManifestType '{other}' (S3_INVENTORY or ATHENA_DATA)"
                    )));
                }
                None => {}
            }
            match input_type {
                Some("MANIFEST") => inventory(object, version, config),
                None => Err(failed(
                    "ReaderConfig.InputType is required with s3:getObject (CSV, JSON, JSONL or MANIFEST)",
                )),
                Some(_) => Ok(Source::Object {
                    object,
                    version,
                    format: format(input_type, config)?,
                }),
            }
        }
        Some("listObjectsV2") => {
            let prefix = str_field(params, "Prefix")?.unwrap_or_default().to_string();
            let load = match str_field(config, "Transformation")? {
                None | Some("NONE") => None,
                Some("LOAD_AND_FLATTEN") => Some(format(input_type, config)?),
                Some(other) => {
                    return Err(failed(format!(
                        "unknown Transformation '{other}' (NONE or LOAD_AND_FLATTEN)"
                    )));
                }
            };
            Ok(Source::Listing {
                bucket: bucket.to_string(),
                prefix,
                load,
            })
        }
        _ => Err(failed(format!(
            "ItemReader Resource '{resource}' is not supported (arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2)"
        ))),
    }
}

/// CloudFlow's OSS sources, mapped to the ASL readers: `OSS_CSV` is CSV, `OSS_JSON_LIST` a
/// JSON array, `OSS_OBJECTS` a listing, `OSS_INVENTORY_FILES` an inventory manifest.
fn fdl_source(
    reader: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<Source, TaskError> {
    let source_type = required(reader, "SourceType")?;
    let params = match object_field(reader, "SourceParameters")? {
        Some(p) => p,
        None => object_field(reader, "Parameters")?
            .ok_or_else(|| failed("ItemReader needs SourceParameters with a Bucket"))?,
    };
    let bucket = required(params, "Bucket")?;
    let object = || {
        let key = str_field(params, "ObjectName")?
            .or(str_field(params, "Key")?)
            .ok_or_else(|| failed(format!("{source_type} needs SourceParameters.ObjectName")))?;
        object_ref(bucket, key)
    };
    match source_type {
        "OSS_CSV" => Ok(Source::Object {
            object: object()?,
            version: None,
            format: Format::Csv(csv_options(config)?),
        }),
        "OSS_JSON_LIST" => Ok(Source::Object {
            object: object()?,
            version: None,
            format: Format::Json { pointer: None },
        }),
        "OSS_OBJECTS" => Ok(Source::Listing {
            bucket: bucket.to_string(),
            prefix: str_field(params, "Prefix")?.unwrap_or_default().to_string(),
            load: None,
        }),
        "OSS_INVENTORY_FILES" => inventory(object()?, None, config),
        other => Err(failed(format!(
            "unknown SourceType '{other}' (OSS_CSV, OSS_JSON_LIST, OSS_OBJECTS or OSS_INVENTORY_FILES)"
        ))),
    }
}

fn inventory(
    manifest: ObjectRef,
    version: Option<String>,
    config: &Map<String, Value>,
) -> Result<Source, TaskError> {
    let headers = match config.get("CSVHeaders") {
        Some(_) => csv_options(config)?.headers,
        None => None,
    };
    Ok(Source::Inventory {
        manifest,
        version,
        headers,
    })
}

fn format(input_type: Option<&str>, config: &Map<String, Value>) -> Result<Format, TaskError> {
    match input_type {
        Some("CSV") => Ok(Format::Csv(csv_options(config)?)),
        Some("JSON") => Ok(Format::Json {
            pointer: str_field(config, "ItemsPointer")?.map(str::to_string),
        }),
        Some("JSONL") => Ok(Format::JsonLines),
        Some("PARQUET") => Ok(Format::Parquet),
        Some(other) => Err(failed(format!(
            "unknown InputType '{other}' (CSV, JSON, JSONL, PARQUET or MANIFEST)"
        ))),
        None => Err(failed(
            "ReaderConfig.InputType is required here (CSV, JSON, JSONL or PARQUET)",
        )),
    }
}

fn csv_options(config: &Map<String, Value>) -> Result<CsvOptions, TaskError> {
    let given = match config.get("CSVHeaders") {
        None => None,
        Some(Value::Array(names)) => {
            let names: Option<Vec<String>> = names
                .iter()
                .map(|n| n.as_str().map(str::to_string))
                .collect();
            let names = names.ok_or_else(|| failed("CSVHeaders must be an array of strings"))?;
            check_headers(&names)?;
            Some(names)
        }
        Some(_) => return Err(failed("CSVHeaders must be an array of strings")),
    };
    let headers = match str_field(config, "CSVHeaderLocation")? {
        Some("FIRST_ROW") => None,
        Some("GIVEN") => {
            Some(given.ok_or_else(|| failed("CSVHeaderLocation GIVEN needs CSVHeaders"))?)
        }
        Some(other) => {
            return Err(failed(format!(
                "unknown CSVHeaderLocation '{other}' (FIRST_ROW or GIVEN)"
            )));
        }
        None => given,
    };
    let delimiter = match str_field(config, "CSVDelimiter")? {
        None | Some("COMMA") => b',',
        Some("PIPE") => b'|',
        Some("SEMICOLON") => b';',
        Some("SPACE") => b' ',
        Some("TAB") => b'\t',
        Some(other) => {
            return Err(failed(format!(
                "unknown CSVDelimiter '{other}' (COMMA, PIPE, SEMICOLON, SPACE or TAB)"
            )));
        }
    };
    Ok(CsvOptions { headers, delimiter })
}

/// Refuses an empty header list and duplicate names.
pub(crate) fn check_headers(names: &[String]) -> Result<(), TaskError> {
    if names.is_empty() {
        return Err(failed("CSV headers cannot be empty"));
    }
    let mut seen = HashSet::new();
    if names.iter().any(|n| !seen.insert(n.as_str())) {
        return Err(failed("CSV headers cannot contain duplicates.".to_string()));
    }
    Ok(())
}

fn object_ref(bucket: &str, key: &str) -> Result<ObjectRef, TaskError> {
    ObjectRef::new(bucket, key).map_err(|e| failed(e.to_string()))
}

fn required<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, TaskError> {
    str_field(map, name)?.ok_or_else(|| failed(format!("ItemReader needs {name}")))
}

fn str_field<'a>(map: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, TaskError> {
    crate::fields::text(map, name).map_err(failed)
}

fn object_field<'a>(
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, TaskError> {
    crate::fields::object(map, name).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn asl_csv_reader() {
        let spec = ReaderSpec::parse(&json!({
            "Resource": "arn:aws:states:::s3:getObject",
            "Parameters": {"Bucket": "b", "Key": "d/x.csv"},
            "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN",
                             "CSVHeaders": ["a", "b"], "CSVDelimiter": "PIPE", "MaxItems": 5}
        }))
        .unwrap();
        assert_eq!(spec.max_items, Some(5));
        assert_eq!(
            spec.source,
            Source::Object {
                object: ObjectRef::new("b", "d/x.csv").unwrap(),
                version: None,
                format: Format::Csv(CsvOptions {
                    headers: Some(vec!["a".into(), "b".into()]),
                    delimiter: b'|'
                }),
            }
        );
    }

    #[test]
    fn fdl_sources_map_to_asl_readers() {
        let spec = ReaderSpec::parse(&json!({
            "SourceType": "OSS_OBJECTS", "SourceParameters": {"Bucket": "b", "Prefix": "in/"}, "MaxItems": 3
        }))
        .unwrap();
        assert_eq!(spec.max_items, Some(3));
        assert_eq!(
            spec.source,
            Source::Listing {
                bucket: "b".into(),
                prefix: "in/".into(),
                load: None
            }
        );
        let spec = ReaderSpec::parse(&json!({
            "SourceType": "OSS_JSON_LIST", "SourceParameters": {"Bucket": "b", "ObjectName": "s.json"}
        }))
        .unwrap();
        assert!(matches!(
            spec.source,
            Source::Object {
                format: Format::Json { pointer: None },
                ..
            }
        ));
    }

    #[test]
    fn bad_readers_are_refused_with_a_reason() {
        for (reader, expected) in [
            (
                json!({"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}}),
                "InputType is required",
            ),
            (
                json!({"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "../k"}, "ReaderConfig": {"InputType": "JSON"}}),
                "'..'",
            ),
            (
                json!({"Resource": "arn:aws:states:::dynamodb:scan", "Parameters": {"Bucket": "b"}}),
                "not supported",
            ),
            (
                json!({"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}, "ReaderConfig": {"InputType": "CSV", "CSVHeaders": ["a", "a"]}}),
                "duplicates",
            ),
            (
                json!({"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}, "ReaderConfig": {"InputType": "CSV", "CSVDelimiter": "COLON"}}),
                "CSVDelimiter",
            ),
        ] {
            let e = ReaderSpec::parse(&reader).unwrap_err();
            assert_eq!(e.error, "States.ItemReaderFailed");
            assert!(e.cause.contains(expected), "{} / {expected}", e.cause);
        }
    }
}
