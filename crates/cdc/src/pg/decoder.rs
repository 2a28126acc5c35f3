//! Turns the pgoutput stream of a session into [`Change`]s: keeps the tables' shapes from
//! Relation messages and the transaction under way from Begin.

use super::catalog::TypeNames;
use super::pgoutput::{Message, OldTuple, Relation, TupleValue};
use super::types::{normalize, sql_type};
use crate::change::{BeforeImage, Change, Column, Datum, EventId, Kind, Table};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio_postgres::Client;

/// Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// PostgreSQL time (µs since 2000-01-01) as Unix ms.
pub fn unix_ms(pg_micros: i64) -> i64 {
    pg_micros.div_euclid(1000) + PG_EPOCH_MS
}

struct Rel {
    table: Arc<Table>,
    type_oids: Vec<u32>,
}

struct Txn {
    position: u64,
    xid: u32,
    commit_ms: i64,
    ordinal: u64,
}

/// A session's decoding state.
pub struct Decoder {
    catalog: String,
    excluded: HashSet<String>,
    relations: HashMap<u32, Option<Rel>>,
    types: TypeNames,
    txn: Option<Txn>,
}

impl Decoder {
    /// A decoder for database `catalog`, leaving out the tables `excluded` (`schema.table`).
    pub fn new(catalog: &str, excluded: HashSet<String>) -> Decoder {
        Decoder {
            catalog: catalog.to_string(),
            excluded,
            relations: HashMap::new(),
            types: TypeNames::default(),
            txn: None,
        }
    }

    /// A transaction begins; its changes get ids from its commit LSN `final_lsn`.
    pub fn begin(&mut self, final_lsn: u64, xid: u32, commit_micros: i64) {
        self.txn = Some(Txn {
            position: final_lsn,
            xid,
            commit_ms: unix_ms(commit_micros),
            ordinal: 0,
        });
    }

    /// The changes of one pgoutput message (none for Relation and the ignored kinds).
    pub async fn message(&mut self, client: &Client, bytes: &[u8]) -> Result<Vec<Change>, String> {
        match super::pgoutput::decode(bytes)? {
            Message::Relation(r) => {
                self.relation(client, r).await?;
                Ok(Vec::new())
            }
            Message::Type | Message::Origin | Message::Logical => Ok(Vec::new()),
            Message::Insert { relation, new } => {
                let Some(rel) = self.rel(relation)? else {
                    return Ok(Vec::new());
                };
                let after = datums(rel, &new, None);
                Ok(vec![self.change(
                    rel_table(rel),
                    Kind::Insert,
                    after,
                    None,
                    BeforeImage::None,
                )?])
            }
            Message::Update { relation, old, new } => {
                let Some(rel) = self.rel(relation)? else {
                    return Ok(Vec::new());
                };
                let (before, image) = match &old {
                    None => (None, BeforeImage::None),
                    Some(OldTuple::Key(t)) => (Some(key_datums(rel, t)), BeforeImage::Key),
                    Some(OldTuple::Full(t)) => (Some(datums(rel, t, None)), BeforeImage::Full),
                };
                let full_old = match &old {
                    Some(OldTuple::Full(_)) => before.as_deref(),
                    _ => None,
                };
                let after = datums(rel, &new, full_old);
                let table = rel_table(rel);
                Ok(vec![self.change(
                    table,
                    Kind::Update,
                    after,
                    before,
                    image,
                )?])
            }
            Message::Delete { relation, old } => {
                let Some(rel) = self.rel(relation)? else {
                    return Ok(Vec::new());
                };
                let (before, image) = match &old {
                    OldTuple::Key(t) => (key_datums(rel, t), BeforeImage::Key),
                    OldTuple::Full(t) => (datums(rel, t, None), BeforeImage::Full),
                };
                let table = rel_table(rel);
                Ok(vec![self.change(
                    table,
                    Kind::Delete,
                    Vec::new(),
                    Some(before),
                    image,
                )?])
            }
            Message::Truncate { options, relations } => {
                let mut words = Vec::new();
                if options & 1 != 0 {
                    words.push("CASCADE");
                }
                if options & 2 != 0 {
                    words.push("RESTART IDENTITY");
                }
                let mut out = Vec::new();
                for oid in relations {
                    let Some(rel) = self.rel(oid)? else {
                        continue;
                    };
                    let mut change = self.change(
                        rel_table(rel),
                        Kind::Truncate,
                        Vec::new(),
                        None,
                        BeforeImage::None,
                    )?;
                    change.truncate_options = words.clone();
                    out.push(change);
                }
                Ok(out)
            }
        }
    }

