//! Decoding of pgoutput (protocol version 1) row messages: Relation, Type, Origin, Insert,
//! Update, Delete, Truncate and Message. Begin and Commit come decoded from the transport.
//!
//! A malformed message is an error naming what was cut short, never a panic.

/// A column of a Relation message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationColumn {
    /// Part of the replica identity key.
    pub key: bool,
    /// Column name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type modifier.
    pub type_mod: i32,
}

/// A Relation message: a table's shape, sent before its first change in every session and
/// after every change of shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    /// The table's OID.
    pub oid: u32,
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// Replica identity: `d` default, `n` nothing, `f` full, `i` index.
    pub identity: u8,
    /// Its columns.
    pub columns: Vec<RelationColumn>,
}

/// One column value of a tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TupleValue {
    /// NULL (or, in a key-only tuple, a column that is not part of the key).
    Null,
    /// An unchanged TOASTed value, not sent.
    Unchanged,
    /// Text output of the value.
    Text(String),
}

/// An old tuple of an Update or Delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OldTuple {
    /// `K`: the key columns only.
    Key(Vec<TupleValue>),
    /// `O`: the whole old row.
    Full(Vec<TupleValue>),
}

/// A decoded pgoutput message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A table's shape.
    Relation(Relation),
    /// A non-builtin type's name (ignored: names come from the catalog).
    Type,
    /// The origin of a replayed transaction (ignored).
    Origin,
    /// A logical decoding message (ignored).
    Logical,
    /// A row inserted.
    Insert {
        /// Table OID.
        relation: u32,
        /// The new row.
        new: Vec<TupleValue>,
    },
    /// A row updated.
    Update {
        /// Table OID.
        relation: u32,
        /// The old row, when sent.
        old: Option<OldTuple>,
        /// The new row.
        new: Vec<TupleValue>,
    },
    /// A row deleted.
    Delete {
        /// Table OID.
        relation: u32,
        /// The old row (key or full).
        old: OldTuple,
    },
    /// Tables truncated.
    Truncate {
        /// Bit 1: CASCADE, bit 2: RESTART IDENTITY.
        options: u8,
        /// Table OIDs.
        relations: Vec<u32>,
    },
}

/// Reads big-endian fields off a message.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "pgoutput message cut short reading {what} at byte {}",
                self.at
            ));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(format!("pgoutput {what} is not NUL-terminated"));
        };
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.at += len + 1;
        Ok(text)
    }

    fn tuple(&mut self) -> Result<Vec<TupleValue>, String> {
        let n = self.u16("tuple column count")?;
        (0..n)
            .map(|i| match self.u8("tuple column kind")? {
                b'n' => Ok(TupleValue::Null),
                b'u' => Ok(TupleValue::Unchanged),
                b't' => {
                    let len = self.u32("value length")? as usize;
                    let bytes = self.take(len, "value")?;
                    String::from_utf8(bytes.to_vec())
                        .map(TupleValue::Text)
                        .map_err(|_| format!("pgoutput value of column {i} is not UTF-8"))
                }
                other => Err(format!(
                    "pgoutput tuple column {i} has kind {:?}, expected n, u or t",
                    char::from(other)
                )),
            })
            .collect()
    }
}

