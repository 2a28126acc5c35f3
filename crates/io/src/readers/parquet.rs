//! Parquet items (`InputType: PARQUET`): one JSON object per row, column name -> value, read with
//! the `parquet` crate from byte ranges of the object (the footer first, then each column chunk
//! as its row group is reached), so memory holds a row group's pages, not the object.
//!
//! Values keep their types: integers and floats are numbers, strings strings, booleans
//! booleans, nulls null, dates and timestamps ISO text, decimals numbers, binary base64 text,
//! lists arrays and structs and maps objects. Pages compressed with snappy, gzip or lz4 are read;
//! another codec (zstd, brotli) ends the read with an error that names it.

use super::{failed, read_failed};
use crate::chunked::ObjectReader;
use bytes::Bytes;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::record::reader::RowIter;
use sluice_engine::invoke::TaskError;
use sluice_engine::items::ReadItem;

/// An object read by range, as the `parquet` crate reads files.
struct RangedObject(ObjectReader);

impl Length for RangedObject {
    fn len(&self) -> u64 {
        self.0.size()
    }
}

impl ChunkReader for RangedObject {
    type T = ObjectReader;

    fn get_read(&self, start: u64) -> parquet::errors::Result<ObjectReader> {
        Ok(self.0.at(start))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let bytes = self
            .0
            .range(start, length as u64)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        if bytes.len() != length {
            return Err(ParquetError::EOF(format!(
                "{length} bytes at offset {start} asked, {} read",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

/// The rows of a Parquet object as items.
pub(crate) struct ParquetItems {
    rows: RowIter<'static>,
    origin: String,
    done: bool,
}

impl ParquetItems {
    /// Reads the footer of the object `reader` reads (`origin` names it in errors).
    pub fn open(reader: ObjectReader, origin: String) -> Result<ParquetItems, TaskError> {
        let file = SerializedFileReader::new(RangedObject(reader))
            .map_err(|e| failed(format!("{origin}: not a Parquet file I can read: {e}")))?;
        Ok(ParquetItems {
            rows: RowIter::from_file_into(Box::new(file)),
            origin,
            done: false,
        })
    }
}

impl Iterator for ParquetItems {
    type Item = Result<ReadItem, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.rows.next()? {
            Ok(row) => Some(Ok(ReadItem::Item(row.to_json_value()))),
            Err(e) => {
                self.done = true;
                Some(Err(match e {
                    ParquetError::External(inner) => {
                        read_failed(&self.origin, std::io::Error::other(inner))
                    }
                    other => failed(format!("{}: {other}", self.origin)),
                }))
            }
        }
    }
}