    /// The shape of relation `oid`: `None` when it is excluded; an error when no Relation
    /// message came before.
    fn rel(&self, oid: u32) -> Result<Option<&Rel>, String> {
        match self.relations.get(&oid) {
            Some(rel) => Ok(rel.as_ref()),
            None => Err(format!(
                "pgoutput change of relation {oid} before its Relation message"
            )),
        }
    }

    /// Records a Relation message: its columns with their type names; the key is the primary
    /// key (with `REPLICA IDENTITY FULL` pgoutput flags every column).
    async fn relation(&mut self, client: &Client, r: Relation) -> Result<(), String> {
        let qualified = format!("{}.{}", r.schema, r.name);
        if self.excluded.contains(&qualified) {
            self.relations.insert(r.oid, None);
            return Ok(());
        }
        let primary: Option<HashSet<String>> = if r.identity == b'f' {
            let rows = client
                .query(
                    "SELECT a.attname::text FROM pg_index i
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                     WHERE i.indrelid = $1::oid AND i.indisprimary",
                    &[&r.oid],
                )
                .await
                .map_err(|e| format!("reading the primary key of {qualified}: {e}"))?;
            Some(rows.iter().map(|row| row.get(0)).collect())
        } else {
            None
        };
        let mut columns = Vec::with_capacity(r.columns.len());
        let mut type_oids = Vec::with_capacity(r.columns.len());
        for c in r.columns {
            let type_name = self.types.name(client, c.type_oid, c.type_mod).await?;
            let key = match &primary {
                Some(pk) => pk.contains(&c.name),
                None => c.key,
            };
            columns.push(Column {
                sql_type: sql_type(c.type_oid, &type_name),
                name: c.name,
                type_name,
                key,
            });
            type_oids.push(c.type_oid);
        }
        let table = Arc::new(Table {
            catalog: self.catalog.clone(),
            schema: r.schema,
            name: r.name,
            columns,
        });
        self.relations.insert(r.oid, Some(Rel { table, type_oids }));
        Ok(())
    }

    fn change(
        &mut self,
        table: Arc<Table>,
        kind: Kind,
        after: Vec<Datum>,
        before: Option<Vec<Datum>>,
        before_image: BeforeImage,
    ) -> Result<Change, String> {
        let Some(txn) = self.txn.as_mut() else {
            return Err("pgoutput change outside a transaction".into());
        };
        let ordinal = txn.ordinal;
        txn.ordinal += 1;
        Ok(Change {
            id: EventId {
                position: txn.position,
                part: 0,
                ordinal,
            },
            txid: Some(u64::from(txn.xid)),
            commit_ms: txn.commit_ms,
            table,
            kind,
            after,
            before,
            before_image,
            truncate_options: Vec::new(),
            binlog: None,
            gtid: None,
            ddl: None,
        })
    }
}

fn rel_table(rel: &Rel) -> Arc<Table> {
    rel.table.clone()
}

/// A tuple's values; an unchanged TOASTed value is taken from `old` when known, else unknown.
fn datums(rel: &Rel, tuple: &[TupleValue], old: Option<&[Datum]>) -> Vec<Datum> {
    tuple
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            TupleValue::Null => Datum::Null,
            TupleValue::Text(t) => Datum::Text(normalize(
                rel.type_oids.get(i).copied().unwrap_or(0),
                t.clone(),
            )),
            TupleValue::Unchanged => old
                .and_then(|o| o.get(i))
                .cloned()
                .unwrap_or(Datum::Unknown),
        })
        .collect()
}

/// A key-only tuple's values: the key columns; every other column is unknown (pgoutput sends
/// them as NULL).
fn key_datums(rel: &Rel, tuple: &[TupleValue]) -> Vec<Datum> {
    let mut values = datums(rel, tuple, None);
    for (value, column) in values.iter_mut().zip(&rel.table.columns) {
        if !column.key {
            *value = Datum::Unknown;
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_time_becomes_unix_ms() {
        assert_eq!(unix_ms(0), 946_684_800_000);
        assert_eq!(unix_ms(1_500), 946_684_800_001);
    }
}