/// Decodes one pgoutput message (everything but Begin and Commit).
pub fn decode(bytes: &[u8]) -> Result<Message, String> {
    let mut r = Reader { bytes, at: 0 };
    let tag = r.u8("message tag")?;
    match tag {
        b'R' => {
            let oid = r.u32("relation oid")?;
            let schema = r.string("relation namespace")?;
            let name = r.string("relation name")?;
            let identity = r.u8("replica identity")?;
            let n = r.u16("relation column count")?;
            let columns = (0..n)
                .map(|_| {
                    Ok(RelationColumn {
                        key: r.u8("column flags")? & 1 == 1,
                        name: r.string("column name")?,
                        type_oid: r.u32("column type")?,
                        type_mod: r.u32("column type modifier")? as i32,
                    })
                })
                .collect::<Result<_, String>>()?;
            Ok(Message::Relation(Relation {
                oid,
                schema,
                name,
                identity,
                columns,
            }))
        }
        b'Y' => Ok(Message::Type),
        b'O' => Ok(Message::Origin),
        b'M' => Ok(Message::Logical),
        b'I' => {
            let relation = r.u32("relation oid")?;
            match r.u8("tuple marker")? {
                b'N' => Ok(Message::Insert {
                    relation,
                    new: r.tuple()?,
                }),
                other => Err(format!(
                    "pgoutput Insert has tuple marker {:?}, expected N",
                    char::from(other)
                )),
            }
        }
        b'U' => {
            let relation = r.u32("relation oid")?;
            let (old, marker) = match r.u8("tuple marker")? {
                b'K' => (Some(OldTuple::Key(r.tuple()?)), r.u8("tuple marker")?),
                b'O' => (Some(OldTuple::Full(r.tuple()?)), r.u8("tuple marker")?),
                other => (None, other),
            };
            if marker != b'N' {
                return Err(format!(
                    "pgoutput Update has tuple marker {:?}, expected N",
                    char::from(marker)
                ));
            }
            Ok(Message::Update {
                relation,
                old,
                new: r.tuple()?,
            })
        }
        b'D' => {
            let relation = r.u32("relation oid")?;
            let old = match r.u8("tuple marker")? {
                b'K' => OldTuple::Key(r.tuple()?),
                b'O' => OldTuple::Full(r.tuple()?),
                other => {
                    return Err(format!(
                        "pgoutput Delete has tuple marker {:?}, expected K or O",
                        char::from(other)
                    ));
                }
            };
            Ok(Message::Delete { relation, old })
        }
        b'T' => {
            let n = r.u32("truncated relation count")?;
            let options = r.u8("truncate options")?;
            let relations = (0..n)
                .map(|_| r.u32("truncated relation oid"))
                .collect::<Result<_, String>>()?;
            Ok(Message::Truncate { options, relations })
        }
        other => Err(format!("unknown pgoutput message {:?}", char::from(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cstr(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    fn text(s: &str) -> Vec<u8> {
        let mut v = vec![b't'];
        v.extend((s.len() as u32).to_be_bytes());
        v.extend(s.as_bytes());
        v
    }

    #[test]
    fn relation_is_decoded() {
        let mut m = vec![b'R'];
        m.extend(16384u32.to_be_bytes());
        m.extend(cstr("public"));
        m.extend(cstr("orders"));
        m.push(b'd');
        m.extend(2u16.to_be_bytes());
        m.push(1);
        m.extend(cstr("id"));
        m.extend(20u32.to_be_bytes());
        m.extend((-1i32).to_be_bytes());
        m.push(0);
        m.extend(cstr("amount"));
        m.extend(1700u32.to_be_bytes());
        m.extend(655366i32.to_be_bytes());
        let Message::Relation(r) = decode(&m).unwrap() else {
            panic!("not a relation");
        };
        assert_eq!(
            (r.oid, r.schema.as_str(), r.name.as_str(), r.identity),
            (16384, "public", "orders", b'd')
        );
        assert!(r.columns[0].key);
        assert_eq!(r.columns[1].type_mod, 655366);
    }

    #[test]
    fn key_update_and_delete_are_decoded() {
        let mut m = vec![b'U'];
        m.extend(16384u32.to_be_bytes());
        m.push(b'K');
        m.extend(2u16.to_be_bytes());
        m.extend(text("2"));
        m.push(b'n');
        m.push(b'N');
        m.extend(2u16.to_be_bytes());
        m.extend(text("3"));
        m.push(b'u');
        assert_eq!(
            decode(&m).unwrap(),
            Message::Update {
                relation: 16384,
                old: Some(OldTuple::Key(vec![
                    TupleValue::Text("2".into()),
                    TupleValue::Null
                ])),
                new: vec![TupleValue::Text("3".into()), TupleValue::Unchanged],
            }
        );
        let mut d = vec![b'D'];
        d.extend(7u32.to_be_bytes());
        d.push(b'O');
        d.extend(1u16.to_be_bytes());
        d.extend(text("é"));
        assert_eq!(
            decode(&d).unwrap(),
            Message::Delete {
                relation: 7,
                old: OldTuple::Full(vec![TupleValue::Text("é".into())])
            }
        );
    }

    #[test]
    fn truncate_is_decoded() {
        let mut m = vec![b'T'];
        m.extend(2u32.to_be_bytes());
        m.push(3);
        m.extend(1u32.to_be_bytes());
        m.extend(2u32.to_be_bytes());
        assert_eq!(
            decode(&m).unwrap(),
            Message::Truncate {
                options: 3,
                relations: vec![1, 2]
            }
        );
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert!(decode(&[]).unwrap_err().contains("message tag"));
        assert!(decode(&[b'I', 0, 0]).unwrap_err().contains("cut short"));
        let mut m = vec![b'I'];
        m.extend(1u32.to_be_bytes());
        m.push(b'N');
        m.extend(1u16.to_be_bytes());
        m.push(b't');
        m.extend(100u32.to_be_bytes());
        m.extend(b"short");
        assert!(decode(&m).unwrap_err().contains("cut short reading value"));
        assert!(
            decode(b"Z")
                .unwrap_err()
                .contains("unknown pgoutput message")
        );
    }
}
